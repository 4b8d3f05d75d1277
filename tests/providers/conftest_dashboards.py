"""Fixture: the OpenSearch Dashboards contract DOUBLE as a local process.

Imported by tests/providers/test_dashboards_providers.py (tests/providers/conftest.py
belongs to the OpenSearch provider tests). The double keeps its saved objects in the
session's REAL OpenSearch (the `opensearch` fixture), as Dashboards keeps them in .kibana;
each test gets a fresh double on a free port over an emptied saved-objects index.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

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
    node: Any = None  # the real OpenSearch holding the double's saved objects (.kibana)
    port: int = 0
    proc: Optional[subprocess.Popen] = None

    def call(self, method: str, path: str, body: Any = None, **kwargs) -> requests.Response:
        """Out-of-band API access, as a user (or another tool) would change Dashboards."""
        return requests.request(
            method, self.url + path, json=body, headers={"osd-xsrf": "true"}, timeout=10, **kwargs
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if k != "OPENSEARCH_HOSTS"}
        env["OPENSEARCH_HOSTS"] = json.dumps([self.node.url])
        log_file = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            [sys.executable, str(DOUBLE), "--port", str(self.port), "--host", "127.0.0.1"],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"the Dashboards double exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if requests.get(self.url + "/api/status", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                self.proc.kill()
                pytest.fail(f"the Dashboards double did not answer within {START_TIMEOUT_S}s:\n{self.log()}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self.proc = None

    def replace(self) -> None:
        """A new double process over the same OpenSearch: what a replaced container is."""
        self.stop()
        self.start()


def drop_saved_objects(node) -> None:
    """Dashboards' .kibana indices removed: what a purged OpenSearch volume does to them."""
    answer = node.call("GET", "_cat/indices/.kibana*", params={"format": "json", "h": "index"})
    for entry in answer.json() if answer.status_code == 200 else []:
        node.call("DELETE", entry["index"])


@pytest.fixture()
def dashboards_double(opensearch):
    """A fresh double on a free port whose saved objects live in the session's real OpenSearch
    (an empty saved-objects index, as on a new volume)."""
    if not DOUBLE.exists():
        pytest.fail(f"the Dashboards contract double is missing: {DOUBLE}")
    drop_saved_objects(opensearch)
    port = free_port()
    log_file = tempfile.NamedTemporaryFile(prefix="dashboards-double-", suffix=".log", delete=False)
    log_file.close()
    double = DashboardsDouble(url=f"http://127.0.0.1:{port}", log_path=Path(log_file.name),
                              node=opensearch, port=port)
    double.start()
    try:
        yield double
    finally:
        double.stop()
        os.unlink(log_file.name)
