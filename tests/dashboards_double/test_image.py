"""The contract DOUBLE's test image behaves like the real image where the stack relies on it.

Needs a Docker Engine, the image (tests/dashboards_double/build_image.sh) and the test
OpenSearch: without them it fails in CI and is skipped elsewhere (tests/prerequisites.py).
Its containers have their own names (dd-dash-*), never the stack's.
"""

from __future__ import annotations

import subprocess
import time
import uuid

import pytest

from dd_helpers import Client, Forwarder
from net import free_port
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


def run_double(name: str, port: int, opensearch_url: str) -> None:
    # Host networking: the container reaches the test OpenSearch on the host's loopback.
    docker("run", "-d", "--name", name, "--network", "host", "-e", f"SERVER_PORT={port}",
           "-e", f'OPENSEARCH_HOSTS=["{opensearch_url}"]',
           IMAGE, "opensearch-dashboards", "--explore.enabled=true",
           "--explore.discoverMetrics.enabled=true")


# The stack's container: `opensearch-dashboards --explore.enabled=true ...`, SERVER_PORT,
# OPENSEARCH_HOSTS as a JSON list; real Dashboards answers "not ready yet" (503) until it
# reaches OpenSearch (src/core/server/http/http_service.ts) and keeps its saved objects and
# workspaces in OpenSearch's .kibana index, so a replaced container loses none of them.
def test_image_waits_for_opensearch_and_a_replaced_container_keeps_every_object(node):
    tag = uuid.uuid4().hex[:8]
    first, second = f"dd-dash-{tag}", f"dd-dash-{tag}-replaced"
    os_port, port = free_port(), free_port()
    late_opensearch = Forwarder(os_port, node.url)
    client = Client(f"http://127.0.0.1:{port}")
    try:
        run_double(first, port, f"http://127.0.0.1:{os_port}")
        status, body, _ = wait_status(client, 503)
        assert body == "OpenSearch Dashboards server is not ready yet"
        late_opensearch.start()
        status, body, _ = wait_status(client, 200)
        assert body["status"]["overall"]["state"] == "green" and "double" in body["name"]
        logs = subprocess.run(["docker", "logs", first], capture_output=True, text=True)
        assert "CONTRACT DOUBLE" in logs.stdout + logs.stderr

        ws = client.post("/api/workspaces", {"attributes": {"name": "Clawker", "features": ["use-case-all"]}})
        ws_id = ws[1]["result"]["id"]
        mine = client.post(f"/w/{ws_id}/api/saved_objects/visualization/mine",
                           {"attributes": {"title": "My chart", "visState": "{}"}})[1]

        docker("rm", "-f", first)  # the container replaced, as `pulumi up` replaces it
        run_double(second, port, f"http://127.0.0.1:{os_port}")
        wait_status(client, 200)
        got = client.get(f"/w/{ws_id}/api/saved_objects/visualization/mine")[1]
        assert got["attributes"] == mine["attributes"] and got["version"] == mine["version"]
        listed = client.post("/api/workspaces/_list", {})[1]["result"]["workspaces"]
        assert [(w["id"], w["name"]) for w in listed] == [(ws_id, "Clawker")]
    finally:
        docker("rm", "-f", first, second, check=False)
        late_opensearch.close()
