"""The cattrs converter both SDKs structure responses with.

Models are attrs classes with snake_case attributes. Each model may declare a ``raw``
field: the converter fills it with the mapping the model was read from, so fields this
SDK does not know yet are kept rather than dropped. Wire names are derived per SDK
(camelCase for TutorFlow, snake_case for Next Tech) or set per field with
``attrs.field(metadata={"wire": "..."})``.

Each model's hook first tries a reader generated for its class (see ``readers.py``),
which handles the documented shape in one pass, and falls back to cattrs' own
structuring for anything else. ``fast_reader(converter, cls)`` is that hook for callers
on a hot path.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, override

from .readers import MISS, Reader, compile_reader

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
        tz = parsed.tzinfo
        if tz is None:
            return parsed.replace(tzinfo=dt.UTC)
        # "...Z" already parses as UTC; converting it again would only copy it.
        return parsed if tz is dt.UTC else parsed.astimezone(dt.UTC)
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
        wire = {}
        has_raw = False
        for f in fields:
            if f.name == RAW_FIELD:
                overrides[f.name] = override(omit=True)
                has_raw = True
            else:
                wire[f.name] = f.metadata.get("wire", wire_name(f.name))
                overrides[f.name] = override(rename=wire[f.name])
        base = make_dict_structure_fn(cls, conv, **overrides)  # type: ignore[arg-type]
        slow: Callable[[Any, type[Any]], Any] = base
        if has_raw:

            def structure_keeping_raw(data: Any, cl: type[Any]) -> Any:
                if not isinstance(data, Mapping):
                    raise TypeError(
                        f"expected an object for {cl.__name__}, got {type(data).__name__}"
                    )
                obj = base(data, cl)
                object.__setattr__(obj, RAW_FIELD, data)
                return obj

            slow = structure_keeping_raw
        try:
            fast = compile_reader(cls, wire, RAW_FIELD if has_raw else None, nested)
        except (TypeError, NameError):  # a field type the generated readers do not cover
            return slow

        def structure(data: Any, cl: type[Any]) -> Any:
            try:
                obj = fast(data)
            except Exception:  # odd data: cattrs reads it again and says what is wrong
                obj = MISS
            return slow(data, cl) if obj is MISS else obj

        # Both halves, for nested readers and for the tests that hold them to each other.
        structure.fast = fast  # type: ignore[attr-defined]
        structure.slow = slow  # type: ignore[attr-defined]
        return structure

    def nested(cls: type[Any]) -> Reader:
        """The reader of an attrs type inside another: its generated one, or its hook."""
        hook = conv.get_structure_hook(cls)
        fast: Reader | None = getattr(hook, "fast", None)
        if fast is not None:
            return fast

        def call_hook(data: Any) -> Any:
            return hook(data, cls)

        return call_hook

    conv.register_structure_hook_factory(attrs.has, factory)
    return conv


def generated_reader(conv: cattrs.Converter, cls: type[Any]) -> Reader | None:
    """The reader generated for ``cls`` itself: the model, or :data:`~.readers.MISS` for
    data it leaves to ``conv.structure`` (it may also raise on odd data); ``None`` if the
    class has none. For loops that handle the fallback themselves."""
    fast: Reader | None = getattr(conv.get_structure_hook(cls), "fast", None)
    return fast


def fast_reader(conv: cattrs.Converter, cls: type[T]) -> Callable[[Any], T | None]:
    """The generated reader of ``cls`` alone: the model, or ``None`` when the data needs
    ``conv.structure`` (which then accepts or refuses it exactly as before).

    For hot paths: it skips the converter's dispatch and the fallback's error handling.
    """
    fast = generated_reader(conv, cls)

    def read(data: Any) -> T | None:
        if fast is None:
            return None
        try:
            obj: T = fast(data)
        except Exception:  # the slow path will say what is wrong with it
            return None
        return None if obj is MISS else obj

    return read
