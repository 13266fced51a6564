from __future__ import annotations

import re
from pathlib import Path

import demo  # examples/demo.py (pyproject: pythonpath)
import pytest


async def test_demo_expands_every_sample_and_shows_no_secret(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert await demo.run(demo.SOURCES, failure_rate=0.25) == 0
    out = capsys.readouterr().out
    sources = sorted(demo.SOURCES.glob("*.json"))
    assert len(sources) >= 24
    summary = re.search(r"^(\d+) jobs: (\d+) completed, (\d+) failed; .* (\d+) rate-limited;"
                        r" (\d+) webhook events, (\d+) status polls", out, re.MULTILINE)
    assert summary is not None
    total, completed, failed, limited, events, polls = map(int, summary.groups())
    assert total == len(sources) == completed + failed == events
    assert failed > 0 and limited == 0 and polls <= total * 0.05
    assert "walked 80 'intermediate' contents newest first" in out
    assert "resumed after 40" in out
    for source in sources:
        assert source.name in out
    # Only prefixes are printed: "tf_content_" or "whsec_" + 4 characters + an ellipsis.
    assert re.search(r"tf_content_\S{4}…", out) and re.search(r"whsec_\S{4}…", out)
    assert not re.search(r"(tf_content_|whsec_)[A-Za-z0-9_-]{8,}", out)


def table_lines(out: str) -> list[str]:
    """The summary table of a demo run: its header line up to the blank line after it."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(r"source +job +status", line))
    end = lines.index("", start)
    return lines[start:end]


async def test_demo_table_columns_line_up_past_nine_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # No sources folder, as from an installed wheel: the built-in inputs, labelled
    # builtin-0.json .. builtin-11.json, so the labels grow a character at the tenth row.
    assert await demo.run(tmp_path / "missing", failure_rate=0.25) == 0
    header, *rows = table_lines(capsys.readouterr().out)
    assert len(rows) > 9
    # Each column starts one space after the widest cell of the one before it.
    starts = [header.index(f" {name}") + 1 for name in ("job", "status", "first output")]
    for row in rows:
        cells = [row[a:b] for a, b in zip([0, *starts], [*starts, None], strict=True)]
        for cell in cells[:-1]:
            assert cell.endswith(" ") and not cell.startswith(" "), (header, row)
        assert cells[-1] and not cells[-1].startswith(" "), (header, row)


def test_table_fits_each_column_to_its_longest_cell() -> None:
    lines = demo.table(("a", "bb", "c"), [("long-label", "x", "tail"), ("y", "wide-value", "")])
    assert lines == [
        "a          bb         c",
        "long-label x          tail",
        "y          wide-value",
    ]
