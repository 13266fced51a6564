from __future__ import annotations

import re

import pytest

from tutorflow_async import demo


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
