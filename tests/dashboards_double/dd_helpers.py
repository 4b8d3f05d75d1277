"""Helpers for the OpenSearch Dashboards contract DOUBLE's tests: load the server module,
start it in a thread, talk to it with a small stdlib client."""

from __future__ import annotations

import importlib.util
import json
import socket
import sys
import threading
import time
import urllib.error
import urllib.parse
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


def start(opensearch_hosts: list[str], wait_ready: bool = True):
    """The double in a thread, pointed at a REAL OpenSearch (it keeps its objects there)."""
    srv, app = double.make_server("127.0.0.1", 0, opensearch_hosts)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while wait_ready and not app.ready:
        if time.monotonic() > deadline:
            stop(srv, app)
            raise AssertionError(f"the double did not get ready against {opensearch_hosts} in 30s")
        time.sleep(0.05)
    return srv, app


def stop(srv, app):
    app.stop()
    srv.shutdown()
    srv.server_close()


def saved_objects_indices(node) -> list[str]:
    """The indices the double (like Dashboards) made for its saved objects: .kibana_N."""
    answer = node.call("GET", "_cat/indices/.kibana*", params={"format": "json", "h": "index"})
    return sorted(e["index"] for e in answer.json()) if answer.status_code == 200 else []


def drop_saved_objects(node) -> None:
    """What removing OpenSearch's volume does to Dashboards' state: the index goes."""
    for index in saved_objects_indices(node):
        node.call("DELETE", index)


def raw_saved_object(node, type_: str, id_: str):
    """The document as it sits in OpenSearch (None when absent), read behind the double's back."""
    answer = node.call("GET", f".kibana/_doc/{type_}:{id_}")
    return answer.json() if answer.status_code == 200 else None


class Forwarder:
    """A TCP port that forwards to the real OpenSearch once started: 'OpenSearch comes up later'."""

    def __init__(self, port: int, target_url: str):
        self.port = port
        parsed = urllib.parse.urlsplit(target_url)
        self.target = (parsed.hostname, parsed.port)
        self.sock = None

    def start(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                conn.close()
                continue
            for a, b in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src, dst) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        if self.sock:
            self.sock.close()
