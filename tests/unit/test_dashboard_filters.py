"""Issue 19: every dashboard lets the user pick machines and users (no stack needed).

Each dashboard of the built-in units (claude-code, codex) and the core's networking
dashboard has one controls panel (input_control_vis) at the top; its list controls
read fields every index pattern of the dashboard maps as keywords, so Dashboards lists
them as aggregatable whether or not any record carries them yet (a local stack's
records name no machine). That a pick selects the right documents is proven against
real OpenSearch with records from two real machine collectors:
tests/providers/test_dashboard_picks_on_opensearch.py.
"""

from __future__ import annotations

import pytest

import panel_proof as pp
from components import codex, units
from components.providers import dashboards as dp

MACHINE = "resource.machine"
USER = {"claude-code": "attributes.user.email", "codex": "attributes.user.email"}


def _bundle(unit_names: tuple[str, ...]) -> pp.Bundle:
    chosen = units.select(unit_names)
    objects = dp.load_saved_objects(units.dashboards_dirs(chosen))
    if "codex" in unit_names:
        objects = codex.with_estimated_cost(objects, None)
    return pp.load_bundle(objects)


BUNDLE = _bundle(("claude-code", "codex"))
DASHBOARDS = sorted(so["attributes"]["title"] for (t, _), so in BUNDLE.objects.items() if t == "dashboard")


def _panels_of(title: str) -> list[pp.Panel]:
    return [p for p in pp.dashboard_panels(BUNDLE) if title in p.dashboards]


def test_every_dashboard_is_covered():
    assert len(DASHBOARDS) == 9 and "Codex" in DASHBOARDS and "Clawker Networking" in DASHBOARDS


@pytest.mark.parametrize("title", DASHBOARDS)
def test_each_dashboard_has_one_controls_panel_on_top_with_a_machine_control(title):
    (dashboard,) = [so for (t, _), so in BUNDLE.objects.items() if t == "dashboard" and so["attributes"]["title"] == title]
    controls = [p for p in _panels_of(title) if pp.is_controls(p)]
    assert len(controls) == 1, [p.name for p in controls]
    (panel,) = controls
    top = dashboard["attributes"]["panelsJSON"][0]
    refs = {r["name"]: r["id"] for r in dashboard["references"]}
    assert refs[top["panelRefName"]] == panel.id and top["gridData"]["y"] == 0 and top["gridData"]["w"] == 48
    below = [e["gridData"] for e in dashboard["attributes"]["panelsJSON"][1:]]
    assert min(g["y"] for g in below) >= top["gridData"]["h"], "a panel sits under the controls"
    fields = [c.field for c in pp.controls_of(panel, BUNDLE)]
    assert fields[0] == MACHINE
    # Every panel's index pattern is one the control's field is a keyword in (test_dashboards_bundle
    # checks the templates map it); PromQL panels cannot follow a dashboard filter.
    read = {pp.plan(p, BUNDLE, "now-1d").index for p in _panels_of(title) if p.type != "explore" and not pp.is_controls(p)}
    assert read, title
    if title == "Claude Code Traces":
        assert fields == [MACHINE]  # span attributes are a flat_object: no list of values to pick from
    elif title == "Clawker Networking":
        assert fields == [MACHINE]  # infrastructure records name no user
    else:
        unit = "codex" if title == "Codex" else "claude-code"
        assert USER[unit] in fields
        assert read == {f"{unit}*"}


def test_a_pick_becomes_the_filter_dashboards_builds():
    one = pp.selection_filter(MACHINE, ["laptop-a"])
    assert one["query"] == {"match_phrase": {MACHINE: "laptop-a"}}
    two = pp.selection_filter(MACHINE, ["laptop-a", "laptop-b"])
    assert two["query"] == {
        "bool": {"should": [{"match_phrase": {MACHINE: "laptop-a"}}, {"match_phrase": {MACHINE: "laptop-b"}}], "minimum_should_match": 1}
    }
    with pytest.raises(ValueError):
        pp.selection_filter(MACHINE, [])
    panel = next(p for p in _panels_of("Claude Code Sessions") if p.type == "search")
    filtered = pp.with_dashboard_filters(panel, [one])
    assert {"match_phrase": {MACHINE: "laptop-a"}} in pp.plan(filtered, BUNDLE, "now-1d").query["bool"]["filter"]
    assert {"match_phrase": {MACHINE: "laptop-a"}} not in pp.plan(panel, BUNDLE, "now-1d").query["bool"]["filter"]


def test_the_team_dashboard_breaks_prometheus_cost_and_tokens_down_by_machine():
    """A PromQL panel cannot take a pick (explore sends its query as written), so Team & Users shows
    cost and tokens of every machine side by side, grouped by the label each machine stack's remote
    write carries (its series on the team Prometheus: tests/e2e/test_team.py)."""
    from components.services import collector_machine

    team = {p.title: pp.promql_of(p) for p in _panels_of("Claude Code Team & Users") if p.type == "explore"}
    label = collector_machine.MACHINE_ATTRIBUTE
    assert team["Cost by Machine (USD)"] == f"sum by ({label}) (claude_code_cost_usage_USD_total)"
    assert team["Tokens by Machine"] == f"sum by ({label}) (claude_code_token_usage_tokens_total)"
    # The counters the Cost & Usage dashboard's totals read.
    totals = {p.title: pp.promql_of(p) for p in _panels_of("Claude Code Cost & Usage") if p.type == "explore"}
    assert totals["Total Cost (USD)"] == "sum(claude_code_cost_usage_USD_total)"
