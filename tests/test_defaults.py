"""Each SDK keeps its own defaults; the core keeps what both share.

``tutorflow_async.defaults`` and ``nexttech_async.defaults`` hold the product constants;
``edu_async_core.defaults`` holds only what the transport, the limiter, the retry policy,
redaction and both command-line tools need.
"""

from __future__ import annotations

from edu_async_core import defaults as core
from nexttech_async import defaults as nexttech
from tutorflow_async import defaults as tutorflow


def constants(module: object) -> set[str]:
    return {name for name in vars(module) if name.isupper() and not name.startswith("_")}


def test_no_product_constant_left_in_the_core() -> None:
    product = constants(tutorflow) | constants(nexttech)
    assert constants(core) & product == set()
    assert not any(name.startswith(("TUTORFLOW_", "NEXTTECH_")) for name in constants(core))


def test_the_sdks_do_not_share_a_name() -> None:
    assert constants(tutorflow) & constants(nexttech) == set()


def test_the_sdk_modules_carry_their_values() -> None:
    assert tutorflow.TUTORFLOW_BASE_URL == "https://api.tutorflow.io"
    assert tutorflow.WAIT_TIMEOUT == 900.0
    assert tutorflow.BULK_CONCURRENCY == 100
    assert nexttech.NEXTTECH_BASE_URL == "https://api.next.tech/v1"
    assert nexttech.SHARD_ITEMS_PER_WINDOW == nexttech.SHARD_BUFFER // 2
    assert core.CLI_EMULATOR_PORT == 0  # both command-line tools use it
    assert tutorflow.WEBHOOK_PATH == "/webhooks" and not hasattr(core, "WEBHOOK_PATH")
