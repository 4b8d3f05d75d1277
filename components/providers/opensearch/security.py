"""One machine's credential on a secured cluster (the team role): user, role, role mapping.

Through the security plugin's REST API (`_plugins/_security/api/{internalusers,roles,rolesmapping}`):
an internal user `clawker-machine-<machine>` with a password generated here on create (kept in
state as a secret output, never an input), a role of the same name that may write log and span
documents into the stack's streams and nothing else, and the mapping of that user to the role.
Deleting the resource (the machine left the team stack's `machines`) deletes all three: the
machine's next write is refused and its collector keeps the records in its on-disk queue.
"""

from __future__ import annotations

import secrets
from typing import Optional

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

from components.providers.http_client import ApiClient
from components.providers.kit import plain, without_provider
from components.providers.opensearch.base import _client, with_connection

API = "_plugins/_security/api"
USER_PREFIX = "clawker-machine-"
# Writes of the exporter's `_bulk` (cluster level), and of its documents (index level).
CLUSTER_PERMISSIONS = ["indices:data/write/bulk"]
WRITE_ACTIONS = ["indices:data/write/index", "indices:data/write/bulk*"]
# A record lands in the daily index of its day (route pipelines, README "Retention"): the first
# record of a day creates that index, and new attribute names extend its mapping.
DAILY_ACTIONS = WRITE_ACTIONS + ["indices:admin/create", "indices:admin/mapping/put"]


def user_name(machine: str) -> str:
    return f"{USER_PREFIX}{machine}"


def role_body(streams: list[str]) -> dict:
    """Write into each stream's write name and its daily indices `<stream>-<yyyy-MM-dd>`; nothing else."""
    return {
        "description": "clawker-monitor machine: writes log records and spans, reads and changes nothing",
        "cluster_permissions": list(CLUSTER_PERMISSIONS),
        "index_permissions": [
            {"index_patterns": sorted(streams), "allowed_actions": list(WRITE_ACTIONS)},
            {"index_patterns": sorted(f"{s}-*" for s in streams), "allowed_actions": list(DAILY_ACTIONS)},
        ],
    }


def _put_all(client: ApiClient, user: str, password: Optional[str], streams: list[str]) -> None:
    client.request("PUT", f"{API}/roles/{user}", json_body=role_body(streams))
    if password is not None:
        client.request("PUT", f"{API}/internalusers/{user}", json_body={"password": password})
    client.request("PUT", f"{API}/rolesmapping/{user}", json_body={"users": [user]})


class MachineCredentialProvider(ResourceProvider):
    def create(self, props: dict) -> CreateResult:
        user = user_name(props["machine"])
        password = secrets.token_urlsafe(24)
        _put_all(_client(props), user, password, list(plain(props["streams"])))
        return CreateResult(id_=user, outs={**without_provider(props), "username": user, "password": password})

    def diff(self, _id: str, olds: dict, news: dict) -> DiffResult:
        replaces = ["machine"] if olds.get("machine") != news.get("machine") else []
        changed = replaces or [k for k in ("streams", "endpoint") if plain(olds.get(k)) != plain(news.get(k))]
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=True)

    def update(self, id_: str, olds: dict, news: dict) -> UpdateResult:
        # The password stays; the role follows the streams.
        _put_all(_client(news), id_, None, list(plain(news["streams"])))
        return UpdateResult(outs={**without_provider(news), "username": id_, "password": olds.get("password")})

    def read(self, id_: str, props: dict) -> ReadResult:
        found = _client(props).request("GET", f"{API}/internalusers/{id_}", missing_ok=True)
        return ReadResult(id_=id_ if found else "", outs=props if found else {})

    def delete(self, id_: str, props: dict) -> None:
        client = _client(props)
        for kind in ("rolesmapping", "internalusers", "roles"):
            client.request("DELETE", f"{API}/{kind}/{id_}", missing_ok=True)


class MachineCredential(Resource, module="clawker", name="OpenSearchMachineCredential"):
    username: pulumi.Output[str]
    password: pulumi.Output[str]

    def __init__(self, resource_name: str, *, endpoint, connection, machine: str, streams: list[str], opts=None):
        props = {"endpoint": endpoint, "machine": machine, "streams": list(streams), "username": None, "password": None}
        props, opts = with_connection(props, opts, connection)
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["password"]))
        super().__init__(MachineCredentialProvider(), resource_name, props, opts)
