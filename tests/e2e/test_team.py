"""Issue 19 end to end: a team stack (real Pulumi CLI) bootstraps a real secured two-node cluster.

ONE cluster and ONE team `pulumi up` for the whole module (the `team` fixture,
tests/e2e/team_fixture.py). The team stack's destroy test changes the cluster (it deletes the
machine credentials) and must stay the LAST test of this module.
"""

from __future__ import annotations

import json
import time

import pytest
import requests

from components import names
from components.bootstrap import opensearch as boot
from components.providers.opensearch import security
from test_stack_lifecycle import USER_VIS, clawker_workspaces, dashboards, save_visualization_as_a_user


def _ok(response: requests.Response) -> dict:
    assert response.status_code == 200, f"{response.request.method} {response.url}: {response.status_code} {response.text[:500]}"
    return response.json()

def test_team_up_bootstraps_the_secured_cluster_and_dashboards(team):
    # Templates, pipelines, retention and the traces side, through both doors of the cluster.
    assert set(_ok(team.call("GET", "_index_template/claude-code*")).get("index_templates", [{}])[0]) >= {"name"}
    assert names.ENVELOPE_PIPELINE in _ok(team.call("GET", f"_ingest/pipeline/{names.ENVELOPE_PIPELINE}", door=1))
    policies = {p["_id"] for p in _ok(team.call("GET", "_plugins/_ism/policies"))["policies"]}
    assert {names.ISM_POLICY, names.TRACES_ISM_POLICY} <= policies
    assert _ok(team.call("GET", names.TRACES_INDEX, door=1))
    # Two nodes, and the stack's indices have their replica on the other one.
    health = _ok(team.call("GET", "_cluster/health/claude-code?wait_for_status=green&timeout=30s"))
    assert (health["number_of_nodes"], health["status"]) == (2, "green")
    settings = _ok(team.call("GET", "claude-code/_settings"))
    assert {s["settings"]["index"]["number_of_replicas"] for s in settings.values()} == {"1"}
    # The Dashboards double container reached the cluster over TLS with the admin credential.
    assert [w["name"] for w in clawker_workspaces(team.dashboards_url)] == [names.WORKSPACE]
    # The datasource: the cluster's (doubled) SQL plugin queries the team Prometheus over TLS with
    # the admin's basic auth; the credential is never returned.
    ds = _ok(team.call("GET", f"_plugins/_query/_datasources/{names.DATASOURCE}"))
    assert ds["properties"] == {"prometheus.uri": team.prometheus_url, "prometheus.auth.type": "basicauth"}
    query = {"query": "19", "language": "PROMQL", "options": {"queryType": "instant", "time": str(int(time.time()))}}
    result = _ok(team.call("POST", f"_plugins/_directquery/_query/{names.DATASOURCE}", json=query))["results"][names.DATASOURCE]
    assert (result["resultType"], result["result"][1]) == ("scalar", "19"), result
    # The team Prometheus: TLS with the test CA, basic auth always.
    assert requests.get(f"{team.prometheus_url}/-/ready", auth=team.admin, verify=str(team.ca_file), timeout=10).status_code == 200
    assert requests.get(f"{team.prometheus_url}/-/ready", verify=str(team.ca_file), timeout=10).status_code == 401

def test_team_outputs_name_the_cluster_and_keep_credentials_secret(team):
    out = team.outputs
    assert out["clusterUrls"] == team.urls
    assert out["clusterCaCert"] == team.ca_pem
    assert out["prometheusRemoteWriteUrl"] == f"{team.prometheus_url}/api/v1/write"
    assert sorted(out["machineCredentials"]) == sorted(team.machines)
    passwords = {m: c["password"] for m, c in out["machineCredentials"].items()}
    assert {c["username"] for c in out["machineCredentials"].values()} == {security.user_name(m) for m in team.machines}
    plain = json.loads(team.stack.run("stack", "output", "--json").stdout)
    assert plain["machineCredentials"] == "[secret]"
    shown = team.stack.run("stack", "output", "machineCredentials").stdout.strip()
    assert shown == "[secret]"
    state = team.stack.run("stack", "export").stdout
    for secret in [*passwords.values(), team.admin[1]]:
        assert len(secret) >= 16 and secret not in state

def test_a_machine_credential_writes_its_records_and_nothing_else(team):
    machine = team.machines[0]
    auth = team.credential(machine)
    doc = {"@timestamp": "2026-12-05T01:00:00Z", "body": "claude_code.api_request", "resource": {"machine": machine}}
    lines = json.dumps({"create": {}}) + "\n" + json.dumps(doc) + "\n"
    stored = team.call("POST", "claude-code/_bulk?refresh=true", auth=auth, door=1, data=lines,
                       headers={"Content-Type": "application/x-ndjson"})
    assert stored.status_code == 200 and not stored.json()["errors"], stored.text[:1000]
    day = names.day_index("claude-code", "2026-12-05")
    refusals = {
        "read": team.call("GET", f"{names.read_pattern('claude-code')}/_search", auth=auth),
        "delete an index": team.call("DELETE", day, auth=auth),
        "change a template": team.call("PUT", "_index_template/claude-code", auth=auth,
                                       json=boot.template_bodies("claude-code")["claude-code"]),
        "write another index": team.call("POST", "someone-elses/_doc", auth=auth, json={"a": 1}),
        "use the doubled ISM plugin": team.call("DELETE", f"_plugins/_ism/policies/{names.ISM_POLICY}", auth=auth),
    }
    assert {what: r.status_code for what, r in refusals.items()} == {what: 403 for what in refusals}
    # A doubled plugin route takes the security plugin's authentication too.
    assert team.call("GET", "_plugins/_ism/policies", auth=(auth[0], "not-the-password")).status_code == 401
    # Nothing changed: the day's index and the policy are still there.
    assert team.call("GET", day).status_code == 200
    assert team.call("GET", f"_plugins/_ism/policies/{names.ISM_POLICY}").status_code == 200

# --- keep LAST in this module: it deletes the machines' credentials and brings them back.
def test_team_destroy_keeps_the_clusters_data_and_a_second_up_adopts_it(team):
    (workspace,) = clawker_workspaces(team.dashboards_url)
    mine = save_visualization_as_a_user(workspace["id"], team.dashboards_url)
    kept = {"kept": "across destroy", "@timestamp": "2026-01-01T00:00:00Z"}
    assert team.call("PUT", "e2e-team-keep/_doc/1?refresh=true", json=kept).status_code in (200, 201)
    counts = {i["index"]: i["docs.count"] for i in _ok(team.call("GET", "_cat/indices/claude-code*?format=json&h=index,docs.count"))}
    team.stack.destroy()
    # The cluster keeps every index with its documents and the Clawker workspace with the user's object.
    assert _ok(team.call("GET", "e2e-team-keep/_doc/1"))["_source"] == kept
    assert {i["index"]: i["docs.count"] for i in _ok(team.call("GET", "_cat/indices/claude-code*?format=json&h=index,docs.count"))} == counts
    saved = _ok(team.call("POST", ".kibana/_search", json={"query": {"term": {"type": "workspace"}}}))
    assert [h["_source"]["workspace"]["name"] for h in saved["hits"]["hits"]] == [names.WORKSPACE]
    # The credentials went with the stack.
    user = security.user_name(team.machines[0])
    assert team.call("GET", f"_plugins/_security/api/internalusers/{user}").status_code == 404
    team.stack.up()
    assert [w["id"] for w in clawker_workspaces(team.dashboards_url)] == [workspace["id"]]
    got = dashboards("GET", f"/w/{workspace['id']}/api/saved_objects/visualization/{USER_VIS}", base=team.dashboards_url)
    assert got.status_code == 200 and got.json()["attributes"] == mine["attributes"], got.text[:500]
    assert {i["index"]: i["docs.count"] for i in _ok(team.call("GET", "_cat/indices/claude-code*?format=json&h=index,docs.count"))} == counts
    assert team.call("GET", f"_plugins/_security/api/internalusers/{user}").status_code == 200
    team.stack.preview("--expect-no-changes")
