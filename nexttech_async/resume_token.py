"""The resume token of a walk, in one place: its envelope, bounds, filters and state.

A token is compact JSON: ``{"v": 1, "k": kind, "f": filters, "a": after, "b": before,
"s": state}``. Bounds are ``{"s": second}`` (the walk's own cut) or ``{"w": wire, "ms":
milliseconds}`` (the caller's); the filters use their argument names; the state keeps
only what a resumed walk needs (see :func:`state_to_json`). Tokens of earlier versions of
the state are still read. Everything here is pure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .cursor import Bound, CursorState, WalkRange
from .errors import InvalidArgumentError
from .filters import Filters

__all__ = [
    "TOKEN_VERSION",
    "decode_token",
    "encode_token",
    "filters_from_json",
    "filters_to_json",
    "state_from_json",
    "state_to_json",
]

#: The envelope's version (``"v"``); a token of another version is refused.
TOKEN_VERSION = 1


def _bound_json(bound: Bound | None) -> Any:
    if bound is None:
        return None
    if bound.is_own:
        return {"s": bound.second}
    return {"w": bound.wire, "ms": bound.ms}


def _bound_from_json(value: Any) -> Bound | None:
    if value is None:
        return None
    if isinstance(value, dict):
        if isinstance(value.get("s"), int):
            return Bound.own(value["s"])
        if isinstance(value.get("w"), str) and isinstance(value.get("ms"), int):
            return Bound.user(value["w"], value["ms"])
    raise ValueError("malformed bound")


def encode_token(kind: str, rng: WalkRange, filters: Filters, state: CursorState) -> str:
    """A resume token: short keys, compact JSON, the version first."""
    data = {
        "v": TOKEN_VERSION,
        "k": kind,
        "f": filters_to_json(filters),
        "a": _bound_json(rng.after),
        "b": _bound_json(rng.before),
        "s": state_to_json(state),
    }
    return json.dumps(data, separators=(",", ":"))


def decode_token(token: object, kind: str) -> tuple[WalkRange, Filters, CursorState]:
    """Read a resume token; a clear ``InvalidArgumentError`` naming ``resume`` otherwise."""
    if not isinstance(token, str):
        raise InvalidArgumentError("resume", f"expected a token string, got {type(token).__name__}")
    try:
        data = json.loads(token)
        if not isinstance(data, Mapping) or data.get("v") != TOKEN_VERSION:
            raise ValueError("unknown token version")
        if data.get("k") != kind:
            raise ValueError(f"the token is for {data.get('k')!r}, not {kind!r}")
        rng = WalkRange(
            after=_bound_from_json(data.get("a")), before=_bound_from_json(data.get("b"))
        )
        filters = filters_from_json(data.get("f") or {})
        state = state_from_json(data.get("s") or {})
    except InvalidArgumentError:
        raise
    except (ValueError, TypeError, AttributeError) as exc:
        raise InvalidArgumentError("resume", f"not a valid resume token: {exc}") from None
    return rng, filters, state


def state_to_json(state: CursorState) -> dict[str, object]:
    """The part of the state a resume token keeps, as a small JSON-ready dict.

    Only what a resumed walk needs is written (the newest bound, the ids already
    handed out at it, the bounds' inclusiveness, the page-size hint, whether the walk
    is done), with short keys and defaults left out; the search state inside a
    crowded second is not, since a resumed walk starts that search afresh.
    :func:`state_from_json` reads it back.
    """
    data: dict[str, object] = {}
    if state.hi is not None:
        data["hi"] = state.hi
    if state.hi_complete:
        data["hc"] = True
    if state.seen:
        data["seen"] = sorted(state.seen, key=lambda k: (isinstance(k, str), k))
    if state.before_inclusive:
        data["bi"] = True
    if state.after_inclusive:
        data["ai"] = True
    if state.page_hint:
        data["ph"] = state.page_hint
    if state.probed:
        data["pr"] = True
    if state.done:
        data["done"] = True
    return data


def state_from_json(data: dict[str, object]) -> CursorState:
    """Rebuild a state; raises ``ValueError``/``TypeError`` on a malformed one.

    Tokens written by earlier versions carry millisecond windows and leaf calibration
    (``win``, ``ls``, ``lc``, ``fam``, ``pr``); they are checked and then left out,
    since a resumed search starts afresh inside the boundary second anyway.
    """
    hi = data.get("hi")
    if hi is not None and (isinstance(hi, bool) or not isinstance(hi, int)):
        raise TypeError("hi must be an int")
    seen_raw = data.get("seen", [])
    if not isinstance(seen_raw, list) or not all(
        isinstance(k, int | str) and not isinstance(k, bool) for k in seen_raw
    ):
        raise TypeError("seen must be a list of ids")
    windows = data.get("win", [])
    if not isinstance(windows, list):
        raise TypeError("win must be a list")
    for w in windows:
        if (
            not isinstance(w, list)
            or len(w) != 2
            or not all(isinstance(x, int) and not isinstance(x, bool) for x in w)
            or w[0] > w[1]
        ):
            raise ValueError("each window must be [lo, hi] with lo <= hi")
    if windows and hi is None:
        raise ValueError("windows need a boundary second")
    page_hint = data.get("ph", 0)
    if isinstance(page_hint, bool) or not isinstance(page_hint, int) or page_hint < 0:
        raise TypeError("ph must be a non-negative int")
    if seen_raw and hi is None:
        raise ValueError("seen ids need a boundary second")
    return CursorState(
        hi=hi,
        hi_complete=bool(data.get("hc", False)),
        seen=frozenset(seen_raw),
        before_inclusive=bool(data.get("bi", False)),
        after_inclusive=bool(data.get("ai", False)),
        page_hint=page_hint,
        probed=bool(data.get("pr", False)),
        done=bool(data.get("done", False)),
    )


def filters_to_json(filters: Filters) -> dict[str, object]:
    """The filters as a token carries them: only what is set, under the argument names."""
    data: dict[str, object] = {}
    if filters.remote_user_id is not None:
        data["remote_user_id"] = filters.remote_user_id
    if filters.project_metadata:
        data["project_metadata"] = [list(p) for p in filters.project_metadata]
    if filters.course_metadata:
        data["course_metadata"] = [list(p) for p in filters.course_metadata]
    if filters.course_uid:
        data["course_uid"] = list(filters.course_uid)
    return data


def filters_from_json(data: Mapping[str, object]) -> Filters:
    """The filters a resume token carries (validated like the caller's own)."""

    def pairs(name: str) -> list[tuple[str, str]] | None:
        value = data.get(name)
        if value is None:
            return None
        if not isinstance(value, list):
            raise InvalidArgumentError("resume", f"{name} must be a list of pairs")
        return [tuple(p) for p in value]

    remote_user_id = data.get("remote_user_id")
    uids = data.get("course_uid")
    if remote_user_id is not None and not isinstance(remote_user_id, str):
        raise InvalidArgumentError("resume", "remote_user_id must be a string")
    if uids is not None and not isinstance(uids, list):
        raise InvalidArgumentError("resume", "course_uid must be a list")
    return Filters.build(
        remote_user_id=remote_user_id,
        project_metadata=pairs("project_metadata"),
        course_metadata=pairs("course_metadata"),
        course_uid=uids,
    )
