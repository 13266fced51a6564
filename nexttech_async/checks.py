"""The core's argument checks, raising this SDK's own ``InvalidArgumentError``.

Every error the SDK raises is a :class:`~nexttech_async.NextTechError`, bad input
included, so SDK modules take their checks from here rather than from the core.
"""

from __future__ import annotations

from edu_async_core import validation as _core
from edu_async_core.validation import MAX_URL_VALUE_CHARS, shown

from .errors import FAMILY

__all__ = [
    "MAX_URL_VALUE_CHARS",
    "from_env",
    "positive_int",
    "require_str",
    "secret_value",
    "shown",
    "url_value",
]

from_env = FAMILY.checked(_core.from_env)
positive_int = FAMILY.checked(_core.positive_int)
require_str = FAMILY.checked(_core.require_str)
secret_value = FAMILY.checked(_core.secret_value)
url_value = FAMILY.checked(_core.url_value)
