"""Two machine stacks, each on its own Docker Engine, shipping to the shared secured team cluster.

One team (tests/e2e/team_fixture.py: two secured OpenSearch nodes, the team stack up), two machine
stacks through the real Pulumi CLI (tests/e2e/team_machines.py): alice-laptop on the first engine,
bob-laptop on a second `dockerd`, both reading the team stack through a StackReference. The checks
share the stacks and one node outage, in order:
1. both machines take 5,000 numbered Claude Code records each at once; a third of the way in, the
   node they ship to (the first of clusterUrls) stops: they fail over to the next URL and every
   record is stored exactly once, each carrying its machine, before that node is back; the series
   in the team Prometheus carry `machine` too; the negative control, a third collector without the
   failover (only the first of clusterUrls), stores none of its records while the node is down,
   and all of them exactly once after it is back; the Team & Users dashboard's cost and tokens by
   machine (its PromQL as saved, on the team Prometheus) show each machine exactly what it was sent;
2. alice on explicit settings (preview: nothing of hers changes), then a CA that did not sign the
   cluster, a wrong password, and clusterUrls none of which answers: each `pulumi up` fails naming
   clusterCaCert / machinePassword / clusterUrls and her collector is the same container, running;
   the good settings back, nothing is planned;
3. alice's `pulumi destroy` leaves the team's containers, network, credentials and records alone;
4. bob revoked (the team stack's `machines` without it, `pulumi up` there): his records wait on his
   disk; his collector's log says why (401 at each cluster URL, and what to do; before, his check
   reported 0 and no refusal), and so do his metrics on his own endpoint (127.0.0.1:machineMetricsPort:
   clawker_machine_credential_refused 1 at each URL, its HELP saying why; the team Prometheus no longer
   takes his series); his stack's preview says why; re-admitted, they arrive exactly once and his
   endpoint shows 0 again.
(2 and 3 run while the stopped node starts again.)

The team stack's own checks run first, before the machines' fixture starts: team up (bootstrap,
datasource, Dashboards, team Prometheus), outputs and secret state, a machine credential's 403s,
and the team stack's destroy keeping the cluster's data with a second up adopting it.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time

import pytest
import requests

import secured_cluster
import team_machines as tm
import machine_refusal as mr
from components import names
from components.bootstrap import opensearch as boot
from components.services import collector_machine
from components.services.prometheus_config import MACHINE_REFUSED_METRIC
from components.providers.opensearch import security
from durable_traffic import HttpLane
from net import free_port, wait_until
from otlp_sender import send_delta_counters
from providers.telemetry_samples import RESOURCES
from test_stack_lifecycle import USER_VIS, clawker_workspaces, dashboards, save_visualization_as_a_user

PER_MACHINE = 5000
ALICE, BOB = "alice-laptop", "bob-laptop"
# The node the machines ship to (the first of clusterUrls is its door).
SHIPPED_TO = 0
# The negative control of the failover: a third machine's collector whose config has only the first
# of clusterUrls (tm.one_url_collector), sending during the same outage.
ONE_URL, ONE_URL_RECORDS = "one-url-laptop", 200
WRONG_PASSWORD = "wrong-password-of-alice"


@contextlib.contextmanager
def phase(name: str):
    """Prints how long a step took (the cost of this module, TESTING.md; shown with -s)."""
    t0 = time.monotonic()
    yield
    print(f"[team-machines] {name}: {time.monotonic() - t0:.1f}s", file=sys.stderr)


@pytest.fixture(scope="module")
def machines(team, toolchain_bin):
    with phase("second engine"):
        engine2 = tm.second_engine()
    alice = tm.machine_stack(team, ALICE, None, toolchain_bin)
    bob = tm.machine_stack(team, BOB, engine2, toolchain_bin)
    try:
        with phase("both machine stacks up"):
            tm.up_all([alice.stack, bob.stack])
        yield {ALICE: alice, BOB: bob}
    finally:
        with phase("machine stacks destroyed"):
            tm.up_all([alice.stack, bob.stack], command="destroy")
        for m in (alice, bob):
            m.stack.remove()
            tm.remove_machine_leftovers(m.docker_host)


@pytest.fixture(scope="module")
def one_url(team, tmp_path_factory):
    """Started before the outage, stopped with the module: its records wait out the outage in its queue."""
    with tm.one_url_collector(team, ONE_URL, ALICE, tmp_path_factory.mktemp("one-url")) as running:
        yield {**running, "tag": f"m-{ONE_URL}-{time.time_ns()}"}


def outage_detail(team, machines, tags, door) -> str:
    """For a failure message: what each machine has stored, the cluster's health and each collector's last log lines."""
    lines = [f"{m}: {len(tm.stored(team, tags[m], door=door)[0])} stored" for m in tags]
    lines.append(team.call("GET", "_cluster/health", door=door).text[:600])
    for m in tags:
        lines += [f"--- {m} collector log", *machines[m].collector_log().splitlines()[-25:]]
    return "\n".join(lines)


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
    # Where Dashboards answers: published on 127.0.0.1 only (not hostName, the address machines dial).
    assert out["urls"] == {"dashboards": team.dashboards_url}
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

# Before the machines' tests (their fixture starts with the first of them): it deletes the
# machines' credentials and brings them back with new passwords.
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
    team.outputs = team.stack.outputs()  # the new credentials, for what runs after


def test_two_machines_each_store_5000_records_exactly_once_through_a_node_outage(team, machines, one_url):
    tags = {m: f"m-{m}-{time.time_ns()}" for m in (ALICE, BOB)}
    senders = {m: tm.sender(machines[m], tags[m], PER_MACHINE).start() for m in (ALICE, BOB)}
    # A third of each sent, the node they ship to (the first of clusterUrls) stops, as an operator
    # takes a node down: out of the voting configuration first, so that the other node keeps the
    # cluster writable (with two manager-eligible nodes only one votes; README "Running for a team").
    wait_until(lambda: all(s.sent.count() >= PER_MACHINE // 3 for s in senders.values()), 120, "a third of each machine's records accepted")
    other = 1 - SHIPPED_TO
    node = f"secured-{SHIPPED_TO}"
    excluded = team.call("POST", "_cluster/voting_config_exclusions", params={"node_names": node, "timeout": "60s"}, door=other)
    assert excluded.status_code == 200, excluded.text
    t_stop = time.monotonic()
    secured_cluster.stop_node(team.cluster, SHIPPED_TO)
    try:
        # The collector without failover takes its numbered records too (into its on-disk queue).
        control = tm.sender(None, one_url["tag"], ONE_URL_RECORDS, lane=HttpLane(f"http://127.0.0.1:{one_url['ports']['http']}")).start()
        control.join(60)
        assert control.sent.count() == ONE_URL_RECORDS
        for s in senders.values():
            s.join(300)
        assert all(s.sent.count() == PER_MACHINE for s in senders.values())
        # Every record reaches the cluster while that node is down: the collectors failed over to the next URL.
        for m in (ALICE, BOB):
            wait_until(lambda m=m: len(tm.stored(team, tags[m], door=other)[0]) >= PER_MACHINE, 240,
                       f"{m}'s {PER_MACHINE} records with node {SHIPPED_TO} stopped",
                       detail=lambda: outage_detail(team, machines, tags, other))
        print(f"[team-machines] all records stored with the node down {time.monotonic() - t_stop:.1f}s after its stop", file=sys.stderr)
        # Negative control: without the failover the records wait for the node. Sent before the rest of
        # alice's and bob's, none of them is stored while it is down; its collector keeps retrying.
        assert "Exporting failed. Will retry" in one_url["log"].read_text(), one_url["log"].read_text()[-3000:]
        assert tm.stored(team, one_url["tag"], door=other) == (set(), 0, {})
    finally:
        # Back in the background: the explicit-settings, bad-CA and destroy checks below need only the other node.
        secured_cluster.start_node(team.cluster, SHIPPED_TO, wait=False)
        team.call("DELETE", "_cluster/voting_config_exclusions", params={"wait_for_removal": "false"}, door=other)
    for m in (ALICE, BOB):
        seqs, total, by_machine = tm.stored(team, tags[m], door=other)
        assert (seqs, total, by_machine) == (set(range(PER_MACHINE)), PER_MACHINE, {m: PER_MACHINE}), \
            (m, len(seqs), total, by_machine, tm.explain_stored(team, tags[m], door=other))

    # Series: every machine's cost and its collector's own metrics, labelled with the machine.
    for m in (ALICE, BOB):
        assert send_delta_counters(
            f"http://127.0.0.1:{machines[m].http_port}", resource=RESOURCES["claude-code"], scope="com.anthropic.claude_code",
            counters={"claude_code.cost.usage": {"unit": "USD"}},
            rounds=[[("claude_code.cost.usage", 0.5, {"model": "claude-sonnet-4-5"})]],
        )
    wait_until(lambda: tm.series_machines(team, '{__name__=~"claude_code_cost.*"}') >= {ALICE, BOB}, 120, "cost series from both machines")
    wait_until(lambda: tm.series_machines(team, '{__name__=~"otelcol_receiver_accepted_log_records.*"}') >= {ALICE, BOB}, 120, "collector series from both machines")


TEAM_DASHBOARD = "Claude Code Team & Users"
BY_MACHINE = ("Cost by Machine (USD)", "Tokens by Machine")


def test_the_team_dashboard_breaks_cost_and_tokens_down_by_machine(team, machines):
    """Team & Users' PromQL panels per machine, their queries as saved, on the team Prometheus (what the
    team's datasource asks): each machine's line is exactly what that machine's agents counted."""
    import panel_proof as pp

    panels = {p.title: p for p in pp.dashboard_panels(pp.load_bundle()) if TEAM_DASHBOARD in p.dashboards}
    queries = {title: pp.promql_of(panels[title]) for title in BY_MACHINE}

    def by_machine(promql: str) -> dict[str, float]:
        answer = requests.get(f"{team.prometheus_url}/api/v1/query", params={"query": promql}, auth=team.admin,
                              verify=str(team.ca_file), timeout=10)
        assert answer.status_code == 200, answer.text[:1000]
        return {r["metric"].get("machine", ""): round(float(r["value"][1]), 6) for r in answer.json()["data"]["result"]}

    before = {title: by_machine(q) for title, q in queries.items()}
    sent = {ALICE: (1.25, 1200), BOB: (2.5, 3400)}  # USD, input tokens
    model = {"model": "claude-opus-4-5"}
    for m, (usd, tokens) in sent.items():
        assert send_delta_counters(
            f"http://127.0.0.1:{machines[m].http_port}", resource=RESOURCES["claude-code"], scope="com.anthropic.claude_code",
            counters={"claude_code.cost.usage": {"unit": "USD"}, "claude_code.token.usage": {"unit": "tokens"}},
            rounds=[[("claude_code.cost.usage", usd, model), ("claude_code.token.usage", tokens, {**model, "type": "input"})]],
        )
    # Every other line (a machine that sent nothing now) as it was.
    expected = {
        title: {**before[title], **{m: round(before[title].get(m, 0) + sent[m][i], 6) for m in sent}}
        for i, title in enumerate(BY_MACHINE)
    }
    wait_until(lambda: {title: by_machine(q) for title, q in queries.items()} == expected, 120,
               "each machine's cost and tokens on the Team & Users panels",
               detail=lambda: f"expected {expected}, got {({t: by_machine(q) for t, q in queries.items()})}")


def test_a_bad_ca_password_or_cluster_url_fails_up_naming_it_before_the_collector_is_replaced(team, machines, tmp_path):
    from e2e.tls_material import issue

    alice = machines[ALICE]
    user, password = team.credential(ALICE)
    # The explicit settings instead of teamStack: the same endpoints, so nothing of alice's changes.
    alice.stack.run("config", "rm", "clawker-monitor:teamStack")
    alice.stack.set_config("clusterUrls", ",".join(team.urls))
    tm.set_pem(alice.stack, "clusterCaCert", team.ca_pem)
    alice.stack.set_config("machinePassword", password, secret=True)
    alice.stack.set_config("teamPrometheusUrl", team.prometheus_url)
    with phase("alice preview (explicit settings)"):
        changes = alice.stack.preview_changes()
    assert not {urn: op for urn, op in changes.items() if "StackReference" not in urn}, changes

    container = alice.collector_id()

    def up_fails_naming(setting: str, what: str) -> str:
        with phase(f"alice up ({what})"):
            failed = alice.stack.run("up", "--yes", "--skip-preview", check=False)
        assert failed.returncode != 0 and f"clawker-monitor:{setting}:" in failed.output, failed.output[-3000:]
        assert password not in failed.output and WRONG_PASSWORD not in failed.output
        # The running collector was not touched: the same container, still running.
        assert alice.collector_id() == container
        assert alice.docker("inspect", "-f", "{{.State.Running}}", names.COLLECTOR).stdout.strip() == "true"
        return failed.output

    stranger = issue(tmp_path / "stranger").impostor_cert.read_text()
    tm.set_pem(alice.stack, "clusterCaCert", stranger)
    up_fails_naming("clusterCaCert", "bad CA")
    tm.set_pem(alice.stack, "clusterCaCert", team.ca_pem)
    alice.stack.set_config("machinePassword", WRONG_PASSWORD, secret=True)
    up_fails_naming("machinePassword", "wrong password")
    alice.stack.set_config("machinePassword", password, secret=True)
    # No URL of the cluster answers (nothing listens on these ports of the team's host).
    nowhere = [f"https://{team.address}:{free_port()}" for _ in range(2)]
    alice.stack.set_config("clusterUrls", ",".join(nowhere))
    output = up_fails_naming("clusterUrls", "unreachable cluster")
    assert all(url in output for url in nowhere), output[-3000:]
    # The good settings back: nothing to change (the StackReference goes with the next `up`).
    alice.stack.set_config("clusterUrls", ",".join(team.urls))
    with phase("alice preview (good settings back)"):
        changes = alice.stack.preview_changes()
    assert not {urn: op for urn, op in changes.items() if "StackReference" not in urn}, changes


def test_a_machine_destroy_touches_nothing_shared(team, machines):
    alice = machines[ALICE]
    shared = {c: tm.engine_docker(None, "inspect", "-f", "{{.Id}}", c).stdout.strip() for c in (names.PROMETHEUS, names.DASHBOARDS)}
    network = tm.engine_docker(None, "network", "inspect", "-f", "{{.Id}}", names.NETWORK).stdout.strip()
    credentials = tm.security_objects(team, door=1 - SHIPPED_TO)
    # Alice's own records (the whole pattern could still grow: the one-URL collector delivers what it
    # kept through the outage once the node is back, test_without_failover_...).
    records = tm.machine_records(team, ALICE, door=1 - SHIPPED_TO)
    assert records >= PER_MACHINE
    with phase("alice destroy"):
        alice.stack.destroy()
    assert tm.engine_docker(None, "inspect", names.COLLECTOR, check=False).returncode != 0
    assert {c: tm.engine_docker(None, "inspect", "-f", "{{.Id}}", c).stdout.strip() for c in shared} == shared
    assert tm.engine_docker(None, "network", "inspect", "-f", "{{.Id}}", names.NETWORK).stdout.strip() == network
    assert tm.security_objects(team, door=1 - SHIPPED_TO) == credentials
    assert tm.machine_records(team, ALICE, door=1 - SHIPPED_TO) == records


def test_without_failover_the_records_of_the_outage_arrive_once_the_node_is_back(team, one_url):
    with phase("waiting for the restarted node"):
        secured_cluster.wait_for_nodes(team.cluster)
    wait_until(lambda: len(tm.stored(team, one_url["tag"])[0]) >= ONE_URL_RECORDS, 120,
               f"the one-URL collector's {ONE_URL_RECORDS} records once node {SHIPPED_TO} is back",
               detail=lambda: one_url["log"].read_text()[-3000:])
    assert tm.stored(team, one_url["tag"]) == (set(range(ONE_URL_RECORDS)), ONE_URL_RECORDS, {ONE_URL: ONE_URL_RECORDS}), \
        tm.explain_stored(team, one_url["tag"])


def test_a_revoked_machine_keeps_its_records_and_delivers_them_once_readmitted(team, machines):
    bob = machines[BOB]
    tag = f"revoked-{time.time_ns()}"
    with phase("waiting for the restarted node"):
        secured_cluster.wait_for_nodes(team.cluster)
    checks = {url + collector_machine.CREDENTIAL_CHECK_PATH for url in team.urls}
    prometheus = (team.prometheus_url, team.admin, str(team.ca_file))
    # Negative control: admitted, bob's credential check reports 0 at every cluster URL, his log no refusal.
    with phase("bob's check accepted"):
        wait_until(lambda: mr.reported(*prometheus, BOB) == dict.fromkeys(checks, 0), 60, "bob's credential check accepted at every URL",
                   detail=lambda: str(mr.reported(*prometheus, BOB)))
    assert mr.refusals(bob.collector_log()) == []
    # The same on his own endpoint, on this host's 127.0.0.1 (his engine publishes there).
    with phase("bob's own endpoint accepted"):
        wait_until(lambda: mr.local(bob.local_metrics()) == dict.fromkeys(checks, 0), 60, "bob's own endpoint: accepted at every URL",
                   detail=lambda: str(mr.scrape(bob.local_metrics())))
    before = tm.security_objects(team)
    team.stack.set_config("machines", ALICE)
    with phase("team up (revoke)"):
        team.stack.up()
    assert all(not [n for n in v if BOB in n] for v in tm.security_objects(team).values()), tm.security_objects(team)
    sent = tm.sender(bob, tag, 500).start()
    sent.join(120)
    wait_until(lambda: "Exporting failed. Will retry" in bob.collector_log() and "invalid character 'U'" in bob.collector_log(),
               120, "bob's collector refusing and retrying from its queue")
    # His collector says why: the cluster refuses his credential (401) at every URL, and what to do.
    def refused_at_every_url() -> list[str]:
        got = mr.refusals(bob.collector_log())
        return got if all(any(c in line for line in got) for c in checks) else []

    with phase("bob's refusal logged"):
        lines = wait_until(refused_at_every_url, 60, "bob's collector logging the refusal at every cluster URL")
    assert all(mr.says_why(line) for line in lines), lines
    print(f"[team-machines] bob's log: {lines[-1]}", file=sys.stderr)
    # His metrics say why on his machine: the team Prometheus refuses him now, his own endpoint does not.
    with phase("bob's own endpoint refused"):
        wait_until(lambda: mr.local(bob.local_metrics()) == dict.fromkeys(checks, 1), 60, "bob's own endpoint: refused at every URL",
                   detail=lambda: str(mr.scrape(bob.local_metrics())))
    helps, samples = mr.scrape(bob.local_metrics())
    assert helps[MACHINE_REFUSED_METRIC] == collector_machine.REFUSED_DESCRIPTION
    assert {labels.get("machine") for name, labels, _ in samples if name != "target_info"} == {BOB}
    print("[team-machines] bob's endpoint: " + "; ".join(f"{n}{l} {v}" for n, l, v in samples if n.startswith(("clawker", "otelcol_exporter_queue"))),
          file=sys.stderr)
    assert len(tm.stored(team, tag)[0]) == 0
    # His stack says why, naming the setting, before anything is touched.
    with phase("bob preview (refused)"):
        preview = bob.stack.preview(check=False)
    assert preview.returncode != 0 and f"clawker-monitor:machineName: {BOB} has no credential" in preview.output, preview.output[-3000:]

    team.stack.set_config("machines", f"{ALICE},{BOB}")
    with phase("team up (re-admit)"):
        team.stack.up()
    assert tm.security_objects(team) == before
    readmitted = time.time()
    with phase("bob up"):
        bob.stack.up()
    wait_until(lambda: len(tm.stored(team, tag)[0]) >= 500, 240, "bob's 500 queued records after re-admission")
    assert tm.stored(team, tag) == (set(range(500)), 500, {BOB: 500}), tm.explain_stored(team, tag)
    # Accepted again: fresh samples of 0 at every URL, and no refusal in his new collector's log.
    with phase("bob's check accepted again"):
        wait_until(lambda: mr.reported(*prometheus, BOB, since=readmitted) == dict.fromkeys(checks, 0), 60,
                   "bob's credential check accepted again", detail=lambda: str(mr.reported(*prometheus, BOB)))
        wait_until(lambda: mr.local(bob.local_metrics()) == dict.fromkeys(checks, 0), 60, "bob's own endpoint: accepted again",
                   detail=lambda: str(mr.scrape(bob.local_metrics())))
    assert mr.refusals(bob.collector_log()) == []
