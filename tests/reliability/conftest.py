"""The reliability suite's figure book: a fixture to record into, a table at the end."""

from __future__ import annotations

import pytest
from reliability.figures import BOOK_KEY, FigureBook


@pytest.fixture(scope="session")
def figures(pytestconfig: pytest.Config) -> FigureBook:
    """The session's :class:`FigureBook`; every scenario records its row in it."""
    book = pytestconfig.stash.get(BOOK_KEY, None)
    if book is None:
        book = pytestconfig.stash[BOOK_KEY] = FigureBook()
    return book


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    book = config.stash.get(BOOK_KEY, None)
    if book is None or not book.rows:
        return
    terminalreporter.section("reliability figures (must-be-0: duplicates, lost, skipped, leaked)")
    terminalreporter.write_line(book.markdown())
