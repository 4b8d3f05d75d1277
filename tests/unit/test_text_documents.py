"""Collections of documents as one JSON text per document in the engine's hands (issue 21,
components/providers/text_documents.py): providers see structures whichever shape the state
holds, and hand the engine text. What the engine then shows is
tests/providers/test_dashboards_engine.py; the upgrade of a real stack is the previous-release
check (tests/e2e/test_stack_lifecycle.py)."""

from __future__ import annotations

import json

from pulumi.dynamic import CheckResult, CreateResult, DiffResult, ReadResult, ResourceProvider, UpdateResult

from components.providers import dashboards as dp
from components.providers import text_documents as td

EXPLORE = [so for so in dp.load_saved_objects() if so["type"] == "explore"]


class Recording(td.TextMembers, ResourceProvider):
    """Records what each method was given; returns its inputs as outputs."""

    TEXT_MEMBERS = ("objects",)

    def __init__(self):
        self.seen = []

    def check(self, olds, news):
        self.seen.append(news)
        return CheckResult(news, [])

    def diff(self, _id, olds, news):
        self.seen.append(olds)
        return DiffResult(changes=olds != news)

    def create(self, props):
        self.seen.append(props)
        return CreateResult("id", outs=dict(props))

    def update(self, _id, olds, news):
        return UpdateResult(outs=dict(news))

    def read(self, id_, props):
        return ReadResult(id_, outs=dict(props), inputs=dict(props))


def test_documents_round_trip_and_what_is_not_json_text_stays():
    doc = {"attributes": {"title": "Ünïcode", "n": 1, "f": 1.5, "list": [1, {"a": None}]}, "references": []}
    text = td.encode(doc)
    assert isinstance(text, str) and " " not in text.replace("Ünïcode", "")
    assert td.decode(text) == doc
    assert list(td.decode(text)["attributes"]) == ["title", "n", "f", "list"]  # key order kept
    assert td.decode("not json") == "not json" and td.decode("{broken") == "{broken"
    assert td.decode(doc) is doc  # a state written before holds structures
    assert td.encode_members({"a/b": doc, "c/d": text}) == {"a/b": text, "c/d": text}


def test_methods_see_structures_from_either_shape_and_the_engine_gets_text():
    provider = Recording()
    nested = {"explore/a": {"attributes": {"title": "A"}}, "explore/b": {"attributes": {"title": "B"}}}
    program_text = {"explore/a": '{"attributes": {"title": "A"}}', "explore/b": td.encode(nested["explore/b"])}
    checked = provider.check({}, {"url": "u", "objects": program_text})
    assert provider.seen[-1]["objects"] == nested
    assert checked.inputs["objects"] == program_text  # the program's own text, not a re-encoding
    created = provider.create({"url": "u", "objects": program_text})
    assert provider.seen[-1]["objects"] == nested
    assert created.outs["objects"] == td.encode_members(nested)
    # A state written before (nested) and one written now (text) diff equal to the same inputs.
    for olds in ({"url": "u", "objects": nested}, created.outs):
        assert provider.diff("id", olds, {"url": "u", "objects": program_text}).changes is False
        assert provider.seen[-1]["objects"] == nested
    assert provider.update("id", created.outs, created.outs).outs["objects"] == td.encode_members(nested)
    read = provider.read("id", {"url": "u", "objects": nested})
    assert read.outs["objects"] == read.inputs["objects"] == td.encode_members(nested)
    # Negative control: without TEXT_MEMBERS the text is compared as text and differs.
    assert Recording.diff.__wrapped__(provider, "id", {"url": "u", "objects": nested},
                                      {"url": "u", "objects": program_text}).changes is True


def test_the_dashboards_collections_hand_the_engine_one_text_per_object():
    """ExploreCollection's and SavedObjectBundle's `objects` as registered, and their checks
    naming a bad object's field inside its text."""
    from stack_harness import deploy

    dep = deploy()
    for name in ("dashboards-explore-objects-claude-code", "dashboards-saved-objects-claude-code"):
        objects = dep.by_name(name).inputs["objects"]
        assert objects and all(isinstance(v, str) for v in objects.values()), name
        assert all(json.loads(v) for v in objects.values())
    news = {"url": "http://127.0.0.1:5601", "workspace_id": "ws", "objects": td.encode_members({
        "explore/ok": {"attributes": EXPLORE[0]["attributes"], "references": EXPLORE[0]["references"]},
        "explore/untitled": {"attributes": {**EXPLORE[0]["attributes"], "title": ""}, "references": []},
    })}
    failures = {f.property for f in dp.ExploreCollectionProvider().check({}, news).failures}
    assert failures == {"objects['explore/untitled'].attributes.title"}


def test_opensearch_documents_go_to_the_engine_as_one_text_and_old_states_diff_equal():
    """Templates, pipelines and ISM policies (`body`) and indices (`mappings`) are one JSON text
    each (TEXT_PROPERTIES); a check
    still names the problem inside it, and a state written before (nested body) diffs equal."""
    from stack_harness import deploy

    from components import names
    from components.providers import opensearch as osp

    dep = deploy()
    for type_suffix in ("OpenSearchIngestPipeline", "OpenSearchIndexTemplate", "OpenSearchComponentTemplate", "OpenSearchIsmPolicy"):
        found = dep.of_type(f"clawker:{type_suffix}")
        assert found and all(isinstance(r.inputs["body"], str) for r in found), type_suffix
    indices = dep.of_type("clawker:OpenSearchIndex")
    assert indices and all(isinstance(r.inputs["mappings"], str) for r in indices)
    index = indices[0]
    index_news = {**index.inputs, "endpoint": "http://127.0.0.1:9200", "timeout_s": 60}
    assert osp.IndexProvider().check({}, index_news).failures == []
    assert osp.IndexProvider().diff(index.inputs["name"], {**index_news, "mappings": index.documents["mappings"]}, index_news).changes is False
    envelope = dep.by_name(f"opensearch-pipeline-{names.ENVELOPE_PIPELINE}")
    body = json.loads(envelope.inputs["body"])
    provider = osp.IngestPipelineProvider()
    news = {"endpoint": "http://127.0.0.1:9200", "name": envelope.inputs["name"], "body": envelope.inputs["body"], "timeout_s": 60}
    assert provider.check({}, news).failures == []
    assert provider.check({}, news).inputs["body"] == envelope.inputs["body"]
    assert provider.diff(news["name"], {**news, "body": body}, news).changes is False
    broken = td.encode({**body, "processors": []})
    (failure,) = provider.check({}, {**news, "body": broken}).failures
    assert failure.property == "body" and "processors must be a non-empty list" in failure.reason
    edited = td.encode({**body, "description": "edited"})
    assert provider.diff(news["name"], {**news, "body": body}, {**news, "body": edited}).changes is True
