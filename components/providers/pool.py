"""More than four provider calls at once in the dynamic-provider process.

Every dynamic resource of a Python program is served by one process, `python -m
pulumi.dynamic`, whose gRPC server runs on `ThreadPoolExecutor(max_workers=4)`
(pulumi/dynamic/__main__.py, `main()`; no setting changes it). Our providers'
calls are HTTP round trips, so four at once made the bootstrap wait on the pool,
not on OpenSearch or Dashboards: on a cold `pulumi up` the pipelines, templates,
indices and the Dashboards explore objects queued behind each other, and a no-op
preview's 60-odd check and diff calls went four at a time (issue 11's profile).

`widen()` runs when the first provider is unpickled in that process (kit.py
imports this module) and raises the server's pool to WORKERS. It touches only
that process (the program's own process has no such server) and only a pool
still at the SDK's 4, so it is a no-op on an SDK that already serves more; if a
future SDK stops making the pool this way, nothing is found and nothing changes.
tests/unit/test_provider_pool.py serves calls through the real SDK process and
counts how many run at once, with a control provider that does not import this.
"""

from __future__ import annotations

import gc
import sys
import threading
from concurrent import futures

# The SDK's hard-coded pool size, and ours. 16 covers the widest level of the stack's
# graph (the 14 index templates and pipelines, 7 indices; 21 explore objects before they became one
# resource per unit) without one thread per resource.
SDK_WORKERS = 4
WORKERS = 16
DYNAMIC_MAIN = "pulumi.dynamic.__main__"

_lock = threading.Lock()
_widened: list[futures.ThreadPoolExecutor] = []


def in_dynamic_provider_process() -> bool:
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    return getattr(spec, "name", None) == DYNAMIC_MAIN


def widen(workers: int = WORKERS) -> int:
    """Raise the gRPC server's pool in the dynamic-provider process; returns how many pools."""
    if not in_dynamic_provider_process():
        return 0
    with _lock:
        if _widened:
            return len(_widened)
        for obj in gc.get_objects():
            if (
                type(obj) is futures.ThreadPoolExecutor
                and getattr(obj, "_max_workers", None) == SDK_WORKERS
                and not getattr(obj, "_shutdown", True)
            ):
                # ThreadPoolExecutor reads _max_workers on every submit to decide whether
                # to start another thread: raising it lets the pool grow on demand.
                obj._max_workers = workers
                _widened.append(obj)
        return len(_widened)
