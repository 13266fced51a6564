"""pytest fixtures that run a TutorFlow emulator for the test using them.

Installed with the package as a ``pytest11`` entry point, so it loads by itself; the
fixtures are async and need ``pytest-asyncio`` (strict or auto mode). A test asks for

- ``tutorflow_emulator``: a running :class:`~tutorflow_async.testing.TutorFlowEmulator`;
- ``tutorflow_api_key``: an :class:`~tutorflow_async.testing.IssuedKey` of it;
- ``tutorflow_content_session``: a :class:`~tutorflow_async.ContentSession` on that key;
- ``tutorflow_admin_session``: an :class:`~tutorflow_async.AdminSession`, logged in;

and configures them with ``@pytest.mark.tutorflow_emulator(**knobs)``: any field of
:class:`~tutorflow_async.testing.EmulatorConfig`, plus ``faults=[Fault(...), ...]`` and
``rate_limit_per_minute`` (of the key and of the content session's limiter). Knobs not
given take :data:`TUTORFLOW_EMULATOR_DEFAULTS`, then the ``EmulatorConfig`` defaults.
Markers on the module, class and function merge; the closest one wins per knob.

``faults`` are armed when the test body starts, not when the emulator does, so fixture
setup (the admin login, a harness's own seeding) never consumes them.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from types import MappingProxyType, ModuleType
from typing import Any, Final, NoReturn, TypeVar, cast

import attrs
import pytest

import tutorflow_async as tf
from tutorflow_async.testing.config import EmulatorConfig
from tutorflow_async.testing.emulator import TutorFlowEmulator
from tutorflow_async.testing.faults import Fault
from tutorflow_async.testing.records import IssuedKey

__all__ = [
    "MARKER",
    "TUTORFLOW_EMULATOR_DEFAULTS",
    "TutorFlowMarkerOptions",
    "marker_options",
    "tutorflow_admin_session",
    "tutorflow_api_key",
    "tutorflow_content_session",
    "tutorflow_emulator",
]

MARKER: Final = "tutorflow_emulator"

#: What the fixtures use for knobs no marker sets. Jobs finish in a tenth of a second
#: (the emulator's own defaults suit demos, not test suites), and the key's limit is
#: high enough that only a test asking for rate limiting meets it.
TUTORFLOW_EMULATOR_DEFAULTS: Final[Mapping[str, Any]] = MappingProxyType(
    {
        "queued_seconds": 0.0,
        "processing_seconds": 0.1,
        "rate_limit_per_minute": 6000,
        "faults": (),
    }
)

#: Marker knobs that are not ``EmulatorConfig`` fields.
_EXTRA_KNOBS: Final = frozenset({"faults", "rate_limit_per_minute"})
_CONFIG_FIELDS: Final = frozenset(field.name for field in attrs.fields(EmulatorConfig))
_KNOWN_KNOBS: Final = _CONFIG_FIELDS | _EXTRA_KNOBS

_FAULTS_KEY: Final = pytest.StashKey[tuple[TutorFlowEmulator, tuple[Fault, ...]]]()

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


@attrs.frozen
class TutorFlowMarkerOptions:
    """What the ``tutorflow_emulator`` markers of one test ask for, checked."""

    config: EmulatorConfig
    faults: tuple[Fault, ...]
    rate_limit_per_minute: int


def marker_options(node: pytest.Item) -> TutorFlowMarkerOptions:
    """The merged ``@pytest.mark.tutorflow_emulator`` knobs of ``node`` over the defaults.

    A bad knob fails the test with a message naming it (``pytest.fail``, no traceback).
    """
    given = _merged_marker_kwargs(node, MARKER, _KNOWN_KNOBS)
    knobs = {**TUTORFLOW_EMULATOR_DEFAULTS, **given}
    faults = _faults(knobs.pop("faults"))
    rate = knobs.pop("rate_limit_per_minute")
    if isinstance(rate, bool) or not isinstance(rate, int) or rate < 1:
        _usage(f"rate_limit_per_minute must be an int >= 1, got {rate!r}")
    try:
        config = EmulatorConfig(**knobs)
    except (TypeError, ValueError) as exc:
        _usage(f"invalid EmulatorConfig knob: {exc}")
    return TutorFlowMarkerOptions(config=config, faults=faults, rate_limit_per_minute=rate)


def _faults(value: object) -> tuple[Fault, ...]:
    if not isinstance(value, Iterable) or isinstance(value, str | bytes | Mapping):
        _usage(f"faults must be a list of tutorflow_async.testing.Fault, got {value!r}")
    faults = tuple(value)
    for fault in faults:
        if not isinstance(fault, Fault):
            # A Next Tech fault has another shape; taking it would fail much later.
            _usage(f"faults must hold tutorflow_async.testing.Fault objects, got {fault!r}")
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


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker, so ``--strict-markers`` accepts it and ``--markers`` lists it."""
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**knobs): configure the tutorflow_emulator fixture and the sessions on it. "
        "Knobs: any tutorflow_async.testing.EmulatorConfig field (queued_seconds, "
        "processing_seconds, failure_rate, seed, rate_limit_window, webhook_*, ...), "
        "faults=[Fault(...)] (armed when the test body starts), rate_limit_per_minute "
        f"(of the key and the content session). Defaults: {dict(TUTORFLOW_EMULATOR_DEFAULTS)}.",
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
async def tutorflow_emulator(request: pytest.FixtureRequest) -> AsyncIterator[TutorFlowEmulator]:
    """A TutorFlow emulator on 127.0.0.1, configured by ``@pytest.mark.tutorflow_emulator``.

    Closed after the test. Its ``counters``, ``requests`` and ``jobs_per_idempotency_key()``
    tell what the code under test did.
    """
    options = marker_options(request.node)
    async with TutorFlowEmulator(options.config) as emulator:
        request.node.stash[_FAULTS_KEY] = (emulator, options.faults)
        yield emulator


@pytest.fixture
def tutorflow_api_key(
    request: pytest.FixtureRequest, tutorflow_emulator: TutorFlowEmulator
) -> IssuedKey:
    """A Content API key of the emulator's organization, named ``pytest``.

    Its limit is the marker's ``rate_limit_per_minute`` (default 6000).
    """
    rate = marker_options(request.node).rate_limit_per_minute
    return tutorflow_emulator.create_api_key(name="pytest", rate_limit_per_minute=rate)


@_async_fixture
async def tutorflow_content_session(
    request: pytest.FixtureRequest,
    tutorflow_emulator: TutorFlowEmulator,
    tutorflow_api_key: IssuedKey,
) -> AsyncIterator[tf.ContentSession]:
    """A :class:`~tutorflow_async.ContentSession` on ``tutorflow_api_key``, closed after.

    Its limiter runs at the key's limit, as a real deployment would configure it. Build
    your own from ``tutorflow_emulator.base_url`` and ``tutorflow_api_key.api_key`` for
    other settings.
    """
    rate = marker_options(request.node).rate_limit_per_minute
    async with tf.ContentSession(
        tutorflow_api_key.api_key, base_url=tutorflow_emulator.base_url, rate_limit_per_minute=rate
    ) as session:
        yield session


@_async_fixture
async def tutorflow_admin_session(
    tutorflow_emulator: TutorFlowEmulator,
) -> AsyncIterator[tf.AdminSession]:
    """An :class:`~tutorflow_async.AdminSession` logged in as the emulator's admin.

    The organization is passed explicitly so a ``$TUTORFLOW_ORGANIZATION_ID`` in the
    environment cannot point the session at another organization. Closed after the test.
    """
    async with tf.AdminSession.login(
        tutorflow_emulator.admin_email,
        tutorflow_emulator.admin_password,
        organization_id=tutorflow_emulator.organization_id,
        base_url=tutorflow_emulator.base_url,
    ) as admin:
        yield admin
