"""Per-loop state and URLs of the fleet objects: what they keep and what they show."""

from __future__ import annotations

import asyncio
import gc
import secrets

import pytest

from edu_async_core.fleet.redis import RedisFleet
from edu_async_core.fleet.redis_events import RedisEventBus

pytestmark = pytest.mark.fleet


# A loop ended by asyncio.run without aclose() cancels the bus's listener, which lets go
# of that loop's state: a loop, a client and its connections would leak per run.
def test_bus_forgets_a_loop_that_ended(redis_url: str) -> None:
    bus = RedisEventBus(redis_url, prefix=f"r{secrets.token_hex(3)}")

    async def main() -> None:
        future = bus.subscribe("job-1")
        await bus.listening()
        future.cancel()
        await asyncio.sleep(0)

    for _ in range(3):
        asyncio.run(main())
    gc.collect()
    assert len(bus._loops) == 0


def test_malformed_url_error_does_not_show_the_password() -> None:
    # A password with an unescaped '/' makes redis-py's parser quote its start.
    for make in (RedisFleet, RedisEventBus):
        with pytest.raises(ValueError, match="percent-encode") as caught:
            make("redis://:topsecret/rest@127.0.0.1:1/0", prefix="r")
        assert "topsecret" not in str(caught.value)
