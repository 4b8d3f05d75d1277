"""One rule for tests that need infrastructure (an engine, a build, a binary).

In CI (CI=true, or 1 / yes / on, any case) a missing prerequisite FAILS the test: nothing may pass by
being skipped there. Elsewhere the test is skipped with the reason printed
(run pytest with -ra to see it).
"""

from __future__ import annotations

import os

import pytest


# What CI services and people set CI to: true (GitHub, GitLab, most), 1, yes, on; any case.
CI_TRUTHY = ("true", "1", "yes", "on")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in CI_TRUTHY


def unavailable(reason: str):
    if in_ci():
        pytest.fail(f"required in CI but not available: {reason}", pytrace=False)
    pytest.skip(reason)
