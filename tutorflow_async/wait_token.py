"""A wait's continuation token: what another process needs to go on waiting (pure)."""

from __future__ import annotations

import json

import attrs

from .checks import require_str
from .errors import InvalidArgumentError


@attrs.frozen
class WaitToken:
    """A wait's continuation: enough for another process to go on waiting (JSON-safe)."""

    job_id: str
    started_at: float
    deadline: float
    last_status: str | None = None

    def dumps(self) -> str:
        """The token as compact JSON text (what ``continuation_token()`` returns)."""
        return json.dumps(attrs.asdict(self), separators=(",", ":"))

    @classmethod
    def loads(cls, text: object) -> WaitToken:
        """Read a token back from :meth:`dumps`'s text.

        Raises:
            InvalidArgumentError: naming ``token``, for anything that is not such a text.
        """
        if not isinstance(text, str):
            raise InvalidArgumentError("token", "expected the string from continuation_token()")
        try:
            data = json.loads(text)
            token = cls(
                job_id=require_str(data["job_id"], "token.job_id"),
                started_at=float(data["started_at"]),
                deadline=float(data["deadline"]),
                last_status=data.get("last_status"),
            )
        except InvalidArgumentError:
            raise
        except (ValueError, TypeError, KeyError) as exc:
            raise InvalidArgumentError("token", f"not a wait token: {exc}") from None
        return token
