"""The readiness gate (components/providers/readiness.py) against scripted servers and a real OpenSearch."""

from __future__ import annotations

import time

import pytest
from test_http_client import scripted  # noqa: F401  (fixture)

from components.services.opensearch import HEALTH_PATH
from components.providers import http_client
from components.providers.http_client import ApiError
from components.providers.readiness import POLL_S, ServiceReadyProvider

TIMED_OUT = {"cluster_name": "c", "status": "red", "timed_out": True}
YELLOW = {"cluster_name": "c", "status": "yellow", "timed_out": False}


def props(url: str, target: str = "container-1", timeout_s: float = 10) -> dict:
    return {"url": url, "target": target, "timeout_s": timeout_s, "what": "OpenSearch"}


def test_waits_through_refusals_and_accepts_only_what_curl_f_accepts(scripted, monkeypatch):  # noqa: F811
    # 503 while the node elects itself, 408 while wait_for_status times out: not ready; then 200.
    server = scripted((503, {}), (408, TIMED_OUT), (408, TIMED_OUT), (200, YELLOW))
    pauses = []
    real_sleep = time.sleep

    def recorded(seconds):
        pauses.append(seconds)
        real_sleep(seconds)

    monkeypatch.setattr(http_client.time, "sleep", recorded)
    result = ServiceReadyProvider().create(props(server.url + HEALTH_PATH))
    monkeypatch.undo()
    assert server.calls == 4
    # Polled at the readiness interval, not at Docker's 10 s healthcheck interval: one pause
    # between two probes, none longer than POLL_S (counted, not timed).
    assert len(pauses) == 3 and all(p <= POLL_S for p in pauses), pauses
    assert result.id == "container-1"
    assert result.outs["url"] == server.url + HEALTH_PATH


def test_never_ready_fails_with_the_url_and_the_last_answer(scripted):  # noqa: F811
    server = scripted((408, TIMED_OUT))
    with pytest.raises(ApiError) as err:
        ServiceReadyProvider().create(props(server.url + HEALTH_PATH, timeout_s=1.5))
    text = str(err.value)
    assert "OpenSearch was not ready" in text and server.url in text and "HTTP 408" in text
    assert server.calls >= 3


def test_a_new_container_is_waited_for_again_and_nothing_else_changes():
    provider = ServiceReadyProvider()
    old = props("http://127.0.0.1:9200" + HEALTH_PATH)
    assert not provider.diff("x", old, dict(old)).changes
    changed = provider.diff("x", old, {**old, "target": "container-2"})
    assert changed.changes and not changed.replaces
    assert provider.diff("x", old, {**old, "url": "http://127.0.0.1:19200" + HEALTH_PATH}).changes


def test_bad_inputs_fail_check_naming_the_input():
    failures = ServiceReadyProvider().check({}, {**props("localhost:9200"), "timeout_s": 0}).failures
    assert {f.property for f in failures} == {"url", "timeout_s"}


def test_real_opensearch_is_ready(opensearch):
    result = ServiceReadyProvider().create(props(opensearch.url + HEALTH_PATH, timeout_s=30))
    assert result.outs["target"] == "container-1"
