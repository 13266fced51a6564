"""Each SDK keeps its own defaults; the core keeps what both share.

``tutorflow_async.defaults`` and ``nexttech_async.defaults`` hold the product constants;
``edu_async_core.defaults`` holds only what the transport, the limiter, the retry policy,
redaction and both command-line tools need, plus (for now) the webhook receiver's
constants, which ``tutorflow_async/webhooks`` still imports from there.
"""

from __future__ import annotations

from edu_async_core import defaults as core
from nexttech_async import defaults as nexttech
from tutorflow_async import defaults as tutorflow

#: Moved to ``tutorflow_async.defaults`` but still importable from the core until the
#: webhook modules import them from their SDK; delete a name here when it leaves the core.
TRANSITIONAL = frozenset(
    {
        "WEBHOOK_SIGNATURE_HEADER",
        "WEBHOOK_EVENT_HEADER",
        "WEBHOOK_MAX_BODY_BYTES",
        "WEBHOOK_DEDUPE_SIZE",
        "WEBHOOK_RECENT_EVENTS",
        "WEBHOOK_QUEUE_SIZE",
        "WEBHOOK_PATH",
        "WEBHOOK_CALLBACK_GRACE",
        "WEBHOOK_SHUTDOWN_TIMEOUT",
        "WEBHOOK_READ_TIMEOUT",
        "WEBHOOK_MAX_PENDING_CALLBACKS",
        "WEBHOOK_BUSY_RETRY_AFTER",
    }
)


def constants(module: object) -> set[str]:
    return {name for name in vars(module) if name.isupper() and not name.startswith("_")}


def test_no_product_constant_left_in_the_core() -> None:
    product = (constants(tutorflow) | constants(nexttech)) - TRANSITIONAL
    assert constants(core) & product == set()
    assert not any(name.startswith(("TUTORFLOW_", "NEXTTECH_")) for name in constants(core))


def test_the_sdks_do_not_share_a_name() -> None:
    assert constants(tutorflow) & constants(nexttech) == set()


def test_webhook_constants_still_in_the_core_match_their_sdk() -> None:
    # Only what is still there: the webhook work removes them from the core when done.
    for name in TRANSITIONAL & constants(core):
        assert getattr(core, name) == getattr(tutorflow, name), name
    assert TRANSITIONAL.issubset(constants(tutorflow))


def test_the_sdk_modules_carry_their_values() -> None:
    assert tutorflow.TUTORFLOW_BASE_URL == "https://api.tutorflow.io"
    assert tutorflow.WAIT_TIMEOUT == 900.0
    assert tutorflow.BULK_CONCURRENCY == 100
    assert nexttech.NEXTTECH_BASE_URL == "https://api.next.tech/v1"
    assert nexttech.SHARD_ITEMS_PER_WINDOW == nexttech.SHARD_BUFFER // 2
    assert core.CLI_EMULATOR_PORT == 0  # both command-line tools use it
