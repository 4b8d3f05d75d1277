"""The OpenTelemetry Collector config, built as Python data from the settings.

Two lanes:
- untrusted: plain OTLP that any agent (or host process) can send to. It is
  stamped ingest_source=untrusted_otlp and may only reach the claude-code and
  clawker-cli indices; any other service.name (a forged "envoy", say) goes to
  the debug exporter and is never indexed.
- trusted: OTLP/gRPC behind mTLS (client certificate signed by the infra CA)
  for Clawker's own infrastructure; left out entirely without TLS material.
"""

from __future__ import annotations

from typing import Any

from components import names
from components.docker_common import CONTAINER_LISTEN_HOST
from components.settings import Settings

CONFIG_PATH = "/etc/otel-collector-config.yaml"
# Where the trusted lane's TLS material is mounted (read-only) in the container.
INFRA_TLS_DIR = "/etc/otel-collector/infra-tls"
INFRA_TLS_FILES = {
    "infraTlsCertFile": f"{INFRA_TLS_DIR}/server.crt",
    "infraTlsKeyFile": f"{INFRA_TLS_DIR}/server.key",
    "infraTlsCaFile": f"{INFRA_TLS_DIR}/ca.crt",
}
SELF_TELEMETRY_PORT = 8888
SPAN_METRICS_SUCCESS_DIMENSION = "success"

# Kept far longer than any plausible gap between two events of a rare counter
# (commits, pull requests): an expired series restarts from zero in Prometheus.
# 0 is not "never" for metric_expiration: it expires everything at once.
SERIES_LIFETIME = "8760h"

# Envoy access-log attributes that OpenSearch maps as numbers or IPs: Envoy
# writes "-" when a value is absent, which those field types reject.
ENVOY_NUMERIC_ATTRIBUTES = (
    "server.port",
    "network.peer.port",
    "response_code",
    "bytes_sent",
    "bytes_received",
    "upstream_bytes_sent",
    "upstream_bytes_received",
    "duration_ms",
    "req_duration_ms",
    "resp_duration_ms",
    "resp_tx_duration_ms",
)
ENVOY_IP_ATTRIBUTES = ("client.address", "network.peer.address", "listener_ip")


def _listen(port: int) -> str:
    return f"{CONTAINER_LISTEN_HOST}:{port}"


def _stamp(source: str) -> dict:
    # upsert: a sender cannot pre-set its own ingest_source.
    return {"attributes": [{"key": "ingest_source", "value": source, "action": "upsert"}]}


def _opensearch_exporter(settings: Settings, **target: Any) -> dict:
    return {
        "http": {"endpoint": settings.opensearch_internal_url},
        # Dataset/namespace only name the SS4O traces index; logs use logs_index.
        "dataset": names.TRACES_DATASET,
        "namespace": names.TRACES_NAMESPACE,
        "mapping": {"mode": "ss4o"},
        # Survive an OpenSearch restart: queue in memory and retry for minutes.
        "sending_queue": {"enabled": True, "num_consumers": 2, "queue_size": 5000},
        "retry_on_failure": {
            "enabled": True,
            "initial_interval": "5s",
            "max_interval": "30s",
            "max_elapsed_time": "5m",
        },
        **target,
    }


def _route_table(routes: dict[str, str]) -> list[dict]:
    return [
        {
            "context": "resource",
            "condition": f'attributes["service.name"] == "{service}"',
            "pipelines": [f"logs/{index}"],
        }
        for service, index in routes.items()
    ]


def _trusted_index_sources() -> dict[str, str]:
    """index -> the ingest_source stamped on it; service names sharing an index share its stamp."""
    out: dict[str, str] = {}
    for service, index in names.TRUSTED_LOG_INDICES.items():
        source = names.TRUSTED_INGEST_SOURCE[service]
        if out.setdefault(index, source) != source:
            raise ValueError(f"names.TRUSTED_INGEST_SOURCE: {index} would be stamped both {out[index]} and {source}")
    return out


def _unrouted(lane: str) -> dict:
    """What an operator sees of a record no route accepts: its resource (service.name) and why.

    The debug exporter (verbosity normal) prints one line per resource with its
    attributes and one per record; the record's own body and attributes are
    replaced first, so nothing an unknown sender wrote beyond its resource is logged.
    """
    reason = f"not indexed: no {lane}-lane route for this service.name (components/names.py)"
    return {
        "error_mode": "ignore",
        "log_statements": [
            {
                "context": "log",
                "statements": [f'set(log.body, "{reason}")', 'delete_matching_keys(log.attributes, ".*")'],
            }
        ],
    }


def _envoy_statements() -> list[str]:
    statements = [
        'set(severity_text, "INFO") where severity_text == ""',
        "set(severity_number, SEVERITY_NUMBER_INFO) where severity_number == SEVERITY_NUMBER_UNSPECIFIED",
        # An access log written before routing decided anything.
        'set(attributes["action"], "pre_route") where attributes["action"] == "-"',
    ]
    for key in ENVOY_NUMERIC_ATTRIBUTES + ENVOY_IP_ATTRIBUTES:
        statements.append(f'delete_key(attributes, "{key}") where attributes["{key}"] == "-"')
    for key in ENVOY_NUMERIC_ATTRIBUTES:
        statements.append(
            f'set(attributes["{key}"], Int(attributes["{key}"])) where attributes["{key}"] != nil'
        )
    return statements


def render(settings: Settings) -> dict:
    """The collector config as a dict; config_file.upload() writes it into the container."""
    trusted = settings.trusted_lane_enabled
    receivers: dict = {
        "otlp": {
            "protocols": {
                "grpc": {"endpoint": _listen(settings.otlp_grpc_port)},
                "http": {"endpoint": _listen(settings.otlp_http_port)},
            }
        },
        # The collector's own telemetry, scraped in-container.
        "prometheus/self": {
            "config": {
                "scrape_configs": [
                    {
                        "job_name": "otel-collector-self",
                        "scrape_interval": "15s",
                        "static_configs": [{"targets": [f"localhost:{SELF_TELEMETRY_PORT}"]}],
                    }
                ]
            }
        },
    }
    processors: dict = {
        "memory_limiter": {"check_interval": "1s", "limit_mib": 150, "spike_limit_mib": 30},
        "batch": {"timeout": "5s", "send_batch_size": 1024, "send_batch_max_size": 2048},
        "resource/untrusted": _stamp(names.UNTRUSTED_INGEST_SOURCE),
        "transform/metric-labels": {
            "error_mode": "ignore",
            "metric_statements": [
                {
                    "context": "datapoint",
                    "statements": [
                        # Prometheus only sees datapoint attributes as labels.
                        'set(attributes["project"], resource.attributes["project"]) where resource.attributes["project"] != nil',
                        'set(attributes["agent"], resource.attributes["agent"]) where resource.attributes["agent"] != nil',
                        # OpenSearch's Prometheus connector breaks on a label named "type".
                        'set(attributes["kind"], attributes["type"]) where attributes["type"] != nil',
                        'delete_key(attributes, "type")',
                    ],
                }
            ],
        },
        "deltatocumulative": {"max_stale": SERIES_LIFETIME},
        "transform/unrouted-untrusted": _unrouted("untrusted"),
    }
    exporters: dict = {
        # Only unrouted records reach it: one line per record, with its resource's service.name.
        "debug": {"verbosity": "normal"},
        "prometheus": {
            "endpoint": _listen(settings.collector_metrics_port),
            "metric_expiration": SERIES_LIFETIME,
        },
        "opensearch/traces": _opensearch_exporter(settings),
    }
    connectors: dict = {
        # "spanmetrics" before 0.152; the old name only logs a deprecation warning.
        # Calls per span name, plus `success`: Claude Code marks every claude_code.llm_request
        # span it ends with success=true/false (and never sets the span status), so the API
        # error-rate alert (prometheus_config.api_error_rule) can count failed requests.
        "span_metrics": {"dimensions": [{"name": SPAN_METRICS_SUCCESS_DIMENSION}]},
        "routing/untrusted": {
            "default_pipelines": ["logs/untrusted-unrouted"],
            "table": _route_table(names.UNTRUSTED_LOG_INDICES),
        },
    }
    pipelines: dict = {
        "logs/untrusted": {
            "receivers": ["otlp"],
            "processors": ["memory_limiter", "resource/untrusted"],
            "exporters": ["routing/untrusted"],
        },
        "logs/untrusted-unrouted": {
            "receivers": ["routing/untrusted"],
            "processors": ["memory_limiter", "transform/unrouted-untrusted"],
            "exporters": ["debug"],
        },
        "metrics/untrusted": {
            "receivers": ["otlp"],
            "processors": [
                "memory_limiter",
                "resource/untrusted",
                "transform/metric-labels",
                "deltatocumulative",
                "batch",
            ],
            "exporters": ["prometheus"],
        },
        "metrics/trusted": {
            "receivers": ["prometheus/self", "span_metrics"],
            "processors": ["memory_limiter", "transform/metric-labels", "deltatocumulative", "batch"],
            "exporters": ["prometheus"],
        },
        "traces": {
            "receivers": ["otlp"],
            "processors": ["memory_limiter", "resource/untrusted", "batch"],
            "exporters": ["opensearch/traces", "span_metrics"],
        },
    }
    for index in dict.fromkeys(names.UNTRUSTED_LOG_INDICES.values()):
        exporters[f"opensearch/{index}"] = _opensearch_exporter(settings, logs_index=index)
        pipelines[f"logs/{index}"] = {
            "receivers": ["routing/untrusted"],
            "processors": ["memory_limiter", "batch"],
            "exporters": [f"opensearch/{index}"],
        }

    if trusted:
        receivers["otlp/infra"] = {
            "protocols": {
                "grpc": {
                    "endpoint": _listen(settings.infra_port),
                    "tls": {
                        "cert_file": INFRA_TLS_FILES["infraTlsCertFile"],
                        "key_file": INFRA_TLS_FILES["infraTlsKeyFile"],
                        # Setting a client CA makes a verified client certificate mandatory.
                        "client_ca_file": INFRA_TLS_FILES["infraTlsCaFile"],
                    },
                }
            }
        }
        connectors["routing/trusted"] = {
            "default_pipelines": ["logs/trusted-unrouted"],
            "table": _route_table(names.TRUSTED_LOG_INDICES),
        }
        pipelines["logs/trusted"] = {
            "receivers": ["otlp/infra"],
            "processors": ["memory_limiter"],
            "exporters": ["routing/trusted"],
        }
        processors["transform/unrouted-trusted"] = _unrouted("trusted")
        pipelines["logs/trusted-unrouted"] = {
            "receivers": ["routing/trusted"],
            "processors": ["memory_limiter", "transform/unrouted-trusted"],
            "exporters": ["debug"],
        }
        processors["transform/envoy"] = {
            "error_mode": "ignore",
            "log_statements": [{"context": "log", "statements": _envoy_statements()}],
        }
        for index, source in _trusted_index_sources().items():
            stamp = f"resource/{source}"
            processors[stamp] = _stamp(source)
            steps = ["memory_limiter", stamp]
            if index == names.TRUSTED_LOG_INDICES["envoy"]:
                steps.append("transform/envoy")
            exporters[f"opensearch/{index}"] = _opensearch_exporter(settings, logs_index=index)
            pipelines[f"logs/{index}"] = {
                "receivers": ["routing/trusted"],
                "processors": steps + ["batch"],
                "exporters": [f"opensearch/{index}"],
            }

    return {
        "receivers": receivers,
        "processors": processors,
        "exporters": exporters,
        "connectors": connectors,
        "service": {
            "telemetry": {
                "metrics": {
                    "level": "normal",
                    "readers": [
                        {
                            "pull": {
                                "exporter": {
                                    "prometheus": {"host": "localhost", "port": SELF_TELEMETRY_PORT}
                                }
                            }
                        }
                    ],
                }
            },
            "pipelines": pipelines,
        },
    }

