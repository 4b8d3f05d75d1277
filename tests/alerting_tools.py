"""The real alerting programs the tests run: Alertmanager and amtool (tools/alerting.sh builds
them from github.com/prometheus/alertmanager at CLAWKER_ALERTMANAGER_VERSION) and promtool
(from the Prometheus module at CLAWKER_PROMETHEUS_MODULE_VERSION), found in the cache."""

from __future__ import annotations

import os
import re
from pathlib import Path

from prerequisites import unavailable

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("CLAWKER_CACHE", Path.home() / ".cache" / "clawker-monitor"))


def _version(name: str) -> str:
    text = (ROOT / "tools" / "versions.sh").read_text()
    return re.search(rf"^{name}=(\S+)", text, re.M).group(1)


def _binary(path: Path) -> str:
    if not (path.is_file() and os.access(path, os.X_OK)):
        unavailable(f"no {path.name} at {path} (bash tools/alerting.sh builds it)")
    return str(path)


def alertmanager() -> str:
    return _binary(CACHE / f"alertmanager-{_version('CLAWKER_ALERTMANAGER_VERSION')}" / "alertmanager")


def amtool() -> str:
    return _binary(CACHE / f"alertmanager-{_version('CLAWKER_ALERTMANAGER_VERSION')}" / "amtool")


def promtool() -> str:
    return _binary(CACHE / f"prometheus-{_version('CLAWKER_PROMETHEUS_VERSION')}" / "promtool")
