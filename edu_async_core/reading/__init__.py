"""Reading answers, in one place: bytes → JSON value → model, or a typed error.

- :mod:`.model_reader`: :class:`ModelReader`, the one entry point for models, and
  :func:`ensure_json_object`.
- :mod:`.converter`: the cattrs converter of each SDK (wire names, ``raw``, tolerant
  scalars), whose model hooks try the generated reader before cattrs.
- :mod:`.generated`: the readers written once per model class for the documented shape.
- :mod:`.values`: JSON scalars as Python values (timestamps, tolerant str/int/bool).
- :mod:`.responses`: a finished response (:class:`Response`), its body as JSON (the
  msgspec parser, the standard library where it refuses), and the typed error a non-2xx
  answer means.

Each module imports only modules listed after it: no import circle.
"""

from __future__ import annotations

from .converter import RAW_FIELD, make_converter
from .model_reader import ModelReader, describe_failure, ensure_json_object
from .responses import Response, api_error_from_response, decode_json, error_fields, snippet
from .values import camel_case, snake_case, to_datetime

__all__ = [
    "RAW_FIELD",
    "ModelReader",
    "Response",
    "api_error_from_response",
    "camel_case",
    "decode_json",
    "describe_failure",
    "ensure_json_object",
    "error_fields",
    "make_converter",
    "snake_case",
    "snippet",
    "to_datetime",
]
