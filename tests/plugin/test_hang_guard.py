"""A hung test fails by its timeout (pytest-timeout, ``timeout`` in pyproject.toml) rather
than holding the whole run until CI's own limit."""

from __future__ import annotations

import pytest


def test_a_hung_test_fails_by_its_timeout(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import time

        def test_hangs():
            time.sleep(60)

        def test_fine():
            assert True
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--timeout=2")
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(["*Timeout*"])


def test_the_suite_configures_a_timeout(pytestconfig: pytest.Config) -> None:
    assert float(pytestconfig.getini("timeout")) >= 60
