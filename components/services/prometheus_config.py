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
ALERT_MACHINE_REFUSED = "ClawkerMachineCredentialRefused"
# A machine stack's collector reports whether the team cluster accepts its credential
# (components/services/collector_machine.py); only the team Prometheus receives it.
MACHINE_REFUSED_METRIC = "clawker_machine_credential_refused"
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
    # Cost in the last hour, series by series (series_spend). increase() would miss
    # the first sample of every new series, and every Claude Code session is a new
    # series (session.id is a label), so a burst of short sessions would never count.
    cost_last_hour = f"sum({series_spend('1h')})"
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


def machine_refused_rule(for_minutes: int) -> dict:
    return _alert(
        ALERT_MACHINE_REFUSED,
        f"max by (machine) ({MACHINE_REFUSED_METRIC}) == 1",
        for_minutes,
        "The team cluster refuses the credential of machine {{ $labels.machine }}",
        "The cluster answers 401 to {{ $labels.machine }}'s credential: the machine was removed from the team "
        "stack's `machines`, or its password changed. Its collector keeps its records on its disk and loses none. "
        "To deliver them, add it back to `machines` and run `pulumi up` in the team stack, then in the machine's "
        "stack; for a machine that left the team, run `pulumi destroy` in its stack.",
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


def subject_label(subject: str, expr: str) -> str:
    """`expr` with a `subject` label made from the attribute labels (the last one present wins)."""
    for source in SUBJECT_LABELS[subject][0]:
        expr = f'label_replace({expr}, "{subject}", "$1", "{source}", "(.+)")'
    return expr


def series_spend(window: str, metric: str = COST_METRIC) -> str:
    """What each series of the cost counter added over `window`, without range reads.

    The counter now minus the counter `window` ago, series by series. A series that began
    inside the window (every session is its own series) has nothing `window` ago and counts
    in full. A series that went down (the collector restarted and the cumulative sum began
    again from the next delta) counts what it holds now: the spend since the restart, never
    a negative amount that would cancel other sessions' spend. Subtracting sums instead
    (sum now - sum then) went negative on every collector restart: sessions that ended before
    it are no longer exported, so their old totals were subtracted from everyone's spend."""
    return f"(({metric} - {metric} offset {window}) >= 0) or {metric}"


def spend_expr(subject: str, window: str) -> str:
    return f"sum by ({subject}) ({subject_label(subject, series_spend(window))})"


def spend_records(subject: str, windows: dict[str, str]) -> list[dict]:
    records = [{"record": spend_series(subject, "1h"), "expr": spend_expr(subject, "1h")}]
    for period, window in windows.items():
        records.append({"record": spend_series(subject, period), "expr": spend_expr(subject, window)})
        records.append({"record": projected_series(subject, period), "expr": f"{spend_series(subject, '1h')} * {PERIOD_HOURS[period]}"})
    return records


def _percent(fraction: float) -> str:
    return _number(round(fraction * 100, 4))


def _spent(subject: str, period: str, name: str = "", others: tuple[str, ...] = ()) -> str:
    """The recorded spend a budget covers: `name`'s, or (name empty) every subject's but `others`'."""
    series = spend_series(subject, period)
    if name:
        return f'{series}{{{subject}="{name}"}}'
    if others:
        return f"({series} unless on({subject}) ({' or '.join(f'{series}{{{subject}={json_string(o)}}}' for o in others)}))"
    return series


def budget_used_series(subject: str) -> str:
    """The recorded share of their budget each user or team has spent (1 = all of it), labelled by period."""
    return f"clawker:{subject}_budget_used:ratio"


def _budget_labels(subject: str, period: str, budget_usd: float, name: str) -> dict:
    return {"period": period, "budget_usd": _number(budget_usd), "scope": subject if name else f"default-{subject}"}


def budget_used_record(subject: str, period: str, budget_usd: float, name: str = "", others: tuple[str, ...] = ()) -> dict:
    """Spend over budget, for the Team & users dashboard's budget panels (what the alerts compare)."""
    return {
        "record": budget_used_series(subject),
        "expr": f"{_spent(subject, period, name, others)} / {_number(budget_usd)}",
        "labels": _budget_labels(subject, period, budget_usd, name),
    }


def budget_rule(subject: str, period: str, budget_usd: float, fraction: float, name: str = "", others: tuple[str, ...] = ()) -> dict:
    """One threshold of one budget: `name`'s, or (name empty) the default one for every subject not in `others`."""
    spent = _spent(subject, period, name, others)
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
    rule["labels"].update({"threshold": _number(fraction), **_budget_labels(subject, period, budget_usd, name)})
    return rule


def json_string(value: str) -> str:
    """A PromQL string literal (budget names hold no quote, backslash or space: settings.BUDGETS_SCHEMA)."""
    return f'"{value}"'


def _budgets(settings: Settings) -> list[tuple[str, str, float, str, tuple[str, ...]]]:
    """Every budget: (subject, period, USD, name or "" for the default, the names the default skips)."""
    budgets = [
        (subject, period, usd, name, ())
        for subject, named in (("user", settings.user_budgets), ("team", settings.team_budgets))
        for name, periods in named.items()
        for period, usd in periods.items()
    ]
    for period, usd in settings.default_budgets.items():
        budgets.append(("user", period, usd, "", tuple(n for n, b in settings.user_budgets.items() if period in b)))
    return budgets


def budget_rules(settings: Settings) -> list[dict]:
    return [
        budget_rule(subject, period, usd, f, name=name, others=others)
        for subject, period, usd, name, others in _budgets(settings)
        for f in settings.warn_fractions
    ]


def budget_used_records(settings: Settings) -> list[dict]:
    return [budget_used_record(*budget) for budget in _budgets(settings)]


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
    return {"name": GROUP_BUDGETS, "rules": records + budget_used_records(settings) + alerts}


# --- what the Team & users dashboard reads ------------------------------------------
GROUP_VIEWS = "clawker-team-views"
EDIT_DECISIONS_METRIC = "claude_code_code_edit_tool_decision_total"
USER_EDIT_DECISIONS = "clawker:user_edit_decisions:total"


def views_group() -> dict:
    """Always recorded: Claude Code's edit decisions by user (the e-mail, or the account without one,
    as budgets name users), which a dashboard query cannot group by without relabelling."""
    return {
        "name": GROUP_VIEWS,
        "rules": [
            {"record": USER_EDIT_DECISIONS, "expr": f"sum by (user, decision) ({subject_label('user', EDIT_DECISIONS_METRIC)})"},
        ],
    }


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
    if settings.role == "team":
        collector.append(machine_refused_rule(settings.alert_for_minutes))
    groups = [
        {"name": GROUP_CLAUDE_CODE, "rules": claude},
        {"name": GROUP_COLLECTOR, "rules": collector},
        budget_group(settings, windows),
        views_group(),
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
