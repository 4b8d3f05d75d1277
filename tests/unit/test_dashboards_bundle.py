"""The Dashboards saved objects we ship, checked without a network.

* every reference resolves (inside the bundle, or to the Prometheus datasource);
* every field a panel aggregates exists in our index templates with a type
  OpenSearch can aggregate; every column and query field exists at all;
* every PromQL query names at least one metric, and only metrics and labels the
  collector exports (components.catalogue.COLLECTOR_PROMETHEUS_METRICS);
* the import bundle passes the provider's own check and encodes to valid ndjson.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import catalogue
from components import names, units
from components.providers import dashboards as dp
from components.providers import text_documents

REPO = Path(__file__).resolve().parents[2]
ASSETS = REPO / "opensearch_assets"

AGGREGATABLE = {
    "keyword",
    "constant_keyword",
    "long",
    "integer",
    "short",
    "byte",
    "double",
    "float",
    "half_float",
    "scaled_float",
    "unsigned_long",
    "date",
    "date_nanos",
    "boolean",
    "ip",
}

OBJECTS = dp.load_saved_objects()
BY_KEY = {dp.object_key(so): so for so in OBJECTS}
DECODED = {key: {**so, "attributes": dp.decode_attributes(so["type"], so["attributes"])} for key, so in BY_KEY.items()}
EXPLORE, IMPORTED = dp.split_bundle(OBJECTS)
# The one reference allowed outside the bundle: explore panels point at the direct-query datasource.
KNOWN_EXTERNAL = {f"index-pattern/{names.DATASOURCE}"}


def of_type(so_type: str) -> list[dict]:
    return [so for so in DECODED.values() if so["type"] == so_type]


# --------------------------------------------------------------------------- index templates


def _flatten(properties: dict, prefix: str = "") -> dict[str, str]:
    """Dotted field path -> mapping type (objects recurse; multi-fields become path.sub)."""
    out: dict[str, str] = {}
    for name, spec in (properties or {}).items():
        path = f"{prefix}{name}"
        if "properties" in spec:
            out.update(_flatten(spec["properties"], f"{path}."))
            if "type" in spec:
                out[path] = spec["type"]
            continue
        out[path] = spec.get("type", "object")
        for sub, sub_spec in (spec.get("fields") or {}).items():
            out[f"{path}.{sub}"] = sub_spec.get("type", "object")
    return out


def _template_files(kind: str) -> dict[str, dict]:
    """The core's files of `kind`, and the default units' (opensearch_assets/units/<unit>/<kind>/)."""
    directories = [ASSETS / kind] + [u.path / kind for u in units.default_units()]
    return {p.stem: json.loads(p.read_text()) for d in directories if d.is_dir() for p in sorted(d.glob("*.json"))}


def index_fields(index: str) -> dict[str, str]:
    """Every explicitly mapped field of `index`, from our component + index template files."""
    templates = _template_files("index_templates")
    components = _template_files("component_templates")
    # The traces index's template is named for its role; the bootstrap fills in its pattern.
    template_name = names.TRACES_INDEX_TEMPLATE if index == names.TRACES_INDEX else index
    matching = [
        t for stem, t in templates.items() if index in (t.get("index_patterns") or []) or stem == template_name
    ]
    if not matching:
        pytest.fail(
            f"no index template for index {index!r} under {ASSETS / 'index_templates'} "
            "(expected <index>.json or a template whose index_patterns name it)"
        )
    fields: dict[str, str] = {}
    template = matching[0]
    # Log indices are composed of the common component template (the bootstrap sets composed_of); the traces index is not.
    composed = template.get("composed_of") or ([] if index == names.TRACES_INDEX else sorted(components))
    for name in composed:
        if name not in components:
            pytest.fail(f"index template for {index!r} is composed of {name!r}, which has no file in component_templates/")
        fields.update(_flatten(components[name].get("template", {}).get("mappings", {}).get("properties", {})))
    fields.update(_flatten(template.get("template", {}).get("mappings", {}).get("properties", {})))
    return fields


def index_of(so: dict) -> str:
    """The stream (= index-pattern id; its title reads the stream's days) a visualization or search reads."""
    source = so["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"]
    controls = ((so["attributes"].get("visState") or {}).get("params") or {}).get("controls")
    if controls and "indexRefName" not in source:
        # A controls panel (input_control_vis) names an index pattern per control; ours use one each.
        wanted = {c["indexPatternRefName"] for c in controls}
        refs = [r for r in so["references"] if r["name"] in wanted]
        assert len(refs) == len(wanted) and len({r["id"] for r in refs}) == 1, f"{dp.object_key(so)}: controls on {refs}"
        ref_name = refs[0]["name"]
    else:
        ref_name = source.get("indexRefName")
    refs = [r for r in so["references"] if r["name"] == ref_name]
    assert len(refs) == 1, f"{dp.object_key(so)}: indexRefName {ref_name!r} must match exactly one reference"
    pattern = BY_KEY.get(f"index-pattern/{refs[0]['id']}")
    assert pattern is not None, f"{dp.object_key(so)} reads index pattern {refs[0]['id']!r}, which is not in the bundle"
    return refs[0]["id"]


def aggregated_fields(so: dict) -> list[str]:
    vis_state = so["attributes"]["visState"]
    fields = [a["params"]["field"] for a in vis_state.get("aggs", []) if (a.get("params") or {}).get("field")]
    for control in (vis_state.get("params") or {}).get("controls", []):
        fields.append(control["fieldName"])
    return fields


_KQL_FIELD = re.compile(r"(?<![\w.\"])([A-Za-z_@][\w.@]*)\s*:")


def query_fields(so: dict) -> list[str]:
    query = so["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"]["query"]
    assert query["language"] == "kuery", f"{dp.object_key(so)}: queries are KQL"
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', query["query"])
    return _KQL_FIELD.findall(text)


# --------------------------------------------------------------------------- PromQL

_PROMQL_KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
    "and", "or", "unless", "inf", "nan",
}
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def parse_promql(query: str) -> tuple[set[str], dict[str, set[str]], set[str]]:
    """(metric names, label matchers per metric, grouping labels) of a PromQL expression."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', query)
    matchers: dict[str, set[str]] = {}
    for metric, block in re.findall(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*\{([^}]*)\}", text):
        labels = set(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)", block))
        matchers.setdefault(metric, set()).update(labels)
    grouping: set[str] = set()
    for _, labels in re.findall(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)", text):
        grouping.update(l.strip() for l in labels.split(",") if l.strip())
    stripped = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    stripped = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", stripped)
    metrics = set()
    for m in _IDENT.finditer(stripped):
        name = m.group(0)
        rest = stripped[m.end():].lstrip()
        if name.lower() in _PROMQL_KEYWORDS or rest.startswith("("):
            continue
        metrics.add(name)
    return metrics, matchers, grouping


def _required_labels(query: str, metric: str) -> set[str]:
    """Labels every selector of `metric` in `query` requires to be non-empty (label!="")."""
    blocks = re.findall(rf"{re.escape(metric)}\s*\{{([^}}]*)\}}", query)
    if not blocks or len(blocks) != len(re.findall(rf"\b{re.escape(metric)}\b", query)):
        return set()
    return set.intersection(*(set(re.findall(r'([A-Za-z_][A-Za-z0-9_]*)\s*!=\s*""', b)) for b in blocks))


def promql_of(so: dict) -> str:
    query = so["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"]["query"]
    return query["query"]


# --------------------------------------------------------------------------- tests: shape


def test_bundle_has_an_index_pattern_per_log_index_and_the_traces_index_with_timestamp():
    patterns = {so["id"]: so for so in of_type("index-pattern")}
    assert sorted(patterns) == sorted(catalogue.INDEX_PATTERNS)
    for index, so in patterns.items():
        # The write name and every daily index (README "Retention").
        assert so["attributes"]["title"] == names.read_pattern(index)
        assert so["attributes"]["timeFieldName"] == "@timestamp"


def test_bundle_has_the_dashboards():
    dashboards = {so["id"]: so["attributes"]["title"] for so in of_type("dashboard")}
    assert dashboards == {
        catalogue.DASHBOARD_COST_USAGE: "Claude Code Cost & Usage",
        catalogue.DASHBOARD_ACTIVITY: "Claude Code Activity",
        catalogue.DASHBOARD_NETWORKING: "Clawker Networking",
        catalogue.DASHBOARD_API_HEALTH: "Claude Code API Health",
        catalogue.DASHBOARD_COST_ATTRIBUTION: "Claude Code Cost Attribution",
        catalogue.DASHBOARD_SESSIONS: "Claude Code Sessions",
        catalogue.DASHBOARD_TRACES: "Claude Code Traces",
        catalogue.DASHBOARD_TEAM_USERS: "Claude Code Team & Users",
    }


def test_ids_are_unique_and_well_formed():
    assert len(BY_KEY) == len(OBJECTS)
    for so in OBJECTS:
        assert dp._ID_RE.match(so["id"]), so["id"]
        assert so["type"] in dp.IMPORTABLE_TYPES + ("explore",), dp.object_key(so)


def test_json_text_attributes_are_authored_as_structures():
    """Data files hold structures, never JSON inside strings: diffs then show fields."""
    for so in OBJECTS:
        for dotted in dp.JSON_TEXT_ATTRIBUTES.get(so["type"], ()):
            parent, key = dp._get_path(so["attributes"], dotted)
            if parent is not None and key in parent:
                assert not isinstance(parent[key], str), f"{dp.object_key(so)}: {dotted} is a string"


# --------------------------------------------------------------------------- tests: references


def test_every_reference_resolves():
    for key, so in DECODED.items():
        for ref in so["references"]:
            target = f"{ref['type']}/{ref['id']}"
            assert target in BY_KEY or target in KNOWN_EXTERNAL, f"{key}: reference {ref['name']!r} -> {target} unresolved"


def test_explore_objects_reference_only_the_prometheus_datasource():
    for so in EXPLORE:
        decoded = DECODED[dp.object_key(so)]
        assert [(r["type"], r["id"]) for r in so["references"]] == [("index-pattern", names.DATASOURCE)]
        source = decoded["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"]
        assert source["indexRefName"] == so["references"][0]["name"]
        assert source["query"]["language"] == "PROMQL"
        assert source["query"]["dataset"]["id"] == names.DATASOURCE
        assert decoded["attributes"]["visualization"]["chartType"] in ("metric", "area", "line", "pie", "bar")


def test_dashboard_panels_match_their_references():
    for so in of_type("dashboard"):
        key = dp.object_key(so)
        refs = {r["name"]: r for r in so["references"]}
        panels = so["attributes"]["panelsJSON"]
        assert panels, f"{key} has no panels"
        used = set()
        for panel in panels:
            ref = refs.get(panel["panelRefName"])
            assert ref is not None, f"{key}: panel {panel['panelIndex']} names missing reference {panel['panelRefName']}"
            assert panel["type"] == ref["type"], f"{key}: panel {panel['panelIndex']} type differs from its reference"
            assert ref["type"] in ("visualization", "search", "explore")
            used.add(ref["name"])
            grid = panel["gridData"]
            assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 48, f"{key}: panel {panel['panelIndex']} overflows the grid"
        assert used == set(refs), f"{key}: references without a panel: {sorted(set(refs) - used)}"
        assert len({p["panelIndex"] for p in panels}) == len(panels)


def test_every_panel_object_is_on_a_dashboard():
    on_dashboards = {
        f"{r['type']}/{r['id']}" for so in of_type("dashboard") for r in so["references"]
    }
    panels = {k for k, so in BY_KEY.items() if so["type"] in ("visualization", "search", "explore")}
    assert panels - on_dashboards == set()


def test_expected_panels_are_present():
    """Contents per reference/dashboards.yaml (titles users look for)."""
    titles = {}
    for dash in of_type("dashboard"):
        titles[dash["id"]] = {BY_KEY[f"{r['type']}/{r['id']}"]["attributes"]["title"] for r in dash["references"]}
    assert {
        "Total Sessions", "Total Cost (USD)", "Input Tokens", "Output Tokens", "Cache Read Tokens",
        "Cache Creation Tokens", "Token Usage", "Total Active Time", "Cost / Active Minute", "Cache Hit %",
        "Model Usage", "Active Time",
    } <= titles[catalogue.DASHBOARD_COST_USAGE]
    assert {
        "Prompts", "Tool Calls", "Rejected", "Failures", "Tools Used", "Edit Accept %", "Lines Added",
        "Mode Changes", "Permission Mode Changes", "Hook Executions", "Hook Blocks", "MCP Connections",
        "MCP Tool Calls", "Plugins Loaded", "Plugins Installed", "Loaded Plugins", "Plugin Install Events",
    } <= titles[catalogue.DASHBOARD_ACTIVITY]
    # Issue 18: what Claude Code sends now (subagents, compactions, entrypoints, refusals by category).
    assert {
        "Subagent Runs", "Subagent Model Swaps", "Subagent Tool Uses", "Subagents by Type", "Compactions",
        "Compactions by Trigger", "Context Before and After Compaction (tokens)", "Sessions by Entrypoint",
    } <= titles[catalogue.DASHBOARD_ACTIVITY]
    assert {"Refusals by Category", "Refusals Users Saw vs Fallback Hops", "Refusals by Model and Category"} <= titles[
        catalogue.DASHBOARD_API_HEALTH
    ]
    assert titles[catalogue.DASHBOARD_NETWORKING] == {
        "Envoy actions", "CoreDNS rcodes", "eBPF actions", "Envoy events", "CoreDNS events", "eBPF egress events",
        "Machine",  # issue 19: the machine control (tests/unit/test_dashboard_filters.py)
    }
    # Issue 12: the views peers' users expect.
    assert {
        "API Requests", "API Errors", "Retries Exhausted", "Refusals", "Request Rate by Model",
        "Latency p50 / p95 by Model", "Latency by Model", "Errors by Status Code and Model", "Tool Success Rate",
        "Slowest Tools",
    } <= titles[catalogue.DASHBOARD_API_HEALTH]
    assert {
        "Cost by Query Source", "Cost by Subagent", "Cost by Skill", "Cost by Plugin", "Cost by MCP Server",
        "Cost by Effort", "Cost by Clawker Project and Agent", "Tokens by Query Source", "Top Sessions by Cost",
    } <= titles[catalogue.DASHBOARD_COST_ATTRIBUTION]
    assert {"Top Sessions by Cost", "Prompts by Cost", "Session Timeline"} <= titles[catalogue.DASHBOARD_SESSIONS]
    # Issue 19: a team's Prometheus panels per machine (tests/unit/test_dashboard_filters.py).
    assert {"Budget Used by User (%)", "Cost by Machine (USD)", "Tokens by Machine"} <= titles[catalogue.DASHBOARD_TEAM_USERS]
    assert {
        "Interaction Duration p50 / p95", "Slowest Interactions", "Slowest Tool Spans", "Time Blocked on User",
        "Trace Spans",
    } <= titles[catalogue.DASHBOARD_TRACES]


def _panel(dashboard_id: str, title: str) -> dict:
    dash = BY_KEY[f"dashboard/{dashboard_id}"]
    for ref in dash["references"]:
        so = DECODED[f"{ref['type']}/{ref['id']}"]
        if so["attributes"]["title"] == title:
            return so
    raise AssertionError(f"{dashboard_id} has no panel {title!r}")


def _bucket_fields(so: dict) -> list[str]:
    return [a["params"]["field"] for a in so["attributes"]["visState"]["aggs"] if a["schema"] in ("bucket", "segment", "group")]


@pytest.mark.parametrize(
    "dashboard_id, table, detail, field",
    [
        # Session drill-down: a data table's "Filter for value" (vis_type_table's filterBucket
        # cell action, table_vis_grid_columns.tsx) filters every panel of the dashboard on
        # the bucket's field, so the timeline next to it shows the picked session/prompt.
        (catalogue.DASHBOARD_SESSIONS, "Top Sessions by Cost", "Session Timeline", "attributes.session.id"),
        (catalogue.DASHBOARD_SESSIONS, "Prompts by Cost", "Session Timeline", "attributes.prompt.id"),
        (catalogue.DASHBOARD_TRACES, "Slowest Interactions", "Trace Spans", "traceId"),
        # Per user, then their sessions: a session's cell filters the timeline beside it.
        (catalogue.DASHBOARD_TEAM_USERS, "Top Sessions per User", "Session Timeline", "attributes.session.id"),
    ],
)
def test_drill_down_table_filters_the_detail_search_on_the_same_dashboard(dashboard_id, table, detail, field):
    table_so, detail_so = _panel(dashboard_id, table), _panel(dashboard_id, detail)
    assert table_so["attributes"]["visState"]["type"] == "table"
    assert _bucket_fields(table_so)[-1] == field, "the table's innermost rows are the values a click filters on"
    assert index_of(table_so) == index_of(detail_so), "a filter applies to panels over the same index pattern"
    fields = index_fields(index_of(detail_so))
    assert fields.get(field) in AGGREGATABLE
    # The detail lists events in the order they happened and shows the value it is filtered on.
    assert detail_so["attributes"]["sort"][0][1] == "asc"
    query = detail_so["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"]["query"]["query"]
    assert "event.name" not in query, "the timeline must show every event type, not one"


# --------------------------------------------------------------------------- tests: fields


@pytest.mark.parametrize("key", sorted(k for k, so in BY_KEY.items() if so["type"] == "visualization"))
def test_aggregated_fields_exist_and_are_aggregatable(key):
    so = DECODED[key]
    index = index_of(so)
    fields = index_fields(index)
    for field in aggregated_fields(so):
        assert field in fields, f"{key} aggregates {field!r}, which the {index} templates do not map"
        assert fields[field] in AGGREGATABLE, (
            f"{key} aggregates {field!r}, mapped as {fields[field]!r} in {index}: not aggregatable"
        )


@pytest.mark.parametrize("key", sorted(k for k, so in BY_KEY.items() if so["type"] in ("visualization", "search")))
def test_query_and_column_fields_exist(key):
    so = DECODED[key]
    index = index_of(so)
    fields = index_fields(index)
    wanted = query_fields(so) + list(so["attributes"].get("columns") or [])
    missing = [f for f in wanted if f not in fields and f != "_source"]
    assert not missing, f"{key} uses fields the {index} templates do not map: {missing}"
    for sort_field, _direction in so["attributes"].get("sort") or []:
        assert fields.get(sort_field) in AGGREGATABLE, f"{key} sorts on {sort_field!r}"


# --------------------------------------------------------------------------- tests: PromQL


def test_promql_parser_sees_metrics_and_labels():
    metrics, matchers, grouping = parse_promql(
        'sum by (agent, model) (increase(foo_total{kind=~"a|b", x!="{y}"}[5m])) / sum(bar_total) * 60'
    )
    assert metrics == {"foo_total", "bar_total"}
    assert matchers == {"foo_total": {"kind", "x"}}
    assert grouping == {"agent", "model"}


@pytest.mark.parametrize("key", sorted(dp.object_key(so) for so in EXPLORE))
def test_promql_uses_only_exported_metrics_and_labels(key):
    query = promql_of(DECODED[key])
    metrics, matchers, grouping = parse_promql(query)
    assert metrics, f"{key}: PromQL names no metric: {query}"
    known = {**catalogue.COLLECTOR_PROMETHEUS_METRICS, **catalogue.RECORDED_PROMETHEUS_SERIES}
    unknown = metrics - set(known)
    assert not unknown, f"{key}: metrics the collector does not export and no rule records: {sorted(unknown)}"
    optional = {m: set(catalogue.COLLECTOR_PROMETHEUS_OPTIONAL_LABELS.get(m, ())) for m in metrics}
    for metric, labels in matchers.items():
        extra = labels - set(known[metric]) - optional[metric]
        assert not extra, f"{key}: {metric} has no label(s) {sorted(extra)}"
    available = set().union(*(known[m] for m in metrics)) | set(catalogue.MACHINE_LABELS)
    # A label only some series carry may be grouped on only where every selector requires it.
    required = set.intersection(*(_required_labels(query, m) for m in metrics))
    assert grouping <= available | required, f"{key}: groups by labels not exported: {sorted(grouping - available)}"
    assert "type" not in grouping and all("type" not in l for l in matchers.values()), (
        f"{key}: the collector renames label type to kind"
    )


def test_recorded_series_the_dashboards_read_are_recorded_by_the_stacks_rules():
    """catalogue.RECORDED_PROMETHEUS_SERIES: each is a record of the rules a stack with budgets renders,
    with the labels the catalogue lists (its `by` labels plus the rule's own)."""
    from components.services import prometheus_config
    from components.settings import validate

    budgets = validate({"budgetDailyUsd": "10", "budgetTeams": '{"platform": {"dailyUsd": 100}}'})
    records = [r for g in prometheus_config.render_rules(budgets)["groups"] for r in g["rules"] if "record" in r]
    for name, labels in catalogue.RECORDED_PROMETHEUS_SERIES.items():
        rules = [r for r in records if r["record"] == name]
        assert rules, f"no rule records {name}"
        for rule in rules:
            # Labels: the aggregation's `by`, or the subject of the recorded spend it divides.
            by = re.match(r"sum by \(([^)]*)\)", rule["expr"])
            spend = re.search(r"clawker:(user|team)_cost_usd:", rule["expr"])
            kept = {l.strip() for l in by.group(1).split(",")} if by else {spend.group(1)}
            assert kept | set(rule.get("labels", {})) == set(labels), rule


# --------------------------------------------------------------------------- tests: what the providers send


def test_import_bundle_passes_provider_check():
    news = {
        "url": "http://127.0.0.1:5601",
        "ready_timeout_s": 60,
        "workspace_id": "abc123",
        "external_references": sorted(dp.object_key(so) for so in EXPLORE),
        "objects": {dp.object_key(so): so for so in IMPORTED},
    }
    result = dp.SavedObjectBundleProvider().check({}, news)
    assert [f"{f.property}: {f.reason}" for f in result.failures] == []


def test_explore_objects_pass_provider_check():
    for so in EXPLORE:
        news = {
            "url": "http://127.0.0.1:5601",
            "workspace_id": "abc123",
            "object_id": so["id"],
            "attributes": so["attributes"],
            "references": so["references"],
        }
        result = dp.ExploreObjectProvider().check({}, news)
        assert [f"{f.property}: {f.reason}" for f in result.failures] == [], dp.object_key(so)
    news = {
        "url": "http://127.0.0.1:5601",
        "workspace_id": "abc123",
        "objects": {dp.object_key(so): {"attributes": so["attributes"], "references": so["references"]} for so in EXPLORE},
    }
    assert dp.ExploreCollectionProvider().check({}, news).failures == []


def test_ndjson_encodes_json_text_attributes_and_round_trips():
    payload = dp.ndjson_bundle(IMPORTED).decode()
    lines = [json.loads(line) for line in payload.splitlines() if line]
    assert len(lines) == len(IMPORTED)
    for line, so in zip(lines, IMPORTED):
        for dotted in dp.JSON_TEXT_ATTRIBUTES.get(line["type"], ()):
            parent, key = dp._get_path(line["attributes"], dotted)
            if parent is not None and key in parent:
                assert isinstance(parent[key], str), f"{dp.object_key(so)}: {dotted} not encoded"
        assert dp.normalise_object(line) == dp.normalise_object(so)
        assert line["migrationVersion"] == so["migrationVersion"]


def test_bundle_state_of_earlier_releases_compares_equal_and_changes_still_show():
    """The bundle now carries JSON-text attributes as text; states written before held objects."""
    provider = dp.SavedObjectBundleProvider()
    base = {"url": "http://127.0.0.1:5601", "ready_timeout_s": 60, "workspace_id": "abc123",
            "external_references": sorted(dp.object_key(so) for so in EXPLORE)}
    stored = {dp.object_key(so): dp.stored_object(so) for so in IMPORTED}
    earlier = {dp.object_key(so): so for so in IMPORTED}  # what earlier releases recorded
    news = {**base, "objects": stored}
    assert provider.check({}, news).failures == []
    assert provider.diff("abc123/bundle", {**base, "objects": earlier}, news).changes is False
    assert provider.diff("abc123/bundle", news, news).changes is False
    # The ndjson sent to Dashboards is the same either way.
    assert dp.ndjson_bundle(stored.values()) == dp.ndjson_bundle(IMPORTED)
    # A change inside a JSON-text attribute is still a change.
    key = next(k for k, so in stored.items() if so["type"] == "visualization")
    vis = json.loads(stored[key]["attributes"]["visState"])
    vis["title"] = vis.get("title", "") + " (edited)"
    edited = {**stored, key: {**stored[key], "attributes": {**stored[key]["attributes"], "visState": json.dumps(vis)}}}
    assert provider.diff("abc123/bundle", {**base, "objects": earlier}, {**base, "objects": edited}).changes is True


# --------------------------------------------------------------------------- tests: declaration order


def test_bootstrap_declares_dashboards_steps_in_spec_order():
    """data-connection -> workspace -> each unit's explore objects in one resource -> the
    bundles, each after the Dashboards container; a bundle waits for exactly the explore
    collections (and the core bundle) holding what its objects reference (issue 21)."""
    from stack_harness import deploy

    dep = deploy()
    conn = dep.by_name("dashboards-data-connection")
    workspace = dep.by_name("dashboards-workspace")
    bundle = dep.by_name("dashboards-saved-objects")
    explore = [r for r in dep.registrations if r.name.startswith("dashboards-explore-")]
    assert [r.name for r in explore] == ["dashboards-explore-objects-claude-code"]
    holder = {key: r for r in explore for key in r.inputs["objects"]}
    assert sorted(holder) == sorted(dp.object_key(so) for so in EXPLORE)
    assert dep.depends_on("dashboards-data-connection", names.DASHBOARDS)
    assert dep.depends_on("dashboards-workspace", conn.urn)
    for r in explore:
        assert dep.depends_on(r.name, workspace.urn)
    bundles = [r for r in dep.registrations if r.name.startswith("dashboards-saved-objects")]
    assert len(bundles) == 2
    referenced_explore = 0
    for b in bundles:
        assert dep.depends_on(b.name, workspace.urn)
        objects = text_documents.decode_members(b.inputs["objects"])  # one JSON text per object (issue 21)
        refs = {f"{ref['type']}/{ref['id']}" for so in objects.values() for ref in so.get("references") or []}
        waits = {r.name for r in explore if r.urn in b.dependencies}
        assert waits == {holder[k].name for k in refs if k in holder}, b.name
        referenced_explore += len(waits)
    assert referenced_explore  # a unit's dashboards show its explore panels
    assert dep.depends_on("dashboards-saved-objects-claude-code", bundle.urn)  # its dashboards show core index patterns
    # The collector starts only after the whole bootstrap, the import included (SPEC "Order" 4).
    for b in bundles:
        assert dep.depends_on(names.COLLECTOR, b.urn), b.name
