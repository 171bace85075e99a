"""Outgoing mail over SMTP (aiosmtplib): one connection per batch, a result per message.

Temporary failures (4xx replies, timeouts, dropped connections) come back as results with
``temporary`` set and the outbox retries them with backoff; 5xx replies are permanent
(RFC 5321 4.2.1). A connection failure marks the rest of the batch temporary: the
server never saw them.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Awaitable, Callable

import aiosmtplib

from hub.config import SmtpSettings
from hub.ports import Envelope, SendResult

log = logging.getLogger("connectors.smtp")
OnResult = Callable[[Envelope, SendResult], Awaitable[None]]


def _tls(settings: SmtpSettings) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


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
            start_tls=True if s.security == "starttls" else False,
            tls_context=_tls(s) if s.security != "plain" else None,
            timeout=s.timeout_seconds,
        )

    async def send_many(self, envelopes: list[Envelope], on_result: OnResult) -> None:
        results: list[SendResult] = []

        async def report(env: Envelope, result: SendResult) -> None:
            results.append(result)
            await on_result(env, result)

        client = self._client()
        try:
            await client.connect()
            if self._s.username:
                await client.login(self._s.username, self._s.password)
        except aiosmtplib.SMTPResponseException as exc:
            log.warning(
                "event=smtp.connect_refused code=%s temporary=%s", exc.code, 400 <= exc.code < 500
            )
            for env in envelopes:
                await report(env, SendResult(False, exc.code, exc.message[:500]))
            return
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            log.warning("event=smtp.unreachable error=%s temporary=True", type(exc).__name__)
            for env in envelopes:
                await report(env, SendResult(False, None, type(exc).__name__))
            return
        try:
            for env in envelopes:
                try:
                    errors, reply = await client.sendmail(env.sender, [env.recipient], env.message)
                    if errors:
                        code, text = next(iter(errors.values()))
                        await report(env, SendResult(False, code, text[:500]))
                    else:
                        await report(env, SendResult(True, 250, reply[:500]))
                except aiosmtplib.SMTPRecipientsRefused as exc:
                    first = exc.recipients[0]
                    await report(env, SendResult(False, first.code, first.message[:500]))
                except aiosmtplib.SMTPResponseException as exc:
                    await report(env, SendResult(False, exc.code, exc.message[:500]))
                    if exc.code == 421:
                        break  # the server is closing the connection
                    try:
                        await client.rset()
                    except aiosmtplib.SMTPException:
                        break
                except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                    log.warning("event=smtp.dropped error=%s temporary=True", type(exc).__name__)
                    await report(env, SendResult(False, None, type(exc).__name__))
                    break
        finally:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                client.close()
