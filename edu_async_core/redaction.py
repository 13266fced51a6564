"""Secrets that cannot leak by accident, and the prefixes we may show instead."""

from __future__ import annotations

from . import defaults


def key_prefix(secret: str, visible: int = defaults.SECRET_VISIBLE_CHARS) -> str:
    """Return the part of ``secret`` that may be logged: its type prefix plus a few chars.

    ``tf_content_ab12…`` for a TutorFlow key; the first ``visible`` characters otherwise.
    Short secrets show less, so that a prefix never reveals most of a secret.
    """
    head = next((p for p in defaults.SECRET_TYPE_PREFIXES if secret.startswith(p)), "")
    rest = secret[len(head) :]
    shown = min(visible, len(rest) // 4)
    return f"{head}{rest[:shown]}…"


class Secret:
    """A credential that prints as its prefix only.

    ``str()``, ``repr()``, f-strings and logging all show ``key_prefix``; the value is
    available only through :meth:`reveal`, so it has to be asked for on purpose.
    """

    __slots__ = ("_prefix", "_value")

    def __init__(self, value: str | Secret) -> None:
        raw = value.reveal() if isinstance(value, Secret) else value
        if not isinstance(raw, str):
            raise TypeError(f"a secret must be a str, not {type(raw).__name__}")
        self._value = raw
        self._prefix = key_prefix(raw)

    @property
    def prefix(self) -> str:
        """The loggable prefix of the secret."""
        return self._prefix

    def reveal(self) -> str:
        """The secret itself; pass it on, never print it."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({self._prefix!r})"

    def __str__(self) -> str:
        return self._prefix

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            return self._value == other._value
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        # Pickling would write the secret to wherever the pickle goes.
        raise TypeError("Secret values cannot be pickled")
