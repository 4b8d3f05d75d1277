"""OpenSearch side of the bootstrap (SPEC "Bootstrap" steps 1-5).

The documents live as JSON under opensearch_assets/; this module fills in
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

from components import names
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

ASSETS = Path(__file__).resolve().parents[2] / "opensearch_assets"

# Dynamic index settings an index must keep even when it predates its template.
_INDEX_SETTINGS_KEPT = ("default_pipeline", "final_pipeline", "number_of_replicas")


@lru_cache(maxsize=None)
def _load(folder: str, name: str) -> str:
    return (ASSETS / folder / f"{name}.json").read_text()


def load_asset(folder: str, name: str) -> dict:
    """A fresh copy of opensearch_assets/<folder>/<name>.json."""
    return json.loads(_load(folder, name))


def _index_settings_of(body: dict) -> dict:
    return body.setdefault("template", {}).setdefault("settings", {}).setdefault("index", {})


def component_template_body() -> dict:
    body = load_asset("component_templates", names.COMPONENT_TEMPLATE)
    # Every log index normalises the exporter's envelope last, whatever runs before.
    _index_settings_of(body)["final_pipeline"] = names.ENVELOPE_PIPELINE
    return body


def index_template_body(index: str) -> dict:
    body = load_asset("index_templates", names.LOG_INDEX_TEMPLATES[index])
    body["index_patterns"] = [index]
    body["composed_of"] = [names.COMPONENT_TEMPLATE]
    pipeline = names.INDEX_PIPELINES.get(index)
    if pipeline:
        _index_settings_of(body)["default_pipeline"] = pipeline
    return body


def traces_template_body() -> dict:
    body = load_asset("index_templates", names.TRACES_INDEX_TEMPLATE)
    body["index_patterns"] = [names.TRACES_INDEX]
    _index_settings_of(body)["default_pipeline"] = names.TRACES_PIPELINE
    return body


def pipeline_bodies() -> dict[str, dict]:
    """Ingest pipelines by name, the envelope one first."""
    wanted = [names.ENVELOPE_PIPELINE] + sorted(set(names.INDEX_PIPELINES.values())) + [names.TRACES_PIPELINE]
    bodies = {name: load_asset("ingest_pipelines", name) for name in wanted}
    scalars, objects = declared_attribute_shapes()
    for processor in bodies[names.ENVELOPE_PIPELINE]["processors"]:
        script = processor.get("script", {})
        if script.get("tag") == "shape-guard":
            script["params"] = {"scalars": {p: True for p in scalars}, "objects": {p: True for p in objects}}
    _fill_typed_fields(bodies[names.ENVELOPE_PIPELINE])
    return bodies


def declared_attribute_shapes() -> tuple[list[str], list[str]]:
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

    for index in names.LOG_INDICES:
        attributes = index_mappings(index).get("properties", {}).get("attributes", {})
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


def typed_attributes(index: str) -> dict[str, str]:
    """Attribute path (under `attributes.`) -> declared type, for the types the envelope converts to."""
    return {
        path[len("attributes."):]: kind
        for path, kind in sorted(declared_leaf_types(index_mappings(index)).items())
        if path.startswith("attributes.") and kind not in ("object", "nested", "flat_object")
    }


def _fill_typed_fields(envelope: dict) -> None:
    for processor in envelope["processors"]:
        script = processor.get("script", {})
        if script.get("tag") == TYPED_ATTRIBUTES_TAG:
            script["params"]["typed_fields"] = {index: typed_attributes(index) for index in names.LOG_INDICES}
            return
    raise ValueError(f"ingest pipeline {names.ENVELOPE_PIPELINE}: no script tagged {TYPED_ATTRIBUTES_TAG}")


def retention_policy_body(days: int) -> dict:
    """The ISM policy: indices leave the default (hot) state for delete after `days` days."""
    body = load_asset("ism_policies", names.ISM_POLICY)
    policy = body["policy"]
    hot = next(state for state in policy["states"] if state["name"] == policy["default_state"])
    for transition in hot["transitions"]:
        transition.setdefault("conditions", {})["min_index_age"] = f"{int(days)}d"
    for template in policy["ism_template"]:
        template["index_patterns"] = list(names.LOG_INDICES)
    return body


def datasource_body(prometheus_uri: str) -> dict:
    """The datasource, pointing OpenSearch at Prometheus (in the stack: over clawker-net)."""
    body = load_asset("datasources", names.DATASOURCE)
    body["name"] = names.DATASOURCE
    body.setdefault("properties", {})["prometheus.uri"] = prometheus_uri
    return body


def index_mappings(index: str) -> dict:
    """The mapping an index gets from its templates (component first, then its own)."""
    component = component_template_body()["template"].get("mappings", {})
    own = index_template_body(index)["template"].get("mappings", {})
    return merge_mappings(component, own)


def index_settings(index: str) -> dict:
    if index == names.TRACES_INDEX:
        own = copy.deepcopy(traces_template_body()["template"].get("settings", {})).get("index", {})
        merged = canonical_settings(own)["index"]
    else:
        merged = canonical_settings(
            {
                **copy.deepcopy(component_template_body()["template"].get("settings", {})).get("index", {}),
                **copy.deepcopy(index_template_body(index)["template"].get("settings", {})).get("index", {}),
            }
        )["index"]
    return {f"index.{key}": merged[key] for key in _INDEX_SETTINGS_KEPT if key in merged}


def traces_index_mappings() -> dict:
    return merge_mappings(traces_template_body()["template"].get("mappings", {}))


def key_fingerprint(master_key: pulumi.Input[str]) -> pulumi.Output[str]:
    """A digest of the datasource master key: changes with it, reveals nothing, stays secret."""
    digest = pulumi.Output.from_input(master_key).apply(lambda key: hashlib.sha256(key.encode()).hexdigest()[:16])
    return pulumi.Output.secret(digest)


def declare_opensearch_assets(
    settings: Settings,
    *,
    master_key: pulumi.Input[str],
    parent: pulumi.Resource,
    opensearch: Sequence[pulumi.Resource],
    prometheus: Sequence[pulumi.Resource],
) -> list[pulumi.Resource]:
    """Declare every OpenSearch asset; returns them all (the collector depends on the list)."""
    endpoint = settings.opensearch_api_url

    def asset(kind, prefix: str, name: str, *after: Sequence[pulumi.Resource], **inputs) -> pulumi.Resource:
        """One asset, named opensearch-<prefix>-<name>, created once OpenSearch and `after` are."""
        deps = list(opensearch) + [d for group in after for d in group]
        opts = pulumi.ResourceOptions(parent=parent, depends_on=deps)
        return kind(f"opensearch-{prefix}-{name}", endpoint=endpoint, name=name, opts=opts, **inputs)

    # Declaration order is scheduling order where the engine runs fewer operations at once
    # than are ready (its default: 4 per CPU; the provider process serves 16, pool.py).
    # The slow ones go first: the datasource (the SQL plugin's first answers take
    # seconds), then the component template (-> index templates -> indices) and the
    # pipelines (-> indices).
    datasources = []
    if settings.prometheus_datasource:
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
    pipelines = [asset(IngestPipeline, "pipeline", name, body=body) for name, body in pipeline_bodies().items()]
    # Retention 0 keeps logs forever: no policy, and no index waits for one. The policy
    # refers to index patterns, not to templates: applied side by side.
    policies = []
    if settings.log_retention_days > 0:
        policies.append(
            asset(IsmPolicy, "ism-policy", names.ISM_POLICY, body=retention_policy_body(settings.log_retention_days))
        )
    # The log templates compose the common one; the traces template stands alone.
    template_specs = [(template, index_template_body(index), [common]) for index, template in names.LOG_INDEX_TEMPLATES.items()]
    template_specs.append((names.TRACES_INDEX_TEMPLATE, traces_template_body(), []))
    templates = [asset(IndexTemplate, "index-template", name, deps, body=body) for name, body, deps in template_specs]
    # No index exists before the pipelines its templates name. The traces index is declared
    # too (the exporter would create it on the first span): Dashboards' traces index pattern
    # then matches from the start, and a traces index kept from an earlier release gets the
    # fields its template has gained since (durationInNanos, span_attributes) before any
    # span is written with them. No retention policy on it: as before.
    policy_id = names.ISM_POLICY if policies else None
    index_specs = [(index, index_mappings(index), policy_id, policies) for index in names.LOG_INDICES]
    index_specs.append((names.TRACES_INDEX, traces_index_mappings(), None, []))
    indices = [
        asset(
            Index, "index", name, templates, waits_for, pipelines,
            mappings=mappings, settings=index_settings(name), policy_id=policy,
        )
        for name, mappings, policy, waits_for in index_specs
    ]
    return pipelines + [common] + templates + policies + indices + datasources
