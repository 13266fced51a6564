"""Generated readers: a model of the documented shape in one pass, anything else to cattrs.

cattrs reads a model through one hook call per field (two for an optional one) and one
per element of a nested list; for a JSON answer of the usual shape that is most of the
SDK's CPU per request. :func:`compile_reader` writes, once per attrs class, one Python
function that checks each field's exact JSON type inline and calls the class with the
values. Whatever it does not recognise (a required field missing, an id sent as a
number, a tuple instead of a list, a value a conversion refuses) makes it give up with
:data:`MISS`, and the caller reads the same data through the cattrs hook, which accepts
or refuses it exactly as before. The reader only ever accepts values for which it
returns what the cattrs hook would, so the fast path changes the speed, never the
outcome.

Why not ``msgspec.convert`` into the same attrs classes (it supports them, and msgspec
already parses our JSON)? Tried against these readers, it cannot give the same outcomes:

- it ignores wire names (attrs ``alias`` included), so TutorFlow's camelCase keys need a
  renaming pass first; with it an ``ExpansionJob`` took 10.4 µs against 6.3 µs here (and
  cattrs' 10.8), and without it ``keyPrefix`` is silently dropped, not refused;
- in strict mode it refuses epoch seconds for a ``datetime``, so every Next Tech item
  would fall back to cattrs; in lax mode it accepts ``"true"`` or ``1`` for a bool,
  ``1.0`` for an int and ``"0"`` for a datetime, all of which cattrs refuses;
- it keeps ISO text's own zone (``+01:00``) and leaves naive text naive, where the SDK
  gives aware UTC datetimes;
- it cannot fill ``raw`` with the mapping read (a wire key ``"raw"`` fills it instead),
  so every nested model needs patching afterwards.

The fuzz test of ``tests/core/test_readers.py`` pointed at it found the zone and the
``"0"`` differences within a few hundred examples. Where it agrees (a ``Content`` of
the usual shape, raw patched) it took 3.6 µs against 4.4 µs here; not worth a second
set of rules for what is accepted.
"""

from __future__ import annotations

import datetime as dt
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from .values import to_datetime

MISS: Any = object()
"""What a reader returns when the data is not of the plain shape it handles."""

_ABSENT: Any = object()

Reader = Callable[[Any], Any]
"""``reader(data)``: the model, or :data:`MISS`; it may also raise on odd data."""

_SCALARS: dict[Any, str] = {str: "str", int: "int", bool: "bool"}
_OPEN_OBJECTS: frozenset[Any] = frozenset({Mapping[str, Any], dict[str, Any]})


def _optional_of(tp: Any) -> Any | None:
    """``X`` for ``X | None`` (one type and None), else ``None``."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0]
    return None


def _tuple_item(tp: Any) -> Any | None:
    """``X`` for ``tuple[X, ...]``, else ``None``."""
    if typing.get_origin(tp) is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return args[0]
    return None


class _Source:
    """The text of one reader function and the names its code refers to."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        # (raw value, converted) names of the datetime fields read so far.
        self.datetimes: list[tuple[str, str]] = []
        self.names: dict[str, Any] = {
            "MISS": MISS,
            "ABSENT": _ABSENT,
            "FROM_EPOCH": dt.datetime.fromtimestamp,
            "FROM_ISO": dt.datetime.fromisoformat,
            "UTC": dt.UTC,
            "NEW": object.__new__,
        }

    def name(self, prefix: str, value: Any) -> str:
        key = f"{prefix}_{len(self.names)}"
        self.names[key] = value
        return key

    def add(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)


def _check(src: _Source, tp: Any, var: str, indent: int, nested: Callable[[Any], Reader]) -> None:
    """Lines that leave ``var`` converted, or return MISS; ``var`` is not None here."""
    scalar = _SCALARS.get(tp)
    if scalar is not None:
        # Exact types only: a bool is not an int here, and a str subclass goes to cattrs.
        src.add(indent, f"if type({var}) is not {scalar}: return MISS")
    elif tp is dt.datetime:
        # What to_datetime does, inlined for the two usual forms: epoch seconds (Next
        # Tech) and ISO text already in UTC ("...Z", TutorFlow). A float, a naive or
        # another zone's time is handed to to_datetime itself.
        # An instant equal to one read before it in this object (updated_at = created_at,
        # as a new item has) is that datetime again, not a second conversion.
        for raw, earlier in src.datetimes:
            # (Same type too: True == 1, and a bool is no timestamp.)
            src.add(indent, f"if {var} == {raw} and type({var}) is type({raw}): {var} = {earlier}")
            src.add(indent, f"elif type({var}) is int: {var} = FROM_EPOCH({var}, UTC)")
            break
        else:
            src.add(indent, f"if type({var}) is int: {var} = FROM_EPOCH({var}, UTC)")
        src.add(indent, f"elif type({var}) is str:")
        src.add(indent + 1, f"x = FROM_ISO({var})")
        general = src.name("to_datetime", to_datetime)
        src.add(indent + 1, f"{var} = x if x.tzinfo is UTC else {general}({var})")
        src.add(indent, "else: return MISS")
    elif tp is Any:
        pass
    elif tp in _OPEN_OBJECTS:
        src.add(indent, f"if type({var}) is not dict: return MISS")
    elif (item := _tuple_item(tp)) is not None:
        src.add(indent, f"if type({var}) is not list: return MISS")
        if _SCALARS.get(item) == "str":
            src.add(indent, f"for x in {var}:")
            src.add(indent + 1, "if type(x) is not str: return MISS")
            src.add(indent, f"{var} = tuple({var})")
        elif attrs.has(item):
            read = src.name("read", nested(item))
            src.add(indent, f"{var} = tuple(map({read}, {var}))")
            src.add(indent, f"for x in {var}:")
            src.add(indent + 1, "if x is MISS: return MISS")
        else:
            raise TypeError(f"no fast reader for {tp!r}")
    elif attrs.has(tp):
        read = src.name("read", nested(tp))
        src.add(indent, f"{var} = {read}({var})")
        src.add(indent, f"if {var} is MISS: return MISS")
    else:
        raise TypeError(f"no fast reader for {tp!r}")


def _builder_class(cls: type[Any]) -> type[Any] | None:
    """A mutable class of the same memory layout as ``cls``, when ``cls``'s ``__init__``
    does nothing but store each argument in its slot (a plain frozen slotted attrs class)
    and Python lets an instance change between the two; else ``None``.

    A reader fills an instance of it with plain attribute stores and then makes it a
    ``cls``: a frozen class refuses attribute stores, and its ``__init__`` stores each
    value with a call of ``object.__setattr__``. Python 3.11 refuses the change for a
    class with a ``__weakref__`` slot, which is why the SDKs' models are declared with
    ``weakref_slot=False``.
    """
    fields = attrs.fields(cls)
    slots = cls.__dict__.get("__slots__", ())
    if set(slots) - {"__weakref__"} != {f.name for f in fields}:
        return None  # not slotted, a cached hash or property, or fields in a base's slots
    if any(f.validator is not None or f.converter is not None for f in fields):
        return None
    if hasattr(cls, "__attrs_pre_init__") or hasattr(cls, "__attrs_post_init__"):
        return None
    builder = type(f"{cls.__name__}Builder", cls.__bases__, {"__slots__": tuple(slots)})
    probe: Any = object.__new__(builder)
    try:
        probe.__class__ = cls
    except TypeError:  # "object layout differs"
        return None
    return builder


def compile_reader(
    cls: type[Any],
    wire_names: Mapping[str, str],
    raw_field: str | None,
    nested: Callable[[Any], Reader],
) -> Reader:
    """A reader of ``cls`` from a dict: ``wire_names`` maps attribute to JSON key;
    ``raw_field`` (if any) receives the dict itself; ``nested(T)`` gives the reader (or
    any ``hook(data)`` returning MISS on refusal) of an attrs type ``T`` inside it.

    Raises ``TypeError`` for a field type it has no inline check for (then use cattrs).
    """
    hints = typing.get_type_hints(cls)
    src = _Source()
    src.add(1, "if type(d) is not dict: return MISS")
    src.add(1, "get = d.get")
    args: list[str] = []
    for i, field in enumerate(attrs.fields(cls)):
        if not field.init or field.kw_only:
            raise TypeError(f"{cls.__name__}.{field.name}: only plain init fields are read")
        if field.name == raw_field:
            args.append("d")
            continue
        var = f"v{i}"
        args.append(var)
        key = wire_names[field.name]
        tp = hints[field.name]
        inner = _optional_of(tp)
        is_datetime = dt.datetime in (tp, inner)
        body_indent = 2
        if field.default is attrs.NOTHING:
            src.add(1, f"{var} = get({key!r}, ABSENT)")
            src.add(1, f"if {var} is ABSENT: return MISS")
            body_indent = 1
        elif field.default is None and inner is not None:
            src.add(1, f"{var} = get({key!r})")  # absent reads as the default, None
            body_indent = 1
        else:
            default = field.default
            if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
                if default.takes_self:
                    raise TypeError(f"{cls.__name__}.{field.name}: a default that takes self")
                src.add(1, f"{var} = get({key!r}, ABSENT)")
                factory = src.name("factory", default.factory)
                src.add(1, f"if {var} is ABSENT: {var} = {factory}()")
            else:
                src.add(1, f"{var} = get({key!r}, ABSENT)")
                src.add(1, f"if {var} is ABSENT: {var} = {src.name('default', default)}")
            src.add(1, "else:")
        if is_datetime:
            src.add(1, f"r{i} = {var}")  # kept: a later equal instant reuses this one
        start = len(src.lines)
        if inner is not None:
            src.add(body_indent, f"if {var} is not None:")
            _check(src, inner, var, body_indent + 1, nested)
            if len(src.lines) == start + 1:  # nothing to check (``Any | None``)
                src.add(body_indent + 1, "pass")
        else:
            _check(src, tp, var, body_indent, nested)
            if len(src.lines) == start:
                src.add(body_indent, "pass")
        if is_datetime:
            src.datetimes.append((f"r{i}", var))
    src.names["CLS"] = cls
    builder = _builder_class(cls)
    if builder is None:
        src.add(1, f"return CLS({', '.join(args)})")
    else:
        # Plain stores into a mutable twin, which then becomes a CLS: the same slots
        # filled as the generated __init__ fills them, without a call per field.
        src.names["BUILDER"] = builder
        src.add(1, "o = NEW(BUILDER)")
        for field, arg in zip(attrs.fields(cls), args, strict=True):
            src.add(1, f"o.{field.name} = {arg}")
        src.add(1, "o.__class__ = CLS")
        src.add(1, "return o")
    text = f"def read_{cls.__name__}(d):\n" + "\n".join(src.lines) + "\n"
    namespace = dict(src.names)
    filename = f"<fast reader {cls.__module__}.{cls.__qualname__}>"
    exec(compile(text, filename, "exec"), namespace)  # noqa: S102 - our own generated code
    reader: Reader = namespace[f"read_{cls.__name__}"]
    reader.__doc__ = text  # what it does, for anyone debugging it
    return reader
