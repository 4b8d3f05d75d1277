"""The ingest pipelines' data-driven parts agree with the templates they serve.

The pipelines themselves run in tests/providers and tests/e2e against real
OpenSearch; here: the envelope pipeline types exactly what the templates
declare, and the fields lifted out of Claude Code's tool_parameters exist.
"""

from __future__ import annotations

from components.bootstrap import opensearch as boot
from components import names


def _processor(pipeline: str, tag: str) -> dict:
    for processor in boot.pipeline_bodies()[pipeline]["processors"]:
        (kind, spec), = processor.items()
        if spec.get("tag") == tag:
            return spec
    raise AssertionError(f"{pipeline}: no processor tagged {tag}")


def test_envelope_types_every_declared_attribute_of_every_log_index():
    typed = _processor(names.ENVELOPE_PIPELINE, boot.TYPED_ATTRIBUTES_TAG)["params"]["typed_fields"]
    assert set(typed) == set(names.LOG_INDICES)
    for index in names.LOG_INDICES:
        declared = boot.declared_leaf_types(boot.index_mappings(index))
        expected = {
            path[len("attributes."):]: kind
            for path, kind in declared.items()
            if path.startswith("attributes.") and kind not in ("object", "nested", "flat_object")
        }
        assert typed[index] == expected, index
    # Numbers Claude Code sends as strings, Envoy's booleans: typed from the templates.
    assert typed["claude-code"]["cost_usd"] == "double" and typed["claude-code"]["duration_ms"] == "long"
    assert typed["clawker-envoy"]["tls.established"] == "boolean"
    assert _processor(names.ENVELOPE_PIPELINE, boot.TYPED_ATTRIBUTES_TAG)["params"]["sentinel_keyword_indices"] == [
        names.TRUSTED_LOG_INDICES["envoy"]
    ]


def test_tool_parameters_are_parsed_into_a_declared_object_and_lifted_to_declared_fields():
    parse = _processor("clawker-claude-code", "claude-code-tool-parameters")
    assert (parse["field"], parse["target_field"]) == ("attributes.tool_parameters", "attributes.tool_params")
    declared = boot.declared_leaf_types(boot.index_mappings("claude-code"))
    assert declared["attributes.tool_params"] == "flat_object"
    lift = _processor("clawker-claude-code", "claude-code-tool-parameters-lift")["params"]["lift"]
    # Every field the Activity dashboard reads out of tool parameters is a lift target, and declared.
    assert {"bash_command", "mcp_server_name", "mcp_tool_name"} <= set(lift.values())
    for target in lift.values():
        assert f"attributes.{target}" in declared, target


def test_each_caller_gets_its_own_copy_of_a_merged_mapping():
    # index_mappings merges once per program run (issue 21); a caller that edits what it got
    # (the Index resource's mappings, the shape guard's walk) must not change the next answer.
    first = boot.index_mappings("claude-code")
    again = boot.index_mappings("claude-code")
    assert first == again and first is not again
    first["properties"]["attributes"]["properties"].clear()
    assert boot.index_mappings("claude-code") == again
    assert boot.merge_mappings(boot.component_template_body()["template"]["mappings"],
                               boot.index_template_body("claude-code")["template"]["mappings"]) == again
