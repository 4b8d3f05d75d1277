"""Helpers for the OpenSearch Dashboards contract DOUBLE's tests: load the server module,
start it in a thread, talk to it with a small stdlib client."""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
import urllib.error
import urllib.request
import uuid
from pathlib import Path

SERVER_PATH = Path(__file__).resolve().parent / "server.py"
_spec = importlib.util.spec_from_file_location("dashboards_double_server", SERVER_PATH)
double = importlib.util.module_from_spec(_spec)
sys.modules["dashboards_double_server"] = double
_spec.loader.exec_module(double)


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Client:
    """Tiny stdlib HTTP client: every call returns (status, parsed body, headers)."""

    def __init__(self, base: str):
        self.base = base

    def call(self, method: str, path: str, body=None, *, xsrf: bool = True,
             headers: dict | None = None, raw: bytes | None = None,
             content_type: str | None = "application/json"):
        hdrs = dict(headers or {})
        if xsrf:
            hdrs.setdefault("osd-xsrf", "true")
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
        if data is not None and content_type:
            hdrs.setdefault("Content-Type", content_type)
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=hdrs)
        try:
            with _OPENER.open(req, timeout=10) as resp:
                status, payload, rh = resp.status, resp.read(), dict(resp.headers)
        except urllib.error.HTTPError as e:
            status, payload, rh = e.code, e.read(), dict(e.headers)
        text = payload.decode("utf-8")
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = text
        return status, parsed, rh

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.call("POST", path, body, **kw)

    def put(self, path, body=None, **kw):
        return self.call("PUT", path, body, **kw)

    def delete(self, path, **kw):
        return self.call("DELETE", path, **kw)

    def import_ndjson(self, path: str, lines: list, *, filename: str = "export.ndjson",
                      xsrf: bool = True, raw_text: str | None = None):
        text = raw_text if raw_text is not None else "\n".join(
            line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"
        boundary = "----double" + uuid.uuid4().hex
        body = (f"--{boundary}\r\n"
                f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                f"Content-Type: application/ndjson\r\n\r\n").encode() + text.encode() + \
            f"\r\n--{boundary}--\r\n".encode()
        return self.call("POST", path, raw=body, xsrf=xsrf,
                         content_type=f"multipart/form-data; boundary={boundary}")


def start(opensearch_hosts=None, state_path=None):
    srv, app = double.make_server("127.0.0.1", 0, opensearch_hosts, state_path)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return srv, app


def stop(srv, app):
    app.stop()
    srv.shutdown()
    srv.server_close()
