"""Dynamic providers for tests/unit/test_provider_pool.py: each check call reports how
many calls were running at once. `Plain` imports nothing of ours, so it runs on the
SDK's own pool; pool_probe_widened.Widened imports the providers' kit, as every
provider of the stack does."""

from __future__ import annotations

import threading
import time

from pulumi.dynamic import CheckResult, ResourceProvider

HOLD_S = 0.4
_lock = threading.Lock()
_state = {"active": 0, "peak": 0}


def _counted(news: dict) -> CheckResult:
    with _lock:
        _state["active"] += 1
        _state["peak"] = max(_state["peak"], _state["active"])
    time.sleep(HOLD_S)
    with _lock:
        peak = _state["peak"]
        _state["active"] -= 1
    return CheckResult({**news, "peak": peak}, [])


class Plain(ResourceProvider):
    def check(self, olds: dict, news: dict) -> CheckResult:
        return _counted(news)
