"""The codex unit's rendered pieces: codexConfig, the price table, the estimated cost, the template against the corpus.

Facts about what Codex reads and sends: components/codex.py and tests/corpus_codex.py
(openai/codex files and commits cited there).
"""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path

import pytest

from components import codex
from components.bootstrap.opensearch import declared_leaf_types
from components.settings import SettingsError, validate

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import corpus_codex  # noqa: E402

UNIT = Path(__file__).resolve().parents[2] / "opensearch_assets" / "units" / "codex"
# The keys Codex's [otel] table accepts (OtelConfigToml, deny_unknown_fields:
# codex-rs/config/src/types.rs @000c857e); any other key makes Codex refuse config.toml.
OTEL_TABLE_KEYS = {"log_user_prompt", "environment", "exporter", "trace_exporter", "metrics_exporter", "span_attributes", "tracestate"}
PRICES = {"gpt-5-codex": {"input": 1.25, "cachedInput": 0.125, "output": 10}, "gpt-5": {"input": 1.5, "cachedInput": 0.25, "output": 12}}


def _objects() -> list[dict]:
    objects = []
    for path in sorted((UNIT / "dashboards").glob("*.json")):
        objects += json.loads(path.read_text())["objects"]
    return objects


@pytest.mark.parametrize("prompts", [True, False])
def test_codex_config_is_the_otel_table_pointing_every_signal_at_this_stack(prompts):
    settings = validate({"otlpHttpPort": "14318", "hostName": "monitor.local", "logUserPrompts": str(prompts).lower()})
    text = codex.codex_config(settings)
    table = tomllib.loads(text)
    assert set(table) == {"otel"}, "only the [otel] table: the block is pasted into the user's config.toml"
    otel = table["otel"]
    assert set(otel) <= OTEL_TABLE_KEYS
    assert otel["log_user_prompt"] is prompts
    for key, signal in (("exporter", "logs"), ("trace_exporter", "traces"), ("metrics_exporter", "metrics")):
        assert otel[key] == {"otlp-http": {"endpoint": f"http://monitor.local:14318/v1/{signal}", "protocol": "binary"}}, key
    # Codex's default metrics exporter is OpenAI's Statsig endpoint: the block must replace it.
    assert "statsig" not in json.dumps(otel).lower()


@pytest.mark.parametrize(
    "value, fragment",
    [
        ("{", "is not JSON"),
        ("[]", "is not of type 'object'"),
        ("{}", "should be non-empty"),
        ('{"gpt 5": {"input": 1, "cachedInput": 1, "output": 1}}', "'gpt 5' is not a model name"),
        ('{"gpt-5\\"}": {"input": 1, "cachedInput": 1, "output": 1}}', "is not a model name"),
        ('{"gpt-5": {"input": 1, "output": 1}}', "'cachedInput' is a required property"),
        ('{"gpt-5": {"input": -1, "cachedInput": 1, "output": 1}}', "at gpt-5/input: -1 is less than the minimum of 0"),
        ('{"gpt-5": {"input": "1", "cachedInput": 1, "output": 1}}', "'1' is not of type 'number'"),
        ('{"gpt-5": {"input": 1, "cachedInput": 1, "output": 1, "reasoning": 2}}', "Additional properties are not allowed"),
    ],
)
def test_a_bad_price_table_names_the_setting_and_the_shape_expected(value, fragment):
    with pytest.raises(SettingsError) as caught:
        validate({"codexPrices": value})
    message = str(caught.value)
    assert "clawker-monitor:codexPrices:" in message and fragment in message, message
    assert '{"<model>": {"input": <USD per million input tokens>' in message


def test_prices_per_token_are_plain_decimals():
    assert codex.per_token(1.25) == "0.00000125"
    assert codex.per_token(0.125) == "0.000000125"
    assert codex.per_token(10) == "0.00001"
    assert codex.per_token(0) == "0"


def test_a_price_table_is_parsed_per_model():
    settings = validate({"codexPrices": json.dumps(PRICES)})
    assert settings.codex_price_table == {m: {k: float(v) for k, v in p.items()} for m, p in PRICES.items()}
    assert validate({}).codex_price_table == {}


def test_without_prices_no_cost_appears_anywhere():
    objects = _objects()
    assert codex.with_estimated_cost(objects, {}) is objects
    for so in objects:
        text = json.dumps(so).lower()
        assert "cost" not in text and "usd" not in text and "dollars" not in text, so["id"]


def test_with_prices_the_estimate_is_on_the_codex_dashboard_labelled_estimated():
    objects = codex.with_estimated_cost(_objects(), PRICES)
    by_id = {so["id"]: so for so in objects}
    estimate = [so for so in objects if "cost" in json.dumps(so["attributes"]).lower() and so["type"] == "explore"]
    assert {so["id"] for so in estimate} == {codex.COST_TOTAL_ID, codex.COST_BY_MODEL_ID}
    for so in estimate:
        assert so["attributes"]["title"].startswith("Estimated"), so["attributes"]["title"]
        assert "ESTIMATED" in so["attributes"]["description"]
        query = so["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"]["query"]["query"]
        for model, price in PRICES.items():
            assert f'model="{model}"' in query
            assert f"* {codex.per_token(price['input'])}" in query and f"* {codex.per_token(price['output'])}" in query
            assert f"* {codex.per_token(price['cachedInput'])}" in query
    dashboard = by_id[codex.DASHBOARD_ID]
    referenced = {r["id"] for r in dashboard["references"]}
    assert {codex.COST_TOTAL_ID, codex.COST_BY_MODEL_ID} <= referenced
    assert "ESTIMATED" in dashboard["attributes"]["description"]
    # Every panel reference is a panel of the layout, and no two panels overlap.
    names = {r["name"] for r in dashboard["references"]}
    assert names == {p["panelRefName"] for p in dashboard["attributes"]["panelsJSON"]}
    cells = set()
    for p in dashboard["attributes"]["panelsJSON"]:
        g = p["gridData"]
        area = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not area & cells, p
        assert g["x"] + g["w"] <= 48
        cells |= area
    # The static file is untouched.
    assert codex.COST_TOTAL_ID not in {r["id"] for so in _objects() if so["type"] == "dashboard" for r in so["references"]}


def _leaf_types() -> dict[str, str]:
    body = json.loads((UNIT / "index_templates" / "codex.json").read_text())
    return declared_leaf_types(body["template"]["mappings"])


_ACCEPTS = {
    "keyword": (str,),
    "text": (str,),
    "long": (int, str),  # Display (%) fields arrive as text; the envelope converts them
    "boolean": (bool, str),
    "date": (str,),
}


def test_every_attribute_codex_sends_is_declared_with_a_type_its_value_converts_to():
    types = _leaf_types()
    seen = set()
    for batch in corpus_codex.codex_batches():
        for record in batch.records:
            for key, value in record["attributes"].items():
                # The unit's pipeline moves the prompt text to prompt.value (Claude Code's shape).
                path = "attributes.prompt.value" if key == "prompt" else f"attributes.{key}"
                seen.add(path)
                assert path in types, f"{record['attributes']['event.name']}: {key} is not in the codex template"
                assert isinstance(value, _ACCEPTS[types[path]]), (key, value, types[path])
                if types[path] == "long" and isinstance(value, str):
                    int(value)
                if types[path] == "boolean" and isinstance(value, str):
                    assert value in ("true", "false"), (key, value)
    # Every event the dashboard reads is in the corpus.
    events = {r["attributes"]["event.name"] for b in corpus_codex.codex_batches() for r in b.records}
    assert events >= {
        "codex.conversation_starts", "codex.api_request", "codex.sse_event", "codex.user_prompt", "codex.tool_decision",
        "codex.tool_result", "codex.sandbox_outcome", "codex.turn_ttft", "codex.network_proxy.policy_decision",
    }
    assert {b.service for b in corpus_codex.codex_batches()} == set(corpus_codex.ORIGINATORS)


def test_codex_records_carry_no_timestamp_as_the_tracing_bridge_sends_them():
    for batch in corpus_codex.codex_batches():
        assert all(r["timestamp"] is None and r["body"] is None for r in batch.records)


def test_every_codex_panel_translates_for_the_proof_estimate_included():
    """The e2e proof evaluates each of them; here each is read without a stack (as test_panel_proof does)."""
    import panel_proof as pp

    bundle = pp.load_bundle(codex.with_estimated_cost(_objects(), PRICES))
    panels = pp.dashboard_panels(bundle)
    assert {p.dashboards[0] for p in panels} == {"Codex"}
    assert len(panels) == 27  # the machine and user controls included
    for panel in panels:
        if panel.type == "explore":
            assert "codex_" in pp.promql_of(panel), panel.name
            continue
        if pp.is_controls(panel):
            assert {c.index for c in pp.controls_of(panel, bundle)} == {"codex*"}, panel.name
            continue
        plan = pp.plan(panel, bundle, pp.time_from(panel, bundle))
        assert plan.index == "codex*", panel.name


def test_codex_promql_uses_only_what_the_collector_exports_for_codex():
    """Metric names and labels as catalogue.CODEX_PROMETHEUS_METRICS lists them (checked against real Prometheus in e2e)."""
    import catalogue
    from test_dashboards_bundle import parse_promql

    explore = [so for so in codex.with_estimated_cost(_objects(), PRICES) if so["type"] == "explore"]
    assert len(explore) == 8  # six on the dashboard, two for the estimate
    for so in explore:
        query = so["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"]["query"]["query"]
        metrics, matchers, grouping = parse_promql(query)
        assert metrics and metrics <= set(catalogue.CODEX_PROMETHEUS_METRICS), (so["id"], metrics)
        for metric, labels in matchers.items():
            assert labels <= set(catalogue.CODEX_PROMETHEUS_METRICS[metric]), (so["id"], metric, labels)
        for metric in metrics:
            assert grouping <= set(catalogue.CODEX_PROMETHEUS_METRICS[metric]), (so["id"], grouping)


def test_the_program_deploys_the_estimate_and_codex_config_only_with_the_codex_unit():
    """Against the mock engine: the codex unit with prices deploys the estimate's panels and offers codexConfig."""
    from stack_harness import deploy

    with_codex = deploy({"units": '["claude-code", "codex"]', "codexPrices": json.dumps(PRICES)})
    (explore,) = [r for r in with_codex.registrations if r.name == "dashboards-explore-objects-codex"]
    assert {f"explore/{codex.COST_TOTAL_ID}", f"explore/{codex.COST_BY_MODEL_ID}"} <= set(explore.inputs["objects"])
    (bundle,) = [r for r in with_codex.registrations if r.name == "dashboards-saved-objects-codex"]
    dashboard = json.loads(bundle.inputs["objects"][f"dashboard/{codex.DASHBOARD_ID}"])  # one JSON text per object
    assert codex.COST_TOTAL_ID in {r["id"] for r in dashboard["references"]}
    assert codex.config_output(with_codex.outputs["settings"]) == codex.codex_config(validate({}))
    assert any(r.name == "opensearch-index-codex" for r in with_codex.registrations)

    unpriced = deploy({"units": '["claude-code", "codex"]'})
    assert not [r for r in unpriced.registrations if "estimated-cost" in r.name]
    default = deploy()
    assert codex.config_output(default.outputs["settings"]) is None
    assert not [r for r in default.registrations if "codex" in r.name]
