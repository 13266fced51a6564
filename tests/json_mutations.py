"""Hypothesis strategies that damage a valid JSON document a little (for parser tests)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON document, as the keys and indexes leading to it (root: ``()``)."""
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += paths(v, (*prefix, i))
    return out


def mutated(
    base: dict[str, Any],
    values: st.SearchStrategy[Any],
    *,
    changes: tuple[int, int] = (0, 3),
    replace_root: bool = False,
) -> st.SearchStrategy[Any]:
    """``base`` with a few places dropped, nulled, retyped (to one of ``values``) or joined
    by an unknown key; with ``replace_root`` the whole document may become one of ``values``."""

    @st.composite
    def build(draw: st.DrawFn) -> Any:
        doc = json.loads(json.dumps(base))
        for _ in range(draw(st.integers(*changes))):
            where = draw(st.sampled_from(paths(doc)))
            if not where:
                if replace_root and draw(st.booleans()):
                    doc = draw(values)
                continue
            try:
                parent = doc
                for step in where[:-1]:
                    parent = parent[step]
                action = draw(st.sampled_from(["drop", "null", "retype", "extra"]))
                if action == "drop" and isinstance(parent, dict):
                    del parent[where[-1]]
                elif action == "null":
                    parent[where[-1]] = None
                elif action == "retype":
                    parent[where[-1]] = draw(values)
                elif isinstance(parent, dict):
                    parent[draw(st.text(max_size=6))] = draw(values)
            except (KeyError, IndexError, TypeError):
                continue  # an earlier change removed or replaced this place
        return doc

    return build()
