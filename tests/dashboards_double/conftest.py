"""Fixtures for the OpenSearch Dashboards contract DOUBLE's own tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dd_helpers import Client, start, stop  # noqa: E402


@pytest.fixture()
def client():
    srv, app = start()
    try:
        yield Client(f"http://127.0.0.1:{srv.server_address[1]}")
    finally:
        stop(srv, app)


@pytest.fixture()
def workspace(client):
    """A workspace named 'Clawker' (use case: all); returns its generated id."""
    status, body, _ = client.post("/api/workspaces", {
        "attributes": {"name": "Clawker", "features": ["use-case-all"]}})
    assert status == 200 and body["success"] is True, body
    return body["result"]["id"]
