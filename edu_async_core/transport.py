"""The request loop both SDKs share.

One :class:`Transport` per session: it owns (or borrows) an ``aiohttp.ClientSession``,
takes a grant from the credential's shared limiter before every attempt, retries what is
safe to retry, and turns whatever came back into a :class:`Response` or a typed error of
the calling SDK's family. The decisions live in ``retry.py`` (``decide``: return, follow,
retry or raise) and ``responses.py``; what a call reports (hook events, log records) in
``call_trace.py``; this module only does the I/O around them. It is longer than most
modules because the I/O of a request is one piece: the slot, the exchange and its
exceptions, the redirect check and the retry loop read best side by side.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, Final, NamedTuple
from urllib.parse import quote

import aiohttp
import attrs
import yarl

from . import defaults
from .call_trace import CallTrace, log_fields, log_give_up, log_retry
from .clock import SYSTEM_CLOCK, Clock
from .errors import (
    CORE_FAMILY,
    BadResponseError,
    ErrorFamily,
    FleetUnavailableError,
    RateLimitError,
    RequestContext,
    SDKError,
    SessionClosedError,
)
from .hooks import (
    CallStarted,
    Hooks,
    RateLimitWait,
    next_id,
)
from .limits import CredentialState, Fleet, Limiter, LimitSettings, try_spend
from .ratelimit import PausedPastDeadline, credential_id, shared_state
from .responses import Response, api_error_from_response
from .retry import (
    GAVE_UP_BUDGET,
    GAVE_UP_REDIRECTS,
    REDIRECT_STATUSES,
    Action,
    Failure,
    RetryPolicy,
    decide,
    parse_retry_after,
)
from .validation import base_url as check_base_url

QueryParams = str | Sequence[tuple[str, str]] | None

_REDIRECT_STATUSES: Final = REDIRECT_STATUSES
_PLAIN_CALLS_KEPT = 1024
#: Bodies above this many bytes are sent as a stream (aiohttp's own threshold for warning).
_LARGE_BODY = 1024 * 1024


@attrs.frozen
class TransportConfig:
    """Everything a transport can be tuned by; each default comes from ``defaults``."""

    timeout: float = defaults.REQUEST_TIMEOUT
    connect_timeout: float = defaults.CONNECT_TIMEOUT
    retry: RetryPolicy = attrs.field(factory=RetryPolicy)
    rate_limit_per_minute: int | None = defaults.RATE_LIMIT_PER_MINUTE
    rate_limit_window: float = defaults.RATE_LIMIT_WINDOW
    rate_limit_margin: float = defaults.RATE_LIMIT_MARGIN
    retry_budget: int = defaults.RETRY_BUDGET_CAPACITY
    max_redirects: int = defaults.MAX_REDIRECTS
    user_agent: str = defaults.USER_AGENT


def encode_query(params: QueryParams) -> str:
    """A query string with the exact key order and repetition given.

    Brackets in names and colons in values stay literal (``course_uid[]=a``,
    ``before=2020-10-07T23:13:00.000Z``) because the Next Tech documentation shows them
    that way; everything else reserved is percent-encoded.
    """
    if not params:
        return ""
    if isinstance(params, str):
        return params
    # ":" stays literal as in the documented dates; "+" is encoded (it would read as a space).
    return "&".join(f"{quote(k, safe='[]')}={quote(v, safe=':')}" for k, v in params)


class Transport:
    """Sends requests for one credential to one server.

    ``auth_headers`` hold the secret and are only ever put on the wire; ``key_prefix`` is
    what logs and errors show instead.
    """

    def __init__(
        self,
        *,
        base_url: str,
        auth_headers: Mapping[str, str],
        secret_for_identity: str,
        key_prefix: str | None,
        logger: logging.Logger,
        errors: ErrorFamily = CORE_FAMILY,
        config: TransportConfig | None = None,
        session: aiohttp.ClientSession | None = None,
        clock: Clock = SYSTEM_CLOCK,
        hooks: Hooks | None = None,
        fleet: Fleet | None = None,
    ) -> None:
        url = errors.checked(check_base_url)(base_url)
        self._base = str(url).rstrip("/")
        self._origin = url.origin()
        self.config = config or TransportConfig()
        self._headers: dict[str, str] = {
            "User-Agent": self.config.user_agent,
            "Accept": "application/json",
            **auth_headers,
        }
        self._cred_id = credential_id(secret_for_identity, self._base)
        self.key_prefix = key_prefix
        self._logger = logger
        self._errors = errors
        self._clock = clock
        #: The session's event hooks (see ``hooks.py``); nothing is built while none is attached.
        self.hooks = hooks if hooks is not None else Hooks()
        self._session = session
        self._owns_session = session is None
        self._state: CredentialState | None = None
        #: Where the credential's limiter and budget live when shared beyond this process.
        self._fleet = fleet
        self._closed = False
        # (method, path) -> (URL, context) of calls with no query, body or extra header;
        # both are immutable, so polls of a job share them. aiohttp copies the (shared,
        # never mutated) self._headers into its own multidict for each request.
        self._plain: dict[tuple[str, str], tuple[yarl.URL, RequestContext]] = {}
        self._timeout = aiohttp.ClientTimeout(
            total=self.config.timeout, sock_connect=self.config.connect_timeout
        )

    def __repr__(self) -> str:
        return f"Transport(base_url={self._base!r}, key={self.key_prefix!r})"

    @property
    def base_url(self) -> str:
        return self._base

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def clock(self) -> Clock:
        """The clock this transport waits and times by (a test's fake clock, or the system's)."""
        return self._clock

    @property
    def state(self) -> CredentialState:
        """The limiter and budget shared with every session of this credential.

        With a fleet, every session of the credential in every process of the fleet;
        otherwise every session of it on the running event loop.
        """
        if self._state is None and self._fleet is not None:
            self._state = self._fleet.credential_state(
                self._cred_id,
                LimitSettings(
                    limit=self.config.rate_limit_per_minute,
                    window=self.config.rate_limit_window,
                    margin=self.config.rate_limit_margin,
                    budget_capacity=self.config.retry_budget,
                    request_timeout=self.config.timeout,
                    clock=self._clock,
                    logger=self._logger,
                    label=self.key_prefix or "",
                ),
            )
        if self._state is None:
            self._state = shared_state(
                self._cred_id,
                limit=self.config.rate_limit_per_minute,
                window=self.config.rate_limit_window,
                margin=self.config.rate_limit_margin,
                clock=self._clock,
                budget_capacity=self.config.retry_budget,
                logger=self._logger,
                label=self.key_prefix or "",
            )
        return self._state

    def _client(self) -> aiohttp.ClientSession:
        if self._closed:
            raise self._errors.closed("this session is closed; open a new one")
        if self._session is not None and self._session.closed:
            raise self._closed_by_owner()
        if self._session is None:
            # Cookies are sent explicitly; a jar would keep them for other hosts too.
            self._session = aiohttp.ClientSession(
                cookie_jar=aiohttp.DummyCookieJar(), timeout=self._timeout
            )
        return self._session

    async def close(self) -> None:
        """Close the HTTP session if we created it; a borrowed one is left open."""
        if self._closed:
            return
        self._closed = True
        session, self._session = self._session, None
        if session is not None and self._owns_session:
            await session.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: QueryParams = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        limited: bool = True,
        parse_json: bool = True,
        require_document: bool = False,
        on_retry: Callable[[SDKError], None] | None = None,
        operation: str | None = None,
    ) -> Coroutine[Any, Any, Response]:
        """Send one logical request, retrying what is safe, and return a 2xx response.

        ``await transport.request(...)``: a plain function that prepares the request and
        returns the coroutine that sends it (one coroutine per request, not two).

        ``path`` must already be quoted (see ``validation.path_segment``). ``limited``
        False skips the rate limiter (for calls the server does not count against a key).
        With ``parse_json`` the body is parsed here, so that a garbled body is retried
        like any transient failure when the request is safe to repeat. With
        ``require_document`` an empty 2xx body counts as garbled too: the call needs the
        answer's content (a job, a page), and "nothing" from a proxy is not an answer.
        ``on_retry`` hears each failure that is about to be retried (a wait that ends
        mid-retry can then say what went wrong). ``operation`` names the SDK call in events,
        logs and spans (e.g. ``"expansions.create"``); without it, ``"METHOD path"``.
        """
        client = self._client()
        data: bytes | None = None
        if not params and json_body is None and not headers and idempotency_key is None:
            # A plain call (every poll): its URL and context depend on the path alone.
            plain = self._plain.get((method, path))
            if plain is None:
                plain = self._remember_plain(method, path)
            url, context = plain
            send_headers = self._headers
        else:
            url_text = self._base + path
            if params:
                url_text += "?" + encode_query(params)
            # Already encoded: yarl neither parses nor re-quotes it (aiohttp would, from text).
            url = yarl.URL(url_text, encoded=True)
            send_headers = dict(self._headers)
            if json_body is not None:
                data = json.dumps(json_body, separators=(",", ":"), ensure_ascii=False).encode()
                send_headers["Content-Type"] = "application/json"
            if headers:
                send_headers.update(headers)
            if idempotency_key is not None:
                send_headers["Idempotency-Key"] = idempotency_key
            context = RequestContext(method, path, self.key_prefix, idempotency_key)
        hooks = self.hooks
        trace = (
            CallTrace(next_id(), operation or f"{method} {context.path}", hooks)
            if hooks.active
            else None
        )
        attempts = self._attempts(
            client,
            method,
            url,
            data,
            send_headers,
            context,
            limited,
            parse_json,
            require_document,
            on_retry,
            trace,
        )
        # Without a hook, the attempts themselves: one coroutine fewer per call.
        return attempts if trace is None else self._traced(attempts, trace, method, context)

    def _remember_plain(self, method: str, path: str) -> tuple[yarl.URL, RequestContext]:
        plain = (
            yarl.URL(self._base + path, encoded=True),
            RequestContext(method, path, self.key_prefix, None),
        )
        if len(self._plain) >= _PLAIN_CALLS_KEPT:
            self._plain.clear()  # bounded; a wait polls its few paths again soon enough
        self._plain[(method, path)] = plain
        return plain

    async def _traced(
        self,
        attempts: Coroutine[Any, Any, Response],
        trace: CallTrace,
        method: str,
        context: RequestContext,
    ) -> Response:
        """``attempts`` between the call's started and ended events."""
        trace.hooks.emit(
            CallStarted(
                trace.call_id,
                trace.operation,
                method,
                context.path,
                context.key_prefix,
                context.idempotency_key,
            )
        )
        try:
            response = await attempts
        except BaseException as exc:
            trace.ended(method, context, self._clock.monotonic(), exc)
            raise
        trace.ended(method, context, self._clock.monotonic(), None)
        return response

    async def _attempts(
        self,
        client: aiohttp.ClientSession,
        method: str,
        url: yarl.URL,
        data: bytes | None,
        headers: dict[str, str],
        context: RequestContext,
        limited: bool,
        parse_json: bool,
        require_document: bool,
        on_retry: Callable[[SDKError], None] | None,
        trace: CallTrace | None,
    ) -> Response:
        """The attempts of one call: send, describe the answer, carry out ``decide()``.

        ``trace`` (hooks attached) hears each attempt.
        """
        state = self._state if self._state is not None else self.state
        limiter = state.limiter if limited else None
        policy = self.config.retry
        clock = self._clock
        has_key = context.idempotency_key is not None
        attempt = 0
        spent = 0
        redirects = 0
        started: float | None = None
        # No wait for the key's limiter may outlast the call's own retry deadline.
        deadline = clock.monotonic() + policy.deadline if limiter is not None else 0.0
        while True:
            attempt += 1
            if limiter is not None:
                await self._take_slot(limiter, deadline, context, attempt, trace)
            if started is None:
                started = clock.monotonic()
            if trace is not None:
                trace.sent(method, context, attempt, clock.monotonic())
            try:
                try:
                    async with client.request(
                        method,
                        url,
                        # aiohttp sends a large bytes body fine but warns that it may
                        # block the loop; a fresh stream per attempt sends the same bytes.
                        data=io.BytesIO(data) if data and len(data) > _LARGE_BODY else data,
                        headers=headers,
                        allow_redirects=False,
                        timeout=self._timeout,
                    ) as resp:
                        body = await resp.read()
                finally:
                    if limiter is not None:
                        limiter.release()
            except (TimeoutError, RuntimeError, aiohttp.ClientError, OSError) as exc:
                if isinstance(exc, RuntimeError) and not client.closed:
                    raise  # not a failure of the exchange: ours, as it came
                answer = self._not_answered(exc, client, context, attempt)
            else:
                outcome = self._answered(
                    resp, body, method, context, attempt, trace, parse_json, require_document
                )
                if isinstance(outcome, Response):
                    # A usable 2xx: what decide() answers RETURN to, taken without the
                    # call (every successful request comes here).
                    state.budget.refund(spent or defaults.RETRY_REFUND_ON_SUCCESS)
                    return outcome
                answer = outcome
            if answer.headers is not None and answer.failure is None:
                # A redirect (only those carry headers without a failure). Refused ones
                # raise here, before they are counted.
                assert answer.status is not None
                url, method, data = self._follow(
                    answer.status, url, method, data, answer.headers, context
                )
            decision = decide(
                policy=policy,
                method=method,
                has_idempotency_key=has_key,
                failure=answer.failure,
                status=answer.status,
                retry_after=answer.retry_after,
                attempt=attempt,
                elapsed=clock.monotonic() - started,
                redirects=redirects,
                max_redirects=self.config.max_redirects,
            )
            if decision.pause is not None and limiter is not None:
                limiter.pause(decision.pause)
                self._logger.info(
                    "429 on %s %s: every call with key %s waits %.3fs",
                    method,
                    context.path,
                    context.key_prefix,
                    decision.pause,
                    extra=log_fields(
                        context, attempt=attempt, status=answer.status, delay=decision.pause
                    ),
                )
            action = decision.action
            if action is Action.FOLLOW:
                redirects += 1
                attempt -= 1
                continue
            if decision.give_up == GAVE_UP_REDIRECTS:
                raise self._refused(
                    self._errors.bad_response(
                        "too many redirects", status=answer.status, context=context
                    )
                )
            failure, error = answer.failure, answer.error
            assert failure is not None and error is not None
            if action is Action.RETRY and not await try_spend(state.budget, decision.cost):
                decision = attrs.evolve(decision, action=Action.RAISE, give_up=GAVE_UP_BUDGET)
            if decision.action is Action.RAISE:
                if decision.give_up is not None:
                    log_give_up(
                        self._logger, method, context, attempt, failure, error, decision.give_up
                    )
                raise error
            spent += decision.cost
            if on_retry is not None:
                on_retry(error)
            log_retry(self._logger, method, context, attempt, failure, error, decision.delay)
            if trace is not None:
                trace.retrying(method, context, attempt, decision.delay, failure, error)
            await clock.sleep(decision.delay)

    async def _take_slot(
        self,
        limiter: Limiter,
        deadline: float,
        context: RequestContext,
        attempt: int,
        trace: CallTrace | None,
    ) -> None:
        """Wait for the key's limiter; a pause past the call's deadline is a 429 not sent."""
        try:
            waited = await limiter.acquire(deadline)
        except PausedPastDeadline as exc:
            paused = self._errors.api_error_class(429, None)(
                f"not sent: the key is paused by an earlier 429 for another "
                f"{exc.seconds:.0f}s, past this call's deadline",
                status=429,
                context=context,
                attempts=attempt - 1,
            )
            if isinstance(paused, RateLimitError):
                paused.retry_after = exc.seconds  # when to come back
            raise paused from None
        except FleetUnavailableError as exc:
            # The limiter's own message; raised as this SDK's class, with the call's context.
            raise self._errors.fleet_unavailable(
                exc.message, context=context, attempts=attempt - 1
            ) from None
        if waited and trace is not None:
            trace.hooks.emit(
                RateLimitWait(trace.call_id, trace.operation, waited, context.key_prefix)
            )

    def _not_answered(
        self,
        exc: BaseException,
        client: aiohttp.ClientSession,
        context: RequestContext,
        attempt: int,
    ) -> _Answer:
        """The failure an attempt that got no answer came to; raises the session-closed
        error when the aiohttp session was closed under us."""
        if isinstance(exc, TimeoutError):
            return _Answer.failed(
                Failure.TIMEOUT,
                self._errors.timeout(
                    f"no response within {self.config.timeout:g}s",
                    context=context,
                    attempts=attempt,
                ),
            )
        if isinstance(exc, aiohttp.ClientConnectorError):
            return _Answer.failed(
                Failure.NOT_SENT,
                self._errors.connection(
                    f"could not connect: {type(exc).__name__}", context=context, attempts=attempt
                ),
            )
        if client.closed:
            raise self._closed_by_owner() from exc
        return _Answer.failed(
            Failure.CONNECTION,
            self._errors.connection(
                f"connection failed: {type(exc).__name__}", context=context, attempts=attempt
            ),
        )

    def _answered(
        self,
        resp: aiohttp.ClientResponse,
        body: bytes,
        method: str,
        context: RequestContext,
        attempt: int,
        trace: CallTrace | None,
        parse_json: bool,
        require_document: bool,
    ) -> Response | _Answer:
        """What an answer came to: the :class:`Response` of a usable 2xx, else the
        redirect or failure for ``decide()``.

        With ``parse_json``, a 2xx whose body does not parse (or is empty where a
        document is needed) is a failure: garbled in transit, as transient as a reset.
        """
        status = resp.status
        if trace is not None:
            trace.answered(method, context, attempt, status, self._clock.monotonic())
        if self._logger.isEnabledFor(logging.DEBUG):
            self._logger.debug(
                "%s %s -> %d attempt=%d key=%s idempotency_key=%s",
                method,
                context.path,
                status,
                attempt,
                context.key_prefix,
                context.idempotency_key,
                extra=log_fields(context, attempt=attempt, status=status),
            )
        headers = resp.headers
        if 200 <= status < 300:
            response = Response(status, headers, body, context)
            if not parse_json:
                return response
            try:
                if response.json(self._errors) is None and require_document:
                    raise self._errors.bad_response(
                        "empty response body where a document was expected",
                        status=status,
                        context=context,
                    )
            except SDKError as exc:
                exc.attempts = attempt
                return _Answer.failed(Failure.MALFORMED, exc, status)
            return response
        if status in _REDIRECT_STATUSES:
            return _Answer(None, None, status, headers)
        retry_after = parse_retry_after(headers.get("Retry-After"), self._clock.time())
        error = api_error_from_response(
            self._errors, status, headers, body, context, attempt, retry_after
        )
        return _Answer(Failure.STATUS, error, status, headers, retry_after)

    def _closed_by_owner(self) -> SessionClosedError:
        self._closed = True  # every later call says so too
        return self._errors.closed(
            "the aiohttp session lent to this SDK session was closed by its owner"
        )

    @staticmethod
    def _refused(error: BadResponseError) -> BadResponseError:
        """A redirect refused: asking again would be refused again."""
        error.transient = False
        return error

    def _follow(
        self,
        status: int,
        url: yarl.URL,
        method: str,
        data: bytes | None,
        headers: Mapping[str, str],
        context: RequestContext,
    ) -> tuple[yarl.URL, str, bytes | None]:
        if method not in {"GET", "HEAD"} and status not in {307, 308}:
            # 301/302/303 would turn the call into a GET and drop its body.
            raise self._refused(
                self._errors.bad_response(
                    f"refused a {status} redirect of a {method}", status=status, context=context
                )
            )
        location = headers.get("Location")
        if not location:
            raise self._refused(
                self._errors.bad_response("redirect without a Location", context=context)
            )
        target = url.join(yarl.URL(location))
        if target.origin() != self._origin:
            # Our credentials would go with it; an API has no reason to send us elsewhere.
            raise self._refused(
                self._errors.bad_response(
                    f"refused a redirect to another host ({target.host}); "
                    "credentials not forwarded",
                    context=context,
                )
            )
        return target, method, data


class _Answer(NamedTuple):
    """What one attempt came to, when not a usable 2xx, as ``decide()`` needs it."""

    failure: Failure | None  # None for a redirect
    error: SDKError | None  # the typed error of a failure
    status: int | None  # the HTTP status, when there was an answer
    headers: Mapping[str, str] | None = None  # a redirect's or an error's headers
    retry_after: float | None = None

    @classmethod
    def failed(cls, failure: Failure, error: SDKError, status: int | None = None) -> _Answer:
        return cls(failure, error, status)
