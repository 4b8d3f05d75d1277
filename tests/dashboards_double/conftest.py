"""Fixtures for the OpenSearch Dashboards contract DOUBLE's own tests.

The double keeps its saved objects in a REAL OpenSearch (like Dashboards keeps them in
its .kibana index), so these tests run one: the session's `opensearch` (tests/conftest.py,
a local process shared with the provider tests; fails in CI when it cannot start).
Each test starts from an OpenSearch without the saved-objects index.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from dd_helpers import Client, drop_saved_objects, start, stop  # noqa: E402


@pytest.fixture()
def node(opensearch):
    """The session's OpenSearch without any saved-objects index (a fresh data volume)."""
    drop_saved_objects(opensearch)
    return opensearch


@pytest.fixture()
def client(node):
    srv, app = start([node.url])
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
