"""Small helpers shared by the test layers: ports, waiting for a condition, a proxy that loses answers."""

import socket
import time
from typing import Any, Callable


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


class AnswerDroppingProxy:
    """An HTTP proxy on 127.0.0.1 in front of `upstream` that loses answers on purpose.

    Every request is forwarded. For the first `drops` requests matching (method, path),
    the upstream's answer is thrown away and the client's connection closed instead: the
    server did the work, the client never hears of it. `forwarded[(method, path)]` counts
    what reached the upstream.
    """

    def __init__(self, upstream: str, method: str, path: str, drops: int = 1):
        import collections
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        import requests

        self.forwarded: collections.Counter = collections.Counter()
        self.dropped = 0
        outer = self
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                answer = requests.request(
                    self.command, upstream.rstrip("/") + self.path, data=body, headers=headers, timeout=60
                )
                key = (self.command, self.path.split("?")[0])
                with lock:
                    outer.forwarded[key] += 1
                    lose = key == (method, path) and outer.dropped < drops
                    outer.dropped += lose
                if lose:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.send_response(answer.status_code)
                for name in ("Content-Type",):
                    if name in answer.headers:
                        self.send_header(name, answer.headers[name])
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = do_HEAD = _forward

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
