"""OpenSearch side of the bootstrap (SPEC "Bootstrap" steps 1-5).

The documents live as JSON under opensearch_assets/ (the core's) and in each unit's
folder (opensearch_assets/units/<unit>/, components/units.py); this module fills in
what comes from names.py and the stack settings (index patterns, pipeline and
template names, the retention age, the Prometheus URI) and declares one
resource per asset, chained as far as OpenSearch needs it:

    component template -> index templates (six log + traces)
    ISM policy, side by side with them (it names index patterns, not templates)
    ingest pipelines, side by side too (OpenSearch resolves a template's
    pipeline names only when a document is indexed)
    -> the six log indices (+ the traces index), after templates, policy AND pipelines
    Prometheus datasource: needs only a healthy OpenSearch and a ready
    Prometheus, so it is registered at once; the Dashboards side of the
    bootstrap does not wait for it (components/bootstrap/dashboards.py)

Everything depends on OpenSearch being healthy (opensearch.ready), the
datasource also on Prometheus. Only what OpenSearch itself needs is a
dependency: each extra link was one more step on the critical path of a cold
`pulumi up` and of every no-op preview (the engine answers a registration only
after the ones it depends on).
"""

from __future__ import annotations

import copy
import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import pulumi

from components import names, telemetry, units
from components.providers.opensearch import (
    ComponentTemplate,
    Datasource,
    Index,
    IndexTemplate,
    IngestPipeline,
    IsmPolicy,
    canonical_settings,
    merge_mappings,
)
from components.settings import Settings

ASSETS = units.ASSETS

# Dynamic index settings an index must keep even when it predates its template.
_INDEX_SETTINGS_KEPT = ("default_pipeline", "final_pipeline", "number_of_replicas")


Table = telemetry.StreamTable
DEFAULT = telemetry.DEFAULT


@lru_cache(maxsize=None)
def _load(path: Path) -> str:
    return path.read_text()


def load_asset(folder: str, name: str, table: Table = DEFAULT) -> dict:
    """A fresh copy of opensearch_assets/<folder>/<name>.json, or of a selected unit's file of that name."""
    return json.loads(_load(table.asset_file(folder, name)))


def _index_settings_of(body: dict) -> dict:
    return body.setdefault("template", {}).setdefault("settings", {}).setdefault("index", {})


def component_template_body() -> dict:
    # No pipelines here: the doors name their route pipeline (index_template_body), and
    # the daily indices run none (nothing runs after a record is moved into its day).
    return load_asset("component_templates", names.COMPONENT_TEMPLATE)


def _door(body: dict, index: str) -> dict:
    """The write name's template: its default pipeline runs the chain and picks the day."""
    body["index_patterns"] = [index]
    _index_settings_of(body)["default_pipeline"] = names.route_pipeline(index)
    return body


def _daily(body: dict, index: str) -> dict:
    """The same mappings for <index>-<day>, with no pipeline (see names.py "Daily indices")."""
    body["index_patterns"] = [names.day_pattern(index)]
    _index_settings_of(body).pop("default_pipeline", None)
    return body


def _log_template(index: str, table: Table) -> dict:
    # Every log index's template is named after the index (names.LOG_INDEX_TEMPLATES).
    body = load_asset("index_templates", index, table)
    body["composed_of"] = [names.COMPONENT_TEMPLATE]
    return body


def index_template_body(index: str, table: Table = DEFAULT) -> dict:
    return _door(_log_template(index, table), index)


def daily_template_body(index: str, table: Table = DEFAULT) -> dict:
    return _daily(_log_template(index, table), index)


def traces_template_body() -> dict:
    return _door(load_asset("index_templates", names.TRACES_INDEX_TEMPLATE), names.TRACES_INDEX)


def traces_daily_template_body() -> dict:
    return _daily(load_asset("index_templates", names.TRACES_INDEX_TEMPLATE), names.TRACES_INDEX)


def daily_template_name(index: str) -> str:
    template = names.TRACES_INDEX_TEMPLATE if index == names.TRACES_INDEX else index
    return f"{template}{names.DAILY_TEMPLATE_SUFFIX}"


def template_bodies(index: str, table: Table = DEFAULT) -> dict[str, dict]:
    """The two index templates of a stream: its write name's and its daily indices'."""
    if index == names.TRACES_INDEX:
        return {names.TRACES_INDEX_TEMPLATE: traces_template_body(), daily_template_name(index): traces_daily_template_body()}
    return {index: index_template_body(index, table), daily_template_name(index): daily_template_body(index, table)}


def route_pipeline_body(index: str, table: Table = DEFAULT) -> dict:
    """The door's pipeline: the source's own reshaping, the envelope (logs), then the day."""
    if index == names.TRACES_INDEX:
        chain = [names.TRACES_PIPELINE]
    else:
        chain = [p for p in (table.index_pipelines.get(index), names.ENVELOPE_PIPELINE) if p]
    chain.append(names.DAY_ROUTE_PIPELINE)
    return {
        "description": (
            f"default_pipeline of {index} (the collector's write name): runs {', '.join(chain[:-1])}, "
            f"then {names.DAY_ROUTE_PIPELINE} stores the record in {index}-<UTC day of its @timestamp>. "
            "After that move OpenSearch runs no pipeline of the daily index, so every step is here."
        ),
        "processors": [{"pipeline": {"name": name, "tag": f"route-{name}"}} for name in chain],
    }


def pipeline_bodies(table: Table = DEFAULT) -> dict[str, dict]:
    """Ingest pipelines by name, the envelope one first, the route pipelines last."""
    wanted = [names.ENVELOPE_PIPELINE] + sorted(set(table.index_pipelines.values())) + [
        names.TRACES_PIPELINE, names.DAY_ROUTE_PIPELINE, names.DAY_MOVE_PIPELINE,
    ]
    bodies = {name: load_asset("ingest_pipelines", name, table) for name in wanted}
    for index in table.log_indices + (names.TRACES_INDEX,):
        bodies[names.route_pipeline(index)] = route_pipeline_body(index, table)
    for processor in bodies[names.DAY_MOVE_PIPELINE]["processors"]:
        if "gsub" in processor:
            processor["gsub"]["pattern"] = f"{names.MOVING_SUFFIX}$"
    scalars, objects = declared_attribute_shapes(table)
    for processor in bodies[names.ENVELOPE_PIPELINE]["processors"]:
        script = processor.get("script", {})
        if script.get("tag") == "shape-guard":
            script["params"] = {"scalars": {p: True for p in scalars}, "objects": {p: True for p in objects}}
    _fill_typed_fields(bodies[names.ENVELOPE_PIPELINE], table)
    return bodies


def declared_attribute_shapes(table: Table = DEFAULT) -> tuple[list[str], list[str]]:
    """Record-attribute paths the log templates map as scalars, and as objects (any log index).

    The envelope pipeline's shape guard uses them to keep a record of the wrong
    shape from being refused by OpenSearch (README "Durable delivery").
    """
    scalars: set[str] = set()
    objects: set[str] = set()

    def walk(properties: dict, prefix: str) -> None:
        for name, spec in properties.items():
            path = f"{prefix}{name}"
            if "properties" in spec and spec.get("type") in (None, "object"):
                objects.add(path)
                walk(spec["properties"], f"{path}.")
            elif spec.get("type") not in ("object", "nested", "flat_object"):
                scalars.add(path)

    for index in table.log_indices:
        attributes = index_mappings(index, table).get("properties", {}).get("attributes", {})
        walk(attributes.get("properties", {}), "attributes.")
    return sorted(scalars), sorted(objects - scalars)


# The envelope pipeline's step that gives attributes the JSON type their mapping declares.
TYPED_ATTRIBUTES_TAG = "envelope-typed-attributes"


def declared_leaf_types(mappings: dict, prefix: str = "") -> dict[str, str]:
    """Field path -> mapping type for every leaf a mapping declares."""
    out: dict[str, str] = {}
    for name, spec in (mappings.get("properties") or {}).items():
        path = f"{prefix}{name}"
        if isinstance(spec.get("properties"), dict) and spec.get("type", "object") in ("object", "nested"):
            out.update(declared_leaf_types(spec, path + "."))
        else:
            out[path] = spec.get("type", "object")
    return out


def typed_attributes(index: str, table: Table = DEFAULT) -> dict[str, str]:
    """Attribute path (under `attributes.`) -> declared type, for the types the envelope converts to."""
    return {
        path[len("attributes."):]: kind
        for path, kind in sorted(declared_leaf_types(index_mappings(index, table)).items())
        if path.startswith("attributes.") and kind not in ("object", "nested", "flat_object")
    }


def _fill_typed_fields(envelope: dict, table: Table) -> None:
    for processor in envelope["processors"]:
        script = processor.get("script", {})
        if script.get("tag") == TYPED_ATTRIBUTES_TAG:
            script["params"]["typed_fields"] = {index: typed_attributes(index, table) for index in table.log_indices}
            return
    raise ValueError(f"ingest pipeline {names.ENVELOPE_PIPELINE}: no script tagged {TYPED_ATTRIBUTES_TAG}")


def retention_policy_body(days: int, indices: Sequence[str] = DEFAULT.retained_indices, what: str = "log records") -> dict:
    """An ISM policy deleting each daily index of `indices` once it is `days` + 1 days old.

    A day's index is created by its first record (or by the bootstrap, for today), never
    before its day begins, and holds records up to one day newer than that: deleting it
    at days + 1 keeps every record for at least `days` days (README "Retention").
    """
    body = load_asset("ism_policies", names.ISM_POLICY)
    policy = body["policy"]
    policy["description"] = (
        f"Retention of the Clawker {what}: each daily index <index>-<yyyy-MM-dd> is deleted once it is one day "
        "older than the stack's retention setting, so every record is kept that long and gone at most one day later."
    )
    hot = next(state for state in policy["states"] if state["name"] == policy["default_state"])
    for transition in hot["transitions"]:
        transition.setdefault("conditions", {})["min_index_age"] = f"{int(days) + 1}d"
    for template in policy["ism_template"]:
        template["index_patterns"] = [names.day_pattern(index) for index in indices]
    return body


def trace_retention_policy_body(days: int) -> dict:
    return retention_policy_body(days, (names.TRACES_INDEX,), "spans")


def datasource_body(prometheus_uri: str) -> dict:
    """The datasource, pointing OpenSearch at Prometheus (in the stack: over clawker-net)."""
    body = load_asset("datasources", names.DATASOURCE)
    body["name"] = names.DATASOURCE
    body.setdefault("properties", {})["prometheus.uri"] = prometheus_uri
    return body


def declare_team_datasource(settings: Settings, cluster, prometheus: Sequence[pulumi.Resource], prometheus_url: str) -> pulumi.Resource:
    """The team role's Prometheus datasource: the cluster's SQL plugin queries the team Prometheus
    at `prometheus_url` (its published HTTPS address: the cluster must reach it and trust its CA)
    with the admin's basic auth; the stack waits for it there with the same credential and CA."""
    body = datasource_body(prometheus_url)
    body["properties"].update({
        "prometheus.auth.type": "basicauth",
        "prometheus.auth.username": settings.cluster_admin_user,
        "prometheus.auth.password": settings.cluster_admin_password,
    })
    ca = settings.prometheus_ca_cert or settings.cluster_ca_cert
    login = {"username": settings.cluster_admin_user, "password": settings.cluster_admin_password, **({"ca_pem": ca} if ca else {})}
    return Datasource(
        f"opensearch-datasource-{names.DATASOURCE}",
        endpoint=cluster.endpoint,
        name=names.DATASOURCE,
        body=body,
        prometheus_url=prometheus_url,
        key_fingerprint=key_fingerprint(""),
        connection=cluster.connection,
        prometheus_connection=login,
        opts=pulumi.ResourceOptions(depends_on=list(prometheus)),
    )


def index_mappings(index: str, table: Table = DEFAULT) -> dict:
    """The mapping an index (door or day) gets from its templates (component first, then its own)."""
    return json.loads(_index_mappings_text(index, table))


# Each program run asks for every log index's mapping three times (the envelope's shape
# guard, its typed attributes, the Index resources): merged once, handed out as fresh copies.
@lru_cache(maxsize=None)
def _index_mappings_text(index: str, table: Table) -> str:
    component = component_template_body()["template"].get("mappings", {})
    own = index_template_body(index, table)["template"].get("mappings", {})
    return json.dumps(merge_mappings(component, own))


def index_settings(index: str, table: Table = DEFAULT) -> dict:
    """The door's settings it must keep even when it predates its template (its route pipeline)."""
    if index == names.TRACES_INDEX:
        own = copy.deepcopy(traces_template_body()["template"].get("settings", {})).get("index", {})
        merged = canonical_settings(own)["index"]
    else:
        merged = canonical_settings(
            {
                **copy.deepcopy(component_template_body()["template"].get("settings", {})).get("index", {}),
                **copy.deepcopy(index_template_body(index, table)["template"].get("settings", {})).get("index", {}),
            }
        )["index"]
    return {f"index.{key}": merged[key] for key in _INDEX_SETTINGS_KEPT if key in merged}


def traces_index_mappings() -> dict:
    return merge_mappings(traces_template_body()["template"].get("mappings", {}))


def key_fingerprint(master_key: pulumi.Input[str]) -> pulumi.Output[str]:
    """A digest of the datasource master key: changes with it, reveals nothing, stays secret."""
    digest = pulumi.Output.from_input(master_key).apply(lambda key: hashlib.sha256(key.encode()).hexdigest()[:16])
    return pulumi.Output.secret(digest)


# A team's cluster has several nodes (README "Running for a team"): every copy of the stack's
# indices gets one replica there, so one node lost loses no shard. The local node has no other
# node to hold a replica (0 keeps it green).
TEAM_REPLICAS = 1


def with_replicas(body: dict, replicas: int) -> dict:
    """A template body whose index settings name a replica count, with `replicas` instead."""
    index = body.get("template", {}).get("settings", {}).get("index", {})
    if "number_of_replicas" in index:
        index["number_of_replicas"] = replicas
    return body


def declare_opensearch_assets(
    settings: Settings,
    *,
    master_key: pulumi.Input[str],
    parent: pulumi.Resource,
    opensearch: Sequence[pulumi.Resource],
    prometheus: Sequence[pulumi.Resource],
    cluster=None,
) -> list[pulumi.Resource]:
    """Declare every OpenSearch asset; returns them all (the collector depends on the list).

    `cluster` (components.bootstrap.Cluster, the team role): an existing secured cluster instead
    of this stack's node.
    """
    endpoint = cluster.endpoint if cluster else settings.opensearch_api_url
    secured = {"connection": cluster.connection} if cluster and cluster.connection is not None else {}
    # The selected units' log indices beside the core's: adding a unit adds its templates,
    # pipeline and index; removing one deletes its templates and pipeline but not its
    # index (Index.delete keeps the data, as `pulumi destroy` does).
    table = settings.stream_table

    def asset(kind, prefix: str, name: str, *after: Sequence[pulumi.Resource], **inputs) -> pulumi.Resource:
        """One asset, named opensearch-<prefix>-<name>, created once OpenSearch and `after` are."""
        if cluster is not None:
            if "body" in inputs:
                inputs["body"] = with_replicas(inputs["body"], TEAM_REPLICAS)
            if "index.number_of_replicas" in inputs.get("settings", {}):
                inputs["settings"] = {**inputs["settings"], "index.number_of_replicas": TEAM_REPLICAS}
        deps = list(opensearch) + [d for group in after for d in group]
        opts = pulumi.ResourceOptions(parent=parent, depends_on=deps)
        return kind(f"opensearch-{prefix}-{name}", endpoint=endpoint, name=name, opts=opts, **secured, **inputs)

    # Declaration order is scheduling order where the engine runs fewer operations at once
    # than are ready (its default: 4 per CPU; the provider process serves 16, pool.py).
    # The slow ones go first: the datasource (the SQL plugin's first answers take
    # seconds), then the component template (-> index templates -> indices) and the
    # pipelines (-> indices).
    datasources = []
    if settings.prometheus_datasource and (cluster is None or cluster.datasource):
        datasources.append(
            # Registering it reads nothing the other assets write (OpenSearch checks only
            # the Prometheus URI): it need not wait for the indices.
            asset(
                Datasource, "datasource", names.DATASOURCE, prometheus,
                body=datasource_body(settings.prometheus_internal_url),
                prometheus_url=settings.prometheus_api_url,
                key_fingerprint=key_fingerprint(master_key),
            )
        )
    # OpenSearch does not look a template's pipelines up until a document is indexed
    # (tried on 3.6.0), so templates and pipelines are applied side by side.
    common = asset(ComponentTemplate, "component-template", names.COMPONENT_TEMPLATE, body=component_template_body())
    pipelines = [asset(IngestPipeline, "pipeline", name, body=body) for name, body in pipeline_bodies(table).items()]
    # Retention 0 keeps logs (traces) forever: no policy, and no index waits for one. A
    # policy refers to index patterns (the daily indices), not to templates: applied side by side.
    log_policy = trace_policy = None
    if settings.log_retention_days > 0:
        log_policy = asset(IsmPolicy, "ism-policy", names.ISM_POLICY, body=retention_policy_body(settings.log_retention_days, table.retained_indices))
    if settings.trace_retention_days > 0:
        trace_policy = asset(
            IsmPolicy, "ism-policy", names.TRACES_ISM_POLICY, body=trace_retention_policy_body(settings.trace_retention_days)
        )
    policies = [p for p in (log_policy, trace_policy) if p is not None]
    # The log templates compose the common one; the traces templates stand alone. Each
    # stream has two: its write name (the door) and its daily indices.
    template_specs = [
        (name, body, [] if index == names.TRACES_INDEX else [common])
        for index in table.log_indices + (names.TRACES_INDEX,)
        for name, body in template_bodies(index, table).items()
    ]
    templates = [asset(IndexTemplate, "index-template", name, deps, body=body) for name, body, deps in template_specs]
    # No door exists before the pipelines its templates name. The traces door is declared
    # too (the exporter would otherwise create it on the first span): Dashboards' traces
    # index pattern then matches from the start. Each Index resource also makes today's
    # daily index, checks that its template matched, and that its policy attached.
    log_policy_id = names.ISM_POLICY if log_policy else None
    trace_policy_id = names.TRACES_ISM_POLICY if trace_policy else None
    # A unit lane with retention "custom" is not in the stack's policy: nothing attaches to it.
    index_specs = [
        (index, index_mappings(index, table), *((log_policy_id, log_policy) if index in table.retained_indices else (None, None)))
        for index in table.log_indices
    ]
    index_specs.append((names.TRACES_INDEX, traces_index_mappings(), trace_policy_id, trace_policy))
    indices = [
        asset(
            Index, "index", name, templates, [policy] if policy else [], pipelines,
            mappings=mappings, settings=index_settings(name, table), policy_id=policy_id,
            former_names=table.former_indices(name),
        )
        for name, mappings, policy_id, policy in index_specs
    ]
    return pipelines + [common] + templates + policies + indices + datasources
