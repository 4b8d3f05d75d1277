"""The panel proof (tests/panel_proof.py) itself: it reads every panel, and reads KQL right.

The proof runs in the e2e layer against real OpenSearch and Prometheus; these
checks keep it honest without a stack: every dashboard panel translates (a
panel it could not translate would fail there by name, not be skipped), and
the KQL subset maps to the OpenSearch clauses Dashboards itself builds.
"""

from __future__ import annotations

import pytest

import panel_proof as pp

BUNDLE = pp.load_bundle()
PANELS = pp.dashboard_panels(BUNDLE)


def test_every_panel_of_every_dashboard_is_listed_once():
    dashboards = [so for (t, _), so in BUNDLE.objects.items() if t == "dashboard"]
    referenced = {(r["type"], r["id"]) for d in dashboards for r in d["references"]}
    assert {(p.type, p.id) for p in PANELS} == referenced
    assert len(PANELS) == len(referenced) >= 62


@pytest.mark.parametrize("panel", PANELS, ids=[p.id for p in PANELS])
def test_every_panel_translates(panel):
    if panel.type == "explore":
        assert pp.promql_of(panel)
        return
    if pp.is_controls(panel):
        titles = {so["attributes"]["title"] for (t, _), so in BUNDLE.objects.items() if t == "index-pattern"}
        assert {c.index for c in pp.controls_of(panel, BUNDLE)} <= titles
        return
    plan = pp.plan(panel, BUNDLE, pp.time_from(panel, BUNDLE))
    assert plan.index in {so["attributes"]["title"] for (t, _), so in BUNDLE.objects.items() if t == "index-pattern"}
    # A count-only metric needs no aggregation (the hit count is its value); a table needs columns.
    assert plan.columns if panel.type == "search" else not plan.columns
    assert {"range": {"@timestamp": {"gte": pp.time_from(panel, BUNDLE), "lte": "now"}}} in plan.query["bool"]["filter"]


def test_kql_subset():
    assert pp.kql_to_dsl("") == {"match_all": {}}
    assert pp.kql_to_dsl('a.b:"x y"') == {"match_phrase": {"a.b": "x y"}}
    assert pp.kql_to_dsl("n:0") == {"match": {"n": {"query": "0", "lenient": True}}}
    assert pp.kql_to_dsl("f:*") == {"exists": {"field": "f"}}
    assert pp.kql_to_dsl('a:"1" and (b:"2" or b:"3") and not c:0') == {
        "bool": {
            "filter": [
                {"match_phrase": {"a": "1"}},
                {"bool": {"should": [{"match_phrase": {"b": "2"}}, {"match_phrase": {"b": "3"}}], "minimum_should_match": 1}},
                {"bool": {"must_not": [{"match": {"c": {"query": "0", "lenient": True}}}]}},
            ]
        }
    }
    assert pp.kql_to_dsl('NOT a:"x"') == {"bool": {"must_not": [{"match_phrase": {"a": "x"}}]}}


@pytest.mark.parametrize("text", ["just words", 'a:"x" and', "a:x*", "(a:1"])
def test_kql_outside_the_subset_is_refused_not_guessed(text):
    with pytest.raises(pp.Unsupported):
        pp.kql_to_dsl(text)


def test_source_value_reads_nested_and_dotted_keys():
    doc = {"attributes": {"event.name": "x", "user": {"email": "e"}, "tool_params": {"a.b": 1}, "empty": ""}}
    assert pp.source_value(doc, "attributes.event.name") == "x"
    assert pp.source_value(doc, "attributes.user.email") == "e"
    assert pp.source_value(doc, "attributes.tool_params.a.b") == 1
    assert pp.source_value(doc, "attributes.missing") is None
    assert pp.is_empty(pp.source_value(doc, "attributes.empty"))


def test_empty_aggregations_are_named():
    problems: list[str] = []
    pp._walk_buckets({"b2": {"buckets": []}}, ["b2"], [], problems)
    assert problems == ["aggregation b2 has no bucket"]
    problems = []
    pp._walk_buckets({"m1": {"value": 0}}, [], ["m1"], problems)
    assert problems == ["metric m1 is 0"]


def test_percentiles_need_a_value_for_every_percent():
    problems: list[str] = []
    pp._walk_buckets({"m1": {"values": {"50.0": 120.0, "95.0": 900.0}}}, [], ["m1"], problems)
    assert problems == []
    pp._walk_buckets({"m1": {"values": {"50.0": None, "95.0": None}}}, [], ["m1"], problems)
    assert problems == ["metric m1 is None"]
    assert pp._agg_body({"type": "percentiles", "params": {"field": "f", "percents": [50, 95]}}) == {
        "percentiles": {"field": "f", "percents": [50, 95]}
    }


def test_show_missing_values_becomes_a_bucket_of_its_own():
    """A terms agg with missingBucket asks OpenSearch for a '__missing__' bucket, as Dashboards does;
    without it, documents lacking the field are in no bucket."""
    params = {"field": "resource.team.id", "size": 5}
    assert pp._agg_body({"type": "terms", "params": params}) == {"terms": {"field": "resource.team.id", "size": 5}}
    assert pp._agg_body({"type": "terms", "params": {**params, "missingBucket": True}}) == {
        "terms": {"field": "resource.team.id", "size": 5, "missing": "__missing__"}
    }
