from __future__ import annotations

import email.utils

import pytest

from edu_async_core.retry import (
    Failure,
    RetryBudget,
    RetryPolicy,
    is_retryable_status,
    is_safe_to_repeat,
    parse_retry_after,
    retry_cost,
)

NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("  ", None),
        ("30", 30.0),
        (" 2.5 ", 2.5),
        ("-4", 0.0),
        ("soon", None),
        ("nan", None),
        ("inf", None),
        (email.utils.formatdate(NOW + 12, usegmt=True), 12.0),
        (email.utils.formatdate(NOW - 100, usegmt=True), 0.0),
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, NOW) == expected


@pytest.mark.parametrize(
    ("status", "retry"),
    [(400, False), (401, False), (403, False), (404, False), (409, False), (429, True),
     (500, True), (501, False), (502, True), (503, True), (504, True)],
)
def test_retryable_statuses(status: int, retry: bool) -> None:
    assert is_retryable_status(status) is retry


@pytest.mark.parametrize(
    ("method", "has_key", "failure", "safe"),
    [
        ("GET", False, Failure.CONNECTION, True),
        ("DELETE", False, Failure.TIMEOUT, True),
        ("POST", False, Failure.STATUS, False),
        ("POST", False, Failure.TIMEOUT, False),
        ("POST", False, Failure.CONNECTION, False),
        ("POST", False, Failure.NOT_SENT, True),
        ("POST", True, Failure.CONNECTION, True),
        ("POST", True, Failure.STATUS, True),
    ],
)
def test_post_repeated_only_with_idempotency_key(
    method: str, has_key: bool, failure: Failure, safe: bool
) -> None:
    assert is_safe_to_repeat(method, has_key, failure) is safe


def test_backoff_ceilings_double_up_to_the_cap() -> None:
    policy = RetryPolicy(max_attempts=8, backoff_base=0.5, backoff_max=4.0)
    assert [policy.ceiling(n) for n in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]


def test_full_jitter_stays_under_the_ceiling() -> None:
    policy = RetryPolicy(max_attempts=5, backoff_base=1.0, backoff_max=8.0)
    delays = [policy.retry_delay(3, 0.0, None) for _ in range(500)]
    assert all(d is not None and 0.0 <= d <= 4.0 for d in delays)
    # Full jitter spreads over the whole range instead of clustering at the ceiling.
    assert min(d for d in delays if d is not None) < 1.0
    assert max(d for d in delays if d is not None) > 3.0


def test_retry_after_is_a_floor() -> None:
    policy = RetryPolicy(jitter=lambda ceiling: 0.0)
    assert policy.retry_delay(1, 0.0, 7.0) == 7.0


def test_gives_up_after_max_attempts_or_deadline_or_long_retry_after() -> None:
    policy = RetryPolicy(max_attempts=3, deadline=10.0, max_retry_after=60.0,
                         jitter=lambda c: c)
    assert policy.retry_delay(2, 0.0, None) is not None
    assert policy.retry_delay(3, 0.0, None) is None
    assert policy.retry_delay(1, 9.9, None) is None  # 9.9 + 0.5 > 10
    assert policy.retry_delay(1, 0.0, 61.0) is None


def test_policy_rejects_zero_attempts() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)


def test_budget_drains_on_retries_and_refills_on_success() -> None:
    budget = RetryBudget(capacity=12)
    assert budget.try_spend(retry_cost(Failure.STATUS))
    assert budget.try_spend(retry_cost(Failure.STATUS))
    assert not budget.try_spend(retry_cost(Failure.TIMEOUT))
    assert budget.tokens == 2
    budget.refund(100)
    assert budget.tokens == 12
