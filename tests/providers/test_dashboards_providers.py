"""The Dashboards providers against the contract double, calling ResourceProvider methods directly.

For each provider: create, no-op diff after create (and after a refresh), update in
place, refresh after an out-of-band deletion (and edit), delete. Inputs and outputs
go through Pulumi's property serialisation on the way, as they do between the
engine and the dynamic provider (numbers come back as floats, for one).
"""

from __future__ import annotations

import asyncio
import copy
import json
import time

import pytest
from pulumi.runtime import rpc

from conftest_dashboards import dashboards_double  # noqa: F401  (fixture)

import catalogue
from components import names, units
from components.providers import dashboards as dp
from components.providers import text_documents
from components.providers.http_client import ApiClient, ApiError
from net import AnswerDroppingProxy

READY_S = 15


def roundtrip(props: dict) -> dict:
    """What the engine hands back after storing `props` (protobuf Struct both ways)."""
    loop = asyncio.new_event_loop()
    try:
        struct = loop.run_until_complete(rpc.serialize_properties(props, {}))
    finally:
        loop.close()
    return rpc.deserialize_properties(struct)


def normalised(provider, props: dict) -> dict:
    """What a provider's diff compares: its collections decoded (text_documents.py), then normalised."""
    return provider._normalised(text_documents.decoded(props, provider.TEXT_MEMBERS))


def base(double) -> dict:
    return {"url": double.url, "ready_timeout_s": READY_S}


def assert_no_changes(provider, id_: str, olds: dict, news: dict) -> None:
    olds, news = roundtrip(olds), roundtrip(news)
    result = provider.diff(id_, olds, news)
    keys = getattr(provider, "DIFF_KEYS")
    assert result.changes is False, dp.document_changes(olds, news, keys)
    assert not result.replaces


# --------------------------------------------------------------------------- data connection


def data_connection_inputs(double, **attrs) -> dict:
    attributes = {"connectionId": names.DATASOURCE, "type": "Prometheus", "meta": {"type": "Prometheus", "timeFieldName": "Time"}}
    attributes.update(attrs)
    return {**base(double), "object_id": names.DATA_CONNECTION_ID, "attributes": attributes}


def create_data_connection(double, **attrs):
    provider = dp.DataConnectionProvider()
    inputs = roundtrip(data_connection_inputs(double, **attrs))
    assert provider.check({}, inputs).failures == []
    created = provider.create(inputs)
    return provider, inputs, created


def test_data_connection_lifecycle(dashboards_double):
    double = dashboards_double
    provider, inputs, created = create_data_connection(double)
    assert created.id == names.DATA_CONNECTION_ID
    live = double.call("GET", f"/api/saved_objects/data-connection/{names.DATA_CONNECTION_ID}").json()
    assert live["attributes"]["connectionId"] == names.DATASOURCE
    assert live["attributes"]["type"] == "Prometheus"
    assert json.loads(live["attributes"]["meta"]) == {"type": "Prometheus", "timeFieldName": "Time"}

    # No-op diff after create, and after a refresh that sees Dashboards' own additions.
    assert_no_changes(provider, created.id, created.outs, inputs)
    refreshed = provider.read(created.id, roundtrip(created.outs))
    assert refreshed.id == created.id
    assert_no_changes(provider, created.id, refreshed.outs, inputs)

    # Update in place: the diff names the field, the update keeps the workspace link.
    ws = double.call("POST", "/api/workspaces", {
        "attributes": {"name": "Other", "features": ["use-case-all"]},
        "settings": {"dataConnections": [names.DATA_CONNECTION_ID]},
    }).json()["result"]["id"]
    news = roundtrip(data_connection_inputs(double, meta={"type": "Prometheus", "timeFieldName": "@time"}))
    diff = provider.diff(created.id, roundtrip(refreshed.outs), news)
    assert diff.changes is True and not diff.replaces
    assert dp.document_changes(roundtrip(refreshed.outs), news, provider.DIFF_KEYS) == ["attributes.meta.timeFieldName"]
    updated = provider.update(created.id, roundtrip(refreshed.outs), news)
    live = double.call("GET", f"/api/saved_objects/data-connection/{names.DATA_CONNECTION_ID}").json()
    assert json.loads(live["attributes"]["meta"])["timeFieldName"] == "@time"
    assert live.get("workspaces") == [ws]
    assert_no_changes(provider, created.id, updated.outs, news)

    # A new object id replaces the resource.
    renamed = roundtrip({**news, "object_id": "another-conn"})
    assert provider.diff(created.id, roundtrip(updated.outs), renamed).replaces == ["object_id"]

    # Out-of-band edit: refresh reports the live document, and the diff sees it.
    double.call("PUT", f"/api/saved_objects/data-connection/{names.DATA_CONNECTION_ID}",
                {"attributes": {"type": "AWS Security Lake"}})
    drifted = provider.read(created.id, roundtrip(updated.outs))
    assert drifted.outs["attributes"]["type"] == "AWS Security Lake"
    assert drifted.inputs["attributes"]["type"] == "AWS Security Lake"
    assert dp.document_changes(roundtrip(drifted.outs), news, provider.DIFF_KEYS) == ["attributes.type"]

    # Out-of-band delete: refresh says gone.
    assert double.call("DELETE", f"/api/saved_objects/data-connection/{names.DATA_CONNECTION_ID}").status_code == 200
    gone = provider.read(created.id, roundtrip(updated.outs))
    assert not gone.id

    # Create adopts an existing object; delete removes it and tolerates absence.
    provider.create(news)
    provider.create(news)
    provider.delete(created.id, roundtrip(updated.outs))
    assert double.call("GET", f"/api/saved_objects/data-connection/{names.DATA_CONNECTION_ID}").status_code == 404
    provider.delete(created.id, roundtrip(updated.outs))


def test_data_connection_check_rejects_bad_inputs():
    result = dp.DataConnectionProvider().check(
        {}, {"url": "localhost:5601", "object_id": "bad id", "attributes": {"connectionId": "", "type": "Prometheus"}}
    )
    assert {f.property for f in result.failures} == {"url", "object_id", "attributes.connectionId"}


def test_data_connection_create_whose_answer_is_lost_is_read_back_not_resent(dashboards_double):
    double = dashboards_double
    path = f"/api/saved_objects/data-connection/{names.DATA_CONNECTION_ID}"
    proxy = AnswerDroppingProxy(double.url, "POST", path)
    try:
        created = dp.DataConnectionProvider().create(roundtrip({**data_connection_inputs(double), "url": proxy.url}))
    finally:
        proxy.close()
    # Sent once (a resend would answer 409), then read back and written in place.
    assert proxy.dropped == 1 and proxy.forwarded[("POST", path)] == 1 and proxy.forwarded[("PUT", path)] == 1
    assert created.id == names.DATA_CONNECTION_ID
    assert double.call("GET", path).json()["attributes"]["connectionId"] == names.DATASOURCE


# --------------------------------------------------------------------------- workspace


def workspace_inputs(double, *, description="Clawker observability", features=("use-case-all",),
                     data_connections=(names.DATA_CONNECTION_ID,)) -> dict:
    return {
        **base(double),
        "attributes": {"name": names.WORKSPACE, "description": description, "features": list(features)},
        "settings": {"dataConnections": list(data_connections)},
    }


def create_workspace(double):
    create_data_connection(double)
    provider = dp.WorkspaceProvider()
    inputs = roundtrip(workspace_inputs(double))
    assert provider.check({}, inputs).failures == []
    created = provider.create(inputs)
    return provider, inputs, created


def linked_workspaces(double, conn_id=names.DATA_CONNECTION_ID) -> list:
    return double.call("GET", f"/api/saved_objects/data-connection/{conn_id}").json().get("workspaces") or []


def test_workspace_lifecycle(dashboards_double):
    double = dashboards_double
    provider, inputs, created = create_workspace(double)
    ws_id = created.id
    body = double.call("GET", f"/api/workspaces/{ws_id}").json()
    assert body["success"] is True
    assert body["result"]["name"] == names.WORKSPACE
    assert body["result"]["features"] == ["use-case-all"]
    assert linked_workspaces(double) == [ws_id]
    assert created.outs["workspace_id"] == ws_id

    assert_no_changes(provider, ws_id, created.outs, inputs)
    refreshed = provider.read(ws_id, roundtrip(created.outs))
    assert refreshed.id == ws_id
    assert refreshed.outs["settings"] == {"dataConnections": [names.DATA_CONNECTION_ID]}
    assert_no_changes(provider, ws_id, refreshed.outs, inputs)

    # Update in place: description, and the data connections it lists.
    dp.DataConnectionProvider().create(roundtrip({**data_connection_inputs(double), "object_id": "second-conn"}))
    news = roundtrip(workspace_inputs(double, description="changed",
                                      data_connections=("second-conn",)))
    paths = dp.document_changes(
        provider._normalised(roundtrip(refreshed.outs)), provider._normalised(news), provider.DIFF_KEYS
    )
    assert paths == ["attributes.description", "settings.dataConnections[0]"]
    assert provider.diff(ws_id, roundtrip(refreshed.outs), news).changes is True
    updated = provider.update(ws_id, roundtrip(refreshed.outs), news)
    assert double.call("GET", f"/api/workspaces/{ws_id}").json()["result"]["description"] == "changed"
    assert linked_workspaces(double) == []
    assert linked_workspaces(double, "second-conn") == [ws_id]
    after = provider.read(ws_id, roundtrip(updated.outs))
    assert_no_changes(provider, ws_id, after.outs, news)

    # Out-of-band edit is seen on refresh.
    double.call("PUT", f"/api/workspaces/{ws_id}", {
        "attributes": {"name": names.WORKSPACE, "description": "edited by hand", "features": ["use-case-observability"]},
        "settings": {"dataConnections": ["second-conn"]},
    })
    drifted = provider.read(ws_id, roundtrip(updated.outs))
    assert drifted.outs["attributes"]["features"] == ["use-case-observability"]
    assert provider.diff(ws_id, roundtrip(drifted.outs), news).changes is True

    # Out-of-band delete: gone on refresh; delete tolerates it.
    assert double.call("DELETE", f"/api/workspaces/{ws_id}").json()["success"] is True
    assert not provider.read(ws_id, roundtrip(updated.outs)).id
    provider.delete(ws_id, roundtrip(updated.outs))

    # Create again, then delete for real.
    again = provider.create(news)
    assert again.id != ws_id
    provider.delete(again.id, roundtrip(again.outs))
    listed = double.call("POST", "/api/workspaces/_list", {}).json()["result"]["workspaces"]
    assert listed == []


def test_workspace_found_by_exact_name_is_adopted(dashboards_double):
    double = dashboards_double
    create_data_connection(double)
    for name in ("Clawker-staging", names.WORKSPACE):
        double.call("POST", "/api/workspaces", {"attributes": {"name": name, "features": ["use-case-essentials"]},
                                                "settings": {}})
    existing = {
        ws["name"]: ws["id"] for ws in double.call("POST", "/api/workspaces/_list", {}).json()["result"]["workspaces"]
    }
    provider = dp.WorkspaceProvider()
    inputs = roundtrip(workspace_inputs(double))
    created = provider.create(inputs)
    assert created.id == existing[names.WORKSPACE]
    body = double.call("GET", f"/api/workspaces/{created.id}").json()["result"]
    assert body["features"] == ["use-case-all"]
    assert linked_workspaces(double) == [created.id]
    assert len(double.call("POST", "/api/workspaces/_list", {}).json()["result"]["workspaces"]) == 2
    assert_no_changes(provider, created.id, provider.read(created.id, roundtrip(created.outs)).outs, inputs)


def test_workspace_failure_inside_a_200_answer_is_an_error(dashboards_double):
    # No data-connection exists: Dashboards answers 200 {success: false, error}.
    provider = dp.WorkspaceProvider()
    with pytest.raises(dp.DashboardsError, match="creating workspace 'Clawker' failed: "):
        provider.create(roundtrip(workspace_inputs(dashboards_double)))


def _workspaces_named(double, name: str) -> list:
    listed = double.call("POST", "/api/workspaces/_list", {"perPage": 100}).json()["result"]["workspaces"]
    return [ws for ws in listed if ws["name"] == name]


@pytest.fixture()
def workspace_answer_lost(dashboards_double):
    """A proxy in front of the double that loses the answer to the first POST /api/workspaces."""
    proxy = AnswerDroppingProxy(dashboards_double.url, "POST", "/api/workspaces")
    yield proxy
    proxy.close()


def test_workspace_create_whose_answer_is_lost_adopts_the_workspace_it_made(dashboards_double, workspace_answer_lost):
    double, proxy = dashboards_double, workspace_answer_lost
    create_data_connection(double)
    inputs = roundtrip({**workspace_inputs(double), "url": proxy.url})
    created = dp.WorkspaceProvider().create(inputs)
    assert proxy.dropped == 1 and proxy.forwarded[("POST", "/api/workspaces")] == 1
    made = _workspaces_named(double, names.WORKSPACE)
    assert [ws["id"] for ws in made] == [created.id]
    assert linked_workspaces(double) == [created.id]
    assert created.outs["settings"] == {"dataConnections": [names.DATA_CONNECTION_ID]}


def test_control_workspace_create_resent_after_a_lost_answer_fails_name_already_used(
    dashboards_double, workspace_answer_lost, monkeypatch
):
    # The old client resent every POST: the second create meets the first one's workspace.
    double, proxy = dashboards_double, workspace_answer_lost
    create_data_connection(double)
    real_request = ApiClient.request

    def resend_everything(self, method, path, **kwargs):
        return real_request(self, method, path, **{**kwargs, "idempotent": True})

    monkeypatch.setattr(ApiClient, "request", resend_everything)
    inputs = roundtrip({**workspace_inputs(double), "url": proxy.url})
    with pytest.raises(dp.DashboardsError, match="workspace name has already been used"):
        dp.WorkspaceProvider().create(inputs)
    assert proxy.forwarded[("POST", "/api/workspaces")] == 2
    assert len(_workspaces_named(double, names.WORKSPACE)) == 1


def test_workspace_lost_answer_with_a_different_workspace_of_that_name_is_an_error(
    dashboards_double, workspace_answer_lost, monkeypatch
):
    # Someone else's workspace of that name appears between the lookup and the create (whose
    # "name already used" answer is lost): it differs from the one asked for, so it is not adopted.
    double, proxy = dashboards_double, workspace_answer_lost
    create_data_connection(double)
    double.call("POST", "/api/workspaces", {"attributes": {"name": names.WORKSPACE, "features": ["use-case-essentials"]},
                                            "settings": {}})
    real_find = dp.WorkspaceProvider.find_by_name
    lookups = []

    def find_missing_it_once(client, name):
        lookups.append(name)
        return None if len(lookups) == 1 else real_find(client, name)

    monkeypatch.setattr(dp.WorkspaceProvider, "find_by_name", staticmethod(find_missing_it_once))
    with pytest.raises(dp.DashboardsError, match=r"differs from the one asked for .*features: \['use-case-essentials'\] \(asked \['use-case-all'\]\)"):
        dp.WorkspaceProvider().create(roundtrip({**workspace_inputs(double), "url": proxy.url}))
    assert proxy.forwarded[("POST", "/api/workspaces")] == 1 and len(lookups) == 2
    assert [ws["features"] for ws in _workspaces_named(double, names.WORKSPACE)] == [["use-case-essentials"]]


def test_workspace_check_rejects_bad_inputs():
    result = dp.WorkspaceProvider().check({}, {
        "url": "http://x:5601",
        "attributes": {"name": " ", "features": ["use-case-all", "use-case-search"]},
        "settings": {"dataConnections": "clawker-prometheus-conn"},
    })
    assert {f.property for f in result.failures} == {"attributes.name", "attributes.features", "settings.dataConnections"}


# --------------------------------------------------------------------------- explore objects

EXPLORE, IMPORTED = dp.split_bundle(dp.load_saved_objects())


def explore_inputs(double, ws_id: str, so: dict) -> dict:
    return {
        **base(double),
        "workspace_id": ws_id,
        "object_id": so["id"],
        "attributes": copy.deepcopy(so["attributes"]),
        "references": copy.deepcopy(so["references"]),
    }


def test_explore_object_lifecycle(dashboards_double):
    """The per-object resource of stacks written before the explore collections."""
    double = dashboards_double
    _, _, ws = create_workspace(double)
    # An id this release does not ship (the delete of a shipped one is the next test's).
    so = {**EXPLORE[0], "id": "clawker-legacy-only-panel"}
    provider = dp.ExploreObjectProvider()
    inputs = roundtrip(explore_inputs(double, ws.id, so))
    assert provider.check({}, inputs).failures == []
    created = provider.create(inputs)
    assert created.id == so["id"]
    path = f"/w/{ws.id}/api/saved_objects/explore/{so['id']}"
    live = double.call("GET", path).json()
    assert live["workspaces"] == [ws.id]
    assert isinstance(live["attributes"]["visualization"], str)
    assert json.loads(live["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])["query"]["language"] == "PROMQL"
    # gridData-style integers stay integers on the wire after the float round trip.
    assert '"hits":0' in json.dumps(live["attributes"], separators=(",", ":"))

    assert_no_changes(provider, created.id, created.outs, inputs)
    refreshed = provider.read(created.id, roundtrip(created.outs))
    assert refreshed.id == created.id
    assert_no_changes(provider, created.id, refreshed.outs, inputs)

    # Update in place: a changed query is a field-level change.
    changed = copy.deepcopy(so)
    changed["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"]["query"]["query"] = "sum(claude_code_commit_count_total)"
    news = roundtrip(explore_inputs(double, ws.id, changed))
    olds = roundtrip(refreshed.outs)
    assert dp.document_changes(
        dp._normalised_so_props("explore", olds), dp._normalised_so_props("explore", news), provider.DIFF_KEYS
    ) == ["attributes.kibanaSavedObjectMeta.searchSourceJSON.query.query"]
    assert provider.diff(created.id, olds, news).changes is True
    updated = provider.update(created.id, olds, news)
    live = double.call("GET", path).json()
    assert "claude_code_commit_count_total" in live["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"]
    assert_no_changes(provider, created.id, provider.read(created.id, roundtrip(updated.outs)).outs, news)

    # Out-of-band delete: gone on refresh.
    assert double.call("DELETE", path).status_code == 200
    assert not provider.read(created.id, roundtrip(updated.outs)).id

    # Recreate, move to another workspace by update, then delete.
    provider.create(news)
    other = double.call("POST", "/api/workspaces", {"attributes": {"name": "Other", "features": ["use-case-all"]},
                                                    "settings": {}}).json()["result"]["id"]
    moved_inputs = roundtrip({**news, "workspace_id": other})
    moved = provider.update(created.id, roundtrip(updated.outs), moved_inputs)
    assert double.call("GET", path).status_code == 403  # lives in the other workspace now
    assert double.call("GET", f"/w/{other}/api/saved_objects/explore/{so['id']}").status_code == 200
    provider.delete(created.id, roundtrip(moved.outs))
    assert double.call("GET", f"/w/{other}/api/saved_objects/explore/{so['id']}").status_code == 404
    provider.delete(created.id, roundtrip(moved.outs))


def test_upgrade_forgets_a_per_object_explore_resource_its_collection_now_holds(dashboards_double):
    """On upgrade the engine deletes every per-object explore resource after the unit's collection
    wrote the same objects (it adopts one old resource per new one at most); with the purge
    setting that delete reaches the provider, which must not undo the collection's write."""
    double = dashboards_double
    _, _, ws = create_workspace(double)
    shipped, unshipped = EXPLORE[0], {**EXPLORE[0], "id": "clawker-legacy-only-panel"}
    legacy = dp.ExploreObjectProvider()
    olds = [legacy.create(roundtrip(explore_inputs(double, ws.id, so))) for so in (shipped, unshipped)]
    collection = dp.ExploreCollectionProvider()
    collection.create(roundtrip(collection_inputs(double, ws.id, [shipped])))
    for created in olds:
        legacy.delete(created.id, roundtrip(created.outs))
    path = f"/w/{ws.id}/api/saved_objects/explore/{{}}"
    assert double.call("GET", path.format(shipped["id"])).status_code == 200
    # Negative control: an object no collection of this release holds is deleted as before.
    assert double.call("GET", path.format(unshipped["id"])).status_code == 404


def collection_inputs(double, ws_id: str, objects: list[dict]) -> dict:
    return {
        **base(double),
        "workspace_id": ws_id,
        # One JSON text per object, as ExploreCollection hands them to the engine (issue 21).
        "objects": text_documents.encode_members({
            dp.object_key(so): {"attributes": copy.deepcopy(so["attributes"]), "references": copy.deepcopy(so["references"])}
            for so in objects
        }),
    }


def test_explore_collection_lifecycle(dashboards_double):
    """One resource for a unit's explore objects (issue 21): create writes each, the diff names
    the object and the field, update writes what changed and deletes what left, refresh sees
    an object deleted out of band, a new workspace moves them all, delete removes them."""
    double = dashboards_double
    _, _, ws = create_workspace(double)
    provider = dp.ExploreCollectionProvider()
    first, second, third = EXPLORE[:3]
    inputs = roundtrip(collection_inputs(double, ws.id, [first, second]))
    assert provider.check({}, inputs).failures == []
    created = provider.create(inputs)
    path = f"/w/{ws.id}/api/saved_objects/explore/{{}}"
    for so in (first, second):
        live = double.call("GET", path.format(so["id"])).json()
        assert live["workspaces"] == [ws.id]
        assert isinstance(live["attributes"]["visualization"], str)  # JSON text on the wire
        assert live["attributes"]["title"] == so["attributes"]["title"]
    assert_no_changes(provider, created.id, created.outs, inputs)
    refreshed = provider.read(created.id, roundtrip(created.outs))
    assert refreshed.id == created.id
    assert_no_changes(provider, created.id, refreshed.outs, inputs)

    # A changed query and a new object: the diff names both; update writes them, nothing else.
    changed = copy.deepcopy(first)
    changed["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"]["query"]["query"] = "sum(claude_code_commit_count_total)"
    news = roundtrip(collection_inputs(double, ws.id, [changed, second, third]))
    olds = roundtrip(refreshed.outs)
    assert dp.document_changes(normalised(provider, olds), normalised(provider, news), provider.DIFF_KEYS) == [
        f"objects.explore/{first['id']}.attributes.kibanaSavedObjectMeta.searchSourceJSON.query.query",
        f"objects.explore/{third['id']}",
    ]
    assert provider.diff(created.id, olds, news).changes is True
    before = double.call("GET", path.format(second["id"])).json()["updated_at"]
    updated = provider.update(created.id, olds, news)
    assert "claude_code_commit_count_total" in json.dumps(double.call("GET", path.format(first["id"])).json())
    assert double.call("GET", path.format(third["id"])).status_code == 200
    assert double.call("GET", path.format(second["id"])).json()["updated_at"] == before  # unchanged: not rewritten
    assert_no_changes(provider, created.id, provider.read(created.id, roundtrip(updated.outs)).outs, news)

    # An object dropped from the collection is deleted from Dashboards on update.
    fewer = roundtrip(collection_inputs(double, ws.id, [changed, third]))
    provider.update(created.id, roundtrip(updated.outs), fewer)
    assert double.call("GET", path.format(second["id"])).status_code == 404

    # Out-of-band delete: refresh drops that object (the next diff plans writing it again); all gone: gone.
    assert double.call("DELETE", path.format(third["id"])).status_code == 200
    read = provider.read(created.id, roundtrip(fewer))
    assert set(read.outs["objects"]) == {f"explore/{first['id']}"}
    assert provider.diff(created.id, roundtrip(read.outs), fewer).changes is True

    # Move to another workspace by update, then delete.
    provider.update(created.id, roundtrip(read.outs), fewer)
    other = double.call("POST", "/api/workspaces", {"attributes": {"name": "Other", "features": ["use-case-all"]},
                                                    "settings": {}}).json()["result"]["id"]
    moved_inputs = roundtrip({**fewer, "workspace_id": other})
    moved = provider.update(created.id, fewer, moved_inputs)
    for so in (first, third):
        assert double.call("GET", path.format(so["id"])).status_code == 403  # lives in the other workspace now
        assert double.call("GET", f"/w/{other}/api/saved_objects/explore/{so['id']}").status_code == 200
    provider.delete(created.id, roundtrip(moved.outs))
    for so in (first, third):
        assert double.call("GET", f"/w/{other}/api/saved_objects/explore/{so['id']}").status_code == 404
    assert not provider.read(created.id, roundtrip(moved.outs)).id
    provider.delete(created.id, roundtrip(moved.outs))


def test_explore_collection_writes_in_one_bulk_create_and_fails_naming_each_refused_object(dashboards_double):
    """A collection writes its objects in one `_bulk_create` (issue 21: one request and one
    write into Dashboards' index instead of one per object); Dashboards answers 200 whatever
    failed, so an object it refused (here: one that lives in another workspace) fails the
    step with that object named, and the others are written."""
    double = dashboards_double
    _, _, ws = create_workspace(double)
    other = double.call("POST", "/api/workspaces", {"attributes": {"name": "Elsewhere", "features": ["use-case-all"]},
                                                    "settings": {}}).json()["result"]["id"]
    first, second = EXPLORE[:2]
    assert double.call("POST", f"/w/{other}/api/saved_objects/explore/{second['id']}",
                       {"attributes": {"title": "theirs"}}).status_code == 200
    provider = dp.ExploreCollectionProvider()
    with pytest.raises(dp.DashboardsError) as failed:
        provider.create(roundtrip(collection_inputs(double, ws.id, [first, second])))
    assert f"explore/{second['id']}: 409" in str(failed.value) and "1 of 2" in str(failed.value)
    assert double.call("GET", f"/w/{ws.id}/api/saved_objects/explore/{first['id']}").status_code == 200
    assert double.call("GET", f"/w/{other}/api/saved_objects/explore/{second['id']}").json()["attributes"]["title"] == "theirs"


def test_explore_collection_splits_a_bulk_create_above_the_payload_budget(dashboards_double, monkeypatch):
    """Dashboards refuses a request body above server.maxPayloadBytes: a collection whose objects
    exceed the budget is written in several `_bulk_create` requests, each below it, and every
    object is written."""
    from components.providers.dashboards import explore

    double = dashboards_double
    _, _, ws = create_workspace(double)
    objects = EXPLORE[:3]
    one = max(len(json.dumps(so)) for so in objects)
    monkeypatch.setattr(explore, "BULK_CREATE_BYTES", one + 1)  # room for one object per request
    bodies = []
    real = ApiClient.request

    def counting(self, method, path, **kw):
        if path.endswith("/_bulk_create"):
            bodies.append(kw.get("json_body"))
        return real(self, method, path, **kw)

    monkeypatch.setattr(ApiClient, "request", counting)
    dp.ExploreCollectionProvider().create(roundtrip(collection_inputs(double, ws.id, objects)))
    assert len(bodies) == len(objects) and all(len(b) == 1 for b in bodies)
    for so in objects:
        assert double.call("GET", f"/w/{ws.id}/api/saved_objects/explore/{so['id']}").status_code == 200


def test_explore_collection_check_names_the_object_and_field():
    news = {"url": "http://127.0.0.1:5601", "workspace_id": "ws", "objects": {
        "explore/ok": {"attributes": EXPLORE[0]["attributes"], "references": EXPLORE[0]["references"]},
        "explore/untitled": {"attributes": {**EXPLORE[0]["attributes"], "title": ""}, "references": []},
        "visualization/x": {"attributes": EXPLORE[0]["attributes"], "references": []},
    }}
    failures = {f.property: f.reason for f in dp.ExploreCollectionProvider().check({}, news).failures}
    assert set(failures) == {"objects['explore/untitled'].attributes.title", "objects['visualization/x']"}
    assert "explore/<id>" in failures["objects['visualization/x']"]
    empty = dp.ExploreCollectionProvider().check({}, {**news, "objects": {}}).failures
    assert [f.property for f in empty] == ["objects"]


# --------------------------------------------------------------------------- imported bundle


def bundle_inputs(double, ws_id: str, objects=None) -> dict:
    objects = IMPORTED if objects is None else objects
    return {
        **base(double),
        "workspace_id": ws_id,
        "external_references": sorted(dp.object_key(so) for so in EXPLORE),
        # One JSON text per object, as SavedObjectBundle hands them to the engine (issue 21).
        "objects": text_documents.encode_members({dp.object_key(so): dp.declared_object(so) for so in objects}),
    }


def setup_workspace_with_explore(double):
    _, _, ws = create_workspace(double)
    dp.ExploreCollectionProvider().create(roundtrip(collection_inputs(double, ws.id, EXPLORE)))
    return ws.id


def test_bundle_lifecycle(dashboards_double):
    double = dashboards_double
    ws_id = setup_workspace_with_explore(double)
    provider = dp.SavedObjectBundleProvider()
    inputs = roundtrip(bundle_inputs(double, ws_id))
    assert provider.check({}, inputs).failures == []
    created = provider.create(inputs)
    for so in IMPORTED:
        live = double.call("GET", f"/w/{ws_id}/api/saved_objects/{so['type']}/{so['id']}")
        assert live.status_code == 200, dp.object_key(so)
        assert live.json()["workspaces"] == [ws_id]
    dash = double.call("GET", f"/w/{ws_id}/api/saved_objects/dashboard/{catalogue.DASHBOARD_COST_USAGE}").json()
    panels = json.loads(dash["attributes"]["panelsJSON"])
    assert all(isinstance(p["gridData"]["w"], int) for p in panels)

    assert_no_changes(provider, created.id, created.outs, inputs)
    refreshed = provider.read(created.id, roundtrip(created.outs))
    assert refreshed.id == created.id
    assert_no_changes(provider, created.id, refreshed.outs, inputs)

    # Update in place: retitle a dashboard and drop one object from the program.
    dropped = next(so for so in IMPORTED if so["id"] == "clawker-net-ebpf-events")
    kept = [copy.deepcopy(so) for so in IMPORTED if so is not dropped]
    net = next(so for so in kept if so["id"] == catalogue.DASHBOARD_NETWORKING)
    net["attributes"]["title"] = "Clawker Networking (edited)"
    net["attributes"]["panelsJSON"] = [p for p in net["attributes"]["panelsJSON"] if p["panelRefName"] != "panel_6"]
    net["references"] = [r for r in net["references"] if r["name"] != "panel_6"]
    news = roundtrip(bundle_inputs(double, ws_id, kept))
    olds = roundtrip(refreshed.outs)
    paths = dp.document_changes(normalised(provider, olds), normalised(provider, news), provider.DIFF_KEYS)
    assert "objects.dashboard/clawker-net.attributes.title" in paths
    assert "objects.search/clawker-net-ebpf-events" in paths
    updated = provider.update(created.id, olds, news)
    assert double.call("GET", f"/w/{ws_id}/api/saved_objects/search/clawker-net-ebpf-events").status_code == 404
    dash = double.call("GET", f"/w/{ws_id}/api/saved_objects/dashboard/{catalogue.DASHBOARD_NETWORKING}").json()
    assert dash["attributes"]["title"] == "Clawker Networking (edited)"
    assert_no_changes(provider, created.id, provider.read(created.id, roundtrip(updated.outs)).outs, news)

    # Out-of-band: one object deleted -> refresh reports it missing, so the next up re-imports it.
    double.call("DELETE", f"/w/{ws_id}/api/saved_objects/visualization/clawker-net-envoy-actions")
    partial = provider.read(created.id, roundtrip(updated.outs))
    assert partial.id == created.id
    assert "visualization/clawker-net-envoy-actions" not in partial.outs["objects"]
    assert provider.diff(created.id, roundtrip(partial.outs), news).changes is True
    provider.update(created.id, roundtrip(partial.outs), news)
    assert double.call("GET", f"/w/{ws_id}/api/saved_objects/visualization/clawker-net-envoy-actions").status_code == 200

    # Out-of-band: every object deleted -> gone.
    for key in news["objects"]:
        double.call("DELETE", f"/w/{ws_id}/api/saved_objects/{key}")
    assert not provider.read(created.id, roundtrip(updated.outs)).id

    # Delete removes every object and tolerates those already gone.
    provider.create(news)
    provider.delete(created.id, roundtrip(updated.outs))
    for key in news["objects"]:
        assert double.call("GET", f"/w/{ws_id}/api/saved_objects/{key}").status_code == 404, key
    provider.delete(created.id, roundtrip(updated.outs))


@pytest.mark.parametrize("unit_bundle_first", [True, False], ids=["unit-bundle-created-first", "core-bundle-updated-first"])
def test_objects_moved_to_a_units_bundle_are_handed_over_not_deleted(dashboards_double, unit_bundle_first):
    """The upgrade to units: one bundle held the core's and claude-code's objects; now the core
    bundle drops claude-code's (listing them as handed_over) and claude-code's own bundle
    imports them. Whichever the engine runs first, they stay; the control, the same update
    without handed_over, deletes them (what happened to them without it)."""
    double = dashboards_double
    ws_id = setup_workspace_with_explore(double)
    provider = dp.SavedObjectBundleProvider()
    core_keys = {dp.object_key(so) for so in units.core_saved_objects()}
    core = [so for so in IMPORTED if dp.object_key(so) in core_keys]
    moved = [so for so in IMPORTED if dp.object_key(so) not in core_keys]
    moved_keys = sorted(dp.object_key(so) for so in moved)
    assert moved and "dashboard/" + catalogue.DASHBOARD_COST_USAGE in moved_keys
    old = provider.create(roundtrip(bundle_inputs(double, ws_id)))
    unit_inputs = roundtrip({**bundle_inputs(double, ws_id, moved), "external_references": sorted(
        [dp.object_key(so) for so in EXPLORE] + sorted(core_keys))})
    core_inputs = roundtrip({**bundle_inputs(double, ws_id, core), "handed_over": moved_keys})

    def live(key):
        return double.call("GET", f"/w/{ws_id}/api/saved_objects/{key}").status_code

    if unit_bundle_first:
        provider.create(unit_inputs)
        provider.update(old.id, roundtrip(old.outs), core_inputs)
    else:
        provider.update(old.id, roundtrip(old.outs), core_inputs)
        provider.create(unit_inputs)
    assert [key for key in moved_keys if live(key) != 200] == []
    assert all(live(key) == 200 for key in core_keys if not key.startswith("explore/"))
    # Control: without handed_over the core bundle's update deletes what the unit's bundle holds.
    restored = provider.create(roundtrip(bundle_inputs(double, ws_id)))
    provider.update(restored.id, roundtrip(restored.outs), roundtrip(bundle_inputs(double, ws_id, core)))
    assert [key for key in moved_keys if live(key) != 404] == []


def test_bundle_import_fails_loudly_on_a_per_object_error(dashboards_double):
    double = dashboards_double
    ws_id = setup_workspace_with_explore(double)
    broken = copy.deepcopy(next(so for so in IMPORTED if so["id"] == "clawker-net-envoy-events"))
    broken["references"][0]["id"] = "no-such-index"
    objects = [broken] + [so for so in IMPORTED if so["type"] != "index-pattern" and so["id"] != broken["id"]
                          and so["type"] != "dashboard"]
    provider = dp.SavedObjectBundleProvider()
    inputs = roundtrip({**bundle_inputs(double, ws_id, objects), "external_references": []})
    with pytest.raises(dp.DashboardsError) as err:
        provider._import(dp._client(inputs), ws_id, text_documents.decode_members(inputs["objects"]))
    message = str(err.value)
    assert "search/clawker-net-envoy-events ('Envoy events'): missing_references" in message
    assert "index-pattern/no-such-index" in message


def test_bundle_import_refuses_copies_of_objects_from_another_workspace(dashboards_double):
    double = dashboards_double
    ws_id = setup_workspace_with_explore(double)
    other = double.call("POST", "/api/workspaces", {"attributes": {"name": "Other", "features": ["use-case-all"]},
                                                    "settings": {}}).json()["result"]["id"]
    pattern = next(so for so in IMPORTED if so["id"] == "clawker-envoy")
    provider = dp.SavedObjectBundleProvider()
    provider.create(roundtrip(bundle_inputs(double, other, [pattern])))
    with pytest.raises(dp.DashboardsError, match="index-pattern/clawker-envoy"):
        provider.create(roundtrip(bundle_inputs(double, ws_id, [pattern])))


def test_bundle_check_names_unresolved_references():
    so = copy.deepcopy(next(s for s in IMPORTED if s["id"] == catalogue.DASHBOARD_COST_USAGE))
    result = dp.SavedObjectBundleProvider().check({}, {
        "url": "http://x:5601", "workspace_id": "abc", "external_references": [], "objects": {dp.object_key(so): so},
    })
    reasons = " ".join(f.reason for f in result.failures)
    assert "explore/clawker-cc-usage-total-cost" in reasons
    assert "visualization/clawker-cc-usage-sessions" in reasons


# --------------------------------------------------------------------------- readiness


def test_readiness_wait_is_bounded_and_says_what_it_waited_for():
    provider = dp.DataConnectionProvider()
    props = {"url": "http://127.0.0.1:1", "ready_timeout_s": 2, "object_id": "x",
             "attributes": {"connectionId": "c", "type": "Prometheus"}}
    started = time.monotonic()
    with pytest.raises(ApiError, match=r"OpenSearch Dashboards .* was not ready at http://127.0.0.1:1/api/status within 2s"):
        provider.create(props)
    # The bound is the behaviour under test; a generous multiple of it (a wait without the bound
    # would never end: nothing listens on port 1), not a measure of speed.
    assert time.monotonic() - started < 5 * 2


def test_every_request_carries_osd_xsrf(dashboards_double, monkeypatch):
    """Dashboards refuses writes without the header; every call the providers make sends it."""
    import requests

    double = dashboards_double
    bare = requests.post(double.url + "/api/workspaces/_list", json={}, timeout=5)
    assert bare.status_code == 400 and "osd-xsrf" in bare.text

    seen = []
    original = requests.Session.send

    def recording_send(self, request, **kwargs):
        seen.append((request.method, request.url, request.headers.get("osd-xsrf")))
        return original(self, request, **kwargs)

    monkeypatch.setattr(requests.Session, "send", recording_send)
    ws_id = setup_workspace_with_explore(double)
    dp.SavedObjectBundleProvider().create(roundtrip(bundle_inputs(double, ws_id)))
    assert {m for m, _, _ in seen} >= {"GET", "POST"}
    assert [(m, u) for m, u, h in seen if h != "true"] == []


# --------------------------------------------------------------------------- destroy without purge


USER_VIS_ID = "my-own-latency-panel"


def users_visualization(double, ws_id: str) -> dict:
    """A visualization a user saved in the workspace, as Dashboards' UI saves it (JSON-text fields)."""
    answer = double.call("POST", f"/w/{ws_id}/api/saved_objects/visualization/{USER_VIS_ID}", {
        "attributes": {
            "title": "My Envoy latency",
            "visState": json.dumps({"title": "My Envoy latency", "type": "line", "params": {}, "aggs": []}),
            "uiStateJSON": "{}",
            "description": "",
            "kibanaSavedObjectMeta": {"searchSourceJSON": json.dumps(
                {"query": {"query": "", "language": "kuery"}, "filter": [],
                 "indexRefName": "kibanaSavedObjectMeta.searchSourceJSON.index"})},
        },
        "references": [{"name": "kibanaSavedObjectMeta.searchSourceJSON.index", "type": "index-pattern",
                        "id": "clawker-envoy"}],
    })
    assert answer.status_code == 200, answer.text
    return answer.json()


def up(double, objects=None):
    """What `pulumi up` does with the Dashboards assets, resource by resource (new providers).

    objects: the bundle's saved objects (default: this release's, IMPORTED)."""
    conn = dp.DataConnectionProvider().create(roundtrip(data_connection_inputs(double)))
    ws_inputs = roundtrip(workspace_inputs(double))
    ws = dp.WorkspaceProvider().create(ws_inputs)
    explore_in = roundtrip(collection_inputs(double, ws.id, EXPLORE))
    explore = [(dp.ExploreCollectionProvider(), explore_in, dp.ExploreCollectionProvider().create(explore_in))]
    bundle_in = roundtrip(bundle_inputs(double, ws.id, objects))
    bundle = dp.SavedObjectBundleProvider().create(bundle_in)
    return {"conn": conn, "ws": ws, "ws_inputs": ws_inputs, "explore": explore,
            "bundle": bundle, "bundle_inputs": bundle_in}


def workspace_objects(double, ws_id: str) -> dict:
    types = ["visualization", "dashboard", "search", "index-pattern", "explore"]
    query = "&".join(f"type={t}" for t in types)
    found = double.call("GET", f"/w/{ws_id}/api/saved_objects/_find?{query}&per_page=1000").json()
    return {dp.object_key(so): so for so in found["saved_objects"]}


def test_destroy_without_purge_keeps_the_users_objects_and_the_next_up_adopts_everything(dashboards_double):
    double = dashboards_double
    first = up(double)
    ws_id = first["ws"].id
    mine = users_visualization(double, ws_id)
    before = workspace_objects(double, ws_id)
    assert f"visualization/{USER_VIS_ID}" in before
    assert len(before) == len(EXPLORE) + len(IMPORTED) + 1

    # `pulumi destroy` without purge: every Dashboards asset is retain_on_delete, so the
    # engine calls no delete; the Dashboards container goes, its data stays in OpenSearch.
    double.replace()

    # The next `pulumi up` starts from empty state: every resource is created again.
    second = up(double)
    assert second["ws"].id == ws_id, "the workspace was not adopted by name"
    after = workspace_objects(double, ws_id)
    assert sorted(after) == sorted(before), "objects appeared or vanished (copies under new ids?)"
    kept = after[f"visualization/{USER_VIS_ID}"]
    assert kept["attributes"] == mine["attributes"] and kept["references"] == mine["references"]
    assert kept["version"] == mine["version"], "the user's visualization was rewritten"
    names_listed = [w["name"] for w in double.call("POST", "/api/workspaces/_list", {}).json()["result"]["workspaces"]]
    assert names_listed == [names.WORKSPACE]
    assert linked_workspaces(double) == [ws_id]

    # Converged: a refresh of every adopted resource shows no change against the program.
    ws_provider = dp.WorkspaceProvider()
    assert_no_changes(ws_provider, ws_id, ws_provider.read(ws_id, roundtrip(second["ws"].outs)).outs,
                      second["ws_inputs"])
    for provider, inputs, created in second["explore"]:
        assert_no_changes(provider, created.id, provider.read(created.id, roundtrip(created.outs)).outs, inputs)
    bundle_provider = dp.SavedObjectBundleProvider()
    refreshed = bundle_provider.read(second["bundle"].id, roundtrip(second["bundle"].outs))
    assert_no_changes(bundle_provider, second["bundle"].id, refreshed.outs, second["bundle_inputs"])

    # Negative control, the behaviour before: a destroy that deletes the workspace takes
    # the user's visualization with it (Dashboards' cascade, modelled by the double).
    ws_provider.delete(ws_id, roundtrip(second["ws"].outs))
    assert double.call("GET", f"/api/saved_objects/visualization/{USER_VIS_ID}").status_code == 404
    raw = double.node.call("GET", f".kibana/_doc/visualization:{USER_VIS_ID}")
    assert raw.status_code == 404, raw.text


def release_without(object_id: str) -> list[dict]:
    """A later release's bundle: one of our objects dropped, and the references to it."""
    later = [copy.deepcopy(so) for so in IMPORTED if so["id"] != object_id]
    for so in later:
        gone = {r["name"] for r in so.get("references", []) if r["id"] == object_id}
        if gone:
            so["references"] = [r for r in so["references"] if r["name"] not in gone]
            panels = so["attributes"].get("panelsJSON")
            if isinstance(panels, list):
                so["attributes"]["panelsJSON"] = [p for p in panels if p.get("panelRefName") not in gone]
    return later


def test_an_object_a_later_release_drops_stays_after_a_destroy_until_deleted_or_purged(dashboards_double):
    """README "What `pulumi destroy` keeps": an upgrade by `pulumi up` alone deletes it (test_bundle_lifecycle);
    after a destroy without purge the next `up` has no record of the earlier release's objects and keeps it."""
    double = dashboards_double
    ws_id = up(double)["ws"].id
    dropped = next(so for so in IMPORTED if so["id"] == "clawker-net-ebpf-events")
    path = f"/w/{ws_id}/api/saved_objects/{dropped['type']}/{dropped['id']}"
    assert double.call("GET", path).status_code == 200
    double.replace()  # `pulumi destroy` without purge
    later = up(double, release_without(dropped["id"]))
    assert later["ws"].id == ws_id
    assert f"{dropped['type']}/{dropped['id']}" not in later["bundle_inputs"]["objects"]
    assert double.call("GET", path).status_code == 200, "the later release's up deleted an object it does not know"
    # Negative control: the same later release applied as an update of the earlier state deletes it.
    provider = dp.SavedObjectBundleProvider()
    olds = roundtrip(bundle_inputs(double, ws_id))
    provider.update(later["bundle"].id, olds, later["bundle_inputs"])
    assert double.call("GET", path).status_code == 404
