"""OpenSearch assets behind durable delivery: idempotent document ids and the poison shape guard."""

from components.bootstrap import opensearch as boot
from components import names
from components.services import collector_config


def processors(pipeline: str) -> list[dict]:
    return boot.pipeline_bodies()[pipeline]["processors"]


def test_log_records_get_an_id_from_their_intake_id_or_their_content():
    steps = processors(names.ENVELOPE_PIPELINE)
    # Not OpenSearch's fingerprint processor: under concurrent bulks it hashes an empty input
    # now and then, so unrelated records share one id (tests/providers/test_opensearch_mappings.py).
    assert not [s for s in steps if "fingerprint" in s]
    first = steps[0]["script"]
    assert first["tag"] == "record-id", "the id is of the record as sent, before any reshaping"
    params = first["params"]
    # The collector stamps this attribute before its persistent queue (collector_config.INTAKE_ID).
    assert params["stamp"] == collector_config.INTAKE_ID
    # Claude Code's events tell themselves apart: a session and a per-session sequence number.
    assert params["own_identity"] == ["session.id", "event.sequence"]
    # The exporter stamps observedTimestamp with its own clock on every attempt.
    assert params["excluded"] == ["observedTimestamp"]
    assert (params["prefix"], params["stamp_prefix"]) == ("sha256:", "intake:")
    assert "ctx._id = " in first["source"] and ".sha256()" in first["source"]
    assert not [s for s in steps[1:] if "_id" in str(s.get("set", {}).get("field", ""))]


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
