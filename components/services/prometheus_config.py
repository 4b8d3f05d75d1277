"""Prometheus's config file and its alerting rules, built as Python data from the settings."""

from __future__ import annotations

from components import names
from components.settings import Settings

CONFIG_PATH = "/etc/prometheus/prometheus.yml"
RULES_PATH = "/etc/prometheus/rules/clawker-alerts.yml"

# Resource attributes of OTLP pushes that become labels (per-project/agent views).
PROMOTED_RESOURCE_ATTRIBUTES = ["project", "agent", "service.name", "service.version"]

# --- alerting rules --------------------------------------------------------------
# Series the rules read, as Prometheus stores them.
COST_METRIC = "claude_code_cost_usage_USD_total"
# The collector's span_metrics connector counts spans per name and per the
# dimensions it is configured with (collector_config: `success`, which Claude Code
# sets on every claude_code.llm_request span it ends).
SPAN_CALLS_METRIC = "traces_span_metrics_calls_total"
LLM_REQUEST_SPAN = "claude_code.llm_request"
# The collector's own telemetry (scraped from :8888 and re-exported with the rest).
COLLECTOR_SEND_FAILED_METRICS = (
    "otelcol_exporter_send_failed_log_records_total",
    "otelcol_exporter_send_failed_spans_total",
    "otelcol_exporter_send_failed_metric_points_total",
)
COLLECTOR_QUEUE_SIZE = "otelcol_exporter_queue_size"
COLLECTOR_QUEUE_CAPACITY = "otelcol_exporter_queue_capacity"

ALERT_COST = "ClaudeCodeCostPerHourHigh"
ALERT_API_ERRORS = "ClaudeCodeApiErrorRateHigh"
ALERT_COLLECTOR_FAILING = "ClawkerCollectorExportFailing"
ALERT_COLLECTOR_QUEUE = "ClawkerCollectorQueueBacklog"
GROUP_CLAUDE_CODE = "clawker-claude-code"
GROUP_COLLECTOR = "clawker-collector"
API_ERROR_WINDOW = "10m"
SEND_FAILED_WINDOW = "5m"


def _number(value: float) -> str:
    """A threshold as PromQL reads it (no trailing .0, no exponent)."""
    return format(value, "f").rstrip("0").rstrip(".") if isinstance(value, float) else str(value)


def _alert(name: str, expr: str, for_minutes: int, summary: str, description: str, severity: str = "warning") -> dict:
    rule = {"alert": name, "expr": expr}
    if for_minutes:
        rule["for"] = f"{for_minutes}m"
    rule["labels"] = {"severity": severity, "stack": "clawker-monitor"}
    rule["annotations"] = {"summary": summary, "description": description}
    return rule


def cost_rule(threshold_usd: float) -> dict:
    # Cost in the last hour = total now - total an hour ago. increase() would miss
    # the first sample of every new series, and every Claude Code session is a new
    # series (session.id is a label), so a burst of short sessions would never count.
    cost_last_hour = f"sum({COST_METRIC}) - (sum({COST_METRIC} offset 1h) or vector(0))"
    return _alert(
        ALERT_COST,
        f"{cost_last_hour} > {_number(threshold_usd)}",
        0,  # the hour window already smooths it
        "Claude Code spent more than {} USD in the last hour".format(_number(threshold_usd)),
        "Claude Code cost over the last hour is {{ $value | printf \"%.2f\" }} USD (threshold "
        f"{_number(threshold_usd)} USD, setting alertCostPerHourUsd). See the Cost Attribution dashboard.",
    )


FAILED = ', success="false"'


def api_error_rule(threshold_percent: float, for_minutes: int) -> dict:
    def calls(extra: str = "") -> str:
        return f'sum(increase({SPAN_CALLS_METRIC}{{span_name="{LLM_REQUEST_SPAN}"{extra}}}[{API_ERROR_WINDOW}]))'

    return _alert(
        ALERT_API_ERRORS,
        f"{calls(FAILED)} / {calls()} * 100 > {_number(threshold_percent)}",
        for_minutes,
        f"More than {_number(threshold_percent)}% of Claude Code's API requests are failing",
        "{{ $value | printf \"%.1f\" }}% of claude_code.llm_request spans in the last "
        f"{API_ERROR_WINDOW} ended with success=false (threshold {_number(threshold_percent)}%, setting "
        "alertApiErrorRatePercent). See the API Health dashboard for status codes and models.",
    )


def collector_failing_rule(for_minutes: int) -> dict:
    per_signal = [
        f"sum by (exporter) (increase({metric}[{SEND_FAILED_WINDOW}])) > 0" for metric in COLLECTOR_SEND_FAILED_METRICS
    ]
    return _alert(
        ALERT_COLLECTOR_FAILING,
        " or ".join(per_signal),
        for_minutes,
        "The collector's exporter {{ $labels.exporter }} is failing to deliver telemetry",
        "{{ $value }} records, spans or points failed to send in the last "
        f"{SEND_FAILED_WINDOW} (otelcol_exporter_send_failed_*). Check that OpenSearch is up and the "
        "collector's log (docker logs otel-collector).",
        severity="critical",
    )


def collector_queue_rule(threshold_percent: float, for_minutes: int) -> dict:
    return _alert(
        ALERT_COLLECTOR_QUEUE,
        f"max by (exporter) ({COLLECTOR_QUEUE_SIZE} / {COLLECTOR_QUEUE_CAPACITY}) * 100 > {_number(threshold_percent)}",
        for_minutes,
        "The collector's exporter {{ $labels.exporter }} is queueing deliveries",
        "The sending queue of {{ $labels.exporter }} is {{ $value | printf \"%.0f\" }}% full (threshold "
        f"{_number(threshold_percent)}%, setting alertCollectorQueuePercent): its destination is slow or down.",
    )


def render_rules(settings: Settings) -> dict:
    """The rule file; a threshold of 0 leaves its rule out."""
    claude: list[dict] = []
    if settings.alert_cost_per_hour_usd:
        claude.append(cost_rule(settings.alert_cost_per_hour_usd))
    if settings.alert_api_error_rate_percent:
        claude.append(api_error_rule(settings.alert_api_error_rate_percent, settings.alert_for_minutes))
    collector = [collector_failing_rule(settings.alert_for_minutes)]
    if settings.alert_collector_queue_percent:
        collector.append(collector_queue_rule(settings.alert_collector_queue_percent, settings.alert_for_minutes))
    groups = [{"name": GROUP_CLAUDE_CODE, "rules": claude}, {"name": GROUP_COLLECTOR, "rules": collector}]
    return {"groups": [g for g in groups if g["rules"]]}


def render(settings: Settings) -> dict:
    config: dict = {
        "global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
        "rule_files": [RULES_PATH],
    }
    if settings.alertmanager_address:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [settings.alertmanager_address]}]}]}
    config["otlp"] = {"promote_resource_attributes": PROMOTED_RESOURCE_ATTRIBUTES}
    config["scrape_configs"] = [
        {
            "job_name": names.COLLECTOR,
            "static_configs": [{"targets": [f"{names.COLLECTOR}:{settings.collector_metrics_port}"]}],
        }
    ]
    return config
