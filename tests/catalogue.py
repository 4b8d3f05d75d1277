"""Test-only catalogues: facts the tests check the product against, kept out of product code.

The dashboards' saved-object ids and the Prometheus series (with their labels) the
collector exposes for Claude Code; the bundle tests check every PromQL query against
these, and the end-to-end run checks them against real Prometheus.
"""

from components import names

# Saved-object ids of the three dashboards users open.
DASHBOARD_COST_USAGE = "clawker-claude-code-overview"
DASHBOARD_ACTIVITY = "clawker-claude-code-activity"
DASHBOARD_NETWORKING = "clawker-net"
DASHBOARD_API_HEALTH = "clawker-claude-code-api-health"
DASHBOARD_COST_ATTRIBUTION = "clawker-claude-code-cost-attribution"
DASHBOARD_SESSIONS = "clawker-claude-code-sessions"
DASHBOARD_TRACES = "clawker-claude-code-traces"
DASHBOARD_TEAM_USERS = "clawker-claude-code-team-users"
# Index patterns the bundle carries: the six log indices and the SS4O traces index.
INDEX_PATTERNS = names.LOG_INDICES + (names.TRACES_INDEX,)

# Prometheus series the collector's prometheus exporter exposes for Claude Code, as
# Prometheus stores them (OTLP name + unit + `_total`, dots -> underscores; resource
# project/agent copied onto datapoints; label `type` renamed `kind`), with the labels
# each carries that dashboards may group or filter on. `job` and `instance` come from
# Prometheus' scrape. The single list the bundle tests check PromQL against; the
# end-to-end run checks it against real Prometheus.
_SCRAPE_LABELS = ("job", "instance")
_ATTRIBUTION_LABELS = ("project", "agent")
COLLECTOR_PROMETHEUS_METRICS = {
    "claude_code_session_count_total": _SCRAPE_LABELS + _ATTRIBUTION_LABELS,
    "claude_code_cost_usage_USD_total": _SCRAPE_LABELS + _ATTRIBUTION_LABELS + ("model",),
    "claude_code_token_usage_tokens_total": _SCRAPE_LABELS + _ATTRIBUTION_LABELS + ("model", "kind"),
    "claude_code_active_time_seconds_total": _SCRAPE_LABELS + _ATTRIBUTION_LABELS + ("kind",),
    "claude_code_lines_of_code_count_total": _SCRAPE_LABELS + _ATTRIBUTION_LABELS + ("kind",),
    "claude_code_commit_count_total": _SCRAPE_LABELS + _ATTRIBUTION_LABELS,
    "claude_code_pull_request_count_total": _SCRAPE_LABELS + _ATTRIBUTION_LABELS,
    "claude_code_code_edit_tool_decision_total": _SCRAPE_LABELS
    + _ATTRIBUTION_LABELS
    + ("decision", "source", "tool_name", "language"),
}

# Labels that only some series of a metric carry: Claude Code sets these metric
# attributes only where they apply (query_source, effort and speed where the
# request has them; agent.name for subagents, skill.name, plugin.name,
# mcp_server.name when a skill, plugin or MCP server caused the cost). A panel may
# group by them only over a selector that requires them (label!="").
_COST_ATTRIBUTION_LABELS = (
    "query_source", "effort", "speed", "agent_name", "skill_name", "plugin_name", "mcp_server_name",
)
# The user on every datapoint (user.account_uuid; user.email for OAuth users) and the team
# attributes agents may carry (team.id, department, cost_center from OTEL_RESOURCE_ATTRIBUTES,
# copied onto datapoints by the collector): on every metric, where the sender has them.
_USER_TEAM_LABELS = ("user_account_uuid", "user_email", "team_id", "department", "cost_center")
COLLECTOR_PROMETHEUS_OPTIONAL_LABELS = {
    metric: _USER_TEAM_LABELS + (_COST_ATTRIBUTION_LABELS if metric in ("claude_code_cost_usage_USD_total", "claude_code_token_usage_tokens_total") else ())
    for metric in COLLECTOR_PROMETHEUS_METRICS
}

# The machine's name on EVERY series a machine stack remote-writes to the team Prometheus (the
# remote-write exporter's external_labels, components/services/collector_machine.py) and on no
# series of a local stack: a panel may group by it without requiring it (a local stack then shows
# one series for all).
MACHINE_LABELS = ("machine",)

# Series the stack's own recording rules write (components/services/prometheus_config.py), with
# their labels: edit decisions by user (always), the share of each budget used (when budgets are set).
RECORDED_PROMETHEUS_SERIES = {
    "clawker:user_edit_decisions:total": ("user", "decision"),
    "clawker:user_budget_used:ratio": ("user", "period", "budget_usd", "scope"),
    "clawker:team_budget_used:ratio": ("team", "period", "budget_usd", "scope"),
}

# Codex (the codex unit): its instruments as the collector's prometheus exporter names them
# (checked against the exporter of collector-contrib 0.152.0: a histogram with unit "ms"
# gains _milliseconds before _bucket/_sum/_count, a counter _total), with the labels every
# datapoint carries (tests/corpus_codex.py; codex-rs/otel/src/events/session_telemetry.rs).
_CODEX_LABELS = _SCRAPE_LABELS + _ATTRIBUTION_LABELS + ("model", "originator", "session_source", "app_version", "auth_mode")


def _histogram(name: str, *labels: str) -> dict[str, tuple[str, ...]]:
    return {f"{name}_{part}": _CODEX_LABELS + labels + (("le",) if part == "bucket" else ()) for part in ("bucket", "sum", "count")}


CODEX_PROMETHEUS_METRICS = {
    "codex_thread_started_total": _CODEX_LABELS + ("is_git",),
    "codex_api_request_total": _CODEX_LABELS + ("status", "success"),
    "codex_tool_call_total": _CODEX_LABELS + ("tool", "success"),
    "codex_turn_network_proxy_total": _CODEX_LABELS + ("active", "tmp_mem_enabled"),
    **_histogram("codex_api_request_duration_ms_milliseconds", "status", "success"),
    **_histogram("codex_tool_call_duration_ms_milliseconds", "tool", "success"),
    **_histogram("codex_turn_e2e_duration_ms_milliseconds", "tmp_mem_enabled"),
    **_histogram("codex_turn_ttft_duration_ms_milliseconds"),
    **_histogram("codex_turn_token_usage", "token_type", "tmp_mem_enabled"),
}
