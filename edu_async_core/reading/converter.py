"""The cattrs converter both SDKs structure responses with.

Models are attrs classes with snake_case attributes. Each model may declare a ``raw``
field: the converter fills it with the mapping the model was read from, so fields this
SDK does not know yet are kept rather than dropped. Wire names are derived per SDK
(camelCase for TutorFlow, snake_case for Next Tech) or set per field with
``attrs.field(metadata={"wire": "..."})``.

Each model's hook first tries a reader generated for its class (see ``generated.py``),
which handles the documented shape in one pass, and falls back to cattrs' own
structuring for anything else. The hook carries both halves as ``hook.fast`` and
``hook.slow``: :class:`~edu_async_core.reading.ModelReader` tries each once, and the
reader tests hold them to each other. Code outside this package reads models through a
``ModelReader``, not through these hooks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, override

from .generated import MISS, Reader, compile_reader
from .values import (
    camel_case,
    snake_case,
    structure_any_mapping,
    structure_bool,
    structure_int,
    structure_str,
    to_datetime,
)

__all__ = ["RAW_FIELD", "camel_case", "make_converter", "snake_case", "to_datetime"]

RAW_FIELD = "raw"
"""The attribute a model keeps the mapping it was read from in (when it declares one)."""


def make_converter(wire_name: Callable[[str], str]) -> cattrs.Converter:
    """A converter that reads attrs models tolerantly, naming wire fields with ``wire_name``."""
    conv = cattrs.Converter(forbid_extra_keys=False)
    conv.register_structure_hook(dt.datetime, lambda v, _: to_datetime(v))
    conv.register_structure_hook(str, structure_str)
    conv.register_structure_hook(int, structure_int)
    conv.register_structure_hook(bool, structure_bool)
    # Open JSON objects (manifests, urls) are kept as they came, not copied key by key.
    open_objects = {Mapping[str, Any], dict[str, Any]}
    conv.register_structure_hook_func(lambda t: t in open_objects, structure_any_mapping)

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
