"""``retry.decide`` as a table: what the transport does after each kind of attempt."""

from __future__ import annotations

from typing import Any

import pytest

from edu_async_core.retry import (
    GAVE_UP_EXHAUSTED,
    GAVE_UP_REDIRECTS,
    Action,
    Decision,
    Failure,
    RetryPolicy,
    decide,
    retry_cost,
)

# No jitter: the delay is the backoff ceiling, so rows can name it.
POLICY = RetryPolicy(
    max_attempts=3, deadline=10.0, backoff_base=0.5, backoff_max=4.0, max_retry_after=30.0,
    jitter=lambda ceiling: ceiling,
)
BASE: dict[str, Any] = {
    "policy": POLICY, "method": "GET", "has_idempotency_key": False, "failure": None,
    "status": 200, "retry_after": None, "attempt": 1, "elapsed": 0.0, "redirects": 0,
    "max_redirects": 3,
}

ROWS: list[tuple[str, dict[str, Any], Decision]] = [
    ("a 2xx is returned", {}, Decision(Action.RETURN)),
    ("a 204 is returned", {"status": 204}, Decision(Action.RETURN)),
    ("a redirect is followed", {"status": 307}, Decision(Action.FOLLOW)),
    ("the redirect past the limit raises", {"status": 302, "redirects": 3},
     Decision(Action.RAISE, give_up=GAVE_UP_REDIRECTS)),
    ("a 503 GET is retried after the first ceiling",
     {"failure": Failure.STATUS, "status": 503},
     Decision(Action.RETRY, delay=0.5, cost=retry_cost(Failure.STATUS))),
    ("the second retry waits the second ceiling",
     {"failure": Failure.STATUS, "status": 503, "attempt": 2},
     Decision(Action.RETRY, delay=1.0, cost=retry_cost(Failure.STATUS))),
    ("the last attempt gives up",
     {"failure": Failure.STATUS, "status": 503, "attempt": 3},
     Decision(Action.RAISE, give_up=GAVE_UP_EXHAUSTED)),
    ("past the deadline gives up",
     {"failure": Failure.STATUS, "status": 503, "elapsed": 9.8},
     Decision(Action.RAISE, give_up=GAVE_UP_EXHAUSTED)),
    ("501 will not change", {"failure": Failure.STATUS, "status": 501}, Decision(Action.RAISE)),
    ("a 404 is not retried", {"failure": Failure.STATUS, "status": 404},
     Decision(Action.RAISE)),
    ("a 429 pauses the key by its Retry-After and waits it",
     {"failure": Failure.STATUS, "status": 429, "retry_after": 2.0},
     Decision(Action.RETRY, delay=2.0, cost=retry_cost(Failure.STATUS), pause=2.0)),
    ("a 429 without Retry-After pauses the key by the first ceiling",
     {"failure": Failure.STATUS, "status": 429},
     Decision(Action.RETRY, delay=0.5, cost=retry_cost(Failure.STATUS), pause=0.5)),
    ("a huge Retry-After ends the call; the pause is capped",
     {"failure": Failure.STATUS, "status": 429, "retry_after": 86400.0},
     Decision(Action.RAISE, pause=30.0, give_up=GAVE_UP_EXHAUSTED)),
    ("a 429 on a POST without a key still pauses the key",
     {"failure": Failure.STATUS, "status": 429, "method": "POST", "retry_after": 1.0},
     Decision(Action.RAISE, pause=1.0)),
    ("a POST without a key is not repeated after a timeout",
     {"failure": Failure.TIMEOUT, "status": None, "method": "POST"}, Decision(Action.RAISE)),
    ("a POST with a key is repeated after a timeout",
     {"failure": Failure.TIMEOUT, "status": None, "method": "POST",
      "has_idempotency_key": True},
     Decision(Action.RETRY, delay=0.5, cost=retry_cost(Failure.TIMEOUT))),
    ("a POST that never connected is repeated, key or not",
     {"failure": Failure.NOT_SENT, "status": None, "method": "POST"},
     Decision(Action.RETRY, delay=0.5, cost=retry_cost(Failure.NOT_SENT))),
    ("a broken connection on a GET is retried",
     {"failure": Failure.CONNECTION, "status": None},
     Decision(Action.RETRY, delay=0.5, cost=retry_cost(Failure.CONNECTION))),
    ("a garbled 200 is retried",
     {"failure": Failure.MALFORMED, "status": 200},
     Decision(Action.RETRY, delay=0.5, cost=retry_cost(Failure.MALFORMED))),
    ("a garbled 200 of a POST without a key is not",
     {"failure": Failure.MALFORMED, "status": 200, "method": "post"}, Decision(Action.RAISE)),
]


@pytest.mark.parametrize(("change", "expected"), [row[1:] for row in ROWS],
                         ids=[row[0] for row in ROWS])
def test_decide(change: dict[str, Any], expected: Decision) -> None:
    assert decide(**{**BASE, **change}) == expected


def test_every_action_is_in_the_table() -> None:
    assert {row[2].action for row in ROWS} == set(Action)
