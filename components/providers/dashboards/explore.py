"""Explore (PromQL panel) saved objects, written one by one inside the workspace.

The bulk import rejects their reference to the datasource, so they are not in the bundle.
"""

from __future__ import annotations

import copy
from typing import Optional

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, UpdateResult

from components.providers.http_client import ApiClient
from components.providers.kit import plain
from components.providers.dashboards.base import (
    DEFAULT_READY_TIMEOUT_S,
    DashboardsError,
    DashboardsResource,
    _check_common,
    _check_id,
    _check_references,
    _check_workspace_id,
    _is_unknown,
    _q,
    _ready_client,
    _ws_prefix,
)
from components.providers.dashboards.saved_object import SavedObjectProvider
from components.providers.dashboards.saved_objects import decode_attributes, encode_attributes, object_key

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
        attrs = news.get("attributes")
        if not _is_unknown(attrs):
            if not isinstance(attrs, dict) or not isinstance(attrs.get("title"), str) or not attrs.get("title"):
                failures.append(CheckFailure("attributes.title", "every explore object needs a title"))
            elif not isinstance(attrs.get("visualization"), (dict, str)):
                failures.append(CheckFailure("attributes.visualization", "must describe the chart"))
        if not _is_unknown(news.get("references")):
            _check_references(f"explore/{news.get('object_id')}", news.get("references", []), failures, "references")
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
        body = {
            "attributes": encode_attributes(self.TYPE, props["attributes"]),
            "references": plain(props.get("references") or []),
        }
        # Its own id, overwritten: a resend writes the same object again.
        client.request("POST", self._path(props), json_body=body, params={"overwrite": "true"}, idempotent=True)

    def update(self, _id: str, olds: dict, news: dict) -> UpdateResult:
        client = _ready_client(news)
        if olds.get("workspace_id") and olds["workspace_id"] != news["workspace_id"]:
            # Removed first: Dashboards refuses to overwrite an object that lives in another workspace.
            client.request("DELETE", self._path(olds), missing_ok=True)
        self._write(client, news)
        return UpdateResult(outs=self._outs(news, news))


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

