"""The global `data-connection` saved object that lets explore's Metrics view reach the SQL plugin's datasource."""

from __future__ import annotations

from typing import Optional

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, UpdateResult

from components.providers.http_client import ApiClient, OutcomeUnknownError
from components.providers.dashboards.base import (
    DEFAULT_READY_TIMEOUT_S,
    DashboardsError,
    DashboardsResource,
    _check_common,
    _check_id,
    _is_unknown,
    _q,
    _ready_client,
)
from components.providers.dashboards.saved_object import SavedObjectProvider
from components.providers.dashboards.saved_objects import encode_attributes

class DataConnectionProvider(SavedObjectProvider):
    """The global ``data-connection`` saved object (namespace-agnostic, outside any workspace).

    Created with POST (explicit id); changed with PUT so Dashboards keeps the
    ``workspaces`` list the workspace routes maintain on it.
    """

    TYPE = "data-connection"
    DIFF_KEYS = ("url", "object_id", "attributes")
    REPLACE_KEYS = ("object_id",)

    def check(self, olds: dict, news: dict) -> CheckResult:
        failures: list[CheckFailure] = []
        _check_common(news, failures)
        _check_id(news, "object_id", failures)
        attrs = news.get("attributes")
        if not _is_unknown(attrs):
            if not isinstance(attrs, dict):
                failures.append(CheckFailure("attributes", "must be an object"))
            else:
                for key in ("connectionId", "type"):
                    if not isinstance(attrs.get(key), str) or not attrs.get(key):
                        failures.append(CheckFailure(f"attributes.{key}", "must be a non-empty string"))
                if "meta" in attrs and not isinstance(attrs["meta"], (dict, str)):
                    failures.append(CheckFailure("attributes.meta", "must be an object or JSON text"))
        return CheckResult(news, failures)

    def _path(self, props: dict) -> str:
        return f"/api/saved_objects/{self.TYPE}/{_q(props['object_id'])}"

    def _write(self, client: ApiClient, props: dict) -> None:
        # An object left by an earlier stack over the same volume is adopted and brought in line.
        body = {"attributes": encode_attributes(self.TYPE, props["attributes"])}
        exists = client.request("GET", self._path(props), missing_ok=True) is not None
        try:
            client.request("PUT" if exists else "POST", self._path(props), json_body=body)
        except OutcomeUnknownError:
            # The create (sent once: a resend answers 409) may have happened: if so, bring it in line.
            if client.request("GET", self._path(props), missing_ok=True) is None:
                raise
            client.request("PUT", self._path(props), json_body=body)

    def update(self, _id: str, olds: dict, news: dict) -> UpdateResult:
        if olds.get("object_id") != news["object_id"]:
            raise DashboardsError("the data connection's id changed; Pulumi replaces it instead of updating")
        self._write(_ready_client(news), news)
        return UpdateResult(outs=self._outs(news, news))


class DataConnection(DashboardsResource, module="clawker", name="DashboardsDataConnection"):
    """The ``data-connection`` saved object pointing explore at a direct-query datasource."""

    object_id: pulumi.Output[str]
    attributes: pulumi.Output[dict]

    def __init__(
        self,
        name: str,
        *,
        url: pulumi.Input[str],
        object_id: str,
        connection_id: str,
        connection_type: str,
        meta: Optional[dict] = None,
        ready_timeout_s: float = DEFAULT_READY_TIMEOUT_S,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        attributes: dict = {"connectionId": connection_id, "type": connection_type}
        if meta is not None:
            attributes["meta"] = meta
        props = {"object_id": object_id, "attributes": attributes}
        super().__init__(DataConnectionProvider(), name, url, ready_timeout_s, props, opts)

