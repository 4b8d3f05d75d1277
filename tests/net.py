"""Small helpers shared by the test layers: ports, waiting for a condition, a proxy that loses answers."""

import json
import socket
import time
from typing import Any, Callable


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unused_port(config: dict) -> int:
    """A free port that no address in `config` (a collector config about to start) names: free_port()
    may hand back a port it gave before, which that config's own listener would then take first."""
    text = json.dumps(config)
    while True:
        port = free_port()
        if f":{port}\"" not in text:
            return port


def wait_until(
    probe: Callable[[], Any], timeout_s: float, what: str, detail: Callable[[], str] = lambda: "", every: float = 1.0
) -> Any:
    """Poll probe() until it returns something truthy (and return that); fail naming `what` after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        got = probe()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout_s}s. {detail()}")
        time.sleep(every)


class AnswerLosingProxy:
    """An HTTP proxy on 127.0.0.1 in front of `upstream` that loses answers on purpose.

    Every request is forwarded as sent (chunked bodies read whole, gzip passed through).
    After the upstream has answered, `lose(method, path, body, status, answer)` decides
    (under the proxy's lock; `body` and `answer` decompressed, `path` without its query):
    if it says so, `on_lost()` runs and the client's connection is closed without a
    byte: the server did the work, the client never hears of it. `forwarded[(method,
    path)]` counts what reached the upstream; subclasses keep what they lost.
    """

    def __init__(self, upstream: str, lose: Callable[..., bool], on_lost: Callable[[], None] = lambda: None):
        import collections
        import gzip
        import http.client
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import urlsplit

        target = urlsplit(upstream)
        self.forwarded: collections.Counter = collections.Counter()
        self.lock = threading.Lock()
        proxy = self

        def plain(data: bytes, encoding) -> bytes:
            return gzip.decompress(data) if data and encoding == "gzip" else data

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            self.rfile.readline()
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _forward(self) -> None:
                body = self._body()
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("transfer-encoding", "connection", "host")}
                headers["Content-Length"] = str(len(body))
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
                conn.request(self.command, self.path, body=body, headers=headers)
                answer = conn.getresponse()
                data = answer.read()
                conn.close()
                path = self.path.split("?")[0]
                with proxy.lock:
                    proxy.forwarded[(self.command, path)] += 1
                    lost = lose(
                        self.command, path, plain(body, self.headers.get("Content-Encoding")),
                        answer.status, plain(data, answer.getheader("Content-Encoding")),
                    )
                if lost:
                    on_lost()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                try:
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # a client killed while this answer was on its way

            do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = do_HEAD = _forward

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class AnswerDroppingProxy(AnswerLosingProxy):
    """Loses the upstream's answer to the first `drops` requests matching (method, path)."""

    def __init__(self, upstream: str, method: str, path: str, drops: int = 1):
        self.dropped = 0

        def lose(m: str, p: str, _body: bytes, _status: int, _answer: bytes) -> bool:
            if (m, p) == (method, path) and self.dropped < drops:
                self.dropped += 1
                return True
            return False

        super().__init__(upstream, lose)
