"""Two machine stacks, each on its own Docker Engine, shipping to the shared secured team cluster.

One team (tests/e2e/team_fixture.py: two secured OpenSearch nodes, the team stack up), two machine
stacks through the real Pulumi CLI (tests/e2e/team_machines.py): alice-laptop on the first engine,
bob-laptop on a second `dockerd`, both reading the team stack through a StackReference. The checks
share the stacks and one node outage, in order:
1. both machines take 5,000 numbered Claude Code records each at once; a third of the way in, the
   node they ship to (the first of clusterUrls) stops: they fail over to the next URL and every
   record is stored exactly once, each carrying its machine, before that node is back; the series
   in the team Prometheus carry `machine` too;
2. alice on explicit settings (preview: nothing of hers changes), then a CA that did not sign the
   cluster: `pulumi up` fails naming clusterCaCert and her collector is the same container;
3. alice's `pulumi destroy` leaves the team's containers, network, credentials and records alone;
4. bob revoked (the team stack's `machines` without it, `pulumi up` there): his records wait on his
   disk; his stack's preview says why; re-admitted, they arrive exactly once.
(2 and 3 run while the stopped node starts again.)
"""

from __future__ import annotations

import contextlib
import sys
import time

import pytest

import secured_cluster
import team_machines as tm
from components import names
from net import wait_until
from otlp_sender import send_delta_counters
from providers.telemetry_samples import RESOURCES

PER_MACHINE = 5000
ALICE, BOB = "alice-laptop", "bob-laptop"
# The node the machines ship to (the first of clusterUrls is its door).
SHIPPED_TO = 0


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


def outage_detail(team, machines, tags, door) -> str:
    """For a failure message: what each machine has stored, the cluster's health and each collector's last log lines."""
    lines = [f"{m}: {len(tm.stored(team, tags[m], door=door)[0])} stored" for m in tags]
    lines.append(team.call("GET", "_cluster/health", door=door).text[:600])
    for m in tags:
        lines += [f"--- {m} collector log", *machines[m].collector_log().splitlines()[-25:]]
    return "\n".join(lines)


def test_two_machines_each_store_5000_records_exactly_once_through_a_node_outage(team, machines):
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
        for s in senders.values():
            s.join(300)
        assert all(s.sent.count() == PER_MACHINE for s in senders.values())
        # Every record reaches the cluster while that node is down: the collectors failed over to the next URL.
        for m in (ALICE, BOB):
            wait_until(lambda m=m: len(tm.stored(team, tags[m], door=other)[0]) >= PER_MACHINE, 240,
                       f"{m}'s {PER_MACHINE} records with node {SHIPPED_TO} stopped",
                       detail=lambda: outage_detail(team, machines, tags, other))
        print(f"[team-machines] all records stored with the node down {time.monotonic() - t_stop:.1f}s after its stop", file=sys.stderr)
    finally:
        # Back in the background: the explicit-settings, bad-CA and destroy checks below need only the other node.
        secured_cluster.start_node(team.cluster, SHIPPED_TO, wait=False)
        team.call("DELETE", "_cluster/voting_config_exclusions", params={"wait_for_removal": "false"}, door=other)
    for m in (ALICE, BOB):
        seqs, total, by_machine = tm.stored(team, tags[m], door=other)
        assert (seqs, total, by_machine) == (set(range(PER_MACHINE)), PER_MACHINE, {m: PER_MACHINE}), (m, len(seqs), total, by_machine)

    # Series: every machine's cost and its collector's own metrics, labelled with the machine.
    for m in (ALICE, BOB):
        assert send_delta_counters(
            f"http://127.0.0.1:{machines[m].http_port}", resource=RESOURCES["claude-code"], scope="com.anthropic.claude_code",
            counters={"claude_code.cost.usage": {"unit": "USD"}},
            rounds=[[("claude_code.cost.usage", 0.5, {"model": "claude-sonnet-4-5"})]],
        )
    wait_until(lambda: tm.series_machines(team, '{__name__=~"claude_code_cost.*"}') >= {ALICE, BOB}, 120, "cost series from both machines")
    wait_until(lambda: tm.series_machines(team, '{__name__=~"otelcol_receiver_accepted_log_records.*"}') >= {ALICE, BOB}, 120, "collector series from both machines")


def test_a_bad_ca_fails_up_naming_the_setting_before_the_collector_is_replaced(team, machines, tmp_path):
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
    stranger = issue(tmp_path / "stranger").impostor_cert.read_text()
    tm.set_pem(alice.stack, "clusterCaCert", stranger)
    with phase("alice up (bad CA)"):
        failed = alice.stack.run("up", "--yes", "--skip-preview", check=False)
    assert failed.returncode != 0 and "clawker-monitor:clusterCaCert:" in failed.output, failed.output[-3000:]
    assert password not in failed.output
    assert alice.collector_id() == container
    assert alice.docker("inspect", "-f", "{{.State.Running}}", names.COLLECTOR).stdout.strip() == "true"


def test_a_machine_destroy_touches_nothing_shared(team, machines):
    alice = machines[ALICE]
    shared = {c: tm.engine_docker(None, "inspect", "-f", "{{.Id}}", c).stdout.strip() for c in (names.PROMETHEUS, names.DASHBOARDS)}
    network = tm.engine_docker(None, "network", "inspect", "-f", "{{.Id}}", names.NETWORK).stdout.strip()
    credentials = tm.security_objects(team, door=1 - SHIPPED_TO)
    records = team.call("GET", f"{names.read_pattern('claude-code')}/_count", door=1 - SHIPPED_TO).json()["count"]
    with phase("alice destroy"):
        alice.stack.destroy()
    assert tm.engine_docker(None, "inspect", names.COLLECTOR, check=False).returncode != 0
    assert {c: tm.engine_docker(None, "inspect", "-f", "{{.Id}}", c).stdout.strip() for c in shared} == shared
    assert tm.engine_docker(None, "network", "inspect", "-f", "{{.Id}}", names.NETWORK).stdout.strip() == network
    assert tm.security_objects(team, door=1 - SHIPPED_TO) == credentials
    assert team.call("GET", f"{names.read_pattern('claude-code')}/_count", door=1 - SHIPPED_TO).json()["count"] == records


def test_a_revoked_machine_keeps_its_records_and_delivers_them_once_readmitted(team, machines):
    bob = machines[BOB]
    tag = f"revoked-{time.time_ns()}"
    with phase("waiting for the restarted node"):
        secured_cluster.wait_for_nodes(team.cluster)
    before = tm.security_objects(team)
    team.stack.set_config("machines", ALICE)
    with phase("team up (revoke)"):
        team.stack.up()
    assert all(not [n for n in v if BOB in n] for v in tm.security_objects(team).values()), tm.security_objects(team)
    sent = tm.sender(bob, tag, 500).start()
    sent.join(120)
    wait_until(lambda: "Exporting failed. Will retry" in bob.collector_log() and "invalid character 'U'" in bob.collector_log(),
               120, "bob's collector refusing and retrying from its queue")
    assert len(tm.stored(team, tag)[0]) == 0
    # His stack says why, naming the setting, before anything is touched.
    with phase("bob preview (refused)"):
        preview = bob.stack.preview(check=False)
    assert preview.returncode != 0 and f"clawker-monitor:machineName: {BOB} has no credential" in preview.output, preview.output[-3000:]

    team.stack.set_config("machines", f"{ALICE},{BOB}")
    with phase("team up (re-admit)"):
        team.stack.up()
    assert tm.security_objects(team) == before
    with phase("bob up"):
        bob.stack.up()
    wait_until(lambda: len(tm.stored(team, tag)[0]) >= 500, 240, "bob's 500 queued records after re-admission")
    assert tm.stored(team, tag) == (set(range(500)), 500, {BOB: 500})
