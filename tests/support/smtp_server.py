"""An SMTP server for tests that delivers ``hub.test`` mail into Dovecot over LMTP.

Why: Dovecot 2.3 has no SMTP listener that delivers locally, and our code speaks
SMTP (aiosmtplib), not LMTP. This aiosmtpd server sits in between so a message our
code sends to ``replies@hub.test`` really lands in that IMAP mailbox, and an unknown
``hub.test`` recipient really gets a 550 at RCPT, as from a real server. Mail for
any other domain is accepted and only recorded. Every accepted message is recorded
in ``received`` so tests can assert on what was sent.

Fault injection (``fail_next`` / ``reject_next``) makes the next DATA commands
answer 4xx / 5xx so retry and bounce handling can be tested against a real socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import smtplib
import ssl
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.support.services import free_port

__all__ = ["ReceivedMessage", "SmtpServer"]

_PARSER = BytesParser(policy=policy.default)


@dataclass(frozen=True)
class ReceivedMessage:
    """One message accepted by the server (after DATA answered 250)."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    received_at: float = field(default_factory=time.time)

    @property
    def message(self) -> EmailMessage:
        """The message parsed with the modern email policy."""
        parsed = _PARSER.parsebytes(self.raw)
        assert isinstance(parsed, EmailMessage)
        return parsed

    def sent_to(self, address: str) -> bool:
        """Whether ``address`` was an envelope recipient (case-insensitive)."""
        wanted = address.casefold()
        return any(rcpt.casefold() == wanted for rcpt in self.rcpt_tos)


class _LenientSMTP(SMTP):
    """aiosmtpd's SMTP, but accepting lines longer than RFC 5321's 1000 octets.

    aiosmtpd splits DATA on CRLF only and answers "500 Line too long" past 1001
    bytes. That hits every message with bare LF line endings, e.g. an .eml fixture
    read from disk and handed to smtplib as bytes (smtplib converts line endings
    only for str). Real MTAs historically accept such mail and normalise it, so we
    do too (see ``_normalise_line_endings``) instead of failing with a misleading
    error.
    """

    line_length_limit = 1 << 20


def _normalise_line_endings(content: bytes) -> bytes:
    """Turn bare LF into CRLF, undoing the dot-stuffing aiosmtpd could not see.

    aiosmtpd removes the transparency dot only at the start of CRLF lines; smtplib
    stuffs a dot at the start of every LF line, so lines after a bare LF still
    carry theirs; and smtplib appends CRLF after a final bare LF, which would
    otherwise become an extra empty line.
    """
    if b"\n" not in content.replace(b"\r\n", b""):
        return content
    if content.endswith(b"\n\r\n") and not content.endswith(b"\r\n\r\n"):
        content = content[:-2]
    lines: list[bytes] = []
    for segment in content.split(b"\r\n"):
        parts = segment.split(b"\n")
        lines.append(parts[0])
        lines.extend(part[1:] if part.startswith(b"..") else part for part in parts[1:])
    return b"\r\n".join(lines)


class _LmtpError(Exception):
    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"{code} {text}")
        self.code = code
        self.text = text


class _Handler:
    """aiosmtpd hooks; the blocking LMTP calls run in the server's own executor."""

    def __init__(self, owner: SmtpServer) -> None:
        self._owner = owner

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        owner = self._owner
        if owner.is_local(address) and owner.lmtp_port is not None:
            loop = asyncio.get_running_loop()
            code, text = await loop.run_in_executor(owner.executor, owner.lmtp_check, address)
            if code >= 400:
                return f"{code} {text}"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        owner = self._owner
        injected = owner.take_injected()
        if injected is not None:
            return injected
        raw = _normalise_line_endings(envelope.original_content or b"")
        # aiosmtpd reports the null reverse-path (MAIL FROM:<>) as "<>".
        mail_from = "" if envelope.mail_from in (None, "<>") else envelope.mail_from
        rcpt_tos = tuple(envelope.rcpt_tos)
        if owner.lmtp_port is not None:
            loop = asyncio.get_running_loop()
            for rcpt in rcpt_tos:
                if not owner.is_local(rcpt):
                    continue
                try:
                    await loop.run_in_executor(
                        owner.executor,
                        owner.lmtp_deliver,
                        mail_from,
                        rcpt,
                        raw,
                        tuple(envelope.mail_options),
                    )
                except _LmtpError as exc:
                    return f"{exc.code} {exc.text}"
                except OSError as exc:
                    return f"451 4.4.1 LMTP delivery to Dovecot failed: {exc}"
        owner.record(ReceivedMessage(mail_from=mail_from, rcpt_tos=rcpt_tos, raw=raw))
        return "250 2.0.0 Message accepted for delivery"


class _Controller(Controller):
    """A Controller whose stop() closes live sessions before the loop goes away.

    The stock stop() stops the loop and closes it with client transports and
    handler tasks still pending, which shows up as ResourceWarnings ("unclosed
    transport") and "Task was destroyed but it is pending" when a client is still
    connected; under ``filterwarnings = error`` that fails unrelated tests.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()

    def factory(self) -> SMTP:
        smtp = _LenientSMTP(self.handler, **self.SMTP_kwargs)
        self.sessions.add(smtp)
        return smtp

    async def _shutdown(self) -> None:
        if self.server is not None:
            self.server.close()
        for smtp in list(self.sessions):
            for transport in (smtp.transport, getattr(smtp, "_original_transport", None)):
                if transport is not None:
                    transport.close()
        current = asyncio.current_task()
        tasks = [task for task in asyncio.all_tasks() if task is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.server is not None:
            await self.server.wait_closed()

    def stop(self, no_assert: bool = False) -> None:
        if self._thread is not None and self.loop.is_running():
            future = asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop)
            with contextlib.suppress(Exception):
                future.result(timeout=5)
        super().stop(no_assert=no_assert)


class SmtpServer:
    """aiosmtpd on 127.0.0.1 in a background thread, delivering local mail via LMTP.

    ``port`` may be given so a stopped server can be started again on the same port
    (for reconnect tests); otherwise a free port is chosen at the first ``start()``
    and kept. Plaintext is always accepted (no AUTH); when ``cert_file`` and
    ``key_file`` are given, STARTTLS is offered too (optional for clients).
    """

    def __init__(
        self,
        *,
        lmtp_host: str = "127.0.0.1",
        lmtp_port: int | None = None,
        local_domains: Iterable[str] = ("hub.test",),
        port: int | None = None,
        host: str = "127.0.0.1",
        cert_file: str | None = None,
        key_file: str | None = None,
        hostname: str = "smtp.hub.test",
        lmtp_timeout: float = 10.0,
    ) -> None:
        self.host = host
        self.lmtp_host = lmtp_host
        self.lmtp_port = lmtp_port
        self.local_domains = frozenset(domain.lower() for domain in local_domains)
        self.hostname = hostname
        self._port = port
        self._cert_file = cert_file
        self._key_file = key_file
        self._lmtp_timeout = lmtp_timeout
        self._cond = threading.Condition()
        self._received: list[ReceivedMessage] = []
        self._injected: deque[str] = deque()
        self._controller: _Controller | None = None
        self.executor: ThreadPoolExecutor | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("SmtpServer has not been started")
        return self._port

    @property
    def running(self) -> bool:
        return self._controller is not None

    @property
    def starttls(self) -> bool:
        return self._cert_file is not None and self._key_file is not None

    def start(self) -> None:
        """Listen and return once the server answers its first connection."""
        if self._controller is not None:
            return
        tls_context: ssl.SSLContext | None = None
        if self._cert_file and self._key_file:
            tls_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            tls_context.load_cert_chain(self._cert_file, self._key_file)
        self.executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="smtp-lmtp")
        attempts = 1 if self._port is not None else 5
        for attempt in range(attempts):
            port = self._port if self._port is not None else free_port(self.host)
            controller = _Controller(
                _Handler(self),
                hostname=self.host,
                port=port,
                server_hostname=self.hostname,
                ready_timeout=10.0,
                tls_context=tls_context,
                require_starttls=False,
                decode_data=False,
            )
            try:
                controller.start()
            except OSError:
                # Someone took the "free" port between probe and bind: try another.
                controller.stop(no_assert=True)
                if not controller.loop.is_closed():
                    controller.loop.close()
                if attempt == attempts - 1:
                    self._shutdown_executor()
                    raise
                continue
            self._controller = controller
            self._port = port
            return

    def stop(self) -> None:
        """Close client sessions and the listener; the port is kept for start()."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()
        self._shutdown_executor()

    def __enter__(self) -> SmtpServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _shutdown_executor(self) -> None:
        executor, self.executor = self.executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    # ------------------------------------------------------------------ recording
    @property
    def received(self) -> list[ReceivedMessage]:
        """A snapshot of every accepted message, oldest first."""
        with self._cond:
            return list(self._received)

    def record(self, message: ReceivedMessage) -> None:
        with self._cond:
            self._received.append(message)
            self._cond.notify_all()

    def messages(self, to: str | None = None) -> list[EmailMessage]:
        """Accepted messages parsed, optionally only those with envelope recipient ``to``."""
        return [item.message for item in self._matching(to)]

    def wait_for(
        self, count: int = 1, timeout: float = 5.0, *, to: str | None = None
    ) -> list[ReceivedMessage]:
        """Block until at least ``count`` (matching) messages were accepted.

        For code that sends asynchronously. Returns the matching records; raises
        AssertionError after ``timeout`` seconds listing what did arrive.
        """
        with self._cond:
            done = self._cond.wait_for(lambda: len(self._matching(to)) >= count, timeout)
            got = self._matching(to)
        if not done:
            summary = "; ".join(
                f"from={m.mail_from!r} to={list(m.rcpt_tos)} subject={m.message['Subject']!r}"
                for m in self.received
            )
            raise AssertionError(
                f"expected {count} message(s)"
                + (f" to {to}" if to else "")
                + f" within {timeout}s, got {len(got)}; all received: [{summary}]"
            )
        return got

    def clear(self) -> None:
        """Forget recorded messages and pending injected failures."""
        with self._cond:
            self._received.clear()
            self._injected.clear()

    def _matching(self, to: str | None) -> list[ReceivedMessage]:
        with self._cond:
            items = list(self._received)
        if to is None:
            return items
        return [item for item in items if item.sent_to(to)]

    # ------------------------------------------------------------------ faults
    def fail_next(self, n: int = 1, code: int = 451) -> None:
        """The next ``n`` DATA commands answer a temporary failure (nothing delivered)."""
        if not 400 <= code < 500:
            raise ValueError("fail_next wants a 4xx code")
        with self._cond:
            self._injected.extend([f"{code} 4.3.0 Temporary failure (injected by test)"] * n)

    def reject_next(self, n: int = 1, code: int = 550) -> None:
        """The next ``n`` DATA commands answer a permanent failure (nothing delivered)."""
        if not 500 <= code < 600:
            raise ValueError("reject_next wants a 5xx code")
        with self._cond:
            self._injected.extend([f"{code} 5.7.1 Message rejected (injected by test)"] * n)

    def take_injected(self) -> str | None:
        with self._cond:
            return self._injected.popleft() if self._injected else None

    # ------------------------------------------------------------------ LMTP
    def is_local(self, address: str) -> bool:
        return address.rpartition("@")[2].lower() in self.local_domains

    def _lmtp(self) -> smtplib.LMTP:
        assert self.lmtp_port is not None
        # LMTP(host, port) would treat host as a socket path: connect explicitly.
        client = smtplib.LMTP(local_hostname=self.hostname, timeout=self._lmtp_timeout)
        try:
            client.connect(self.lmtp_host, self.lmtp_port)
            client.ehlo_or_helo_if_needed()
        except BaseException:
            client.close()
            raise
        return client

    def lmtp_check(self, address: str) -> tuple[int, str]:
        """Ask Dovecot whether it would accept ``address`` (RCPT in an LMTP session)."""
        try:
            client = self._lmtp()
        except (OSError, smtplib.SMTPException) as exc:
            return 451, f"4.4.1 Dovecot LMTP unavailable: {exc}"
        try:
            code, _text = client.mail("")
            if code >= 400:
                return code, _text.decode(errors="replace")
            code, text = client.rcpt(address)
            client.rset()
            return code, text.decode(errors="replace")
        except (OSError, smtplib.SMTPException) as exc:
            return 451, f"4.4.1 Dovecot LMTP failed: {exc}"
        finally:
            with contextlib.suppress(Exception):
                client.quit()
            client.close()

    def lmtp_deliver(
        self, mail_from: str, rcpt: str, raw: bytes, mail_options: tuple[str, ...] = ()
    ) -> None:
        """Deliver to one recipient: smtplib reads one reply after DATA, LMTP sends one
        per recipient, so one recipient per transaction keeps them in step."""
        client = self._lmtp()
        try:
            options: list[str] = []
            upper = {option.upper() for option in mail_options}
            if "BODY=8BITMIME" in upper and client.has_extn("8bitmime"):
                options.append("BODY=8BITMIME")
            if "SMTPUTF8" in upper and client.has_extn("smtputf8"):
                options.append("SMTPUTF8")
            try:
                client.sendmail(mail_from, [rcpt], raw, mail_options=options)
            except smtplib.SMTPRecipientsRefused as exc:
                code, text = exc.recipients[rcpt]
                raise _LmtpError(code, text.decode(errors="replace")) from exc
            except smtplib.SMTPResponseException as exc:
                error = exc.smtp_error
                reply = error.decode(errors="replace") if isinstance(error, bytes) else error
                raise _LmtpError(exc.smtp_code, reply) from exc
            except smtplib.SMTPException as exc:
                raise _LmtpError(451, f"4.4.1 LMTP delivery failed: {exc}") from exc
            with contextlib.suppress(Exception):
                client.quit()
        finally:
            client.close()
