"""Outgoing mail over SMTP (aiosmtplib): one connection per batch, a result per message.

Temporary failures (4xx replies, timeouts, dropped connections) come back as results with
``temporary`` set and the outbox retries them with backoff; 5xx replies to a message are
permanent (RFC 5321 4.2.1). A connection failure marks the rest of the batch temporary:
the server never saw them. A 5xx at connect, greeting or login refuses the hub, not any
message: it raises :class:`hub.ports.SessionRefused` and the outbox pauses delivery.
"""

from __future__ import annotations

import logging

import aiosmtplib

from connectors.tls import client_context
from hub.config import SmtpSettings
from hub.ports import Envelope, OnResult, SendResult, SessionRefused

log = logging.getLogger("connectors.smtp")
# What a connection that breaks looks like, as against a reply with a code.
BROKEN = (aiosmtplib.SMTPException, OSError, TimeoutError)


class SmtpSender:
    """Delivers envelopes to the configured SMTP server."""

    def __init__(self, settings: SmtpSettings) -> None:
        self._s = settings

    def _client(self) -> aiosmtplib.SMTP:
        s = self._s
        return aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            use_tls=s.security == "tls",
            start_tls=s.security == "starttls",
            tls_context=client_context(s.ca_file) if s.security != "plain" else None,
            timeout=s.timeout_seconds,
        )

    async def send_many(self, envelopes: list[Envelope], on_result: OnResult) -> None:
        """Send in order over one connection, reporting each message's result before
        the next; stop at the first sign that the connection is gone."""
        client = await self._open(envelopes, on_result)
        if client is None:
            return
        try:
            for env in envelopes:
                if not await _send_one(client, env, on_result):
                    break
        finally:
            try:
                await client.quit()
            except BROKEN:
                client.close()

    async def _open(self, envelopes: list[Envelope], on_result: OnResult) -> aiosmtplib.SMTP | None:
        """A connected, logged-in client; or None, every envelope reported as deferred
        (a 4xx, with the server's code) or unreachable (temporary, no code). A 5xx
        refuses the session: :class:`SessionRefused`, no envelope reported."""
        client = self._client()
        try:
            await client.connect()
            if self._s.username:
                await client.login(self._s.username, self._s.password)
        except aiosmtplib.SMTPResponseException as exc:
            temporary = exc.code < 500
            log.warning("event=smtp.connect_refused code=%s temporary=%s", exc.code, temporary)
            if not temporary:
                client.close()
                raise SessionRefused(exc.code, exc.message[:500]) from exc
            result = SendResult(False, exc.code, exc.message[:500])
        except BROKEN as exc:
            log.warning("event=smtp.unreachable error=%s temporary=True", type(exc).__name__)
            result = SendResult(False, None, type(exc).__name__)
        else:
            return client
        for env in envelopes:
            await on_result(env, result)
        return None


async def _send_one(client: aiosmtplib.SMTP, env: Envelope, on_result: OnResult) -> bool:
    """Send one message and report its result; False when the connection cannot go on
    (a 421 closes it, RFC 5321 3.8; a failed RSET or a cut link leaves it unusable)."""
    try:
        errors, reply = await client.sendmail(env.sender, [env.recipient], env.message)
    except aiosmtplib.SMTPRecipientsRefused as exc:
        first = exc.recipients[0]
        await on_result(env, SendResult(False, first.code, first.message[:500]))
    except aiosmtplib.SMTPResponseException as exc:
        await on_result(env, SendResult(False, exc.code, exc.message[:500]))
        if exc.code == 421:
            return False  # the server is closing the connection
        try:
            await client.rset()
        except aiosmtplib.SMTPException:
            return False
    except BROKEN as exc:
        log.warning("event=smtp.dropped error=%s temporary=True", type(exc).__name__)
        await on_result(env, SendResult(False, None, type(exc).__name__))
        return False
    else:
        if errors:
            code, text = next(iter(errors.values()))
            await on_result(env, SendResult(False, code, text[:500]))
        else:
            await on_result(env, SendResult(True, 250, reply[:500]))
    return True
