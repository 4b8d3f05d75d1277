"""What `clawker monitor up` (the reference implementation) leaves in OpenSearch, for migration tests.

Facts from github.com/schmitthub/clawker at commit a5aed90f,
internal/monitor/templates/opensearch-bootstrap/ (bootstrap.sh.tmpl and the
asset folders): the asset NAMES, which index each template targets and at
which priority, which ingest pipelines each index runs, the retention policy
`clawker-retention` (hot -> delete after 7 days, ism_template over the six log
indices at priority 100), the order (templates and pipelines, then the policy,
then the six indices created empty) and the datasource `clawker_prometheus`.
The field types come from tests/fixtures/reference-index-fields.yaml (facts
observed in the same stack). Bodies are written here, not copied.

The later release, 896bf908 (internal/monitor/templates/opensearch-bootstrap/ and
internal/monitor/testdata/golden/retention-claude.json there), differs where a
volume shows it: the control plane's index (and service) is `clawkercp`, with a
template of that name; the eBPF template maps `identity` where a5aed90f mapped
`domain_hash`; and the retention policy, still `clawker-retention`, is rendered with
the index list clawker-cli, clawkercp, clawker-envoy, clawker-coredns,
clawker-ebpf-egress, then each default-retention unit index (claude-code).
`seed(..., release=...)` applies either; applying a5aed90f then 896bf908 to one
volume is what upgrading Clawker in place leaves.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable

import yaml

FACTS = Path(__file__).resolve().parent / "fixtures" / "reference-index-fields.yaml"

POLICY = "clawker-retention"
COMPONENT_TEMPLATE = "clawker-common"
LOG_INDICES = ("claude-code", "clawker-cli", "clawker-cp", "clawker-envoy", "clawker-coredns", "clawker-ebpf-egress")
RELEASES = ("a5aed90f", "896bf908")
# 896bf908's log indices, in the order its rendered retention policy lists them.
LOG_INDICES_896BF908 = ("clawker-cli", "clawkercp", "clawker-envoy", "clawker-coredns", "clawker-ebpf-egress", "claude-code")
# 896bf908 index -> the a5aed90f index whose template facts it keeps (the control plane's was renamed).
RENAMED = {"clawkercp": "clawker-cp"}
ENVELOPE_PIPELINE = "envelope-normalize"
# index -> its default_pipeline in the reference (every index also runs ENVELOPE_PIPELINE last).
DEFAULT_PIPELINES = {
    "claude-code": "claude-code-prompt-nest",
    "clawker-cp": "cp-actor-attr-nest",
    "clawkercp": "cp-actor-attr-nest",
    "clawker-envoy": "envoy-normalize",
    "clawker-ebpf-egress": "netlogger-normalize",
}
PIPELINES = (ENVELOPE_PIPELINE,) + tuple(dict.fromkeys(DEFAULT_PIPELINES.values()))
DATASOURCE = "clawker_prometheus"


def _field(kind: str) -> dict:
    if kind.startswith("text") and "keyword" in kind:
        return {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 1024}}}
    return {"type": kind.split()[0]}


def _mappings(section: dict) -> dict:
    return {"properties": {path: _field(str(kind)) for path, kind in section.items()}}


def log_indices(release: str = RELEASES[0]) -> tuple[str, ...]:
    return LOG_INDICES_896BF908 if release == "896bf908" else LOG_INDICES


def index_facts(facts: dict, index: str, release: str) -> dict:
    """The field types `release`'s template declares for `index`."""
    section = dict(facts[RENAMED.get(index, index)])
    if release == "896bf908" and "attributes.domain_hash" in section:
        section["attributes.identity"] = section.pop("attributes.domain_hash")
    return section


def policy_body(days: int = 7, release: str = RELEASES[0]) -> dict:
    return {
        "policy": {
            "description": "clawker monitor's retention (reference shape)",
            "default_state": "hot",
            "states": [
                {"name": "hot", "actions": [], "transitions": [{"state_name": "delete", "conditions": {"min_index_age": f"{days}d"}}]},
                {"name": "delete", "actions": [{"delete": {}}], "transitions": []},
            ],
            "ism_template": [{"index_patterns": list(log_indices(release)), "priority": 100}],
        }
    }


def seed(call: Callable, prometheus_uri: str = "http://localhost:9090", release: str = RELEASES[0]) -> None:
    """Apply the reference bootstrap's OpenSearch assets of `release` through `call(method, path, body)`.

    `call` returns a requests.Response; every step must succeed. Each index gets one record
    (body "recorded under clawker monitor", its service.name the index's name).
    """
    facts = yaml.safe_load(FACTS.read_text())

    def ok(method, path, body=None, expect=(200, 201)):
        answer = call(method, path, body)
        assert answer.status_code in expect, f"seeding {method} {path}: {answer.status_code} {answer.text[:500]}"
        return answer

    for name in PIPELINES:
        ok("PUT", f"_ingest/pipeline/{name}", {
            "description": f"clawker monitor pipeline {name} (reference name)",
            "processors": [{"lowercase": {"field": "reference_marker", "ignore_missing": True}}],
        })
    ok("PUT", f"_component_template/{COMPONENT_TEMPLATE}", {
        "template": {
            "settings": {"index": {"number_of_shards": 1, "number_of_replicas": 0}},
            "mappings": _mappings(facts["_shared_by_all_log_indices"]),
        }
    })
    indices = log_indices(release)
    for index in indices:
        settings = {"final_pipeline": ENVELOPE_PIPELINE}
        if index in DEFAULT_PIPELINES:
            settings["default_pipeline"] = DEFAULT_PIPELINES[index]
        ok("PUT", f"_index_template/{index}", {
            "index_patterns": [index],
            "priority": 100,
            "composed_of": [COMPONENT_TEMPLATE],
            "template": {"settings": {"index": settings}, "mappings": _mappings(index_facts(facts, index, release))},
        })
    existing = call("GET", f"_plugins/_ism/policies/{POLICY}", None)
    if existing.status_code == 200:  # a later release rewrites it in place
        current = existing.json()
        ok("PUT", f"_plugins/_ism/policies/{POLICY}?if_seq_no={current['_seq_no']}&if_primary_term={current['_primary_term']}",
           policy_body(release=release))
    else:
        ok("PUT", f"_plugins/_ism/policies/{POLICY}", policy_body(release=release))
    for index in indices:
        if call("HEAD", index, None).status_code == 200:
            continue  # kept from the earlier release
        ok("PUT", index)
        ok("POST", f"{index}/_doc?refresh=true", {
            "@timestamp": "2026-11-01T00:00:00Z",
            "body": "recorded under clawker monitor",
            # Only fields the reference's own templates map (no dynamic mapping).
            "resource": {"attributes": {"service.name": index}},
        })
    if call("GET", f"_plugins/_query/_datasources/{DATASOURCE}", None).status_code == 200:
        return  # registered by the earlier release
    ok("POST", "_plugins/_query/_datasources", {
        "name": DATASOURCE, "connector": "prometheus", "properties": {"prometheus.uri": prometheus_uri},
    })


# --- what the reference's ingest pipelines leave of a record (a5aed90f; 896bf908's are the same
# for these four). A model, written from the pipelines' painless and processors in
# internal/monitor/templates/opensearch-bootstrap/ingest-pipelines/ at a5aed90f:
#   cp-actor-attr-nest.json   attributes."actor_attr.<k>" keys gathered into attributes.actor_attr {<k>: v}
#   envoy-normalize.json      resource cluster_name/log_name/node_name/zone_name removed when "";
#                             an empty instrumentationScope removed; attributes response_flags and
#                             upstream_transport_failure_reason removed when "-"; a string
#                             tls.established made a boolean ("true" -> true, anything else false)
#   netlogger-normalize.json  attributes.bpf_ts_ns converted to a string
#   envelope-normalize.json   (final pipeline of every index) severity.text/number copied to
#                             severityText/severityNumber when those are absent; the resource's
#                             service.name (flat-dotted key, else resource.service.name) copied to
#                             resource.attributes.service.name when absent; attributes.data_stream removed


def _envelope_normalize(doc: dict) -> None:
    severity = doc.get("severity")
    if isinstance(severity, dict):
        if severity.get("text") is not None and doc.get("severityText") is None:
            doc["severityText"] = severity["text"]
        if severity.get("number") is not None and doc.get("severityNumber") is None:
            doc["severityNumber"] = severity["number"]
    resource = doc.get("resource")
    if isinstance(resource, dict):
        service = resource.get("service.name")
        if service is None and isinstance(resource.get("service"), dict):
            service = resource["service"].get("name")
        if service is not None:
            attrs = resource.setdefault("attributes", {})
            if isinstance(attrs, dict):
                nested = attrs.setdefault("service", {})
                if isinstance(nested, dict) and nested.get("name") is None:
                    nested["name"] = str(service)
    attributes = doc.get("attributes")
    if isinstance(attributes, dict):
        attributes.pop("data_stream", None)


def _cp_actor_attr_nest(doc: dict) -> None:
    attrs = doc.get("attributes")
    if not isinstance(attrs, dict):
        return
    nested = {k[len("actor_attr."):]: attrs.pop(k) for k in [k for k in attrs if k.startswith("actor_attr.")]}
    if nested:
        attrs["actor_attr"] = nested


def _envoy_normalize(doc: dict) -> None:
    resource = doc.get("resource")
    if isinstance(resource, dict):
        for key in ("cluster_name", "log_name", "node_name", "zone_name"):
            if resource.get(key) is not None and str(resource[key]) == "":
                del resource[key]
    if isinstance(doc.get("instrumentationScope"), dict) and not doc["instrumentationScope"]:
        del doc["instrumentationScope"]
    attrs = doc.get("attributes")
    if isinstance(attrs, dict):
        for key in ("response_flags", "upstream_transport_failure_reason"):
            if attrs.get(key) == "-":
                del attrs[key]
        if isinstance(attrs.get("tls.established"), str):
            attrs["tls.established"] = attrs["tls.established"] == "true"


def _netlogger_normalize(doc: dict) -> None:
    attrs = doc.get("attributes")
    if isinstance(attrs, dict) and attrs.get("bpf_ts_ns") is not None:
        value = attrs["bpf_ts_ns"]
        attrs["bpf_ts_ns"] = str(value).lower() if isinstance(value, bool) else str(value)


_DEFAULT_STEPS = {
    "cp-actor-attr-nest": _cp_actor_attr_nest,
    "envoy-normalize": _envoy_normalize,
    "netlogger-normalize": _netlogger_normalize,
}


def stored_by_reference(index: str, document: dict[str, Any]) -> dict[str, Any]:
    """The _source the reference stores for the exporter's `document` in its index `index`."""
    doc = copy.deepcopy(document)
    step = _DEFAULT_STEPS.get(DEFAULT_PIPELINES.get(index, ""))
    if step:
        step(doc)
    _envelope_normalize(doc)
    return doc
