"""The OpenSearch side of the bootstrap in the order the stack now applies it, on real OpenSearch:
templates before (or alongside) the pipelines they name, indices after both."""

from __future__ import annotations

import datetime
import json

from test_opensearch_mappings import TIMEOUT_S

from components.bootstrap import opensearch as boot
from components import names
from components.providers import opensearch as osp


def test_templates_before_their_pipelines_then_indices_ingest_through_them(cluster):
    props = lambda name, body: {"endpoint": cluster.url, "name": name, "body": body, "timeout_s": TIMEOUT_S}  # noqa: E731
    # Templates first: OpenSearch takes pipeline names it does not know yet.
    osp.ComponentTemplateProvider().create(props(names.COMPONENT_TEMPLATE, boot.component_template_body()))
    index = "claude-code"
    for name, body in boot.template_bodies(index).items():  # the write name's and the days'
        osp.IndexTemplateProvider().create(props(name, body))
    # Negative control: an index made now would name pipelines that do not exist, and a write fails.
    early = cluster.call("POST", f"{index}/_doc", {"body": "too early"})
    assert early.status_code >= 400 and "pipeline" in early.text.lower(), early.text
    cluster.call("DELETE", index)
    for name, body in boot.pipeline_bodies().items():
        osp.IngestPipelineProvider().create(props(name, body))
    osp.IndexProvider().create(
        {
            "endpoint": cluster.url,
            "name": index,
            "mappings": boot.index_mappings(index),
            "settings": boot.index_settings(index),
            "policy_id": None,
            "timeout_s": TIMEOUT_S,
        }
    )
    record = {"@timestamp": "2026-12-04T10:00:00Z", "body": "claude_code.user_prompt", "attributes": {"event.name": "user_prompt"}}
    written = cluster.call("POST", f"{index}/_doc?refresh=true", record)
    assert written.status_code == 201, written.text
    assert written.json()["_index"] == names.day_index(index, "2026-12-04")
    settings = cluster.call("GET", f"{index}/_settings").json()[index]["settings"]["index"]
    assert settings["default_pipeline"] == names.route_pipeline(index)


def test_records_before_the_index_step_are_stored_as_after_it(cluster):
    """The collector waits for templates, pipelines and the retention policy, not for the Index
    step (issue 21): a record arriving first makes its door and today's index from the templates,
    goes through the pipelines into its day under the policy, and the Index step then adopts both."""
    props = lambda name, body: {"endpoint": cluster.url, "name": name, "body": body, "timeout_s": TIMEOUT_S}  # noqa: E731
    osp.ComponentTemplateProvider().create(props(names.COMPONENT_TEMPLATE, boot.component_template_body()))
    index = "claude-code"
    for name, body in boot.template_bodies(index).items():
        osp.IndexTemplateProvider().create(props(name, body))
    for name, body in boot.pipeline_bodies().items():
        osp.IngestPipelineProvider().create(props(name, body))
    osp.IsmPolicyProvider().create(props(names.ISM_POLICY, boot.retention_policy_body(7)))
    today = datetime.datetime.now(datetime.timezone.utc)
    day = names.day_index(index, today.strftime("%Y-%m-%d"))
    record = {
        "@timestamp": today.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "body": "claude_code.api_request",
        "attributes": {"event.name": "api_request", "session.id": "before-index-step", "event.sequence": 1, "model": "claude-sonnet-4-5"},
    }
    early = cluster.call("POST", f"{index}/_doc?refresh=true", record)
    assert early.status_code == 201, early.text
    assert early.json()["_index"] == day, early.text  # through the route pipeline, into today's index
    # The Index step runs afterwards, as in a cold `pulumi up` where the collector is already up.
    outs = osp.IndexProvider().create(
        {
            "endpoint": cluster.url, "name": index, "mappings": boot.index_mappings(index),
            "settings": boot.index_settings(index), "policy_id": names.ISM_POLICY, "timeout_s": TIMEOUT_S,
        }
    ).outs
    assert outs["policy_id"] == names.ISM_POLICY and json.loads(outs["mappings"]) == boot.index_mappings(index)  # one JSON text
    assert cluster.call("GET", f"{index}/_count").json()["count"] == 0
    stored = cluster.call("POST", f"{day}/_search", {"query": {"term": {"attributes.session.id": "before-index-step"}}}).json()
    assert stored["hits"]["total"]["value"] == 1, stored
    # Negative control: a record before its templates (the edge the collector keeps) makes a
    # door with no pipeline: it stays there, unprocessed, instead of reaching its day.
    control = cluster.call("POST", "clawker-cli/_doc?refresh=true", record)
    assert control.status_code == 201 and control.json()["_index"] == "clawker-cli", control.text
    assert "default_pipeline" not in cluster.call("GET", "clawker-cli/_settings").json()["clawker-cli"]["settings"]["index"]
