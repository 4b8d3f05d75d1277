"""What a machine collector says about its credential (components/services/collector_machine.py).

- `refusals(log)`: the lines of its log that report the team cluster refusing its credential: the
  debug exporter (verbosity normal) prints one line per datapoint, `name{attributes} value`, and
  the refusal's datapoint carries the status and the reason (`why`).
- `reported(prometheus_url, auth, ca, machine, since)`: the values of its clawker_machine_credential_refused
  series in a (team) Prometheus, one per cluster URL it checks.
"""

from __future__ import annotations

import requests

from components.services import collector_machine


def refusals(log: str) -> list[str]:
    prefix = collector_machine.REFUSED_METRIC + "{"
    return [line.strip() for line in log.splitlines() if prefix in line and line.rstrip().endswith("} 1")]


def says_why(line: str) -> bool:
    return "http.status_code=401" in line and f"why={collector_machine.REFUSED_WHY}" in line


def reported(prometheus_url: str, auth: tuple[str, str], ca: str, machine: str, since: float = 0) -> dict[str, float]:
    """http_url -> the latest value of the machine's clawker_machine_credential_refused series (only
    series whose latest sample is from `since` (a Unix time) or later)."""
    from components.services.prometheus_config import MACHINE_REFUSED_METRIC

    selector = f'{MACHINE_REFUSED_METRIC}{{machine="{machine}"}}'

    def query(q: str) -> dict[str, float]:
        answer = requests.get(f"{prometheus_url}/api/v1/query", params={"query": q}, auth=auth, verify=ca, timeout=10)
        assert answer.status_code == 200, answer.text[:1000]
        return {r["metric"].get("http_url", ""): float(r["value"][1]) for r in answer.json()["data"]["result"]}

    values, sampled = query(selector), query(f"timestamp({selector})")
    return {url: v for url, v in values.items() if sampled.get(url, 0) >= since}
