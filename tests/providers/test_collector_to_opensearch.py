"""Records through the REAL collector into the bootstrapped indices.

The collector binary (OpenTelemetry Collector Builder v0.152.0 build that
tools/images.sh caches) runs as a local process with the stack's own rendered
config (components/services/collector_config.render), changed only where a local run
must differ: listen addresses and ports, the OpenSearch endpoint, and the
trusted lane's receiver without TLS (the lane's processors and exporters are
unchanged). Records are sent with the OpenTelemetry Python SDK for all six
sources; then the stored documents and the live mappings are checked the same
way as the SS4O-shaped documents in test_opensearch_mappings.py.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable, Optional

import pytest
import yaml

from opensearch_node import CACHE, OpenSearchNode, free_port
from otlp_sender import http_log_exporter, send_logs
from prerequisites import unavailable
from telemetry_samples import RESOURCES, ingest_source_for, records_for
from test_opensearch_mappings import TIMEOUT_S, check_index

from components.bootstrap import opensearch as boot
from components import names
from components.services import collector_config
from components.providers import opensearch as osp
from components.settings import validate

ARRIVAL_S = 90


def _collector_binary() -> str:
    explicit = os.environ.get("CLAWKER_OTELCOL_BIN")
    if explicit:
        return explicit
    # The newest build: each manifest change is cached beside the older ones.
    found = sorted(glob.glob(str(CACHE / "otelcol-contrib-*" / "otelcol-contrib")), key=os.path.getmtime)
    if not found:
        unavailable(f"no collector build under {CACHE}/otelcol-contrib-*/ (tools/images.sh otelcol builds it)")
    return found[-1]


def _local_config(opensearch_url: str, queue_dir: Path, settings: Optional[dict] = None) -> tuple[dict, dict]:
    """The stack's collector config with local addresses and queue directory; returns (config, ports).

    settings: more of the stack's settings (e.g. its units)."""
    ports = {k: free_port() for k in ("http", "grpc", "infra", "metrics", "self")}
    loops = {lane: free_port() for lane in collector_config.LOOPBACK_PORTS}
    settings = validate(
        {
            "otlpHttpPort": ports["http"],
            "otlpGrpcPort": ports["grpc"],
            "infraPort": ports["infra"],
            "collectorMetricsPort": ports["metrics"],
            # The paths only switch the trusted lane on; its receiver is replaced below.
            "infraTlsCertFile": "/unused/server.crt",
            "infraTlsKeyFile": "/unused/server.key",
            "infraTlsCaFile": "/unused/ca.crt",
            **(settings or {}),
        }
    )
    text = json.dumps(collector_config.render(settings))
    text = text.replace("0.0.0.0:", "127.0.0.1:").replace(settings.opensearch_internal_url, opensearch_url)
    text = text.replace(f"localhost:{collector_config.SELF_TELEMETRY_PORT}", f"localhost:{ports['self']}")
    text = text.replace(collector_config.QUEUE_DIR, str(queue_dir))
    for lane, port in collector_config.LOOPBACK_PORTS.items():
        text = text.replace(f"{collector_config.LOOPBACK_HOST}:{port}\"", f"{collector_config.LOOPBACK_HOST}:{loops[lane]}\"")
    config = json.loads(text)
    config["receivers"]["otlp/infra"]["protocols"]["grpc"].pop("tls")
    readers = config["service"]["telemetry"]["metrics"]["readers"]
    readers[0]["pull"]["exporter"]["prometheus"]["port"] = ports["self"]
    return config, ports


def _wait_port(port: int, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"collector exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"collector did not listen on {port}:\n{log.read_text()[-4000:]}")


@contextlib.contextmanager
def running_collector(
    opensearch_url: str,
    tmp_path: Path,
    adjust: Optional[Callable[[dict], None]] = None,
    env: Optional[dict] = None,
    settings: Optional[dict] = None,
):
    """The real collector with the stack's config (local addresses); adjust(config) may change it first.

    env: added to the collector's environment (what `${env:...}` in the config reads). A second
    run in the same tmp_path reuses the first's on-disk queue.
    """
    binary = _collector_binary()
    queue_dir = tmp_path / "queue"
    queue_dir.mkdir(exist_ok=True)
    config, ports = _local_config(opensearch_url, queue_dir, settings)
    if adjust:
        adjust(config)
    path = tmp_path / "otel-collector-config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    log = tmp_path / "collector.log"
    proc = subprocess.Popen(
        [binary, f"--config={path}"], stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, **(env or {})},
    )
    try:
        for key in ("http", "infra"):
            _wait_port(ports[key], proc, log)
        yield {"ports": ports, "log": log}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture()
def collector(cluster, tmp_path):
    with running_collector(cluster.url, tmp_path) as running:
        yield running


def _bootstrap(node: OpenSearchNode, table: boot.Table = boot.DEFAULT) -> None:
    """The stack's pipelines, templates and write-name indices (of `table`'s units: by default the default units')."""
    props = lambda name, body: {"endpoint": node.url, "name": name, "body": body, "timeout_s": TIMEOUT_S}  # noqa: E731
    for name, body in boot.pipeline_bodies(table).items():
        osp.IngestPipelineProvider().create(props(name, body))
    osp.ComponentTemplateProvider().create(props(names.COMPONENT_TEMPLATE, boot.component_template_body()))
    for index in table.log_indices + (names.TRACES_INDEX,):
        for name, body in boot.template_bodies(index, table).items():  # the write name's and the days'
            osp.IndexTemplateProvider().create(props(name, body))
    for index in table.log_indices:
        osp.IndexProvider().create(
            {
                "endpoint": node.url,
                "name": index,
                "mappings": boot.index_mappings(index, table),
                "settings": boot.index_settings(index, table),
                "policy_id": None,
                "timeout_s": TIMEOUT_S,
            }
        )


def _grpc_exporter(port: int):
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

    return OTLPLogExporter(endpoint=f"127.0.0.1:{port}", insecure=True, timeout=10)


def _as_envoy_writes(record: dict) -> dict:
    """Envoy's access log sends every value as a string, with "-" for an absent one."""
    attrs = {k: ("true" if v is True else "false" if v is False else str(v)) for k, v in record["attributes"].items()}
    attrs.setdefault("bytes_sent", "-")
    attrs.setdefault("client.address", "-")
    return {**record, "attributes": attrs, "severity_text": ""}


def _send_all(ports: dict) -> dict[str, int]:
    sent = {}
    for index in names.LOG_INDICES:
        records = records_for(index)
        if index == "clawker-envoy":
            records = [_as_envoy_writes(r) for r in records]
            records.append({"body": "no action yet", "attributes": {"action": "-", "response_code": "-"}})
        untrusted = index in names.UNTRUSTED_LOG_INDICES.values()
        exporter = http_log_exporter(f"http://127.0.0.1:{ports['http']}") if untrusted else _grpc_exporter(ports["infra"])
        assert send_logs(exporter, resource=RESOURCES[index], records=records), f"collector refused {index} records"
        sent[index] = len(records)
    # A forged infrastructure record on the untrusted lane: accepted by the receiver, indexed nowhere.
    forged = {"body": "forged", "attributes": {"action": "allow", "forged": "yes"}}
    assert send_logs(http_log_exporter(f"http://127.0.0.1:{ports['http']}"), resource={"service.name": "envoy"}, records=[forged])
    return sent


def _send_span(ports: dict) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create(RESOURCES["claude-code"]))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"http://127.0.0.1:{ports['http']}/v1/traces")))
    tracer = provider.get_tracer("com.anthropic.claude_code.tracing")
    with tracer.start_as_current_span("claude_code.interaction", attributes={"user_prompt_length": 12, "session.id": "s1"}):
        with tracer.start_as_current_span("claude_code.tool", attributes={"tool_name": "Bash", "tool": "Bash", "tool.name": "x"}):
            pass
    provider.shutdown()
    # Codex's spans (codexConfig sends them to the same traces index): tracing-opentelemetry's
    # `thread.id` is the OS thread's number, while Codex's own thread/conversation ids are UUID
    # text. One attribute, two types across spans: both must be stored (span attributes are a
    # flat_object, so no span can be refused for a type an earlier one fixed).
    codex = TracerProvider(resource=Resource.create({"service.name": "codex_cli_rs", "service.version": "0.64.0"}))
    codex.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"http://127.0.0.1:{ports['http']}/v1/traces")))
    codex_tracer = codex.get_tracer("codex_otel")
    with codex_tracer.start_as_current_span("codex.turn", attributes={"thread.id": 7, "turn.id": "t1"}):
        with codex_tracer.start_as_current_span("codex.tool_call", attributes={"thread.id": "0199a7c2-5d1e-7b3a-9f00-3c1d2e4f5a6b"}):
            pass
    codex.shutdown()


def _count(node: OpenSearchNode, index: str) -> int:
    answer = node.call("GET", f"{names.read_pattern(index)}/_count")
    return answer.json().get("count", 0) if answer.status_code == 200 else 0


def test_real_collector_records_land_clean(cluster, collector):
    _bootstrap(cluster)
    sent = _send_all(collector["ports"])
    _send_span(collector["ports"])
    deadline = time.monotonic() + ARRIVAL_S
    while time.monotonic() < deadline:
        cluster.call("POST", "_refresh")
        if all(_count(cluster, i) >= n for i, n in sent.items()) and _count(cluster, names.TRACES_INDEX) >= 4:
            break
        time.sleep(1)
    counts = {i: _count(cluster, i) for i in list(sent) + [names.TRACES_INDEX]}
    log = collector["log"].read_text()
    assert counts == {**sent, names.TRACES_INDEX: 4}, f"stored {counts}, sent {sent}; collector log:\n{log[-6000:]}"
    # Nothing refused by OpenSearch along the way.
    assert "mapper_parsing_exception" not in log and "failed to index" not in log.lower(), log[-6000:]

    stored = {index: check_index(cluster, index, n) for index, n in sent.items()}
    # The forged envoy record from the untrusted lane is in no index.
    forged = cluster.call("GET", "clawker-*,claude-code*/_search", {"query": {"term": {"attributes.forged": "yes"}}})
    assert forged.json()["hits"]["total"]["value"] == 0

    for index, sources in stored.items():
        for source in sources:
            assert source["resource"]["ingest_source"] == ingest_source_for(index)
            assert source["resource"]["attributes"]["service.name"] == RESOURCES[index]["service.name"]
    claude = next(s for s in stored["claude-code"] if s["attributes"].get("event.name") == "api_request")
    assert claude["instrumentationScope"]["name"] == "clawker-monitor-tests"
    assert claude["attributes"]["agent.name"] == "reviewer" and "agent" not in claude["attributes"]
    assert claude["severity"] == {"text": "INFO", "number": 9} and claude["severityText"] == "INFO"
    envoy = {s["body"]: s for s in stored["clawker-envoy"]}
    assert envoy["no action yet"]["attributes"]["action"] == "pre_route"
    assert envoy["no action yet"]["severityText"] == "INFO"
    assert "response_code" not in envoy["no action yet"]["attributes"]
    assert envoy["access"]["attributes"]["response_code"] in (200, 403)
    span = cluster.call("GET", f"{names.read_pattern(names.TRACES_INDEX)}/_search", {"query": {"term": {"name": "claude_code.tool"}}}).json()
    span = span["hits"]["hits"][0]["_source"]
    assert span["resource"]["service.name"] == "claude-code" and span["attributes"]["tool.name"] == "x"
    assert span["parentSpanId"] and span["traceId"] and span["kind"]
    # The exporter leaves @timestamp at the zero time; the traces pipeline gives it the start time.
    assert span["@timestamp"] == span["startTime"] and "ingest_error" not in span
    codex_spans = cluster.call(
        "GET", f"{names.read_pattern(names.TRACES_INDEX)}/_search", {"query": {"term": {"resource.service.name": "codex_cli_rs"}}}
    ).json()["hits"]["hits"]
    assert sorted(str(h["_source"]["attributes"]["thread.id"]) for h in codex_spans) == ["0199a7c2-5d1e-7b3a-9f00-3c1d2e4f5a6b", "7"]
    assert not [h for h in codex_spans if "ingest_error" in h["_source"]]
    print("\nstored claude-code api_request document:\n" + json.dumps(claude, indent=1, sort_keys=True))
    print("\nstored span document:\n" + json.dumps(span, indent=1, sort_keys=True))
