"""Saved objects as documents: the JSON-text attributes, normalising, the import file, the asset loader.

Dashboards stores several attributes as JSON text (`visState`, `panelsJSON`,
`searchSourceJSON`, ...); they are encoded on the way out and decoded on the
way back, so `pulumi preview --diff` shows which field of a panel moved, and
live documents are compared after dropping what Dashboards adds on its own.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

from components.providers.diffing import project_onto
from components.providers.kit import plain
from components.providers.dashboards.base import DashboardsError

ASSETS_DIR = Path(__file__).resolve().parents[3] / "opensearch_assets" / "dashboards"

# Keys Dashboards adds to a stored saved object; never part of what we declare.
SERVER_ADDED_KEYS = (
    "version",
    "updated_at",
    "migrationVersion",
    "coreMigrationVersion",
    "typeMigrationVersion",
    "namespaces",
    "namespace",
    "workspaces",
    "permissions",
    "originId",
    "managed",
)

# Attributes Dashboards keeps as JSON text, per saved-object type (dotted paths).
JSON_TEXT_ATTRIBUTES = {
    "data-connection": ("meta",),
    "index-pattern": ("fieldFormatMap", "fields", "sourceFilters", "typeMeta"),
    "visualization": ("visState", "uiStateJSON", "kibanaSavedObjectMeta.searchSourceJSON"),
    "search": ("kibanaSavedObjectMeta.searchSourceJSON",),
    "dashboard": ("panelsJSON", "optionsJSON", "kibanaSavedObjectMeta.searchSourceJSON"),
    "explore": ("visualization", "uiState", "kibanaSavedObjectMeta.searchSourceJSON"),
}

# Types the bundle may import. Explore objects go through ExploreObject instead.
IMPORTABLE_TYPES = ("index-pattern", "visualization", "search", "dashboard")


def _get_path(doc: dict, dotted: str) -> tuple[Optional[dict], str]:
    parts = dotted.split(".")
    node: Any = doc
    for part in parts[:-1]:
        if not isinstance(node, dict) or part not in node:
            return None, parts[-1]
        node = node[part]
    return (node if isinstance(node, dict) else None), parts[-1]


def encode_attributes(so_type: str, attributes: dict) -> dict:
    """Attributes as Dashboards stores them: declared JSON-text fields serialised."""
    out = plain(attributes)
    for dotted in JSON_TEXT_ATTRIBUTES.get(so_type, ()):
        parent, key = _get_path(out, dotted)
        if parent is not None and key in parent and not isinstance(parent[key], str):
            parent[key] = json.dumps(parent[key], separators=(",", ":"), ensure_ascii=False)
    return out


def decode_attributes(so_type: str, attributes: dict) -> dict:
    """Attributes with JSON-text fields parsed back into structures (invalid JSON stays text)."""
    out = plain(attributes)
    for dotted in JSON_TEXT_ATTRIBUTES.get(so_type, ()):
        parent, key = _get_path(out, dotted)
        if parent is not None and isinstance(parent.get(key), str):
            try:
                parent[key] = json.loads(parent[key])
            except ValueError:
                pass
    return out


def normalise_object(so: dict, desired: Optional[dict] = None) -> dict:
    """A saved object reduced to what we declare: type, id, attributes, references.

    Dashboards' bookkeeping (version, updated_at, migrationVersion, workspaces, ...)
    is dropped; JSON-text attributes are decoded; when ``desired`` is given, live
    attributes are projected onto the declared ones, so defaults Dashboards fills in
    (an index pattern's cached ``fields``, say) never show up as a change.
    """
    so_type = so.get("type", "")
    attributes = decode_attributes(so_type, so.get("attributes") or {})
    if desired is not None:
        attributes = project_onto(attributes, decode_attributes(so_type, desired.get("attributes") or {}))
    return {
        "type": so_type,
        "id": so.get("id", ""),
        "attributes": attributes,
        "references": [
            {"name": r.get("name", ""), "type": r.get("type", ""), "id": r.get("id", "")}
            for r in (so.get("references") or [])
        ],
    }


def declared_object(so: dict) -> dict:
    """A bundle object as the resource declares it (since issue 21's text documents, one JSON
    text per object in the engine's hands: text_documents.py): normalised, attributes decoded,
    so `pulumi preview --diff` shows a changed field inside visState or panelsJSON as a field."""
    doc = normalise_object(so)
    if so.get("migrationVersion"):
        doc["migrationVersion"] = plain(so["migrationVersion"])
    return doc


def stored_object(so: dict) -> dict:
    """A bundle object as releases from c35faae to issue 21's text documents carried it (their
    states hold it, and the providers must keep reading them): declared_object with the
    JSON-text attributes (visState, panelsJSON, ...) as text, as Dashboards stores them."""
    doc = declared_object(so)
    doc["attributes"] = encode_attributes(doc["type"], doc["attributes"])
    return doc


def object_key(so: dict) -> str:
    return f"{so['type']}/{so['id']}"


def ndjson_bundle(objects: Iterable[dict]) -> bytes:
    """The import file: one saved object per line, JSON-text attributes encoded."""
    lines = []
    for so in objects:
        line = {
            "type": so["type"],
            "id": so["id"],
            "attributes": encode_attributes(so["type"], so["attributes"]),
            "references": plain(so.get("references") or []),
        }
        if so.get("migrationVersion"):
            line["migrationVersion"] = plain(so["migrationVersion"])
        lines.append(json.dumps(line, separators=(",", ":"), ensure_ascii=False))
    return ("\n".join(lines) + "\n").encode("utf-8")


def load_saved_objects(directories: Optional[Sequence[Path]] = None) -> list[dict]:
    """Every saved object declared in the data files (``*.json`` holding {"objects": [...]}).

    By default the core's (opensearch_assets/dashboards/) and the default units' folders.
    """
    if directories is None:
        from components import units

        directories = units.dashboards_dirs(units.default_units())
    objects: list[dict] = []
    seen: dict[str, Path] = {}
    for path in [p for directory in directories for p in sorted(Path(directory).glob("*.json"))]:
        data = json.loads(path.read_text(encoding="utf-8"))
        for so in data.get("objects", []):
            key = object_key(so)
            if key in seen:
                raise DashboardsError(f"saved object {key} is declared twice: {seen[key]} and {path}")
            seen[key] = path
            objects.append(so)
    return objects


def split_bundle(objects: Iterable[dict]) -> tuple[list[dict], list[dict]]:
    """(explore objects written by id with `_bulk_create`, objects imported in one bundle)."""
    explore, imported = [], []
    for so in objects:
        (explore if so["type"] == "explore" else imported).append(so)
    return explore, imported

