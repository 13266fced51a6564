"""Serving an emulator's aiohttp application on 127.0.0.1, and cutting connections short."""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Self

from aiohttp import web

__all__ = ["AppServer", "AsyncServerContext", "ResetResponse", "reset", "send_damaged"]


class AppServer:
    """One aiohttp application bound to one TCP address (``AppRunner`` plus ``TCPSite``)."""

    def __init__(self) -> None:
        self._runner: web.AppRunner | None = None

    @property
    def running(self) -> bool:
        """Whether :meth:`start` succeeded and :meth:`close` has not been called since."""
        return self._runner is not None

    async def start(
        self, app: web.Application, host: str, port: int, *, shutdown_timeout: float
    ) -> tuple[str, int]:
        """Bind ``host:port`` (port 0: the OS picks one) and serve ``app``.

        Returns the bound ``(host, port)``. ``shutdown_timeout`` is how long :meth:`close`
        lets requests still being answered finish before cancelling them. If binding fails
        nothing is left behind.
        """
        if self._runner is not None:
            raise RuntimeError("the server is already running")
        runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=shutdown_timeout,
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        bound_host, bound_port = runner.addresses[0][:2]
        return str(bound_host), int(bound_port)

    async def close(self) -> None:
        """Stop serving and release the port; safe to call more than once."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()


class AsyncServerContext(abc.ABC):
    """``async with server:`` for anything with ``start()`` and ``close()``."""

    @abc.abstractmethod
    async def start(self) -> None:
        """Start serving."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Stop serving; idempotent."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class ResetResponse(web.Response):
    """The stand-in a handler returns after :func:`reset`; it is never written."""


def reset(request: web.BaseRequest) -> ResetResponse:
    """Drop the request's connection without any HTTP answer.

    Aborting the transport sends an RST-like close; the response returned after it is never
    written, so the client sees the connection drop with no HTTP answer at all. Status
    counters should skip the returned :class:`ResetResponse`.
    """
    if request.transport is not None:
        request.transport.abort()
    return ResetResponse()


async def _sleep(seconds: float) -> bool:
    await asyncio.sleep(seconds)
    return True


async def send_damaged(
    request: web.BaseRequest,
    response: web.StreamResponse,
    body: bytes,
    *,
    kind: str,
    delay: float,
    chunk: int = 64,
    pause: Callable[[float], Awaitable[bool]] = _sleep,
) -> web.StreamResponse:
    """Send ``body`` on ``response`` (status and headers set), damaged on the wire.

    ``"truncated"`` promises twice the body in ``Content-Length``, sends half of it and
    hangs up; any other kind (``"slow_body"``) sends the headers at once and trickles the
    body in ``chunk``-byte pieces over ``delay`` seconds. ``pause(seconds)`` waits between
    pieces; when it returns ``False`` (the emulator is closing) the connection is dropped.
    """
    try:
        if kind == "truncated":
            response.content_length = 2 * len(body) + 2
            await response.prepare(request)
            await response.write(body[: len(body) // 2])
            if request.transport is not None:
                request.transport.close()
            return response
        response.content_length = len(body)
        await response.prepare(request)
        pieces = [body[i : i + chunk] for i in range(0, len(body), chunk)] or [b""]
        step = delay / len(pieces)
        for piece in pieces:  # the headers went out with prepare(); the body trickles
            if not await pause(step):
                return reset(request)
            await response.write(piece)
    except ConnectionError:
        pass  # the client gave up (its read timeout): nothing more to send
    return response
