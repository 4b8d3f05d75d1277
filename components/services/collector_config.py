"""The OpenTelemetry Collector config, built as Python data from the settings.

Two lanes:
- untrusted: plain OTLP that any agent (or host process) can send to. It is
  stamped ingest_source=untrusted_otlp and may only reach the selected units'
  indices (claude-code by default) and clawker-cli; any other service.name (a
  forged "envoy", say) goes to the debug exporter and is never indexed.
- trusted: OTLP/gRPC behind mTLS (client certificate signed by the infra CA)
  for Clawker's own infrastructure; left out entirely without TLS material.

Durable delivery (SPEC "Durable delivery"): the opensearch exporter marks every
transport error permanent (contrib issue 49208), so its own queue and retries
never retry. Each lane's logs, and the spans, therefore travel in two halves:

  intake:  otlp receiver -> stamp (ingest_source; and on log records an
           intake id, see INTAKE_ID) -> otlp_grpc exporter with a persistent
           (file_storage, fsync) sending queue and retries  [sender answered
           only once the request is on disk]
  store:   loopback otlp receiver (127.0.0.1 inside the container, one per
           lane) -> route -> failover connector -> opensearch exporter

Nothing asynchronous sits in either half (no batch processor, no in-memory
queue): the intake is answered after the fsync, and the loopback call returns
only once OpenSearch answered. A failed bulk makes the failover connector
answer "All provided pipelines return errors", which the loopback receiver
turns into gRPC Unavailable, which the durable exporter retries.
"""

from __future__ import annotations

from typing import Any

from components import names, telemetry, units
from components.services.docker import CONTAINER_LISTEN_HOST
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

# --- durable delivery ---------------------------------------------------------
# Where the clawker-collector-queue volume is mounted; file_storage keeps the
# persistent sending queues there (one bbolt file per queue).
QUEUE_DIR = "/var/lib/otelcol/queue"
QUEUE_STORAGE = "file_storage/queue"
# Loopback-only receivers of the store half, one per lane so that routing after
# the loop still knows the lane. Never published, never on clawker-net.
LOOPBACK_HOST = "127.0.0.1"
LOOPBACK_PORTS = {"untrusted": 14317, "trusted": 14319}
# Ports the collector listens on inside its container whatever the settings say: a setting
# the collector also listens on (its OTLP, trusted-lane and metrics ports) must not take one,
# or the collector cannot bind it and never starts (components/settings.py refuses it).
FIXED_PORTS = {
    SELF_TELEMETRY_PORT: "its own telemetry",
    **{port: f"the {lane} lane's loopback receiver" for lane, port in LOOPBACK_PORTS.items()},
}
LOOPBACK_MAX_RECV_MIB = 64
# Each persistent queue holds at most this many bytes of requests (on disk).
QUEUE_BYTES = 512 * 1024 * 1024
RETRY_MAX_INTERVAL = "10s"
# The failover connector probes a failed OpenSearch again this often.
FAILOVER_RETRY_INTERVAL = "2s"
# The durable exporters' batches, read back from the persistent queue (an item
# leaves the queue only once the batch holding it is stored). A batch short of
# min_size goes after 200 ms, not 1 s: with a backlog batches fill at once anyway,
# and the last one of a burst no longer waits a second (issue 21, README "Benchmarks").
DURABLE_BATCH = {"flush_timeout": "200ms", "sizer": "items", "min_size": 1000, "max_size": 2000}
# Batches each durable exporter sends at once (each one bulk request to OpenSearch). Two,
# not four: on the stack's 2-core hosts the bulk requests compete with OpenSearch's own
# ingest pipelines for the CPU; 2 stored more records/s than 4 in each of four paired
# runs, with less collector memory, and 1 fewer (README "Benchmarks", issue 21). Three
# was not measurably better at load 17-26 (benchmarks/ingest_pair.py, 2026-12-05).
DURABLE_CONSUMERS = 2
# The bulk request to OpenSearch must answer before the durable exporter gives
# up on the loopback call (then it retries; the store is idempotent).
OPENSEARCH_TIMEOUT = "20s"
DURABLE_TIMEOUT = "30s"

# Every log record accepted at intake gets a random UUID in this attribute, BEFORE the
# persistent queue, so the request on disk carries it and every resend or replay of it
# (a retried bulk, the queue replayed after a crash) carries the same one. The envelope
# pipeline's record-id step derives the document id from it where the source has no
# fields that tell two real events apart (README "Durable delivery": identity per
# source), then removes it from the document. `set` overwrites: a sender cannot choose it.
# OTTL UUID() (pkg/ottl/ottlfuncs/func_uuid.go at v0.152.0) is a random version-4 UUID.
INTAKE_ID = "clawker.intake_id"
INTAKE_ID_PROCESSOR = "transform/intake-id"

# Kept far longer than any plausible gap between two events of a rare counter
# (commits, pull requests): an expired series restarts from zero in Prometheus.
# 0 is not "never" for metric_expiration: it expires everything at once.
SERIES_LIFETIME = "8760h"
# Resource attributes copied onto every metric datapoint, the only place Prometheus
# reads labels from: the agent's project and name, and the team attributes agents carry
# (agent_env.resource_attributes) that the budget rules and Team views group by.
METRIC_LABEL_RESOURCE_ATTRIBUTES = ("project", "agent", "team.id", "department", "cost_center")

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


def _intake_id() -> dict:
    # Synchronous (SPEC "Durable delivery": nothing asynchronous before the queue). Should a
    # record ever miss its stamp, it is still stored: the record-id step falls back to its content.
    return {
        "error_mode": "ignore",
        "log_statements": [{"context": "log", "statements": [f'set(log.attributes["{INTAKE_ID}"], UUID())']}],
    }


def _opensearch_exporter(settings: Settings, **target: Any) -> dict:
    return {
        "http": {"endpoint": settings.opensearch_internal_url},
        "timeout": OPENSEARCH_TIMEOUT,
        # Dataset/namespace only name the SS4O traces index; logs use logs_index.
        "dataset": names.TRACES_DATASET,
        "namespace": names.TRACES_NAMESPACE,
        "mapping": {"mode": "ss4o"},
        # The document id comes from the ingest pipelines (the intake id or the
        # record's content, see INTAKE_ID; traceId-spanId for spans): `index` overwrites a resent record
        # where `create` would answer 409 and fail the whole bulk again.
        "bulk_action": "index",
        # No queue and no retries here: the failure must travel back, synchronously,
        # to the durable exporter's persistent queue (see the module docstring).
        "sending_queue": {"enabled": False},
        "retry_on_failure": {"enabled": False},
        **target,
    }


def _durable_exporter(settings: Settings, lane: str) -> dict:
    """The intake half's end: a persistent, retried OTLP/gRPC hop to the lane's loopback receiver."""
    return {
        "endpoint": f"{LOOPBACK_HOST}:{LOOPBACK_PORTS[lane]}",
        "tls": {"insecure": True},
        # Loopback: compression would only cost CPU.
        "compression": "none",
        "timeout": DURABLE_TIMEOUT,
        "sending_queue": {
            "enabled": True,
            "storage": QUEUE_STORAGE,
            "sizer": "bytes",
            "queue_size": QUEUE_BYTES,
            "num_consumers": DURABLE_CONSUMERS,
            # Full queue: the sender gets a retryable refusal, nothing is dropped silently.
            "block_on_overflow": False,
            "batch": dict(DURABLE_BATCH),
        },
        "retry_on_failure": {
            "enabled": True,
            "initial_interval": "1s",
            "max_interval": RETRY_MAX_INTERVAL,
            # Retried this long (an outage of up to this length loses nothing); a request
            # still not stored after it is dropped and counted in otelcol_exporter_send_failed_*.
            "max_elapsed_time": f"{settings.delivery_retry_hours}h",
        },
    }


def _loopback_receiver(lane: str) -> dict:
    return {
        "protocols": {
            "grpc": {
                "endpoint": f"{LOOPBACK_HOST}:{LOOPBACK_PORTS[lane]}",
                "max_recv_msg_size_mib": LOOPBACK_MAX_RECV_MIB,
            }
        }
    }


def _failover(store_pipeline: str) -> dict:
    return {
        "priority_levels": [[store_pipeline]],
        "retry_interval": FAILOVER_RETRY_INTERVAL,
        # Its own queue would answer the loopback call before OpenSearch stored anything.
        "sending_queue": {"enabled": False},
    }


def _storage_extension() -> dict:
    return {
        "directory": QUEUE_DIR,
        "fsync": True,
        "compaction": {
            "directory": QUEUE_DIR,
            "on_start": True,
            "on_rebound": True,
            "check_interval": "5s",
            "rebound_needed_threshold_mib": 64,
            "rebound_trigger_threshold_mib": 8,
            "cleanup_on_start": True,
        },
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


# --- composition ----------------------------------------------------------------
# render() is the sum of small parts, each adding its receivers, processors,
# exporters, connectors and pipelines to one Config:
#
#   _untrusted_lane   plain OTLP intake (logs and spans) -> durable queue -> loopback
#                     -> route by service.name -> one store per untrusted stream
#                     (the selected units' indices, then clawker-cli) and the traces
#   _metrics          OTLP metrics, the collector's own and the span metrics ->
#                     Prometheus; each unit's datapoint renames (_unit_metrics)
#   _trusted_lane     mTLS intake -> durable queue -> loopback -> route -> one store
#                     per trusted stream (stamped with its ingest_source); only with TLS
#
# The file lays the first keys of some sections out as the single-function renderer
# did (LAYOUT), so the rendered bytes, and with them a running collector's config,
# stay the same for the same settings (tests/unit/test_collector_config_golden.py).

SECTIONS = ("receivers", "processors", "exporters", "connectors", "pipelines")
LAYOUT = {
    "processors": (
        "memory_limiter", "batch", "resource/untrusted", "transform/metric-labels", "deltatocumulative",
        "transform/unrouted-untrusted", INTAKE_ID_PROCESSOR,
    ),
    "exporters": ("debug", "prometheus", "otlp_grpc/untrusted"),
    "connectors": ("span_metrics", "routing/untrusted"),
    "pipelines": (
        "logs/untrusted", "traces", "logs/untrusted-loop", "logs/untrusted-unrouted", "metrics/untrusted", "metrics/trusted",
    ),
}


class Config:
    """The collector config's sections, filled by the parts below."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.table = settings.stream_table
        self.sections: dict[str, dict] = {name: {} for name in SECTIONS}

    def __getattr__(self, name: str) -> dict:
        if name in SECTIONS:
            return self.sections[name]
        raise AttributeError(name)

    def store(self, signal: str, name: str, exporter: str, body: dict) -> str:
        """The store half's last step: failover/<name> -> <signal>/<name>-store -> the opensearch exporter."""
        store = f"{signal}/{name}-store"
        self.exporters[exporter] = body
        self.connectors[f"failover/{name}"] = _failover(store)
        self.pipelines[store] = {"receivers": [f"failover/{name}"], "processors": ["memory_limiter"], "exporters": [exporter]}
        return f"failover/{name}"

    def log_store(self, lane: str, index: str, processors: list[str]) -> None:
        """logs/<index>: the lane's route for one stream, into its index."""
        exporter = f"opensearch/{index}"
        self.pipelines[f"logs/{index}"] = {
            "receivers": [f"routing/{lane}"],
            "processors": processors,
            "exporters": [self.store("logs", index, exporter, _opensearch_exporter(self.settings, logs_index=index))],
        }

    def laid_out(self) -> dict:
        out = {}
        for name, section in self.sections.items():
            first = [key for key in LAYOUT.get(name, ()) if key in section]
            out[name] = {key: section[key] for key in first + [k for k in section if k not in first]}
        return out


def _shared(cfg: Config) -> None:
    cfg.processors["memory_limiter"] = {"check_interval": "1s", "limit_mib": 150, "spike_limit_mib": 30}
    # Only unrouted records reach it: one line per record, with its resource's service.name.
    cfg.exporters["debug"] = {"verbosity": "normal"}
    cfg.processors[INTAKE_ID_PROCESSOR] = _intake_id()


def _lane_store(cfg: Config, lane: str, routes: dict[str, str]) -> None:
    """The store half's entry: loopback receiver -> routing by service.name; unrouted records to debug."""
    cfg.receivers[f"otlp/loop-{lane}"] = _loopback_receiver(lane)
    cfg.connectors[f"routing/{lane}"] = {"default_pipelines": [f"logs/{lane}-unrouted"], "table": _route_table(routes)}
    cfg.pipelines[f"logs/{lane}-loop"] = {
        "receivers": [f"otlp/loop-{lane}"],
        "processors": ["memory_limiter"],
        "exporters": [f"routing/{lane}"],
    }
    cfg.processors[f"transform/unrouted-{lane}"] = _unrouted(lane)
    cfg.pipelines[f"logs/{lane}-unrouted"] = {
        "receivers": [f"routing/{lane}"],
        "processors": ["memory_limiter", f"transform/unrouted-{lane}"],
        "exporters": ["debug"],
    }


def _untrusted_lane(cfg: Config) -> None:
    settings = cfg.settings
    # Intake half: stamped, then on disk before the sender's answer.
    cfg.receivers["otlp"] = {
        "protocols": {
            "grpc": {"endpoint": _listen(settings.otlp_grpc_port)},
            "http": {"endpoint": _listen(settings.otlp_http_port)},
        }
    }
    cfg.processors["resource/untrusted"] = _stamp(names.UNTRUSTED_INGEST_SOURCE)
    cfg.exporters["otlp_grpc/untrusted"] = _durable_exporter(settings, "untrusted")
    cfg.pipelines["logs/untrusted"] = {
        "receivers": ["otlp"],
        "processors": ["memory_limiter", "resource/untrusted", INTAKE_ID_PROCESSOR],
        "exporters": ["otlp_grpc/untrusted"],
    }
    cfg.pipelines["traces"] = {
        "receivers": ["otlp"],
        "processors": ["memory_limiter", "resource/untrusted"],
        # span_metrics counts each span once, here, never on a retry.
        "exporters": ["otlp_grpc/untrusted", "span_metrics"],
    }
    # Store half: the selected units' streams and clawker-cli; no other service.name is stored.
    routes = cfg.table.index_by_service(telemetry.UNTRUSTED)
    _lane_store(cfg, "untrusted", routes)
    cfg.pipelines["traces/untrusted-loop"] = {
        "receivers": ["otlp/loop-untrusted"],
        "processors": ["memory_limiter"],
        "exporters": [cfg.store("traces", "traces", "opensearch/traces", _opensearch_exporter(settings))],
    }
    for index in dict.fromkeys(routes.values()):
        cfg.log_store("untrusted", index, ["memory_limiter"])


def _metric_labels() -> dict:
    return {
        "error_mode": "ignore",
        "metric_statements": [
            {
                "context": "datapoint",
                "statements": [
                    # Prometheus only sees datapoint attributes as labels.
                    *(
                        f'set(attributes["{key}"], resource.attributes["{key}"]) where resource.attributes["{key}"] != nil'
                        for key in METRIC_LABEL_RESOURCE_ATTRIBUTES
                    ),
                    # OpenSearch's Prometheus connector breaks on a label named "type".
                    'set(attributes["kind"], attributes["type"]) where attributes["type"] != nil',
                    'delete_key(attributes, "type")',
                ],
            }
        ],
    }


def _unit_metrics(unit: units.Unit) -> dict | None:
    """A unit's datapoint renames (manifest metrics.datapoint_renames), for its own service names only."""
    if not unit.datapoint_renames:
        return None
    services = " or ".join(f'resource.attributes["service.name"] == "{s}"' for s in unit.metric_service_names)
    statements = []
    for old, new in unit.datapoint_renames:
        where = f'attributes["{old}"] != nil and ({services})'
        statements += [f'set(attributes["{new}"], attributes["{old}"]) where {where}', f'delete_key(attributes, "{old}") where {where}']
    return {"error_mode": "ignore", "metric_statements": [{"context": "datapoint", "statements": statements}]}


def _metrics(cfg: Config) -> None:
    settings = cfg.settings
    # The collector's own telemetry, scraped in-container.
    cfg.receivers["prometheus/self"] = {
        "config": {
            "scrape_configs": [
                {
                    "job_name": "otel-collector-self",
                    "scrape_interval": "15s",
                    "static_configs": [{"targets": [f"localhost:{SELF_TELEMETRY_PORT}"]}],
                }
            ]
        }
    }
    # Metrics only: a batch processor answers before anything is stored, so
    # no log or span pipeline may use it (SPEC "Durable delivery").
    cfg.processors["batch"] = {"timeout": "5s", "send_batch_size": 1024, "send_batch_max_size": 2048}
    renames = []
    for unit in cfg.table.units:
        body = _unit_metrics(unit)
        if body:
            renames.append(f"transform/unit-{unit.name}")
            cfg.processors[renames[-1]] = body
    cfg.processors["transform/metric-labels"] = _metric_labels()
    cfg.processors["deltatocumulative"] = {"max_stale": SERIES_LIFETIME}
    cfg.exporters["prometheus"] = {
        "endpoint": _listen(settings.collector_metrics_port),
        "metric_expiration": SERIES_LIFETIME,
    }
    # "spanmetrics" before 0.152; the old name only logs a deprecation warning.
    # Calls per span name, plus `success`: Claude Code marks every claude_code.llm_request
    # span it ends with success=true/false (and never sets the span status), so the API
    # error-rate alert (prometheus_config.api_error_rule) can count failed requests.
    cfg.connectors["span_metrics"] = {"dimensions": [{"name": SPAN_METRICS_SUCCESS_DIMENSION}]}
    cfg.pipelines["metrics/untrusted"] = {
        "receivers": ["otlp"],
        "processors": [
            "memory_limiter",
            "resource/untrusted",
            *renames,
            "transform/metric-labels",
            "deltatocumulative",
            "batch",
        ],
        "exporters": ["prometheus"],
    }
    cfg.pipelines["metrics/trusted"] = {
        "receivers": ["prometheus/self", "span_metrics"],
        "processors": ["memory_limiter", "transform/metric-labels", "deltatocumulative", "batch"],
        "exporters": ["prometheus"],
    }


def _trusted_index_sources(table: telemetry.StreamTable) -> dict[str, str]:
    """index -> the ingest_source stamped on it; service names sharing an index share its stamp."""
    out: dict[str, str] = {}
    for service, index in table.index_by_service(telemetry.TRUSTED).items():
        source = table.trusted_ingest_source[service]
        if out.setdefault(index, source) != source:
            raise ValueError(f"components/telemetry.py: {index} would be stamped both {out[index]} and {source}")
    return out


def _trusted_lane(cfg: Config) -> None:
    settings = cfg.settings
    cfg.receivers["otlp/infra"] = {
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
    routes = cfg.table.index_by_service(telemetry.TRUSTED)
    cfg.exporters["otlp_grpc/trusted"] = _durable_exporter(settings, "trusted")
    cfg.pipelines["logs/trusted"] = {
        "receivers": ["otlp/infra"],
        "processors": ["memory_limiter", INTAKE_ID_PROCESSOR],
        "exporters": ["otlp_grpc/trusted"],
    }
    _lane_store(cfg, "trusted", routes)
    cfg.processors["transform/envoy"] = {
        "error_mode": "ignore",
        "log_statements": [{"context": "log", "statements": _envoy_statements()}],
    }
    for index, source in _trusted_index_sources(cfg.table).items():
        stamp = f"resource/{source}"
        cfg.processors[stamp] = _stamp(source)
        envoy = ["transform/envoy"] if index == routes["envoy"] else []
        cfg.log_store("trusted", index, ["memory_limiter", stamp, *envoy])


def _service(cfg: Config) -> dict:
    return {
        "extensions": [QUEUE_STORAGE],
        "telemetry": {
            "metrics": {
                # Includes otelcol_exporter_queue_size/_capacity and the
                # sent/send_failed counters of every exporter (README "Durable delivery").
                "level": "normal",
                "readers": [{"pull": {"exporter": {"prometheus": {"host": "localhost", "port": SELF_TELEMETRY_PORT}}}}],
            }
        },
    }


def render(settings: Settings) -> dict:
    """The collector config as a dict; config_file.upload() writes it into the container."""
    cfg = Config(settings)
    _shared(cfg)
    _untrusted_lane(cfg)
    _metrics(cfg)
    if settings.trusted_lane_enabled:
        _trusted_lane(cfg)
    sections = cfg.laid_out()
    pipelines = sections.pop("pipelines")
    return {
        "extensions": {QUEUE_STORAGE: _storage_extension()},
        **sections,
        "service": {**_service(cfg), "pipelines": pipelines},
    }
