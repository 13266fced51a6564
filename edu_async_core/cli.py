"""The old name of :mod:`edu_async_core.cli_support`, kept so that existing imports work.

This module never held a command-line tool, only the helpers both tools share; they live in
``edu_async_core.cli_support`` now. Import them from there: this alias may go in a later
release.
"""

from edu_async_core import cli_support as _support
from edu_async_core.cli_support import *  # noqa: F403 (the alias is the whole module)

__all__ = _support.__all__
