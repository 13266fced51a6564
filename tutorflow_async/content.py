"""``ContentSession``: the Content API key's side of TutorFlow."""

from __future__ import annotations

import logging
from typing import Final

import aiohttp
import attrs

from edu_async_core import defaults
from edu_async_core.clock import SYSTEM_CLOCK, Clock
from edu_async_core.errors import InvalidArgumentError
from edu_async_core.redaction import Secret
from edu_async_core.session import BaseSession, from_env
from edu_async_core.transport import Transport, TransportConfig
from edu_async_core.validation import positive_int

from .errors import FAMILY
from .expansions import Expansions

logger: Final = logging.getLogger("tutorflow_async")


class ContentSession(BaseSession):
    """A session authenticated with a Content API key (``Authorization: Bearer ...``).

    ``api_key`` and ``base_url`` default to ``$TUTORFLOW_CONTENT_API_KEY`` and
    ``$TUTORFLOW_API_BASE_URL`` (then ``https://api.tutorflow.io``). Every session of the
    same key in this process shares one rate limiter of ``rate_limit_per_minute``
    (``None`` turns our limiting off; the server still limits) and one retry budget.

    Pass ``session=`` to reuse your own ``aiohttp.ClientSession``; it is then yours to
    close. Otherwise the session creates one and closes it in ``close()``/``async with``.
    """

    def __init__(
        self,
        api_key: str | Secret | None = None,
        *,
        base_url: str | None = None,
        rate_limit_per_minute: int | None = defaults.RATE_LIMIT_PER_MINUTE,
        session: aiohttp.ClientSession | None = None,
        config: TransportConfig | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        key = Secret(from_env(api_key, defaults.TUTORFLOW_ENV_API_KEY, "api_key"))
        if not key.reveal().strip():
            raise InvalidArgumentError("api_key", "must not be empty")
        url = from_env(
            base_url,
            defaults.TUTORFLOW_ENV_BASE_URL,
            "base_url",
            default=defaults.TUTORFLOW_BASE_URL,
        )
        if rate_limit_per_minute is not None:
            positive_int(rate_limit_per_minute, "rate_limit_per_minute")
        transport_config = attrs.evolve(
            config or TransportConfig(), rate_limit_per_minute=rate_limit_per_minute
        )
        self.key_prefix = key.prefix
        self._transport = Transport(
            base_url=url,
            auth_headers={"Authorization": f"Bearer {key.reveal()}"},
            secret_for_identity=key.reveal(),
            key_prefix=key.prefix,
            logger=logger,
            errors=FAMILY,
            config=transport_config,
            session=session,
            clock=clock,
        )
        self.expansions = Expansions(self._transport)

    def __repr__(self) -> str:
        return f"ContentSession(base_url={self.base_url!r}, key={self.key_prefix!r})"
