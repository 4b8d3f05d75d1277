"""The Dashboards workspace, found by exact name (its id is Dashboards' own)."""

from __future__ import annotations

from typing import Iterable, Optional

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, ReadResult, UpdateResult

from components.providers.http_client import ApiClient, OutcomeUnknownError
from components.providers.kit import plain, say
from components.providers.dashboards.base import (
    DashboardsProvider,
    DEFAULT_READY_TIMEOUT_S,
    MAX_WORKSPACE_NAME_LENGTH,
    DashboardsError,
    DashboardsResource,
    _check_common,
    _inputs_from,
    _is_not_found_failure,
    _is_unknown,
    _outs_base,
    _q,
    _ready_client,
    _workspace_result,
)

def _normalise_workspace_attributes(attrs: dict) -> dict:
    out = {
        "name": attrs.get("name", ""),
        "description": attrs.get("description", ""),
        "features": sorted(attrs.get("features") or []),
    }
    return out


class WorkspaceProvider(DashboardsProvider):
    """A Dashboards workspace, identified by its exact name; its id is Dashboards' own.

    Dashboards records the workspace's data connections on the data-connection
    saved objects (their ``workspaces`` list), not on the workspace, so reads
    gather them from there.
    """

    DIFF_KEYS = ("url", "attributes", "settings")

    def check(self, olds: dict, news: dict) -> CheckResult:
        failures: list[CheckFailure] = []
        _check_common(news, failures)
        attrs = news.get("attributes")
        if not _is_unknown(attrs):
            if not isinstance(attrs, dict):
                failures.append(CheckFailure("attributes", "must be an object"))
                attrs = {}
            name = attrs.get("name")
            if not isinstance(name, str) or not name.strip():
                failures.append(CheckFailure("attributes.name", "must be a non-blank string"))
            elif len(name) > MAX_WORKSPACE_NAME_LENGTH:
                failures.append(
                    CheckFailure("attributes.name", f"must be at most {MAX_WORKSPACE_NAME_LENGTH} characters")
                )
            if not isinstance(attrs.get("description", ""), str):
                failures.append(CheckFailure("attributes.description", "must be a string"))
            features = attrs.get("features")
            if not isinstance(features, list) or not features or not all(isinstance(f, str) for f in features):
                failures.append(CheckFailure("attributes.features", "must be a non-empty list of strings"))
            elif sum(1 for f in features if f.startswith("use-case-")) != 1:
                failures.append(
                    CheckFailure("attributes.features", "must name exactly one use case (for example use-case-all)")
                )
        settings = news.get("settings")
        if not _is_unknown(settings):
            conns = (settings or {}).get("dataConnections") if isinstance(settings, dict) else None
            if not isinstance(conns, list) or not all(isinstance(c, str) and c for c in conns):
                failures.append(CheckFailure("settings.dataConnections", "must be a list of data-connection ids"))
        return CheckResult(news, failures)

    @staticmethod
    def _normalised(props: dict) -> dict:
        out = dict(props)
        if isinstance(props.get("attributes"), dict):
            out["attributes"] = _normalise_workspace_attributes(props["attributes"])
        settings = props.get("settings")
        if isinstance(settings, dict) and isinstance(settings.get("dataConnections"), list):
            out["settings"] = {"dataConnections": sorted(settings["dataConnections"])}
        return out

    @staticmethod
    def _body(props: dict) -> dict:
        attrs = plain(props["attributes"])
        return {
            "attributes": {
                "name": attrs["name"],
                "description": attrs.get("description", ""),
                "features": attrs["features"],
            },
            "settings": {"dataConnections": plain(props["settings"]["dataConnections"])},
        }

    @staticmethod
    def find_by_name(client: ApiClient, name: str) -> Optional[dict]:
        """The workspace whose name is exactly ``name`` (pages through _list; no prefix matches)."""
        page, per_page = 1, 100
        while True:
            body = client.request(  # a read: safe to resend
                "POST", "/api/workspaces/_list", json_body={"page": page, "perPage": per_page}, idempotent=True
            )
            result = _workspace_result(body, "listing workspaces") or {}
            workspaces = result.get("workspaces") or []
            for ws in workspaces:
                if ws.get("name") == name:
                    return ws
            total = result.get("total")
            if not workspaces or len(workspaces) < per_page or (isinstance(total, int) and page * per_page >= total):
                return None
            page += 1

    @staticmethod
    def linked_data_connections(client: ApiClient, workspace_id: str, workspace: dict) -> list[str]:
        if isinstance(workspace.get("dataConnections"), list):
            return sorted(workspace["dataConnections"])
        linked: list[str] = []
        page = 1
        while True:
            body = client.request(
                "GET",
                "/api/saved_objects/_find",
                params={"type": "data-connection", "per_page": 1000, "page": page},
            ) or {}
            objects = body.get("saved_objects") or []
            linked.extend(so["id"] for so in objects if workspace_id in (so.get("workspaces") or []))
            if len(objects) < 1000:
                return sorted(linked)
            page += 1

    def _outs(self, props: dict, ws_id: str, attributes: dict, data_connections: list[str]) -> dict:
        return {
            **_outs_base(props),
            "workspace_id": ws_id,
            "attributes": _normalise_workspace_attributes(attributes),
            "settings": {"dataConnections": sorted(data_connections)},
        }

    def create(self, props: dict) -> CreateResult:
        client = _ready_client(props)
        body = self._body(props)
        existing = self.find_by_name(client, body["attributes"]["name"])
        if existing is not None:
            ws_id = existing["id"]
            _workspace_result(
                client.request("PUT", f"/api/workspaces/{_q(ws_id)}", json_body=body),
                f"updating existing workspace {body['attributes']['name']!r} ({ws_id})",
            )
        else:
            ws_id = self._create_new(client, body)
        return CreateResult(
            id_=ws_id,
            outs=self._outs(props, ws_id, body["attributes"], body["settings"]["dataConnections"]),
        )

    def _create_new(self, client: ApiClient, body: dict) -> str:
        """POST the workspace once (Dashboards picks a random id: a resend would make a second
        one, or fail with "name already used"); after a lost answer, find out by name."""
        name = body["attributes"]["name"]
        try:
            answer = client.request("POST", "/api/workspaces", json_body=body)
        except OutcomeUnknownError as lost:
            return self._adopt_after_lost_answer(client, body, lost)
        ws_id = (_workspace_result(answer, f"creating workspace {name!r}") or {}).get("id")
        if not ws_id:
            raise DashboardsError(f"creating workspace {name!r}: answer carried no id")
        return ws_id

    def _adopt_after_lost_answer(self, client: ApiClient, body: dict, lost: OutcomeUnknownError) -> str:
        """The create may have happened: adopt the workspace of that exact name if it is the one asked for."""
        name = body["attributes"]["name"]
        found = self.find_by_name(client, name)
        if found is None:
            raise DashboardsError(
                f"creating workspace {name!r}: {lost}. No workspace of that name exists now; run `pulumi up` "
                f"again (it adopts the workspace by name should the create still go through)"
            )
        ws_id = found["id"]
        asked = _normalise_workspace_attributes(body["attributes"])
        have = _normalise_workspace_attributes(found)
        if have != asked:
            differs = ", ".join(f"{k}: {have[k]!r} (asked {asked[k]!r})" for k in asked if have[k] != asked[k])
            raise DashboardsError(
                f"creating workspace {name!r}: {lost}. A workspace of that name exists ({ws_id}) but differs from "
                f"the one asked for ({differs}), so it was not made by this request: rename or delete it and run "
                f"`pulumi up` again"
            )
        wanted = sorted(body["settings"]["dataConnections"])
        if self.linked_data_connections(client, ws_id, found) != wanted:
            # The create stopped before linking every data connection: finish it.
            _workspace_result(
                client.request("PUT", f"/api/workspaces/{_q(ws_id)}", json_body=body),
                f"linking the data connections of workspace {name!r} ({ws_id})",
            )
        say(f"workspace {name!r}: the answer to its create was lost; adopted {ws_id}, which that create made")
        return ws_id

    def read(self, id_: str, props: dict) -> ReadResult:
        client = _ready_client(props)
        body = client.request("GET", f"/api/workspaces/{_q(id_)}", missing_ok=True)
        if body is None or _is_not_found_failure(body):
            return ReadResult(id_="", outs={})
        ws = _workspace_result(body, f"reading workspace {id_}") or {}
        outs = self._outs(props, id_, ws, self.linked_data_connections(client, id_, ws))
        return ReadResult(id_=id_, outs=outs, inputs=_inputs_from(props, outs))

    def update(self, id_: str, olds: dict, news: dict) -> UpdateResult:
        client = _ready_client(news)
        body = self._body(news)
        _workspace_result(
            client.request("PUT", f"/api/workspaces/{_q(id_)}", json_body=body),
            f"updating workspace {body['attributes']['name']!r} ({id_})",
        )
        return UpdateResult(outs=self._outs(news, id_, body["attributes"], body["settings"]["dataConnections"]))

    def delete(self, id_: str, props: dict) -> None:
        client = _ready_client(props)
        body = client.request("DELETE", f"/api/workspaces/{_q(id_)}", missing_ok=True)
        if body is None or _is_not_found_failure(body):
            return
        _workspace_result(body, f"deleting workspace {id_}")


class Workspace(DashboardsResource, module="clawker", name="DashboardsWorkspace"):
    """A Dashboards workspace; ``id`` is the id Dashboards generated for it."""

    workspace_id: pulumi.Output[str]
    attributes: pulumi.Output[dict]
    settings: pulumi.Output[dict]

    def __init__(
        self,
        name: str,
        *,
        url: pulumi.Input[str],
        workspace_name: str,
        description: str,
        features: Iterable[str],
        data_connections: Iterable[pulumi.Input[str]],
        ready_timeout_s: float = DEFAULT_READY_TIMEOUT_S,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        props = {
            "workspace_id": None,
            "attributes": {"name": workspace_name, "description": description, "features": list(features)},
            "settings": {"dataConnections": list(data_connections)},
        }
        super().__init__(WorkspaceProvider(), name, url, ready_timeout_s, props, opts)

