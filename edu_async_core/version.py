"""The version of the three packages, written once: in ``pyproject.toml``.

One distribution, ``tutorflow-async``, ships ``edu_async_core``, ``tutorflow_async`` and
``nexttech_async``, so they share one version. An installed distribution carries it in its
metadata; a source tree that was never installed (no metadata) reads it from the
``pyproject.toml`` beside the packages, and anything else says :data:`UNKNOWN`.
"""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path
from typing import Final

#: The distribution (``pip install tutorflow-async``) the three packages come in.
DISTRIBUTION: Final = "tutorflow-async"
#: The version reported when neither metadata nor a ``pyproject.toml`` gives one.
UNKNOWN: Final = "0+unknown"


def distribution_version() -> str:
    """The installed distribution's version, else the source tree's ``pyproject.toml``'s."""
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return _source_tree_version(Path(__file__).resolve().parent.parent / "pyproject.toml")


def _source_tree_version(pyproject: Path) -> str:
    try:
        document = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return UNKNOWN
    project = document.get("project")
    if not isinstance(project, dict) or project.get("name") != DISTRIBUTION:
        return UNKNOWN  # some other project's pyproject.toml
    version = project.get("version")
    return version if isinstance(version, str) and version else UNKNOWN


__version__: Final = distribution_version()


def user_agent(product: str) -> str:
    """The ``User-Agent`` a session of ``product`` sends: ``product/<version> (+aiohttp)``."""
    return f"{product}/{__version__} (+aiohttp)"
