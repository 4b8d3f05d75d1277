"""Index patterns, visualizations, searches and dashboards imported into the workspace in one bundle."""

from __future__ import annotations

import json
from typing import Iterable, Optional

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, ReadResult, UpdateResult

from components.providers.http_client import ApiClient
from components.providers.kit import plain
from components.providers.dashboards.base import (
    DashboardsProvider,
    DEFAULT_READY_TIMEOUT_S,
    DashboardsError,
    DashboardsResource,
    _check_common,
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
from components.providers.dashboards.saved_objects import (
    IMPORTABLE_TYPES,
    declared_object,
    ndjson_bundle,
    normalise_object,
    object_key,
)
from components.providers.text_documents import encode_members

def describe_import_error(err: dict) -> str:
    """One line naming the object and what Dashboards said about it."""
    what = f"{err.get('type', '?')}/{err.get('id', '?')}"
    title = err.get("title") or (err.get("meta") or {}).get("title")
    if title:
        what += f" ({title!r})"
    detail = err.get("error") or {}
    kind = detail.get("type", "unknown")
    if kind == "missing_references":
        refs = ", ".join(f"{r.get('type')}/{r.get('id')}" for r in detail.get("references") or [])
        reason = f"missing references: {refs or '?'}"
    elif kind == "conflict":
        reason = "conflict with an existing object" + (
            f" (destination {detail['destinationId']})" if detail.get("destinationId") else ""
        )
    elif kind == "unsupported_type":
        reason = "unsupported saved-object type"
    else:
        reason = detail.get("message") or json.dumps(detail)[:300]
        if detail.get("statusCode"):
            reason = f"HTTP {detail['statusCode']}: {reason}"
    return f"{what}: {kind}: {reason}"


class SavedObjectBundleProvider(DashboardsProvider):
    """Saved objects imported into a workspace in one ``_import?overwrite=true`` call.

    ``objects`` maps ``type/id`` to the declared object. An object dropped from
    ``objects`` is deleted from Dashboards on the next update; every object is
    deleted when the resource is (only with the purge setting: otherwise the
    resource is retain_on_delete and destroy leaves the objects in the workspace).

    Adoption: create over objects kept from an earlier stack imports with overwrite
    into the same workspace, so they are rewritten in place; an import that would
    make copies under new ids (the object lives in another workspace) is an error.

    ``handed_over`` lists objects another bundle now holds (a unit's, moved out of
    the core bundle when units became separate bundles): dropping them from
    ``objects`` does not delete them, whichever of the two resources runs first.
    """

    DIFF_KEYS = ("url", "workspace_id", "objects")
    DETAILED = True
    # Each object one JSON text in the engine's hands (text_documents.py); states written
    # before hold nested objects, JSON-text attributes as text or not: all compare equal.
    TEXT_MEMBERS = ("objects",)
    FILENAME = "clawker.ndjson"  # the import route only accepts *.ndjson uploads

    def check(self, olds: dict, news: dict) -> CheckResult:
        failures: list[CheckFailure] = []
        _check_common(news, failures)
        _check_workspace_id(news, failures)
        objects = news.get("objects")
        if _is_unknown(objects):
            return CheckResult(news, failures)
        if not isinstance(objects, dict) or not objects:
            failures.append(CheckFailure("objects", "must map type/id to at least one saved object"))
            return CheckResult(news, failures)
        external = set(news.get("external_references") or [])
        for key, so in objects.items():
            prop = f"objects[{key!r}]"
            if not isinstance(so, dict):
                failures.append(CheckFailure(prop, "must be a saved object"))
                continue
            if so.get("type") not in IMPORTABLE_TYPES:
                failures.append(
                    CheckFailure(prop, f"type {so.get('type')!r} is not imported; allowed: {', '.join(IMPORTABLE_TYPES)}")
                )
            if not isinstance(so.get("id"), str) or not _ID_RE.match(so.get("id", "")):
                failures.append(CheckFailure(prop, f"bad id {so.get('id')!r}"))
            elif key != f"{so.get('type')}/{so.get('id')}":
                failures.append(CheckFailure(prop, f"key must be {so.get('type')}/{so.get('id')}"))
            attrs = so.get("attributes")
            if not isinstance(attrs, dict) or not isinstance(attrs.get("title"), str) or not attrs.get("title"):
                failures.append(CheckFailure(prop, "attributes.title must be a non-empty string"))
            refs = so.get("references", [])
            _check_references(key, refs, failures, prop)
            for ref in refs if isinstance(refs, list) else []:
                if isinstance(ref, dict):
                    target = f"{ref.get('type')}/{ref.get('id')}"
                    if target not in objects and target not in external:
                        failures.append(
                            CheckFailure(prop, f"reference {ref.get('name')!r} points at {target}, which is neither in the bundle nor known")
                        )
        return CheckResult(news, failures)

    @staticmethod
    def _normalised(props: dict) -> dict:
        out = dict(props)
        objects = props.get("objects")
        if isinstance(objects, dict) and not _is_unknown(objects):
            out["objects"] = {k: normalise_object(v) for k, v in objects.items() if isinstance(v, dict)}
        return out

    @staticmethod
    def _so_path(workspace_id: str, so_type: str, so_id: str) -> str:
        return f"{_ws_prefix(workspace_id)}/api/saved_objects/{_q(so_type)}/{_q(so_id)}"

    def _import(self, client: ApiClient, workspace_id: str, objects: dict) -> None:
        payload = ndjson_bundle(objects.values())
        body = client.request(
            "POST",
            f"{_ws_prefix(workspace_id)}/api/saved_objects/_import",
            params={"overwrite": "true"},
            files={"file": (self.FILENAME, payload, "application/ndjson")},
            idempotent=True,  # fixed ids, overwritten: a second import changes nothing more
        )
        if not isinstance(body, dict):
            raise DashboardsError(f"importing saved objects: unexpected answer {str(body)[:300]}")
        errors = body.get("errors") or []
        if errors or body.get("success") is not True:
            lines = [describe_import_error(e) for e in errors] or [
                f"Dashboards reported success={body.get('success')!r} without naming a failed object"
            ]
            raise DashboardsError(
                f"importing {len(objects)} saved objects into workspace {workspace_id} failed for "
                f"{len(errors)} of them:\n  " + "\n  ".join(lines)
            )
        # An object that exists in another workspace is not overwritten: Dashboards imports a
        # copy under a new id, and our dashboards would point at the other workspace's one.
        copies = [
            f"{r.get('type')}/{r.get('id')} -> {r['destinationId']}"
            for r in body.get("successResults") or []
            if r.get("destinationId") and r.get("destinationId") != r.get("id")
        ]
        if copies:
            raise DashboardsError(
                f"importing saved objects into workspace {workspace_id}: Dashboards imported copies under "
                f"new ids because objects with these ids exist outside the workspace (delete or move them):\n  "
                + "\n  ".join(copies)
            )
        count = body.get("successCount")
        if isinstance(count, int) and count != len(objects):
            raise DashboardsError(
                f"importing saved objects into workspace {workspace_id}: Dashboards imported {count} "
                f"of {len(objects)} objects without reporting an error"
            )

    def _outs(self, props: dict, objects: dict) -> dict:
        return {
            **_outs_base(props),
            "workspace_id": props["workspace_id"],
            "external_references": plain(props.get("external_references") or []),
            "objects": {k: declared_object(v) for k, v in objects.items()},
        }

    def create(self, props: dict) -> CreateResult:
        client = _ready_client(props)
        self._import(client, props["workspace_id"], props["objects"])
        return CreateResult(id_=f"{props['workspace_id']}/bundle", outs=self._outs(props, props["objects"]))

    def read(self, id_: str, props: dict) -> ReadResult:
        client = _ready_client(props)
        declared: dict = props.get("objects") or {}
        if not declared:
            return ReadResult(id_="", outs={})
        request = [{"type": so["type"], "id": so["id"]} for so in declared.values()]
        body = client.request(
            "POST", f"{_ws_prefix(props['workspace_id'])}/api/saved_objects/_bulk_get", json_body=request,
            idempotent=True,  # a read
        ) or {}
        live: dict = {}
        for so in body.get("saved_objects") or []:
            if so.get("error") or "attributes" not in so:
                continue
            key = object_key(so)
            if key in declared:
                doc = normalise_object(so, declared[key])
                if declared[key].get("migrationVersion"):
                    doc["migrationVersion"] = plain(declared[key]["migrationVersion"])
                live[key] = doc
        if not live:
            return ReadResult(id_="", outs={})
        outs = self._outs(props, live)
        return ReadResult(id_=id_, outs=outs, inputs=_inputs_from(props, outs))

    def update(self, _id: str, olds: dict, news: dict) -> UpdateResult:
        client = _ready_client(news)
        self._import(client, news["workspace_id"], news["objects"])
        old_ws = olds.get("workspace_id")
        handed_over = set(news.get("handed_over") or ())
        for key, so in (olds.get("objects") or {}).items():
            moved = old_ws and old_ws != news["workspace_id"]
            if moved or (key not in news["objects"] and key not in handed_over):
                client.request("DELETE", self._so_path(old_ws, so["type"], so["id"]), missing_ok=True)
        return UpdateResult(outs=self._outs(news, news["objects"]))

    def delete(self, _id: str, props: dict) -> None:
        client = _ready_client(props)
        for so in (props.get("objects") or {}).values():
            client.request("DELETE", self._so_path(props["workspace_id"], so["type"], so["id"]), missing_ok=True)


class SavedObjectBundle(DashboardsResource, module="clawker", name="DashboardsSavedObjectBundle"):
    """Saved objects imported into the workspace; ``objects`` maps type/id to each."""

    objects: pulumi.Output[dict]

    def __init__(
        self,
        name: str,
        *,
        url: pulumi.Input[str],
        workspace_id: pulumi.Input[str],
        saved_objects: Iterable[dict],
        external_references: Iterable[str] = (),
        handed_over: Iterable[str] = (),
        ready_timeout_s: float = DEFAULT_READY_TIMEOUT_S,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        objects = encode_members({object_key(so): declared_object(so) for so in saved_objects})
        props = {"workspace_id": workspace_id, "external_references": sorted(external_references), "objects": objects}
        if handed_over:
            props["handed_over"] = sorted(handed_over)
        super().__init__(SavedObjectBundleProvider(), name, url, ready_timeout_s, props, opts)
