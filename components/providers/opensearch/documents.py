"""OpenSearch documents as OpenSearch stores them: the normalisers and shape checks.

Gathered in one place (as terraform-provider-opensearch's util.go does) so that
every kind compares a declared document with the live one the same way:
settings spelled the way OpenSearch answers them, dotted mapping names
expanded, empty sections dropped.
"""

from __future__ import annotations

from typing import Any

from components.providers.kit import plain

# Field types a mapping may use (core plus the plugins the stack runs).
FIELD_TYPES = frozenset(
    """alias binary boolean byte completion constant_keyword date date_nanos date_range derived
    double double_range flat_object float float_range geo_point geo_shape half_float integer
    integer_range ip ip_range join keyword knn_vector long long_range match_only_text nested
    object percolator rank_feature rank_features scaled_float search_as_you_type semantic short
    star_tree text token_count unsigned_long version wildcard""".split()
)



def _setting_text(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return [_setting_text(v) for v in value]
    return value if value is None or isinstance(value, str) else str(value)


def canonical_settings(settings: dict) -> dict:
    """Index settings as OpenSearch answers them: nested under `index`, values as strings."""
    flat: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                walk(f"{prefix}.{key}" if prefix else key, sub)
        else:
            flat[prefix] = _setting_text(value)

    walk("", plain(settings))
    out: dict = {}
    for key, value in flat.items():
        parts = key.split(".")
        if parts[0] != "index":
            parts.insert(0, "index")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


def canonical_properties(props: dict) -> dict:
    """Mapping properties with dotted names expanded the way OpenSearch stores them."""
    out: dict = {}
    for name, field in props.items():
        field = dict(field) if isinstance(field, dict) else field
        if isinstance(field, dict) and isinstance(field.get("properties"), dict):
            field["properties"] = canonical_properties(field["properties"])
        parts = name.split(".")
        node = out
        for part in parts[:-1]:
            holder = node.setdefault(part, {})
            node = holder.setdefault("properties", {})
        leaf = parts[-1]
        if isinstance(node.get(leaf), dict) and isinstance(field, dict) and "properties" in field:
            node[leaf].setdefault("properties", {}).update(field["properties"])
        else:
            node[leaf] = field
    return out


def canonical_mappings(mappings: dict) -> dict:
    out = plain(mappings)  # a deep copy
    # A mapping may still arrive wrapped in the legacy type name.
    if set(out) == {"_doc"} and isinstance(out["_doc"], dict):
        out = out["_doc"]
    if isinstance(out.get("properties"), dict):
        out["properties"] = canonical_properties(out["properties"])
    return out


def canonical_template(body: dict) -> dict:
    """A component or index template as OpenSearch stores it; empty sections dropped."""
    out = plain(body)  # a deep copy
    template = out.get("template")
    if isinstance(template, dict):
        if isinstance(template.get("settings"), dict):
            template["settings"] = canonical_settings(template["settings"])
        if isinstance(template.get("mappings"), dict):
            template["mappings"] = canonical_mappings(template["mappings"])
        for key in ("settings", "mappings", "aliases"):
            if template.get(key) in ({}, None):
                template.pop(key, None)
        if not template:
            out.pop("template")
    for key in ("composed_of", "_meta"):
        if out.get(key) in ([], {}, None):
            out.pop(key, None)
    return out


def merge_mappings(*mappings: dict) -> dict:
    """What an index built from these (component first, index template last) ends up with.

    Built from canonical_mappings' fresh copies, so it shares nothing with the arguments."""
    merged: dict = {}
    for mapping in mappings:
        mapping = canonical_mappings(mapping)
        for key, value in mapping.items():
            if key == "properties":
                _merge_properties(merged.setdefault("properties", {}), value)
            elif key == "dynamic_templates":
                merged[key] = list(merged.get(key, [])) + [t for t in value if t not in merged.get(key, [])]
            else:
                merged[key] = value
    return merged


def _merge_properties(out: dict, extra: dict) -> None:
    """Lay `extra`'s fields over `out` (in place), objects merged field by field."""
    for name, field in extra.items():
        if isinstance(out.get(name), dict) and "properties" in out[name] and "properties" in field:
            _merge_properties(out[name]["properties"], field["properties"])
        else:
            out[name] = field


def mapping_problems(mappings: Any, where: str = "mappings") -> list[str]:
    """Shape errors in a mapping that OpenSearch would reject (or silently misread)."""
    if not isinstance(mappings, dict):
        return [f"{where} must be an object"]
    problems = []
    if "properties" in mappings:
        problems += _property_problems(mappings["properties"], f"{where}.properties")
    dyn = mappings.get("dynamic_templates", [])
    if not isinstance(dyn, list) or not all(isinstance(t, dict) and len(t) == 1 for t in dyn):
        problems.append(f"{where}.dynamic_templates must be a list of single-key objects")
    return problems


def _property_problems(props: Any, where: str) -> list[str]:
    if not isinstance(props, dict):
        return [f"{where} must be an object"]
    problems = []
    for name, field in props.items():
        path = f"{where}.{name}"
        if not name or name.startswith(".") or name.endswith(".") or ".." in name:
            problems.append(f"{path}: invalid field name")
        if not isinstance(field, dict):
            problems.append(f"{path} must be an object")
            continue
        ftype = field.get("type", "object" if "properties" in field else None)
        if ftype is None:
            problems.append(f"{path} needs a type or properties")
        elif ftype not in FIELD_TYPES:
            problems.append(f"{path}: unknown field type {ftype!r}")
        if "properties" in field:
            if ftype not in ("object", "nested"):
                problems.append(f"{path}: only object or nested fields take properties, not {ftype!r}")
            problems += _property_problems(field["properties"], f"{path}.properties")
        if "fields" in field:
            problems += _property_problems(field["fields"], f"{path}.fields")
    return problems



def retyped_fields(live: dict, declared: dict) -> list[str]:
    """Fields `live` already maps with another type than `declared` gives them (dotted paths).

    OpenSearch refuses to change an existing field's type in place (a mapping update
    naming one fails whole), so an index made before a template typed a field it had
    mapped dynamically keeps that field as it is.
    """
    out: list[str] = []

    def walk(have: dict, want: dict, prefix: str) -> None:
        for name, spec in want.items():
            old = have.get(name)
            if not isinstance(old, dict) or not isinstance(spec, dict):
                continue
            kind, old_kind = spec.get("type", "object"), old.get("type", "object")
            if kind == old_kind == "object" or (kind == old_kind and "properties" in spec):
                walk(old.get("properties") or {}, spec.get("properties") or {}, f"{prefix}{name}.")
            elif kind != old_kind:
                out.append(f"{prefix}{name}")

    walk(canonical_mappings(live).get("properties") or {}, canonical_mappings(declared).get("properties") or {}, "")
    return out


def without_fields(mappings: dict, paths: list[str]) -> dict:
    """`mappings` minus the fields at `paths` (dotted, as retyped_fields names them)."""
    out = canonical_mappings(mappings)
    for path in paths:
        *parents, leaf = path.split(".")
        node = out
        for part in parents:
            node = (node.get("properties") or {}).get(part) or {}
        (node.get("properties") or {}).pop(leaf, None)
    return out
