"""``AdminSession``: the admin side of TutorFlow (keys, webhooks, UI-authored export).

Authenticated by the admin session cookie (``jwt``) that ``POST /auth/login`` sets. The
cookie is sent as an explicit ``Cookie`` header, never kept in a cookie jar, so it goes
to this server only (aiohttp's jar also ignores cookies set by IP-address hosts).
"""

from __future__ import annotations

import http.cookies
import logging
from collections.abc import Generator, Iterable
from types import TracebackType
from typing import Any, Final

import aiohttp
import attrs

from edu_async_core.clock import SYSTEM_CLOCK, Clock
from edu_async_core.hooks import Hook, Hooks, as_hooks
from edu_async_core.limits import Fleet
from edu_async_core.reading import ensure_json_object
from edu_async_core.redaction import Secret
from edu_async_core.session import BaseSession, with_user_agent
from edu_async_core.transport import Transport, TransportConfig

from . import defaults
from .admin_resources import ApiKeys, Exports, Webhooks
from .checks import from_env, path_segment, require_str, secret_value
from .errors import FAMILY, InvalidArgumentError

logger: Final = logging.getLogger("tutorflow_async")

LOGIN_PATH = "/auth/login"
_COOKIE_NAMES = (defaults.TUTORFLOW_ADMIN_COOKIE, "tutorflow_admin_session")


def _admin_config(config: TransportConfig | None) -> TransportConfig:
    # The documented rate limit is per Content API key; admin calls are not counted.
    return attrs.evolve(
        with_user_agent(config, defaults.TUTORFLOW_USER_AGENT), rate_limit_per_minute=None
    )


class AdminSession(BaseSession):
    """A session authenticated as an organization admin.

    ``organization_id`` defaults to ``$TUTORFLOW_ORGANIZATION_ID``; it is needed only by
    the key and webhook endpoints. Build one from a JWT you hold, or log in with
    ``AdminSession.login(email, password)``. Admin calls are not rate limited; ``fleet``
    shares this session's retry budget with every process given the same fleet.
    """

    def __init__(
        self,
        jwt: str | Secret,
        *,
        organization_id: str | None = None,
        base_url: str | None = None,
        session: aiohttp.ClientSession | None = None,
        config: TransportConfig | None = None,
        clock: Clock = SYSTEM_CLOCK,
        hooks: Hooks | Iterable[Hook] | Hook | None = None,
        fleet: Fleet | None = None,
    ) -> None:
        token = secret_value(jwt, "jwt")
        url = from_env(
            base_url,
            defaults.TUTORFLOW_ENV_BASE_URL,
            "base_url",
            default=defaults.TUTORFLOW_BASE_URL,
        )
        self._organization_id = organization_id
        self.key_prefix = token.prefix
        self._transport = Transport(
            base_url=url,
            auth_headers={"Cookie": f"{defaults.TUTORFLOW_ADMIN_COOKIE}={token.reveal()}"},
            secret_for_identity=token.reveal(),
            key_prefix=token.prefix,
            logger=logger,
            errors=FAMILY,
            config=_admin_config(config),
            session=session,
            clock=clock,
            hooks=FAMILY.checked(as_hooks)(hooks),
            fleet=fleet,
        )
        self.api_keys = ApiKeys(self._transport, self._org_path)
        self.webhooks = Webhooks(self._transport, self._org_path)
        self.exports = Exports(self._transport)

    def __repr__(self) -> str:
        return f"AdminSession(base_url={self.base_url!r}, session={self.key_prefix!r})"

    @property
    def organization_id(self) -> str:
        """The organization the admin endpoints act on."""
        value = from_env(
            self._organization_id, defaults.TUTORFLOW_ENV_ORGANIZATION_ID, "organization_id"
        )
        return require_str(value, "organization_id")

    def _org_path(self) -> str:
        return f"/v1/content/organizations/{path_segment(self.organization_id, 'organization_id')}"

    @classmethod
    def login(
        cls,
        email: str,
        password: str | Secret,
        *,
        organization_id: str | None = None,
        base_url: str | None = None,
        timezone: str = defaults.TUTORFLOW_LOGIN_TIMEZONE,
        session: aiohttp.ClientSession | None = None,
        config: TransportConfig | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> _Login:
        """Log in and return a session on the cookie the server set.

        Use it as ``admin = await AdminSession.login(...)`` or directly as
        ``async with AdminSession.login(...) as admin:``. The organization id comes from
        the argument, ``$TUTORFLOW_ORGANIZATION_ID``, or the login answer, in that order.
        """
        require_str(email, "email")
        # A password of spaces is still a password; only a missing one is refused.
        secret = secret_value(password, "password", blank_ok=True)
        if not secret.reveal():
            raise InvalidArgumentError("password", "must not be empty")
        return _Login(
            cls, email, secret, organization_id, base_url, timezone, session, config, clock
        )


class _Login:
    """The pending login: awaitable, and usable as ``async with``."""

    def __init__(
        self,
        cls: type[AdminSession],
        email: str,
        password: Secret,
        organization_id: str | None,
        base_url: str | None,
        timezone: str,
        session: aiohttp.ClientSession | None,
        config: TransportConfig | None,
        clock: Clock,
    ) -> None:
        self._args = (cls, email, password, organization_id, base_url, timezone)
        self._session = session
        self._config = config
        self._clock = clock
        self._admin: AdminSession | None = None

    def __await__(self) -> Generator[Any, None, AdminSession]:
        return self._login().__await__()

    async def __aenter__(self) -> AdminSession:
        self._admin = await self._login()
        return self._admin

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._admin is not None:
            await self._admin.close()

    async def _login(self) -> AdminSession:
        cls, email, password, organization_id, base_url, timezone = self._args
        url = from_env(
            base_url,
            defaults.TUTORFLOW_ENV_BASE_URL,
            "base_url",
            default=defaults.TUTORFLOW_BASE_URL,
        )
        transport = Transport(
            base_url=url,
            auth_headers={},
            secret_for_identity=f"login:{email}",
            key_prefix=None,
            logger=logger,
            errors=FAMILY,
            config=_admin_config(self._config),
            session=self._session,
            clock=self._clock,
        )
        try:
            response = await transport.request(
                "POST",
                LOGIN_PATH,
                json_body={"email": email, "password": password.reveal(), "timezone": timezone},
                operation="admin.login",
            )
            document = ensure_json_object(response, "a login answer", FAMILY)
            token = session_cookie(response.headers.getall("Set-Cookie", []))  # type: ignore[attr-defined]
        finally:
            await transport.close()
        if token is None:
            token = _token_from_body(document)
        if token is None:
            raise FAMILY.bad_response(
                "login succeeded but no session cookie or token came back",
                status=response.status,
                context=response.context,
            )
        if organization_id is None:
            organization_id = _organization_from_body(document)
        return cls(
            token,
            organization_id=organization_id,
            base_url=url,
            session=self._session,
            config=self._config,
            clock=self._clock,
        )


def session_cookie(set_cookie_headers: list[str]) -> str | None:
    """The admin session token from ``Set-Cookie`` headers (``jwt`` or its older name)."""
    for header in set_cookie_headers:
        jar: http.cookies.SimpleCookie = http.cookies.SimpleCookie()
        try:
            jar.load(header)
        except http.cookies.CookieError:
            continue
        for name in _COOKIE_NAMES:
            if name in jar and jar[name].value:
                return jar[name].value
    return None


def _token_from_body(document: dict[str, Any]) -> str | None:
    for name in ("jwt", "token", "accessToken"):
        value = document.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def _organization_from_body(document: dict[str, Any]) -> str | None:
    for holder in (document.get("user"), document):
        if isinstance(holder, dict):
            value = holder.get("organizationId")
            if isinstance(value, str) and value:
                return value
    return None
