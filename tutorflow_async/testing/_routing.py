"""Path matching on raw, still percent-encoded request paths.

The emulator routes segment by segment on the raw path and decodes each segment only
after splitting, so an id carrying an encoded ``/`` (``..%2Fx``) stays one segment and can
never reach another endpoint. Nothing is normalised: a literal ``..`` segment is just an
unmatched path.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import unquote

import attrs

UNMATCHED = "<unmatched>"


@attrs.frozen
class Template:
    """A route template such as ``/v1/content/integrations/expansions/{jobId}``."""

    text: str
    parts: tuple[str, ...] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "parts", tuple(self.text.split("/")))

    def match(self, segments: Sequence[str]) -> dict[str, str] | None:
        """Parameters of decoded ``segments`` if they fit this template, else ``None``."""
        if len(segments) != len(self.parts):
            return None
        params: dict[str, str] = {}
        for part, segment in zip(self.parts, segments, strict=True):
            if part.startswith("{") and part.endswith("}"):
                if not segment:
                    return None
                params[part[1:-1]] = segment
            elif part != segment:
                return None
        return params


def split_raw_target(raw_target: str) -> tuple[str, str]:
    """``(raw path, raw query string)`` of a request target as received."""
    path, _, query = raw_target.partition("?")
    return path, query


def decoded_segments(raw_path: str) -> list[str]:
    """Split first, then percent-decode each segment on its own."""
    return [unquote(segment, errors="strict") for segment in raw_path.split("/")]
