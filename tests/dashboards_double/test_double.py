"""Pins the OpenSearch Dashboards contract DOUBLE to Dashboards' real behaviour.

Every test asserts something a permissive double would get wrong.  The comment on each
test names the OpenSearch-Dashboards source file the behaviour comes from.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time

from dd_helpers import (SERVER_PATH, Client, Forwarder, drop_saved_objects, raw_saved_object,
                        saved_objects_indices, start, stop)
from net import free_port

GOOD_CONN = {"attributes": {"connectionId": "clawker_prometheus", "type": "Prometheus"}}



def decode_version(v: str) -> list:
    return json.loads(base64.b64decode(v))


# --------------------------------------------------------------------------- status
# src/core/server/status/routes/status.ts, src/core/server/status/legacy_status.ts
def test_status_reports_available_and_names_itself_a_double(client):
    status, body, headers = client.get("/api/status")
    assert status == 200
    assert body["version"]["number"] == "3.6.0"
    assert "double" in body["name"]
    assert body["status"]["overall"]["state"] == "green"
    assert "double" in headers["osd-name"]
    status, body, _ = client.get("/api/status?v8format=true")
    assert status == 200 and body["status"]["overall"]["level"] == "available"
    # routes are method-exact: there is no POST /api/status
    status, body, _ = client.post("/api/status", {})
    assert status == 404 and body["message"] == "Not Found"


# src/core/server/http/http_service.ts at the 3.6.0 tag (runNotReadyServer: 503 with
# Retry-After: 30 until OpenSearch answers);
# saved_objects/migrations/core/index_migrator.ts (the saved objects index is made first)
def test_not_ready_until_opensearch_answers_then_the_index_exists(node):
    port = free_port()
    srv, app = start([f"http://127.0.0.1:{port}"], wait_ready=False)
    c = Client(f"http://127.0.0.1:{srv.server_address[1]}")
    late_opensearch = Forwarder(port, node.url)
    try:
        status, body, headers = c.get("/api/status")
        assert status == 503 and body == "OpenSearch Dashboards server is not ready yet"
        assert headers.get("Retry-After") == "30"  # runNotReadyServer asks clients to come back
        status, _, headers = c.post("/api/saved_objects/data-connection/x", GOOD_CONN)
        assert status == 503 and headers.get("Retry-After") == "30"
        assert saved_objects_indices(node) == []
        late_opensearch.start()
        deadline = time.time() + 15
        while time.time() < deadline:
            status, body, _ = c.get("/api/status")
            if status == 200:
                break
            time.sleep(0.2)
        assert status == 200 and body["status"]["overall"]["state"] == "green"
        # Dashboards' layout: the concrete .kibana_1 behind the alias .kibana, strict mappings
        assert saved_objects_indices(node) == [".kibana_1"]
        aliases = node.call("GET", ".kibana_1/_alias").json()
        assert aliases == {".kibana_1": {"aliases": {".kibana": {}}}}
        mapping = node.call("GET", ".kibana_1/_mapping").json()[".kibana_1"]["mappings"]
        assert mapping["dynamic"] == "strict"
        assert mapping["properties"]["workspace"]["properties"]["name"] == {"type": "keyword"}
        assert mapping["properties"]["workspaces"] == {"type": "keyword"}
    finally:
        stop(srv, app)
        late_opensearch.close()


# --------------------------------------------------------------------------- xsrf
# src/core/server/http/lifecycle_handlers.ts
def test_write_without_osd_xsrf_is_rejected_and_changes_nothing(client):
    status, body, _ = client.post("/api/saved_objects/data-connection/c1", GOOD_CONN, xsrf=False)
    assert status == 400
    assert body["message"] == "Request must contain a osd-xsrf header."
    assert client.get("/api/saved_objects/data-connection/c1")[0] == 404
    for method in ("PUT", "DELETE"):
        status, body, _ = client.call(method, "/api/saved_objects/data-connection/c1",
                                      GOOD_CONN if method == "PUT" else None, xsrf=False)
        assert status == 400, method
    status, _, _ = client.post("/api/workspaces/_list", {}, xsrf=False)
    assert status == 400
    # GET needs no header; osd-version (matching) stands in for osd-xsrf
    assert client.get("/api/saved_objects/_find?type=dashboard", xsrf=False)[0] == 200
    status, _, _ = client.post("/api/saved_objects/data-connection/c1", GOOD_CONN, xsrf=False,
                               headers={"osd-version": "3.6.0"})
    assert status == 200
    status, body, _ = client.get("/api/status", headers={"osd-version": "2.0.0"})
    assert status == 400 and "out of date" in body["message"]


# --------------------------------------------------------------------------- CRUD
# src/core/server/saved_objects/routes/{create,get,update,delete}.ts,
# src/core/server/saved_objects/service/lib/repository.ts
def test_create_get_update_delete_round_trip_with_fields_dashboards_adds(client):
    status, created, _ = client.post("/api/saved_objects/index-pattern/ip1", {
        "attributes": {"title": "claude-code*", "timeFieldName": "@timestamp",
                       "nested": {"a": 1, "b": 2}},
        "references": []})
    assert status == 200
    assert created["id"] == "ip1" and created["type"] == "index-pattern"
    assert created["namespaces"] == ["default"]
    assert created["migrationVersion"] == {"index-pattern": "7.6.0"}
    assert created["updated_at"].endswith("Z")
    seq, term = decode_version(created["version"])
    assert term == 1 and seq >= 0

    status, got, _ = client.get("/api/saved_objects/index-pattern/ip1")
    assert status == 200
    assert got["attributes"] == created["attributes"]
    assert got["version"] == created["version"]
    assert got["references"] == []

    # update is a partial update: nested objects merge, omitted keys stay
    status, upd, _ = client.put("/api/saved_objects/index-pattern/ip1", {
        "attributes": {"title": "clawker-cli*", "nested": {"b": 3}}})
    assert status == 200
    assert upd["attributes"] == {"title": "clawker-cli*", "nested": {"b": 3}}
    assert "references" not in upd
    assert upd["version"] != created["version"]
    got = client.get("/api/saved_objects/index-pattern/ip1")[1]
    assert got["attributes"] == {"title": "clawker-cli*", "timeFieldName": "@timestamp",
                                 "nested": {"a": 1, "b": 3}}

    status, body, _ = client.delete("/api/saved_objects/index-pattern/ip1")
    assert status == 200 and body == {}
    status, body, _ = client.get("/api/saved_objects/index-pattern/ip1")
    assert status == 404
    assert body["message"] == "Saved object [index-pattern/ip1] not found"
    assert client.delete("/api/saved_objects/index-pattern/ip1")[0] == 404
    assert client.put("/api/saved_objects/index-pattern/ip1", {"attributes": {}})[0] == 404


# src/plugins/data_source/server/saved_objects/data_connection.ts (namespaceType agnostic,
# no migrations) + repository.ts get()
def test_data_connection_shape(client):
    status, created, _ = client.post(
        "/api/saved_objects/data-connection/clawker-prometheus-conn?overwrite=true", GOOD_CONN)
    assert status == 200
    assert "namespaces" not in created and "migrationVersion" not in created
    got = client.get("/api/saved_objects/data-connection/clawker-prometheus-conn")[1]
    assert got["namespaces"] == [] and "migrationVersion" not in got
    assert "workspaces" not in got


# repository.ts create(): OpenSearch `create` on an existing _id -> 409; `index` replaces
def test_create_existing_without_overwrite_is_a_conflict(client):
    url = "/api/saved_objects/dashboard/d1"
    assert client.post(url, {"attributes": {"title": "one", "keep": True}})[0] == 200
    status, body, _ = client.post(url, {"attributes": {"title": "two"}})
    assert status == 409 and body["error"] == "Conflict"
    assert client.get(url)[1]["attributes"] == {"title": "one", "keep": True}
    status, body, _ = client.post(url + "?overwrite=true", {"attributes": {"title": "two"}})
    assert status == 200
    assert client.get(url)[1]["attributes"] == {"title": "two"}  # replaced, not merged
    # a create without id gets a generated one
    status, body, _ = client.post("/api/saved_objects/dashboard", {"attributes": {"title": "x"}})
    assert status == 200 and len(body["id"]) == 36


# routes/update.ts `version`; repository.ts getExpectedVersionProperties; version/decode_version.ts
def test_update_checks_version(client):
    url = "/api/saved_objects/visualization/v1"
    v1 = client.post(url, {"attributes": {"title": "a"}})[1]["version"]
    v2 = client.put(url, {"attributes": {"title": "b"}, "version": v1})[1]["version"]
    status, body, _ = client.put(url, {"attributes": {"title": "c"}, "version": v1})
    assert status == 409 and "version conflict" in body["message"]
    assert client.get(url)[1]["attributes"]["title"] == "b"
    status, body, _ = client.put(url, {"attributes": {"title": "c"}, "version": "garbage"})
    assert status == 400 and body["message"] == "Invalid version [garbage]"
    assert client.put(url, {"attributes": {"title": "c"}, "version": v2})[0] == 200


# repository.ts: create -> createUnsupportedTypeError, get/update/delete -> not found,
# find -> empty response, bulkGet -> per-object error
def test_unknown_type_is_rejected_like_dashboards(client):
    status, body, _ = client.post("/api/saved_objects/nope/x", {"attributes": {}})
    assert status == 400 and body["message"] == "Unsupported saved object type: 'nope': Bad Request"
    assert client.get("/api/saved_objects/nope/x")[0] == 404
    assert client.delete("/api/saved_objects/nope/x")[0] == 404
    status, body, _ = client.get("/api/saved_objects/_find?type=nope")
    assert status == 200 and body["total"] == 0 and body["saved_objects"] == []
    body = client.post("/api/saved_objects/_bulk_get", [{"type": "nope", "id": "x"}])[1]
    assert body["saved_objects"][0]["error"]["statusCode"] == 400
    # the workspace type is not reachable through the saved objects API
    # (plugins/workspace/server/integration_tests/routes.test.ts)
    assert client.post("/api/saved_objects/workspace", {"attributes": {"name": "w"}})[0] == 400


# @osd/config-schema validation in routes/create.ts and routes/update.ts: unknown keys,
# missing attributes, bad references; hapi JSON parsing
def test_request_bodies_are_validated_strictly(client):
    url = "/api/saved_objects/dashboard/d1"
    status, body, _ = client.post(url, {"type": "dashboard", "attributes": {}})
    assert status == 400 and body["message"] == "[request body.type]: definition for this key is missing"
    status, body, _ = client.post(url, {"references": []})
    assert status == 400 and body["message"].startswith("[request body.attributes]")
    status, body, _ = client.post(url, {"attributes": {}, "references": [{"type": "x", "id": "y"}]})
    assert status == 400 and "request body.references.0.name" in body["message"]
    status, body, _ = client.post(url, raw=b"{not json", body=None)
    assert status == 400 and body["message"] == "Invalid request payload JSON format"
    status, body, _ = client.post(url + "?overwrite=yes", {"attributes": {}})
    assert status == 400 and "request query.overwrite" in body["message"]
    assert client.get("/api/saved_objects/dashboard/d1")[0] == 404
    client.post(url, {"attributes": {}})
    status, body, _ = client.put(url, {"attributes": {}, "id": "d1"})
    assert status == 400 and "request body.id" in body["message"]


# routes/find.ts + repository.ts find()
def test_find_filters_pages_and_searches(client):
    for i in range(5):
        client.post(f"/api/saved_objects/dashboard/d{i}", {"attributes": {"title": f"Claude Code {i}"}})
    client.post("/api/saved_objects/index-pattern/ip", {"attributes": {"title": "claude-code*"}})
    client.post("/api/saved_objects/dashboard/net", {"attributes": {"title": "Clawker Networking"}})
    status, body, _ = client.get("/api/saved_objects/_find?type=dashboard&per_page=2&page=2")
    assert status == 200 and body["total"] == 6 and len(body["saved_objects"]) == 2
    assert body["page"] == 2 and body["per_page"] == 2
    assert all(o["type"] == "dashboard" for o in body["saved_objects"])
    body = client.get('/api/saved_objects/_find?type=dashboard&search_fields=title'
                      '&search=%22Clawker%20Networking%22')[1]
    assert [o["id"] for o in body["saved_objects"]] == ["net"]
    body = client.get("/api/saved_objects/_find?type=dashboard&type=index-pattern&per_page=100")[1]
    assert body["total"] == 7
    status, body, _ = client.get("/api/saved_objects/_find")
    assert status == 400 and "request query.type" in body["message"]


# routes/bulk_get.ts + repository.ts bulkGet()
def test_bulk_get_reports_missing_objects_per_item(client):
    client.post("/api/saved_objects/dashboard/a", {"attributes": {"title": "A"}})
    status, body, _ = client.post("/api/saved_objects/_bulk_get",
                                  [{"type": "dashboard", "id": "a"}, {"type": "dashboard", "id": "b"}])
    assert status == 200
    a, b = body["saved_objects"]
    assert a["attributes"] == {"title": "A"} and "error" not in a
    assert b["error"] == {"statusCode": 404, "error": "Not Found",
                          "message": "Saved object [dashboard/b] not found"}


# --------------------------------------------------------------------------- _bulk_create
# routes/bulk_create.ts; repository.ts bulkCreate; workspace_id_consumer_wrapper.ts and
# saved_objects_wrapper_for_check_workspace_conflict.ts bulkCreate
def test_bulk_create_writes_every_object_in_the_request_workspace_in_one_request(node, client, workspace):
    objects = [{"type": "explore", "id": f"p{i}", "attributes": {"title": f"Panel {i}"},
                "references": [{"name": "ds", "type": "data-connection", "id": "nowhere"}]} for i in range(3)]
    status, body, _ = client.post(f"/w/{workspace}/api/saved_objects/_bulk_create?overwrite=true", objects)
    assert status == 200
    assert [(so["type"], so["id"]) for so in body["saved_objects"]] == [("explore", f"p{i}") for i in range(3)]
    for so in body["saved_objects"]:
        assert "error" not in so and so["workspaces"] == [workspace] and so["version"]
        # a reference to nothing is written as given: bulk create checks no reference (import does)
        assert so["references"] == objects[0]["references"]
    assert client.get(f"/w/{workspace}/api/saved_objects/explore/p2")[1]["attributes"]["title"] == "Panel 2"
    # overwrite again: the same objects, written over in place (still in the workspace)
    objects[0]["attributes"]["title"] = "Changed"
    status, body, _ = client.post(f"/w/{workspace}/api/saved_objects/_bulk_create?overwrite=true", objects)
    assert status == 200 and body["saved_objects"][0]["workspaces"] == [workspace]
    assert client.get(f"/w/{workspace}/api/saved_objects/explore/p0")[1]["attributes"]["title"] == "Changed"
    assert raw_saved_object(node, "explore", "p0")["_source"]["workspaces"] == [workspace]
    # overwritten through the global URL: it keeps its workspace (the conflict wrapper maps
    # each overwritten object to the workspaces it has)
    status, body, _ = client.post("/api/saved_objects/_bulk_create?overwrite=true",
                                  [{"type": "explore", "id": "p1", "attributes": {"title": "Global"}}])
    assert status == 200 and body["saved_objects"][0]["workspaces"] == [workspace]
    assert raw_saved_object(node, "explore", "p1")["_source"]["workspaces"] == [workspace]


def test_bulk_create_answers_each_failure_per_object_with_http_200(client, workspace):
    other = client.post("/api/workspaces", {"attributes": {"name": "Other",
                                                           "features": ["use-case-all"]}})[1]["result"]["id"]
    client.post(f"/w/{other}/api/saved_objects/explore/theirs", {"attributes": {"title": "Theirs"}})
    client.post(f"/w/{workspace}/api/saved_objects/explore/mine", {"attributes": {"title": "Mine"}})
    batch = [{"type": "explore", "id": "theirs", "attributes": {"title": "stolen"}},
             {"type": "no-such-type", "id": "x", "attributes": {"title": "X"}},
             {"type": "data-connection", "id": "c", "attributes": GOOD_CONN["attributes"]},
             {"type": "explore", "id": "new", "attributes": {"title": "New"}}]
    status, body, _ = client.post(f"/w/{workspace}/api/saved_objects/_bulk_create?overwrite=true", batch)
    assert status == 200
    by_id = {so["id"]: so for so in body["saved_objects"]}
    assert by_id["theirs"]["error"] == {"statusCode": 409, "error": "Conflict",
                                        "message": "Saved object [explore/theirs] conflict",
                                        "metadata": {"isNotOverwritable": True}}
    assert by_id["x"]["error"]["statusCode"] == 400 and "Unsupported saved object type" in by_id["x"]["error"]["message"]
    assert by_id["c"]["error"]["statusCode"] == 400
    assert "not allowed to be imported in workspace" in by_id["c"]["error"]["message"]
    assert "error" not in by_id["new"]
    assert client.get(f"/w/{other}/api/saved_objects/explore/theirs")[1]["attributes"]["title"] == "Theirs"
    # without overwrite an existing id is a per-object conflict and is not written
    status, body, _ = client.post(f"/w/{workspace}/api/saved_objects/_bulk_create",
                                  [{"type": "explore", "id": "mine", "attributes": {"title": "again"}}])
    assert status == 200 and body["saved_objects"][0]["error"]["statusCode"] == 409
    assert client.get(f"/w/{workspace}/api/saved_objects/explore/mine")[1]["attributes"]["title"] == "Mine"


def test_bulk_create_request_format_is_strict(client, workspace):
    url = f"/w/{workspace}/api/saved_objects/_bulk_create"
    status, body, _ = client.post(url, {"type": "explore"})
    assert status == 400 and "[request body]: expected value of type [array]" in body["message"]
    status, body, _ = client.post(url, [{"type": "explore", "id": "a"}])
    assert status == 400 and "[request body.0.attributes]" in body["message"]
    status, body, _ = client.post(url, [{"type": "explore", "attributes": {}, "workspaces": ["x"]}])
    assert status == 400 and "[request body.0.workspaces]" in body["message"]
    assert client.post(f"{url}?force=true", [])[0] == 400
    # nothing of a refused request was written
    assert client.get(f"/w/{workspace}/api/saved_objects/_find?type=explore")[1]["total"] == 0


def test_status_reads_and_overwriting_writes_do_not_wait_for_a_request_in_progress(node):
    """Real Dashboards serves requests side by side (http_service.ts: one Node.js process,
    repository.ts calls OpenSearch asynchronously): a status question or an overwriting
    write is answered while an import is still running. The double holds its lock only
    for what it decides in Python (a create that must not overwrite, an import)."""
    import threading
    srv, app = start([node.url])
    try:
        client = Client(f"http://127.0.0.1:{srv.server_address[1]}")
        app.store.lock.acquire()  # as a long import does
        try:
            assert client.get("/api/status")[0] == 200
            assert client.post("/api/saved_objects/explore/side?overwrite=true", {"attributes": {"title": "S"}})[0] == 200
            assert client.post("/api/saved_objects/_bulk_create?overwrite=true",
                               [{"type": "explore", "id": "side2", "attributes": {"title": "S2"}}])[0] == 200
            assert client.get("/api/saved_objects/explore/side")[0] == 200
            answered = []
            waiter = threading.Thread(target=lambda: answered.append(
                client.post("/api/saved_objects/explore/strict", {"attributes": {"title": "T"}})[0]))
            waiter.start()
            waiter.join(1.0)
            assert answered == []  # a create that must not overwrite waits its turn
        finally:
            app.store.lock.release()
        waiter.join(10)
        assert answered == [200]
    finally:
        stop(srv, app)


# --------------------------------------------------------------------------- workspaces
# src/plugins/workspace/server/routes/index.ts, workspace_client.ts
def test_workspace_create_get_list_shapes(client, workspace):
    assert len(workspace) == 6
    status, body, _ = client.get(f"/api/workspaces/{workspace}")
    assert status == 200 and body["success"] is True
    assert body["result"]["name"] == "Clawker" and body["result"]["features"] == ["use-case-all"]
    assert body["result"]["id"] == workspace and "lastUpdatedTime" in body["result"]
    status, body, _ = client.post("/api/workspaces/_list", {})
    assert status == 200 and body["success"] is True
    result = body["result"]
    assert "saved_objects" not in result  # the list key is `workspaces`
    assert result["total"] == 1 and result["workspaces"][0]["id"] == workspace
    assert result["per_page"] == 20 and result["page"] == 1


# workspace_client.ts create(): DUPLICATE_WORKSPACE_NAME_ERROR, answered with HTTP 200
def test_duplicate_workspace_name_is_rejected(client, workspace):
    status, body, _ = client.post("/api/workspaces", {
        "attributes": {"name": "Clawker", "features": ["use-case-all"]}})
    assert status == 200
    assert body == {"success": False,
                    "error": "workspace name has already been used, try with a different name"}
    assert client.post("/api/workspaces/_list", {})[1]["result"]["total"] == 1
    # a different name is fine, and renaming onto a taken name is refused too
    other = client.post("/api/workspaces", {"attributes": {"name": "Other",
                                                           "features": ["use-case-all"]}})[1]
    assert other["success"] is True
    body = client.put(f"/api/workspaces/{other['result']['id']}",
                      {"attributes": {"name": "Clawker"}})[1]
    assert body["success"] is False and "already been used" in body["error"]


# routes/index.ts createWorkspaceAttributesSchema / featuresSchema / workspaceNameSchema
def test_workspace_attributes_are_validated(client):
    status, body, _ = client.post("/api/workspaces", {"attributes": {"name": "x", "features": ["discover"]}})
    assert status == 400 and "At least one use case is required" in body["message"]
    status, body, _ = client.post("/api/workspaces", {
        "attributes": {"name": "x", "features": ["use-case-all", "use-case-search"]}})
    assert status == 400 and "Only one use case" in body["message"]
    status, body, _ = client.post("/api/workspaces", {"attributes": {"name": "  ", "features": ["use-case-all"]}})
    assert status == 400 and body["message"] == "[request body.attributes.name]: can't be empty or blank."
    status, body, _ = client.post("/api/workspaces", {
        "attributes": {"id": "x", "name": "x", "features": ["use-case-all"]}})
    assert status == 400
    assert client.post("/api/workspaces/_list", {})[1]["result"]["total"] == 0


# workspace_client.ts formatError: not found -> "workspace not found" (HTTP 200)
def test_unknown_workspace_id_answers_success_false(client):
    for method, body in (("GET", None), ("PUT", {"attributes": {"name": "n"}}), ("DELETE", None)):
        status, resp, _ = client.call(method, "/api/workspaces/nope00", body)
        assert status == 200 and resp == {"success": False, "error": "workspace not found"}, method


# workspace_client.ts create()/update()/delete(): dataConnections are kept on the
# data-connection objects (addToWorkspaces), not on the workspace
def test_workspace_data_connections(client):
    status, body, _ = client.post("/api/workspaces", {
        "attributes": {"name": "Clawker", "features": ["use-case-all"]},
        "settings": {"dataConnections": ["missing-conn"]}})
    assert status == 200 and body["success"] is False
    assert client.post("/api/workspaces/_list", {})[1]["result"]["total"] == 0

    before = client.post("/api/saved_objects/data-connection/conn", GOOD_CONN)[1]
    ws = client.post("/api/workspaces", {
        "attributes": {"name": "Clawker", "features": ["use-case-all"]},
        "settings": {"dataConnections": ["conn"]}})[1]["result"]["id"]
    got = client.get("/api/workspaces/" + ws)[1]["result"]
    assert "dataConnections" not in got
    conn = client.get("/api/saved_objects/data-connection/conn")[1]
    assert conn["workspaces"] == [ws] and conn["version"] != before["version"]
    found = client.get(f"/w/{ws}/api/saved_objects/_find?type=data-connection")[1]
    assert [o["id"] for o in found["saved_objects"]] == ["conn"]
    # global overwrite keeps the assignment
    client.post("/api/saved_objects/data-connection/conn?overwrite=true", GOOD_CONN)
    assert client.get("/api/saved_objects/data-connection/conn")[1]["workspaces"] == [ws]
    # settings.dataConnections [] unassigns
    assert client.put(f"/api/workspaces/{ws}", {"attributes": {}, "settings": {"dataConnections": []}})[1] \
        == {"success": True, "result": True}
    assert "workspaces" not in client.get("/api/saved_objects/data-connection/conn")[1]


# workspace_client.ts delete(): deleteByWorkspace removes the workspace's objects
def test_workspace_delete_removes_its_objects(client, workspace):
    client.post("/api/saved_objects/data-connection/conn", GOOD_CONN)
    client.put(f"/api/workspaces/{workspace}", {"attributes": {}, "settings": {"dataConnections": ["conn"]}})
    client.post(f"/w/{workspace}/api/saved_objects/explore/e1", {"attributes": {"title": "E"}})
    assert client.delete(f"/api/workspaces/{workspace}")[1] == {"success": True, "result": True}
    assert client.get("/api/saved_objects/explore/e1")[0] == 404
    conn = client.get("/api/saved_objects/data-connection/conn")
    assert conn[0] == 200 and "workspaces" not in conn[1]
    assert client.get(f"/api/workspaces/{workspace}")[1]["success"] is False


# The same cascade, seen where Dashboards keeps the objects: the documents leave OpenSearch.
def test_workspace_delete_cascade_reaches_opensearch(node, client, workspace):
    user_vis = {"attributes": {"title": "my latency panel", "visState": "{}"}}
    assert client.post(f"/w/{workspace}/api/saved_objects/visualization/mine", user_vis)[0] == 200
    assert raw_saved_object(node, "visualization", "mine")["_source"]["workspaces"] == [workspace]
    assert client.delete(f"/api/workspaces/{workspace}")[1] == {"success": True, "result": True}
    assert raw_saved_object(node, "visualization", "mine") is None
    assert raw_saved_object(node, "workspace", workspace) is None


# --------------------------------------------------------------------------- /w/<id>/ prefix
# plugins/workspace/server/plugin.ts (prefix rewrite) and
# plugins/workspace/server/saved_objects/workspace_id_consumer_wrapper.ts (checkWorkspacesExist)
def test_unknown_workspace_prefix_is_an_error(client):
    status, body, _ = client.post("/w/nope00/api/saved_objects/explore/e1", {"attributes": {"title": "E"}})
    assert status == 400 and body["message"] == "Exist invalid workspaces"
    assert client.get("/api/saved_objects/explore/e1")[0] == 404
    status, body, _ = client.get("/w/nope00/api/saved_objects/_find?type=explore")
    assert status == 400 and body["message"] == "Exist invalid workspaces"
    status, body, _ = client.import_ndjson("/w/nope00/api/saved_objects/_import?overwrite=true",
                                           [{"type": "dashboard", "id": "d", "attributes": {"title": "D"}}])
    assert status == 400 and body["message"] == "Exist invalid workspaces"
    assert client.get("/api/saved_objects/dashboard/d")[0] == 404
    assert client.get("/w//api/saved_objects/_find?type=explore")[0] == 404


# workspace_id_consumer_wrapper.ts (create/find/get/bulkGet scoping) and
# saved_objects_wrapper_for_check_workspace_conflict.ts (overwrite across workspaces)
def test_workspace_scoped_objects_are_invisible_from_another_workspace(client, workspace):
    other = client.post("/api/workspaces", {"attributes": {"name": "Other",
                                                           "features": ["use-case-all"]}})[1]["result"]["id"]
    url = "/api/saved_objects/explore/panel-1"
    status, created, _ = client.post(f"/w/{workspace}{url}?overwrite=true", {"attributes": {"title": "Cost"}})
    assert status == 200 and created["workspaces"] == [workspace]
    assert client.get(f"/w/{workspace}{url}")[0] == 200
    status, body, _ = client.get(f"/w/{other}{url}")
    assert status == 403 and body["message"] == "Saved object does not belong to the workspace"
    assert client.get(f"/w/{other}/api/saved_objects/_find?type=explore")[1]["total"] == 0
    assert client.get(f"/w/{workspace}/api/saved_objects/_find?type=explore")[1]["total"] == 1
    bulk = client.post(f"/w/{other}/api/saved_objects/_bulk_get", [{"type": "explore", "id": "panel-1"}])[1]
    assert bulk["saved_objects"][0]["error"]["statusCode"] == 403
    status, _, _ = client.post(f"/w/{other}{url}?overwrite=true", {"attributes": {"title": "stolen"}})
    assert status == 409
    assert client.get(url)[1]["attributes"]["title"] == "Cost"  # global read sees it
    # data connections: not creatable inside a workspace; an unassigned global one is
    # not visible from inside a workspace
    status, body, _ = client.post(f"/w/{workspace}/api/saved_objects/data-connection/c", GOOD_CONN)
    assert status == 400 and "not allowed to be created in workspace" in body["message"]
    client.post("/api/saved_objects/data-connection/c", GOOD_CONN)
    assert client.get(f"/w/{workspace}/api/saved_objects/data-connection/c")[0] == 403


# --------------------------------------------------------------------------- _import
# routes/import.ts + routes/utils.ts createSavedObjectsStreamFromNdJson
def test_import_malformed_ndjson_is_400_and_writes_nothing(client, workspace):
    good = json.dumps({"type": "index-pattern", "id": "ip", "attributes": {"title": "t*"}})
    status, body, _ = client.import_ndjson(f"/w/{workspace}/api/saved_objects/_import?overwrite=true",
                                           [], raw_text=good + "\n{\"type\": \"dashboard\",\n")
    assert status == 400 and body["error"] == "Bad Request"
    assert client.get("/api/saved_objects/index-pattern/ip")[0] == 404


# routes/import.ts: file extension, multipart only, xsrf
def test_import_request_format_is_strict(client):
    obj = {"type": "dashboard", "id": "d", "attributes": {"title": "D"}}
    status, body, _ = client.import_ndjson("/api/saved_objects/_import", [obj], filename="x.json")
    assert status == 400 and body["message"] == "Invalid file extension .json"
    status, _, _ = client.post("/api/saved_objects/_import", [obj])
    assert status == 415
    status, body, _ = client.import_ndjson("/api/saved_objects/_import", [obj], xsrf=False)
    assert status == 400 and "osd-xsrf" in body["message"]
    status, body, _ = client.import_ndjson("/api/saved_objects/_import?overwrite=true&createNewCopies=true", [obj])
    assert status == 400 and "cannot use [overwrite] with [createNewCopies]" in body["message"]
    status, body, _ = client.import_ndjson("/api/saved_objects/_import", [obj, obj])
    assert status == 400 and "Non-unique import objects detected" in body["message"]
    assert client.get("/api/saved_objects/dashboard/d")[0] == 404


# import/validate_references.ts, import/import_saved_objects.ts, import/create_saved_objects.ts
def test_import_with_unresolved_reference_fails_per_object_with_http_200(client, workspace):
    lines = [
        {"type": "index-pattern", "id": "ip-ok", "attributes": {"title": "claude-code*"}},
        {"type": "dashboard", "id": "dash", "attributes": {"title": "Claude Code Activity"},
         "references": [{"name": "panel_0", "type": "index-pattern", "id": "does-not-exist"}]},
    ]
    status, body, _ = client.import_ndjson(f"/w/{workspace}/api/saved_objects/_import?overwrite=true", lines)
    assert status == 200
    assert body["success"] is False
    assert body["errors"] == [{
        "id": "dash", "type": "dashboard", "title": "Claude Code Activity",
        "meta": {"title": "Claude Code Activity", "icon": "dashboardApp"},
        "error": {"type": "missing_references",
                  "references": [{"type": "index-pattern", "id": "does-not-exist"}]}}]
    # a resolvable error stops the whole write, although the other object is counted
    assert body["successCount"] == 1
    assert client.get("/api/saved_objects/index-pattern/ip-ok")[0] == 404
    assert client.get("/api/saved_objects/dashboard/dash")[0] == 404


# import/validate_references.ts: references satisfied inside the file are fine;
# import/import_saved_objects.ts successResults; workspace_id_consumer_wrapper.ts bulkCreate
def test_import_into_workspace_succeeds_and_is_scoped(client, workspace):
    lines = [
        {"type": "index-pattern", "id": "ip", "attributes": {"title": "claude-code*"}},
        {"type": "dashboard", "id": "dash", "attributes": {"title": "Cost"},
         "references": [{"name": "p", "type": "index-pattern", "id": "ip"}]},
    ]
    url = f"/w/{workspace}/api/saved_objects/_import?overwrite=true"
    status, body, _ = client.import_ndjson(url, lines)
    assert status == 200 and body["success"] is True and body["successCount"] == 2
    assert "errors" not in body
    assert {r["id"] for r in body["successResults"]} == {"ip", "dash"}
    got = client.get(f"/w/{workspace}/api/saved_objects/dashboard/dash")[1]
    assert got["workspaces"] == [workspace] and got["migrationVersion"] == {"dashboard": "7.9.3"}
    # re-import with overwrite: success, flagged as overwrite, same ids, still scoped
    status, body, _ = client.import_ndjson(url, lines)
    assert body["success"] is True and all(r.get("overwrite") for r in body["successResults"])
    assert client.get("/api/saved_objects/dashboard/dash")[1]["workspaces"] == [workspace]


# import/check_conflicts.ts: without overwrite an existing object is a `conflict` error
def test_import_conflict_without_overwrite(client):
    obj = {"type": "dashboard", "id": "d", "attributes": {"title": "new"}}
    client.post("/api/saved_objects/dashboard/d", {"attributes": {"title": "old"}})
    status, body, _ = client.import_ndjson("/api/saved_objects/_import", [obj])
    assert status == 200 and body["success"] is False
    assert body["errors"][0]["error"] == {"type": "conflict"}
    assert client.get("/api/saved_objects/dashboard/d")[1]["attributes"]["title"] == "old"


# import/check_conflicts.ts + the workspace conflict wrapper: an id that exists outside
# the target workspace is imported as a copy under a new id (destinationId)
def test_import_of_id_owned_elsewhere_creates_a_copy(client, workspace):
    client.post("/api/saved_objects/index-pattern/ip", {"attributes": {"title": "global*"}})
    status, body, _ = client.import_ndjson(
        f"/w/{workspace}/api/saved_objects/_import?overwrite=true",
        [{"type": "index-pattern", "id": "ip", "attributes": {"title": "ws*"}}])
    assert status == 200 and body["success"] is True
    dest = body["successResults"][0]["destinationId"]
    assert dest != "ip"
    assert client.get("/api/saved_objects/index-pattern/ip")[1]["attributes"]["title"] == "global*"
    assert client.get(f"/api/saved_objects/index-pattern/{dest}")[1]["workspaces"] == [workspace]


# import/collect_saved_objects.ts: unknown types are per-object unsupported_type errors
def test_import_unsupported_type(client):
    status, body, _ = client.import_ndjson("/api/saved_objects/_import",
                                           [{"type": "nope", "id": "n", "attributes": {"title": "N"}}])
    assert status == 200 and body["success"] is False and body["successCount"] == 0
    assert body["errors"][0]["error"] == {"type": "unsupported_type"}


# --------------------------------------------------------------------------- persistence
# serialization/serializer.ts (savedObjectToRaw, generateRawId), version/encode_version.ts,
# plugins/workspace/server/saved_objects/workspace.ts: what the double writes is a Dashboards
# saved object document in OpenSearch, nothing held in the double's memory.
def test_objects_and_workspaces_are_dashboards_documents_in_opensearch(node, client, workspace):
    created = client.post(f"/w/{workspace}/api/saved_objects/visualization/v1",
                          {"attributes": {"title": "V", "visState": "{}"},
                           "references": [{"name": "r", "type": "index-pattern", "id": "ip"}]})[1]
    raw = raw_saved_object(node, "visualization", "v1")
    assert raw["_index"] == ".kibana_1"
    src = raw["_source"]
    assert src["type"] == "visualization"
    assert src["visualization"] == {"title": "V", "visState": "{}"}
    assert src["references"] == [{"name": "r", "type": "index-pattern", "id": "ip"}]
    assert src["workspaces"] == [workspace]
    assert src["migrationVersion"] == {"visualization": "7.10.0"}
    assert "attributes" not in src
    assert decode_version(created["version"]) == [raw["_seq_no"], raw["_primary_term"]]
    ws_raw = raw_saved_object(node, "workspace", workspace)["_source"]
    assert ws_raw["type"] == "workspace" and ws_raw["workspace"]["name"] == "Clawker"
    # a change made behind the double's back (another Dashboards on the same index) is seen
    node.call("POST", ".kibana/_update/visualization:v1?refresh=true",
              {"doc": {"visualization": {"title": "changed in OpenSearch"}}})
    assert client.get("/api/saved_objects/visualization/v1")[1]["attributes"]["title"] == \
        "changed in OpenSearch"


# A document Dashboards would not write is refused by the strict mappings, as in Dashboards.
def test_unmapped_top_level_field_is_refused_by_opensearch(node, client):
    answer = node.call("PUT", ".kibana/_doc/dashboard:x", {"type": "dashboard", "dashboard": {}, "bogus": 1})
    assert answer.status_code == 400 and "strict_dynamic_mapping_exception" in answer.text


# A double that lost OpenSearch answers like Dashboards does: 503, nothing written anywhere.
def test_opensearch_gone_answers_503(node):
    port = free_port()
    link = Forwarder(port, node.url)
    link.start()
    srv, app = start([f"http://127.0.0.1:{port}"])
    c = Client(f"http://127.0.0.1:{srv.server_address[1]}")
    try:
        assert c.post("/api/saved_objects/dashboard/before", {"attributes": {"title": "B"}})[0] == 200
        link.close()
        deadline = time.time() + 10
        status = None
        while time.time() < deadline:
            status, body, _ = c.post("/api/saved_objects/dashboard/after", {"attributes": {"title": "A"}})
            if status == 503:
                break
            time.sleep(0.2)
        assert status == 503, body
        # An OpenSearch error after start is not the not-ready server: no Retry-After.
        assert "Retry-After" not in c.post("/api/saved_objects/dashboard/after", {"attributes": {"title": "A"}})[2]
        assert raw_saved_object(node, "dashboard", "after") is None
    finally:
        stop(srv, app)
        link.close()


# --------------------------------------------------------------------------- process
# The stack runs `opensearch-dashboards --explore.enabled=true --explore.discoverMetrics.enabled=true`
# with SERVER_PORT and OPENSEARCH_HOSTS in the environment. A new process over the same
# OpenSearch finds every object and workspace; only removing OpenSearch's data loses them.
def test_cli_restart_keeps_objects_that_vanish_only_with_opensearch_data(node):
    port = free_port()
    env = dict(os.environ, SERVER_PORT=str(port), OPENSEARCH_HOSTS=json.dumps([node.url]))
    cmd = [sys.executable, str(SERVER_PATH), "--host", "127.0.0.1",
           "--explore.enabled=true", "--explore.discoverMetrics.enabled=true"]
    c = Client(f"http://127.0.0.1:{port}")

    def run_until_up():
        proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                if c.get("/api/status")[0] == 200:
                    return proc
            except OSError:
                pass
            time.sleep(0.1)
        proc.kill()
        raise AssertionError(proc.stderr.read().decode())

    def end(proc):
        proc.terminate()
        proc.wait(5)
        return proc.stderr.read().decode()

    proc = run_until_up()
    try:
        ws = c.post("/api/workspaces", {"attributes": {"name": "Clawker", "features": ["use-case-all"]}})
        ws_id = ws[1]["result"]["id"]
        assert c.post(f"/w/{ws_id}/api/saved_objects/dashboard/kept", {"attributes": {"title": "K"}})[0] == 200
    finally:
        log = end(proc)
    assert "DOUBLE" in log
    proc = run_until_up()
    try:
        got = c.get(f"/w/{ws_id}/api/saved_objects/dashboard/kept")[1]
        assert got["attributes"] == {"title": "K"} and got["workspaces"] == [ws_id]
        # the duplicate-name rule holds across processes: the name is taken in OpenSearch
        again = c.post("/api/workspaces", {"attributes": {"name": "Clawker", "features": ["use-case-all"]}})[1]
        assert again == {"success": False, "error": "workspace name has already been used, try with "
                                                   "a different name"}
    finally:
        end(proc)
    drop_saved_objects(node)  # the data volume removed
    proc = run_until_up()
    try:
        assert c.get("/api/saved_objects/dashboard/kept")[0] == 404
        assert c.get(f"/api/workspaces/{ws_id}")[1] == {"success": False, "error": "workspace not found"}
    finally:
        end(proc)
