"""A TCP proxy that breaks connections on demand, to put real faults between our
code and Dovecot or the SMTP server.

Why not mock sockets: the failure modes we care about (a connection reset in the
middle of a FETCH, a server that accepts and hangs up, a reply cut short) surface
differently in imaplib, imapclient and aiosmtplib, and only a real socket shows
which exception our code actually gets.

The proxy runs an asyncio loop in a background thread; the public methods are
plain synchronous calls safe to use from tests (sync or async).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from dataclasses import dataclass, field

__all__ = ["FaultProxy"]

_CHUNK = 65536


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close abruptly: SO_LINGER 0 makes the kernel send RST, not FIN."""
    transport = writer.transport
    if transport.is_closing():
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


@dataclass(eq=False)
class _Link:
    """One proxied connection: the client side and the upstream side."""

    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def reset(self) -> None:
        _reset(self.client)
        if self.upstream is not None:
            _reset(self.upstream)


class FaultProxy:
    """Forward ``127.0.0.1:<port>`` to ``target_host:target_port``, with faults.

    - ``cut()``: reset every live connection (RST both ways), mid-transfer or not.
    - ``block()`` / ``unblock()``: while blocked, new connections are accepted and
      reset at once (the listener stays up, like a server that hangs up on you).
      Live connections are not touched; call ``cut()`` as well for a full outage.
    - ``cut_after_bytes(n)``: the next connection is reset after exactly ``n``
      bytes have been forwarded server->client (e.g. in the middle of a FETCH).
    - ``stop()``: close everything and the listener.

    Starts in the constructor so ``FaultProxy(host, port).port`` is usable at once.
    """

    def __init__(
        self,
        target_host: str,
        target_port: int,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        connect_timeout: float = 5.0,
    ) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.host = host
        self._requested_port = port
        self._connect_timeout = connect_timeout
        self._lock = threading.Lock()
        self._blocked = False
        self._cut_after: int | None = None
        self._links: set[_Link] = set()
        self._accepted = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._port = 0
        self._thread = threading.Thread(
            target=self._run, name=f"fault-proxy->{target_port}", daemon=True
        )
        self._thread.start()
        try:
            self._call(self._listen())
        except BaseException:
            self._stop_loop()
            raise

    # ------------------------------------------------------------------ public
    @property
    def port(self) -> int:
        return self._port

    @property
    def active_connections(self) -> int:
        """Proxied connections currently open."""
        with self._lock:
            return len(self._links)

    @property
    def total_connections(self) -> int:
        """Connections accepted since start (blocked ones included)."""
        with self._lock:
            return self._accepted

    def cut(self) -> None:
        """Reset every live connection now (both directions, RST)."""
        self._call(self._cut_all())

    def block(self) -> None:
        with self._lock:
            self._blocked = True

    def unblock(self) -> None:
        with self._lock:
            self._blocked = False

    def cut_after_bytes(self, n: int) -> None:
        """Reset the next connection once ``n`` bytes went server->client."""
        if n < 0:
            raise ValueError("n must be >= 0")
        with self._lock:
            self._cut_after = n

    def stop(self) -> None:
        """Close the listener and every connection, then end the thread."""
        if self._loop.is_closed():
            return
        if self._thread.is_alive():
            with contextlib.suppress(Exception):
                self._call(self._shutdown())
        self._stop_loop()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ loop plumbing
    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    def _call(self, coro: object, timeout: float = 10.0) -> object:
        assert asyncio.iscoroutine(coro)
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def _stop_loop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        if not self._loop.is_closed():
            self._loop.close()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._on_client, self.host, self._requested_port)
        self._port = int(self._server.sockets[0].getsockname()[1])

    async def _cut_all(self) -> None:
        with self._lock:
            links = list(self._links)
        for link in links:
            link.reset()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        await self._cut_all()
        handlers = list(self._handlers)
        if handlers:
            # Reset links end their pumps within a loop iteration or two.
            _done, pending = await asyncio.wait(handlers, timeout=2)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    # ------------------------------------------------------------------ proxying
    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            await self._proxy(reader, writer)
        except asyncio.CancelledError:
            # Only stop() cancels us. Finish normally: on 3.11 the stream server's
            # done-callback calls task.exception(), which raises for a cancelled task.
            _reset(writer)
        finally:
            self._handlers.discard(task)

    async def _proxy(self, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter) -> None:
        with self._lock:
            self._accepted += 1
            blocked = self._blocked
            limit = None if blocked else self._cut_after
            if not blocked:
                self._cut_after = None
        if blocked:
            _reset(cwriter)
            return
        link = _Link(client=cwriter)
        try:
            sreader, swriter = await asyncio.wait_for(
                asyncio.open_connection(self.target_host, self.target_port),
                self._connect_timeout,
            )
        except (OSError, TimeoutError):
            _reset(cwriter)
            return
        link.upstream = swriter
        with self._lock:
            self._links.add(link)
        try:
            await asyncio.gather(
                self._pump(creader, swriter, None, link),
                self._pump(sreader, cwriter, limit, link),
            )
        finally:
            with self._lock:
                self._links.discard(link)
            for side in (cwriter, swriter):
                if not side.transport.is_closing():
                    side.transport.close()

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        limit: int | None,
        link: _Link,
    ) -> None:
        """Copy one direction; on EOF pass the half-close on; on errors reset both."""
        if limit is not None:
            # Make drain() wait until everything is handed to the kernel, so the
            # cut happens after exactly `limit` bytes and not before.
            writer.transport.set_write_buffer_limits(high=0)
        remaining = limit
        try:
            if remaining == 0:
                link.reset()
                return
            while True:
                data = await reader.read(_CHUNK)
                if not data:
                    if writer.can_write_eof() and not writer.transport.is_closing():
                        writer.write_eof()
                    return
                if remaining is not None and len(data) >= remaining:
                    writer.write(data[:remaining])
                    await writer.drain()
                    link.reset()
                    return
                writer.write(data)
                await writer.drain()
                if remaining is not None:
                    remaining -= len(data)
        except (ConnectionError, OSError):
            link.reset()
