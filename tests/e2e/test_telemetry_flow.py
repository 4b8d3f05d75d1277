"""Telemetry through the whole stack: `pulumi up` with the trusted mTLS lane on, then
real traffic sent with the OpenTelemetry SDK, asserted on what OpenSearch,
Prometheus and Dashboards really store.

One stack for the module (its own state and config; the container names are
fixed, so it runs only after test_stack_lifecycle.py's stack is gone). The
infra CA, the collector's server certificate and a trusted sender's client
certificate are made for the run with `openssl` (tls_material.py).

Letters follow the checklist: (i) no changes right after up; (a) bootstrap
state; (b) six sources land clean; (c) what the untrusted lane may not do;
(d) the trusted lane's door; (e) spans; (f) Claude Code metrics in Prometheus
as the dashboards query them; (g) Dashboards bootstrap; (h) drift repaired;
(k) every dashboard panel shows data; (l) alerting rules loaded and one firing.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
import requests
from opentelemetry._logs import SeverityNumber

import claude_code_metrics as ccm
import corpus
import corpus_codex
import panel_proof
import tls_material
from conftest import remove_stack_leftovers
from otlp_sender import grpc_log_exporter, http_log_exporter, send_delta_counters, send_logs, send_spans
from net import wait_until
from prerequisites import unavailable
from pulumi_cli import PulumiStack, docker, inspect

import alerting_tools
import catalogue
from components.bootstrap import dashboards as dashboards_boot
from components.bootstrap import opensearch as boot
from components import codex, names
from components.services import collector_config
from components.services import alertmanager_config, prometheus_config
from components.settings import validate
from components.providers import dashboards as dp
from components.providers import opensearch as osp

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "providers"))
from telemetry_samples import (  # noqa: E402
    RESOURCES,
    dynamic_rules,
    ingest_source_for,
    leaf_types,
    records_for,
    undeclared_fields,
)

OPENSEARCH = "http://127.0.0.1:9200"
PROMETHEUS = "http://127.0.0.1:9090"
DASHBOARDS = "http://127.0.0.1:5601"
UNTRUSTED_OTLP_HTTP = "http://127.0.0.1:4318"
TRUSTED_OTLP_GRPC = "127.0.0.1:4319"
# The collector batches for 5s; OpenSearch refreshes on demand.
ARRIVAL_S = 60
# Prometheus scrapes the collector every 15s; a series needs two scrapes for increase().
SCRAPE_S = 75
# The flow stack's selection (issue 18): Claude Code's unit and Codex's (with a price table, so
# the Codex dashboard's estimated cost is deployed and proven too), and a unit of one's own from
# a folder (tests/fixtures/units/acme-agent), routed, stored, shown and, last (n), removed.
CODEX_PRICES = {
    "gpt-5-codex": {"input": 1.25, "cachedInput": 0.125, "output": 10.0},
    "gpt-5": {"input": 1.5, "cachedInput": 0.25, "output": 12.0},
}
FLOW_UNITS = ("claude-code", "codex")
ACME_UNIT = Path(__file__).resolve().parents[1] / "fixtures" / "units" / corpus.ACME_UNIT
FLOW_CONFIG = {
    "units": json.dumps(FLOW_UNITS),
    "unitPaths": json.dumps([str(ACME_UNIT)]),
    "codexPrices": json.dumps(CODEX_PRICES),
}
TRACES = names.read_pattern(names.TRACES_INDEX)
RUN = uuid.uuid4().hex[:12]
DRIFTED_TEMPLATE = names.LOG_INDEX_TEMPLATES["clawker-envoy"]
CLAUDE_SERIES = '{__name__=~"claude_code_.*"}'
ALERT_COST_THRESHOLD_USD = 0.5
# (l) A team budget below what the module's Claude Code metrics cost: team.id travels
# resource attribute -> collector (copied onto datapoints) -> Prometheus label -> rule.
# A default user budget far above what any user of the corpus spends: the Team & users
# dashboard's budget panel shows every user's share of it, and no user alert fires.
ALERT_SETTINGS = {
    "alertCostPerHourUsd": str(ALERT_COST_THRESHOLD_USD),
    "budgetTeams": '{"%s": {"dailyUsd": 0.5}}' % ccm.TEAM,
    "budgetDailyUsd": "100",
    "alertGroupWaitSeconds": "1",
}
# (l) A webhook receiver, so the stack runs its Alertmanager: the test image tools/images.sh
# builds (set here, not in Pulumi.e2e.yaml, which the previous release's program also reads).
# OpenSearch's document API stands in for the receiver: each notification Alertmanager POSTs
# becomes a document. Set with --secret, as README tells users to.
NOTICES_INDEX = "clawker-e2e-alert-notices"
ALERT_WEBHOOK = f"http://{names.OPENSEARCH}:9200/{NOTICES_INDEX}/_doc"
ALERTMANAGER = "http://127.0.0.1:9093"
ALERTMANAGER_IMAGE = f"clawker-test/alertmanager:{alerting_tools._version('CLAWKER_ALERTMANAGER_VERSION')}"
# The flow stack's settings as its program sees them: its log streams (the selected units' and
# the core's) and the saved objects it deploys come from here, as `pulumi up` derives them.
FLOW = validate({**ALERT_SETTINGS, **FLOW_CONFIG})
TABLE = FLOW.stream_table
LOG_INDICES = TABLE.log_indices
# Each stream's write name and its daily indices (README "Retention").
LOG_INDEX_PATTERN = ",".join(names.read_pattern(i) for i in LOG_INDICES)
DEPLOYED_OBJECTS = dashboards_boot.saved_objects(FLOW)


# --------------------------------------------------------------------------- the stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory, toolchain_bin, docker_engine, tls):
    remove_stack_leftovers()
    s = PulumiStack("e2e-flow", tmp_path_factory.mktemp("e2e-flow-stack"), toolchain_bin)
    try:
        for key, path in tls.stack_config().items():
            s.set_config(key, path)
        # Nothing of this module's data may outlive it.
        s.set_config("purgeVolumesOnDestroy", "true")
        # (l) Below what the module's Claude Code metrics cost (ccm.EXPORTS: about 2.7 USD), so the cost
        # and team budget alerts fire.
        for key, value in {**ALERT_SETTINGS, "codexPrices": FLOW_CONFIG["codexPrices"]}.items():
            s.set_config(key, value)
        # A list setting, as README tells users to set it (Pulumi checks its type against Pulumi.yaml).
        for n, unit in enumerate(FLOW_UNITS):
            s.run("config", "set", "--path", f"clawker-monitor:units[{n}]", unit)
        for n, folder in enumerate(json.loads(FLOW_CONFIG["unitPaths"])):
            s.run("config", "set", "--path", f"clawker-monitor:unitPaths[{n}]", folder)
        if docker("image", "inspect", ALERTMANAGER_IMAGE, check=False).returncode != 0:
            unavailable(f"no {ALERTMANAGER_IMAGE} image (bash tools/images.sh alertmanager builds it)")
        s.set_config("alertmanagerImage", ALERTMANAGER_IMAGE)
        s.set_config("alertWebhookUrl", ALERT_WEBHOOK, secret=True)
        s.up_output = s.up().output  # (l) the webhook URL must not show in it
        # The receiver's index, before any notification: dynamic mapping without date guessing.
        created = requests.put(f"{OPENSEARCH}/{NOTICES_INDEX}", json={"mappings": {"date_detection": False}}, timeout=30)
        assert created.status_code == 200, created.text
        yield s
    finally:
        s.run("destroy", "--yes", "--skip-preview", check=False)
        s.remove()
        remove_stack_leftovers()


# --------------------------------------------------------------------------- helpers


def opensearch(method: str, path: str, body: Optional[dict] = None, **params) -> requests.Response:
    return requests.request(method, f"{OPENSEARCH}/{path}", json=body, params=params or None, timeout=30)


def readable(indices: str) -> str:
    """A stream's name reads its write name and all its days."""
    streams = set(LOG_INDICES) | {names.TRACES_INDEX}
    return ",".join(names.read_pattern(i) if i in streams else i for i in indices.split(","))


def search(indices: str, query: dict, size: int = 200) -> list[dict]:
    indices = readable(indices)
    opensearch("POST", f"{indices}/_refresh")
    answer = opensearch("POST", f"{indices}/_search", {"size": size, "query": query})
    assert answer.status_code == 200, answer.text
    return answer.json()["hits"]["hits"]


def count(index: str, query: Optional[dict] = None) -> int:
    answer = opensearch("POST", f"{readable(index)}/_count", {"query": query or {"match_all": {}}})
    return answer.json().get("count", 0) if answer.status_code == 200 else 0


def collector_log() -> str:
    proc = subprocess.run(["docker", "logs", names.COLLECTOR], capture_output=True, text=True, timeout=60)
    return proc.stdout + proc.stderr


def with_body(body: str) -> dict:
    return {"term": {"body.keyword": body}}


def prometheus(path: str, **params) -> Any:
    answer = requests.get(f"{PROMETHEUS}/api/v1/{path}", params=params, timeout=30)
    assert answer.status_code == 200, f"{path} {params}: {answer.text}"
    body = answer.json()
    assert body["status"] == "success", body
    return body["data"]


def series(selector: str) -> list[dict]:
    return prometheus("series", **{"match[]": selector})


def instant(query: str) -> list[dict]:
    return prometheus("query", query=query)["result"]


# --------------------------------------------------------------------------- traffic


def envoy_wire_form(record: dict) -> dict:
    """A record as Envoy's OpenTelemetry access logger sends it.

    Every value is a string; an absent number or address is "-"; no severity.
    The trusted lane's transform must turn this back into the sample's shape.
    """
    attributes = {k: json.dumps(v) if isinstance(v, bool) else str(v) for k, v in record["attributes"].items()}
    for key in collector_config.ENVOY_NUMERIC_ATTRIBUTES + collector_config.ENVOY_IP_ATTRIBUTES:
        attributes.setdefault(key, "-")
    return {
        **record,
        "attributes": attributes,
        "severity_text": "",
        "severity_number": SeverityNumber.UNSPECIFIED,
    }


def trusted_exporter(tls: tls_material.InfraTls, *, cert: Optional[Path] = None, key: Optional[Path] = None):
    return grpc_log_exporter(
        TRUSTED_OTLP_GRPC,
        ca_file=str(tls.ca_cert),
        cert_file=str(cert) if cert else None,
        key_file=str(key) if key else None,
        timeout=5,
    )


SPAN_TREE = corpus.span_tree(RUN)
SPAN_NAMES = corpus.span_names(SPAN_TREE)
# The corpus: Claude Code, Clawker's own components, Codex and the acme-agent unit's records.
BATCHES = corpus.log_batches() + corpus_codex.codex_batches() + corpus.acme_agent_batches()
# Service names each index receives, per the corpus.
SERVICES_OF = {index: {b.service for b in BATCHES if b.index == index} for index in LOG_INDICES}
# A sender no route knows, on each lane: accepted, indexed nowhere, logged by the collector.
STRAY_SERVICE = {"untrusted": "envoy", "trusted": "mystery-sidecar"}


@dataclass
class Traffic:
    """What the module sent, and the markers of records that must land nowhere or land changed."""

    sent: dict[str, int] = field(default_factory=dict)
    forged_body: str = f"forged envoy record {RUN}"
    spoofed_body: str = f"claude-code record claiming ingest_source envoy {RUN}"
    stray_body: str = f"trusted record from an unknown service {RUN}"
    trace_id: str = ""


@pytest.fixture(scope="module")
def traffic(stack, tls) -> Traffic:
    """Everything sent at once (so the waits overlap): logs on both lanes, spans, metrics."""
    out = Traffic()
    untrusted = lambda: http_log_exporter(UNTRUSTED_OTLP_HTTP)  # noqa: E731
    # (c) A forged infrastructure record first: by the time the genuine ones
    # have landed, it would have landed too if the untrusted lane routed it.
    forged = envoy_wire_form({"body": out.forged_body, "attributes": {"action": "allow", "server.address": "evil.example"}})
    assert send_logs(untrusted(), resource={"service.name": STRAY_SERVICE["untrusted"]}, records=[forged])
    stray = {"body": out.stray_body, "attributes": {"secret": "must not be logged"}}
    trusted = lambda: trusted_exporter(tls, cert=tls.client_cert, key=tls.client_key)  # noqa: E731
    assert send_logs(trusted(), resource={"service.name": STRAY_SERVICE["trusted"]}, records=[stray])
    spoofed = {**records_for("claude-code")[0], "body": out.spoofed_body}
    assert send_logs(untrusted(), resource={**RESOURCES["claude-code"], "ingest_source": "envoy"}, records=[spoofed])

    # The corpus (tests/corpus.py): Claude Code CLI and desktop sessions, Clawker's CLI,
    # control plane (both service names), Envoy, CoreDNS and eBPF egress, each on its lane.
    out.sent = {index: 0 for index in LOG_INDICES}
    for batch in BATCHES:
        exporter = untrusted() if batch.lane == corpus.UNTRUSTED else trusted()
        accepted = send_logs(exporter, resource=batch.resource, records=batch.records, scope=batch.scope)
        assert accepted, f"the collector refused {batch.service} records"
        out.sent[batch.index] += len(batch.records)
    out.sent["claude-code"] += 1  # the spoofed one

    accepted, out.trace_id = send_spans(
        UNTRUSTED_OTLP_HTTP, resource=RESOURCES["claude-code"], scope="com.anthropic.claude_code.tracing", tree=SPAN_TREE
    )
    assert accepted, "the collector refused the spans"
    # Claude Code's counters: the module's agent and each team member's session (tests/corpus.py).
    for export in ccm.EXPORTS:
        assert send_delta_counters(
            UNTRUSTED_OTLP_HTTP, resource=export.resource, scope=ccm.SCOPE, counters=ccm.COUNTERS, rounds=export.rounds
        ), "the collector refused the metrics"
    assert send_delta_counters(
        UNTRUSTED_OTLP_HTTP,
        resource=corpus_codex.METRIC_RESOURCE,
        scope=corpus_codex.METRIC_SCOPE,
        counters=corpus_codex.INSTRUMENTS,
        rounds=corpus_codex.METRIC_ROUNDS,
    ), "the collector refused the Codex metrics"
    return out


@pytest.fixture(scope="module")
def landed(traffic) -> dict[str, list[dict]]:
    """index -> stored hits, once every log record sent has arrived."""

    def arrived():
        opensearch("POST", f"{LOG_INDEX_PATTERN}/_refresh")
        return all(count(index) >= n for index, n in traffic.sent.items())

    wait_until(
        arrived,
        ARRIVAL_S,
        "not every log record reached its index",
        lambda: f"sent {traffic.sent}, stored { {i: count(i) for i in traffic.sent} }; collector log:\n{collector_log()[-4000:]}",
    )
    return {index: search(index, {"match_all": {}}, size=1000) for index in LOG_INDICES}


# --------------------------------------------------------------------------- (i)


def test_i_preview_right_after_up_shows_no_changes(stack):
    stack.preview("--expect-no-changes")


# --------------------------------------------------------------------------- (a)


def test_a_pipelines_and_templates_exist(stack):
    for name, body in boot.pipeline_bodies(TABLE).items():
        answer = opensearch("GET", f"_ingest/pipeline/{name}")
        assert answer.status_code == 200, f"ingest pipeline {name}: {answer.status_code}"
        stored = answer.json()[name]
        assert stored["processors"] == body["processors"], name
        assert stored.get("on_failure") == body.get("on_failure"), name
    answer = opensearch("GET", f"_component_template/{names.COMPONENT_TEMPLATE}")
    assert answer.status_code == 200
    for index, template in {index: index for index in LOG_INDICES}.items():
        answer = opensearch("GET", f"_index_template/{template}")
        assert answer.status_code == 200, f"index template {template}: {answer.status_code}"
        stored = answer.json()["index_templates"][0]["index_template"]
        assert stored["index_patterns"] == [index]
        assert stored["composed_of"] == [names.COMPONENT_TEMPLATE]
    traces = opensearch("GET", f"_index_template/{names.TRACES_INDEX_TEMPLATE}")
    assert traces.status_code == 200
    assert traces.json()["index_templates"][0]["index_template"]["index_patterns"] == [names.TRACES_INDEX]
    # The daily indices' templates: the same mappings, no pipeline.
    for index in LOG_INDICES + (names.TRACES_INDEX,):
        answer = opensearch("GET", f"_index_template/{boot.daily_template_name(index)}")
        assert answer.status_code == 200, f"daily index template of {index}: {answer.status_code}"
        stored = answer.json()["index_templates"][0]["index_template"]
        assert stored["index_patterns"] == [names.day_pattern(index)]
        assert "default_pipeline" not in str(stored.get("template", {}).get("settings", {}))


@pytest.mark.parametrize("index", LOG_INDICES)
def test_a_log_index_exists_with_its_template_mapping(stack, index):
    answer = opensearch("GET", f"{index}/_mapping")
    assert answer.status_code == 200, f"{index} was not pre-created: {answer.text}"
    live = leaf_types(answer.json()[index]["mappings"]["properties"])
    declared = leaf_types(osp.canonical_mappings(boot.index_mappings(index, TABLE))["properties"])
    # Key fields first (readable failure), then every field the templates declare.
    for path in ("@timestamp", "body", "severityText", "resource.attributes.ingest_source", "resource.attributes.service.name"):
        assert live.get(path) == declared[path], f"{index}.{path}: live {live.get(path)}, templates {declared[path]}"
    assert {p: live.get(p) for p in declared} == declared
    settings = opensearch("GET", f"{index}/_settings").json()[index]["settings"]["index"]
    assert "final_pipeline" not in settings
    assert settings.get("default_pipeline") == names.route_pipeline(index)


# --------------------------------------------------------------------------- (b)


@pytest.mark.parametrize("index", LOG_INDICES)
def test_b_records_land_in_their_index_stamped_and_clean(traffic, landed, index):
    hits = landed[index]
    assert len(hits) == traffic.sent[index], f"{index}: {len(hits)} stored, {traffic.sent[index]} sent"
    expected_source = ingest_source_for(index)
    for hit in hits:
        doc = hit["_source"]
        assert "_ignored" not in hit, f"{index}: values dropped as malformed: {hit['_ignored']}"
        assert "ingest_error" not in doc, f"{index}: pipeline failed: {doc['ingest_error']}"
        resource = doc["resource"]
        assert resource["ingest_source"] == expected_source
        assert resource["attributes"]["ingest_source"] == expected_source
        assert resource["attributes"]["service.name"] in SERVICES_OF[index]
        assert doc["severityText"] == doc["severity"]["text"]
    # Every service name routed here landed: claude-code-desktop with claude-code, clawkercp with clawker-cp.
    assert {h["_source"]["resource"]["attributes"]["service.name"] for h in hits} == SERVICES_OF[index]


def test_b_envoy_records_are_shape_fixed_on_the_trusted_lane(landed):
    docs = [hit["_source"] for hit in landed["clawker-envoy"]]
    assert len(docs) == len(corpus.envoy_batch().records)
    for doc in docs:
        assert doc["body"] == "envoy access_log"
        assert doc["severityText"] == "INFO" and doc["severity"]["number"] == 9
        attributes = doc["attributes"]
        sentinels = {k for k, v in _flat(attributes).items() if v in ("-", "")}
        assert not sentinels, f"'-' left in {sorted(sentinels)}"
        assert isinstance(_flat(attributes)["tls.established"], bool), attributes
    by_action = {}
    for doc in docs:
        by_action.setdefault(doc["attributes"]["action"], []).append(doc["attributes"])
    # Written before routing decided anything ("-" on the wire).
    assert len(by_action["pre_route"]) == 1 and by_action["pre_route"][0]["response_code"] == 0
    allowed = next(a for a in by_action["allowed"] if a.get("method") == "POST")
    assert allowed["response_code"] == 200 and allowed["bytes_sent"] == 5120 and allowed["duration_ms"] == 830
    assert _flat(allowed)["network.peer.port"] == 443
    # An opaque TCP chain carries no HTTP fields at all, not "-" placeholders.
    ssh = next(a for a in by_action["allowed"] if _flat(a)["network.protocol.name"] == "ssh")
    assert "method" not in ssh and "response_code" not in ssh and "response_flags" not in ssh


def _flat(doc: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in doc.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


@pytest.mark.parametrize("index", LOG_INDICES)
def test_b_live_mapping_has_no_field_outside_its_templates_but_declared_dynamic_paths(landed, index):
    """Item 4: after the corpus, every live field is declared, or lies under a declared dynamic path with its type."""
    # The daily indices the records landed in (each the UTC day of its own timestamp).
    days = sorted({h["_index"] for h in landed[index]})
    assert days and all(names.day_index(index, h["_source"]["@timestamp"][:10]) == h["_index"] for h in landed[index])
    assert count(index) == sum(opensearch("GET", f"{d}/_count").json()["count"] for d in days)
    assert opensearch("GET", f"{index}/_count").json()["count"] == 0  # the write name stays empty
    live = {}
    for day in days:
        live.update(leaf_types(opensearch("GET", f"{day}/_mapping").json()[day]["mappings"]["properties"]))
    declared = leaf_types(osp.canonical_mappings(boot.index_mappings(index, TABLE))["properties"])
    changed = {p: (declared[p], live[p]) for p in declared if p in live and live[p] != declared[p]}
    assert not changed, f"{index}: fields whose live type differs from the templates (declared, live): {changed}"
    dynamic = {p: t for p, t in live.items() if p not in declared}
    surprises = undeclared_fields(live, declared, boot.index_mappings(index, TABLE))
    rules = dynamic_rules(boot.index_mappings(index, TABLE))
    assert not surprises, f"{index}: fields mapped outside the templates and their dynamic paths {rules}: {surprises}"
    print(f"{index}: {len(declared)} declared fields, {len(dynamic)} under dynamic paths: {sorted(dynamic)}")


_JSON_TYPES = {
    "long": int, "integer": int, "short": int, "byte": int,
    "double": (int, float), "float": (int, float), "half_float": (int, float), "scaled_float": (int, float),
    "boolean": bool,
    "keyword": str, "text": str, "ip": str, "date": str, "match_only_text": str, "wildcard": str,
}


@pytest.mark.parametrize("index", LOG_INDICES)
def test_b_stored_attributes_have_their_mapped_json_type_and_no_placeholders(landed, index):
    """What Discover shows is _source: a number sent as a string must be stored as a number, "-" not at all."""
    typed = boot.typed_attributes(index, TABLE)
    wrong = []
    for hit in landed[index]:
        attributes = hit["_source"].get("attributes", {})
        for path, kind in typed.items():
            value = panel_proof.source_value(attributes, path)
            for item in value if isinstance(value, list) else [value]:
                if item is None:
                    continue
                expected = _JSON_TYPES.get(kind)
                bad_type = expected is not None and (not isinstance(item, expected) or (expected is int and isinstance(item, bool)))
                if bad_type or (kind not in ("text",) and item in ("-", "")):
                    wrong.append(f"attributes.{path} ({kind}) = {item!r}")
    assert not wrong, f"{index}: {sorted(set(wrong))[:30]}"


def test_b_tool_parameters_become_fields_dashboards_read(landed):
    """Claude Code's JSON-encoded tool_parameters: parsed, and the fields panels read copied up."""
    docs = [h["_source"]["attributes"] for h in landed["claude-code"]]
    bash = [d for d in docs if d.get("tool_name") == "Bash" and d.get("event.name") == "tool_result"]
    assert bash and all(d["bash_command"] == "pytest" and d["full_command"] == "pytest -q tests/unit" for d in bash), bash[:1]
    assert all(d["tool_params"]["timeout"] in (120000, "120000") for d in bash), bash[:1]
    assert all(d["tool_description"] == "Run the unit tests" for d in bash)
    mcp = [d for d in docs if d.get("tool_name") == "mcp_tool"]
    assert mcp and all((d["mcp_server_name"], d["mcp_tool_name"]) == ("github", "create_pull_request") for d in mcp)
    assert {d.get("skill_name") for d in docs if d.get("tool_name") == "Skill"} == {"pdf"}
    assert {d.get("subagent_type") for d in docs if d.get("tool_name") == "Task"} == {"code-reviewer"}
    # Numbers Claude Code sends as strings are stored as numbers.
    request = next(d for d in docs if d.get("event.name") == "api_request")
    assert isinstance(request["cost_usd"], float) and isinstance(request["input_tokens"], int), request
    # The long pasted prompt is kept whole.
    prompts = [d["prompt"]["value"] for d in docs if isinstance(d.get("prompt"), dict) and "value" in d["prompt"]]
    assert corpus.LONG_PROMPT in prompts


# --------------------------------------------------------------------------- (c)


def test_c_forged_envoy_record_on_the_untrusted_lane_lands_nowhere(traffic, landed):
    assert search(f"{LOG_INDEX_PATTERN},{names.TRACES_INDEX}", with_body(traffic.forged_body)) == []
    # Positive control: the same query finds a genuine record sent after it.
    assert len(search(LOG_INDEX_PATTERN, with_body(traffic.spoofed_body))) == 1


def test_c_untrusted_sender_cannot_choose_its_ingest_source(traffic, landed):
    hits = search(LOG_INDEX_PATTERN, with_body(traffic.spoofed_body))
    assert [h["_index"][: -len("-yyyy-mm-dd")] for h in hits] == ["claude-code"]
    resource = hits[0]["_source"]["resource"]
    assert resource["ingest_source"] == names.UNTRUSTED_INGEST_SOURCE
    assert resource["attributes"]["ingest_source"] == names.UNTRUSTED_INGEST_SOURCE


def test_c_records_routed_nowhere_are_logged_with_their_service_name(traffic, landed):
    """An operator reading `docker logs otel-collector` sees which service was dropped, on which lane, and why."""
    assert search(f"{LOG_INDEX_PATTERN},{names.TRACES_INDEX}", with_body(traffic.stray_body)) == []
    log = collector_log()
    for lane, service in STRAY_SERVICE.items():
        reason = f"not indexed: no {lane}-lane route for this service.name"
        assert reason in log, f"{lane} lane: no '{reason}' in the collector log:\n{log[-3000:]}"
        assert re.search(rf"service\.name={re.escape(service)}\b", log), f"{lane}: service.name={service} not logged"
    # Only the resource is logged: nothing the sender put in the record itself.
    assert "must not be logged" not in log and traffic.stray_body not in log


# --------------------------------------------------------------------------- (d)


def test_d_trusted_lane_refuses_senders_without_a_ca_signed_client_certificate(tls, landed):
    resource = RESOURCES["clawker-cp"]
    refused = {
        "no client certificate": (f"no client certificate {RUN}", trusted_exporter(tls)),
        "certificate from another CA": (
            f"impostor client certificate {RUN}",
            trusted_exporter(tls, cert=tls.impostor_cert, key=tls.impostor_key),
        ),
    }
    for sender, (body, exporter) in refused.items():
        record = {"body": body, "attributes": {"event": "container_start", "component": "dockerevents"}}
        assert send_logs(exporter, resource=resource, records=[record]) is False, f"{sender}: export accepted"
    canary = f"trusted canary {RUN}"
    trusted = trusted_exporter(tls, cert=tls.client_cert, key=tls.client_key)
    assert send_logs(trusted, resource=resource, records=[{"body": canary, "attributes": {"event": "canary"}}])
    wait_until(lambda: search("clawker-cp", with_body(canary)), ARRIVAL_S, "the trusted canary did not land")
    for sender, (body, _) in refused.items():
        assert search(LOG_INDEX_PATTERN, with_body(body)) == [], f"{sender}: record stored"


# --------------------------------------------------------------------------- (e)


@pytest.fixture(scope="module")
def stored_spans(traffic) -> list[dict]:
    """The hits of the module's trace, once all its spans are in the traces index."""
    query = {"term": {"traceId": traffic.trace_id}}

    def all_spans():
        hits = search(names.TRACES_INDEX, query)
        return hits if len(hits) >= len(SPAN_NAMES) else None

    return wait_until(
        all_spans,
        ARRIVAL_S,
        f"the {len(SPAN_NAMES)} spans of trace {traffic.trace_id} did not reach {names.TRACES_INDEX}",
        lambda: f"collector log:\n{collector_log()[-3000:]}",
    )


def test_e_spans_land_in_the_traces_index(stored_spans):
    hits = stored_spans
    spans = {h["_source"]["name"]: h for h in hits}
    assert sorted(spans) == sorted(SPAN_NAMES) and len(hits) == len(SPAN_NAMES)
    for hit in hits:
        assert "_ignored" not in hit
        span = hit["_source"]
        assert "ingest_error" not in span
        assert span["resource"]["service.name"] == "claude-code"
        assert span["resource"]["ingest_source"] == names.UNTRUSTED_INGEST_SOURCE
        assert span["@timestamp"] == span["startTime"]
    root = spans["claude_code.interaction"]["_source"]
    assert root["parentSpanId"] == "" and root["attributes"]["run"] == RUN
    assert spans["claude_code.tool"]["_source"]["parentSpanId"] == root["spanId"]
    assert spans["claude_code.hook"]["_source"]["parentSpanId"] == spans["claude_code.tool"]["_source"]["spanId"]
    assert spans["claude_code.tool.blocked_on_user"]["_source"]["parentSpanId"] == spans["claude_code.tool"]["_source"]["spanId"]


def _tree_nodes(node: dict) -> list[dict]:
    return [node] + [n for child in node.get("children", []) for n in _tree_nodes(child)]


def test_e_spans_carry_duration_and_the_attributes_dashboards_group_by(stored_spans):
    """The traces pipeline: durationInNanos from start/end, keyword copies under span_attributes."""
    spans = {h["_source"]["name"]: h["_source"] for h in stored_spans}
    for name, span in spans.items():
        assert isinstance(span.get("durationInNanos"), int) and span["durationInNanos"] > 0, (name, span)
    # Children end before their parents.
    assert spans["claude_code.interaction"]["durationInNanos"] >= spans["claude_code.tool"]["durationInNanos"]
    copied = boot.pipeline_bodies()[names.TRACES_PIPELINE]["processors"][-1]["script"]["params"]["copied"]
    for node in _tree_nodes(SPAN_TREE):
        sent = {k: json.dumps(v) if isinstance(v, bool) else str(v) for k, v in node["attributes"].items() if k in copied}
        assert spans[node["name"]].get("span_attributes", {}) == sent, node["name"]
    assert spans["claude_code.tool"]["span_attributes"]["tool_name"] == "Bash"
    # ... and are aggregatable, as the Traces dashboard needs.
    body = {"size": 0, "query": {"term": {"traceId": stored_spans[0]["_source"]["traceId"]}},
            "aggs": {"tools": {"terms": {"field": "span_attributes.tool_name"}}, "slowest": {"max": {"field": "durationInNanos"}}}}
    answer = opensearch("POST", f"{TRACES}/_search", body).json()
    assert [b["key"] for b in answer["aggregations"]["tools"]["buckets"]] == ["Bash"]
    assert answer["aggregations"]["slowest"]["value"] == spans["claude_code.interaction"]["durationInNanos"]


# --------------------------------------------------------------------------- (f)


@pytest.fixture(scope="module")
def scraped(traffic) -> dict[str, list[dict]]:
    """metric -> its series in Prometheus, once every Claude Code metric has been scraped."""

    def all_there():
        found = {metric: series(metric) for metric in {**catalogue.COLLECTOR_PROMETHEUS_METRICS, **catalogue.CODEX_PROMETHEUS_METRICS}}
        return found if all(found.values()) else None

    return wait_until(
        all_there,
        SCRAPE_S,
        "Prometheus does not have every Claude Code metric",
        lambda: f"missing: {[m for m in {**catalogue.COLLECTOR_PROMETHEUS_METRICS, **catalogue.CODEX_PROMETHEUS_METRICS} if not series(m)]}; "
        f"Claude Code series there: {sorted({s['__name__'] for s in series(CLAUDE_SERIES)})}",
    )


def test_f_every_dashboard_metric_exists_with_its_labels(scraped):
    senders = {(e.resource["project"], e.resource["agent"]) for e in ccm.EXPORTS}
    for metric, labels in catalogue.COLLECTOR_PROMETHEUS_METRICS.items():
        for s in scraped[metric]:
            missing = set(labels) - set(s)
            assert not missing, f"{metric} series lacks labels {sorted(missing)}: {s}"
            assert (s["project"], s["agent"]) in senders, s


def test_f_team_attributes_and_users_become_labels(scraped):
    """OTEL_RESOURCE_ATTRIBUTES team.id / department / cost_center (copied onto datapoints by the
    collector) and the datapoints' user.email / user.account_uuid, as Prometheus names them."""
    query = f"sum by (team_id, department, cost_center, user_email, user_account_uuid) ({prometheus_config.COST_METRIC})"

    def by_labels():
        got = {
            tuple(r["metric"].get(k, "") for k in ("team_id", "department", "cost_center", "user_email", "user_account_uuid")): float(r["value"][1])
            for r in instant(query)
        }
        return got if got == pytest.approx(expected) else None

    own = sum(i for round_ in ccm.ROUNDS for name, i, _ in round_ if name == "claude_code.cost.usage")
    expected = {(ccm.TEAM, "", "", "", ccm.SESSION_ACCOUNT): own}
    for member in corpus.TEAM_MEMBERS:
        key = (member.team or "", member.department or "", member.cost_center or "", member.email or "", member.account)
        expected[key] = sum(c for c, _, _ in member.requests)
    wait_until(by_labels, 30, f"{query} != {expected}", lambda: f"got {instant(query)}")


def test_f_no_series_carries_a_label_named_type(scraped):
    labels = prometheus("labels")
    assert "type" not in labels, "label `type` reached Prometheus (the collector renames it `kind`)"
    assert "kind" in labels
    for metric in catalogue.COLLECTOR_PROMETHEUS_METRICS:
        assert series(f'{metric}{{type!=""}}') == [], metric


_TOTALS = {
    # Prometheus metric -> (instrument, attribute the dashboards group by, its label in Prometheus)
    "claude_code_session_count_total": ("claude_code.session.count", "", ""),
    "claude_code_cost_usage_USD_total": ("claude_code.cost.usage", "model", "model"),
    "claude_code_token_usage_tokens_total": ("claude_code.token.usage", "type", "kind"),
    "claude_code_active_time_seconds_total": ("claude_code.active_time.total", "type", "kind"),
    "claude_code_lines_of_code_count_total": ("claude_code.lines_of_code.count", "type", "kind"),
    "claude_code_commit_count_total": ("claude_code.commit.count", "", ""),
    "claude_code_pull_request_count_total": ("claude_code.pull_request.count", "", ""),
    "claude_code_code_edit_tool_decision_total": ("claude_code.code_edit_tool.decision", "decision", "decision"),
}


def test_f_delta_counters_accumulate_in_prometheus(scraped):
    assert set(_TOTALS) == set(catalogue.COLLECTOR_PROMETHEUS_METRICS)
    for metric, (instrument, attribute, label) in _TOTALS.items():
        expected = ccm.totals(instrument, attribute)
        query = f"sum by ({label}) ({metric})" if label else f"sum({metric})"

        def stored():
            got = {r["metric"].get(label, ""): float(r["value"][1]) for r in instant(query)}
            return got if got == pytest.approx(expected) else None

        # Both delta rounds may straddle a scrape: the sum settles on the next one.
        wait_until(stored, 30, f"{query} != {expected}", lambda: f"got {instant(query)}")


def _promql_parts(node: Any, selectors: list, grouping: set) -> None:
    """Walk Prometheus' own parse tree: every series selector and every grouping/matching label."""
    if isinstance(node, dict):
        if node.get("type") in ("vectorSelector", "matrixSelector"):
            selectors.append(node["matchers"])
        if node.get("type") == "aggregation":
            grouping.update(node.get("grouping") or [])
        if node.get("type") == "binaryExpr":
            grouping.update((node.get("matching") or {}).get("labels") or [])
        for value in node.values():
            _promql_parts(value, selectors, grouping)
    elif isinstance(node, list):
        for value in node:
            _promql_parts(value, selectors, grouping)


def _result_labels(node: Any) -> Optional[set]:
    """Labels the query's result carries: the outermost aggregation's grouping (histogram_quantile
    consumes `le`; an outer sum drops an inner grouping); None where nothing says."""
    kind = node.get("type") if isinstance(node, dict) else None
    if kind == "aggregation":
        return None if node.get("without") else set(node.get("grouping") or [])
    if kind == "call":
        args = node.get("args") or []
        if node.get("func", {}).get("name") == "histogram_quantile" and len(args) == 2:
            inner = _result_labels(args[1])
            return None if inner is None else inner - {"le"}
        return next((r for r in (_result_labels(a) for a in args) if r is not None), None)
    if kind in ("parenExpr", "unaryExpr"):
        return _result_labels(node.get("expr"))
    if kind == "binaryExpr":
        lhs, rhs = _result_labels(node.get("lhs")), _result_labels(node.get("rhs"))
        return rhs if lhs is None else lhs if rhs is None else lhs & rhs
    return None


def _selector_text(matchers: list[dict]) -> str:
    return "{" + ",".join(f'{m["name"]}{m["type"]}{json.dumps(m["value"])}' for m in matchers) + "}"


EXPLORE, IMPORTED = dp.split_bundle(DEPLOYED_OBJECTS)


@pytest.mark.parametrize("panel", EXPLORE, ids=[so["id"] for so in EXPLORE])
def test_f_dashboard_promql_selects_real_series_and_returns_data(scraped, panel):
    attributes = dp.decode_attributes(panel["type"], panel["attributes"])
    query = attributes["kibanaSavedObjectMeta"]["searchSourceJSON"]["query"]["query"]
    tree = requests.post(f"{PROMETHEUS}/api/v1/parse_query", data={"query": query}, timeout=30).json()
    assert tree["status"] == "success", f"{query}: {tree}"
    selectors: list = []
    grouping: set = set()
    _promql_parts(tree["data"], selectors, grouping)
    assert selectors, f"{query} selects no series"
    # `machine` is on every series a team's machine stacks remote-write and on none of a local
    # stack's (catalogue.MACHINE_LABELS): a panel grouping by it shows one series here, and its
    # lines per machine are proven on the team Prometheus (tests/e2e/test_team.py).
    team_only = set(catalogue.MACHINE_LABELS)
    for matchers in selectors:
        # A recorded series (clawker:...) appears at the rule group's next evaluation (15s).
        selected = wait_until(lambda: series(_selector_text(matchers)), 30, f"{_selector_text(matchers)} (in {query}) selects no series")
        for label in grouping - team_only:
            assert all(label in s for s in selected), f"{query} groups by {label!r}, absent from {selected[0]}"
        assert not [s for s in selected if team_only & set(s)], f"{query}: a local series names a machine"
    # increase() needs two scrapes of a series: allow for the next one.
    result = wait_until(lambda: instant(query), 30, f"{query} returned no data")
    kept = (_result_labels(tree["data"]) or set()) - team_only
    for sample in result:
        assert all(sample["metric"].get(label) for label in kept), f"{query}: {sample}"


# A record OpenSearch refuses is logged by the exporter ("Exporting failed. Dropping
# data." with OpenSearch's error type) and is gone for good.
_EXPORT_FAILURE = re.compile(
    r"Exporting failed|Dropping data|_exception|failed to index|rejected",
    re.IGNORECASE,
)
_PROBLEM_LEVEL = re.compile(r"\t(error|warn)\t")


def test_b_e_collector_exported_everything_without_error_or_restart(landed, stored_spans, scraped):
    log = collector_log()
    assert "Everything is ready" in log, log[-3000:]
    problems = [
        line
        for line in log.splitlines()
        if _EXPORT_FAILURE.search(line) or (_PROBLEM_LEVEL.search(line) and '"opensearch/' in line)
    ]
    assert not problems, "\n".join(problems[:20])
    container = inspect("container", names.COLLECTOR)
    state = container["State"]
    assert state["Running"] and not state["Restarting"] and state["OOMKilled"] is False, state
    assert container["RestartCount"] == 0, log[-4000:]


# --------------------------------------------------------------------------- (g)


def _dashboards_find(workspace_id: str, so_type: str) -> dict[str, dict]:
    answer = requests.get(
        f"{DASHBOARDS}/w/{workspace_id}/api/saved_objects/_find",
        params={"type": so_type, "per_page": 1000},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return {so["id"]: so for so in answer.json()["saved_objects"]}


def test_g_dashboards_has_the_clawker_workspace_and_its_objects(stack):
    answer = requests.post(
        f"{DASHBOARDS}/api/workspaces/_list", json={"perPage": 100}, headers={"osd-xsrf": "true"}, timeout=30
    ).json()
    assert answer["success"], answer
    workspaces = [ws for ws in answer["result"]["workspaces"] if ws["name"] == names.WORKSPACE]
    assert len(workspaces) == 1, answer
    workspace = workspaces[0]
    assert workspace["features"] == list(names.WORKSPACE_FEATURES)

    connection = requests.get(f"{DASHBOARDS}/api/saved_objects/data-connection/{names.DATA_CONNECTION_ID}", timeout=30)
    assert connection.status_code == 200, connection.text
    connection = connection.json()
    assert connection["attributes"]["connectionId"] == names.DATASOURCE
    assert connection["attributes"]["type"] == "Prometheus"
    assert workspace["id"] in connection["workspaces"]

    expected: dict[str, set[str]] = {}
    for so in EXPLORE + IMPORTED:
        expected.setdefault(so["type"], set()).add(so["id"])
    for so_type, ids in expected.items():
        stored = _dashboards_find(workspace["id"], so_type)
        assert set(stored) == ids, f"{so_type}: missing {sorted(ids - set(stored))}, extra {sorted(set(stored) - ids)}"
    patterns = _dashboards_find(workspace["id"], "index-pattern")
    # Each reads its stream's write name and daily indices (README "Retention").
    assert {i: so["attributes"]["title"] for i, so in patterns.items()} == {i: names.read_pattern(i) for i in LOG_INDICES + (names.TRACES_INDEX,)}
    dashboards = _dashboards_find(workspace["id"], "dashboard")
    assert sorted(so["attributes"]["title"] for so in dashboards.values()) == [
        "Acme Agent",
        "Claude Code API Health",
        "Claude Code Activity",
        "Claude Code Cost & Usage",
        "Claude Code Cost Attribution",
        "Claude Code Sessions",
        "Claude Code Team & Users",
        "Claude Code Traces",
        "Clawker Networking",
        "Codex",
    ]


# --------------------------------------------------------------------------- (k)


BUNDLE = panel_proof.load_bundle(DEPLOYED_OBJECTS)
PANELS = panel_proof.dashboard_panels(BUNDLE)


def _opensearch_search(index: str, body: dict) -> dict:
    answer = opensearch("POST", f"{readable(index)}/_search", body)
    assert answer.status_code == 200, f"{index}: {answer.text[:2000]}"
    return answer.json()


@pytest.mark.parametrize("panel", PANELS, ids=[p.id for p in PANELS])
def test_k_every_dashboard_panel_shows_data_from_the_corpus(landed, stored_spans, scraped, panel):
    """Each panel evaluated from its saved object against the real backends: non-empty, every column filled."""
    if panel_proof.is_controls(panel):
        # Issue 19's machine and user controls: a local stack's records name no machine, so its
        # machine list is empty (nothing to pick, nothing hidden); every other control lists the
        # corpus's values. What a pick selects: tests/providers/test_dashboard_picks_on_opensearch.py.
        options = panel_proof.control_options(panel, BUNDLE, _opensearch_search, panel_proof.time_from(panel, BUNDLE))
        assert options.pop("resource.machine") == [], f"{panel.name}: a local record names a machine"
        assert all(options.values()), f"{panel.name}: a control lists nothing: {options}"
        return
    if panel.type == "explore":
        problems = panel_proof.evaluate_prometheus(panel, instant)
        deadline = time.monotonic() + 30
        while problems and time.monotonic() < deadline:  # increase() needs a second scrape of a new series
            time.sleep(3)
            problems = panel_proof.evaluate_prometheus(panel, instant)
    else:
        opensearch("POST", f"{LOG_INDEX_PATTERN},{TRACES}/_refresh")
        problems = panel_proof.evaluate_opensearch(panel, BUNDLE, _opensearch_search, panel_proof.time_from(panel, BUNDLE))
    assert not problems, f"{panel.name} shows no data: " + "; ".join(problems)


def test_k_negative_control_the_proof_fails_panels_the_corpus_does_not_fill(landed):
    """The same evaluation on copies of real panels pointed at data nobody sent: each is reported empty."""
    time_from = "now-7d"
    table = next(p for p in PANELS if p.type == "search" and p.id == "clawker-cc-activity-tool-results")
    blank = dataclasses.replace(table, attributes={**table.attributes, "columns": ["attributes.tool_name", "attributes.never_sent"]})
    problems = panel_proof.evaluate_opensearch(blank, BUNDLE, _opensearch_search, time_from)
    assert len(problems) == 1 and problems[0].startswith("column attributes.never_sent is empty on all"), problems
    pie = next(p for p in PANELS if p.type == "visualization" and p.id == "clawker-cc-activity-tools-used")
    vis = copy.deepcopy(pie.attributes)
    vis["visState"]["aggs"][1]["params"]["field"] = "attributes.never_sent"
    problems = panel_proof.evaluate_opensearch(dataclasses.replace(pie, attributes=vis), BUNDLE, _opensearch_search, time_from)
    assert problems == ["aggregation b2 has no bucket"], problems
    # Desktop-only data: before claude-code-desktop was routed, this matched nothing.
    desktop = dataclasses.replace(table, saved_search=None)
    source = copy.deepcopy(desktop.attributes)
    source["kibanaSavedObjectMeta"]["searchSourceJSON"]["query"]["query"] = 'resource.attributes.service.name:"claude-code-desktop" and attributes.event.name:"tool_result"'
    desktop = dataclasses.replace(desktop, attributes=source)
    assert panel_proof.evaluate_opensearch(desktop, BUNDLE, _opensearch_search, time_from) == []
    source["kibanaSavedObjectMeta"]["searchSourceJSON"]["query"]["query"] = 'resource.attributes.service.name:"claude-code-mobile"'
    (problem,) = panel_proof.evaluate_opensearch(desktop, BUNDLE, _opensearch_search, time_from)
    assert problem.startswith(f"no document in {names.read_pattern('claude-code')} matches"), problem


def test_k_the_proof_covers_every_panel_on_every_dashboard():
    on_dashboards = {
        (ref["type"], ref["id"])
        for (so_type, _), so in BUNDLE.objects.items()
        if so_type == "dashboard"
        for ref in so.get("references", [])
    }
    assert {(p.type, p.id) for p in PANELS} == on_dashboards
    assert len(PANELS) >= 62 + 26  # Claude Code's and Clawker's, and Codex's with the estimate


# --------------------------------------------------------------------------- (h)


def test_h_template_deleted_by_hand_is_seen_by_refresh_and_restored_by_up(stack):
    collector_before = inspect("container", names.COLLECTOR)
    assert opensearch("DELETE", f"_index_template/{DRIFTED_TEMPLATE}").status_code == 200
    refresh = stack.refresh()
    resource = f"opensearch-index-template-{DRIFTED_TEMPLATE}"
    assert re.search(rf"{re.escape(resource)}\s.*deleted", refresh.stdout), refresh.stdout[-4000:]
    assert stack.preview("--expect-no-changes", check=False).returncode != 0, "preview missed the deleted template"
    up = stack.up()
    restored = opensearch("GET", f"_index_template/{DRIFTED_TEMPLATE}")
    assert restored.status_code == 200
    template = restored.json()["index_templates"][0]["index_template"]
    assert template["index_patterns"] == ["clawker-envoy"]
    assert template["composed_of"] == [names.COMPONENT_TEMPLATE]
    stack.preview("--expect-no-changes")
    # Repairing an asset does not restart ingestion.
    assert inspect("container", names.COLLECTOR)["Id"] == collector_before["Id"], (
        f"collector re-created; its state before: {collector_before['State']}\n{refresh.stdout[-3000:]}\n{up.stdout[-3000:]}"
    )


# --------------------------------------------------------------------------- (j)


def test_j_records_sent_while_opensearch_restarts_are_not_lost(stack):
    """SPEC "Durable delivery": the collector's persistent queue carries records across an OpenSearch restart
    (counted exactly, at scale, with a SIGKILL and a replacement, in test_durable_delivery.py)."""
    marker = f"sent-during-restart-{RUN}"
    failed_query = 'sum({__name__=~"otelcol_exporter_send_failed_log_records(_total)?", exporter="opensearch/claude-code"})'
    failed = lambda: sum(float(s["value"][1]) for s in instant(failed_query))  # noqa: E731
    failed_before = failed()
    subprocess.run(["docker", "stop", names.OPENSEARCH], check=True, capture_output=True, timeout=120)
    try:
        sent = send_logs(
            http_log_exporter(UNTRUSTED_OTLP_HTTP),
            resource={"service.name": "claude-code", "project": "e2e", "agent": "restart"},
            records=[{"body": marker, "attributes": {"event.name": "user_prompt"}}],
        )
        assert sent, "the collector refused the record (it must accept and queue it)"
        # OpenSearch comes back only once the collector has tried to store records and failed (the
        # claude-code store exporter's send_failed counter rose, as Prometheus scrapes it), so the
        # record has to wait in the durable queue.
        wait_until(lambda: failed() > failed_before, 120, "a failed export to the stopped OpenSearch",
                   lambda: collector_log()[-3000:], every=2)
    finally:
        subprocess.run(["docker", "start", names.OPENSEARCH], check=True, capture_output=True, timeout=120)
    wait_until(
        lambda: inspect("container", names.OPENSEARCH)["State"].get("Health", {}).get("Status") == "healthy",
        240,
        "OpenSearch was not healthy again",
    )
    wait_until(
        lambda: count("claude-code", with_body(marker)) == 1,
        180,
        "the record sent while OpenSearch was down never arrived",
        lambda: collector_log()[-3000:],
    )


# --------------------------------------------------------------------------- (l)


def test_l_alert_rules_are_listed_evaluate_cleanly_and_the_cost_rule_fires(scraped, stack):
    """The rules rendered from this stack's settings, as Prometheus' alerts page shows them."""
    rendered = prometheus_config.render_rules(validate(ALERT_SETTINGS))
    expected = {(g["name"], r.get("alert") or r["record"]): r["expr"] for g in rendered["groups"] for r in g["rules"]}

    def listed() -> dict:
        return {(g["name"], r["name"]): r for g in prometheus("rules")["groups"] for r in g["rules"]}

    rules = listed()
    assert set(rules) == set(expected), f"rules API: {sorted(rules)}, rendered: {sorted(expected)}"
    # The series each rule reads exist in this stack (a rule over absent series could never fire).
    assert series(prometheus_config.COST_METRIC)
    # Span metrics and the collector's self-metrics reach Prometheus on the next
    # scrape (15s) after the spans were exported: wait for a scrape, not a fixed sleep.
    llm_by_success = (
        f'{prometheus_config.SPAN_CALLS_METRIC}{{span_name="{prometheus_config.LLM_REQUEST_SPAN}",'
        f'{collector_config.SPAN_METRICS_SUCCESS_DIMENSION}="true"}}'
    )
    wait_until(lambda: series(llm_by_success), 60, "span_metrics does not count llm_request spans by success")
    for metric in (prometheus_config.COLLECTOR_QUEUE_SIZE, prometheus_config.COLLECTOR_QUEUE_CAPACITY):
        wait_until(lambda: series(metric), 60, f"{metric}: the collector queue rule reads a series Prometheus does not have")

    # Prometheus evaluates every 15s; the cost rule has no pending time.
    def cost_alert_firing():
        alerts = prometheus("alerts")["alerts"]
        return [a for a in alerts if a["labels"]["alertname"] == prometheus_config.ALERT_COST and a["state"] == "firing"]

    firing = wait_until(cost_alert_firing, 60, f"{prometheus_config.ALERT_COST} did not fire", lambda: str(listed()))
    total = sum(ccm.totals("claude_code.cost.usage").values())
    assert float(firing[0]["value"]) == pytest.approx(total)
    # Spend by user (the e-mail, or user.account_uuid where a user has none) and by team,
    # recorded from labels the collector made of datapoint and resource attributes.
    by_user = {s["metric"].get("user"): float(s["value"][1]) for s in instant(prometheus_config.spend_series("user", "daily"))}
    assert by_user == pytest.approx(ccm.totals("claude_code.cost.usage", "user"))
    by_team = {s["metric"].get("team"): float(s["value"][1]) for s in instant(prometheus_config.spend_series("team", "daily"))}
    assert by_team == pytest.approx(ccm.totals("claude_code.cost.usage", "team.id"))

    def team_budget_firing():
        alerts = prometheus("alerts")["alerts"]
        return sorted(
            a["labels"]["threshold"] for a in alerts
            if a["labels"]["alertname"] == prometheus_config.ALERT_TEAM_BUDGET and a["state"] == "firing" and a["labels"].get("team") == ccm.TEAM
        )

    # About 1.5 USD of a 0.5 USD budget: every threshold (0.8, 0.9, 1) fires, once each.
    wait_until(lambda: team_budget_firing() == ["0.8", "0.9", "1"], 60, "the team budget alert did not fire", lambda: str(listed()))

    # Prometheus sends them to the stack's Alertmanager (alertmanager:9093 on clawker-net) ...
    def in_alertmanager():
        alerts = requests.get(f"{ALERTMANAGER}/api/v2/alerts", timeout=10).json()
        return sorted(
            a["labels"]["threshold"] for a in alerts
            if a["labels"]["alertname"] == prometheus_config.ALERT_TEAM_BUDGET and a["labels"].get("team") == ccm.TEAM
        )

    wait_until(lambda: in_alertmanager() == ["0.8", "0.9", "1"], 90, "Alertmanager did not get the team budget alerts")

    # ... which delivers one notification per threshold to the webhook URL it reads from the
    # secret file uploaded into its container.
    def delivered():
        answer = requests.get(f"{OPENSEARCH}/{NOTICES_INDEX}/_search", params={"size": 100}, timeout=10)
        if answer.status_code == 404:
            return []
        return sorted(
            alert["labels"]["threshold"]
            for hit in answer.json()["hits"]["hits"] for alert in hit["_source"]["alerts"]
            if alert["labels"].get("team") == ccm.TEAM and alert["status"] == "firing"
        )

    wait_until(lambda: delivered() == ["0.8", "0.9", "1"], 90, "no webhook notification per threshold", lambda: str(delivered()))
    # The URL is in neither the state (without --show-secrets), the outputs, `pulumi up`'s log, the
    # container's settings and log, nor its config file.
    assert ALERT_WEBHOOK not in stack.run("stack", "export").stdout
    assert ALERT_WEBHOOK not in stack.run("stack", "output", "--json").stdout
    assert ALERT_WEBHOOK not in stack.up_output
    assert ALERT_WEBHOOK not in json.dumps(inspect("container", names.ALERTMANAGER))
    assert ALERT_WEBHOOK not in docker("logs", names.ALERTMANAGER).stdout + docker("logs", names.ALERTMANAGER).stderr
    config_text = subprocess.run(
        ["docker", "exec", names.ALERTMANAGER, "cat", alertmanager_config.CONFIG_PATH], capture_output=True, text=True, check=True
    ).stdout
    assert "url_file: /etc/alertmanager/secrets/webhook-url" in config_text and ALERT_WEBHOOK not in config_text
    rules = listed()
    for key, rule in rules.items():
        assert rule["health"] == "ok", f"{key}: {rule.get('lastError')}"
    # Negative control: nothing is queueing and no API request failed.
    for group, alert in (
        (prometheus_config.GROUP_COLLECTOR, prometheus_config.ALERT_COLLECTOR_QUEUE),
        (prometheus_config.GROUP_CLAUDE_CODE, prometheus_config.ALERT_API_ERRORS),
    ):
        assert rules[(group, alert)]["state"] == "inactive", rules[(group, alert)]


# --------------------------------------------------------------------------- (m) Codex


def _codex_sent() -> list[dict]:
    return [r["attributes"] for b in BATCHES if b.index == corpus_codex.INDEX for r in b.records]


def test_m_codex_records_are_stored_at_the_time_codex_stamped_them(landed):
    """Codex's tracing bridge sends no record timestamp; the exporter writes 1970-01-01, the unit's pipeline the event time."""
    hits = landed[corpus_codex.INDEX]
    sent = {(a["conversation.id"], a["event.timestamp"], a["event.name"]) for a in _codex_sent()}
    stored = set()
    for hit in hits:
        doc = hit["_source"]
        attributes = _flat(doc["attributes"])
        when = attributes["event.timestamp"]
        stored.add((attributes["conversation.id"], when, attributes["event.name"]))
        assert doc["@timestamp"] == when, doc
        assert hit["_index"] == names.day_index(corpus_codex.INDEX, when[:10]), hit["_index"]
        # The pipeline replaced the exporter's 1970-01-01: every Codex record says so.
        assert "@timestamp" in doc.get("ingest_coerced", []), doc
    assert stored == sent
    # Control: records that carry their own timestamp (Claude Code's) keep it untouched.
    assert not [h for h in landed["claude-code"] if "@timestamp" in h["_source"].get("ingest_coerced", [])]
    assert opensearch("GET", "codex-1970*/_count").json().get("count", 0) == 0


def test_m_codex_attributes_are_typed_as_codex_rs_declares_them(landed):
    """Numbers and flags Codex writes as text (tracing's % fields) are stored as numbers and booleans."""
    docs = [_flat(h["_source"]["attributes"]) for h in landed[corpus_codex.INDEX]]
    completed = [d for d in docs if d.get("event.kind") == "response.completed"]
    assert completed and all(isinstance(d["input_token_count"], int) and isinstance(d["output_token_count"], int) for d in completed)
    assert all(isinstance(d["cached_token_count"], int) for d in completed)
    results = [d for d in docs if d["event.name"] == "codex.tool_result"]
    assert {d["success"] for d in results} == {True, False}
    assert all(isinstance(d["duration_ms"], int) for d in results)
    decisions = [d for d in docs if d["event.name"] == "codex.network_proxy.policy_decision"]
    assert {d["network.policy.decision"] for d in decisions} == {"allow", "deny", "ask"}
    assert all(isinstance(d["server.port"], int) and isinstance(d["network.policy.override"], bool) for d in decisions)
    assert {h["_source"]["resource"]["attributes"]["service.name"] for h in landed[corpus_codex.INDEX]} == set(corpus_codex.ORIGINATORS)


def test_m_codex_metrics_reach_prometheus_and_the_estimate_prices_their_tokens(scraped):
    for metric, labels in catalogue.CODEX_PROMETHEUS_METRICS.items():
        for s in scraped[metric]:
            missing = set(labels) - set(s)
            assert not missing, f"{metric} series lacks labels {sorted(missing)}: {s}"

    def by_model(query: str) -> dict[str, float]:
        return {r["metric"].get("model", ""): float(r["value"][1]) for r in instant(query)}

    tokens = {kind: corpus_codex.token_totals(kind) for kind in ("input", "cached_input", "output")}
    for kind, expected in tokens.items():
        query = f'sum by (model) ({codex.TOKEN_USAGE_SUM}{{token_type="{kind}"}})'
        wait_until(lambda: by_model(query) == pytest.approx(expected) or None, 30, f"{query} != {expected}", lambda: str(instant(query)))
    # The estimate, computed here from the corpus and the price table, equals what the panel's PromQL returns.
    expected = {
        model: ((tokens["input"][model] - tokens["cached_input"][model]) * p["input"]
                + tokens["cached_input"][model] * p["cachedInput"] + tokens["output"][model] * p["output"]) / 1e6
        for model, p in CODEX_PRICES.items()
    }
    assert by_model(codex.cost_promql(FLOW.codex_price_table, by_model=True)) == pytest.approx(expected)
    (total,) = instant(codex.cost_promql(FLOW.codex_price_table, by_model=False))
    assert float(total["value"][1]) == pytest.approx(sum(expected.values()))


def test_m_codex_config_output_is_this_stacks_otel_block(stack):
    assert stack.outputs()["codexConfig"] == codex.codex_config(FLOW)


# --------------------------------------------------------------------------- (n) removing a unit


ACME_RESOURCES = {
    f"opensearch-index-template-{corpus.ACME_UNIT}",
    f"opensearch-index-template-{boot.daily_template_name(corpus.ACME_UNIT)}",
    f"opensearch-pipeline-{names.route_pipeline(corpus.ACME_UNIT)}",
    f"opensearch-index-{corpus.ACME_UNIT}",
    f"dashboards-saved-objects-{corpus.ACME_UNIT}",
}


def test_n_removing_a_unit_deletes_its_assets_from_the_stack_and_keeps_its_data_and_dashboards(stack, traffic, landed):
    """The acme-agent folder leaves unitPaths (only (o), which adds it back, runs after this). The preview names its assets as deleted (and
    nothing else); after `up` its records and its dashboard are still there, its templates and
    route are gone, and a new acme-agent record is routed nowhere."""
    kept = count(corpus.ACME_UNIT)
    assert kept == traffic.sent[corpus.ACME_UNIT] > 0
    # As a user's stack: without the purge setting this module turns on (with it, removing a unit
    # deletes its saved objects as `pulumi destroy` would; the teardown removes the volumes anyway).
    # A resource that leaves the program is deleted or kept by the option its state holds, so an
    # `up` records retain_on_delete first.
    stack.set_config("purgeVolumesOnDestroy", "false")
    stack.up()
    stack.run("config", "rm", "clawker-monitor:unitPaths")  # back to the default: no folders
    planned = stack.preview_changes()
    deleted = {urn.rsplit("::", 1)[-1] for urn, op in planned.items() if op == "delete"}
    assert deleted == ACME_RESOURCES, planned
    # Nothing holding data or dashboards is replaced (the collector's container may be: its config changed).
    assert not [urn for urn, op in planned.items() if op in ("replace", "create-replacement") and "container:Container" not in urn], planned
    stack.up()
    # Its data: every record still stored, in its daily indices.
    assert count(corpus.ACME_UNIT) == kept
    # Its dashboard: still in the workspace (the bundle was retain_on_delete), with its panels.
    workspace = requests.post(
        f"{DASHBOARDS}/api/workspaces/_list", json={"perPage": 100}, headers={"osd-xsrf": "true"}, timeout=30
    ).json()["result"]["workspaces"]
    (ws_id,) = [ws["id"] for ws in workspace if ws["name"] == names.WORKSPACE]
    assert "acme-agent-overview" in _dashboards_find(ws_id, "dashboard")
    assert {"acme-agent-tasks", "acme-agent-tasks-by-outcome", "acme-agent-tokens-by-model"} <= set(_dashboards_find(ws_id, "visualization"))
    assert "acme-agent" in _dashboards_find(ws_id, "index-pattern")
    # Its templates and route are gone; the collector no longer routes its service names.
    assert opensearch("GET", f"_index_template/{corpus.ACME_UNIT}").status_code == 404
    assert opensearch("GET", f"_ingest/pipeline/{names.route_pipeline(corpus.ACME_UNIT)}").status_code == 404
    (batch, *_) = corpus.acme_agent_batches()
    assert send_logs(http_log_exporter(UNTRUSTED_OTLP_HTTP), resource=batch.resource, records=batch.records[:1], scope=batch.scope)
    wait_until(
        lambda: re.search(r"service\.name=acme-agent\b", collector_log()),
        ARRIVAL_S,
        "the removed unit's record was not logged as unrouted",
        lambda: collector_log()[-3000:],
    )
    assert count(corpus.ACME_UNIT) == kept
    stack.preview("--expect-no-changes")


def test_o_adding_a_unit_creates_only_its_assets_and_adopts_what_its_removal_kept(stack):
    """After (n): the acme-agent folder returns to unitPaths, as a user adds a unit to a running
    stack. The preview plans exactly its assets as creates (nothing deleted or replaced but the
    collector's container, whose config changed); `up` adopts the dashboard objects its removal
    kept (no "already exists"), its records are routed into its index again, next to the kept ones."""
    kept = count(corpus.ACME_UNIT)
    assert kept > 0
    for n, folder in enumerate(json.loads(FLOW_CONFIG["unitPaths"])):
        stack.run("config", "set", "--path", f"clawker-monitor:unitPaths[{n}]", folder)
    planned = stack.preview_changes()
    created = {urn.rsplit("::", 1)[-1] for urn, op in planned.items() if op == "create"}
    assert created == ACME_RESOURCES, planned
    assert not [
        urn for urn, op in planned.items()
        if op in ("delete", "replace", "create-replacement", "delete-replaced") and "container:Container" not in urn
    ], planned
    stack.up()
    assert opensearch("GET", f"_index_template/{corpus.ACME_UNIT}").status_code == 200
    (batch, *_) = corpus.acme_agent_batches()
    assert send_logs(http_log_exporter(UNTRUSTED_OTLP_HTTP), resource=batch.resource, records=batch.records, scope=batch.scope)
    expected = kept + len(batch.records)
    wait_until(lambda: count(corpus.ACME_UNIT) == expected or None, ARRIVAL_S,
               f"{corpus.ACME_UNIT} did not reach {expected} records", lambda: str(count(corpus.ACME_UNIT)))
    workspace = requests.post(
        f"{DASHBOARDS}/api/workspaces/_list", json={"perPage": 100}, headers={"osd-xsrf": "true"}, timeout=30
    ).json()["result"]["workspaces"]
    (ws_id,) = [ws["id"] for ws in workspace if ws["name"] == names.WORKSPACE]
    assert "acme-agent-overview" in _dashboards_find(ws_id, "dashboard")
    stack.preview("--expect-no-changes")
