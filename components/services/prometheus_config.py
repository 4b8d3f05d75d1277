"""Prometheus's config file and its alerting rules, built as Python data from the settings."""

from __future__ import annotations

from components import names
from components.settings import Settings

CONFIG_PATH = "/etc/prometheus/prometheus.yml"
RULES_PATH = "/etc/prometheus/rules/clawker-alerts.yml"

# Resource attributes of OTLP pushes that become labels (per-project/agent views).
PROMOTED_RESOURCE_ATTRIBUTES = ["project", "agent", "service.name", "service.version", "team.id", "department", "cost_center"]

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


# --- budgets and cost spikes -------------------------------------------------------
ALERT_USER_BUDGET = "ClaudeCodeUserBudget"
ALERT_TEAM_BUDGET = "ClaudeCodeTeamBudget"
ALERT_COST_SPIKE = "ClaudeCodeCostSpike"
GROUP_BUDGETS = "clawker-budgets"
# Spend is counted over the last 24 hours / 30 days (rolling), by user and by team.
BUDGET_WINDOWS = {"daily": "24h", "monthly": "30d"}
PERIOD_HOURS = {"daily": 24, "monthly": 720}
PERIOD_WORDS = {"daily": "24 hours", "monthly": "30 days"}
# Claude Code labels its metrics with user.email (OAuth users) and user.account_uuid:
# a user is the e-mail, or the account when there is no e-mail. A team is the
# team.id resource attribute agents carry (the collector copies it onto datapoints).
SUBJECT_LABELS = {
    "user": (("user_account_uuid", "user_email"), ALERT_USER_BUDGET),
    "team": (("team_id",), ALERT_TEAM_BUDGET),
}


def spend_series(subject: str, period: str) -> str:
    """The recorded series: USD a user or team spent over the period's window (or the last hour: '1h')."""
    return f"clawker:{subject}_cost_usd:{period}"


def projected_series(subject: str, period: str) -> str:
    return f"clawker:{subject}_cost_usd:{period}_at_last_hour_pace"


def _by_subject(subject: str, offset: str = "") -> str:
    """The cost counter summed by `subject` (a label made from the attribute labels, last one wins)."""
    selector = COST_METRIC + (f" offset {offset}" if offset else "")
    for source in SUBJECT_LABELS[subject][0]:
        selector = f'label_replace({selector}, "{subject}", "$1", "{source}", "(.+)")'
    return f'sum by ({subject}) ({selector})'


def spend_expr(subject: str, window: str) -> str:
    # Counter now minus counter `window` ago, as the hourly cost rule does; a user whose
    # sessions all began inside the window has nothing `window` ago and counts in full.
    now = _by_subject(subject)
    return f"{now} - ({_by_subject(subject, window)} or {now} * 0)"


def spend_records(subject: str, windows: dict[str, str]) -> list[dict]:
    records = [{"record": spend_series(subject, "1h"), "expr": spend_expr(subject, "1h")}]
    for period, window in windows.items():
        records.append({"record": spend_series(subject, period), "expr": spend_expr(subject, window)})
        records.append({"record": projected_series(subject, period), "expr": f"{spend_series(subject, '1h')} * {PERIOD_HOURS[period]}"})
    return records


def _percent(fraction: float) -> str:
    return _number(round(fraction * 100, 4))


def budget_rule(subject: str, period: str, budget_usd: float, fraction: float, name: str = "", others: tuple[str, ...] = ()) -> dict:
    """One threshold of one budget: `name`'s, or (name empty) the default one for every subject not in `others`."""
    series = spend_series(subject, period)
    if name:
        spent = f'{series}{{{subject}="{name}"}}'
    elif others:
        spent = f"({series} unless on({subject}) ({' or '.join(f'{series}{{{subject}={json_string(o)}}}' for o in others)}))"
    else:
        spent = series
    alert_name = SUBJECT_LABELS[subject][1]
    whose = "default " if not name else ""
    projected = (
        '{{ with printf "' + projected_series(subject, period) + "{" + subject + '=%q}" $labels.' + subject
        + ' | query }}{{ . | first | value | printf "%.2f" }}{{ end }}'
    )
    rule = _alert(
        alert_name,
        f"{spent} >= {_number(round(budget_usd * fraction, 6))}",
        0,
        f"{subject.capitalize()} {{{{ $labels.{subject} }}}} reached {_percent(fraction)}% of the {whose}{period} budget of {_number(budget_usd)} USD",
        f"{{{{ $labels.{subject} }}}} spent {{{{ $value | printf \"%.2f\" }}}} USD over the last {PERIOD_WORDS[period]} "
        f"(budget {_number(budget_usd)} USD, threshold {_percent(fraction)}%). At the last hour's pace the {period} spend "
        f"would be {projected} USD. See the Team & users and Cost Attribution dashboards.",
        severity="critical" if fraction >= 1 else "warning",
    )
    rule["labels"].update(
        {"period": period, "threshold": _number(fraction), "budget_usd": _number(budget_usd), "scope": f"{subject}" if name else f"default-{subject}"}
    )
    return rule


def json_string(value: str) -> str:
    """A PromQL string literal (budget names hold no quote, backslash or space: settings.BUDGETS_SCHEMA)."""
    return f'"{value}"'


def budget_rules(settings: Settings) -> list[dict]:
    rules = []
    fractions = settings.warn_fractions
    for subject, named in (("user", settings.user_budgets), ("team", settings.team_budgets)):
        for name, budgets in named.items():
            for period, usd in budgets.items():
                rules += [budget_rule(subject, period, usd, f, name=name) for f in fractions]
    for period, usd in settings.default_budgets.items():
        others = tuple(n for n, b in settings.user_budgets.items() if period in b)
        rules += [budget_rule("user", period, usd, f, others=others) for f in fractions]
    return rules


def cost_spike_rule(factor: float, min_usd: float) -> dict:
    last_hour = spend_series("user", "1h")
    usual = f"(({spend_series('user', 'daily')} - {last_hour}) / 23)"
    return _alert(
        ALERT_COST_SPIKE,
        f"{last_hour} > {_number(factor)} * {usual} and {last_hour} > {_number(min_usd)}",
        0,
        "User {{ $labels.user }}'s Claude Code cost in the last hour is far above their usual hour",
        "{{ $labels.user }} spent {{ $value | printf \"%.2f\" }} USD in the last hour, more than "
        f"{_number(factor)} times their average hour over the 23 before it (settings alertCostSpikeFactor, "
        "alertCostSpikeMinUsd). See the Team & users dashboard for their sessions.",
    )


def budget_group(settings: Settings, windows: dict[str, str] = BUDGET_WINDOWS) -> dict:
    """Recorded spend (evaluated first, in order) then the budget and spike alerts that read it."""
    alerts = budget_rules(settings)
    if settings.alert_cost_spike_factor:
        alerts.append(cost_spike_rule(settings.alert_cost_spike_factor, settings.alert_cost_spike_min_usd))
    if not alerts:
        return {"name": GROUP_BUDGETS, "rules": []}
    records = spend_records("user", windows)
    if settings.team_budgets:
        records += spend_records("team", windows)
    return {"name": GROUP_BUDGETS, "rules": records + alerts}


def render_rules(settings: Settings, windows: dict[str, str] = BUDGET_WINDOWS) -> dict:
    """The rule file; a threshold of 0 leaves its rule out."""
    claude: list[dict] = []
    if settings.alert_cost_per_hour_usd:
        claude.append(cost_rule(settings.alert_cost_per_hour_usd))
    if settings.alert_api_error_rate_percent:
        claude.append(api_error_rule(settings.alert_api_error_rate_percent, settings.alert_for_minutes))
    collector = [collector_failing_rule(settings.alert_for_minutes)]
    if settings.alert_collector_queue_percent:
        collector.append(collector_queue_rule(settings.alert_collector_queue_percent, settings.alert_for_minutes))
    groups = [
        {"name": GROUP_CLAUDE_CODE, "rules": claude},
        {"name": GROUP_COLLECTOR, "rules": collector},
        budget_group(settings, windows),
    ]
    return {"groups": [g for g in groups if g["rules"]]}


def alertmanager_targets(settings: Settings) -> list[str]:
    """The stack's own Alertmanager (when a receiver is configured), then the one alertmanagerAddress names."""
    targets = [f"{names.ALERTMANAGER}:{settings.alertmanager_port}"] if settings.alertmanager_enabled else []
    if settings.alertmanager_address:
        targets.append(settings.alertmanager_address)
    return targets


def render(settings: Settings) -> dict:
    config: dict = {
        "global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
        "rule_files": [RULES_PATH],
    }
    targets = alertmanager_targets(settings)
    if targets:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": targets}]}]}
    config["otlp"] = {"promote_resource_attributes": PROMOTED_RESOURCE_ATTRIBUTES}
    config["scrape_configs"] = [
        {
            "job_name": names.COLLECTOR,
            "static_configs": [{"targets": [f"{names.COLLECTOR}:{settings.collector_metrics_port}"]}],
        }
    ]
    return config
