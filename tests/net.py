"""Small helpers shared by the test layers: ports, and waiting for a condition."""

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
