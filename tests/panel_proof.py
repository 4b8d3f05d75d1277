"""Evaluate every dashboard panel the way Dashboards would, from the saved objects alone.

Nothing here names a panel: the panels are whatever the dashboards in
opensearch_assets/dashboards/ and the units' dashboards/ folders reference, so a panel added later is proven by
the same code.

- visualization: its searchSourceJSON query (KQL) and filters, plus those of the
  saved search it is built on, become an OpenSearch bool query on the index its
  index pattern names, limited to the dashboard's time range; its visState
  aggregations become OpenSearch aggregations. It shows data when the query
  matches documents and every aggregation returns a value or a bucket.
- search (a saved-search table): the same query; every column must hold a
  non-empty value on at least one returned row.
- explore with PROMQL: the query runs as an instant query against Prometheus and
  must return at least one finite sample.

Anything this module cannot translate (a KQL construct, an aggregation type, a
panel kind) fails loudly naming the panel: a proof that silently skipped a
panel would prove nothing.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from components.providers import dashboards as dp


class Unsupported(Exception):
    """The saved object uses something this proof cannot evaluate (yet)."""


# --------------------------------------------------------------------------- panels


@dataclass
class Panel:
    id: str
    type: str
    title: str
    dashboards: list[str]
    attributes: dict
    references: list[dict]
    saved_search: Optional[dict] = None

    @property
    def name(self) -> str:
        return f"{' / '.join(self.dashboards)}: {self.title!r} ({self.type} {self.id})"


@dataclass
class Bundle:
    objects: dict[tuple[str, str], dict] = field(default_factory=dict)

    def get(self, so_type: str, so_id: str) -> dict:
        key = (so_type, so_id)
        if key not in self.objects:
            raise Unsupported(f"references {so_type} {so_id}, which the bundle does not declare")
        return self.objects[key]


def load_bundle(objects: Optional[list[dict]] = None) -> Bundle:
    """The saved objects a stack deploys (by default the core's and the default units')."""
    bundle = Bundle()
    for so in dp.load_saved_objects() if objects is None else objects:
        attributes = dp.decode_attributes(so["type"], so["attributes"])
        bundle.objects[(so["type"], so["id"])] = {**so, "attributes": attributes}
    return bundle


def dashboard_panels(bundle: Optional[Bundle] = None) -> list[Panel]:
    """Every panel on every dashboard (a panel on two dashboards is listed once)."""
    bundle = bundle or load_bundle()
    panels: dict[tuple[str, str], Panel] = {}
    for (so_type, _), dashboard in sorted(bundle.objects.items()):
        if so_type != "dashboard":
            continue
        refs = {r["name"]: r for r in dashboard.get("references", [])}
        for entry in dashboard["attributes"].get("panelsJSON", []):
            ref = refs.get(entry.get("panelRefName", ""))
            if ref is None:
                raise Unsupported(f"dashboard {dashboard['id']}: panel {entry} has no reference")
            key = (ref["type"], ref["id"])
            if key in panels:
                panels[key].dashboards.append(dashboard["attributes"]["title"])
                continue
            so = bundle.get(*key)
            panel = Panel(
                id=so["id"],
                type=so["type"],
                title=so["attributes"].get("title", so["id"]),
                dashboards=[dashboard["attributes"]["title"]],
                attributes=so["attributes"],
                references=so.get("references", []),
            )
            search_ref = _reference(panel.references, panel.attributes.get("savedSearchRefName"))
            if search_ref:
                panel.saved_search = bundle.get("search", search_ref["id"])
            panels[key] = panel
    return list(panels.values())


def _reference(references: list[dict], name: Optional[str]) -> Optional[dict]:
    if not name:
        return None
    return next((r for r in references if r["name"] == name), None)


def _search_source(attributes: dict) -> dict:
    source = attributes.get("kibanaSavedObjectMeta", {}).get("searchSourceJSON", {})
    if isinstance(source, str):
        source = json.loads(source or "{}")
    return source


# --------------------------------------------------------------------------- KQL


_TOKEN = re.compile(r'\s*(?:(?P<lp>\()|(?P<rp>\))|(?P<colon>:)|(?P<quoted>"(?:[^"\\]|\\.)*")|(?P<word>[^\s():"]+))')


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise Unsupported(f"KQL {text!r}: cannot read from {text[pos:]!r}")
        pos = m.end()
        kind = m.lastgroup
        value = m.group(kind)
        if kind == "word" and value.lower() in ("and", "or", "not"):
            kind = value.lower()
        out.append((kind, value))
    return out


def kql_to_dsl(text: str) -> dict:
    """The subset of KQL the saved objects use: field:"phrase", field:value, field:*, and/or/not, parentheses."""
    tokens = _tokens(text)
    if not tokens:
        return {"match_all": {}}
    pos = 0

    def peek() -> str:
        return tokens[pos][0] if pos < len(tokens) else ""

    def take(kind: str) -> str:
        nonlocal pos
        if peek() != kind:
            raise Unsupported(f"KQL {text!r}: expected {kind} at token {pos}, found {tokens[pos:pos + 1]}")
        pos += 1
        return tokens[pos - 1][1]

    def expr_or() -> dict:
        clauses = [expr_and()]
        while peek() == "or":
            take("or")
            clauses.append(expr_and())
        return clauses[0] if len(clauses) == 1 else {"bool": {"should": clauses, "minimum_should_match": 1}}

    def expr_and() -> dict:
        clauses = [expr_not()]
        while peek() == "and":
            take("and")
            clauses.append(expr_not())
        return clauses[0] if len(clauses) == 1 else {"bool": {"filter": clauses}}

    def expr_not() -> dict:
        if peek() == "not":
            take("not")
            return {"bool": {"must_not": [expr_not()]}}
        return atom()

    def atom() -> dict:
        if peek() == "lp":
            take("lp")
            inner = expr_or()
            take("rp")
            return inner
        name = take("word")
        if peek() != "colon":
            raise Unsupported(f"KQL {text!r}: free text {name!r} (no field) is not evaluated here")
        take("colon")
        if peek() == "quoted":
            value = json.loads(take("quoted"))
            return {"match_phrase": {name: value}}
        value = take("word")
        if value == "*":
            return {"exists": {"field": name}}
        if "*" in value:
            raise Unsupported(f"KQL {text!r}: wildcard value {value!r}")
        return {"match": {name: {"query": value, "lenient": True}}}

    dsl = expr_or()
    if pos != len(tokens):
        raise Unsupported(f"KQL {text!r}: unread tokens {tokens[pos:]}")
    return dsl


def _query_of(source: dict) -> list[dict]:
    query = source.get("query") or {}
    language = (query.get("language") or "kuery").lower()
    text = query.get("query", "")
    if isinstance(text, dict):  # a stored DSL query
        return [text]
    if language == "kuery":
        return [kql_to_dsl(text)]
    if language == "lucene":
        return [{"query_string": {"query": text}}] if text.strip() else []
    raise Unsupported(f"query language {language!r}")


def _filters_of(source: dict) -> tuple[list[dict], list[dict]]:
    """(must, must_not) clauses from Dashboards filter objects (disabled ones ignored)."""
    must, must_not = [], []
    for f in source.get("filter") or []:
        meta = f.get("meta", {})
        if meta.get("disabled"):
            continue
        clause = f.get("query") or {k: v for k, v in f.items() if k not in ("meta", "$state")}
        if not clause:
            raise Unsupported(f"filter without a query: {f}")
        (must_not if meta.get("negate") else must).append(clause)
    return must, must_not


# --------------------------------------------------------------------------- aggregations


_METRIC_AGGS = {"count", "cardinality", "sum", "avg", "min", "max", "median", "percentiles", "top_hits"}
_BUCKET_AGGS = {"terms", "date_histogram", "histogram", "significant_terms"}


def _agg_body(agg: dict) -> dict:
    kind, params = agg["type"], agg.get("params", {})
    if kind == "cardinality":
        return {"cardinality": {"field": params["field"]}}
    if kind in ("sum", "avg", "min", "max"):
        return {kind: {"field": params["field"]}}
    if kind == "median":
        return {"percentiles": {"field": params["field"], "percents": [50]}}
    if kind == "percentiles":
        # Dashboards' default percents when the saved object names none (data/common/search/aggs/metrics/percentiles.ts).
        return {"percentiles": {"field": params["field"], "percents": params.get("percents") or [1, 5, 25, 50, 75, 95, 99]}}
    if kind == "top_hits":
        return {"top_hits": {"size": 1, "_source": [params["field"]]}}
    if kind in ("terms", "significant_terms"):
        body = {"field": params["field"], "size": int(params.get("size", 10))}
        if params.get("missingBucket"):
            # "Show missing values": Dashboards' terms agg writes missing: '__missing__' (on string
            # fields; ours are keywords), so documents without the field make a bucket of their own
            # (OpenSearch-Dashboards src/plugins/data/common/search/aggs/buckets/terms.ts, orderAgg's write).
            body["missing"] = "__missing__"
        return {"terms": body}
    if kind == "date_histogram":
        return {"date_histogram": {"field": params["field"], "fixed_interval": "1h", "min_doc_count": 1}}
    if kind == "histogram":
        return {"histogram": {"field": params["field"], "interval": float(params.get("interval") or 1), "min_doc_count": 1}}
    raise Unsupported(f"aggregation type {kind!r}")


@dataclass
class Plan:
    index: str
    time_field: Optional[str]
    query: dict
    aggs: dict
    metric_ids: list[str]
    bucket_ids: list[str]
    columns: list[str]


def plan(panel: Panel, bundle: Bundle, time_from: str) -> Plan:
    """The OpenSearch request a visualization or saved search stands for."""
    owner = panel.saved_search or {"attributes": panel.attributes, "references": panel.references}
    source = _search_source(owner["attributes"])
    index_ref = _reference(owner["references"], source.get("indexRefName") or "kibanaSavedObjectMeta.searchSourceJSON.index")
    if index_ref is None or index_ref["type"] != "index-pattern":
        raise Unsupported(f"{panel.name}: no index pattern reference")
    pattern = bundle.get("index-pattern", index_ref["id"])["attributes"]
    must = _query_of(source)
    extra_must, must_not = _filters_of(source)
    must += extra_must
    if panel.saved_search is not None:  # the visualization's own query narrows its saved search
        own = _search_source(panel.attributes)
        must += _query_of(own)
        more_must, more_not = _filters_of(own)
        must += more_must
        must_not += more_not
    time_field = pattern.get("timeFieldName")
    if time_field:
        must.append({"range": {time_field: {"gte": time_from, "lte": "now"}}})
    query = {"bool": {"filter": must, "must_not": must_not}}

    aggs: dict = {}
    metric_ids: list[str] = []
    bucket_ids: list[str] = []
    columns: list[str] = []
    if panel.type == "visualization":
        vis = panel.attributes.get("visState") or {}
        enabled = [a for a in vis.get("aggs", []) if a.get("enabled", True)]
        if not enabled:
            raise Unsupported(f"{panel.name}: visualization type {vis.get('type')!r} without aggregations")
        metrics = [a for a in enabled if a["type"] in _METRIC_AGGS]
        buckets = [a for a in enabled if a["type"] in _BUCKET_AGGS]
        unknown = [a["type"] for a in enabled if a["type"] not in _METRIC_AGGS | _BUCKET_AGGS]
        if unknown:
            raise Unsupported(f"{panel.name}: aggregation types {unknown}")
        inner = {f"m{a['id']}": _agg_body(a) for a in metrics if a["type"] != "count"}
        metric_ids = [f"m{a['id']}" for a in metrics if a["type"] != "count"]
        level = inner
        for agg in reversed(buckets):
            body = _agg_body(agg)
            if level:
                body["aggs"] = level
            level = {f"b{agg['id']}": body}
        aggs = level
        bucket_ids = [f"b{a['id']}" for a in buckets]
    elif panel.type == "search":
        columns = [c for c in panel.attributes.get("columns", []) if c != "_source"]
        if not columns:
            raise Unsupported(f"{panel.name}: a saved search without columns")
    else:
        raise Unsupported(f"{panel.name}: panel type {panel.type!r}")
    return Plan(pattern["title"], time_field, query, aggs, metric_ids, bucket_ids, columns)


# --------------------------------------------------------------------------- evaluation


def source_value(doc: Any, path: str) -> Any:
    """A field's value in _source, whether stored nested ({"a": {"b": 1}}) or with dotted keys ({"a.b": 1})."""
    if not isinstance(doc, dict):
        return None
    if path in doc:
        return doc[path]
    parts = path.split(".")
    for i in range(len(parts) - 1, 0, -1):
        head = ".".join(parts[:i])
        if isinstance(doc.get(head), dict):
            found = source_value(doc[head], ".".join(parts[i:]))
            if found is not None:
                return found
    return None


def is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _walk_buckets(node: dict, bucket_ids: list[str], metric_ids: list[str], problems: list[str], trail: str = "") -> None:
    if not bucket_ids:
        for metric in metric_ids:
            value = node.get(metric, {})
            number = value.get("value")
            if number is None and "values" in value:
                # Percentiles: every requested percent must have a value.
                values = list(value["values"].values())
                number = None if not values or any(v is None for v in values) else min(values)
            if number is None and "hits" in value:
                number = value["hits"]["total"]["value"] or None
            if number in (None, 0) or (isinstance(number, float) and math.isnan(number)):
                problems.append(f"metric {metric}{trail} is {number!r}")
        return
    agg = node.get(bucket_ids[0], {})
    buckets = [b for b in agg.get("buckets", []) if b.get("doc_count", 0) > 0]
    if not buckets:
        problems.append(f"aggregation {bucket_ids[0]}{trail} has no bucket")
        return
    for bucket in buckets:
        _walk_buckets(bucket, bucket_ids[1:], metric_ids, problems, f"{trail}[{bucket.get('key_as_string', bucket.get('key'))}]")


def evaluate_opensearch(panel: Panel, bundle: Bundle, search: Callable[[str, dict], dict], time_from: str) -> list[str]:
    """Problems that keep this panel empty (an empty list: it shows data)."""
    p = plan(panel, bundle, time_from)
    body: dict = {"query": p.query, "track_total_hits": True}
    if p.aggs:
        body["aggs"] = p.aggs
    if p.columns:
        body["size"] = 500
        if p.time_field:
            body["sort"] = [{p.time_field: "desc"}]
    else:
        body["size"] = 0
    answer = search(p.index, body)
    total = answer["hits"]["total"]["value"]
    if total == 0:
        return [f"no document in {p.index} matches {json.dumps(p.query)}"]
    problems: list[str] = []
    if p.aggs or p.metric_ids:
        _walk_buckets(answer.get("aggregations", {}), p.bucket_ids, p.metric_ids, problems)
    rows = [h["_source"] for h in answer["hits"]["hits"]]
    for column in p.columns:
        if all(is_empty(source_value(row, column)) for row in rows):
            problems.append(f"column {column} is empty on all {len(rows)} rows")
    return problems


def promql_of(panel: Panel) -> Optional[str]:
    query = _search_source(panel.attributes).get("query") or {}
    if str(query.get("language", "")).upper() == "PROMQL":
        return query.get("query", "")
    return None


def evaluate_prometheus(panel: Panel, instant: Callable[[str], list[dict]]) -> list[str]:
    promql = promql_of(panel)
    if promql is None:
        raise Unsupported(f"{panel.name}: explore panel in language {(_search_source(panel.attributes).get('query') or {}).get('language')!r}")
    result = instant(promql)
    finite = [s for s in result if _finite(s)]
    return [] if finite else [f"{promql} returned {result!r}"]


def _finite(sample: dict) -> bool:
    try:
        value = float((sample.get("value") or [0, "nan"])[1])
    except (TypeError, ValueError):
        return False
    return not math.isnan(value) and not math.isinf(value)


def time_from(panel: Panel, bundle: Bundle) -> str:
    """The widest time range among the dashboards showing the panel (Dashboards' default: 15 minutes)."""
    ranges = []
    for (so_type, _), so in bundle.objects.items():
        if so_type == "dashboard" and so["attributes"]["title"] in panel.dashboards:
            attrs = so["attributes"]
            ranges.append(attrs.get("timeFrom", "now-15m") if attrs.get("timeRestore") else "now-15m")
    return ranges[0] if len(set(ranges)) == 1 else "now-15m"


# --------------------------------------------------------------------------- controls (issue 19)
#
# A controls panel (visState type input_control_vis) shows no data of its own: each of its list
# controls offers the values a terms aggregation finds in its field (OpenSearch-Dashboards
# src/plugins/input_control_vis/public/control/list_control_factory.ts: terms ordered by _count,
# over the dashboard's time range when useTimeFilter is on; no option at all disables the control),
# and a choice becomes a filter on the dashboard (filter_manager/phrase_filter_manager.ts: one
# value a phrase filter, several a phrases filter, data/common/opensearch_query/filters/
# phrase_filter.ts and phrases_filter.ts). Every panel of the dashboard then runs with that filter
# in its query; a panel in PromQL cannot take it (explore sends the query text as written).


@dataclass
class Control:
    id: str
    label: str
    field: str
    index: str  # the index pattern's title
    time_field: Optional[str]


def is_controls(panel: Panel) -> bool:
    return panel.type == "visualization" and (panel.attributes.get("visState") or {}).get("type") == "input_control_vis"


def controls_of(panel: Panel, bundle: Bundle) -> list[Control]:
    vis = panel.attributes.get("visState") or {}
    out = []
    for control in (vis.get("params") or {}).get("controls", []):
        if control.get("type") != "list":
            raise Unsupported(f"{panel.name}: control type {control.get('type')!r}")
        ref = _reference(panel.references, control.get("indexPatternRefName"))
        if ref is None or ref["type"] != "index-pattern":
            raise Unsupported(f"{panel.name}: control {control.get('label')!r} names no index pattern")
        pattern = bundle.get("index-pattern", ref["id"])["attributes"]
        out.append(Control(control["id"], control.get("label") or control["fieldName"], control["fieldName"], pattern["title"], pattern.get("timeFieldName")))
    if not out:
        raise Unsupported(f"{panel.name}: a controls panel without controls")
    return out


def control_options(panel: Panel, bundle: Bundle, search: Callable[[str, dict], dict], time_from: str) -> dict[str, list]:
    """Field -> the values each list control offers (what a user can pick)."""
    use_time = bool(((panel.attributes.get("visState") or {}).get("params") or {}).get("useTimeFilter"))
    options = {}
    for control in controls_of(panel, bundle):
        query: dict = {"match_all": {}}
        if use_time and control.time_field:
            query = {"range": {control.time_field: {"gte": time_from, "lte": "now"}}}
        body = {"size": 0, "query": query, "aggs": {"termsAgg": {"terms": {"field": control.field, "size": 1000, "order": {"_count": "desc"}}}}}
        answer = search(control.index, body)
        options[control.field] = [b["key"] for b in answer.get("aggregations", {}).get("termsAgg", {}).get("buckets", [])]
    return options


def selection_filter(field: str, values: list) -> dict:
    """The dashboard filter a list control adds for the values picked (none picked: no filter at all)."""
    if not values:
        raise ValueError("nothing picked adds no filter")
    if len(values) == 1:
        return {"meta": {"key": field}, "query": {"match_phrase": {field: values[0]}}}
    return {
        "meta": {"type": "phrases", "key": field, "params": list(values)},
        "query": {"bool": {"should": [{"match_phrase": {field: v}} for v in values], "minimum_should_match": 1}},
    }


def with_dashboard_filters(panel: Panel, filters: list[dict]) -> Panel:
    """The panel as the dashboard runs it while `filters` are on its filter bar."""
    if not filters or panel.type == "explore" or is_controls(panel):
        return panel
    attributes = json.loads(json.dumps(panel.attributes))
    source = _search_source(attributes)
    source["filter"] = list(source.get("filter") or []) + list(filters)
    attributes.setdefault("kibanaSavedObjectMeta", {})["searchSourceJSON"] = source
    return Panel(panel.id, panel.type, panel.title, list(panel.dashboards), attributes, panel.references, panel.saved_search)


def count_request(panel: Panel, bundle: Bundle, time_from: str, by: tuple[str, ...] = ()) -> tuple[str, dict]:
    """(index, body) counting the documents the panel reads, and per value of each field in `by`."""
    p = plan(panel, bundle, time_from)
    body: dict = {"query": p.query, "size": 0, "track_total_hits": True}
    if by:
        body["aggs"] = {field: {"terms": {"field": field, "size": 1000, "missing": "__missing__"}} for field in by}
    return p.index, body


def counts_of(answer: dict) -> tuple[int, dict[str, dict]]:
    """(total, field -> value -> count) from the answer to a count_request."""
    per = {
        field: {b["key"]: b["doc_count"] for b in agg.get("buckets", [])}
        for field, agg in (answer.get("aggregations") or {}).items()
    }
    return answer["hits"]["total"]["value"], per
