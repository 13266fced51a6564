"""Enables ``pytester`` for the plugin tests only."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # ``pytest_plugins = ["pytester"]`` would be the usual spelling, but pytest refuses it
    # in a conftest below the rootdir once the whole suite is collected; registering the
    # plugin here works both for ``pytest tests`` and ``pytest tests/plugin``.
    if not config.pluginmanager.has_plugin("pytester"):
        config.pluginmanager.import_plugin("pytester")
