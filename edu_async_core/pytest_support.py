"""What the SDKs' pytest plugins share: async fixtures, marker knobs, faults armed late.

Each SDK's ``testing.pytest_plugin`` configures its emulator fixture with a marker of its
own (``@pytest.mark.tutorflow_emulator``, ``@pytest.mark.nexttech_emulator``); how such a
marker's keyword arguments merge and are checked, how a bad one fails the test, and how
its ``faults`` wait for the test body are the same for both, and live here, in
:class:`EmulatorMarker`. This module knows neither SDK: each plugin makes an
``EmulatorMarker`` of its marker name, config class, fault class and defaults.

Only the plugins import it, so importing ``edu_async_core`` never imports pytest.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Generator, Iterable, Mapping
from types import ModuleType
from typing import Any, Final, Generic, NoReturn, Protocol, TypeVar, cast

import attrs
import pytest

__all__ = ["EmulatorMarker", "async_fixture"]

_F = TypeVar("_F", bound=Callable[..., Any])
_ConfigT = TypeVar("_ConfigT", bound=attrs.AttrsInstance)
_FaultT = TypeVar("_FaultT")
_FaultT_contra = TypeVar("_FaultT_contra", contravariant=True)


def _import_pytest_asyncio() -> ModuleType | None:
    # The entry point loads the plugins in every pytest run of an environment that has
    # the SDK, with or without pytest-asyncio: a missing one must not break those runs.
    try:
        return importlib.import_module("pytest_asyncio")
    except ImportError:
        return None


_PYTEST_ASYNCIO: Final = _import_pytest_asyncio()


def async_fixture(func: _F) -> _F:
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


class _FaultTarget(Protocol[_FaultT_contra]):
    def add_fault(self, fault: _FaultT_contra, /) -> None: ...


class EmulatorMarker(Generic[_ConfigT, _FaultT]):
    """One SDK's ``@pytest.mark.<name>(**knobs)``: its knobs checked, its faults armed late.

    The knobs are the fields of ``config_type`` plus ``extra_knobs`` (the marker knobs
    that are not config fields); those not given take ``defaults``. The plugin binds
    :meth:`pytest_configure` and :meth:`pytest_runtest_call` to its own module names
    (pytest takes bound methods as hooks), and its emulator fixture passes the marker's
    faults to :meth:`hold`. Each plugin has its own, so neither arms the other's faults,
    nor its own twice.

    ``fault_name`` is where users import ``fault_type`` from, for messages; ``description``
    follows ``<name>(**knobs): `` in ``pytest --markers``.
    """

    def __init__(
        self,
        name: str,
        *,
        config_type: type[_ConfigT],
        extra_knobs: frozenset[str],
        defaults: Mapping[str, Any],
        fault_type: type[_FaultT],
        fault_name: str,
        description: str,
    ) -> None:
        self.name: Final = name
        self._config_type = config_type
        self._known = frozenset(field.name for field in attrs.fields(config_type)) | extra_knobs
        self._defaults = defaults
        self._fault_type = fault_type
        self._fault_name = fault_name
        self._line = f"{name}(**knobs): {description}"
        self._pending = pytest.StashKey[tuple[_FaultTarget[_FaultT], tuple[_FaultT, ...]]]()

    def usage(self, message: str) -> NoReturn:
        """Fail the test over a bad knob: one line naming it, no traceback."""
        pytest.fail(f"{self.name} marker: {message}", pytrace=False)

    def knobs(self, node: pytest.Item) -> dict[str, Any]:
        """The merged knobs of ``node``'s markers over the defaults; unknown ones fail."""
        marker = self.name
        merged: dict[str, Any] = {}
        # iter_markers yields the closest marker first; apply it last so it wins.
        for mark in reversed(list(node.iter_markers(marker))):
            if mark.args:
                self.usage(f"@pytest.mark.{marker} takes keyword arguments only, got {mark.args!r}")
            merged.update(mark.kwargs)
        known = self._known
        unknown = sorted(set(merged) - known)
        if unknown:
            hints = [
                f"{name!r} (did you mean {match[0]!r}?)" if match else repr(name)
                for name in unknown
                for match in [difflib.get_close_matches(name, known, n=1)]
            ]
            self.usage(
                f"@pytest.mark.{marker} got unknown keyword argument(s) {', '.join(hints)}; "
                f"known: {', '.join(sorted(known))}"
            )
        return {**self._defaults, **merged}

    def faults(self, value: object) -> tuple[_FaultT, ...]:
        """The ``faults`` knob as a tuple of the SDK's faults, else fail the test."""
        if not isinstance(value, Iterable) or isinstance(value, str | bytes | Mapping):
            self.usage(f"faults must be a list of {self._fault_name}, got {value!r}")
        faults = tuple(value)
        for fault in faults:
            if not isinstance(fault, self._fault_type):
                # The other SDK's fault has another shape; taking it would fail much later.
                self.usage(f"faults must hold {self._fault_name} objects, got {fault!r}")
        return faults

    def config(self, knobs: Mapping[str, Any]) -> _ConfigT:
        """The config of the remaining ``knobs``; one it refuses fails the test."""
        try:
            return self._config_type(**knobs)
        except (TypeError, ValueError) as exc:
            self.usage(f"invalid {self._config_type.__name__} knob: {exc}")

    def hold(
        self, node: pytest.Item, emulator: _FaultTarget[_FaultT], faults: tuple[_FaultT, ...]
    ) -> None:
        """Keep ``faults`` for ``emulator`` until the body of ``node``'s test starts.

        Armed then, not when the emulator starts, so fixture setup (an admin login, a
        harness's own seeding or warm-up requests) never consumes them.
        """
        node.stash[self._pending] = (emulator, faults)

    def pytest_configure(self, config: pytest.Config) -> None:
        """Register the marker, so ``--strict-markers`` accepts it and ``--markers`` lists it."""
        config.addinivalue_line("markers", self._line)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, object, object]:
        """Arm the marker's faults just before the test body runs."""
        pending = item.stash.get(self._pending, None)
        if pending is not None:
            emulator, faults = pending
            for fault in faults:
                emulator.add_fault(fault)
        return (yield)
