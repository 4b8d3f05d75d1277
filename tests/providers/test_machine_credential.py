"""A machine's credential on a REAL secured cluster (OpenSearch 3.4.0 + the security plugin).

The team role's MachineCredential provider makes an internal user, a role and a role mapping
through the security plugin's REST API, after the stack's templates, pipelines and indices were
applied through the same providers with the admin `connection` (tests/providers/secured_cluster.py
starts the node; TLS on both layers). Shown with Claude Code-shaped records and spans:
- the machine stores log records (today's, and one from another day, whose daily index its first
  record creates) and spans through the write names' route pipelines, each in its daily index;
- the same credential is refused (403) reading, deleting an index, changing a template and
  writing another index;
- deleting the credential (the machine left `machines`) refuses its next write (401);
- negative control: a role allowing writes to the write names only (not their daily indices)
  stores nothing, so the daily pattern in the role is what makes writes work.
"""

from __future__ import annotations

import datetime
import json

import pytest
import requests

from components import names
from components.bootstrap import opensearch as boot
from components.providers import opensearch as osp
from components.providers.opensearch import security
from secured_cluster import SecuredCluster, start, stop
from telemetry_samples import ingest_source_for, records_for, ss4o_log_document, ss4o_span_document

TIMEOUT_S = 60.0
STREAMS = ["claude-code", names.TRACES_INDEX]


@pytest.fixture(scope="module")
def secured():
    cluster = start(nodes=1)
    try:
        yield cluster
    finally:
        stop(cluster)


def _props(cluster: SecuredCluster, **extra) -> dict:
    return {"endpoint": cluster.urls[0], "connection": cluster.connection, "timeout_s": TIMEOUT_S, **extra}


@pytest.fixture(scope="module")
def bootstrapped(secured):
    """The claude-code and traces assets, applied by the providers as the team stack's admin."""
    for name, body in boot.pipeline_bodies().items():
        osp.IngestPipelineProvider().create(_props(secured, name=name, body=body))
    osp.ComponentTemplateProvider().create(_props(secured, name=names.COMPONENT_TEMPLATE, body=boot.component_template_body()))
    for index in STREAMS:
        for name, body in boot.template_bodies(index).items():
            osp.IndexTemplateProvider().create(_props(secured, name=name, body=body))
    osp.IndexProvider().create(
        _props(secured, name="claude-code", mappings=boot.index_mappings("claude-code"),
               settings=boot.index_settings("claude-code"), policy_id=None)
    )
    return secured


def _machine(secured, machine: str) -> tuple[str, tuple[str, str], dict]:
    props = _props(secured, machine=machine, streams=STREAMS)
    outs = security.MachineCredentialProvider().create(props).outs
    return outs["username"], (outs["username"], outs["password"]), props


def _bulk(secured, auth, index: str, docs: list[dict]) -> requests.Response:
    """The exporter's request: one `index` action per document."""
    lines = []
    for doc in docs:
        lines += [json.dumps({"index": {"_index": index}}), json.dumps(doc)]
    return secured.call(
        "POST", "_bulk", auth=auth, data=("\n".join(lines) + "\n").encode(),
        headers={"Content-Type": "application/x-ndjson"}, params={"refresh": "wait_for"},
    )


def _claude_code_docs(n: int, day_offset: int = 0) -> list[dict]:
    samples = records_for("claude-code")
    docs = []
    for i in range(n):
        record = samples[i % len(samples)]
        doc = ss4o_log_document("claude-code", {**record, "attributes": {**record["attributes"], "e2e_seq": i}},
                                ingest_source=ingest_source_for("claude-code"))
        if day_offset:
            when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=day_offset)
            doc["@timestamp"] = when.isoformat().replace("+00:00", "Z")
        docs.append(doc)
    return docs


def _stored(secured, pattern: str) -> dict[str, int]:
    secured.call("POST", f"{pattern}/_refresh")
    hits = secured.call("GET", f"{pattern}/_search", json={"size": 1000}).json()["hits"]["hits"]
    out: dict[str, int] = {}
    for hit in hits:
        out[hit["_index"]] = out.get(hit["_index"], 0) + 1
    return out


def test_a_machine_stores_records_and_spans_in_their_daily_indices(bootstrapped):
    _, auth, _ = _machine(bootstrapped, "laptop-a")
    today = _bulk(bootstrapped, auth, "claude-code", _claude_code_docs(40)).json()
    two_days_ago = _bulk(bootstrapped, auth, "claude-code", _claude_code_docs(5, day_offset=-2)).json()
    # The traces index keys a span by traceId-spanId: three distinct spans.
    spans = [ss4o_span_document(name, {"session.id": "s1"}) for name in
             ("claude_code.interaction", "claude_code.llm_request", "claude_code.tool")]
    traced = _bulk(bootstrapped, auth, names.TRACES_INDEX, spans).json()
    for answer in (today, two_days_ago, traced):
        assert not answer["errors"], [i["index"].get("error") for i in answer["items"] if i["index"].get("error")][:2]
    stored = _stored(bootstrapped, names.read_pattern("claude-code"))
    day = lambda offset: (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=offset)).strftime("%Y-%m-%d")  # noqa: E731
    assert stored == {names.day_index("claude-code", day(0)): 40, names.day_index("claude-code", day(-2)): 5}
    assert sum(_stored(bootstrapped, names.read_pattern(names.TRACES_INDEX)).values()) == 3


def test_a_machine_can_read_delete_and_change_nothing(bootstrapped):
    _, auth, _ = _machine(bootstrapped, "laptop-b")
    assert not _bulk(bootstrapped, auth, "claude-code", _claude_code_docs(2)).json()["errors"]
    day = next(iter(_stored(bootstrapped, names.read_pattern("claude-code"))))
    refusals = {
        "read": bootstrapped.call("GET", f"{names.read_pattern('claude-code')}/_search", auth=auth),
        "read one index": bootstrapped.call("GET", f"{day}/_search", auth=auth),
        "delete an index": bootstrapped.call("DELETE", day, auth=auth),
        "change a template": bootstrapped.call(
            "PUT", "_index_template/claude-code", auth=auth, json=boot.template_bodies("claude-code")["claude-code"]
        ),
        "change a pipeline": bootstrapped.call("PUT", f"_ingest/pipeline/{names.ENVELOPE_PIPELINE}", auth=auth,
                                               json={"processors": []}),
        "write another index": bootstrapped.call("POST", "someone-elses/_doc", auth=auth, json={"a": 1}),
        "read the security config": bootstrapped.call("GET", "_plugins/_security/api/internalusers", auth=auth),
    }
    assert {what: r.status_code for what, r in refusals.items()} == {what: 403 for what in refusals}
    other = _bulk(bootstrapped, auth, "someone-elses", [{"a": 1}]).json()["items"][0]["index"]
    assert other["status"] == 403
    # Still there, unchanged.
    assert bootstrapped.call("GET", day).status_code == 200


def test_a_deleted_credential_is_refused(bootstrapped):
    user, auth, props = _machine(bootstrapped, "laptop-c")
    assert not _bulk(bootstrapped, auth, "claude-code", _claude_code_docs(1)).json()["errors"]
    security.MachineCredentialProvider().delete(user, props)
    assert _bulk(bootstrapped, auth, "claude-code", _claude_code_docs(1)).status_code == 401
    for kind in ("internalusers", "roles", "rolesmapping"):
        assert bootstrapped.call("GET", f"_plugins/_security/api/{kind}/{user}").status_code == 404, kind


def test_control_a_role_without_the_daily_indices_stores_nothing(bootstrapped):
    _, auth, props = _machine(bootstrapped, "laptop-d")
    narrow = security.role_body(STREAMS)
    narrow["index_permissions"] = narrow["index_permissions"][:1]  # the write names only
    assert bootstrapped.call("PUT", f"{security.API}/roles/{security.user_name('laptop-d')}", json=narrow).status_code == 200
    answer = _bulk(bootstrapped, auth, "claude-code", _claude_code_docs(3)).json()
    assert answer["errors"] and {i["index"]["status"] for i in answer["items"]} == {403}
