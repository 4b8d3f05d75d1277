"""ApiClient against a tiny local server: retries, the total bound, and readable failures."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from components.providers.http_client import ApiClient, ApiError


class Scripted:
    """A server answering each request with the next (status, body) of a script; the last one repeats."""

    def __init__(self, script):
        self.script = list(script)
        self.calls = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                status, body = outer.script[min(outer.calls, len(outer.script) - 1)]
                outer.calls += 1
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = _answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def scripted():
    servers = []

    def make(*script):
        server = Scripted(script)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


OPENSEARCH_400 = {
    "error": {
        "root_cause": [{"type": "mapper_parsing_exception", "reason": "No handler for type [strnig] declared on field [x]"}],
        "type": "mapper_parsing_exception",
        "reason": "Failed to parse mapping: No handler for type [strnig] declared on field [x]",
    },
    "status": 400,
}


def test_5xx_is_retried_until_it_succeeds(scripted):
    server = scripted((503, {"error": "busy"}), (502, {"error": "busy"}), (200, {"ok": True}))
    assert ApiClient(server.url, total_timeout_s=20).request("PUT", "x", json_body={}) == {"ok": True}
    assert server.calls == 3


def test_4xx_fails_at_once_with_the_servers_reason(scripted):
    server = scripted((400, OPENSEARCH_400))
    started = time.monotonic()
    with pytest.raises(ApiError) as err:
        ApiClient(server.url, total_timeout_s=20).request("PUT", "_component_template/x", json_body={})
    assert server.calls == 1 and time.monotonic() - started < 2
    assert err.value.status == 400 and "No handler for type [strnig]" in err.value.reason
    assert f"PUT {server.url}/_component_template/x answered HTTP 400" in str(err.value)


def test_endless_5xx_stops_at_the_bound_naming_the_last_answer(scripted):
    server = scripted((503, {"error": {"type": "cluster_block_exception", "reason": "blocked by: [SERVICE_UNAVAILABLE]"}}))
    started = time.monotonic()
    with pytest.raises(ApiError) as err:
        ApiClient(server.url, total_timeout_s=3).request("GET", "_cluster/health")
    elapsed = time.monotonic() - started
    assert 2.5 <= elapsed <= 4.0, elapsed
    assert "within 3s" in str(err.value) and "HTTP 503" in str(err.value) and "SERVICE_UNAVAILABLE" in str(err.value)
    assert server.calls >= 2


def test_missing_ok_and_wait_until(scripted):
    server = scripted((404, {"error": "nope"}))
    assert ApiClient(server.url).request("GET", "x", missing_ok=True) is None
    ready = scripted((503, "not yet"), (503, "not yet"), (200, "ready"))
    client = ApiClient(ready.url)
    assert client.wait_until("-/ready", lambda status, _: status == 200, timeout_s=20, what="Prometheus") == "ready"
    never = scripted((503, "Service Unavailable"))
    with pytest.raises(ApiError) as err:
        ApiClient(never.url).wait_until("-/ready", lambda status, _: status == 200, timeout_s=2, what="Prometheus")
    assert "Prometheus was not ready" in str(err.value) and "HTTP 503" in str(err.value)


def test_sql_plugin_errors_carry_their_details(scripted):
    # The SQL plugin's error shape: the useful text is in `details`.
    body = {
        "error": {
            "reason": "Invalid Request",
            "details": "DataSource with name clawker_prometheus doesn't exist.",
            "type": "IllegalArgumentException",
        },
        "status": 400,
    }
    server = scripted((400, body))
    with pytest.raises(ApiError) as err:
        ApiClient(server.url).request("GET", "_plugins/_query/_datasources/clawker_prometheus")
    assert "doesn't exist" in err.value.reason and "IllegalArgumentException" in err.value.reason
