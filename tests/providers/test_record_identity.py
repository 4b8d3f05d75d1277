"""Which records are one record (README "Durable delivery": identity per source).

Through the REAL collector build (the stack's rendered config, made local by
test_collector_to_opensearch._local_config) into a real OpenSearch:
- genuine repeats are kept: two identical Envoy access lines and two identical
  CoreDNS queries in one request (one millisecond) are stored twice, and so are two
  identical clawker-cli lines;
- a Claude Code request its SDK sends twice (an answer it never got) is stored once:
  its events carry session.id and event.sequence, so their content is their identity;
- a resend of the same bulk (OpenSearch stored it, the answer was lost) and a replay
  of the durable queue after a SIGKILL of the collector (OpenSearch had stored the
  bulk, the collector died before it heard) are stored once, genuine repeats still
  twice: the intake id was stamped before the on-disk queue;
- negative controls: today's collector config (no intake id: the content hash alone)
  collapses the same genuine repeats into one document each; an intake id stamped
  after the persistent queue instead of before it stores a resent bulk again.

The faults are injected between the collector and OpenSearch by a forwarding proxy
(LossyProxy) that passes every request to the real OpenSearch and, for one bulk
carrying this run's records, drops OpenSearch's answer after it was given.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable, Optional

import pytest
import yaml

import durable_traffic as dt
from telemetry_samples import ingest_source_for, ss4o_log_document
from test_collector_to_opensearch import _bootstrap, _collector_binary, _local_config, _wait_port
from test_opensearch_mappings import bulk_items, install_log_index
from net import AnswerLosingProxy

from components import names
from components.services import collector_config

ARRIVAL_S = 90
ENVOY, COREDNS, CLI, CLAUDE = "clawker-envoy", "clawker-coredns", "clawker-cli", "claude-code"


# --------------------------------------------------------------------------- fault injection


class LossyProxy(AnswerLosingProxy):
    """Forwards every request to OpenSearch, and loses OpenSearch's answer to a bulk that carries `marker`.

    Such a bulk reaches OpenSearch and is answered there; the proxy records the answer and
    the indices the bulk wrote to, calls `on_lost` (e.g. SIGKILL the collector) and closes
    the connection without sending a byte. It does so for the first such bulk of each index
    (`per_index`), or for the first one only.
    """

    def __init__(self, upstream: str, marker: str, *, per_index: bool, on_lost: Optional[Callable[[], None]] = None):
        self.lost: list[dict] = []  # {"indices", "status", "body"}: answers the collector never got
        self.bulks_with_marker = 0
        mark = marker.encode()

        def lose(_method: str, path: str, body: bytes, status: int, answer: bytes) -> bool:
            if not (path.endswith("_bulk") and mark in body):
                return False
            indices = bulk_indices(body) | {p for p in path.split("/")[:-1] if p}
            assert indices, f"a bulk naming no index: {path}"
            self.bulks_with_marker += 1
            lost = not (indices & self.lost_indices()) if per_index else not self.lost
            if lost:
                self.lost.append({"indices": indices, "status": status, "body": json.loads(answer or b"{}")})
            return lost

        super().__init__(upstream, lose, on_lost or (lambda: None))

    def lost_indices(self) -> set[str]:
        return set().union(*(x["indices"] for x in self.lost)) if self.lost else set()


def bulk_indices(ndjson: bytes) -> set[str]:
    """The indices a bulk body's action lines name."""
    out = set()
    for line in ndjson.splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict) and len(item) == 1:
            (action, meta), = item.items()
            if action in ("index", "create") and isinstance(meta, dict) and "_index" in meta:
                out.add(meta["_index"])
    return out


# --------------------------------------------------------------------------- the collector


class Collector:
    """The real collector build as a local process; start() again reuses its config and queue directory."""

    def __init__(self, tmp_path: Path, opensearch_url: str, edit: Callable[[dict], None] = lambda c: None):
        self.queue_dir = tmp_path / "queue"
        self.queue_dir.mkdir()
        config, self.ports = _local_config(opensearch_url, self.queue_dir)
        edit(config)
        self.path = tmp_path / "otel-collector-config.yaml"
        self.path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.log = tmp_path / "collector.log"
        self.proc: Optional[subprocess.Popen] = None

    def start(self) -> "Collector":
        self.proc = subprocess.Popen(
            [_collector_binary(), f"--config={self.path}"],
            stdout=open(self.log, "a"), stderr=subprocess.STDOUT, start_new_session=True,
        )
        for key in ("http", "infra"):
            _wait_port(self.ports[key], self.proc, self.log)
        return self

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def lanes(self) -> tuple[dt.HttpLane, dt.GrpcLane]:
        # The local config's trusted receiver has no TLS (its processors and exporters are the stack's).
        return dt.HttpLane(f"http://127.0.0.1:{self.ports['http']}"), dt.GrpcLane(f"127.0.0.1:{self.ports['infra']}")


@pytest.fixture()
def collectors(tmp_path):
    started: list[Collector] = []

    def make(opensearch_url: str, name: str = "c", edit: Callable[[dict], None] = lambda c: None) -> Collector:
        folder = tmp_path / name
        folder.mkdir()
        c = Collector(folder, opensearch_url, edit)
        started.append(c)
        return c

    yield make
    for c in started:
        c.stop()


def without_intake_id(config: dict) -> None:
    """The collector config as it was before the intake id (negative control)."""
    for pipeline in config["service"]["pipelines"].values():
        if collector_config.INTAKE_ID_PROCESSOR in pipeline.get("processors", []):
            pipeline["processors"].remove(collector_config.INTAKE_ID_PROCESSOR)
    del config["processors"][collector_config.INTAKE_ID_PROCESSOR]


# --------------------------------------------------------------------------- traffic and counting


# Per index, the sequence numbers of one request: seq 0 twice (two identical records in one
# request, one millisecond), the others once.
TWINNED = {ENVOY: [0, 0, 1, 2], COREDNS: [0, 0, 1, 2], CLI: [0, 0, 1]}
WANT = {index: {s: seqs.count(s) for s in set(seqs)} for index, seqs in TWINNED.items()}


def send_twins(c: Collector, tag: str) -> None:
    http_lane, grpc_lane = c.lanes()
    for index, seqs in TWINNED.items():
        samples = dt.shaped_records(index)
        body = dt.logs_request(index, tag, [(s, samples[s % len(samples)]) for s in seqs])
        lane = http_lane if index in dt.UNTRUSTED else grpc_lane
        assert lane.post("logs", body), f"collector refused {index}"


def stored(cluster, index: str, tag: str) -> list[dict]:
    """This run's documents in index: seq, _id, _version (2 once something overwrote it)."""
    # A stream's records are in its daily indices (README "Retention").
    cluster.call("POST", f"{names.read_pattern(index)}/_refresh")
    hits = cluster.call("POST", f"{names.read_pattern(index)}/_search", {
        "size": 100, "version": True, "query": {"term": {"resource.agent": tag}},
    }).json()["hits"]["hits"]
    return [{"seq": int(h["_source"]["attributes"][dt.SEQ]), "id": h["_id"], "version": h["_version"],
             "source": h["_source"]} for h in hits]


def per_seq(docs: list[dict]) -> dict[int, int]:
    out: dict[int, int] = {}
    for d in docs:
        out[d["seq"]] = out.get(d["seq"], 0) + 1
    return out


def wait_for(cluster, indices, tag: str, c: "Collector", done: Callable[[dict], bool], what: str) -> dict:
    """Polls this run's documents per index until done(docs) holds."""
    deadline = time.monotonic() + ARRIVAL_S
    while True:
        docs = {index: stored(cluster, index, tag) for index in indices}
        if done(docs):
            return docs
        if time.monotonic() > deadline:
            counts = {i: per_seq(d) for i, d in docs.items()}
            raise AssertionError(f"{what} within {ARRIVAL_S}s: stored {counts}; collector log:\n{c.log.read_text()[-4000:]}")
        time.sleep(0.5)


def counted(docs: dict) -> dict:
    return {index: per_seq(d) for index, d in docs.items()}


def all_arrived(docs: dict) -> bool:
    return all(len(docs[i]) >= sum(w.values()) for i, w in WANT.items())


def all_overwritten(docs: dict) -> bool:
    """Every document of the run was written at least twice (the resend reached OpenSearch)."""
    return all_arrived(docs) and all(d["version"] >= 2 for ds in docs.values() for d in ds)


# --------------------------------------------------------------------------- tests


def test_genuine_repeats_are_stored_twice_and_a_claude_code_resend_once(cluster, collectors):
    _bootstrap(cluster)
    c = collectors(cluster.url).start()
    tag, _ = dt.run_tag()
    send_twins(c, tag)
    docs = wait_for(cluster, WANT, tag, c, all_arrived, "genuine repeats not all stored")
    assert counted(docs) == WANT
    assert all(d["id"].startswith("intake:") and d["version"] == 1 for ds in docs.values() for d in ds), docs
    # The intake id makes the id and is not kept in the document.
    assert not [d for ds in docs.values() for d in ds if collector_config.INTAKE_ID in d["source"]["attributes"]]

    # Claude Code's SDK sends a request again when it did not get the answer: its events carry
    # session.id and event.sequence, so the copy lands on the same documents.
    http_lane, _ = c.lanes()
    samples = dt.shaped_records(CLAUDE)
    claude = dt.logs_request(CLAUDE, tag, [(s, samples[s]) for s in range(3)])
    assert http_lane.post("logs", claude) and http_lane.post("logs", claude)
    resent = wait_for(cluster, [CLAUDE], tag, c,
                      lambda d: len(d[CLAUDE]) >= 3 and all(x["version"] >= 2 for x in d[CLAUDE]),
                      "the Claude Code resend did not reach OpenSearch")
    assert per_seq(resent[CLAUDE]) == {0: 1, 1: 1, 2: 1}
    assert all(d["id"].startswith("sha256:") for d in resent[CLAUDE]), resent


def test_control_without_the_intake_id_genuine_repeats_collapse(cluster, collectors):
    """Negative control: the collector config before the intake id (the content hash alone)
    stores each pair of identical Envoy lines, CoreDNS queries and CLI lines once."""
    _bootstrap(cluster)
    c = collectors(cluster.url, edit=without_intake_id).start()
    tag, _ = dt.run_tag()
    send_twins(c, tag)
    # Both twins were written: the second overwrote the first (version 2).
    docs = wait_for(cluster, WANT, tag, c,
                    lambda d: all(any(x["seq"] == 0 and x["version"] >= 2 for x in d[i]) and len(d[i]) >= len(WANT[i])
                                  for i in WANT),
                    "the twins were not both written")
    assert counted(docs) == {index: {s: 1 for s in want} for index, want in WANT.items()}


def test_a_resent_bulk_whose_answer_was_lost_is_stored_once(cluster, collectors):
    """OpenSearch stores the bulk, its answer is lost on the way back: the collector sends the same
    records again (same intake ids) and they overwrite what is there; the twins stay two."""
    _bootstrap(cluster)
    tag, _ = dt.run_tag()
    proxy = LossyProxy(cluster.url, tag, per_index=True)
    try:
        c = collectors(proxy.url).start()
        send_twins(c, tag)
        docs = wait_for(cluster, WANT, tag, c, all_overwritten, "the resend did not overwrite every document")
    finally:
        proxy.close()
    # Every index lost the answer to a bulk OpenSearch had stored in full.
    assert proxy.lost_indices() == set(WANT), proxy.lost
    assert all(x["status"] == 200 and x["body"]["errors"] is False for x in proxy.lost), proxy.lost
    assert counted(docs) == WANT


def stamp_after_the_queue(config: dict) -> None:
    """The intake id moved behind the persistent queue (into the store half): each delivery attempt
    stamps anew (negative control for "before the queue")."""
    pipelines = config["service"]["pipelines"]
    for intake in ("logs/untrusted", "logs/trusted"):
        pipelines[intake]["processors"].remove(collector_config.INTAKE_ID_PROCESSOR)
    for loop in ("logs/untrusted-loop", "logs/trusted-loop"):
        pipelines[loop]["processors"].append(collector_config.INTAKE_ID_PROCESSOR)


def test_control_an_intake_id_stamped_after_the_queue_doubles_a_resent_bulk(cluster, collectors):
    """Negative control: the same lost answers with the stamp after the queue store every resent record again."""
    _bootstrap(cluster)
    tag, _ = dt.run_tag()
    proxy = LossyProxy(cluster.url, tag, per_index=True)
    try:
        c = collectors(proxy.url, edit=stamp_after_the_queue).start()
        send_twins(c, tag)
        docs = wait_for(cluster, WANT, tag, c, lambda d: all(len(d[i]) >= 2 * sum(w.values()) for i, w in WANT.items()),
                        "the resent records were not stored again")
    finally:
        proxy.close()
    assert proxy.lost_indices() == set(WANT), proxy.lost
    assert all(sum(n.values()) > sum(WANT[i].values()) for i, n in counted(docs).items()), counted(docs)


def test_a_replay_after_a_collector_sigkill_is_stored_once(cluster, collectors):
    """The collector is SIGKILLed while OpenSearch's answer to a bulk it had stored is on its way:
    the restarted collector replays the request from its on-disk queue, with the same intake ids."""
    _bootstrap(cluster)
    tag, _ = dt.run_tag()
    holder: dict = {}
    proxy = LossyProxy(cluster.url, tag, per_index=False, on_lost=lambda: holder["c"].kill())
    try:
        c = holder["c"] = collectors(proxy.url).start()
        send_twins(c, tag)
        deadline = time.monotonic() + ARRIVAL_S
        while c.proc.poll() is None:
            assert time.monotonic() < deadline, f"the bulk never came: {c.log.read_text()[-3000:]}"
            time.sleep(0.2)
        assert c.proc.returncode == -signal.SIGKILL
        (lost,) = proxy.lost
        killed = lost["indices"]
        first = {index: stored(cluster, index, tag) for index in killed}
        c.start()
        docs = wait_for(cluster, WANT, tag, c,
                        lambda d: all_arrived(d) and all(x["version"] >= 2 for i in killed for x in d[i]),
                        "the replay did not overwrite the killed bulk's documents")
    finally:
        proxy.close()
    assert lost["status"] == 200 and lost["body"]["errors"] is False, lost
    # The bulk was stored in full before the kill; the replay of the same records added nothing.
    assert killed and counted(first) == {i: WANT[i] for i in killed}, counted(first)
    assert counted(docs) == WANT
    assert {d["id"] for i in killed for d in first[i]} == {d["id"] for i in killed for d in docs[i]}


def test_the_envelope_pipeline_derives_the_id_from_the_intake_id_or_the_content(cluster):
    """The record-id step alone, on the exporter's documents (no collector): which id each record gets."""
    install_log_index(cluster, ENVOY)
    install_log_index(cluster, CLAUDE)
    envoy = ss4o_log_document(ENVOY, dt.shaped_records(ENVOY)[0], ingest_source=ingest_source_for(ENVOY))
    stamped = [json.loads(json.dumps(envoy)) for _ in range(2)]
    for doc, stamp in zip(stamped, ("0b7c6f1e-1111-4c2a-9d3e-000000000001", "0b7c6f1e-1111-4c2a-9d3e-000000000002")):
        doc["attributes"][collector_config.INTAKE_ID] = stamp
    # Two identical lines with their own intake ids: two documents; the same stamp again: the same one.
    ids = [item["_id"] for item in bulk_items(cluster, ENVOY, stamped + stamped[:1], action="index")]
    assert ids == ["intake:0b7c6f1e-1111-4c2a-9d3e-000000000001", "intake:0b7c6f1e-1111-4c2a-9d3e-000000000002", ids[0]]
    # Without one (a record that did not come through the intake), the content decides.
    unstamped = [item["_id"] for item in bulk_items(cluster, ENVOY, [envoy, envoy], action="index")]
    assert unstamped[0] == unstamped[1] and unstamped[0].startswith("sha256:")
    # Claude Code's events carry session.id and event.sequence: their content is their identity,
    # whatever intake id they got (an SDK resend gets a new one).
    event = ss4o_log_document(CLAUDE, dt.shaped_records(CLAUDE)[0], ingest_source=ingest_source_for(CLAUDE))
    resends = [json.loads(json.dumps(event)) for _ in range(2)]
    for doc, stamp in zip(resends, ("a", "b")):
        doc["attributes"][collector_config.INTAKE_ID] = stamp
    claude = [item["_id"] for item in bulk_items(cluster, CLAUDE, resends + [event], action="index")]
    assert len(set(claude)) == 1 and claude[0].startswith("sha256:"), claude
    # Without event.sequence the event is one more record of an unknown source: the intake id decides.
    del resends[0]["attributes"]["event.sequence"]
    (item,) = bulk_items(cluster, CLAUDE, resends[:1], action="index")
    assert item["_id"] == "intake:a"
    # An id the request carries (a copy from another index) is kept.
    (kept,) = bulk_items_with_ids(cluster, ENVOY, {"copied-id": stamped[0]})
    assert kept["_id"] == "copied-id" and kept["status"] == 201, kept
    for index in (ENVOY, CLAUDE):
        cluster.call("POST", f"{names.read_pattern(index)}/_refresh")
        hits = cluster.call("POST", f"{names.read_pattern(index)}/_search", {"size": 50}).json()["hits"]["hits"]
        assert not [h for h in hits if collector_config.INTAKE_ID in h["_source"]["attributes"]], "intake id kept in a document"
    cluster.call("POST", f"{names.read_pattern(ENVOY)}/_refresh")
    assert cluster.call("GET", f"{names.read_pattern(ENVOY)}/_count").json()["count"] == 4


def bulk_items_with_ids(cluster, index: str, docs: dict[str, dict]) -> list[dict]:
    lines = []
    for doc_id, doc in docs.items():
        lines += [json.dumps({"index": {"_index": index, "_id": doc_id}}), json.dumps(doc)]
    answer = cluster.call("POST", "_bulk", data=("\n".join(lines) + "\n").encode(),
                          headers={"Content-Type": "application/x-ndjson"}).json()
    return [item["index"] for item in answer["items"]]
