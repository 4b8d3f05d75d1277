"""Names shared by the whole stack: defined here once, imported everywhere.

Container names double as DNS names on the network, so the collector config,
Prometheus config and bootstrap all address services by these constants.
"""

from __future__ import annotations

from typing import Any

NETWORK = "clawker-net"

COLLECTOR = "otel-collector"
PROMETHEUS = "prometheus"
OPENSEARCH = "opensearch-node"
DASHBOARDS = "opensearch-dashboards"
ALERTMANAGER = "alertmanager"

OPENSEARCH_VOLUME = "clawker-opensearch"
PROMETHEUS_VOLUME = "clawker-prometheus"
# Alertmanager's silences and notification log.
ALERTMANAGER_VOLUME = "clawker-alertmanager"
# The collector's persistent sending queues (SPEC "Durable delivery").
COLLECTOR_QUEUE_VOLUME = "clawker-collector-queue"
# One-shot container that hands the queue volume to the collector's user.
COLLECTOR_QUEUE_INIT = "otel-collector-queue-init"

LABELS = {
    "dev.clawker.managed": "true",
    "dev.clawker.purpose": "monitoring",
}

OPENSEARCH_CLUSTER = "clawker-observability"

# Log indices and their routing come from the one table of log streams
# (components/telemetry.py); UNTRUSTED_LOG_INDICES, TRUSTED_LOG_INDICES,
# TRUSTED_INGEST_SOURCE (ingest_source stamped on each trusted service's records),
# UNTRUSTED_INGEST_SOURCE, LOG_INDICES (each index once, untrusted ones first, in table
# order), LOG_INDEX_TEMPLATES and INDEX_PIPELINES are views of it, kept for the callers
# that look up one fact at a time. They are made on first use (`__getattr__` below):
# the table loads the default units (manifests, their JSON Schema), which the dynamic
# providers' process, importing this module for the fixed names, never needs (issue 21:
# that import was on the critical path of every preview's first provider call).


def _stream_views() -> dict[str, Any]:
    from components import telemetry as _telemetry

    log_indices = tuple(s.index for s in _telemetry.LOG_STREAMS)
    return {
        "UNTRUSTED_LOG_INDICES": _telemetry.index_by_service(_telemetry.UNTRUSTED),
        "TRUSTED_LOG_INDICES": _telemetry.index_by_service(_telemetry.TRUSTED),
        "TRUSTED_INGEST_SOURCE": {
            service: s.ingest_source for s in _telemetry.streams(_telemetry.TRUSTED) for service in s.service_names
        },
        "UNTRUSTED_INGEST_SOURCE": _telemetry.UNTRUSTED_INGEST_SOURCE,
        "LOG_INDICES": log_indices,
        # Index templates: one per log index, named after the index it shapes.
        "LOG_INDEX_TEMPLATES": {index: index for index in log_indices},
        # Sources whose attributes need reshaping first (index.default_pipeline), by index.
        "INDEX_PIPELINES": {s.index: s.default_pipeline for s in _telemetry.LOG_STREAMS if s.default_pipeline},
    }


_STREAM_VIEWS = (
    "UNTRUSTED_LOG_INDICES", "TRUSTED_LOG_INDICES", "TRUSTED_INGEST_SOURCE", "UNTRUSTED_INGEST_SOURCE",
    "LOG_INDICES", "LOG_INDEX_TEMPLATES", "INDEX_PIPELINES",
)


def __getattr__(name: str) -> Any:
    if name in _STREAM_VIEWS:
        views = _stream_views()
        globals().update(views)
        return views[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# SS4O traces: the exporter writes ss4o_traces-<dataset>-<namespace>.
TRACES_DATASET = "traces"
TRACES_NAMESPACE = "clawker"
TRACES_INDEX = f"ss4o_traces-{TRACES_DATASET}-{TRACES_NAMESPACE}"

COMPONENT_TEMPLATE = "clawker-common"
ISM_POLICY = "clawker-log-retention"
# Retention of the daily traces indices (traceRetentionDays).
TRACES_ISM_POLICY = "clawker-trace-retention"
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
# The traces index's template (the log indices' are LOG_INDEX_TEMPLATES).
TRACES_INDEX_TEMPLATE = "clawker-traces"

# Ingest pipelines that reshape the exporter's documents before indexing.
# Every log index runs the envelope one last (index.final_pipeline).
ENVELOPE_PIPELINE = "clawker-logs-envelope"
# The SS4O traces index's pipeline: gives spans a real @timestamp.
TRACES_PIPELINE = "clawker-traces"

# --- Daily indices (README "Retention") ---------------------------------------
# The collector writes to the fixed names above (LOG_INDICES, TRACES_INDEX). Each
# fixed name is a "door": an index that stays empty, whose default_pipeline runs the
# whole processing chain and ends by moving the record into <index>-<yyyy-MM-dd> (the
# UTC day of its own @timestamp), where ISM deletes whole days.
DAY_ROUTE_PIPELINE = "clawker-day-route"
# Moving an adopted index's documents (already processed) into the days: the copy is
# addressed to <index><MOVING_SUFFIX> (never created), which this pipeline strips first.
DAY_MOVE_PIPELINE = "clawker-day-move"
MOVING_SUFFIX = "-clawker-moving"
DAY_FORMAT = "yyyy-MM-dd"
# Template shaping an index's daily indices (the fixed name keeps its own template).
DAILY_TEMPLATE_SUFFIX = "-daily"


def route_pipeline(index: str) -> str:
    """The door's default_pipeline: the source's reshaping, the envelope, then the day."""
    return f"clawker-route-{index}"


def day_pattern(index: str) -> str:
    """Every daily index of a stream."""
    return f"{index}-*"


def day_index(index: str, day: str) -> str:
    """The daily index of `day` (yyyy-mm-dd, UTC)."""
    return f"{index}-{day}"


def read_pattern(index: str) -> str:
    """What readers (index patterns, panels, tests) search: the door and all its days."""
    return f"{index}*"
