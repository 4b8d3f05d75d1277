"""The e2e stack runs the user's defaults: its config may differ only in images and rlimits."""

from pathlib import Path

import yaml

E2E = Path(__file__).resolve().parents[1] / "e2e" / "Pulumi.e2e.yaml"
ALLOWED = {
    "clawker-monitor:collectorImage",
    "clawker-monitor:prometheusImage",
    "clawker-monitor:opensearchImage",
    "clawker-monitor:dashboardsImage",
    "clawker-monitor:opensearchRaiseLimits",
}


def test_e2e_stack_differs_from_a_users_only_in_images_and_rlimits():
    config = yaml.safe_load(E2E.read_text())["config"]
    assert set(config) <= ALLOWED, sorted(set(config) - ALLOWED)
