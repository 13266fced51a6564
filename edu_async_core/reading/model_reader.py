"""The one way an SDK reads a model out of an answer: :class:`ModelReader`.

``ModelReader(converter, cls, errors).read(data, response)`` tries the generated reader
of ``cls`` once (the documented shape, in one pass) and, when that steps aside, cattrs'
own structuring once; whatever cattrs refuses becomes the family's bad-response error,
naming the model, the status and the request. :meth:`Response.json_object` (or
:func:`ensure_json_object`) is the step before it for endpoints that answer one JSON object.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import cattrs

from ..errors import ErrorFamily
from .generated import MISS
from .responses import Response

__all__ = ["ModelReader", "describe_failure", "ensure_json_object"]

T = TypeVar("T")


def ensure_json_object(response: Response, what: str, errors: ErrorFamily) -> dict[str, Any]:
    """The response body as a JSON object (an empty body counts as ``{}``); anything else
    is the family's bad-response error naming ``what`` was expected
    (:meth:`Response.json_object`)."""
    return response.json_object(what, errors)


class ModelReader(Generic[T]):
    """Reads JSON values as ``cls`` with ``converter``; failures are ``errors``' own.

    Build one per model and SDK, once (at import or in a constructor), and call
    :meth:`read` per value: it does no lookups of its own.
    """

    __slots__ = ("_cls", "_errors", "_fast", "_slow")

    def __init__(self, converter: cattrs.Converter, cls: type[T], errors: ErrorFamily) -> None:
        hook: Any = converter.get_structure_hook(cls)
        # The converter's model hooks carry their halves; any other hook (a model with a
        # hand-written one, or a field type the generated readers leave to cattrs) is the
        # slow half alone.
        self._fast: Callable[[Any], Any] | None = getattr(hook, "fast", None)
        self._slow: Callable[[Any, type[Any]], Any] = getattr(hook, "slow", hook)
        self._cls = cls
        self._errors = errors

    @property
    def model(self) -> type[T]:
        """The class this reader builds."""
        return self._cls

    def read(self, data: Any, response: Response) -> T:
        """``data`` (a JSON value from ``response``) as the model.

        Raises the family's ``BadResponseError``, with ``response``'s status and request,
        when the value cannot be read as the model.
        """
        fast = self._fast
        if fast is not None:
            try:
                obj = fast(data)
            except Exception:  # odd data: cattrs reads it below and says what is wrong
                obj = MISS
            if obj is not MISS:
                return obj  # type: ignore[no-any-return]
        try:
            result: T = self._slow(data, self._cls)
        except Exception as exc:  # cattrs raises ExceptionGroups, TypeErrors, KeyErrors...
            raise self._errors.bad_response(
                f"unexpected {self._cls.__name__} in response: {describe_failure(exc)}",
                status=response.status,
                context=response.context,
            ) from None
        return result

    def __repr__(self) -> str:
        return f"ModelReader({self._cls.__name__})"


def describe_failure(exc: BaseException) -> str:
    """A one-line account of why cattrs refused a value (where, and what)."""
    if isinstance(exc, BaseExceptionGroup):
        parts = [describe_failure(e) for e in exc.exceptions[:3]]
        return "; ".join(_notes(exc)[:1] + parts)
    text = f"{type(exc).__name__}: {exc}"
    notes = _notes(exc)
    return f"{notes[0]}: {text}" if notes else text


def _notes(exc: BaseException) -> list[str]:
    # cattrs explains where in the document a value failed in the exception's notes.
    return [str(n) for n in getattr(exc, "__notes__", ())]
