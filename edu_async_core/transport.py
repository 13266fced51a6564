"""The request loop both SDKs share.

One :class:`Transport` per session: it owns (or borrows) an ``aiohttp.ClientSession``,
takes a grant from the credential's shared limiter before every attempt, retries what is
safe to retry, and turns whatever came back into a :class:`Response` or a typed error of
the calling SDK's family. The decisions live in ``retry.py`` and ``responses.py``; this
module only does the I/O around them.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import aiohttp
import attrs
import yarl

from . import defaults
from .clock import SYSTEM_CLOCK, Clock
from .errors import (
    CORE_FAMILY,
    BadResponseError,
    ErrorFamily,
    RateLimitError,
    RequestContext,
    SDKError,
    SessionClosedError,
)
from .hooks import (
    CallEnded,
    CallStarted,
    Hooks,
    RateLimitWait,
    RequestSent,
    ResponseReceived,
    RetryScheduled,
    next_id,
)
from .ratelimit import CredentialState, PausedPastDeadline, credential_id, shared_state
from .responses import Response, api_error_from_response
from .retry import (
    Failure,
    RetryPolicy,
    is_retryable_status,
    is_safe_to_repeat,
    parse_retry_after,
    retry_cost,
)
from .validation import base_url as check_base_url

QueryParams = str | Sequence[tuple[str, str]] | None

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
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
        """The limiter and budget shared with every session of this credential."""
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
        if not params and json_body is None and not headers and idempotency_key is None:
            # A plain call (every poll): its URL and context depend on the path alone.
            plain = self._plain.get((method, path))
            if plain is None:
                plain = self._remember_plain(method, path)
            url, context = plain
            return self._send(
                client,
                method,
                url,
                None,
                self._headers,
                context,
                limited,
                parse_json,
                require_document,
                on_retry,
                operation,
            )
        url_text = self._base + path
        if params:
            url_text += "?" + encode_query(params)
        # Already encoded: yarl neither parses nor re-quotes it (aiohttp would, from text).
        url = yarl.URL(url_text, encoded=True)
        data: bytes | None = None
        send_headers = dict(self._headers)
        if json_body is not None:
            data = json.dumps(json_body, separators=(",", ":"), ensure_ascii=False).encode()
            send_headers["Content-Type"] = "application/json"
        if headers:
            send_headers.update(headers)
        if idempotency_key is not None:
            send_headers["Idempotency-Key"] = idempotency_key
        context = RequestContext(method, path, self.key_prefix, idempotency_key)
        return self._send(
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
            operation,
        )

    def _remember_plain(self, method: str, path: str) -> tuple[yarl.URL, RequestContext]:
        plain = (
            yarl.URL(self._base + path, encoded=True),
            RequestContext(method, path, self.key_prefix, None),
        )
        if len(self._plain) >= _PLAIN_CALLS_KEPT:
            self._plain.clear()  # bounded; a wait polls its few paths again soon enough
        self._plain[(method, path)] = plain
        return plain

    async def _send(
        self,
        client: aiohttp.ClientSession,
        method: str,
        url: yarl.URL,
        data: bytes | None,
        headers: dict[str, str],
        context: RequestContext,
        limited: bool,
        parse_json: bool,
        require_document: bool = False,
        on_retry: Callable[[SDKError], None] | None = None,
        operation: str | None = None,
    ) -> Response:
        hooks = self.hooks
        if not hooks.active:
            return await self._attempts(
                client,
                method,
                url,
                data,
                headers,
                context,
                limited,
                parse_json,
                require_document,
                on_retry,
                None,
            )
        trace = _Trace(next_id(), operation or f"{method} {context.path}", hooks)
        hooks.emit(
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
            response = await self._attempts(
                client,
                method,
                url,
                data,
                headers,
                context,
                limited,
                parse_json,
                require_document,
                on_retry,
                trace,
            )
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
        trace: _Trace | None,
    ) -> Response:
        """The attempts of one call; ``trace`` (hooks attached) hears each of them."""
        state = self.state
        limiter = state.limiter if limited else None
        policy = self.config.retry
        clock = self._clock
        logger = self._logger
        debug = logger.isEnabledFor(logging.DEBUG)
        has_key = context.idempotency_key is not None
        attempt = 0
        spent = 0
        redirects = 0
        started: float | None = None
        # No wait for the key's limiter may outlast the call's own retry deadline.
        deadline = clock.monotonic() + policy.deadline
        while True:
            attempt += 1
            if limiter is not None:
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
                if waited and trace is not None:
                    trace.hooks.emit(
                        RateLimitWait(trace.call_id, trace.operation, waited, context.key_prefix)
                    )
            if started is None:
                started = clock.monotonic()
            if trace is not None:
                trace.attempts = attempt
                trace.sent_at = clock.monotonic()
                if trace.started is None:
                    trace.started = trace.sent_at
                trace.hooks.emit(
                    RequestSent(
                        trace.call_id,
                        trace.operation,
                        method,
                        context.path,
                        attempt,
                        context.key_prefix,
                    )
                )
            error: SDKError
            retry_after: float | None = None
            try:
                try:
                    async with client.request(
                        method,
                        url,
                        # aiohttp sends a large bytes body fine but warns that it may block
                        # the loop; a fresh stream per attempt sends the same bytes, unwarned.
                        data=io.BytesIO(data) if data and len(data) > _LARGE_BODY else data,
                        headers=headers,
                        allow_redirects=False,
                        timeout=self._timeout,
                    ) as resp:
                        body = await resp.read()
                        status = resp.status
                        resp_headers = resp.headers
                finally:
                    if limiter is not None:
                        limiter.release()
            except TimeoutError:
                failure = Failure.TIMEOUT
                error = self._errors.timeout(
                    f"no response within {self.config.timeout:g}s",
                    context=context,
                    attempts=attempt,
                )
            except aiohttp.ClientConnectorError as exc:
                failure = Failure.NOT_SENT
                error = self._errors.connection(
                    f"could not connect: {type(exc).__name__}", context=context, attempts=attempt
                )
            except RuntimeError as exc:
                if not client.closed:
                    raise
                raise self._closed_by_owner() from exc
            except (aiohttp.ClientError, OSError) as exc:
                if client.closed:
                    raise self._closed_by_owner() from exc
                failure = Failure.CONNECTION
                error = self._errors.connection(
                    f"connection failed: {type(exc).__name__}", context=context, attempts=attempt
                )
            else:
                if trace is not None:
                    trace.status = status
                    trace.hooks.emit(
                        ResponseReceived(
                            trace.call_id,
                            trace.operation,
                            method,
                            context.path,
                            attempt,
                            status,
                            clock.monotonic() - trace.sent_at,
                            context.key_prefix,
                        )
                    )
                if debug:
                    logger.debug(
                        "%s %s -> %d attempt=%d key=%s idempotency_key=%s",
                        method,
                        context.path,
                        status,
                        attempt,
                        context.key_prefix,
                        context.idempotency_key,
                        extra=_fields(context, attempt=attempt, status=status),
                    )
                if 200 <= status < 300:
                    response = Response(status, resp_headers, body, context)
                    try:
                        if parse_json and response.json(self._errors) is None and require_document:
                            raise self._errors.bad_response(
                                "empty response body where a document was expected",
                                status=status,
                                context=context,
                            )
                    except SDKError as exc:
                        # Truncated or garbled in transit: as transient as a reset.
                        failure, error = Failure.MALFORMED, exc
                        error.attempts = attempt
                    else:
                        state.budget.refund(spent or defaults.RETRY_REFUND_ON_SUCCESS)
                        return response
                elif status in _REDIRECT_STATUSES:
                    url, method, data = self._follow(
                        status, url, method, data, resp_headers, context
                    )
                    redirects += 1
                    if redirects > self.config.max_redirects:
                        raise self._refused(
                            self._errors.bad_response(
                                "too many redirects", status=status, context=context
                            )
                        )
                    attempt -= 1
                    continue
                else:
                    failure = Failure.STATUS
                    retry_after = parse_retry_after(resp_headers.get("Retry-After"), clock.time())
                    error = api_error_from_response(
                        self._errors, status, resp_headers, body, context, attempt, retry_after
                    )
                    if isinstance(error, RateLimitError) and limiter is not None:
                        # Everyone on this key waits, not just this task; never longer than
                        # any call would wait (a Retry-After of a day would freeze the key).
                        pause = policy.ceiling(1) if retry_after is None else retry_after
                        pause = min(pause, policy.max_retry_after)
                        limiter.pause(pause)
                        logger.info(
                            "429 on %s %s: every call with key %s waits %.3fs",
                            method,
                            context.path,
                            context.key_prefix,
                            pause,
                            extra=_fields(context, attempt=attempt, status=status, delay=pause),
                        )
                    if not is_retryable_status(status):
                        raise error
            if not is_safe_to_repeat(method, has_key, failure):
                raise error
            delay = policy.retry_delay(attempt, clock.monotonic() - started, retry_after)
            cost = retry_cost(failure)
            if delay is None or not state.budget.try_spend(cost):
                why = "retries exhausted" if delay is None else "retry budget empty"
                logger.info(
                    "giving up %s %s after %d attempts (%s; last: %s)",
                    method,
                    context.path,
                    attempt,
                    why,
                    _describe(failure, error),
                    extra=_fields(
                        context,
                        attempt=attempt,
                        status=error.status,
                        reason=failure.value,
                        give_up=why,
                    ),
                )
                raise error
            spent += cost
            if on_retry is not None:
                on_retry(error)
            logger.info(
                "retrying %s %s in %.3fs after attempt %d (%s)",
                method,
                context.path,
                delay,
                attempt,
                _describe(failure, error),
                extra=_fields(
                    context, attempt=attempt, status=error.status, reason=failure.value, delay=delay
                ),
            )
            if trace is not None:
                trace.hooks.emit(
                    RetryScheduled(
                        trace.call_id,
                        trace.operation,
                        method,
                        context.path,
                        attempt,
                        delay,
                        failure.value,
                        error.status,
                        error,
                        context.key_prefix,
                    )
                )
            await clock.sleep(delay)

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


@attrs.define(slots=True)
class _Trace:
    """One watched call: what its events need to know across attempts."""

    call_id: int
    operation: str
    hooks: Hooks
    attempts: int = 0
    status: int | None = None
    started: float | None = None
    sent_at: float = 0.0

    def ended(
        self, method: str, context: RequestContext, now: float, error: BaseException | None
    ) -> None:
        self.hooks.emit(
            CallEnded(
                self.call_id,
                self.operation,
                method,
                context.path,
                self.attempts,
                self.status,
                0.0 if self.started is None else now - self.started,
                error,
                context.key_prefix,
            )
        )


def _fields(context: RequestContext, **fields: object) -> dict[str, object]:
    """A log record's ``extra=``: the call's identity and the step's figures."""
    return {
        "method": context.method,
        "path": context.path,
        "key_prefix": context.key_prefix,
        "idempotency_key": context.idempotency_key,
        **fields,
    }


def _describe(failure: Failure, error: SDKError) -> str:
    return f"status {error.status}" if failure is Failure.STATUS else failure.value


def ensure_json_object(response: Response, what: str, errors: ErrorFamily) -> dict[str, Any]:
    """The response body as a JSON object (an empty body counts as ``{}``)."""
    value = response.json(errors)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise errors.bad_response(
            f"expected a JSON object for {what}, got {type(value).__name__}",
            status=response.status,
            context=response.context,
        )
    return value
