"""Signed webhook deliveries from the emulator, retried like a real sender would."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import logging
import random
from urllib.parse import urlsplit

import aiohttp

from edu_async_core.task_set import drain
from tutorflow_async.testing._config import EmulatorConfig
from tutorflow_async.testing._observations import Counters, FailedDelivery
from tutorflow_async.testing._state import Webhook

__all__ = ["WebhookSender", "loopback_refusal", "sign"]

logger = logging.getLogger("tutorflow_async.testing.webhooks")

EVENT_HEADER = "X-Content-Integration-Event"
SIGNATURE_HEADER = "X-Content-Integration-Signature"


def sign(secret: str, body: bytes) -> str:
    """Hex HMAC-SHA256 of the raw body, keyed with the webhook secret."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def loopback_refusal(url: str) -> str | None:
    """Why a delivery to ``url`` may not go out by default, or ``None`` for a loopback host.

    Decided on the URL's text alone, never by resolving a name: an IP literal in
    ``127.0.0.0/8`` or ``::1`` (also IPv4-mapped), or the name ``localhost``.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port  # a port out of range is a ValueError too
    except ValueError as exc:
        return f"unusable webhook URL ({exc}); nothing was sent"
    if not host:
        return "the webhook URL has no host; nothing was sent"
    if host in ("localhost", "localhost."):
        return None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address is not None and address.is_loopback:
        return None
    return (
        f"host {host!r} is not a loopback address (127.0.0.0/8, ::1, localhost): the "
        "emulator delivers nowhere else unless EmulatorConfig(webhook_allow_any_host=True) "
        "(CLI: --webhook-allow-any-host); nothing was sent"
    )


class WebhookSender:
    """Posts events to receivers in background tasks it owns and cancels on close."""

    def __init__(self, config: EmulatorConfig, counters: Counters) -> None:
        self._config = config
        self._counters = counters
        # Separate from the job RNG so enabling duplicates never changes which jobs fail.
        self._rng = random.Random(f"webhooks:{config.seed}")
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._to_drop = 0
        self._lose_rate = 0.0
        self._duplicate_rate = config.webhook_duplicate_rate
        self._max_delay = 0.0
        self.failed: list[FailedDelivery] = []
        """Deliveries given up or refused, oldest first."""

    async def start(self) -> None:
        """Open the HTTP session deliveries go through."""
        if self._session is None:
            timeout = aiohttp.ClientTimeout(total=self._config.webhook_timeout)
            self._session = aiohttp.ClientSession(timeout=timeout)

    def drop(self, count: int) -> None:
        """Lose the next ``count`` deliveries entirely: no attempt, no retry."""
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        self._to_drop += count

    def disturb(
        self,
        *,
        lose_rate: float = 0.0,
        duplicate_rate: float | None = None,
        max_delay: float = 0.0,
    ) -> None:
        """From now on: lose a share of deliveries entirely, send a share twice, and hold
        each copy back a random ``0..max_delay`` seconds, so that deliveries arrive out of
        order (a duplicate can come after other jobs' events)."""
        for name, rate in (("lose_rate", lose_rate), ("duplicate_rate", duplicate_rate)):
            if rate is not None and not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {rate!r}")
        if max_delay < 0:
            raise ValueError(f"max_delay must be >= 0, got {max_delay!r}")
        self._lose_rate = lose_rate
        if duplicate_rate is not None:
            self._duplicate_rate = duplicate_rate
        self._max_delay = max_delay

    def send(self, hook: Webhook, event: str, body: bytes) -> None:
        """Schedule one delivery (maybe two, per ``webhook_duplicate_rate``)."""
        if self._session is None:
            raise RuntimeError("WebhookSender.start() was not called")
        refusal = None if self._config.webhook_allow_any_host else loopback_refusal(hook.url)
        if refusal is not None:
            self._counters.webhook_refused += 1
            self._counters.webhook_failures += 1
            self.failed.append(FailedDelivery(hook.url, event, refusal, attempts=0))
            logger.warning("webhook delivery to %s refused: %s", hook.url, refusal)
            return
        if self._to_drop or (self._lose_rate and self._rng.random() < self._lose_rate):
            self._to_drop = max(0, self._to_drop - 1)
            self._counters.webhook_dropped += 1
            return
        copies = 2 if self._rng.random() < self._duplicate_rate else 1
        delays = [self._rng.uniform(0.0, self._max_delay) if self._max_delay else 0.0
                  for _ in range(copies)]
        task = asyncio.create_task(self._deliver(hook, event, body, delays))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def in_flight(self) -> int:
        """Deliveries not finished yet (retries included)."""
        return len(self._tasks)

    async def drain(self) -> None:
        """Wait until every scheduled delivery has succeeded or given up."""
        await drain(self._tasks)

    async def close(self) -> None:
        """Cancel pending deliveries and close the session."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _deliver(
        self, hook: Webhook, event: str, body: bytes, delays: list[float]
    ) -> None:
        headers = {
            "Content-Type": "application/json",
            EVENT_HEADER: event,
            SIGNATURE_HEADER: sign(hook.secret, body),
        }
        for delay in delays:  # one per copy; a duplicate goes after the first copy
            if delay:
                await asyncio.sleep(delay)
            await self._attempt_until_acknowledged(hook.url, event, headers, body)

    async def _attempt_until_acknowledged(
        self, url: str, event: str, headers: dict[str, str], body: bytes
    ) -> None:
        assert self._session is not None
        delay = self._config.webhook_retry_delay
        for attempt in range(1, self._config.webhook_max_attempts + 1):
            try:
                # No redirects: a loopback receiver must not bounce a delivery elsewhere.
                async with self._session.post(
                    url, data=body, headers=headers, allow_redirects=False
                ) as response:
                    await response.read()
                    if 200 <= response.status < 300:
                        self._counters.webhook_deliveries += 1
                        return
                    reason = f"HTTP {response.status}"
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            self._counters.webhook_failures += 1
            logger.debug("webhook delivery to %s failed (attempt %d): %s", url, attempt, reason)
            if attempt < self._config.webhook_max_attempts:
                await asyncio.sleep(delay)
                delay *= 2
        self.failed.append(FailedDelivery(url, event, reason, attempts=attempt))
        logger.info("webhook delivery to %s given up after %d attempts", url, attempt)
