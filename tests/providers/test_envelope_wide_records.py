"""The envelope pipeline on a record with thousands of attributes, and when one of its steps fails.

Against the session's real OpenSearch. The shape guard used to compare every attribute key with
every other one: past ~1,000 attributes that hit Painless' loop limit (1,000,000 iterations), the
step failed before attributes.data_stream was removed, and the templates' unprocessed-document
guard (a sub-field of attributes.data_stream.type) then refused the record, so the collector
retried and dropped it. Now the guard collects the dotted-key prefixes once, data_stream goes
right after the id step (and again in on_failure), and a failing step only tags the record.

Each index here is made with the clawker-cli templates' mappings and the envelope pipeline as
its final pipeline (and a field limit raised past the record's width, so only the pipeline
decides), independent of how the bootstrap routes records between indices.
"""

from __future__ import annotations

import copy

from opensearch_node import OpenSearchNode
from telemetry_samples import ingest_source_for, records_for, ss4o_log_document
from test_opensearch_mappings import bulk_items

from components import names
from components.bootstrap import opensearch as boot

TEMPLATES_OF = "clawker-cli"
WIDTH = 3000
# The shape guard before this fix, kept verbatim as the negative control: for every scalar key it
# scans all the other keys for one that starts with `key.` (n * n loop iterations).
QUADRATIC_GUARD = (
    "def attrs = ctx.attributes; if (!(attrs instanceof Map)) { return; } List fixed = new ArrayList(); "
    "for (String key : new ArrayList(attrs.keySet())) { def value = attrs.get(key); String path = 'attributes.' + key; "
    "boolean nested = value instanceof Map; if (!nested && value instanceof List) { for (def item : value) { "
    "if (item instanceof Map || item instanceof List) { nested = true; } } } if (nested && params.scalars.containsKey(path)) { "
    "attrs.put(key, value.toString()); fixed.add(path); continue; } if (value != null && !(value instanceof Map)) { "
    "boolean parent = params.objects.containsKey(path); if (!parent) { String prefix = key + '.'; "
    "for (String other : attrs.keySet()) { if (other.startsWith(prefix)) { parent = true; break; } } } "
    "if (parent) { attrs.remove(key); attrs.put(key + '.value', value); fixed.add(path); } } } "
    "if (!fixed.isEmpty()) { ctx.ingest_coerced = fixed; }"
)


def _envelope() -> dict:
    return copy.deepcopy(boot.pipeline_bodies()[names.ENVELOPE_PIPELINE])


def _with_quadratic_guard(body: dict) -> dict:
    for step in body["processors"]:
        if step.get("script", {}).get("tag") == "shape-guard":
            step["script"]["source"] = QUADRATIC_GUARD
    return body


def _as_before_the_fix(body: dict) -> dict:
    """The quadratic guard, data_stream removed after the envelope copy, nothing removed on failure."""
    body = _with_quadratic_guard(body)
    steps = body["processors"]
    (drop,) = [s for s in steps if s.get("remove", {}).get("field") == "attributes.data_stream"]
    steps.remove(drop)
    steps.insert([s.get("script", {}).get("tag") for s in steps].index("envelope-copy") + 1, drop)
    body["on_failure"] = [s for s in body["on_failure"] if "remove" not in s]
    return body


def _index_through(node: OpenSearchNode, name: str, pipeline: dict) -> str:
    """An index with the templates' mappings whose final pipeline is `pipeline`."""
    assert node.call("PUT", f"_ingest/pipeline/{name}", pipeline).status_code == 200
    mappings = boot.index_mappings(TEMPLATES_OF)
    # The refusal this is about: the guard sub-field is in the mapping under test.
    assert "refuse_unprocessed" in mappings["properties"]["attributes"]["properties"]["data_stream"]["properties"]["type"]["fields"]
    settings = {**boot.index_settings(TEMPLATES_OF), "index.final_pipeline": name,
                "index.mapping.total_fields.limit": 2 * WIDTH}
    settings.pop("index.default_pipeline", None)
    answer = node.call("PUT", name, {"settings": settings, "mappings": mappings})
    assert answer.status_code == 200, answer.text
    return name


def _wide_record() -> dict:
    """A real clawker-cli record with WIDTH more attributes under `wide.`, and `wide` itself a scalar."""
    doc = ss4o_log_document(TEMPLATES_OF, records_for(TEMPLATES_OF)[0], ingest_source=ingest_source_for(TEMPLATES_OF))
    doc["attributes"].update({f"wide.a{i}": f"v{i}" for i in range(WIDTH)})
    doc["attributes"]["wide"] = "top"  # a sibling dotted key makes `wide` an object: moved to wide.value
    return doc


def _send(node: OpenSearchNode, index: str, doc: dict) -> tuple[dict, dict | None]:
    (item,) = bulk_items(node, index, [doc], action="index", refresh="wait_for")
    if item.get("error"):
        return item, None
    return item, node.call("GET", f"{index}/_doc/{item['_id']}").json()["_source"]


def test_a_record_with_thousands_of_attributes_is_stored_with_every_field_handled(cluster):
    index = _index_through(cluster, "envelope-wide", _envelope())
    item, source = _send(cluster, index, _wide_record())
    assert item["status"] == 201, item
    assert "ingest_error" not in source, source["ingest_error"]
    attrs = source["attributes"]
    assert "data_stream" not in attrs
    assert attrs["wide.value"] == "top" and "wide" not in attrs
    assert source["ingest_coerced"] == ["attributes.wide"]
    assert sum(1 for key in attrs if key.startswith("wide.a")) == WIDTH
    mapped = cluster.call("GET", f"{index}/_mapping").json()[index]["mappings"]["properties"]["attributes"]["properties"]
    assert len(mapped["wide"]["properties"]) == WIDTH + 1  # a0..a2999 and value


def test_a_failing_step_tags_the_record_instead_of_losing_it_and_the_old_guard_lost_it(cluster):
    doc = _wide_record()
    del doc["attributes"]["wide"]  # no conflict left for a skipped guard: only the failure decides
    # A step that fails for real: the old quadratic guard on the wide record (Painless' loop limit).
    failing = _index_through(cluster, "envelope-failing-step", _with_quadratic_guard(_envelope()))
    item, source = _send(cluster, failing, copy.deepcopy(doc))
    assert item["status"] == 201, item
    assert source["ingest_error"]["tag"] == "shape-guard", source["ingest_error"]
    assert "loop" in source["ingest_error"]["message"].lower(), source["ingest_error"]
    assert "data_stream" not in source["attributes"]
    assert sum(1 for key in source["attributes"] if key.startswith("wide.a")) == WIDTH

    # Negative control: the pipeline as it was refuses the same record outright (then the
    # collector retries it and drops it).
    before = _index_through(cluster, "envelope-before-fix", _as_before_the_fix(_envelope()))
    item, source = _send(cluster, before, copy.deepcopy(doc))
    assert source is None and item["status"] == 400, item
    assert "refuse_unprocessed" in item["error"]["reason"], item["error"]
    assert cluster.call("GET", f"{before}/_count").json()["count"] == 0


def test_data_stream_goes_right_after_the_id_and_again_on_failure():
    body = _envelope()
    steps = [s.get("script", {}).get("tag") or next(iter(s)) for s in body["processors"]]
    assert steps[:3] == ["record-id", "remove", "shape-guard"], steps
    assert body["processors"][1]["remove"]["field"] == "attributes.data_stream"
    assert body["on_failure"][0]["remove"] == {
        "field": "attributes.data_stream", "ignore_missing": True, "ignore_failure": True,
    }
