"""Config files the containers read are dumped by libyaml's emitter (components/services/config_file.py,
issue 21: a few times faster than PyYAML's own in every program run). A changed byte in an
uploaded file replaces its container, so the two emitters must write the same text for every
file the stack uploads, in each role and with the optional parts (alerts, budgets, TLS) on.
"""

from __future__ import annotations

import yaml

import pytest

from components.services import config_file
from stack_harness import deploy
from test_alerting import ALL_RECEIVERS, BUDGETS
from test_roles import MACHINE, TEAM, TEAM_OUTPUTS

CONFIGS = {
    "local, defaults": ({}, {}),
    "local, every receiver and budget": ({**ALL_RECEIVERS, **BUDGETS}, {}),
    "local, codex unit too": ({"units": '["claude-code", "codex"]'}, {}),
    "team": (TEAM, {}),
    "machine, explicit team": (MACHINE, {}),
    "machine, team stack": (
        {"role": "machine", "machineName": "laptop-a", "teamStack": "org/clawker-monitor/team"},
        {"team_outputs": TEAM_OUTPUTS},
    ),
}


def test_the_stack_dumps_with_libyaml():
    # PyYAML's wheels carry libyaml; without it the program would still work, only slower.
    assert config_file._DUMPER is yaml.CSafeDumper


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_every_uploaded_config_is_the_text_pyyaml_s_own_emitter_writes(name, monkeypatch):
    config, extra = CONFIGS[name]
    dumped: list = []
    real = config_file.to_yaml

    def recording(data):
        text = real(data)
        dumped.append((data, text))
        return text

    monkeypatch.setattr(config_file, "to_yaml", recording)
    deploy(config, **extra)
    assert dumped, "the program dumped no config file"
    for data, text in dumped:
        assert text == yaml.dump(data, Dumper=yaml.SafeDumper, sort_keys=False, default_flow_style=False)
