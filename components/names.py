"""Names shared by the whole stack: defined here once, imported everywhere.

Container names double as DNS names on the network, so the collector config,
Prometheus config and bootstrap all address services by these constants.
"""

NETWORK = "clawker-net"

COLLECTOR = "otel-collector"
PROMETHEUS = "prometheus"
OPENSEARCH = "opensearch-node"
DASHBOARDS = "opensearch-dashboards"

OPENSEARCH_VOLUME = "clawker-opensearch"
PROMETHEUS_VOLUME = "clawker-prometheus"
# The collector's persistent sending queues (SPEC "Durable delivery").
COLLECTOR_QUEUE_VOLUME = "clawker-collector-queue"
# One-shot container that hands the queue volume to the collector's user.
COLLECTOR_QUEUE_INIT = "otel-collector-queue-init"

LABELS = {
    "dev.clawker.managed": "true",
    "dev.clawker.purpose": "monitoring",
}

OPENSEARCH_CLUSTER = "clawker-observability"

# Log indices, keyed by the resource service.name that routes into them. Several
# service names may share an index: Claude Code desktop sessions report
# claude-code-desktop, newer control planes clawkercp.
UNTRUSTED_LOG_INDICES = {
    "claude-code": "claude-code",
    "claude-code-desktop": "claude-code",
    "clawker-cli": "clawker-cli",
}
TRUSTED_LOG_INDICES = {
    "clawker-cp": "clawker-cp",
    "clawkercp": "clawker-cp",
    "envoy": "clawker-envoy",
    "coredns": "clawker-coredns",
    "ebpf-egress": "clawker-ebpf-egress",
}
# ingest_source stamped on each trusted service's records.
TRUSTED_INGEST_SOURCE = {
    "clawker-cp": "cp",
    "clawkercp": "cp",
    "envoy": "envoy",
    "coredns": "coredns",
    "ebpf-egress": "netlogger",
}
UNTRUSTED_INGEST_SOURCE = "untrusted_otlp"
# Each index once, untrusted ones first, in table order.
LOG_INDICES = tuple(dict.fromkeys([*UNTRUSTED_LOG_INDICES.values(), *TRUSTED_LOG_INDICES.values()]))

# SS4O traces: the exporter writes ss4o_traces-<dataset>-<namespace>.
TRACES_DATASET = "traces"
TRACES_NAMESPACE = "clawker"
TRACES_INDEX = f"ss4o_traces-{TRACES_DATASET}-{TRACES_NAMESPACE}"

COMPONENT_TEMPLATE = "clawker-common"
ISM_POLICY = "clawker-log-retention"
# Retention policies that `clawker monitor up` (the reference implementation) leaves on
# its data volume. Their ism_template claims the same log indices at the same priority,
# which ISM refuses beside ours: `pulumi up` replaces them and moves their indices to
# ISM_POLICY (README "Moving from `clawker monitor`").
PREDECESSOR_ISM_POLICIES = ("clawker-retention",)

DATASOURCE = "clawker_prometheus"
DATA_CONNECTION_ID = "clawker-prometheus-conn"
WORKSPACE = "Clawker"

# --- Dashboards (SPEC "Bootstrap" step 6) -------------------------------------
WORKSPACE_DESCRIPTION = "Clawker observability: Claude Code cost, activity and egress telemetry"
# The one use case the workspace carries; it mounts every nav group (logs, metrics, traces).
WORKSPACE_FEATURES = ("use-case-all",)
# Saved-object ids of the three dashboards users open.
DASHBOARD_COST_USAGE = "clawker-claude-code-overview"
DASHBOARD_ACTIVITY = "clawker-claude-code-activity"
DASHBOARD_NETWORKING = "clawker-net"
DASHBOARD_API_HEALTH = "clawker-claude-code-api-health"
DASHBOARD_COST_ATTRIBUTION = "clawker-claude-code-cost-attribution"
DASHBOARD_SESSIONS = "clawker-claude-code-sessions"
DASHBOARD_TRACES = "clawker-claude-code-traces"
# Index patterns the bundle carries: the six log indices and the SS4O traces index.
INDEX_PATTERNS = LOG_INDICES + (TRACES_INDEX,)

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
COLLECTOR_PROMETHEUS_OPTIONAL_LABELS = {
    "claude_code_cost_usage_USD_total": _COST_ATTRIBUTION_LABELS,
    "claude_code_token_usage_tokens_total": _COST_ATTRIBUTION_LABELS,
}

# Index templates: one per log index, named after the index it shapes, plus the traces one.
LOG_INDEX_TEMPLATES = {index: index for index in LOG_INDICES}
TRACES_INDEX_TEMPLATE = "clawker-traces"

# Ingest pipelines that reshape the exporter's documents before indexing.
# Every log index runs the envelope one last (index.final_pipeline).
ENVELOPE_PIPELINE = "clawker-logs-envelope"
# Sources whose attributes need reshaping first (index.default_pipeline), by index.
INDEX_PIPELINES = {
    "claude-code": "clawker-claude-code",
    "clawker-cp": "clawker-cp-actor-attrs",
}
# The SS4O traces index's pipeline (index.default_pipeline): gives spans a real @timestamp.
TRACES_PIPELINE = "clawker-traces"
