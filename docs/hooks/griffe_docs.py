"""Griffe extension for the API reference: the project's docstring conventions, rendered.

- ``#:`` comments right above an assignment are that attribute's docstring (the
  convention the sources use for constants and fields; ``tests/test_docstrings.py``
  accepts them too);
- Sphinx roles (``:class:`~tutorflow_async.ContentSession```, ``:meth:`close```) become
  optional cross-references: a link when the target is on the site, plain code otherwise,
  never a build warning;
- a paragraph ending in ``::`` (a reST literal block follows) ends in ``:``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import griffe

ROLE = re.compile(
    r":(?:py:)?(?:class|func|meth|attr|data|exc|mod|obj):"
    r"`(?P<tilde>~?)(?P<target>[\w.]+)(?P<call>\(\))?`"
)
PACKAGES = ("edu_async_core", "tutorflow_async", "nexttech_async")


def _comment_above(lines: list[str], lineno: int) -> str | None:
    block: list[str] = []
    index = lineno - 2
    while index >= 0 and lines[index].lstrip().startswith("#:"):
        block.insert(0, lines[index].lstrip()[2:].strip())
        index -= 1
    return " ".join(block) if block else None


def _identifier(obj: griffe.Object, target: str) -> str | None:
    target = target.lstrip(".")
    if target.split(".")[0] in PACKAGES:
        return target
    head, _, rest = target.partition(".")
    scopes = [obj] if obj.is_class or obj.is_module else []
    scopes += [p for p in (obj.parent, obj.module, obj.package) if p is not None]
    for scope in scopes:
        if head in scope.members:
            found = scope.members[head]
            path = found.target_path if found.is_alias else found.path
            return f"{path}.{rest}" if rest else path
        try:
            resolved = scope.resolve(head)
        except (griffe.NameResolutionError, ValueError, AttributeError):
            continue
        return f"{resolved}.{rest}" if rest else resolved
    return None


def rewrite(obj: griffe.Object, text: str) -> str:
    """``text`` with roles turned into optional cross-references."""

    def replace(match: re.Match[str]) -> str:
        target = match["target"]
        title = target.rsplit(".", 1)[-1] if match["tilde"] else target.lstrip(".")
        title += match["call"] or ""
        identifier = _identifier(obj, target)
        if identifier is None:
            return f"`{title}`"
        return f'<autoref identifier="{identifier}" optional><code>{title}</code></autoref>'

    text = ROLE.sub(replace, text)
    return re.sub(r"::$", ":", text, flags=re.M)


class ProjectDocstrings(griffe.Extension):
    """The hooks: ``#:`` comments as attribute docstrings, then the text rewrites."""

    def on_attribute_instance(self, *, attr: griffe.Attribute, **kwargs: Any) -> None:
        path = attr.filepath
        if attr.docstring is not None or attr.lineno is None or not isinstance(path, Path):
            return
        try:
            lines = attr.lines_collection[path]
        except KeyError:
            return
        comment = _comment_above(lines, attr.lineno)
        if comment:
            attr.docstring = griffe.Docstring(comment, lineno=attr.lineno, parent=attr)

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        for obj in _walk(pkg):
            if obj.docstring is not None:
                obj.docstring.value = rewrite(obj, obj.docstring.value)


def _walk(obj: griffe.Object) -> list[griffe.Object]:
    found = [obj]
    for member in obj.members.values():
        if not member.is_alias:
            found.extend(_walk(member))  # type: ignore[arg-type]
    return found
