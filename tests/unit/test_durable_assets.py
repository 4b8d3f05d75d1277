"""OpenSearch assets behind durable delivery: idempotent document ids and the poison shape guard."""

from components.bootstrap import opensearch as boot
from components import names


def processors(pipeline: str) -> list[dict]:
    return boot.pipeline_bodies()[pipeline]["processors"]


def test_log_records_get_a_content_fingerprint_as_document_id():
    steps = processors(names.ENVELOPE_PIPELINE)
    (fingerprint,) = [s["fingerprint"] for s in steps if "fingerprint" in s]
    # The exporter stamps observedTimestamp with its own clock on every attempt.
    assert fingerprint["exclude_fields"] == ["observedTimestamp"]
    assert "fields" not in fingerprint
    target = fingerprint["target_field"]
    kinds = [next(iter(s)) for s in steps]
    assert kinds[:3] == ["fingerprint", "set", "remove"], "the id is of the record as sent, before any reshaping"
    assert steps[1]["set"] == {"tag": "record-id-set", "field": "_id", "value": "{{{" + target + "}}}"}
    assert steps[2]["remove"]["field"] == target


def test_spans_are_keyed_by_trace_and_span_id():
    (span_id,) = [s["set"] for s in processors(names.TRACES_PIPELINE) if s.get("set", {}).get("field") == "_id"]
    assert span_id["value"] == "{{{traceId}}}-{{{spanId}}}"
    assert "ctx.traceId != null" in span_id["if"] and "ctx.spanId != null" in span_id["if"]


def test_shape_guard_knows_the_templates_declared_shapes():
    (guard,) = [s["script"] for s in processors(names.ENVELOPE_PIPELINE) if s.get("script", {}).get("tag") == "shape-guard"]
    scalars, objects = guard["params"]["scalars"], guard["params"]["objects"]
    assert "attributes.event.sequence" in scalars and "attributes.tool_name" in scalars
    assert "attributes.user" in objects and "attributes.network.peer" in objects
    assert not set(scalars) & set(objects)
    # The field it writes is mapped (no dynamic mapping outside resource.*).
    mappings = boot.component_template_body()["template"]["mappings"]["properties"]
    assert mappings["ingest_coerced"] == {"type": "keyword"}


def test_malformed_scalars_are_ignored_not_refused_on_every_index():
    assert boot.component_template_body()["template"]["settings"]["index"]["mapping"] == {"ignore_malformed": True}
    assert boot.traces_template_body()["template"]["settings"]["index"]["mapping"] == {"ignore_malformed": True}
