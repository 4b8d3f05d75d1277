"""A Dashboards resource whose state carries the camelCase input names of 7636bdc and earlier.

Issue 13 renamed the Dashboards providers' inputs to snake_case (`ready_timeout_s`,
`object_id`, `workspace_id`, `external_references`), as the OpenSearch ones are. An
existing stack's state holds the old names in inputs and outputs, and keeps its old
outputs for as long as every diff finds nothing (the engine's "same" step does not
call the provider). So each provider method must read the old names: here a state
written under them (today's outputs with the old names put back) must diff equal to
today's inputs, read, update and delete the live object, against the double. The
control shows the diff without the renaming: it would replace the object.
(The end-to-end proof is the upgrade check, tests/e2e/previous_release.py.)
"""

from __future__ import annotations

import copy

from conftest_dashboards import dashboards_double  # noqa: F401  (fixture)
from test_dashboards_providers import (
    EXPLORE,
    IMPORTED,
    assert_no_changes,
    bundle_inputs,
    create_data_connection,
    create_workspace,
    explore_inputs,
    roundtrip,
    setup_workspace_with_explore,
)

from components.providers import dashboards as dp
from components.providers import text_documents
from components.providers.dashboards.base import LEGACY_NAMES

OLD_NAME = {new: old for old, new in LEGACY_NAMES.items()}


def as_7636bdc_wrote_it(props: dict) -> dict:
    """The same property bag under the names 7636bdc used (its collections nested, not one
    JSON text per object: text_documents.py came with issue 21)."""
    legacy = {OLD_NAME.get(k, k): v for k, v in props.items()}
    if isinstance(legacy.get("objects"), dict):
        legacy["objects"] = text_documents.decode_members(legacy["objects"])
    assert legacy.keys() != props.keys(), "nothing to rename: the test would prove nothing"
    return roundtrip(legacy)


def test_current_names_renames_only_legacy_keys_and_today_wins():
    assert dp.base.current_names({"objectId": "a", "url": "u", "attributes": {"connectionId": "c"}}) == {
        "object_id": "a", "url": "u", "attributes": {"connectionId": "c"}}
    assert dp.base.current_names({"objectId": "old", "object_id": "new"}) == {"object_id": "new"}


def test_data_connection_in_a_legacy_state(dashboards_double):
    provider, inputs, created = create_data_connection(dashboards_double)
    old_state = as_7636bdc_wrote_it(created.outs)
    assert_no_changes(provider, created.id, old_state, inputs)
    # Control: without the renaming the old state has no object_id, so the id "changed".
    unrenamed = type(provider).diff.__wrapped__(provider, created.id, old_state, inputs)
    assert unrenamed.replaces == ["object_id"]
    read = provider.read(created.id, old_state)
    assert read.id == created.id and read.outs == provider.read(created.id, roundtrip(created.outs)).outs
    assert "objectId" not in read.outs and read.outs["object_id"] == created.id
    changed = roundtrip({**inputs, "attributes": {**inputs["attributes"], "meta": {"type": "Prometheus"}}})
    assert provider.diff(created.id, old_state, changed).replaces == []
    provider.update(created.id, old_state, changed)
    live = dashboards_double.call("GET", f"/api/saved_objects/data-connection/{created.id}").json()
    assert "timeFieldName" not in str(live["attributes"]["meta"])
    provider.delete(created.id, old_state)
    assert dashboards_double.call("GET", f"/api/saved_objects/data-connection/{created.id}").status_code == 404


def test_workspace_in_a_legacy_state(dashboards_double):
    provider, inputs, created = create_workspace(dashboards_double)
    old_state = as_7636bdc_wrote_it(created.outs)
    assert "workspaceId" in old_state
    assert_no_changes(provider, created.id, old_state, inputs)
    read = provider.read(created.id, old_state)
    assert read.outs["workspace_id"] == created.id and "workspaceId" not in read.outs
    assert_no_changes(provider, created.id, read.outs, inputs)
    changed = roundtrip({**inputs, "attributes": {**inputs["attributes"], "description": "edited"}})
    provider.update(created.id, old_state, changed)
    live = dashboards_double.call("GET", f"/api/workspaces/{created.id}").json()["result"]
    assert live["description"] == "edited"
    provider.delete(created.id, old_state)
    assert provider.read(created.id, old_state).id == ""


def test_explore_object_in_a_legacy_state(dashboards_double):
    _, _, ws = create_workspace(dashboards_double)
    # An id this release does not ship: the delete of a shipped one only forgets it (its unit's collection holds it).
    so = {**EXPLORE[0], "id": "clawker-legacy-only-panel"}
    provider = dp.ExploreObjectProvider()
    inputs = roundtrip(explore_inputs(dashboards_double, ws.id, so))
    created = provider.create(inputs)
    old_state = as_7636bdc_wrote_it(created.outs)
    assert_no_changes(provider, created.id, old_state, inputs)
    unrenamed = type(provider).diff.__wrapped__(provider, created.id, old_state, inputs)
    assert unrenamed.changes is True
    read = provider.read(created.id, old_state)
    assert read.id == created.id
    assert_no_changes(provider, created.id, read.outs, inputs)
    path = f"/w/{ws.id}/api/saved_objects/explore/{so['id']}"
    changed = copy.deepcopy(so)
    changed["attributes"]["title"] = "edited"
    provider.update(created.id, old_state, roundtrip(explore_inputs(dashboards_double, ws.id, changed)))
    assert dashboards_double.call("GET", path).json()["attributes"]["title"] == "edited"
    # Delete finds the object through the old state's workspaceId and objectId.
    provider.delete(created.id, old_state)
    assert dashboards_double.call("GET", path).status_code == 404


def test_bundle_in_a_legacy_state(dashboards_double):
    ws_id = setup_workspace_with_explore(dashboards_double)
    provider = dp.SavedObjectBundleProvider()
    inputs = roundtrip(bundle_inputs(dashboards_double, ws_id))
    created = provider.create(inputs)
    old_state = as_7636bdc_wrote_it(created.outs)
    assert "externalReferences" in old_state
    assert_no_changes(provider, created.id, old_state, inputs)
    read = provider.read(created.id, old_state)
    assert read.id == created.id and read.outs["workspace_id"] == ws_id
    assert_no_changes(provider, created.id, read.outs, inputs)
    dropped = IMPORTED[-1]
    kept = [so for so in IMPORTED if so is not dropped]
    provider.update(created.id, old_state, roundtrip(bundle_inputs(dashboards_double, ws_id, kept)))
    path = f"/w/{ws_id}/api/saved_objects/{dropped['type']}/{dropped['id']}"
    assert dashboards_double.call("GET", path).status_code == 404
    provider.delete(created.id, old_state)
    for so in kept:
        assert dashboards_double.call("GET", f"/w/{ws_id}/api/saved_objects/{so['type']}/{so['id']}").status_code == 404
