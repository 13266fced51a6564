"""A fleet on Redis: one key's rate limit, 429 pause and retry budget for many processes.

Hand the same :class:`RedisFleet` configuration to every session of every process that
uses the key (``ContentSession(key, fleet=RedisFleet("redis://host:6379/0"))``). It needs
the ``[redis]`` extra (the ``redis`` package's asyncio client) and Redis 7 or Valkey.

The semantics are those of :mod:`edu_async_core.ratelimit`, kept in Redis:

- A slot is granted by one Lua script (``ACQUIRE``) on the server's clock (``TIME``): it
  either records the slot as in flight, with a lease, or answers the milliseconds until
  one can be granted, so a waiter sleeps exactly that long and asks again; it never spins.
  ``RELEASE`` moves the slot into the window, where it counts for ``window + margin``
  seconds from that moment. So any two requests ``limit`` grants apart reach the server a
  window apart, whichever processes sent them.
- Each process keeps an in-process :class:`~edu_async_core.ratelimit.SlidingWindowLimiter`
  in front, and only the task at its head asks Redis: tasks of one process are served
  first come first served, a process asks only for what its tasks are ready to send, and a
  task cancelled while waiting holds nothing (a grant that lands after the cancellation
  is handed back).
- A lease is the request timeout plus ``lease_margin``. A slot whose lease ran out (its
  process died) counts as if its request had been answered at the lease's end: it leaves
  the window ``window + margin`` later and the key's budget is whole again.
- A 429's pause is a key with an expiry (``decide(...).pause``, so capped by
  ``max_retry_after``) that every acquire of every process respects.
- The retry budget is one counter of spent tokens per key: a fleet draws ``capacity``
  retries in all, not ``capacity`` per process. It forgets its spending after
  ``budget_memory`` seconds without a spend.

Keys are ``{prefix}:{<hash>}:...`` where ``<hash>`` is the start of
:func:`~edu_async_core.ratelimit.credential_id` (a SHA-256 of the server and the secret):
never the secret, nor its prefix. The braces are a Redis Cluster hash tag, so one key's
entries live on one node. ``release()`` and ``pause()`` are synchronous in the limiter's
protocol, so their Redis calls run as background tasks; ``await fleet.aclose()`` (or
``async with RedisFleet(...)``) waits for them and closes the connections.

When Redis cannot be reached, the fleet's policy (``on_unavailable``, see
:mod:`edu_async_core.fleet.outage`) decides: fail closed, or go on at each process's
share. A release that cannot reach Redis is left to its lease. Webhook events cross the
fleet on :meth:`RedisFleet.events` (:mod:`edu_async_core.fleet.redis_events`). The module
is over 400 lines because the Lua scripts and the code that calls them only make sense
side by side.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import os
import secrets
import weakref
from collections.abc import Awaitable
from types import TracebackType
from typing import Any, Final

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from ..clock import SYSTEM_CLOCK, Clock
from ..errors import FleetUnavailableError
from ..limits import CredentialState, LimitSettings
from ..ratelimit import PausedPastDeadline, SlidingWindowLimiter
from ..retry import RetryBudget
from ..task_set import drain
from .keys import milliseconds, namespace
from .outage import OnUnavailable, Outage, fallback_share
from .redis_events import UNREACHABLE, RedisEventBus, checked_url

__all__ = [
    "ACQUIRE",
    "BUDGET_REFUND",
    "BUDGET_SPEND",
    "PAUSE",
    "RELEASE",
    "RedisBudget",
    "RedisFleet",
    "RedisLimiter",
    "namespace",
]

_log: Final = logging.getLogger("edu_async_core.fleet")

#: Why ``ACQUIRE`` said wait (its third value).
GRANTED: Final = 0
PAUSED: Final = 1
WINDOW_FULL: Final = 2
ALL_IN_FLIGHT: Final = 3

_NOW_MS: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

#: KEYS: in-flight zset (slot -> lease end, ms), window zset (slot -> leaves the window,
#: ms), pause key. ARGV: slot id, limit, window ms, lease ms.
#: Returns {1, 0, 0, held, counted} for a grant, else {0, ms to wait, why, held, counted}.
ACQUIRE: Final = (
    _NOW_MS
    + """
local window = tonumber(ARGV[3])
local lease = tonumber(ARGV[4])
-- Slots whose lease ran out (their process died): answered at the lease's end.
local lost = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'WITHSCORES')
for i = 1, #lost, 2 do
  redis.call('ZADD', KEYS[2], 'GT', tonumber(lost[i + 1]) + window, lost[i])
  redis.call('ZREM', KEYS[1], lost[i])
end
if #lost > 0 then redis.call('PEXPIRE', KEYS[2], window + lease) end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local held = redis.call('ZCARD', KEYS[1])
local counted = redis.call('ZCARD', KEYS[2])
-- Asked again for a slot already granted (the answer was lost on the way): grant it.
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return {1, 0, 0, held, counted} end
local paused = redis.call('PTTL', KEYS[3])
if paused > 0 then return {0, paused, 1, held, counted} end
local limit = tonumber(ARGV[2])
if held + counted < limit then
  redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
  redis.call('PEXPIRE', KEYS[1], window + lease)
  return {1, 0, 0, held + 1, counted}
end
-- Slots in flight leave the window no sooner than a window from now: the slot that
-- frees first is the window's entry at this rank, if the window has that many.
local rank = held + counted - limit
if rank >= counted then return {0, window, 3, held, counted} end
local entry = redis.call('ZRANGE', KEYS[2], rank, rank, 'WITHSCORES')
return {0, math.max(1, tonumber(entry[2]) - now), 2, held, counted}
"""
)

#: KEYS: in-flight zset, window zset. ARGV: slot id, window ms, lease ms. The slot counts
#: against the window from now (or later, if its lease already ran out and put it there).
RELEASE: Final = (
    _NOW_MS
    + """
local window = tonumber(ARGV[2])
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], 'GT', now + window, ARGV[1])
redis.call('PEXPIRE', KEYS[2], window + tonumber(ARGV[3]))
return 1
"""
)

#: KEYS: pause key. ARGV: ms. Lengthens the pause, never shortens it; returns its ms left.
PAUSE: Final = """
local ms = tonumber(ARGV[1])
local left = redis.call('PTTL', KEYS[1])
if left < ms then
  redis.call('SET', KEYS[1], '1', 'PX', ms)
  return ms
end
return left
"""

#: KEYS: tokens spent (absent: none). ARGV: cost, capacity, memory ms. 1 if spent, else 0.
BUDGET_SPEND: Final = """
local spent = tonumber(redis.call('GET', KEYS[1]) or '0')
local cost = tonumber(ARGV[1])
if spent + cost > tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[1], spent + cost, 'PX', tonumber(ARGV[3]))
return 1
"""

#: KEYS: tokens spent. ARGV: amount. Returns the tokens still spent.
BUDGET_REFUND: Final = """
local spent = tonumber(redis.call('GET', KEYS[1]) or '0')
if spent <= 0 then return 0 end
local left = math.max(0, spent - tonumber(ARGV[1]))
if left == 0 then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], left, 'KEEPTTL')
end
return left
"""


class _Scripts:
    """The Lua scripts, registered on one client (EVALSHA, loaded again if flushed)."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self.acquire = client.register_script(ACQUIRE)
        self.release = client.register_script(RELEASE)
        self.pause = client.register_script(PAUSE)
        self.spend = client.register_script(BUDGET_SPEND)
        self.refund = client.register_script(BUDGET_REFUND)


class _Background:
    """Redis calls nobody waits for (releases, pauses, refunds), kept until they end."""

    def __init__(self, outage: Outage) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._outage = outage
        # Loops that run until something happens (a probe until Redis is back): cancelled
        # at close rather than waited for.
        self._loops: set[asyncio.Task[Any]] = set()

    def spawn(self, work: Awaitable[Any], what: str) -> None:
        """Run ``work`` to its end; a failure counts against Redis's reachability."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._done(t, what))

    def _done(self, task: asyncio.Task[Any], what: str) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            self._outage.reached()
        elif isinstance(exc, UNREACHABLE):
            # Once per outage, not per release: a slot's lease ends what was not sent.
            self._outage.failed(exc, what)
        else:
            _log.warning(
                "fleet: %s failed (%s: %s); a slot's lease ends it",
                what,
                type(exc).__name__,
                exc,
                extra={"fleet_call": what},
            )

    def start_loop(self, work: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(work)
        self._loops.add(task)
        task.add_done_callback(self._loops.discard)
        return task

    async def stop_loops(self) -> None:
        for task in self._loops:
            task.cancel()
        await drain(self._loops)

    async def drain(self) -> None:
        """Wait until every release, pause and refund sent so far has finished."""
        await drain(self._tasks)


class _Keys:
    def __init__(self, prefix: str, cred_id: str) -> None:
        self.namespace = namespace(prefix, cred_id)
        self.in_flight = f"{self.namespace}:in_flight"
        self.window = f"{self.namespace}:window"
        self.pause = f"{self.namespace}:pause"
        self.budget = f"{self.namespace}:budget"


_SLOT_IDS: Final = itertools.count(1)

#: A slot held: its Redis slot id (None if granted alone), and whether the share was taken.
_Held = tuple[str | None, bool]


#: Seconds to connect to Redis, and to wait for one answer, before it counts as unreachable.
CONNECT_TIMEOUT: Final = 2.0
ANSWER_TIMEOUT: Final = 5.0
#: Pauses between a failing-closed call's attempts to reach Redis, doubled up to the last.
PROBE_FIRST: Final = 0.05
PROBE_LAST: Final = 1.0
#: Seconds one grant may take while Redis is thought unreachable (a probe), before the
#: call goes on alone or tries again.
PROBE_TIMEOUT: Final = 0.5


def client_defaults() -> dict[str, Any]:
    """Options of the fleet's Redis clients unless ``client_options`` override them.

    One immediate retry on a broken connection: after Redis comes back, each pooled
    connection the outage broke fails once when next used, and without the retry each
    such failure would be reported as a new outage. The scripts tolerate running twice
    (a grant, release or pause of the same slot is idempotent; a retry budget spend whose
    answer was lost is spent twice, the safe side).
    """
    return {
        "socket_connect_timeout": CONNECT_TIMEOUT,
        # Only a broken connection: a Redis that does not answer is not asked twice.
        "retry": Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        "retry_on_error": [RedisConnectionError],
    }


class RedisLimiter:
    """The :class:`~edu_async_core.limits.Limiter` of one key, shared through Redis.

    ``limit`` requests in any ``window + margin`` seconds for the whole fleet; see the
    module's docstring for how.
    """

    def __init__(
        self,
        scripts: _Scripts,
        keys: _Keys,
        background: _Background,
        *,
        limit: int,
        window: float,
        margin: float,
        lease: float,
        clock: Clock,
        logger: logging.Logger | None,
        label: str,
        outage: Outage,
        policy: OnUnavailable,
        expected_processes: int,
        unavailable_timeout: float,
    ) -> None:
        self._local = SlidingWindowLimiter(
            limit, window, margin=margin, clock=clock, logger=logger, label=label
        )
        # This process's share of the key, for when it cannot ask the fleet (and for one
        # window after, since the fleet never saw what it sent meanwhile).
        self._alone = SlidingWindowLimiter(
            fallback_share(limit, expected_processes),
            window,
            margin=margin,
            clock=clock,
            logger=logger,
            label=label,
        )
        self._outage = outage
        outage.settle = max(outage.settle, window + margin)
        self._policy = policy
        self._expected = expected_processes
        self._unavailable_timeout = unavailable_timeout
        self._scripts = scripts
        self._keys = keys
        self._background = background
        self._window_ms = milliseconds(window + margin)
        self._lease_ms = milliseconds(lease)
        self._clock = clock
        self._logger = logger
        self._label = label
        self._turn = asyncio.Lock()
        self._probe: asyncio.Future[Any] | None = None
        # The slots held, by the task that took them (a request's task releases its own
        # slot), oldest first: its Redis slot id (None if Redis did not grant it) and
        # whether this process's own share was taken too.
        self._held: dict[asyncio.Task[Any] | None, collections.deque[_Held]] = {}
        # Slot ids name the process (for an operator reading Redis), never the credential.
        self._slot_prefix = f"{os.getpid()}-{secrets.token_hex(4)}"
        self.total_grants = 0
        self.total_wait = 0.0

    def __repr__(self) -> str:
        return f"RedisLimiter(key={self._label!r}, limit={self.limit})"

    @property
    def limit(self) -> int:
        """Requests the fleet may send in any window."""
        return self._local.limit

    @property
    def in_flight(self) -> int:
        """Slots this process holds."""
        return sum(len(entries) for entries in self._held.values())

    @property
    def lease(self) -> float:
        """Seconds a slot stays in flight before the fleet presumes its process dead."""
        return self._lease_ms / 1000

    def lower_limit(self, limit: int) -> None:
        """Tighten the limit this process asks Redis for (the strictest session wins)."""
        self._local.lower_limit(limit)
        self._alone.lower_limit(fallback_share(limit, self._expected))

    def pause(self, seconds: float) -> None:
        """Pause this process at once and, one round trip later, every process of the key."""
        self._local.pause(seconds)
        self._alone.pause(seconds)
        self._background.spawn(
            self._scripts.pause(keys=[self._keys.pause], args=[milliseconds(seconds)]),
            "a 429 pause",
        )

    @property
    def paused_for(self) -> float:
        """Seconds still paused, by a 429 this process saw or one Redis reported."""
        return self._local.paused_for

    async def acquire(self, deadline: float | None = None) -> float:
        """Take a slot of the fleet: first this process's turn, then Redis's grant.

        Returns the seconds waited; raises :class:`PausedPastDeadline` when a fleet-wide
        pause outlasts ``deadline``.
        """
        start = self._clock.monotonic()
        # Counted from the call, not from its turn: calls queued behind one that waits
        # for an unreachable Redis give up at their own time, not one after another.
        gave_up_at = start + self._unavailable_timeout
        if deadline is not None:
            gave_up_at = min(gave_up_at, deadline)
        await self._local.acquire(deadline)
        if self._policy is OnUnavailable.LOCAL and self._outage.active:
            # Redis is away: go on alone at once; a probe in the background finds it back.
            self._probe_soon()
            try:
                await self._alone.acquire(deadline)
            except BaseException:
                self._local.give_back()
                raise
            self._hold((None, True))
            self.total_grants += 1
            return self._clock.monotonic() - start
        try:
            await self._take_turn(gave_up_at)
        except BaseException:
            self._local.give_back()
            raise
        try:
            held = await self._acquire_shared(deadline, gave_up_at)
        except BaseException:
            self._local.give_back()
            raise
        finally:
            self._turn.release()
        self._hold(held)
        self.total_grants += 1
        return self._clock.monotonic() - start

    async def _take_turn(self, gave_up_at: float) -> None:
        """This process's turn to ask Redis, first come first served; but a call still
        queued at ``gave_up_at`` while Redis is unreachable fails closed then."""
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        gave_up = False
        timer: asyncio.TimerHandle | None = None

        def check() -> None:
            nonlocal gave_up, timer
            if self._outage.active and self._policy is OnUnavailable.FAIL:
                gave_up = True
                task.cancel()
            else:  # Redis answers, or we go on alone: keep our place in the queue
                timer = loop.call_later(PROBE_LAST, check)

        timer = loop.call_at(self._loop_time(gave_up_at), check)
        try:
            await self._turn.acquire()
        except asyncio.CancelledError:
            if gave_up:
                task.uncancel()
                raise self._unavailable(None) from None
            raise
        finally:
            if timer is not None:
                timer.cancel()

    def _probe_soon(self) -> None:
        """Ask Redis in the background, every ``probe_interval``, whether it is back.

        A loop of its own, not one probe per call: while every task of the process waits
        for its share, none calls, and the process would find Redis back a window late.
        """
        if self._probe is None or self._probe.done():
            self._probe = self._background.start_loop(self._probe_until_back())

    async def _probe_until_back(self) -> None:
        while self._outage.active:
            if not self._outage.probe_due():
                await asyncio.sleep(self._outage.probe_interval / 4)
                continue
            try:
                await asyncio.wait_for(self._scripts.client.ping(), PROBE_TIMEOUT)
            except UNREACHABLE as exc:
                self._outage.failed(exc, "a probe")
            else:
                self._outage.reached()

    def _hold(self, entry: _Held) -> None:
        self._held.setdefault(asyncio.current_task(), collections.deque()).append(entry)

    def _unhold(self) -> _Held:
        """The slot of the task releasing (a slot granted alone and one Redis granted are
        released apart); from a task that took none, the oldest slot held."""
        task = asyncio.current_task()
        if task not in self._held:
            task = next(iter(self._held))
        entries = self._held[task]
        entry = entries.popleft()
        if not entries:
            del self._held[task]
        return entry

    def _loop_time(self, monotonic: float) -> float:
        """``monotonic`` (on the limiter's clock) as a time of the running loop."""
        return asyncio.get_running_loop().time() + (monotonic - self._clock.monotonic())

    def _unavailable(self, error: BaseException | None) -> FleetUnavailableError:
        now = self._clock.monotonic()
        why = f" ({type(error).__name__})" if error is not None else ""
        return FleetUnavailableError(
            f"not sent: Redis unreachable for {now - (self._outage.since or now):.1f}s{why}, "
            "the fleet fails closed"
        )

    async def _acquire_shared(
        self, deadline: float | None, gave_up_at: float
    ) -> tuple[str | None, bool]:
        slot = f"{self._slot_prefix}-{next(_SLOT_IDS)}"
        local = self._policy is OnUnavailable.LOCAL
        alone = False
        if local and self._outage.keeps_local() and not self._outage.active:
            # Just back from an outage: our own share still applies for a window. Taken
            # before Redis's grant, so no grant waits here while its lease runs out.
            await self._alone.acquire(deadline)
            alone = True
        try:
            return await self._grant(slot, deadline, gave_up_at, alone)
        except BaseException:
            if alone:
                self._alone.give_back()
            raise

    async def _grant(
        self, slot: str, deadline: float | None, gave_up_at: float, alone: bool
    ) -> tuple[str | None, bool]:
        local = self._policy is OnUnavailable.LOCAL
        pause = PROBE_FIRST
        while True:
            if local and self._outage.active:
                self._probe_soon()
                if not alone:
                    await self._alone.acquire(deadline)  # on our own until it is back
                return None, True
            try:
                # A probe of a Redis thought away must not hold this process's turn long,
                # and failing closed, no answer is waited for past the call's give-up
                # (but a Redis that answers is always given PROBE_TIMEOUT, even after a
                # long wait for the window).
                bound = PROBE_TIMEOUT if self._outage.active else None
                if not local and bound is None:
                    bound = max(PROBE_TIMEOUT, gave_up_at - self._clock.monotonic())
                if bound is None:
                    answer = await self._ask(slot)
                else:
                    async with asyncio.timeout(bound):
                        answer = await self._ask(slot)
            except UNREACHABLE as exc:
                self._outage.failed(exc, "a slot's grant")
                if local:
                    continue
                now = self._clock.monotonic()
                since = self._outage.since if self._outage.since is not None else now
                if now >= gave_up_at or now - since >= self._unavailable_timeout:
                    # Out of time, or an outage older than the timeout: one try, no wait.
                    raise self._unavailable(exc) from None
                await self._clock.sleep(min(pause, gave_up_at - now))
                pause = min(pause * 2, PROBE_LAST)
                continue
            granted, wait_ms, why, held, counted = answer
            self._outage.reached()
            if granted:
                return slot, alone
            wait = wait_ms / 1000
            if why == PAUSED:
                self._local.pause(wait)  # later tasks of this process see it at once
                if deadline is not None and self._clock.monotonic() + wait > deadline:
                    raise PausedPastDeadline(wait)
            if self._logger is not None and self._logger.isEnabledFor(logging.INFO):
                reason = "paused" if why == PAUSED else "window"
                self._logger.info(
                    "rate limit: key %s waits %.3fs (fleet: %s; limit %d per %.0fs, %d in flight)",
                    self._label,
                    wait,
                    "paused by a 429" if why == PAUSED else "window full",
                    self.limit,
                    self._window_ms / 1000,
                    held,
                    extra={
                        "key_prefix": self._label,
                        "delay": wait,
                        "reason": reason,
                        "limit": self.limit,
                        "window": self._window_ms / 1000,
                        "in_flight": held,
                        "in_window": counted,
                    },
                )
            self.total_wait += wait
            await self._clock.sleep(wait)

    async def _ask(self, slot: str) -> tuple[bool, int, int, int, int]:
        """One ``ACQUIRE``; if the caller is cancelled meanwhile, a grant is handed back."""
        call = asyncio.ensure_future(
            self._scripts.acquire(
                keys=[self._keys.in_flight, self._keys.window, self._keys.pause],
                args=[slot, self.limit, self._window_ms, self._lease_ms],
            )
        )
        try:
            answer = await asyncio.shield(call)
        except asyncio.CancelledError:
            call.add_done_callback(lambda done: self._hand_back(slot, done))
            raise
        granted, wait_ms, why, held, counted = (int(v) for v in answer)
        return bool(granted), wait_ms, why, held, counted

    def _hand_back(self, slot: str, done: asyncio.Future[Any]) -> None:
        if done.cancelled() or done.exception() is not None or not int(done.result()[0]):
            return
        self._hand_back_now(slot)

    def _hand_back_now(self, slot: str) -> None:
        # Never sent: it leaves the in-flight set without counting against the window.
        self._background.spawn(
            self._scripts.client.zrem(self._keys.in_flight, slot), "handing back a slot"
        )

    def release(self) -> None:
        """The request of a slot finished: it counts against the fleet's window from now."""
        self._local.release()
        slot, alone = self._unhold()
        if alone:
            self._alone.release()
        if slot is None:
            return
        self._background.spawn(
            self._scripts.release(
                keys=[self._keys.in_flight, self._keys.window],
                args=[slot, self._window_ms, self._lease_ms],
            ),
            "a slot's release",
        )


class RedisBudget:
    """The :class:`~edu_async_core.limits.RetryBudgetLike` of one key, shared by the fleet.

    ``try_spend`` is one ``BUDGET_SPEND`` round trip. Refunds (after every success) are
    added up and sent by one background task, so a busy process sends few of them.
    """

    def __init__(
        self,
        scripts: _Scripts,
        key: str,
        background: _Background,
        capacity: int,
        memory: float,
        *,
        outage: Outage,
        expected_processes: int = 1,
    ) -> None:
        if capacity < 0:
            raise ValueError("capacity must not be negative")
        self.capacity = capacity
        self._outage = outage
        # Drawn from while Redis cannot be reached: this process's share of the bucket.
        self._alone = RetryBudget(fallback_share(capacity, expected_processes) if capacity else 0)
        self._scripts = scripts
        self._key = key
        self._background = background
        self._memory_ms = milliseconds(memory)
        self._pending = 0
        self._flushing = False

    def __repr__(self) -> str:
        return f"RedisBudget(capacity={self.capacity})"

    async def try_spend(self, cost: int) -> bool:
        """Take ``cost`` tokens from the fleet's budget if it has them; say whether it did.

        While Redis cannot be reached, tokens come from this process's share instead.
        """
        if self._outage.active and not self._outage.probe_due():
            return self._alone.try_spend(cost)
        try:
            spent = await self._scripts.spend(
                keys=[self._key], args=[cost, self.capacity, self._memory_ms]
            )
        except UNREACHABLE as exc:
            self._outage.failed(exc, "a retry budget spend")
            return self._alone.try_spend(cost)
        self._outage.reached()
        return bool(int(spent))

    def refund(self, amount: int) -> None:
        """Give tokens back to the fleet's budget (sent in the background, batched)."""
        if amount <= 0:
            return
        self._alone.refund(amount)
        self._pending += amount
        if not self._flushing:
            self._flushing = True
            self._background.spawn(self._flush(), "a retry budget refund")

    async def _flush(self) -> None:
        try:
            while self._pending:
                amount, self._pending = self._pending, 0
                await self._scripts.refund(keys=[self._key], args=[amount])
        finally:
            self._flushing = False

    async def tokens(self) -> int:
        """Tokens left for the whole fleet (one read)."""
        spent = await self._scripts.client.get(self._key)
        return max(0, self.capacity - int(spent or 0))


class _LoopFleet:
    """What a fleet holds on one event loop (a Redis client belongs to its loop)."""

    def __init__(self, client: aioredis.Redis, outage: Outage) -> None:
        self.client = client
        self.scripts = _Scripts(client)
        self.outage = outage
        self.background = _Background(outage)
        self.states: dict[str, CredentialState] = {}


class RedisFleet:
    """A :class:`~edu_async_core.limits.Fleet` on Redis (or Valkey), for every process of a key.

    ``url`` is a ``redis://`` or ``rediss://`` URL as ``redis.asyncio.from_url`` reads it;
    it is never shown (it may hold a password). ``prefix`` starts every key (give fleets
    that must not share a limit different prefixes). A slot's lease is the request timeout
    plus ``lease_margin`` seconds. The shared retry budget forgets what was spent
    ``budget_memory`` seconds after the last spend.

    When Redis cannot be reached (:mod:`edu_async_core.fleet.outage`): with
    ``on_unavailable="fail"`` (the default) a call waits up to ``unavailable_timeout``
    seconds for it, then raises the SDK's ``FleetUnavailableError`` without sending; with
    ``"local"`` each process goes on at ``limit // expected_processes`` per window and
    asks Redis again every ``probe_interval`` seconds. ``client_options`` go to
    ``redis.asyncio.Redis.from_url``; unless they say otherwise (:func:`client_defaults`),
    connecting gives up after ``CONNECT_TIMEOUT`` and an answer after ``ANSWER_TIMEOUT``
    seconds, so a Redis that hangs counts as unreachable instead of stalling every call,
    and a command whose connection broke is tried once more on a new one.

    Use one per process, ``async with RedisFleet(url) as fleet:`` around the sessions
    given ``fleet=fleet``, so pending releases are sent and connections closed at the end.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "edu-async",
        lease_margin: float = 5.0,
        budget_memory: float = 600.0,
        on_unavailable: OnUnavailable | str = OnUnavailable.FAIL,
        expected_processes: int | None = None,
        unavailable_timeout: float = 10.0,
        probe_interval: float = 1.0,
        client_options: dict[str, Any] | None = None,
    ) -> None:
        if not prefix or any(c in prefix for c in "{}"):
            raise ValueError("prefix must be a non-empty string without braces")
        try:
            self.on_unavailable = OnUnavailable(on_unavailable)
        except ValueError:
            raise ValueError(
                f"on_unavailable must be 'fail' or 'local', got {on_unavailable!r}"
            ) from None
        if expected_processes is None:
            if self.on_unavailable is OnUnavailable.LOCAL:
                raise ValueError(
                    "expected_processes is needed with on_unavailable='local' (each process "
                    "then takes limit // expected_processes)"
                )
            expected_processes = 1
        if isinstance(expected_processes, bool) or not isinstance(expected_processes, int):
            raise ValueError("expected_processes must be an int >= 1")
        if expected_processes < 1:
            raise ValueError("expected_processes must be an int >= 1")
        if not unavailable_timeout >= 0:
            raise ValueError("unavailable_timeout must be >= 0 seconds")
        if not probe_interval > 0:
            raise ValueError("probe_interval must be > 0 seconds")
        self.expected_processes = expected_processes
        self.unavailable_timeout = float(unavailable_timeout)
        self.probe_interval = float(probe_interval)
        if lease_margin < 0:
            raise ValueError("lease_margin must not be negative")
        if budget_memory <= 0:
            raise ValueError("budget_memory must be positive")
        self._url = checked_url(url)
        self.prefix = prefix
        self.lease_margin = float(lease_margin)
        self.budget_memory = float(budget_memory)
        self._client_options = {**client_defaults(), **(client_options or {})}
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopFleet] = (
            weakref.WeakKeyDictionary()
        )
        self._buses: dict[str, RedisEventBus] = {}

    def __repr__(self) -> str:
        return f"RedisFleet(prefix={self.prefix!r})"

    def events(
        self, channel: str = "events", *, remember: float = 3600.0, dedupe_for: float = 86400.0
    ) -> RedisEventBus:
        """The fleet's event bus named ``channel``, on the same Redis and prefix.

        One bus per channel, closed with the fleet. For webhooks, hand it to
        :class:`tutorflow_async.webhooks.FleetWebhookEvents`.
        """
        bus = self._buses.get(channel)
        if bus is None:
            bus = self._buses[channel] = RedisEventBus(
                self._url,
                prefix=self.prefix,
                channel=channel,
                remember=remember,
                dedupe_for=dedupe_for,
                client_options=self._client_options,
            )
        return bus

    def namespace(self, cred_id: str) -> str:
        """The start of the Redis keys of ``cred_id`` (for operators and tests)."""
        return namespace(self.prefix, cred_id)

    def _on_loop(self) -> _LoopFleet:
        loop = asyncio.get_running_loop()
        here = self._loops.get(loop)
        if here is None:
            options = {"socket_timeout": ANSWER_TIMEOUT, **self._client_options}
            client = aioredis.Redis.from_url(self._url, **options)
            outage = Outage(SYSTEM_CLOCK, self.probe_interval)
            here = self._loops[loop] = _LoopFleet(client, outage)
        return here

    def outage(self) -> Outage:
        """This loop's record of Redis outages (``active``, ``count``, ``last_duration``)."""
        return self._on_loop().outage

    def credential_state(self, cred_id: str, settings: LimitSettings) -> CredentialState:
        """The Redis-backed limiter and budget of ``cred_id`` on the running loop."""
        here = self._on_loop()
        state = here.states.get(cred_id)
        keys = _Keys(self.prefix, cred_id)
        if state is None:
            budget = RedisBudget(
                here.scripts,
                keys.budget,
                here.background,
                settings.budget_capacity,
                self.budget_memory,
                outage=here.outage,
                expected_processes=self.expected_processes,
            )
            state = CredentialState(None, budget)
            here.states[cred_id] = state
        if settings.limit is not None:
            if state.limiter is None:
                state.limiter = RedisLimiter(
                    here.scripts,
                    keys,
                    here.background,
                    limit=settings.limit,
                    window=settings.window,
                    margin=settings.margin,
                    lease=settings.request_timeout + self.lease_margin,
                    clock=settings.clock,
                    logger=settings.logger,
                    label=settings.label,
                    outage=here.outage,
                    policy=self.on_unavailable,
                    expected_processes=self.expected_processes,
                    unavailable_timeout=self.unavailable_timeout,
                )
            else:
                state.limiter.lower_limit(settings.limit)
        return state

    async def flush(self) -> None:
        """Wait until every release, pause and refund of this loop reached Redis."""
        here = self._loops.get(asyncio.get_running_loop())
        if here is not None:
            await here.background.drain()

    async def aclose(self) -> None:
        """Send what is pending and close this loop's connections (the fleet can reopen)."""
        here = self._loops.pop(asyncio.get_running_loop(), None)
        try:
            if here is not None:
                try:
                    await here.background.stop_loops()
                    await here.background.drain()
                finally:
                    await here.client.aclose()
        finally:
            for bus in self._buses.values():
                await bus.aclose()

    async def __aenter__(self) -> RedisFleet:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
