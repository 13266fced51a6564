"""The core's argument checks, raising this SDK's own ``InvalidArgumentError``.

Every error the SDK raises is a :class:`~tutorflow_async.TutorFlowError`, bad input
included, so SDK modules take their checks from here rather than from the core.
"""

from __future__ import annotations

from edu_async_core import validation as _core
from edu_async_core.validation import shown

from .errors import FAMILY, InvalidArgumentError

__all__ = [
    "check_wait_arguments",
    "from_env",
    "path_segment",
    "positive_int",
    "positive_number",
    "require_str",
    "secret_value",
    "shown",
    "str_list",
]

from_env = FAMILY.checked(_core.from_env)
path_segment = FAMILY.checked(_core.path_segment)
positive_int = FAMILY.checked(_core.positive_int)
positive_number = FAMILY.checked(_core.positive_number)
require_str = FAMILY.checked(_core.require_str)
secret_value = FAMILY.checked(_core.secret_value)
str_list = FAMILY.checked(_core.str_list)


def check_wait_arguments(timeout: object, poll_interval: object, max_interval: object) -> None:
    """A wait's timeout and intervals: positive numbers, ``max_interval`` not shorter than
    ``poll_interval`` (errors name the argument)."""
    positive_number(timeout, "timeout")
    interval = positive_number(poll_interval, "poll_interval")
    if positive_number(max_interval, "max_interval") < interval:
        raise InvalidArgumentError("max_interval", "must not be shorter than poll_interval")
