"""Fixture: the OpenSearch Dashboards contract DOUBLE as a local process.

Imported by tests/providers/test_dashboards_providers.py (tests/providers/conftest.py
belongs to the OpenSearch provider tests). Each test gets a fresh double on a free
port, so no state leaks between tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from net import free_port

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DOUBLE = ROOT / "tests" / "dashboards_double" / "server.py"
START_TIMEOUT_S = 20



@dataclass
class DashboardsDouble:
    url: str
    log_path: Path

    def call(self, method: str, path: str, body: Any = None, **kwargs) -> requests.Response:
        """Out-of-band API access, as a user (or another tool) would change Dashboards."""
        return requests.request(
            method, self.url + path, json=body, headers={"osd-xsrf": "true"}, timeout=10, **kwargs
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture()
def dashboards_double():
    if not DOUBLE.exists():
        pytest.fail(f"the Dashboards contract double is missing: {DOUBLE}")
    port = free_port()
    log_file = tempfile.NamedTemporaryFile(prefix="dashboards-double-", suffix=".log", delete=False)
    env = {k: v for k, v in os.environ.items() if k not in ("OPENSEARCH_HOSTS", "DASHBOARDS_DOUBLE_STATE")}
    proc = subprocess.Popen(
        [sys.executable, str(DOUBLE), "--port", str(port), "--host", "127.0.0.1"],
        stdout=log_file,
        stderr=subprocess.STDOUT,
        env=env,
    )
    double = DashboardsDouble(url=f"http://127.0.0.1:{port}", log_path=Path(log_file.name))
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            pytest.fail(f"the Dashboards double exited with {proc.returncode}:\n{double.log()}")
        try:
            if requests.get(double.url + "/api/status", timeout=2).status_code == 200:
                break
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the Dashboards double did not answer within {START_TIMEOUT_S}s:\n{double.log()}")
        time.sleep(0.1)
    try:
        yield double
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log_file.close()
        os.unlink(log_file.name)
