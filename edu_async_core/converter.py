"""The cattrs converter both SDKs structure responses with.

Models are attrs classes with snake_case attributes. Each model may declare a ``raw``
field: the converter fills it with the mapping the model was read from, so fields this
SDK does not know yet are kept rather than dropped. Wire names are derived per SDK
(camelCase for TutorFlow, snake_case for Next Tech) or set per field with
``attrs.field(metadata={"wire": "..."})``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, override

T = TypeVar("T")

RAW_FIELD = "raw"


def camel_case(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def snake_case(name: str) -> str:
    return name


def to_datetime(value: object) -> dt.datetime:
    """ISO 8601 text or epoch seconds as an aware UTC datetime (naive text is read as UTC)."""
    if isinstance(value, bool):
        raise TypeError("expected a timestamp, got a bool")
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, tz=dt.UTC)
    if isinstance(value, str):
        parsed = dt.datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=dt.UTC)
        return parsed.astimezone(dt.UTC)
    raise TypeError(f"expected a timestamp, got {type(value).__name__}")


def _structure_str(value: object, _: type) -> str:
    # The default hook would call str() on anything (a dict would become its repr).
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"expected a string, got {type(value).__name__}")


def _structure_int(value: object, _: type) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise TypeError(f"expected an int, got {type(value).__name__}")


def _structure_bool(value: object, _: type) -> bool:
    if isinstance(value, bool):
        return value
    raise TypeError(f"expected a bool, got {type(value).__name__}")


def _structure_any_mapping(value: object, _: type) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    raise TypeError(f"expected an object, got {type(value).__name__}")


def make_converter(wire_name: Callable[[str], str]) -> cattrs.Converter:
    """A converter that reads attrs models tolerantly, naming wire fields with ``wire_name``."""
    conv = cattrs.Converter(forbid_extra_keys=False)
    conv.register_structure_hook(dt.datetime, lambda v, _: to_datetime(v))
    conv.register_structure_hook(str, _structure_str)
    conv.register_structure_hook(int, _structure_int)
    conv.register_structure_hook(bool, _structure_bool)
    # Open JSON objects (manifests, urls) are kept as they came, not copied key by key.
    open_objects = {Mapping[str, Any], dict[str, Any]}
    conv.register_structure_hook_func(lambda t: t in open_objects, _structure_any_mapping)

    def factory(cls: type[Any]) -> Callable[[Any, type[Any]], Any]:
        fields = attrs.fields(cls)
        overrides = {}
        has_raw = False
        for f in fields:
            if f.name == RAW_FIELD:
                overrides[f.name] = override(omit=True)
                has_raw = True
            else:
                overrides[f.name] = override(rename=f.metadata.get("wire", wire_name(f.name)))
        base = make_dict_structure_fn(cls, conv, **overrides)  # type: ignore[arg-type]
        if not has_raw:
            return base

        def structure_keeping_raw(data: Any, cl: type[Any]) -> Any:
            if not isinstance(data, Mapping):
                raise TypeError(f"expected an object for {cl.__name__}, got {type(data).__name__}")
            obj = base(data, cl)
            object.__setattr__(obj, RAW_FIELD, data)
            return obj

        return structure_keeping_raw

    conv.register_structure_hook_factory(attrs.has, factory)
    return conv
