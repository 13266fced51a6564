"""MkDocs hook: pages take their guide text from README.md, by section heading.

A page line ``<!-- readme: Heading -->`` is replaced by the body of the README section
``## Heading`` (or of the one heading that starts with ``Heading``): everything up to the
next ``## `` outside a code fence. The special name ``top`` is the text between the title
and the first section. README.md stays the one copy of the guides, and GitHub shows it unchanged:

- a name no README section has (a heading was renamed) stops the build;
- a README section that no page includes is a warning, which ``mkdocs build --strict``
  (``./dev docs``, and so CI) turns into a failure: a new section must be placed;
- a relative link in the README (``[LICENSE](LICENSE)``, a file of the repository, not
  of the site) keeps its text and loses the link, so the site has no broken link.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError

log = logging.getLogger("mkdocs.hooks.readme_sections")

INCLUDE = re.compile(r"^<!-- readme: (?P<name>.+?) -->[ \t]*$", re.M)
FENCE = re.compile(r"^(```|~~~)")
RELATIVE_LINK = re.compile(r"\[(?P<text>[^\]]+)\]\((?!https?://|mailto:|#)[^)\s]+\)")

_sections: dict[str, str] = {}
_used: set[str] = set()


def split_sections(text: str) -> dict[str, str]:
    """The README's ``## `` sections by heading, plus ``top``; code fences are skipped."""
    sections: dict[str, list[str]] = {"top": []}
    current = "top"
    in_fence = False
    for line in text.splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence and line.startswith("## "):
            current = line[3:].strip()
            sections[current] = []
            continue
        elif not in_fence and current == "top" and line.startswith("# "):
            continue  # the README's own title: each page has its own
        elif not in_fence:
            line = RELATIVE_LINK.sub(r"\g<text>", line)
        sections[current].append(line)
    return {name: "\n".join(lines).strip("\n") + "\n" for name, lines in sections.items()}


def find_section(name: str, sections: dict[str, str]) -> str | None:
    """The heading ``name`` names: itself, else the one heading that starts with it.

    ``Logging`` thus finds ``Logging, hooks and OpenTelemetry`` too, so a heading that
    grows a subtitle does not break the build; two candidates are an error.
    """
    if name in sections:
        return name
    found = [h for h in sections if h.startswith(name) and not h[len(name)].isalnum()]
    return found[0] if len(found) == 1 else None


def on_config(config: Any) -> Any:
    """Read README.md (beside mkdocs.yml) once per build."""
    readme = Path(config["config_file_path"]).parent / "README.md"
    _sections.clear()
    _sections.update(split_sections(readme.read_text(encoding="utf-8")))
    _used.clear()
    return config


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    """Replace each ``<!-- readme: Heading -->`` line with that README section."""

    def include(match: re.Match[str]) -> str:
        name = find_section(match["name"], _sections)
        if name is None:
            known = ", ".join(sorted(_sections))
            raise PluginError(
                f"{page.file.src_path}: README.md has no one section {match['name']!r}"
                f" (it has: {known})"
            )
        _used.add(name)
        return _sections[name]

    return INCLUDE.sub(include, markdown)


def on_post_build(config: Any) -> None:
    """Warn about README sections no page includes (an error under ``--strict``)."""
    for name in sorted(set(_sections) - _used):
        log.warning("README.md section %r is in no docs page: include it in one", name)
