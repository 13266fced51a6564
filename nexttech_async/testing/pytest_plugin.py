"""pytest fixtures that run a Next Tech emulator for the test using them.

Installed with the package as a ``pytest11`` entry point, so it loads by itself; the
fixtures are async and need ``pytest-asyncio`` (strict or auto mode). A test asks for

- ``nexttech_emulator``: a running :class:`~nexttech_async.testing.NextTechEmulator`;
- ``nexttech_session``: a :class:`~nexttech_async.NextTechSession` on its credentials;

and configures them with ``@pytest.mark.nexttech_emulator(**knobs)``: any field of
:class:`~nexttech_async.testing.NextTechEmulatorConfig` (``page_size``,
``before_inclusive``, ``after_inclusive``, ``time_resolution``, ``latency``, ``seed``,
``page_schedule`` (a ``PageSchedule`` or its text, e.g. ``"20..30"``),
``filter_after_limit``, ``hidden_fraction``, ``max_hidden_run``, ...), plus ``contents``
and ``grades`` (a count to seed, or a list of items) and ``faults=[Fault(...), ...]``.
Knobs not given take :data:`NEXTTECH_EMULATOR_DEFAULTS`, then the
``NextTechEmulatorConfig`` defaults. Markers on the module, class and function merge; the
closest one wins per knob.

``contents=N`` seeds N contents at distinct milliseconds in the seconds just before the
test, three per second: the API renders whole seconds, so a walk meets the ties a real
account has (see :func:`seed_times`). A list seeds one item per entry: a
mapping is passed as keyword arguments to ``add_content``/``add_grade`` (it needs
``created_at``; ``hidden=True`` hides that item), anything else is taken as the created
time itself.  Counts are seeded oldest first, so ``max_hidden_run`` caps runs of hidden
items in time order, which is what a walk meets (see the emulator's docstring on hidden
runs and ``filter_after_limit``).

``faults`` are armed when the test body starts, not when the emulator does, so fixture
setup (a harness's own seeding or warm-up requests) never consumes them.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from types import MappingProxyType
from typing import Any, Final

import attrs
import pytest

import nexttech_async as nt
from edu_async_core.pytest_support import EmulatorMarker, async_fixture
from nexttech_async.testing._config import NextTechEmulatorConfig
from nexttech_async.testing._emulator import NextTechEmulator
from nexttech_async.testing._faults import Fault

__all__ = [
    "MARKER",
    "NEXTTECH_EMULATOR_DEFAULTS",
    "NextTechMarkerOptions",
    "marker_options",
    "nexttech_emulator",
    "nexttech_session",
    "seed_times",
]

#: The marker's name: ``@pytest.mark.nexttech_emulator(**knobs)`` configures and seeds
#: the emulator behind the ``nexttech_*`` fixtures (see :func:`marker_options`).
MARKER: Final = "nexttech_emulator"

#: What the fixtures use for knobs no marker sets: the emulator's own page size and
#: bounds, no latency, and an empty account (seed with ``contents=``/``grades=``).
NEXTTECH_EMULATOR_DEFAULTS: Final[Mapping[str, Any]] = MappingProxyType(
    {
        "page_size": 100,
        "latency": 0.0,
        "seed": 0,
        "contents": 0,
        "grades": 0,
        "faults": (),
    }
)

#: The ``level`` metadata of seeded contents and grades, assigned in turn, so tests can
#: filter a seeded account without adding items of their own.
SEED_LEVELS: Final = ("beginner", "intermediate", "advanced")

#: The marker's checks and hooks. ``pytest_configure`` registers it, so ``--strict-markers``
#: accepts it and ``--markers`` lists it; ``pytest_runtest_call`` arms its faults.
_MARKER: Final = EmulatorMarker(
    MARKER,
    extra_knobs=frozenset({"contents", "grades", "faults"}),
    config_type=NextTechEmulatorConfig,
    defaults=NEXTTECH_EMULATOR_DEFAULTS,
    fault_type=Fault,
    fault_name="nexttech_async.testing.Fault",
    description="configure the nexttech_emulator fixture and the session on it. "
    "Knobs: any nexttech_async.testing.NextTechEmulatorConfig field (page_size, "
    "before_inclusive, after_inclusive, time_resolution, latency, seed, "
    "page_schedule='20..30', filter_after_limit, hidden_fraction, max_hidden_run, ...), "
    "contents=N or [items], grades=N or [items] (seeded before the test), "
    "faults=[Fault(...)] (armed when the test body starts). "
    f"Defaults: {dict(NEXTTECH_EMULATOR_DEFAULTS)}.",
)
pytest_configure: Final = _MARKER.pytest_configure
pytest_runtest_call: Final = _MARKER.pytest_runtest_call


Seed = int | list[Any] | tuple[Any, ...]


@attrs.frozen
class NextTechMarkerOptions:
    """What the ``nexttech_emulator`` markers of one test ask for, checked."""

    config: NextTechEmulatorConfig
    contents: Seed
    grades: Seed
    faults: tuple[Fault, ...]


def marker_options(node: pytest.Item) -> NextTechMarkerOptions:
    """The merged ``@pytest.mark.nexttech_emulator`` knobs of ``node`` over the defaults.

    A bad knob fails the test with a message naming it (``pytest.fail``, no traceback).
    """
    knobs = _MARKER.knobs(node)
    faults = _MARKER.faults(knobs.pop("faults"))
    contents = _seed(knobs.pop("contents"), "contents")
    grades = _seed(knobs.pop("grades"), "grades")
    config = _MARKER.config(knobs)
    return NextTechMarkerOptions(config=config, contents=contents, grades=grades, faults=faults)


def seed_times(count: int, now: float) -> list[float]:
    """``count`` created times (epoch seconds, oldest first) ending a second before ``now``.

    Three per whole second, at +0, +250 and +500 ms: distinct instants, but the API
    renders ``created_at`` in whole seconds, so on the wire they tie, which is what a
    date-cursor walk must get right. No two share a millisecond: a server with a page
    size of 1 could not show such a pair at all (with ``time_resolution="second"`` the
    emulator stores them as exact ties anyway).
    """
    last_second = math.floor(now) - 1
    first_second = last_second - (count - 1) // 3
    return [first_second + i // 3 + (0.0, 0.25, 0.5)[i % 3] for i in range(count)]


def _seed(value: object, knob: str) -> Seed:
    if isinstance(value, bool) or not isinstance(value, int | list | tuple):
        _MARKER.usage(f"{knob} must be a count (int >= 0) or a list of items, got {value!r}")
    if isinstance(value, int) and value < 0:
        _MARKER.usage(f"{knob} must be >= 0, got {value!r}")
    return value


def _add_items(emulator: NextTechEmulator, options: NextTechMarkerOptions) -> None:
    now = time.time()
    for knob, seed, add in (
        ("contents", options.contents, emulator.add_content),
        ("grades", options.grades, emulator.add_grade),
    ):
        entries: Iterable[Any]
        if isinstance(seed, int):
            times = seed_times(seed, now)
            entries = [_generated(knob, i, created_at) for i, created_at in enumerate(times)]
        else:
            entries = seed
        for entry in entries:
            try:
                if isinstance(entry, Mapping):
                    add(**entry)
                else:
                    add(entry)
            except (TypeError, ValueError) as exc:
                _MARKER.usage(f"cannot seed {knob} entry {entry!r}: {exc}")


def _generated(knob: str, index: int, created_at: float) -> dict[str, Any]:
    level = {"level": SEED_LEVELS[index % len(SEED_LEVELS)]}
    if knob == "contents":
        return {"created_at": created_at, "name": f"content-{index}", "metadata": level}
    return {"created_at": created_at, "project_name": f"project-{index}", "project_metadata": level}


@async_fixture
async def nexttech_emulator(request: pytest.FixtureRequest) -> AsyncIterator[NextTechEmulator]:
    """A Next Tech emulator on 127.0.0.1, configured by ``@pytest.mark.nexttech_emulator``.

    Seeded with the marker's ``contents`` and ``grades`` before it starts; closed after
    the test. ``contents_snapshot()`` is the ground truth a complete walk must return.
    """
    options = marker_options(request.node)
    emulator = NextTechEmulator(options.config)
    _add_items(emulator, options)
    async with emulator:
        _MARKER.hold(request.node, emulator, options.faults)
        yield emulator


@async_fixture
async def nexttech_session(
    nexttech_emulator: NextTechEmulator,
) -> AsyncIterator[nt.NextTechSession]:
    """A :class:`~nexttech_async.NextTechSession` on the emulator, closed after the test.

    Credentials and URL are passed explicitly, so ``$NEXTTECH_*`` variables in the
    environment cannot point it elsewhere.
    """
    async with nt.NextTechSession(
        nexttech_emulator.api_token,
        nexttech_emulator.secret_key,
        base_url=nexttech_emulator.base_url,
    ) as session:
        yield session
