"""An adopted fixed-name index moves into the daily indices while the REAL collector keeps writing.

README "Retention" / "Moving from `clawker monitor`": a `claude-code` index kept from an
earlier release (its records in the index itself, processed by the old default and final
pipelines, one field mapped with a type our template cannot take in place) holds
N_ADOPTED numbered records. The collector (the stack's rendered config, as in
test_collector_to_opensearch.py) keeps receiving numbered records over OTLP/HTTP while
the Index provider moves the index. The first attempt is cut short for real (its process
SIGKILLed and its copy task cancelled mid-copy); the second completes. Every sequence
number is then counted exactly: 0 lost, 0 doubled.

Negative control: the earlier releases' rebuild (copy out, delete, make again, copy back),
under the same traffic, loses the records stored after its copy began.
"""

from __future__ import annotations

import datetime
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

import durable_traffic as dt
from opensearch_node import OpenSearchNode
from telemetry_samples import ingest_source_for, ss4o_log_document
from test_collector_to_opensearch import collector  # noqa: F401  (fixture)
from test_opensearch_mappings import TIMEOUT_S

from components import names
from components.bootstrap import opensearch as boot
from components.providers import opensearch as osp

INDEX = "claude-code"
N_ADOPTED = 50_000
ROOT = Path(__file__).resolve().parents[2]
# Live traffic: 50 records a request, 4 requests a second.
LIVE_BATCH, LIVE_RATE = 50, 4
DELIVERY_S = 180


def _props(node: OpenSearchNode) -> dict:
    return {
        "endpoint": node.url,
        "name": INDEX,
        "mappings": boot.index_mappings(INDEX),
        "settings": boot.index_settings(INDEX),
        "policy_id": None,
        "timeout_s": TIMEOUT_S,
    }


def _assets(node: OpenSearchNode, *, daily: bool) -> None:
    """Pipelines and the component template; the templates of this release (daily) or of the earlier one."""
    props = lambda name, body: {"endpoint": node.url, "name": name, "body": body, "timeout_s": TIMEOUT_S}  # noqa: E731
    for name, body in boot.pipeline_bodies().items():
        osp.IngestPipelineProvider().create(props(name, body))
    osp.ComponentTemplateProvider().create(props(names.COMPONENT_TEMPLATE, boot.component_template_body()))
    if daily:
        for name, body in boot.template_bodies(INDEX).items():
            osp.IndexTemplateProvider().create(props(name, body))
    else:
        osp.IndexTemplateProvider().create(props(names.LOG_INDEX_TEMPLATES[INDEX], _earlier_template()))


def _earlier_settings() -> dict:
    """The earlier releases' write path: the index holds the records, its own pipelines process them."""
    return {"default_pipeline": names.INDEX_PIPELINES[INDEX], "final_pipeline": names.ENVELOPE_PIPELINE}


def _earlier_template() -> dict:
    body = boot.index_template_body(INDEX)
    body["template"]["settings"]["index"].update(_earlier_settings())
    return body


def _adopted_index(node: OpenSearchNode, tag: str, n: int) -> None:
    """The kept index: the earlier pipelines, and cost_usd mapped as a keyword (ours: double)."""
    mappings = json.loads(json.dumps(boot.index_mappings(INDEX)))
    mappings["properties"]["attributes"]["properties"]["cost_usd"] = {"type": "keyword"}
    settings = {"index": {"number_of_shards": 1, "number_of_replicas": 0, **_earlier_settings()}}
    answer = node.call("PUT", INDEX, {"settings": settings, "mappings": mappings})
    assert answer.status_code == 200, answer.text
    samples = dt.shaped_records(INDEX)
    now = datetime.datetime.now(datetime.timezone.utc)
    for start in range(0, n, 5000):
        lines = []
        for seq in range(start, min(n, start + 5000)):
            record = samples[seq % len(samples)]
            doc = ss4o_log_document(INDEX, {**record, "attributes": {**record.get("attributes", {}), dt.SEQ: seq}},
                                    ingest_source=ingest_source_for(INDEX))
            doc["resource"]["agent"] = tag
            # Spread over the last three days (UTC), so the move fills several daily indices.
            ts = now - datetime.timedelta(days=seq % 3, milliseconds=seq)
            doc["@timestamp"] = ts.isoformat().replace("+00:00", "Z")
            lines += [json.dumps({"index": {"_index": INDEX}}), json.dumps(doc)]
        answer = node.call("POST", "_bulk", data=("\n".join(lines) + "\n").encode(),
                           headers={"Content-Type": "application/x-ndjson"}).json()
        assert not answer["errors"], [i for i in answer["items"] if i["index"].get("error")][:2]
    node.call("POST", f"{INDEX}/_refresh")
    assert node.call("GET", f"{INDEX}/_count").json()["count"] == n


def _sender(collector_ports: dict, tag: str, tag_hex: str, seq_start: int) -> dt.Sender:
    lane = dt.HttpLane(f"http://127.0.0.1:{collector_ports['http']}")
    return dt.Sender({INDEX: lane}, tag=tag, tag_hex=tag_hex, total=10**9, batch=LIVE_BATCH, rate=LIVE_RATE,
                     seq_start=seq_start).start()


def _wait(probe, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while True:
        got = probe()
        if got:
            return got
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def _reindex_task(node: OpenSearchNode) -> dict | None:
    tasks = node.call("GET", "_tasks", params={"actions": "indices:data/write/reindex", "detailed": "true"}).json()
    for node_tasks in tasks.get("nodes", {}).values():
        for task_id, task in node_tasks.get("tasks", {}).items():
            return {**task, "task_id": task_id}
    return None


def _seqs(node: OpenSearchNode, index: str, tag: str) -> set[int]:
    """The sequence numbers stored in exactly `index` (composite aggregation, paged to the end)."""
    node.call("POST", f"{index}/_refresh")
    seqs: set[int] = set()
    after = None
    while True:
        composite: dict = {"size": 5000, "sources": [{"v": {"terms": {"field": f"attributes.{dt.SEQ}"}}}]}
        if after:
            composite["after"] = after
        answer = node.call("POST", f"{index}/_search", {"size": 0, "query": {"term": {"resource.agent": tag}},
                                                        "aggs": {"seen": {"composite": composite}}}).json()
        agg = answer["aggregations"]["seen"]
        seqs |= {int(b["key"]["v"]) for b in agg["buckets"]}
        after = agg.get("after_key")
        if not agg["buckets"] or not after:
            return seqs


def _stop_and_drain(node: OpenSearchNode, sender: dt.Sender, tag: str, collector_log: Path, complete: bool = True) -> set[int]:
    """Stop sending; wait until every accepted live record is stored (or, not `complete`, the last one). Returns their seqs."""
    sender.stop.set()
    sender.join(30)
    accepted = set(sender.sent.accepted.get(INDEX, {}))
    assert accepted, "the collector accepted no live record"

    def delivered():
        found, _ = dt.log_counts(node.url, INDEX, tag)
        return accepted <= found if complete else max(accepted) in found

    _wait(delivered, DELIVERY_S, f"live records not delivered; collector log:\n{collector_log.read_text()[-3000:]}")
    return accepted


def test_an_adopted_index_moves_into_its_days_under_traffic_nothing_lost_or_doubled(cluster, collector):  # noqa: F811
    tag, tag_hex = dt.run_tag()
    _assets(cluster, daily=True)
    _adopted_index(cluster, tag, N_ADOPTED)
    sender = _sender(collector["ports"], tag, tag_hex, N_ADOPTED)
    try:
        # Traffic reaches the adopted index before the move starts.
        _wait(lambda: dt.log_counts(cluster.url, INDEX, tag)[0] - set(range(N_ADOPTED)), 60, "no live record stored")

        # First attempt, in its own process: killed mid-copy, its task cancelled.
        code = (
            "import sys, json; sys.path.insert(0, sys.argv[1]);"
            "from components.providers import opensearch as osp;"
            "osp.IndexProvider().create(json.loads(sys.argv[2]))"
        )
        first = subprocess.Popen([sys.executable, "-c", code, str(ROOT), json.dumps(_props(cluster))],
                                 cwd=ROOT, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            task = _wait(lambda: (t := _reindex_task(cluster)) and t["status"]["created"] + t["status"]["updated"] > 0 and t,
                         300, "the first attempt's copy task never showed progress")
        finally:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(30)
        cancelled = cluster.call("POST", f"_tasks/{task['task_id']}/_cancel")
        assert cancelled.status_code == 200, cancelled.text
        _wait(lambda: _reindex_task(cluster) is None, 60, "the cancelled copy task did not stop")
        cluster.call("POST", f"{names.read_pattern(INDEX)}/_refresh")
        partial = cluster.call("GET", f"{names.day_pattern(INDEX)}/_count").json()["count"]
        # Cut short for real: the adopted index is still there, whole, and only part was copied.
        assert cluster.call("GET", f"{INDEX}/_count").json()["count"] >= N_ADOPTED
        print(f"\nfirst attempt killed with {partial} documents in the daily indices")

        # The next run resumes to the same result.
        osp.IndexProvider().create(_props(cluster))
        live = _stop_and_drain(cluster, sender, tag, collector["log"])
    finally:
        sender.stop.set()

    found, total = dt.log_counts(cluster.url, INDEX, tag)
    expected = set(range(N_ADOPTED)) | live
    lost, doubled = expected - found, total - len(found)
    print(f"\nmoved {N_ADOPTED} adopted records under traffic ({len(live)} live records): {len(lost)} lost, {doubled} doubled")
    assert not lost, f"{len(lost)} records lost, e.g. {sorted(lost)[:10]}"
    assert doubled == 0, dt.doubled_detail(cluster.url, INDEX, tag)
    assert found <= expected
    # The write name is empty again, made from its template; nothing is left half way.
    assert cluster.call("GET", f"{INDEX}/_count").json()["count"] == 0
    settings = cluster.call("GET", f"{INDEX}/_settings").json()[INDEX]["settings"]["index"]
    assert settings["default_pipeline"] == names.route_pipeline(INDEX)
    indices = {e["index"] for e in cluster.call("GET", "_cat/indices", params={"format": "json", "h": "index"}).json()}
    assert not {i for i in indices if i.startswith(INDEX) and i != INDEX and not osp.is_day(INDEX, i)}, indices


def test_control_the_earlier_rebuild_loses_what_arrives_while_it_copies(cluster, collector):  # noqa: F811
    """The copy-out / delete / copy-back rebuild of earlier releases, under the same traffic."""
    tag, tag_hex = dt.run_tag()
    adopted = 10_000
    _assets(cluster, daily=False)
    _adopted_index(cluster, tag, adopted)
    sender = _sender(collector["ports"], tag, tag_hex, adopted)
    copy_index = f"{INDEX}{osp.REBUILD_SUFFIX}"
    try:
        _wait(lambda: dt.log_counts(cluster.url, INDEX, tag)[0] - set(range(adopted)), 60, "no live record stored")

        def reindex(source: str, dest: dict) -> None:
            answer = requests.post(f"{cluster.url}/_reindex", params={"wait_for_completion": "true", "refresh": "true"},
                                   json={"source": {"index": source}, "dest": dest}, timeout=1800)
            assert answer.status_code == 200 and not answer.json().get("failures"), answer.text[:500]

        mappings = boot.index_mappings(INDEX)
        assert cluster.call("PUT", copy_index, {"settings": {"index": {"number_of_shards": 1, "number_of_replicas": 0}},
                                                "mappings": mappings}).status_code == 200
        reindex(INDEX, {"index": copy_index})
        copied = _seqs(cluster, copy_index, tag)
        stored_then_deleted = _seqs(cluster, INDEX, tag) - copied
        assert cluster.call("DELETE", INDEX).status_code == 200
        # (A record arriving right now may already have made it again, from its template.)
        assert cluster.call("PUT", INDEX, {"mappings": mappings}).status_code in (200, 400)
        cluster.call("PUT", f"{INDEX}/_settings", {"index": {"default_pipeline": None, "final_pipeline": None}})
        reindex(copy_index, {"index": INDEX})
        cluster.call("PUT", f"{INDEX}/_settings", {"index": _earlier_settings()})
        cluster.call("DELETE", copy_index)
        live = _stop_and_drain(cluster, sender, tag, collector["log"], complete=False)
    finally:
        sender.stop.set()
    found = _seqs(cluster, INDEX, tag)
    lost = stored_then_deleted - found
    print(f"\n[control] the earlier rebuild under traffic: {len(stored_then_deleted)} records stored after its copy "
          f"began, {len(lost)} of them lost ({len(live)} live records sent)")
    assert stored_then_deleted, "no record arrived while the earlier rebuild copied: the control shows nothing"
    assert lost == stored_then_deleted
    assert set(range(adopted)) <= found  # what it copied survives
