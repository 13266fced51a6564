"""Sample data for an emulator started by hand, by the demo or by a user's harness.

The contents come in bursts (several in the same second, a few milliseconds apart) so
a walk over them meets the tie handling a real account needs, and they carry metadata
the documented filters can select on.

Both are added oldest first, so insertion order is time order: an emulator's
``max_hidden_run`` then caps the runs of hidden items a walk meets, not only the runs in
the order they were added.
"""

from __future__ import annotations

import datetime as dt

from ._emulator import NextTechEmulator

__all__ = ["LEVELS", "SAMPLE_START", "add_sample_contents", "add_sample_grades"]

#: The ``level`` metadata values, assigned in turn.
LEVELS = ("beginner", "intermediate", "advanced")
#: When the first sample content was created.
SAMPLE_START = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
#: Course API keys the samples are spread over (the ``course_uid`` filter).
SAMPLE_COURSES = ("course-python-101", "course-data-201")


def add_sample_contents(
    emulator: NextTechEmulator, count: int, *, per_second: int = 4
) -> None:
    """Add ``count`` contents, ``per_second`` of them sharing each second."""
    if count < 0 or per_second < 1:
        raise ValueError("count must be >= 0 and per_second >= 1")
    start = SAMPLE_START.timestamp()
    for i in range(count):
        emulator.add_content(
            start + i // per_second + (i % per_second) * 0.01,
            name=f"project-{i}",
            metadata={"level": LEVELS[i % len(LEVELS)], "language": "python"},
            course_uid=SAMPLE_COURSES[i % len(SAMPLE_COURSES)],
            remote_user_id=f"user-{i % 7}",
        )


def add_sample_grades(emulator: NextTechEmulator, count: int) -> None:
    """Add ``count`` grades, two per second."""
    start = SAMPLE_START.timestamp()
    for i in range(count):
        emulator.add_grade(
            start + i // 2 + (i % 2) * 0.01,
            project_metadata={"level": LEVELS[i % len(LEVELS)]},
            course_metadata={"course": "Python"},
            course_uid=SAMPLE_COURSES[i % len(SAMPLE_COURSES)],
            project_name=f"project-{i}",
        )
