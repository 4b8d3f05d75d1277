"""Fixtures for the end-to-end layer: the real Pulumi CLI against the real Docker Engine.

In CI (CI=true) a missing engine, toolchain or image is a failure; elsewhere
the layer is skipped with the reason printed.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest
import yaml

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

from components import names  # noqa: E402
from prerequisites import unavailable  # noqa: E402
from pulumi_cli import docker  # noqa: E402

# The four local images the e2e stack runs, as its config names them (one place: Pulumi.e2e.yaml).
E2E_IMAGES = tuple(
    value for key, value in yaml.safe_load((HERE / "Pulumi.e2e.yaml").read_text())["config"].items()
    if key.endswith("Image")
)


@pytest.fixture(scope="session")
def toolchain_bin() -> str:
    path = os.environ.get("CLAWKER_TOOLCHAIN_BIN")
    if not path:
        proc = subprocess.run(["bash", str(ROOT / "tools" / "toolchain.sh")], capture_output=True, text=True)
        for line in proc.stdout.splitlines():
            if line.startswith("CLAWKER_TOOLCHAIN_BIN="):
                path = line.split("=", 1)[1].strip()
        if not path:
            unavailable(f"tools/toolchain.sh did not provide the Pulumi toolchain:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    for binary in ("pulumi", "pulumi-language-python", "pulumi-resource-docker", "pulumi-resource-pulumi-python"):
        if not (pathlib.Path(path) / binary).exists():
            unavailable(f"{binary} missing from {path}")
    return path


@pytest.fixture(scope="session")
def docker_engine() -> None:
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        unavailable("no Docker Engine answers `docker info` (run tools/engine.sh)")
    missing = [image for image in E2E_IMAGES if docker("image", "inspect", image, check=False).returncode != 0]
    if missing:
        unavailable(f"local images missing (run tools/images.sh): {', '.join(missing)}")


def remove_stack_leftovers(remove_network: bool = False) -> None:
    """Start from nothing: no stack containers, no volumes (and optionally no network)."""
    for container in (names.COLLECTOR, names.COLLECTOR_QUEUE_INIT, names.DASHBOARDS, names.PROMETHEUS, names.OPENSEARCH, names.ALERTMANAGER):
        docker("rm", "-f", container, check=False)
    for volume in (names.OPENSEARCH_VOLUME, names.PROMETHEUS_VOLUME, names.COLLECTOR_QUEUE_VOLUME, names.ALERTMANAGER_VOLUME):
        docker("volume", "rm", "-f", volume, check=False)
    if remove_network:
        docker("network", "rm", names.NETWORK, check=False)


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    """A throwaway infra CA with server and client certificates for the trusted lane (one set per module)."""
    import shutil

    import tls_material

    if shutil.which("openssl") is None:
        unavailable("the openssl CLI makes the trusted lane's test certificates (apt-get install openssl)")
    return tls_material.issue(tmp_path_factory.mktemp("infra-tls"))


@pytest.fixture(scope="module")
def team(tmp_path_factory, toolchain_bin, docker_engine):
    """The issue-19 team: one secured two-node cluster and one team stack up (tests/e2e/team_fixture.py).

    Module-scoped: a module that uses it shares one cluster and one `pulumi up` among its tests."""
    import team_fixture

    started = team_fixture.start_team(tmp_path_factory.mktemp("team"), toolchain_bin)
    try:
        yield started
    finally:
        team_fixture.stop_team(started)
