"""The OpenSearch side of the bootstrap in the order the stack now applies it, on real OpenSearch:
templates before (or alongside) the pipelines they name, indices after both."""

from __future__ import annotations

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
