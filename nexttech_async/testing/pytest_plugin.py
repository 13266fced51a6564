"""pytest fixtures that run a Next Tech emulator for the test using them.

Installed with the package as a ``pytest11`` entry point, so it loads by itself; the
fixtures are async and need ``pytest-asyncio`` (strict or auto mode). A test asks for

- ``nexttech_emulator``: a running :class:`~nexttech_async.testing.NextTechEmulator`;
- ``nexttech_session``: a :class:`~nexttech_async.NextTechSession` on its credentials;

and configures them with ``@pytest.mark.nexttech_emulator(**knobs)``: any field of
:class:`~nexttech_async.testing.NextTechEmulatorConfig` (``page_size``,
``before_inclusive``, ``after_inclusive``, ``time_resolution``, ``latency``, ``seed``, ...),
plus ``contents`` and ``grades`` (a count to seed, or a list of items) and
``faults=[Fault(...), ...]``. Knobs not given take :data:`NEXTTECH_EMULATOR_DEFAULTS`,
then the ``NextTechEmulatorConfig`` defaults. Markers on the module, class and function
merge; the closest one wins per knob.

``contents=N`` seeds N contents at distinct milliseconds in the seconds just before the
test, three per second: the API renders whole seconds, so a walk meets the ties a real
account has (see :func:`seed_times`). A list seeds one item per entry: a
mapping is passed as keyword arguments to ``add_content``/``add_grade`` (it needs
``created_at``), anything else is taken as the created time itself.

``faults`` are armed when the test body starts, not when the emulator does, so fixture
setup (a harness's own seeding or warm-up requests) never consumes them.
"""

from __future__ import annotations

import difflib
import importlib
import math
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from types import MappingProxyType, ModuleType
from typing import Any, Final, NoReturn, TypeVar, cast

import attrs
import pytest

import nexttech_async as nt
from nexttech_async.testing._config import NextTechEmulatorConfig
from nexttech_async.testing._faults import Fault
from nexttech_async.testing.emulator import NextTechEmulator

__all__ = [
    "MARKER",
    "NEXTTECH_EMULATOR_DEFAULTS",
    "NextTechMarkerOptions",
    "marker_options",
    "nexttech_emulator",
    "nexttech_session",
    "seed_times",
]

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

_EXTRA_KNOBS: Final = frozenset({"contents", "grades", "faults"})
_CONFIG_FIELDS: Final = frozenset(field.name for field in attrs.fields(NextTechEmulatorConfig))
_KNOWN_KNOBS: Final = _CONFIG_FIELDS | _EXTRA_KNOBS

_FAULTS_KEY: Final = pytest.StashKey[tuple[NextTechEmulator, tuple[Fault, ...]]]()

_F = TypeVar("_F", bound=Callable[..., Any])


def _import_pytest_asyncio() -> ModuleType | None:
    # The entry point loads this module in every pytest run of an environment that has
    # the SDK, with or without pytest-asyncio: a missing one must not break those runs.
    try:
        return importlib.import_module("pytest_asyncio")
    except ImportError:
        return None


_PYTEST_ASYNCIO: Final = _import_pytest_asyncio()


def _async_fixture(func: _F) -> _F:
    """``pytest_asyncio.fixture``, so the fixture works in strict mode as well as auto.

    Without pytest-asyncio, the fixture still exists (a missing fixture would be a more
    puzzling error) but fails, saying what to install.
    """
    if _PYTEST_ASYNCIO is not None:
        return cast(_F, _PYTEST_ASYNCIO.fixture(func))
    name = func.__name__

    @pytest.fixture(name=name)
    def unavailable() -> NoReturn:
        pytest.fail(
            f"the {name} fixture needs pytest-asyncio: pip install pytest-asyncio",
            pytrace=False,
        )

    return cast(_F, unavailable)


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
    given = _merged_marker_kwargs(node, MARKER, _KNOWN_KNOBS)
    knobs = {**NEXTTECH_EMULATOR_DEFAULTS, **given}
    faults = _faults(knobs.pop("faults"))
    contents = _seed(knobs.pop("contents"), "contents")
    grades = _seed(knobs.pop("grades"), "grades")
    try:
        config = NextTechEmulatorConfig(**knobs)
    except (TypeError, ValueError) as exc:
        _usage(f"invalid NextTechEmulatorConfig knob: {exc}")
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
        _usage(f"{knob} must be a count (int >= 0) or a list of items, got {value!r}")
    if isinstance(value, int) and value < 0:
        _usage(f"{knob} must be >= 0, got {value!r}")
    return value


def _faults(value: object) -> tuple[Fault, ...]:
    if not isinstance(value, Iterable) or isinstance(value, str | bytes | Mapping):
        _usage(f"faults must be a list of nexttech_async.testing.Fault, got {value!r}")
    faults = tuple(value)
    for fault in faults:
        if not isinstance(fault, Fault):
            # A TutorFlow fault has another shape; taking it would fail much later.
            _usage(f"faults must hold nexttech_async.testing.Fault objects, got {fault!r}")
    return faults


def _merged_marker_kwargs(node: pytest.Item, marker: str, known: frozenset[str]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    # iter_markers yields the closest marker first; apply it last so it wins.
    for mark in reversed(list(node.iter_markers(marker))):
        if mark.args:
            _usage(f"@pytest.mark.{marker} takes keyword arguments only, got {mark.args!r}")
        merged.update(mark.kwargs)
    unknown = sorted(set(merged) - known)
    if unknown:
        hints = [
            f"{name!r} (did you mean {match[0]!r}?)" if match else repr(name)
            for name in unknown
            for match in [difflib.get_close_matches(name, known, n=1)]
        ]
        _usage(
            f"@pytest.mark.{marker} got unknown keyword argument(s) {', '.join(hints)}; "
            f"known: {', '.join(sorted(known))}"
        )
    return merged


def _usage(message: str) -> NoReturn:
    pytest.fail(f"{MARKER} marker: {message}", pytrace=False)


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
                _usage(f"cannot seed {knob} entry {entry!r}: {exc}")


def _generated(knob: str, index: int, created_at: float) -> dict[str, Any]:
    level = {"level": SEED_LEVELS[index % len(SEED_LEVELS)]}
    if knob == "contents":
        return {"created_at": created_at, "name": f"content-{index}", "metadata": level}
    return {"created_at": created_at, "project_name": f"project-{index}", "project_metadata": level}


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker, so ``--strict-markers`` accepts it and ``--markers`` lists it."""
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**knobs): configure the nexttech_emulator fixture and the session on it. "
        "Knobs: any nexttech_async.testing.NextTechEmulatorConfig field (page_size, "
        "before_inclusive, after_inclusive, time_resolution, latency, seed, ...), "
        "contents=N or [items], grades=N or [items] (seeded before the test), "
        "faults=[Fault(...)] (armed when the test body starts). "
        f"Defaults: {dict(NEXTTECH_EMULATOR_DEFAULTS)}.",
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """Arm the marker's faults just before the test body runs."""
    pending = item.stash.get(_FAULTS_KEY, None)
    if pending is not None:
        emulator, faults = pending
        for fault in faults:
            emulator.add_fault(fault)
    return (yield)


@_async_fixture
async def nexttech_emulator(request: pytest.FixtureRequest) -> AsyncIterator[NextTechEmulator]:
    """A Next Tech emulator on 127.0.0.1, configured by ``@pytest.mark.nexttech_emulator``.

    Seeded with the marker's ``contents`` and ``grades`` before it starts; closed after
    the test. ``contents_snapshot()`` is the ground truth a complete walk must return.
    """
    options = marker_options(request.node)
    emulator = NextTechEmulator(options.config)
    _add_items(emulator, options)
    async with emulator:
        request.node.stash[_FAULTS_KEY] = (emulator, options.faults)
        yield emulator


@_async_fixture
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
