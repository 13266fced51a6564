"""What a job's status means for a wait, decided case-insensitively (pure).

The vendor documents ``queued``, ``processing``, ``completed`` and ``failed``. A server may
send them in another case (``COMPLETED``, ``Completed``), and its thin documentation leaves
room for others. A status that plainly says the job is over without a result (see
``defaults.TUTORFLOW_ENDED_STATUSES``: ``canceled``, ``expired``, ...) ends a wait at once
with :class:`~tutorflow_async.errors.ExpansionEnded`; any other unknown status is taken as
"still running" (the poller says so at WARNING, once per job).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from . import defaults

__all__ = ["StatusMeaning", "ended_statuses", "meaning"]


class StatusMeaning(enum.Enum):
    """What a status tells a wait."""

    RUNNING = "running"  # queued, processing: ask again later
    COMPLETED = "completed"  # fetch the result
    FAILED = "failed"  # fetch the result for its errors, then raise ExpansionFailed
    ENDED = "ended"  # over without a result: raise ExpansionEnded at once
    UNKNOWN = "unknown"  # not documented: taken as running, said once at WARNING


_RUNNING = frozenset({"queued", "processing"})


def ended_statuses(statuses: Iterable[str]) -> frozenset[str]:
    """``statuses`` as the set :func:`meaning` compares with (case folded)."""
    return frozenset(status.casefold() for status in statuses)


_DEFAULT_ENDED = ended_statuses(defaults.TUTORFLOW_ENDED_STATUSES)


def meaning(status: str | None, ended: frozenset[str] = _DEFAULT_ENDED) -> StatusMeaning:
    """What ``status`` (as the server sent it) means; ``ended`` comes from
    :func:`ended_statuses`."""
    if not status:
        return StatusMeaning.UNKNOWN
    folded = status.casefold()
    if folded in _RUNNING:
        return StatusMeaning.RUNNING
    if folded == "completed":
        return StatusMeaning.COMPLETED
    if folded == "failed":
        return StatusMeaning.FAILED
    if folded in ended:
        return StatusMeaning.ENDED
    return StatusMeaning.UNKNOWN
