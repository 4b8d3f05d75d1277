"""Explore (PromQL panel) saved objects, written inside the workspace by their own ids.

The bulk import rejects their reference to the datasource, so they are not in the bundle;
a collection writes its objects with `_bulk_create` (which checks no reference), one
request per unit.
`ExploreCollection` holds every explore object of one unit in one resource (issue 21: a
resource per object made a no-op preview check and diff 25 of them one at a time); its
`objects` input maps ``explore/<id>`` to each object with its attributes decoded, so
`pulumi preview --diff` still names the object and the field that changed. `ExploreObject`
(one resource per object) is what stacks written before the collections hold; it stays
importable from here because those states name it (tests/unit/test_provider_paths.py).
"""

from __future__ import annotations

import copy
import json
from typing import Optional

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, ReadResult, UpdateResult

from components.providers.http_client import ApiClient
from components.providers.kit import plain
from components.providers.dashboards.base import (
    DEFAULT_READY_TIMEOUT_S,
    DashboardsError,
    DashboardsProvider,
    DashboardsResource,
    _check_common,
    _check_id,
    _check_references,
    _check_workspace_id,
    _ID_RE,
    _inputs_from,
    _is_unknown,
    _outs_base,
    _q,
    _ready_client,
    _ws_prefix,
)
from components.providers.dashboards.saved_object import SavedObjectProvider
from components.providers.dashboards.saved_objects import decode_attributes, encode_attributes, normalise_object, object_key
from components.providers.text_documents import encode_members

TYPE = "explore"
# Most JSON bytes of objects in one `_bulk_create` request: Dashboards' HTTP server refuses a
# payload above server.maxPayloadBytes (1 MiB by default; src/core/server/http/http_config.ts).
BULK_CREATE_BYTES = 512 * 1024


def _check_explore(where: str, attrs, refs, failures: list[CheckFailure], prefix: str = "") -> None:
    """One explore object's attributes and references (either may not be known yet)."""
    if not _is_unknown(attrs):
        if not isinstance(attrs, dict) or not isinstance(attrs.get("title"), str) or not attrs.get("title"):
            failures.append(CheckFailure(f"{prefix}attributes.title", "every explore object needs a title"))
        elif not isinstance(attrs.get("visualization"), (dict, str)):
            failures.append(CheckFailure(f"{prefix}attributes.visualization", "must describe the chart"))
    if not _is_unknown(refs):
        _check_references(where, refs, failures, f"{prefix}references")


def _object_path(workspace_id: str, object_id: str) -> str:
    return f"{_ws_prefix(workspace_id)}/api/saved_objects/{TYPE}/{_q(object_id)}"


def _write_object(client: ApiClient, workspace_id: str, object_id: str, attributes: dict, references) -> None:
    body = {"attributes": encode_attributes(TYPE, attributes), "references": plain(references or [])}
    # Its own id, overwritten: a resend writes the same object again.
    client.request(
        "POST", _object_path(workspace_id, object_id), json_body=body, params={"overwrite": "true"}, idempotent=True
    )

class ExploreObjectProvider(SavedObjectProvider):
    """One ``explore`` saved object inside a workspace, written with overwrite.

    A new workspace id moves the object: removed from the old workspace (gone
    already if that workspace was deleted), then written in the new one.

    Adoption: after a ``pulumi destroy`` without purge the object is still in the
    workspace (the resource is retain_on_delete, see components/bootstrap/dashboards.py); create
    writes over that kept copy in place (same workspace, same id), never a copy.
    """

    TYPE = "explore"
    DIFF_KEYS = ("url", "workspace_id", "object_id", "attributes", "references")
    REPLACE_KEYS = ("object_id",)

    def check(self, olds: dict, news: dict) -> CheckResult:
        failures: list[CheckFailure] = []
        _check_common(news, failures)
        _check_id(news, "object_id", failures)
        _check_workspace_id(news, failures)
        _check_explore(f"explore/{news.get('object_id')}", news.get("attributes"), news.get("references", []), failures)
        return CheckResult(news, failures)

    def _normalised(self, props: dict) -> dict:
        return _normalised_so_props(self.TYPE, props)

    def _path(self, props: dict) -> str:
        return f"{_ws_prefix(props['workspace_id'])}/api/saved_objects/{self.TYPE}/{_q(props['object_id'])}"

    def _outs(self, props: dict, doc: dict) -> dict:
        return {
            **super()._outs(props, doc),
            "workspace_id": props["workspace_id"],
            "references": plain(doc.get("references") or []),
        }

    def _write(self, client: ApiClient, props: dict) -> None:
        _write_object(client, props["workspace_id"], props["object_id"], props["attributes"], props.get("references"))

    def update(self, _id: str, olds: dict, news: dict) -> UpdateResult:
        client = _ready_client(news)
        if olds.get("workspace_id") and olds["workspace_id"] != news["workspace_id"]:
            # Removed first: Dashboards refuses to overwrite an object that lives in another workspace.
            client.request("DELETE", self._path(olds), missing_ok=True)
        self._write(client, news)
        return UpdateResult(outs=self._outs(news, news))


    def delete(self, id_: str, props: dict) -> None:
        """Forgotten, not deleted, when a collection of this release holds the object.

        Only states written before the collections hold this resource, and a release with
        collections deletes it in two cases: the upgrade, where the engine deletes every
        per-object resource after its unit's collection wrote the same object (one
        resource cannot adopt several: pulumi/pulumi step_generator.go takes the first
        alias that matches), and a destroy of such a stack. With the purge setting (the
        only case the engine calls this: the resource is otherwise retain_on_delete),
        deleting the object on upgrade would undo the collection's write; on destroy the
        purge deletes the workspace, which takes its objects with it.
        """
        props = self._with_id(id_, props)
        if props["object_id"] in shipped_explore_ids():
            return
        super().delete(id_, props)


def shipped_explore_ids() -> set[str]:
    """Ids of the explore objects this release ships (the core's and every built-in unit's,
    codexPrices' estimated-cost panels included)."""
    from components import codex, units
    from components.providers.dashboards.saved_objects import load_saved_objects

    dirs = units.dashboards_dirs([units.load_unit(units.BUILTIN_DIR / name) for name in units.builtin_names()])
    ids = {so["id"] for so in load_saved_objects(dirs) if so["type"] == TYPE}
    return ids | {codex.COST_TOTAL_ID, codex.COST_BY_MODEL_ID}


def _normalised_so_props(so_type: str, props: dict) -> dict:
    out = dict(props)
    if isinstance(props.get("attributes"), dict):
        out["attributes"] = decode_attributes(so_type, props["attributes"])
    return out


class ExploreObject(DashboardsResource, module="clawker", name="DashboardsExploreObject"):
    """An explore (PromQL panel) saved object inside the workspace."""

    attributes: pulumi.Output[dict]
    references: pulumi.Output[list]

    def __init__(
        self,
        name: str,
        *,
        url: pulumi.Input[str],
        workspace_id: pulumi.Input[str],
        saved_object: dict,
        ready_timeout_s: float = DEFAULT_READY_TIMEOUT_S,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        if saved_object.get("type") != "explore":
            raise DashboardsError(f"{object_key(saved_object)} is not an explore object")
        props = {
            "workspace_id": workspace_id,
            "object_id": saved_object["id"],
            "attributes": copy.deepcopy(saved_object["attributes"]),
            "references": copy.deepcopy(saved_object.get("references") or []),
        }
        super().__init__(ExploreObjectProvider(), name, url, ready_timeout_s, props, opts)



class ExploreCollectionProvider(DashboardsProvider):
    """Every explore object of one unit (or of the core) inside the workspace.

    ``objects`` maps ``explore/<id>`` to ``{attributes, references}``, attributes decoded
    (JSON-text fields as structures), so the engine's diff of the inputs names the object
    and the field that moved. Create writes each object by its own id with overwrite
    (adopting copies an earlier stack kept in the workspace, as `ExploreObject` did);
    update writes the objects that changed and deletes the ones dropped from
    ``objects``; a new workspace id moves them all; read returns the live objects
    projected onto the declared ones (a deleted one drops out, so refresh sees it);
    delete removes every object (only with the purge setting: the resource is
    otherwise retain_on_delete).
    """

    DIFF_KEYS = ("url", "workspace_id", "objects")
    DETAILED = True
    # Each object one JSON text in the engine's hands (text_documents.py); states written
    # before hold nested objects: both compare equal.
    TEXT_MEMBERS = ("objects",)

    def check(self, olds: dict, news: dict) -> CheckResult:
        failures: list[CheckFailure] = []
        _check_common(news, failures)
        _check_workspace_id(news, failures)
        objects = news.get("objects")
        if _is_unknown(objects):
            return CheckResult(news, failures)
        if not isinstance(objects, dict) or not objects:
            failures.append(CheckFailure("objects", "must map explore/<id> to at least one explore object"))
            return CheckResult(news, failures)
        for key, so in objects.items():
            prop = f"objects[{key!r}]"
            so_type, _, so_id = str(key).partition("/")
            if so_type != TYPE or not _ID_RE.match(so_id):
                failures.append(CheckFailure(prop, f"key must be explore/<id> (id: letters, digits, _ . : -), got {key!r}"))
            if not isinstance(so, dict):
                failures.append(CheckFailure(prop, "must be an explore object (attributes, references)"))
                continue
            _check_explore(key, so.get("attributes"), so.get("references", []), failures, f"{prop}.")
        return CheckResult(news, failures)

    @staticmethod
    def _objects(props: dict) -> dict:
        """``explore/<id>`` -> {attributes (decoded), references}."""
        out = {}
        for key, so in (props.get("objects") or {}).items():
            if isinstance(so, dict):
                doc = normalise_object({"type": TYPE, "attributes": so.get("attributes"), "references": so.get("references")})
                out[key] = {"attributes": doc["attributes"], "references": doc["references"]}
        return out

    def _normalised(self, props: dict) -> dict:
        if _is_unknown(props.get("objects")):
            return props
        return {**props, "objects": self._objects(props)}

    @staticmethod
    def _id(key: str) -> str:
        return key.split("/", 1)[1]

    def _outs(self, props: dict, objects: dict) -> dict:
        return {**_outs_base(props), "workspace_id": props["workspace_id"], "objects": objects}

    def _write_all(self, client: ApiClient, workspace_id: str, objects: dict) -> None:
        """Every object in `_bulk_create` requests (overwrite: a resend writes the same objects).

        One request and one write into Dashboards' index for the whole unit, where writing
        them one by one cost a request, a lookup and a write (each waiting for a refresh in
        Dashboards' repository) per object (benchmarks/README.md "Cold start: where the time
        goes"). The bulk import is no alternative: it checks that every reference resolves to
        a saved object, and the datasource an explore object names is none. `_bulk_create`
        answers 200 whatever failed, so every object's own answer is read.
        """
        batches: list[list[dict]] = [[]]
        size = 0
        for key, so in objects.items():
            item = {"type": TYPE, "id": self._id(key), "attributes": encode_attributes(TYPE, so["attributes"]),
                    "references": plain(so["references"] or [])}
            item_size = len(json.dumps(item))
            if batches[-1] and size + item_size > BULK_CREATE_BYTES:
                batches.append([])
                size = 0
            batches[-1].append(item)
            size += item_size
        for batch in (b for b in batches if b):
            answer = client.request(
                "POST", f"{_ws_prefix(workspace_id)}/api/saved_objects/_bulk_create", json_body=batch,
                params={"overwrite": "true"}, idempotent=True,
            ) or {}
            answered = {(so.get("type"), so.get("id")): so for so in answer.get("saved_objects") or []}
            failed = []
            for item in batch:
                so = answered.get((TYPE, item["id"]))
                if so is None:
                    failed.append(f"{TYPE}/{item['id']}: not in Dashboards' answer")
                elif so.get("error"):
                    error = so["error"]
                    failed.append(f"{TYPE}/{item['id']}: {error.get('statusCode')} {error.get('message') or error.get('error')}")
            if failed:
                raise DashboardsError(
                    f"Dashboards did not write {len(failed)} of {len(batch)} explore objects in workspace "
                    f"{workspace_id}: {'; '.join(failed[:5])}"
                )

    def create(self, props: dict) -> CreateResult:
        objects = self._objects(props)
        self._write_all(_ready_client(props), props["workspace_id"], objects)
        return CreateResult(id_=f"{props['workspace_id']}/{TYPE}", outs=self._outs(props, objects))

    def read(self, id_: str, props: dict) -> ReadResult:
        declared = self._objects(props)
        if not declared:
            return ReadResult(id_="", outs={})
        body = _ready_client(props).request(
            "POST", f"{_ws_prefix(props['workspace_id'])}/api/saved_objects/_bulk_get",
            json_body=[{"type": TYPE, "id": self._id(key)} for key in declared],
            idempotent=True,  # a read
        ) or {}
        live = {}
        for so in body.get("saved_objects") or []:
            key = object_key(so) if not so.get("error") and "attributes" in so else None
            if key in declared:
                doc = normalise_object(so, {"type": TYPE, "attributes": declared[key]["attributes"]})
                live[key] = {"attributes": doc["attributes"], "references": doc["references"]}
        if not live:
            return ReadResult(id_="", outs={})
        outs = self._outs(props, live)
        return ReadResult(id_=id_, outs=outs, inputs=_inputs_from(props, outs))

    def update(self, _id: str, olds: dict, news: dict) -> UpdateResult:
        client = _ready_client(news)
        old_ws, new_ws = olds.get("workspace_id"), news["workspace_id"]
        old_objects, new_objects = self._objects(olds), self._objects(news)
        moved = bool(old_ws) and old_ws != new_ws
        for key in old_objects:
            if moved or key not in new_objects:
                # Removed first when moving: Dashboards refuses to overwrite an object that lives in another workspace.
                client.request("DELETE", _object_path(old_ws, self._id(key)), missing_ok=True)
        changed = {k: so for k, so in new_objects.items() if moved or old_objects.get(k) != so or olds.get("url") != news["url"]}
        self._write_all(client, new_ws, changed)
        return UpdateResult(outs=self._outs(news, new_objects))

    def delete(self, _id: str, props: dict) -> None:
        client = _ready_client(props)
        for key in self._objects(props):
            client.request("DELETE", _object_path(props["workspace_id"], self._id(key)), missing_ok=True)


class ExploreCollection(DashboardsResource, module="clawker", name="DashboardsExploreCollection"):
    """Every explore (PromQL panel) object of one unit inside the workspace; ``objects`` maps explore/<id> to each."""

    objects: pulumi.Output[dict]

    def __init__(
        self,
        name: str,
        *,
        url: pulumi.Input[str],
        workspace_id: pulumi.Input[str],
        saved_objects: list[dict],
        ready_timeout_s: float = DEFAULT_READY_TIMEOUT_S,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        objects = {}
        for so in saved_objects:
            if so.get("type") != TYPE:
                raise DashboardsError(f"{object_key(so)} is not an explore object")
            objects[object_key(so)] = {
                "attributes": copy.deepcopy(so["attributes"]),
                "references": copy.deepcopy(so.get("references") or []),
            }
        props = {"workspace_id": workspace_id, "objects": encode_members(objects)}
        super().__init__(ExploreCollectionProvider(), name, url, ready_timeout_s, props, opts)
