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

LABELS = {
    "dev.clawker.managed": "true",
    "dev.clawker.purpose": "monitoring",
}

OPENSEARCH_CLUSTER = "clawker-observability"

# Log indices, keyed by the resource service.name that routes into them.
UNTRUSTED_LOG_INDICES = {
    "claude-code": "claude-code",
    "clawker-cli": "clawker-cli",
}
TRUSTED_LOG_INDICES = {
    "clawker-cp": "clawker-cp",
    "envoy": "clawker-envoy",
    "coredns": "clawker-coredns",
    "ebpf-egress": "clawker-ebpf-egress",
}
# ingest_source stamped on each trusted service's records.
TRUSTED_INGEST_SOURCE = {
    "clawker-cp": "cp",
    "envoy": "envoy",
    "coredns": "coredns",
    "ebpf-egress": "netlogger",
}
UNTRUSTED_INGEST_SOURCE = "untrusted_otlp"
LOG_INDICES = tuple(UNTRUSTED_LOG_INDICES.values()) + tuple(TRUSTED_LOG_INDICES.values())

# SS4O traces: the exporter writes ss4o_traces-<dataset>-<namespace>.
TRACES_DATASET = "traces"
TRACES_NAMESPACE = "clawker"
TRACES_INDEX = f"ss4o_traces-{TRACES_DATASET}-{TRACES_NAMESPACE}"

COMPONENT_TEMPLATE = "clawker-common"
ISM_POLICY = "clawker-log-retention"

DATASOURCE = "clawker_prometheus"
DATA_CONNECTION_ID = "clawker-prometheus-conn"
WORKSPACE = "Clawker"
