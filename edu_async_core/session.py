"""What every session of both SDKs has in common: lifetime, closing, reading models."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self, TypeVar

import attrs
import cattrs

from . import defaults
from .errors import ErrorFamily
from .hooks import Hooks
from .reading import ModelReader, Response
from .transport import Transport, TransportConfig
from .validation import from_env

__all__ = ["BaseSession", "from_env", "structure", "with_user_agent"]

T = TypeVar("T")


def with_user_agent(config: TransportConfig | None, user_agent: str) -> TransportConfig:
    """``config`` (or a default one) sending ``user_agent``, unless the caller chose one.

    Each SDK's sessions name themselves this way; a config whose ``user_agent`` is still
    the core's default (:data:`~edu_async_core.defaults.USER_AGENT`) chose none.
    """
    config = config or TransportConfig()
    if config.user_agent != defaults.USER_AGENT:
        return config
    return attrs.evolve(config, user_agent=user_agent)


def structure(
    converter: cattrs.Converter,
    data: Any,
    cls: type[T],
    response: Response,
    errors: ErrorFamily,
) -> T:
    """``data`` read as ``cls``; anything unreadable becomes the SDK's bad-response error.

    Kept for existing callers: the SDKs build a :class:`~edu_async_core.reading.ModelReader`
    once per model and call its ``read`` instead.
    """
    return ModelReader(converter, cls, errors).read(data, response)


class BaseSession:
    """An ``async with`` session around one :class:`Transport`.

    ``close()`` and ``aclose()`` are the same; a borrowed ``aiohttp.ClientSession`` is
    never closed by us; using a session after closing it raises ``SessionClosedError``.
    """

    _transport: Transport

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the session: its HTTP session if it made one (a lent one stays open).

        Closing twice is harmless; any call made after it raises ``SessionClosedError``.
        """
        await self._transport.close()

    async def aclose(self) -> None:
        """The same as :meth:`close` (the spelling ``contextlib.aclosing`` expects)."""
        await self.close()

    @property
    def closed(self) -> bool:
        """True once the session was closed, by you or by the owner of a lent session."""
        return self._transport.closed

    @property
    def base_url(self) -> str:
        """The API's base URL this session talks to, without a trailing slash."""
        return self._transport.base_url

    @property
    def hooks(self) -> Hooks:
        """This session's event hooks: ``session.hooks.add(fn)`` (see ``edu_async_core.hooks``)."""
        return self._transport.hooks

    @property
    def transport(self) -> Transport:
        """The request loop of this session (its limiter and budget are shared per key)."""
        return self._transport
