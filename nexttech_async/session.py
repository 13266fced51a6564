"""``NextTechSession``: HTTP Basic ``<api token>:<secret key>`` over the shared transport."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterable
from typing import Final

import aiohttp
import attrs

from edu_async_core.clock import SYSTEM_CLOCK, Clock
from edu_async_core.hooks import Hook, Hooks, as_hooks
from edu_async_core.limits import Fleet
from edu_async_core.redaction import Secret
from edu_async_core.session import BaseSession, with_user_agent
from edu_async_core.transport import Transport, TransportConfig

from . import defaults
from .checks import from_env, positive_int, secret_value
from .errors import FAMILY, InvalidArgumentError
from .listing import Listing
from .models import Content, Grade

logger: Final = logging.getLogger("nexttech_async")


class NextTechSession(BaseSession):
    """A session on the Next Tech API.

    ``api_token``, ``secret_key`` and ``base_url`` default to ``$NEXTTECH_API_TOKEN``,
    ``$NEXTTECH_SECRET_KEY`` and ``$NEXTTECH_API_BASE_URL`` (then
    ``https://api.next.tech/v1``). The secret only ever travels in the ``Authorization``
    header, never in a URL. Next Tech documents no rate limit, so none is applied unless
    ``rate_limit_per_minute`` is given; 429 and 5xx are retried with backoff either way.
    ``hooks`` are callables (or a shared :class:`~edu_async_core.hooks.Hooks`) that hear
    every attempt, retry and walk of the session. ``fleet`` (e.g.
    :class:`~edu_async_core.fleet.redis.RedisFleet`) shares the limiter, retry budget and
    429 pauses of the credential with every other process given the same fleet.
    """

    def __init__(
        self,
        api_token: str | Secret | None = None,
        secret_key: str | Secret | None = None,
        *,
        base_url: str | None = None,
        rate_limit_per_minute: int | None = None,
        session: aiohttp.ClientSession | None = None,
        config: TransportConfig | None = None,
        clock: Clock = SYSTEM_CLOCK,
        hooks: Hooks | Iterable[Hook] | Hook | None = None,
        fleet: Fleet | None = None,
    ) -> None:
        token = secret_value(
            from_env(api_token, defaults.NEXTTECH_ENV_API_TOKEN, "api_token"), "api_token"
        )
        secret = secret_value(
            from_env(secret_key, defaults.NEXTTECH_ENV_SECRET_KEY, "secret_key"), "secret_key"
        )
        if ":" in token.reveal():
            raise InvalidArgumentError("api_token", "must not contain ':' (Basic auth separator)")
        url = from_env(
            base_url,
            defaults.NEXTTECH_ENV_BASE_URL,
            "base_url",
            default=defaults.NEXTTECH_BASE_URL,
        )
        if rate_limit_per_minute is not None:
            positive_int(rate_limit_per_minute, "rate_limit_per_minute")
        basic = base64.b64encode(f"{token.reveal()}:{secret.reveal()}".encode()).decode()
        self.key_prefix = token.prefix
        self._transport = Transport(
            base_url=url,
            auth_headers={"Authorization": f"Basic {basic}"},
            secret_for_identity=f"{token.reveal()}:{secret.reveal()}",
            key_prefix=token.prefix,
            logger=logger,
            errors=FAMILY,
            config=attrs.evolve(
                with_user_agent(config, defaults.NEXTTECH_USER_AGENT),
                rate_limit_per_minute=rate_limit_per_minute,
            ),
            session=session,
            clock=clock,
            hooks=FAMILY.checked(as_hooks)(hooks),
            fleet=fleet,
        )
        self.contents: Listing[Content] = Listing(self._transport, "/contents", Content, "contents")
        self.grades: Listing[Grade] = Listing(self._transport, "/grades", Grade, "grades")

    def __repr__(self) -> str:
        return f"NextTechSession(base_url={self.base_url!r}, token={self.key_prefix!r})"
