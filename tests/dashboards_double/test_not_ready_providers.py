"""The Dashboards providers against the double's not-ready phase (http_service.ts runNotReadyServer at
the 3.6.0 tag: 503 "OpenSearch Dashboards server is not ready yet", Retry-After: 30).

A provider's readiness gate (components/providers/dashboards/base.py wait_ready) must take that
503 as "not yet", keep waiting, and go on once Dashboards is ready; it polls its cheap local
status endpoint every WAIT_POLL_S on purpose rather than pausing the 30 s the header asks for
(a cold `up` would wait up to 30 s more after Dashboards is ready), and its bound still applies.
"""

from __future__ import annotations

import threading

import pytest
import requests

from dd_helpers import Forwarder, start, stop
from net import free_port

from components.providers.dashboards import base
from components.providers.http_client import ApiClient, ApiError


def test_the_readiness_gate_waits_through_the_not_ready_503_then_goes_on(node, monkeypatch):
    port = free_port()
    srv, app = start([f"http://127.0.0.1:{port}"], wait_ready=False)
    url = f"http://127.0.0.1:{srv.server_address[1]}"
    late_opensearch = Forwarder(port, node.url)
    seen, seen_503 = [], threading.Event()
    real_get = requests.Session.get

    def recording_get(session, *args, **kwargs):
        answer = real_get(session, *args, **kwargs)
        seen.append((answer.status_code, answer.headers.get("Retry-After")))
        if answer.status_code == 503:
            seen_503.set()
        return answer

    monkeypatch.setattr(requests.Session, "get", recording_get)
    outcome: dict = {}

    def gate():
        try:
            base.wait_ready(ApiClient(url, headers=dict(base.XSRF_HEADERS)), timeout_s=60)
            outcome["ready"] = True
        except ApiError as exc:
            outcome["error"] = exc

    waiter = threading.Thread(target=gate)
    try:
        waiter.start()
        assert seen_503.wait(30), seen  # the gate met the not-ready server ...
        late_opensearch.start()  # ... and Dashboards becomes ready only now
        waiter.join(60)
        assert outcome == {"ready": True}, outcome
        assert (503, "30") in seen and seen[-1][0] == 200, seen
    finally:
        stop(srv, app)
        late_opensearch.close()


def test_the_gate_still_gives_up_within_its_bound_on_a_dashboards_that_never_gets_ready():
    # Negative control: OpenSearch never comes: the 503s end in a failure naming Dashboards.
    srv, app = start([f"http://127.0.0.1:{free_port()}"], wait_ready=False)
    url = f"http://127.0.0.1:{srv.server_address[1]}"
    try:
        with pytest.raises(ApiError, match=r"OpenSearch Dashboards .*was not ready.*HTTP 503"):
            base.wait_ready(ApiClient(url, headers=dict(base.XSRF_HEADERS)), timeout_s=2)
    finally:
        stop(srv, app)
