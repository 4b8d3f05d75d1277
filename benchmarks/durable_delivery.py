"""Durable delivery benchmark (issue 8, item 6). Numbers, not a test.

Runs on the host, with no Docker: a real OpenSearch 3.6.0 started as a local
process (tests/providers/opensearch_node.py) and bootstrapped with the stack's
assets, and the real collector build (tools/images.sh caches the binary) run
twice, each measured in this same run:

- durable: the stack's rendered config (components/services/collector_config.render),
  local ports, its queue in a temporary directory;
- direct:  the pipeline before durable delivery (receiver -> batch processor
  -> opensearch exporter with its in-memory queue), same routes and indices.

Printed: records/s accepted and stored (and the durable/direct ratios),
p50/p99 accept-to-stored latency (sampled: one record per request), queue
bytes per record on disk during an outage, the collector's peak resident
memory against the container's 200 MiB limit, and the drain time after an
OpenSearch pause of --outage seconds (SIGSTOP; the sender keeps sending).

    venv/bin/python benchmarks/durable_delivery.py [--records N] [--outage S] [--rate REC_PER_S]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Optional

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "providers")]

import requests  # noqa: E402
import yaml  # noqa: E402

import durable_traffic as dt  # noqa: E402
import opensearch_node as osn  # noqa: E402
from components import names  # noqa: E402
from components.services import collector, collector_config  # noqa: E402
from benchmarks import probes  # noqa: E402
from test_collector_to_opensearch import _bootstrap, _collector_binary, _local_config  # noqa: E402

STREAMS = tuple(names.LOG_INDICES) + ("spans",)


# ----------------------------------------------------------------- the services


def start_opensearch() -> osn.OpenSearchNode:
    dist = osn._dist_env()
    home = pathlib.Path(dist["OPENSEARCH_HOME"])
    problems = []
    for java_home in osn._java_candidates(dist["OPENSEARCH_JAVA_HOME"]):
        state = pathlib.Path(tempfile.mkdtemp(prefix="clawker-bench-os-"))
        osn._prepare_state(home, state, java_home)
        try:
            return osn._start(home, java_home, set(), state)
        except RuntimeError as exc:
            problems.append(str(exc)[:500])
            shutil.rmtree(state, ignore_errors=True)
    raise SystemExit("OpenSearch did not start:\n" + "\n".join(problems))


def direct_config(durable: dict) -> dict:
    """The direct-export pipeline of the same routes: intake -> batch -> routing -> opensearch exporters
    with the in-memory queue and retries this stack used before durable delivery."""
    config = json.loads(json.dumps(durable))
    config.pop("extensions", None)
    config["service"].pop("extensions", None)
    pipelines = config["service"]["pipelines"]
    for name in [n for n in pipelines if n.endswith(("-loop", "-store"))]:
        del pipelines[name]
    for name in [r for r in config["receivers"] if r.startswith("otlp/loop-")]:
        del config["receivers"][name]
    for name in [e for e in config["exporters"] if e.startswith("otlp_grpc/")]:
        del config["exporters"][name]
    config["connectors"] = {k: v for k, v in config["connectors"].items() if not k.startswith("failover/")}
    for name, exporter in config["exporters"].items():
        if name.startswith("opensearch/"):
            exporter["sending_queue"] = {"enabled": True, "num_consumers": 2, "queue_size": 5000}
            exporter["retry_on_failure"] = {"enabled": True, "initial_interval": "5s", "max_interval": "30s", "max_elapsed_time": "5m"}
    pipelines["logs/untrusted"]["exporters"] = ["routing/untrusted"]
    if "logs/trusted" in pipelines:
        pipelines["logs/trusted"]["exporters"] = ["routing/trusted"]
    pipelines["traces"]["exporters"] = ["opensearch/traces", "span_metrics"]
    pipelines["traces"]["processors"].append("batch")
    for name, pipeline in pipelines.items():
        if pipeline["exporters"] and pipeline["exporters"][0].startswith("failover/"):
            index = pipeline["exporters"][0].split("/", 1)[1]
            pipeline["exporters"] = [f"opensearch/{index}" if index != "traces" else "opensearch/traces"]
            pipeline.setdefault("processors", []).append("batch")
    return config


class Collector:
    def __init__(self, config: dict, ports: dict, workdir: pathlib.Path, name: str):
        self.ports = ports
        path = workdir / f"{name}.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.log = workdir / f"{name}.log"
        self.proc = subprocess.Popen(
            [_collector_binary(), f"--config={path}"], stdout=open(self.log, "w"), stderr=subprocess.STDOUT, start_new_session=True
        )
        self.peak_rss = 0
        self._stop = threading.Event()
        threading.Thread(target=self._watch_memory, daemon=True).start()
        deadline = time.monotonic() + 60
        while not dt.HttpLane(self.http).post("logs", dt.logs_request("claude-code", "bench-probe", [])):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"collector {name} did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.3)

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.ports['http']}"

    def lanes(self) -> dict:
        out: dict = {i: dt.HttpLane(self.http) for i in dt.UNTRUSTED}
        out.update({i: dt.GrpcLane(f"127.0.0.1:{self.ports['infra']}") for i in dt.TRUSTED})
        out["spans"] = dt.HttpLane(self.http)
        return out

    def _watch_memory(self) -> None:
        while not self._stop.is_set() and self.proc.poll() is None:
            rss = probes.proc_status_kib(self.proc.pid, "VmRSS")
            if rss is not None:
                self.peak_rss = max(self.peak_rss, rss * 1024)
            self._stop.wait(0.25)

    def stop(self) -> None:
        self._stop.set()
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)


# ----------------------------------------------------------------- measuring


class StoredWatcher:
    """Polls OpenSearch for sampled sequence numbers (one per request) and notes when each appears."""

    def __init__(self, url: str, sender: dt.Sender, every: float = 0.5):
        self.url, self.sender, self.every = url, sender, every
        self.seen: dict[tuple[str, int], float] = {}
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "StoredWatcher":
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.thread.join()

    def _pending(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        with self.sender.sent.lock:
            snapshot = {i: list(v) for i, v in self.sender.sent.accepted.items()}
        for index, seqs in snapshot.items():
            first_of_request = sorted(seqs)[:: self.sender.batch]
            out[index] = [s for s in first_of_request if (index, s) not in self.seen]
        return out

    def _run(self) -> None:
        while not self._stop.is_set():
            for index, seqs in self._pending().items():
                if not seqs:
                    continue
                if index == "spans":
                    target, field, values = names.TRACES_INDEX, "spanId", [dt.span_id_of(s) for s in seqs]
                else:
                    target, field, values = index, f"attributes.{dt.SEQ}", seqs
                target = names.read_pattern(target)  # the write name and its daily indices
                try:
                    requests.post(f"{self.url}/{target}/_refresh", timeout=10)
                    answer = requests.post(
                        f"{self.url}/{target}/_search",
                        json={"size": len(values), "_source": False, "docvalue_fields": [field],
                              "query": {"bool": {"filter": [{"terms": {field: values}}]}}},
                        timeout=10,
                    )
                    hits = answer.json().get("hits", {}).get("hits", []) if answer.ok else []
                except requests.RequestException:
                    hits = []
                now = time.monotonic()
                for hit in hits:
                    value = hit["fields"][field][0]
                    seq = int(value, 16) - 1 if index == "spans" else int(value)
                    self.seen.setdefault((index, seq), now)
            self._stop.wait(self.every)

    def latencies(self) -> list[float]:
        accepted = self.sender.sent.accepted
        return sorted(t - accepted[i][s] for (i, s), t in self.seen.items() if s in accepted.get(i, {}))


def all_stored(url: str, sender: dt.Sender) -> bool:
    for index, accepted in list(sender.sent.accepted.items()):
        found = dt.span_counts(url, sender.tag_hex)[0] if index == "spans" else dt.log_counts(url, index, sender.tag)[0]
        if not set(accepted) <= found:
            return False
    return True


def wait_stored(url: str, sender: dt.Sender, timeout_s: float) -> Optional[float]:
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if all_stored(url, sender):
            return time.monotonic()
        time.sleep(1)
    return None


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def dir_bytes(path: pathlib.Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def throughput(node, collector_: Collector, records: int) -> dict:
    tag, tag_hex = dt.run_tag()
    sender = dt.Sender(collector_.lanes(), tag=tag, tag_hex=tag_hex, total=records, batch=100)
    watcher = StoredWatcher(node.url, sender)
    t0 = time.monotonic()
    sender.start()
    watcher.start()
    sender.join(timeout=900)
    accepted_at = time.monotonic()
    stored_at = wait_stored(node.url, sender, 600)
    time.sleep(1.5)  # the watcher's last poll
    watcher.stop()
    lat = watcher.latencies()
    return {
        "accepted_per_s": records / (accepted_at - t0),
        "stored_per_s": records / (stored_at - t0) if stored_at else float("nan"),
        "p50_s": percentile(lat, 0.5),
        "p99_s": percentile(lat, 0.99),
        "samples": len(lat),
    }


def outage(node, collector_: Collector, queue_dir: pathlib.Path, seconds: float, rate: float) -> dict:
    """Pause OpenSearch (SIGSTOP) for `seconds` while a sender keeps sending at `rate` records/s."""
    tag, tag_hex = dt.run_tag()
    batch = 50
    total = int(rate * (seconds + 60))
    sender = dt.Sender(collector_.lanes(), tag=tag, tag_hex=tag_hex, total=total, batch=batch, rate=rate / batch)
    sender.start()
    time.sleep(10)
    queue_before = dir_bytes(queue_dir)
    accepted_before = sender.sent.count()
    os.killpg(node.proc.pid, signal.SIGSTOP)
    paused_at = time.monotonic()
    peak_queue = queue_before
    try:
        while time.monotonic() - paused_at < seconds:
            peak_queue = max(peak_queue, dir_bytes(queue_dir))
            time.sleep(2)
        peak_queue = max(peak_queue, dir_bytes(queue_dir))
        accepted_during = sender.sent.count() - accepted_before
    finally:
        os.killpg(node.proc.pid, signal.SIGCONT)
    resumed_at = time.monotonic()
    # Drained: every record accepted up to the resume is stored (the sender keeps going).
    with sender.sent.lock:
        backlog = {i: dict(v) for i, v in sender.sent.accepted.items()}
    frozen = dt.Sender({}, tag=tag, tag_hex=tag_hex, total=0)
    frozen.sent.accepted = backlog
    drained_at = wait_stored(node.url, frozen, 900)
    sender.join(timeout=900)
    wait_stored(node.url, sender, 600)
    return {
        "paused_s": resumed_at - paused_at,
        "accepted_during": accepted_during,
        "queue_bytes_per_record": (peak_queue - queue_before) / accepted_during if accepted_during else float("nan"),
        "drain_s": drained_at - resumed_at if drained_at else float("nan"),
        "sender_refusals": sender.sent.refusals,
    }


# ----------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=14000, help="records per throughput run (default 14000)")
    parser.add_argument("--outage", type=float, default=120.0, help="OpenSearch pause in seconds (default 120)")
    parser.add_argument("--rate", type=float, default=100.0, help="records/s sent during the outage run (default 100)")
    args = parser.parse_args()

    work = pathlib.Path(tempfile.mkdtemp(prefix="clawker-bench-durable-"))
    node = start_opensearch()
    try:
        _bootstrap(node)
        queue_dir = work / "queue"
        queue_dir.mkdir()
        durable_cfg, ports = _local_config(node.url, queue_dir)
        results = {}
        for name, cfg in (("direct", direct_config(durable_cfg)), ("durable", durable_cfg)):
            c = Collector(cfg, ports, work, name)
            try:
                results[name] = throughput(node, c, args.records)
                if name == "durable":
                    results["outage"] = outage(node, c, queue_dir, args.outage, args.rate)
            finally:
                c.stop()
            results[name]["peak_rss_mib"] = c.peak_rss / 2**20
    finally:
        osn._stop(node)
        shutil.rmtree(node.state_dir, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)

    d, u, o = results["direct"], results["durable"], results["outage"]
    limit = collector.MEMORY_MB
    print(f"durable delivery benchmark ({args.records} records per run over 6 log sources + spans, 2-core host, one run)")
    print(f"{'':28}{'direct':>12}{'durable':>12}{'durable/direct':>16}")
    for key, label, fmt in (
        ("accepted_per_s", "accepted records/s", "{:12.0f}"),
        ("stored_per_s", "stored records/s", "{:12.0f}"),
        ("p50_s", "accept->stored p50 (s)", "{:12.2f}"),
        ("p99_s", "accept->stored p99 (s)", "{:12.2f}"),
        ("peak_rss_mib", "collector peak RSS (MiB)", "{:12.0f}"),
    ):
        print(f"{label:28}{fmt.format(d[key])}{fmt.format(u[key])}{u[key] / d[key]:16.2f}")
    print(f"latency samples (one record per request, 0.5 s polls): direct {d['samples']}, durable {u['samples']}")
    print(f"peak RSS / container limit ({limit} MiB): direct {d['peak_rss_mib'] / limit:.2f}, durable {u['peak_rss_mib'] / limit:.2f}")
    print(
        f"outage: OpenSearch paused {o['paused_s']:.0f}s with the sender at {args.rate:.0f} rec/s; "
        f"{o['accepted_during']} records accepted meanwhile, queue {o['queue_bytes_per_record']:.0f} bytes/record on disk; "
        f"backlog drained {o['drain_s']:.1f}s after resume "
        f"(= {o['drain_s'] / o['paused_s']:.2f} x the pause); sender refusals {o['sender_refusals']}"
    )


if __name__ == "__main__":
    main()
