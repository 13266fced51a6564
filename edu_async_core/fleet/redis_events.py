"""Events across a fleet on Redis: publish once, every subscribed process hears it.

:class:`RedisEventBus` is the :class:`~edu_async_core.events.EventBus` of a fleet. One
Lua script (``PUBLISH_EVENT``) does a publish atomically: ``SET NX`` of the event's
de-duplication key (with an expiry, ``dedupe_for``), and only if that was the first, the
payload stored as the topic's last event (``remember``) and broadcast on the bus's
channel. So an event delivered to two processes is broadcast once, and a process that
subscribes after the broadcast (pub/sub does not replay) finds it in the topic's key.

Each process (each event loop) keeps one pub/sub connection on the channel and one
future per subscription. A new subscription is checked against the remembered events
once the connection is listening, so an event published at any moment is seen: either
the check finds the stored payload, or the broadcast arrives (the script stores before
it broadcasts). Checks are batched: one ``MGET`` for every subscription made meanwhile.

When Redis cannot be reached, publishing raises
:class:`~edu_async_core.errors.FleetUnavailableError`; the listener logs one WARNING,
reconnects with a growing pause, logs the recovery, and then checks every pending
subscription again, since broadcasts sent while it was away were lost to it.

Keys are ``{prefix}:{events-<channel>}:...``: the braces are a Redis Cluster hash tag,
so a bus's keys and its channel live on one node. Topics (job ids) are used as they are;
de-duplication ids are hashed (they may be long).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
import weakref
from types import TracebackType
from typing import Any, Final

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ..errors import FleetUnavailableError
from ..task_set import drain
from .keys import milliseconds

__all__ = ["PUBLISH_EVENT", "RedisEventBus"]

_log: Final = logging.getLogger("edu_async_core.fleet")

#: What counts as "Redis cannot serve us": unreachable (refused, reset, no route, no
#: answer in time) and also answering but refusing (a read-only replica after a failover,
#: out of memory, still loading): the fleet's policy applies to all of them alike.
UNREACHABLE: Final = (RedisError, OSError, TimeoutError)

#: Seconds a publish or a look-up may take before Redis counts as unreachable (the bus's
#: client has no answer timeout of its own: its pub/sub connection must block).
ANSWER_TIMEOUT: Final = 5.0

#: KEYS: de-duplication key, the topic's last-event key. ARGV: dedupe ms, remember ms,
#: channel, message, payload. 1 if published, 0 if the event was published before.
PUBLISH_EVENT: Final = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', tonumber(ARGV[1])) then return 0 end
redis.call('SET', KEYS[2], ARGV[5], 'PX', tonumber(ARGV[2]))
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
"""

#: Pauses between reconnection attempts of the listener: doubled from the first to the last.
RECONNECT_FIRST: Final = 0.05
RECONNECT_LAST: Final = 2.0


class _LoopBus:
    """What a bus holds on one event loop: a client, the listener, the subscriptions."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self.script = client.register_script(PUBLISH_EVENT)
        self.subscribers: dict[str, set[asyncio.Future[str]]] = {}
        self.to_check: set[str] = set()
        self.listening = asyncio.Event()
        self.listener: asyncio.Task[None] | None = None
        self.checker: asyncio.Task[None] | None = None
        self.closed = False


class RedisEventBus:
    """An :class:`~edu_async_core.events.EventBus` on Redis (see the module docstring).

    ``channel`` names the bus: every process of a fleet that should hear the same events
    uses the same ``prefix`` and ``channel``. A topic's event is remembered for
    ``remember`` seconds (a wait that starts later than that after the event falls back
    to polling); an event id is recognised as a repeat for ``dedupe_for`` seconds.
    ``url`` is never shown (it may hold a password).

    Use ``async with RedisEventBus(url) as bus:`` (or ``await bus.aclose()``) so the
    listener stops and connections close; a closed bus can be used again, it reconnects.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "edu-async",
        channel: str = "events",
        remember: float = 3600.0,
        dedupe_for: float = 86400.0,
        client_options: dict[str, Any] | None = None,
    ) -> None:
        if not prefix or any(c in prefix for c in "{}"):
            raise ValueError("prefix must be a non-empty string without braces")
        if not channel or any(c in channel for c in "{}"):
            raise ValueError("channel must be a non-empty string without braces")
        if not remember > 0 or not dedupe_for > 0:
            raise ValueError("remember and dedupe_for must be positive seconds")
        self._url = checked_url(url)
        self.prefix = prefix
        self.channel = channel
        self.remember = float(remember)
        self.dedupe_for = float(dedupe_for)
        self._client_options = dict(client_options or {})
        self.namespace = f"{prefix}:{{events-{channel}}}"
        self._channel_key = f"{self.namespace}:broadcast"
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopBus] = (
            weakref.WeakKeyDictionary()
        )
        #: Counters of this process: events published (first of their id), repeats
        #: dropped, events delivered to subscriptions (by broadcast or by the check).
        self.published = 0
        self.repeats = 0
        self.delivered = 0
        self._outage_since: float | None = None

    def __repr__(self) -> str:
        return f"RedisEventBus(prefix={self.prefix!r}, channel={self.channel!r})"

    def topic_key(self, topic: str) -> str:
        """The key remembering ``topic``'s last event (for operators and tests)."""
        return f"{self.namespace}:last:{topic}"

    def _dedupe_key(self, dedupe_id: str) -> str:
        digest = hashlib.sha256(dedupe_id.encode()).hexdigest()[:32]
        return f"{self.namespace}:seen:{digest}"

    def _on_loop(self) -> _LoopBus:
        loop = asyncio.get_running_loop()
        here = self._loops.get(loop)
        if here is None:
            client = aioredis.Redis.from_url(self._url, **self._client_options)
            here = self._loops[loop] = _LoopBus(client)
        return here

    # -- publishing -------------------------------------------------------------------

    async def publish(self, topic: str, dedupe_id: str, payload: str) -> bool:
        """Broadcast ``payload`` under ``topic`` unless ``dedupe_id`` was published before.

        Returns whether this was the first publish of ``dedupe_id``. Raises
        :class:`~edu_async_core.errors.FleetUnavailableError` if Redis cannot be reached.
        """
        _check_topic(topic)
        here = self._on_loop()
        message = json.dumps([topic, payload])
        try:
            async with asyncio.timeout(ANSWER_TIMEOUT):
                first = await here.script(
                    keys=[self._dedupe_key(dedupe_id), self.topic_key(topic)],
                    args=[
                        milliseconds(self.dedupe_for),
                        milliseconds(self.remember),
                        self._channel_key,
                        message,
                        payload,
                    ],
                )
        except UNREACHABLE as exc:
            raise FleetUnavailableError(
                f"event of topic {topic!r} not published: Redis unreachable ({type(exc).__name__})"
            ) from None
        if int(first):
            self.published += 1
            return True
        self.repeats += 1
        return False

    # -- subscribing ------------------------------------------------------------------

    def subscribe(self, topic: str) -> asyncio.Future[str]:
        """A future resolved with ``topic``'s event payload (cancel it to unsubscribe)."""
        _check_topic(topic)
        here = self._on_loop()
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        here.subscribers.setdefault(topic, set()).add(future)
        future.add_done_callback(lambda done: _forget(here, topic, done))
        if here.listener is None or here.listener.done():
            here.closed = False
            here.listener = asyncio.create_task(self._listen(here), name="edu-async-events")
        self._check_later(here, topic)
        return future

    @property
    def subscriptions(self) -> int:
        """Subscriptions of this loop still waiting for their event."""
        here = self._loops.get(asyncio.get_running_loop())
        if here is None:
            return 0
        return sum(1 for fs in here.subscribers.values() for f in fs if not f.done())

    async def listening(self) -> None:
        """Return once this loop's pub/sub connection is subscribed (for tests)."""
        here = self._on_loop()
        if here.listener is None or here.listener.done():
            here.closed = False
            here.listener = asyncio.create_task(self._listen(here), name="edu-async-events")
        await here.listening.wait()

    def _deliver(self, here: _LoopBus, topic: str, payload: str) -> None:
        for future in here.subscribers.pop(topic, set()):
            if not future.done():
                future.set_result(payload)
                self.delivered += 1

    def _check_later(self, here: _LoopBus, topic: str) -> None:
        here.to_check.add(topic)
        if here.checker is None or here.checker.done():
            here.checker = asyncio.create_task(self._check(here), name="edu-async-events-check")

    async def _check(self, here: _LoopBus) -> None:
        """Look up the remembered event of every subscription made (or lost) meanwhile."""
        pause = RECONNECT_FIRST
        while here.to_check and not here.closed:
            await here.listening.wait()
            topics = [t for t in here.to_check if t in here.subscribers]
            here.to_check.clear()
            if not topics:
                break
            try:
                async with asyncio.timeout(ANSWER_TIMEOUT):
                    found = await here.client.mget([self.topic_key(t) for t in topics])
            except UNREACHABLE:
                here.to_check.update(topics)  # the listener's reconnection re-arms us
                await asyncio.sleep(pause)
                pause = min(pause * 2, RECONNECT_LAST)
                continue
            for topic, payload in zip(topics, found, strict=True):
                if payload is not None:
                    self._deliver(here, topic, _text(payload))

    async def _listen(self, here: _LoopBus) -> None:
        try:
            await self._listen_until_closed(here)
        except asyncio.CancelledError:
            if not here.closed:
                # Cancelled by its loop's end (asyncio.run), not by aclose(): let go of
                # what this loop held, so neither the loop nor the client outlives it.
                await self._forget_loop(here)
            raise

    async def _listen_until_closed(self, here: _LoopBus) -> None:
        pause = RECONNECT_FIRST
        while not here.closed:
            pubsub = here.client.pubsub()
            try:
                await pubsub.subscribe(self._channel_key)
                while not here.closed:
                    message = await pubsub.get_message(timeout=None)
                    if message is None:
                        continue
                    if message["type"] == "subscribe":
                        pause = RECONNECT_FIRST
                        self._recovered(here)
                    elif message["type"] == "message":
                        self._on_message(here, message["data"])
            except Exception as exc:
                here.listening.clear()
                self._lost(exc)
                await asyncio.sleep(pause)
                pause = min(pause * 2, RECONNECT_LAST)
            finally:
                here.listening.clear()
                await _quietly(pubsub.aclose())  # type: ignore[no-untyped-call]

    def _recovered(self, here: _LoopBus) -> None:
        if self._outage_since is not None:
            _log.info(
                "fleet events: Redis reachable again after %.1fs; checking %d waiting "
                "subscription(s) for events sent meanwhile",
                time.monotonic() - self._outage_since,
                len(here.subscribers),
                extra={"channel": self.channel, "outage": time.monotonic() - self._outage_since},
            )
            self._outage_since = None
        here.listening.set()
        # Broadcasts sent while the connection was down never reach it: look them up.
        for topic in list(here.subscribers):
            self._check_later(here, topic)

    def _lost(self, exc: BaseException) -> None:
        if self._outage_since is None:
            self._outage_since = time.monotonic()
            _log.warning(
                "fleet events: lost the Redis subscription (%s: %s); waits rely on their "
                "polling until it is back",
                type(exc).__name__,
                exc,
                extra={"channel": self.channel},
            )

    def _on_message(self, here: _LoopBus, data: object) -> None:
        try:
            topic, payload = json.loads(_text(data))
        except (ValueError, TypeError):
            _log.warning(
                "fleet events: unreadable message on %s dropped (%d bytes)",
                self._channel_key,
                len(_text(data)),
                extra={"channel": self.channel},
            )
            return
        if isinstance(topic, str) and isinstance(payload, str):
            self._deliver(here, topic, payload)

    # -- lifecycle --------------------------------------------------------------------

    async def aclose(self) -> None:
        """Stop this loop's listener, cancel its pending subscriptions, close connections."""
        here = self._loops.get(asyncio.get_running_loop())
        if here is None:
            return
        here.closed = True
        tasks = {t for t in (here.listener, here.checker) if t is not None and not t.done()}
        for task in tasks:
            task.cancel()
        await drain(tasks)
        await self._forget_loop(here)

    async def _forget_loop(self, here: _LoopBus) -> None:
        here.closed = True
        for loop, state in list(self._loops.items()):
            if state is here:
                del self._loops[loop]
        for futures in here.subscribers.values():
            for future in futures:
                future.cancel()
        here.subscribers.clear()
        await here.client.aclose()

    async def __aenter__(self) -> RedisEventBus:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def checked_url(url: object) -> str:
    """``url`` if the Redis client can read it; else a ValueError that does not quote it
    (a password with an unescaped ``/`` or ``#`` would otherwise show in the message)."""
    if not isinstance(url, str):
        raise ValueError("url must be a redis:// or rediss:// URL string")
    try:
        aioredis.ConnectionPool.from_url(url)
    except ValueError:
        raise ValueError(
            "url is not a Redis URL this client can read (percent-encode a password's "
            "'/', '?', '#' and '@')"
        ) from None
    return url


def _check_topic(topic: object) -> None:
    if not isinstance(topic, str) or not topic:
        raise ValueError("topic must be a non-empty string")


def _forget(here: _LoopBus, topic: str, future: asyncio.Future[str]) -> None:
    waiting = here.subscribers.get(topic)
    if waiting is not None:
        waiting.discard(future)
        if not waiting:
            del here.subscribers[topic]


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def _quietly(closing: Any) -> None:
    try:
        await closing
    except Exception:
        _log.debug("fleet events: closing a lost pub/sub connection failed", exc_info=True)
