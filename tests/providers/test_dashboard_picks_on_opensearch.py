"""Issue 19: the machine and user controls select the right records on every dashboard panel.

Two machines' collectors (the REAL collector build, each with the machine part of its config:
components/services/collector_machine.py names every record and span at intake) ship the
realistic corpus (tests/corpus.py, tests/corpus_codex.py) into one REAL OpenSearch with the
stack's templates and pipelines; laptop-a sends all of it, laptop-b only the Claude Code CLI and
desktop sessions (dev@, ops@), Codex and the network records, not the team members' sessions
(alice, bob, carol, the CI bot). Then every panel of every dashboard (claude-code, codex and the
core's networking) is evaluated by the panel proof (tests/panel_proof.py) the way Dashboards runs
it with a pick in its controls (the filter Dashboards builds for it on the filter bar):
- picking one machine gives exactly that machine's share of the panel's documents (counted
  independently by a terms aggregation over `resource.machine` of the unfiltered panel), both
  machines give all of them, and every document names its machine;
- with laptop-a picked alone every panel still shows data (aggregations and columns filled);
- picking users gives exactly their share; a user and a machine together give only that user's
  records from that machine (alice on laptop-b: nothing);
- each control lists what a user can pick: both machines, the corpus's users;
- negative control: the same pick on a field the records do not carry selects nothing.
No pick adds no filter at all (Dashboards adds one only for a value picked), so a local stack's
dashboards show everything (tests/e2e/test_telemetry_flow.py::test_k_* checks the controls there).
"""

from __future__ import annotations

import contextlib
import json
import time

import requests

import corpus
import corpus_codex
import panel_proof as pp
from net import unused_port
from otlp_sender import http_log_exporter, send_logs, send_spans
from test_collector_to_opensearch import _as_envoy_writes, _bootstrap, _grpc_exporter, running_collector

from components import names
from components.bootstrap import dashboards as bd
from components.services import collector_machine
from components.settings import validate

MACHINES = ("laptop-a", "laptop-b")
MACHINE = "resource.machine"
USER = "attributes.user.email"
UNITS = ["claude-code", "codex"]
ARRIVAL_S = 120


def _machine_collector(url: str, work, machine: str):
    """A machine's collector: the stack's config plus the machine part, shipping to `url` (no TLS here)."""

    def as_machine(config: dict) -> None:
        shipped = collector_machine.machine_part(config, machine, cluster_ca=False, prometheus_ca=False,
                                                 local_metrics_port=unused_port(config), listen_host="127.0.0.1")
        config.clear()
        config.update(shipped)

    env = {
        collector_machine.ENV["cluster_url"]: url,
        collector_machine.ENV["username"]: machine,
        collector_machine.ENV["password"]: "unused-on-a-node-without-security",
        # No team Prometheus here: the collector's own metrics are refused and retried, nothing else.
        collector_machine.ENV["remote_write_url"]: "http://127.0.0.1:9/api/v1/write",
    }
    return running_collector(url, work, adjust=as_machine, env=env, settings={"units": UNITS})


def _batches(machine: str) -> list[corpus.Batch]:
    if machine == MACHINES[0]:
        chosen = corpus.log_batches()
    else:
        chosen = corpus.claude_code_batches() + [corpus.envoy_batch(), corpus.coredns_batch()] + corpus.ebpf_batches()
    return chosen + corpus_codex.codex_batches()


def _send(ports: dict, machine: str) -> dict[str, int]:
    sent: dict[str, int] = {}
    for batch in _batches(machine):
        records = [_as_envoy_writes(r) for r in batch.records] if batch.index == "clawker-envoy" else batch.records
        exporter = http_log_exporter(f"http://127.0.0.1:{ports['http']}") if batch.lane == corpus.UNTRUSTED else _grpc_exporter(ports["infra"])
        assert send_logs(exporter, resource=batch.resource, records=records, scope=batch.scope), f"{machine}: {batch.service} refused"
        sent[batch.index] = sent.get(batch.index, 0) + len(records)
    accepted, _ = send_spans(f"http://127.0.0.1:{ports['http']}", resource=corpus.claude_code_batches()[0].resource,
                             scope="com.anthropic.claude_code.tracing", tree=corpus.span_tree(machine))
    assert accepted
    sent[names.TRACES_INDEX] = len(corpus.span_names(corpus.span_tree(machine)))
    return sent


def _stored(node, index: str, machine: str) -> int:
    answer = node.call("GET", f"{names.read_pattern(index)}/_count", {"query": {"term": {MACHINE: machine}}})
    return answer.json().get("count", 0) if answer.status_code == 200 else 0


def test_machine_and_user_picks_select_exactly_their_records_on_every_panel(cluster, tmp_path):
    settings = validate({"units": UNITS})
    _bootstrap(cluster, settings.stream_table)
    bundle = pp.load_bundle(bd.saved_objects(settings))
    panels = pp.dashboard_panels(bundle)
    url = cluster.real_url or cluster.url  # OpenSearch itself, not the ISM/SQL doubles in front of it
    with contextlib.ExitStack() as stack:
        sent = {}
        for machine in MACHINES:
            work = tmp_path / machine
            work.mkdir()
            running = stack.enter_context(_machine_collector(url, work, machine))
            sent[machine] = _send(running["ports"], machine)
        deadline = time.monotonic() + ARRIVAL_S
        while True:
            cluster.call("POST", "_refresh")
            stored = {m: {i: _stored(cluster, i, m) for i in sent[m]} for m in MACHINES}
            if stored == sent or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert stored == sent, f"stored {stored}, sent {sent}"

    session = requests.Session()

    def search(index: str, body: dict) -> dict:
        answer = session.post(f"{url}/{index}/_search", json=body, timeout=30)
        assert answer.status_code == 200, f"{index}: {answer.text[:2000]}"
        return answer.json()

    def msearch(requests_: list[tuple[str, dict]]) -> list[dict]:
        lines = [json.dumps(part) for index, body in requests_ for part in ({"index": index}, body)]
        answer = session.post(f"{url}/_msearch", data="\n".join(lines) + "\n", headers={"Content-Type": "application/x-ndjson"}, timeout=60)
        assert answer.status_code == 200, answer.text[:2000]
        responses = answer.json()["responses"]
        assert all("error" not in r for r in responses), responses
        return responses

    def evaluate(panel: pp.Panel, since: str, picks: dict[str, list[dict]], by: tuple[str, ...], shown: list[dict]):
        """In one _msearch: (name -> (total, per field) of the panel with each set of picks on the filter
        bar, and the panel proof's verdict on the panel with `shown` picked)."""
        asked: list[tuple[str, dict]] = []
        pp.evaluate_opensearch(pp.with_dashboard_filters(panel, shown), bundle, lambda i, b: asked.append((i, b)) or {"hits": {"total": {"value": 0}}}, since)
        counting = [pp.count_request(pp.with_dashboard_filters(panel, filters), bundle, since, by) for filters in picks.values()]
        answers = msearch(counting + asked)
        verdict = pp.evaluate_opensearch(pp.with_dashboard_filters(panel, shown), bundle, lambda i, b: answers[-1], since)
        return {name: pp.counts_of(r) for name, r in zip(picks, answers)}, verdict

    one = {m: pp.selection_filter(MACHINE, [m]) for m in MACHINES}
    alice, pair = pp.selection_filter(USER, ["alice@example.com"]), pp.selection_filter(USER, list(corpus.USERS))
    # Negative control: a pick on a field the records do not carry.
    wrong = pp.selection_filter("resource.attributes.machine", ["laptop-a"])
    split = {m: 0 for m in MACHINES}
    checked = 0
    for panel in panels:
        if panel.type == "explore":
            continue
        since = pp.time_from(panel, bundle)
        if pp.is_controls(panel):
            options = pp.control_options(panel, bundle, search, since)
            assert sorted(options[MACHINE]) == sorted(MACHINES), (panel.name, options)
            if USER in options:
                expected = set(corpus.USERS) | {m.email for m in corpus.TEAM_MEMBERS if m.email} if "codex" not in panel.id else {"dev@example.com"}
                assert set(options[USER]) == expected, (panel.name, options)
            continue
        controls = {c.field for p in panels if pp.is_controls(p) and set(p.dashboards) & set(panel.dashboards) for c in pp.controls_of(p, bundle)}
        picks = {"none": [], "wrong": [wrong], **{m: [one[m]] for m in MACHINES}}
        if USER in controls:
            picks.update({"alice": [alice], "alice on laptop-b": [alice, one["laptop-b"]], "pair": [pair], "pair on laptop-a": [pair, one["laptop-a"]]})
        # laptop-a sent the whole corpus: picked alone, every panel still shows data.
        got, shown = evaluate(panel, since, picks, tuple(f for f in (MACHINE, USER) if f in controls), [one["laptop-a"]])
        assert shown == [], f"{panel.name} with laptop-a picked: {shown}"
        total, per = got["none"]
        by_machine = per[MACHINE]
        assert total > 0 and sum(by_machine.values()) == total and "__missing__" not in by_machine, (panel.name, by_machine)
        for machine in MACHINES:
            assert got[machine][0] == by_machine.get(machine, 0), (panel.name, machine, got[machine][0], by_machine)
            split[machine] += by_machine.get(machine, 0) > 0
        assert got["wrong"][0] == 0, panel.name
        if USER in controls:
            assert got["alice"][0] == per[USER].get("alice@example.com", 0), panel.name
            assert got["alice on laptop-b"][0] == 0, panel.name
            assert got["pair on laptop-a"][0] == got["pair"][1][MACHINE].get("laptop-a", 0), panel.name
        checked += 1
    assert checked >= 80
    # Each machine's records fill most panels: the picks split real data, not one machine's alone.
    assert min(split.values()) >= checked // 2, split
