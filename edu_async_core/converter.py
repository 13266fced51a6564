"""Moved to :mod:`edu_async_core.reading.converter`; these names stay importable here."""

from __future__ import annotations

from .reading.converter import RAW_FIELD, make_converter
from .reading.values import camel_case, snake_case, to_datetime

__all__ = ["RAW_FIELD", "camel_case", "make_converter", "snake_case", "to_datetime"]
