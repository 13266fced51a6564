"""The hook registry on its own: adding, removing, bad hooks, broken hooks, operations."""

from __future__ import annotations

import logging

import pytest

from edu_async_core.errors import InvalidArgumentError
from edu_async_core.hooks import (
    Event,
    Hooks,
    OperationEnded,
    OperationStarted,
    PollDecision,
    as_hooks,
)

EVENT = PollDecision("job_1", "processing", 1, False, 0.5)


def test_a_registry_without_hooks_is_inactive_and_emits_to_nobody() -> None:
    hooks = Hooks()
    assert not hooks.active
    hooks.emit(EVENT)  # nothing to call, nothing raised
    assert len(hooks) == 0


def test_hooks_hear_events_in_the_order_they_were_added_until_removed() -> None:
    heard: list[tuple[str, Event]] = []
    hooks = Hooks([lambda e: heard.append(("a", e))])
    remove_b = hooks.add(lambda e: heard.append(("b", e)))
    hooks.emit(EVENT)
    assert heard == [("a", EVENT), ("b", EVENT)]
    remove_b()
    remove_b()  # twice is harmless
    hooks.emit(EVENT)
    assert heard[2:] == [("a", EVENT)]
    assert hooks.active


def test_removing_the_last_hook_makes_the_registry_inactive() -> None:
    def hook(event: Event) -> None:
        pass

    hooks = Hooks()
    hooks.add(hook)
    hooks.remove(hook)
    assert not hooks.active


def test_a_broken_hook_is_logged_at_warning_and_the_others_still_hear(
    caplog: pytest.LogCaptureFixture,
) -> None:
    heard: list[Event] = []

    def broken(event: Event) -> None:
        raise RuntimeError("hook bug")

    hooks = Hooks([broken, heard.append])
    with caplog.at_level(logging.WARNING, logger="edu_async_core.hooks"):
        hooks.emit(EVENT)
    assert heard == [EVENT]
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert "PollDecision" in record.getMessage()
    assert "broken" in record.hook  # type: ignore[attr-defined]


@pytest.mark.parametrize("value", [42, "not a hook", [print, 3]])
def test_a_bad_hooks_argument_names_the_argument(value: object) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        as_hooks(value)  # type: ignore[arg-type]
    assert info.value.argument == "hooks"


def test_a_given_registry_is_shared_not_copied() -> None:
    hooks = Hooks()
    assert as_hooks(hooks) is hooks
    assert as_hooks(print).active
    assert not as_hooks(None).active


def test_an_operation_reports_its_start_and_one_end_with_its_figures() -> None:
    heard: list[Event] = []
    times = iter([10.0, 12.5])
    hooks = Hooks([heard.append])
    operation = hooks.start("walk", lambda: next(times), kind="contents")
    operation.end(None, items=3)
    operation.end(None, items=99)  # a second end is ignored
    start, end = heard
    assert isinstance(start, OperationStarted) and isinstance(end, OperationEnded)
    assert start.operation_id == end.operation_id
    assert start.attributes == {"kind": "contents"}
    assert end.attributes == {"kind": "contents", "items": 3}
    assert end.elapsed == 2.5 and end.error is None


def test_an_operation_block_that_raises_ends_with_the_error() -> None:
    heard: list[Event] = []
    hooks = Hooks([heard.append])

    def run() -> None:
        with hooks.operation("expand_many", lambda: 0.0) as figures:
            figures["inputs"] = 2
            raise KeyError("boom")

    with pytest.raises(KeyError):
        run()
    end = heard[-1]
    assert isinstance(end, OperationEnded)
    assert isinstance(end.error, KeyError) and end.attributes == {"inputs": 2}


def test_an_operation_block_without_hooks_builds_no_event() -> None:
    hooks = Hooks()
    with hooks.operation("walk", lambda: pytest.fail("the clock was read")) as figures:
        figures["items"] = 1
