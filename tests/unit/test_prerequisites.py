"""CI detection (tests/prerequisites.py): the usual truthy values of CI turn skips into failures."""

import pytest

from prerequisites import in_ci, unavailable


@pytest.mark.parametrize("value", ["true", "TRUE", "True", "1", "yes", "YES", "on", "On", " true "])
def test_truthy_ci_values_mean_ci(monkeypatch, value):
    monkeypatch.setenv("CI", value)
    assert in_ci()
    with pytest.raises(pytest.fail.Exception, match="required in CI"):
        unavailable("a prerequisite")


@pytest.mark.parametrize("value", ["", "false", "0", "no", "off", "maybe"])
def test_other_values_do_not(monkeypatch, value):
    monkeypatch.setenv("CI", value)
    assert not in_ci()
    with pytest.raises(pytest.skip.Exception):
        unavailable("a prerequisite")


def test_unset_is_not_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    assert not in_ci()
