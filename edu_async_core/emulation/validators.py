"""attrs validators for emulator settings."""

from __future__ import annotations

import attrs

__all__ = ["unit_interval"]


def unit_interval(_inst: object, attr: attrs.Attribute[float], value: float) -> None:
    """Refuse a value outside ``[0, 1]``."""
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{attr.name} must be within [0, 1], got {value!r}")
