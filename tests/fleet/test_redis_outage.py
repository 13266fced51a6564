"""When Redis goes away: fail closed or go on alone, say so once, and recover.

Each test runs its own redis-server, kills it (SIGKILL, as a crash looks to clients) and
starts it again on the same port. Two RedisFleet objects on one loop stand for two
processes (each has its own connections, limiter and outage record).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time

import pytest
from redis_server import RedisProcess

import tutorflow_async as tf
from edu_async_core.fleet.redis import RedisFleet
from tutorflow_async.testing import EmulatorConfig, TutorFlowEmulator

pytestmark = pytest.mark.fleet

LIMIT = 40
WINDOW = 2.0
CONFIG = tf.TransportConfig(rate_limit_window=WINDOW, rate_limit_margin=0.1, timeout=3.0)


def session(emu: TutorFlowEmulator, key: str, fleet: RedisFleet) -> tf.ContentSession:
    return tf.ContentSession(
        key, base_url=emu.base_url, rate_limit_per_minute=LIMIT, config=CONFIG, fleet=fleet
    )


async def test_fail_closed_sends_nothing_and_raises_a_typed_error(
    redis: RedisProcess, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="edu_async_core.fleet")
    async with TutorFlowEmulator(EmulatorConfig(rate_limit_window=WINDOW)) as emu:
        issued = emu.create_api_key(name="outage", rate_limit_per_minute=LIMIT)
        async with (
            RedisFleet(
                redis.url, prefix=f"o{secrets.token_hex(3)}", unavailable_timeout=0.5
            ) as fleet,
            session(emu, issued.api_key, fleet) as content,
        ):
            job = await content.expansions.create({"level": {"id": "before"}})
            sent_before = len(emu.request_log)
            redis.kill()
            started = time.monotonic()
            with pytest.raises(tf.FleetUnavailableError, match="fails closed") as caught:
                await content.expansions.get(job.id)
            waited = time.monotonic() - started
            assert len(emu.request_log) == sent_before  # nothing was sent
            assert 0.4 <= waited < 3.0  # it waited its unavailable_timeout, not for ever
            error = caught.value
            assert isinstance(error, tf.APIConnectionError)  # waits ride it out
            assert error.path is not None and job.id in error.path
            assert redis.url not in str(error) and issued.api_key not in str(error)
            # A second call fails too; the outage was logged once, at WARNING.
            with pytest.raises(tf.FleetUnavailableError):
                await content.expansions.get(job.id)
            warnings = [
                r
                for r in caplog.records
                if r.levelno == logging.WARNING and "Redis unreachable" in r.getMessage()
            ]
            assert len(warnings) == 1
            # Redis is back: the next call goes through, and the outage's length is known.
            redis.start()
            assert (await content.expansions.get(job.id)).id == job.id
            outage = fleet.outage()
            assert not outage.active and outage.count == 1
            assert outage.last_duration is not None and outage.last_duration > 0.4
            assert "Redis reachable again" in caplog.text


async def test_fail_closed_rides_out_a_short_outage(redis: RedisProcess) -> None:
    async with TutorFlowEmulator(EmulatorConfig(rate_limit_window=WINDOW)) as emu:
        issued = emu.create_api_key(name="short-outage", rate_limit_per_minute=LIMIT)
        async with (
            RedisFleet(
                redis.url, prefix=f"s{secrets.token_hex(3)}", unavailable_timeout=10
            ) as fleet,
            session(emu, issued.api_key, fleet) as content,
        ):
            job = await content.expansions.create({"level": {"id": "short"}})
            redis.kill()
            call = asyncio.create_task(content.expansions.get(job.id))
            await asyncio.sleep(0.5)
            assert not call.done()  # waiting for Redis, not sending
            await asyncio.to_thread(redis.start)
            assert (await asyncio.wait_for(call, 10)).id == job.id
            assert fleet.outage().count == 1


async def test_going_on_alone_holds_each_process_to_its_share(
    redis: RedisProcess, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="edu_async_core.fleet")
    processes = 2
    share = LIMIT // processes
    async with TutorFlowEmulator(EmulatorConfig(rate_limit_window=WINDOW)) as emu:
        issued = emu.create_api_key(name="alone", rate_limit_per_minute=LIMIT)
        prefix = f"l{secrets.token_hex(3)}"
        fleets = [
            RedisFleet(
                redis.url,
                prefix=prefix,
                on_unavailable="local",
                expected_processes=processes,
                probe_interval=0.5,
            )
            for _ in range(processes)
        ]
        sessions = [session(emu, issued.api_key, fleet) for fleet in fleets]
        try:
            job = await sessions[0].expansions.create({"level": {"id": "alone"}})
            redis.kill()
            killed = time.monotonic()
            seen: list[str] = []

            async def hammer(content: tf.ContentSession, until: float) -> None:
                while time.monotonic() < until:
                    seen.append((await content.expansions.get(job.id)).id)

            # Three windows on their own. The first may overshoot: what the fleet sent
            # just before the outage is unknown to every process (a 429 then pauses and
            # retries as usual). From the second on, each process holds to its share.
            until = killed + 3 * WINDOW
            await asyncio.gather(*(hammer(s, until) for s in sessions))
            alone = len(seen)
            settled = [r.at for r in emu.request_log if killed + WINDOW + 0.2 <= r.at <= until]
            assert settled
            busiest = max(
                sum(1 for t in settled if start <= t < start + WINDOW) for start in settled
            )
            assert busiest <= share * processes
            assert alone >= share * processes  # it went on: not failing closed
            rejected_alone = emu.counters.by_status[429]
            await asyncio.to_thread(redis.start)
            recovered_at = time.monotonic()
            await asyncio.gather(*(hammer(s, recovered_at + 2 * WINDOW) for s in sessions))
            assert all(not f.outage().active for f in fleets)
            assert all(f.outage().count == 1 for f in fleets)
            # Back on Redis (and on their shares for one more window): no new 429.
            assert emu.counters.by_status[429] == rejected_alone
            assert set(seen) == {job.id}  # every call answered: nothing lost
            outage = fleets[0].outage().last_duration
        finally:
            for content in sessions:
                await content.close()
            for fleet in fleets:
                await fleet.aclose()
        assert "Redis reachable again" in caplog.text
        print(
            f"\nalone for {3 * WINDOW:.0f}s: {alone} requests by {processes} processes "
            f"(share {share} per {WINDOW:.0f}s each), busiest settled window {busiest}, "
            f"429s at the switch {rejected_alone}; outage {outage:.2f}s"
        )


def test_policy_arguments_are_checked() -> None:
    url = "redis://127.0.0.1:1/0"
    with pytest.raises(ValueError, match="on_unavailable"):
        RedisFleet(url, on_unavailable="retry")
    with pytest.raises(ValueError, match="expected_processes is needed"):
        RedisFleet(url, on_unavailable="local")
    with pytest.raises(ValueError, match="expected_processes"):
        RedisFleet(url, on_unavailable="local", expected_processes=0)
    with pytest.raises(ValueError, match="unavailable_timeout"):
        RedisFleet(url, unavailable_timeout=-1)
    with pytest.raises(ValueError, match="probe_interval"):
        RedisFleet(url, probe_interval=0)
    assert RedisFleet(url, on_unavailable="local", expected_processes=4).expected_processes == 4
