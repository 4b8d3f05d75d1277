"""The alerting rules we render, loaded and evaluated by a REAL Prometheus 3 binary.

What `promtool check rules` would say, and more: Prometheus refuses to start on a
rule file it cannot parse (the negative control below shows it does), lists every
rendered rule on its rules API with health "ok" once evaluated, and a rule fed
series over its threshold fires while the same rule with a higher threshold stays
inactive; each of the four rules is shown firing (cost, API error rate, a
backed-up collector queue, failed sends) and inactive on data under its threshold.
Series are pushed over OTLP (Claude Code's with delta temporality, the collector's
cumulative), names translated by Prometheus' own OTLP receiver.

Differences from the stack, for speed only: rules are evaluated every second (the
stack: 15s) and the pending time (`for`) is 0.
"""

from __future__ import annotations

import copy
import datetime
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import pytest
import requests
import yaml

from net import free_port, wait_until
from opensearch_node import _prometheus_binary
from otlp_sender import send_delta_counters
from prerequisites import unavailable

from components.services import config_file, prometheus_config
from components.settings import validate

EVALUATION = "1s"
FAILED_SENDS = "otelcol_exporter_send_failed_log_records"


class Prom:
    def __init__(self, binary: str, workdir: Path, rules: dict, alertmanager: str = ""):
        self.workdir = workdir
        config = prometheus_config.render(validate({}))
        config["global"]["evaluation_interval"] = EVALUATION
        if alertmanager:  # host:port of a real Alertmanager (test_alert_delivery)
            config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
        rules_file = workdir / "rules.yml"
        config["rule_files"] = [str(rules_file)]
        # No collector to scrape here; series arrive over OTLP instead.
        config["scrape_configs"] = []
        rules_file.write_text(config_file.to_yaml(rules))
        (workdir / "prometheus.yml").write_text(config_file.to_yaml(config))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "prometheus.log"
        self.proc = subprocess.Popen(
            [
                binary,
                f"--config.file={workdir / 'prometheus.yml'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                f"--storage.tsdb.path={workdir / 'data'}",
                "--web.enable-otlp-receiver",
                "--enable-feature=otlp-deltatocumulative",
            ],
            stdout=open(self.log, "w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def ready(self, timeout_s: float = 60) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                if requests.get(f"{self.url}/-/ready", timeout=2).status_code == 200:
                    return True
            except requests.RequestException:
                pass
            time.sleep(0.3)
        return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)

    def api(self, path: str) -> Any:
        body = requests.get(f"{self.url}/api/v1/{path}", timeout=10).json()
        assert body["status"] == "success", body
        return body["data"]

    def rules(self) -> dict[tuple[str, str], dict]:
        return {(g["name"], r["name"]): r for g in self.api("rules")["groups"] for r in g["rules"]}

    def samples(self, name: str) -> int:
        """How many samples of `name` (with or without the _total suffix OTLP translation adds) are stored."""
        query = f'sum(count_over_time({{__name__=~"{name}(_total)?"}}[1h]))'
        result = requests.get(f"{self.url}/api/v1/query", params={"query": query}, timeout=10).json()["data"]["result"]
        return int(float(result[0]["value"][1])) if result else 0

    def wait_for_samples(self, name: str, count: int) -> None:
        wait_until(lambda: self.samples(name) >= count, 30, f"{count} samples of {name} stored",
                   lambda: f"{self.samples(name)} stored", every=0.1)

    def wait_evaluated_since(self, group: str, since: float) -> None:
        """Until `group` has been evaluated a whole interval after `since` (wall clock, this host's: an
        evaluation's query time is its scheduled tick, a little before the lastEvaluation it reports)."""
        after = since + float(EVALUATION.removesuffix("s"))

        def evaluated() -> bool:
            (found,) = [g for g in self.api("rules")["groups"] if g["name"] == group]
            stamp = found.get("lastEvaluation") or ""
            if not stamp or stamp.startswith("0001-"):
                return False
            whole, _, fraction = stamp.rstrip("Z").partition(".")
            at = datetime.datetime.fromisoformat(whole).replace(tzinfo=datetime.timezone.utc).timestamp()
            return at + float(f"0.{fraction or 0}") > after

        wait_until(evaluated, 30, f"rule group {group} evaluated after {after}", every=0.2)


def binary() -> str:
    found = _prometheus_binary()
    if not found:
        unavailable("no Prometheus 3 binary under ~/.cache/clawker-monitor/prometheus-*/ (tools/images.sh builds it)")
    return found


@pytest.fixture
def workdir():
    path = Path(tempfile.mkdtemp(prefix="clawker-prom-rules-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def with_control(rules: dict, raised: dict) -> dict:
    """The rendered groups plus a copy of `raised`'s groups renamed `<name>-control`."""
    out = copy.deepcopy(rules)
    for group in copy.deepcopy(raised)["groups"]:
        group["name"] += "-control"
        out["groups"].append(group)
    return out


def push_collector_telemetry(prom: "Prom", *, queue_size: int, queue_capacity: int, failed: list[int]) -> None:
    """The collector's self-metrics as they reach Prometheus: queue gauges and a send-failure counter.

    One export per entry of `failed`, each waited for until Prometheus has stored it (increase()
    needs two samples of the counter, each with its own timestamp)."""
    url = prom.url
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricExportResult
    from opentelemetry.sdk.resources import Resource

    reader = InMemoryMetricReader()  # cumulative, as the collector's Prometheus exporter serves them
    provider = MeterProvider(resource=Resource.create({"service.name": "otelcol-contrib"}), metric_readers=[reader])
    meter = provider.get_meter("collector-self")
    exporter_label = {"exporter": "opensearch/claude-code", "data_type": "logs"}
    size = meter.create_gauge("otelcol_exporter_queue_size")
    capacity = meter.create_gauge("otelcol_exporter_queue_capacity")
    failures = meter.create_counter("otelcol_exporter_send_failed_log_records")
    exporter = OTLPMetricExporter(endpoint=f"{url}/api/v1/otlp/v1/metrics", timeout=10)
    stored = prom.samples(FAILED_SENDS)
    for increment in failed:
        size.set(queue_size, exporter_label)
        capacity.set(queue_capacity, exporter_label)
        failures.add(increment, exporter_label)
        assert exporter.export(reader.get_metrics_data()) == MetricExportResult.SUCCESS
        stored += 1
        prom.wait_for_samples(FAILED_SENDS, stored)
    provider.shutdown()


def test_collector_rules_fire_on_a_backed_up_queue_and_failed_sends(workdir):
    low = validate({"alertCollectorQueuePercent": "50", "alertForMinutes": 0})
    high = validate({"alertCollectorQueuePercent": "90", "alertForMinutes": 0})
    prom = Prom(binary(), workdir, with_control(prometheus_config.render_rules(low), prometheus_config.render_rules(high)))
    try:
        assert prom.ready(), prom.log.read_text()[-3000:]
        # Negative control first: an empty queue and no failure fire nothing.
        group = prometheus_config.GROUP_COLLECTOR
        push_collector_telemetry(prom, queue_size=0, queue_capacity=1000, failed=[0, 0])
        prom.wait_evaluated_since(group, time.time())
        rules = prom.rules()
        for alert in (prometheus_config.ALERT_COLLECTOR_QUEUE, prometheus_config.ALERT_COLLECTOR_FAILING):
            assert rules[(group, alert)]["state"] == "inactive", rules[(group, alert)]
            assert rules[(group, alert)]["health"] == "ok", rules[(group, alert)]
        # 80% full and 5 records failed.
        push_collector_telemetry(prom, queue_size=800, queue_capacity=1000, failed=[2, 3])
        for alert in (prometheus_config.ALERT_COLLECTOR_QUEUE, prometheus_config.ALERT_COLLECTOR_FAILING):
            wait_until(lambda: prom.rules()[(group, alert)]["state"] == "firing", 30, f"{alert}: {prom.rules()[(group, alert)]}")
        assert prom.rules()[(f"{group}-control", prometheus_config.ALERT_COLLECTOR_QUEUE)]["state"] == "inactive"
        firing = [a for a in prom.api("alerts")["alerts"] if a["state"] == "firing"]
        assert {a["labels"]["exporter"] for a in firing} == {"opensearch/claude-code"}
    finally:
        prom.stop()


def test_prometheus_refuses_a_broken_rule_file(workdir):
    """Negative control: the loading check below could fail."""
    broken = {"groups": [{"name": "broken", "rules": [{"alert": "Broken", "expr": "sum(("}]}]}
    prom = Prom(binary(), workdir, broken)
    try:
        assert not prom.ready(timeout_s=30), "Prometheus started with an unparsable rule"
        assert "error loading rules" in prom.log.read_text().lower() or "parse error" in prom.log.read_text().lower()
    finally:
        prom.stop()


def test_rendered_rules_load_evaluate_and_fire_over_their_threshold(workdir):
    low = validate({"alertCostPerHourUsd": "0.5", "alertApiErrorRatePercent": "20", "alertForMinutes": 0})
    high = validate({"alertCostPerHourUsd": "5", "alertApiErrorRatePercent": "50", "alertForMinutes": 0})
    rendered = prometheus_config.render_rules(low)
    prom = Prom(binary(), workdir, with_control(rendered, prometheus_config.render_rules(high)))
    try:
        assert prom.ready(), prom.log.read_text()[-3000:]
        listed = prom.rules()
        expected = {(g["name"], r.get("alert") or r["record"]): "alerting" if "alert" in r else "recording" for g in rendered["groups"] for r in g["rules"]}
        assert set(expected) <= set(listed), f"rules API lacks {set(expected) - set(listed)}"
        for key, kind in expected.items():
            assert listed[key]["query"] and listed[key]["type"] == kind

        # Claude Code's cost counter (two delta exports, 0.625 + 0.25 USD) and the
        # collector's span counts of llm_request spans: 7 succeeded, 3 failed (30%).
        resource = {"service.name": "claude-code", "project": "clawker", "agent": "ralph"}
        cost = {"claude_code.cost.usage": {"unit": "USD", "description": "Cost of the Claude Code session"}}
        session = {"session.id": "s-1", "model": "claude-sonnet-4-5"}
        assert send_delta_counters(
            f"{prom.url}/api/v1/otlp",
            resource=resource,
            scope="com.anthropic.claude_code",
            counters=cost,
            rounds=[[("claude_code.cost.usage", 0.625, session)], [("claude_code.cost.usage", 0.25, session)]],
        ), prom.log.read_text()[-2000:]
        calls = {"traces.span.metrics.calls": {"description": "span calls"}}
        span = {"span.name": "claude_code.llm_request", "span.kind": "SPAN_KIND_INTERNAL"}
        rounds = [
            [("traces.span.metrics.calls", 1, {**span, "success": "true"}), ("traces.span.metrics.calls", 0, {**span, "success": "false"})],
            [("traces.span.metrics.calls", 6, {**span, "success": "true"}), ("traces.span.metrics.calls", 3, {**span, "success": "false"})],
        ]
        assert send_delta_counters(
            f"{prom.url}/api/v1/otlp", resource={"service.name": "otel-collector"}, scope="spanmetrics", counters=calls, rounds=rounds[:1]
        )
        # increase() needs two samples of each series (two success values), each with its own timestamp.
        prom.wait_for_samples("traces_span_metrics_calls", 2)
        assert send_delta_counters(
            f"{prom.url}/api/v1/otlp", resource={"service.name": "otel-collector"}, scope="spanmetrics", counters=calls, rounds=rounds[1:]
        )

        def state(group: str, alert: str) -> str:
            return prom.rules()[(group, alert)]["state"]

        for alert in (prometheus_config.ALERT_COST, prometheus_config.ALERT_API_ERRORS):
            wait_until(
                lambda: state("clawker-claude-code", alert) == "firing",
                30,
                f"{alert} did not fire: {prom.rules()[('clawker-claude-code', alert)]}",
            )
            assert state("clawker-claude-code-control", alert) == "inactive", prom.rules()[("clawker-claude-code-control", alert)]
        firing = {a["labels"]["alertname"] for a in prom.api("alerts")["alerts"] if a["state"] == "firing"}
        assert firing == {prometheus_config.ALERT_COST, prometheus_config.ALERT_API_ERRORS}
        # Every rule evaluated cleanly (an expression error shows as health "err").
        for key, rule in prom.rules().items():
            assert rule["health"] == "ok", f"{key}: {rule.get('lastError')}"
    finally:
        prom.stop()
