"""The contract DOUBLE's test image behaves like the real image where the stack relies on it.

Needs a Docker Engine and the image (tests/dashboards_double/build_image.sh):
without them it fails in CI and is skipped elsewhere (tests/prerequisites.py).
"""

from __future__ import annotations

import subprocess
import time
import uuid

import pytest

from dd_helpers import Client
from prerequisites import unavailable

IMAGE = "clawker-test/opensearch-dashboards-double:3.6.0"


def docker(*args: str, check: bool = True) -> str:
    return subprocess.run(["docker", *args], check=check, capture_output=True, text=True).stdout.strip()


def image_available() -> bool:
    try:
        return subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True,
                              timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(autouse=True)
def _image_required():
    if not image_available():
        unavailable(f"{IMAGE} not built or no Docker Engine (run tests/dashboards_double/build_image.sh)")


def wait_status(client: Client, want: int, seconds: float = 30) -> tuple:
    deadline = time.time() + seconds
    last = None
    while time.time() < deadline:
        try:
            last = client.get("/api/status")
            if last[0] == want:
                return last
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"wanted {want}, last answer {last}")


# The stack's container: `opensearch-dashboards --explore.enabled=true ...`, SERVER_PORT,
# OPENSEARCH_HOSTS as a JSON list; real Dashboards answers "not ready yet" (503) until it
# reaches OpenSearch (src/core/server/http/http_service.ts).
def test_image_runs_the_stack_command_and_waits_for_opensearch():
    tag = uuid.uuid4().hex[:8]
    net, fake_os, dash = f"dd-net-{tag}", f"dd-os-{tag}", f"dd-dash-{tag}"
    docker("network", "create", net)
    try:
        docker("run", "-d", "--name", dash, "--network", net, "-e", "SERVER_PORT=5699",
               "-e", f'OPENSEARCH_HOSTS=["http://{fake_os}:9200"]', "-p", "127.0.0.1::5699",
               IMAGE, "opensearch-dashboards", "--explore.enabled=true",
               "--explore.discoverMetrics.enabled=true")
        host_port = docker("port", dash, "5699/tcp").splitlines()[0].rsplit(":", 1)[1]
        client = Client(f"http://127.0.0.1:{host_port}")
        status, body, _ = wait_status(client, 503)
        assert body == "OpenSearch Dashboards server is not ready yet"
        # anything answering HTTP below 500 on / counts as OpenSearch reachable; a second
        # double on port 9200 plays that part
        docker("run", "-d", "--name", fake_os, "--network", net, "-e", "SERVER_PORT=9200", IMAGE)
        status, body, _ = wait_status(client, 200)
        assert body["status"]["overall"]["state"] == "green" and "double" in body["name"]
        logs = subprocess.run(["docker", "logs", dash], capture_output=True, text=True)
        assert "CONTRACT DOUBLE" in logs.stdout + logs.stderr
    finally:
        docker("rm", "-f", dash, fake_os, check=False)
        docker("network", "rm", net, check=False)
