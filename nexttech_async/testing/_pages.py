"""How many items each list request of the emulator may return: a page-size schedule.

Next Tech documents no page size, so a client must not depend on one, nor on it staying
the same from one request to the next.  A :class:`PageSchedule` makes the emulator's page
size vary per list request, in one of four ways, each with a short text form (for pytest
markers and the CLI's ``--page-schedule``):

=====================  ==============  ==================================================
constructor            text            size of list request ``i`` (0-based)
=====================  ==============  ==================================================
``fixed(7)``           ``7``           always 7
``random(20, 30)``     ``20..30``      uniform integer in [20, 30], drawn per request
``cycle([5, 9, 7])``   ``5,9,7``       ``sizes[i % len(sizes)]``: 5, 9, 7, 5, 9, 7, ...
``change(50, 20, 40)`` ``50>20@40``    50 for the first 40 requests (i < 40), then 20
=====================  ==============  ==================================================

A schedule is a frozen description only: the request index and the random generator
(seeded by the emulator's ``seed``, so runs repeat) live in the emulator, which passes
them to :meth:`PageSchedule.size_at`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from random import Random
from typing import Literal

import attrs

__all__ = ["PageSchedule", "ScheduleKind", "as_page_schedule"]

ScheduleKind = Literal["fixed", "random", "cycle", "change"]

_SYNTAX = "N, LOW..HIGH, N1,N2,... or FIRST>THEN@AFTER"
# ASCII digits only: ``\d`` would also take other scripts' digits, which int() accepts.
_FIXED = re.compile(r"\s*([0-9]+)\s*")
_RANDOM = re.compile(r"\s*([0-9]+)\s*\.\.\s*([0-9]+)\s*")
_CYCLE = re.compile(r"\s*[0-9]+\s*(?:,\s*[0-9]+\s*)+")
_CHANGE = re.compile(r"\s*([0-9]+)\s*>\s*([0-9]+)\s*@\s*([0-9]+)\s*")
# How many sizes each kind holds; the constructors and the check below agree on it.
_ARITY: dict[str, tuple[int, int | None]] = {
    "fixed": (1, 1),
    "random": (2, 2),
    "cycle": (2, None),
    "change": (2, 2),
}


def _as_tuple(sizes: Iterable[int]) -> tuple[int, ...]:
    # A list given to the constructor must not make two equal schedules compare unequal.
    return tuple(sizes)


@attrs.frozen
class PageSchedule:
    """The page size of every list request, as a function of its index.

    Build one with :meth:`fixed`, :meth:`random`, :meth:`cycle`, :meth:`change` or
    :meth:`parse`; ``str(schedule)`` is its text form, which :meth:`parse` reads back to an
    equal schedule.  Every size is at least 1.

    Attributes:
        kind: which of the four rules applies.
        sizes: ``(n,)`` for fixed, ``(low, high)`` for random, the cycled sizes for cycle
            (two or more; one size is a fixed schedule), ``(first, then)`` for change.
        after: for change, how many list requests get ``first``; 0 for the other kinds.
    """

    kind: ScheduleKind
    sizes: tuple[int, ...] = attrs.field(converter=_as_tuple)
    after: int = 0

    def __attrs_post_init__(self) -> None:
        if self.kind not in _ARITY:
            raise ValueError(f"unknown page schedule kind {self.kind!r}; one of {sorted(_ARITY)}")
        low_count, high_count = _ARITY[self.kind]
        count = len(self.sizes)
        if count < low_count or (high_count is not None and count > high_count):
            raise ValueError(f"a {self.kind} page schedule cannot hold sizes {self.sizes!r}")
        for size in self.sizes:
            if isinstance(size, bool) or not isinstance(size, int) or size < 1:
                raise ValueError(f"every page size must be an integer >= 1, got {size!r}")
        if self.kind == "random" and self.sizes[0] > self.sizes[1]:
            raise ValueError(f"random page sizes need low <= high, got {self.sizes!r}")
        if self.kind == "change":
            if isinstance(self.after, bool) or not isinstance(self.after, int) or self.after < 1:
                raise ValueError(f"change needs after >= 1 requests, got {self.after!r}")
        elif self.after != 0:
            raise ValueError(f"only a change page schedule takes after, got {self.after!r}")

    # -- constructors ----------------------------------------------------------------------

    @classmethod
    def fixed(cls, size: int) -> PageSchedule:
        """Every list request gets ``size``."""
        return cls("fixed", (size,))

    @classmethod
    def random(cls, low: int, high: int) -> PageSchedule:
        """Each list request gets a uniform integer in [``low``, ``high``], drawn per request
        from the emulator's seeded generator."""
        return cls("random", (low, high))

    @classmethod
    def cycle(cls, sizes: Iterable[int]) -> PageSchedule:
        """List request ``i`` gets ``sizes[i % len(sizes)]``.

        A single size is returned as :meth:`fixed`, so that schedules that behave alike
        compare equal and print alike.
        """
        sizes = tuple(sizes)
        if len(sizes) == 1:
            return cls.fixed(sizes[0])
        if not sizes:
            raise ValueError("a cycle page schedule needs at least one size")
        return cls("cycle", sizes)

    @classmethod
    def change(cls, first: int, then: int, *, after: int) -> PageSchedule:
        """The first ``after`` list requests get ``first``, every later one ``then``."""
        return cls("change", (first, then), after)

    @classmethod
    def parse(cls, text: str) -> PageSchedule:
        """Read a schedule from its text form.

        ``"7"`` is fixed, ``"20..30"`` random, ``"5,9,7"`` a cycle and ``"50>20@40"`` a
        change (50 for the first 40 list requests, then 20).  Spaces around the numbers
        are allowed.

        Raises:
            ValueError: naming ``text``, for any other text or a size below 1.
        """
        if not isinstance(text, str):
            raise TypeError(f"a page schedule's text must be a str, got {text!r}")
        try:
            if match := _FIXED.fullmatch(text):
                return cls.fixed(int(match[1]))
            if match := _RANDOM.fullmatch(text):
                return cls.random(int(match[1]), int(match[2]))
            if _CYCLE.fullmatch(text):
                return cls.cycle(int(part) for part in text.split(","))
            if match := _CHANGE.fullmatch(text):
                return cls.change(int(match[1]), int(match[2]), after=int(match[3]))
        except ValueError as exc:
            raise ValueError(f"page schedule {text!r}: {exc}") from None
        raise ValueError(f"page schedule {text!r} is not one of {_SYNTAX}")

    # -- reading ---------------------------------------------------------------------------

    @property
    def smallest(self) -> int:
        """The smallest size this schedule can give a request."""
        return min(self.sizes)

    @property
    def largest(self) -> int:
        """The largest size this schedule can give a request."""
        return max(self.sizes)

    def size_at(self, index: int, rng: Random) -> int:
        """The page size of list request ``index`` (0-based).

        ``rng`` is drawn from only by a random schedule, once per call, so the emulator's
        sequence of sizes depends only on its seed and the order of requests.
        """
        sizes = self.sizes
        if self.kind == "fixed":
            return sizes[0]
        if self.kind == "random":
            return rng.randint(sizes[0], sizes[1])
        if self.kind == "cycle":
            return sizes[index % len(sizes)]
        return sizes[0] if index < self.after else sizes[1]

    def __str__(self) -> str:
        if self.kind == "random":
            return f"{self.sizes[0]}..{self.sizes[1]}"
        if self.kind == "change":
            return f"{self.sizes[0]}>{self.sizes[1]}@{self.after}"
        return ",".join(str(size) for size in self.sizes)


def as_page_schedule(value: PageSchedule | str | None) -> PageSchedule | None:
    """``value`` as a schedule: a text form is parsed; ``None`` means "no schedule".

    The config's converter and ``NextTechEmulator.set_page_schedule`` share it, so a
    marker's ``page_schedule="20..30"`` and a test's ``PageSchedule.random(20, 30)`` agree.
    """
    if value is None or isinstance(value, PageSchedule):
        return value
    if isinstance(value, str):
        return PageSchedule.parse(value)
    raise TypeError(
        "page_schedule must be a PageSchedule, its text form (such as '20..30') or None, "
        f"got {value!r}; for one fixed size, page_size is enough"
    )
