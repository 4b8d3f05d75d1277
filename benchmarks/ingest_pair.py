"""Paired ingest runs of collector-config variants (issue 21 item 3), no stack containers.

A local OpenSearch 3.6.0 (the provider tests' node, tests/providers/opensearch_node.py)
gets the claude-code stream's templates, pipelines and index from the bootstrap's own
bodies; then, for each round and each variant in turn, the real collector build runs the
stack's rendered config (variant applied) against it, and benchmarks/ingest.py measures
stored-through-the-collector over direct `_bulk` of the same captured documents.

    venv/bin/python -m benchmarks.ingest_pair --records 20000 --rounds 3 base 'consumers=3' 'batch=2000:4000'

A variant is `base` or comma-separated `consumers=N`, `batch=MIN:MAX`, `flush=DURATION`,
`gogc=N` (the collector's Go GC target, its GOGC), `memlimit=MiB` (its GOMEMLIMIT) or
`maxprocs=N` (its GOMAXPROCS: how many OS threads run Go code at once), or `refresh=INTERVAL`
(the stream's indices' `index.refresh_interval` during the variant's runs, both paths).
Measurement-only parts edit the rendered config to price one step of the collector path:
`qsizer=items` (the persistent queues sized by items, not bytes), `nointake` (no intake-id
stamp: records lose their identity across resends), `nolimiter` (no memory_limiter) and
`nofsync` (the queue's bbolt file without fsync: a crash may lose accepted records).
"""
from __future__ import annotations

import argparse
import copy
import os
import pathlib
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

import requests
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
for extra in (ROOT, ROOT / "tests", ROOT / "tests" / "providers"):
    sys.path.insert(0, str(extra))

from benchmarks import ingest, probes  # noqa: E402
from components import names  # noqa: E402
from components.bootstrap import opensearch as boot  # noqa: E402
from components.providers import opensearch as osp  # noqa: E402
from components.services import collector_config  # noqa: E402

BASE = (copy.deepcopy(collector_config.DURABLE_BATCH), collector_config.DURABLE_CONSUMERS)
# The collector process's environment for the variant being run (gogc=, memlimit=, maxprocs=).
VARIANT_ENV: dict[str, str] = {}
# The indices' settings for the variant being run (refresh=); None puts back OpenSearch's default.
VARIANT_INDEX: dict = {"index.refresh_interval": None}
# Edits of the rendered collector config for the variant being run (qsizer=, nointake, nolimiter, nofsync).
VARIANT_CONFIG: list = []


def _queues(config: dict) -> list[dict]:
    return [e["sending_queue"] for e in config["exporters"].values()
            if isinstance(e, dict) and (e.get("sending_queue") or {}).get("storage")]


def _drop_processor(name: str):
    def edit(config: dict) -> None:
        for pipeline in config["service"]["pipelines"].values():
            if name in pipeline.get("processors", []):
                pipeline["processors"] = [p for p in pipeline["processors"] if p != name]
    return edit


def _queue_items(config: dict) -> None:
    for queue in _queues(config):
        queue.update(sizer="items", queue_size=5_000_000)


def _no_fsync(config: dict) -> None:
    config["extensions"][collector_config.QUEUE_STORAGE]["fsync"] = False


def apply(variant: str) -> None:
    batch, consumers = copy.deepcopy(BASE[0]), BASE[1]
    VARIANT_ENV.clear()
    VARIANT_INDEX["index.refresh_interval"] = None
    VARIANT_CONFIG.clear()
    for part in filter(None, variant.split(",")):
        if part == "base":
            continue
        if part == "nointake":
            VARIANT_CONFIG.append(_drop_processor(collector_config.INTAKE_ID_PROCESSOR))
            continue
        if part == "nolimiter":
            VARIANT_CONFIG.append(_drop_processor("memory_limiter"))
            continue
        if part == "nofsync":
            VARIANT_CONFIG.append(_no_fsync)
            continue
        key, value = part.split("=", 1)
        if key == "consumers":
            consumers = int(value)
        elif key == "batch":
            lo, hi = value.split(":")
            batch.update(min_size=int(lo), max_size=int(hi))
        elif key == "flush":
            batch["flush_timeout"] = value
        elif key == "gogc":
            VARIANT_ENV["GOGC"] = value
        elif key == "memlimit":
            VARIANT_ENV["GOMEMLIMIT"] = f"{int(value)}MiB"
        elif key == "maxprocs":
            VARIANT_ENV["GOMAXPROCS"] = str(int(value))
        elif key == "refresh":
            VARIANT_INDEX["index.refresh_interval"] = value
        elif key == "qsizer" and value == "items":
            VARIANT_CONFIG.append(_queue_items)
        else:
            raise SystemExit(f"unknown variant part {part}")
    collector_config.DURABLE_BATCH = batch
    collector_config.DURABLE_CONSUMERS = consumers


def bootstrap(url: str) -> None:
    props = lambda name, body: {"endpoint": url, "name": name, "body": body, "timeout_s": 120}  # noqa: E731
    osp.ComponentTemplateProvider().create(props(names.COMPONENT_TEMPLATE, boot.component_template_body()))
    for name, body in boot.template_bodies(ingest.INDEX).items():
        osp.IndexTemplateProvider().create(props(name, body))
    for name, body in boot.pipeline_bodies().items():
        osp.IngestPipelineProvider().create(props(name, body))
    osp.IndexProvider().create({
        "endpoint": url, "name": ingest.INDEX, "mappings": boot.index_mappings(ingest.INDEX),
        "settings": boot.index_settings(ingest.INDEX), "policy_id": None, "timeout_s": 120,
    })


def start_collector(os_url: str, workdir: pathlib.Path) -> tuple[subprocess.Popen, str]:
    # Its loopback ports are free ones (local_collector_config), apart from the capture collector's.
    config, http_port = ingest.local_collector_config(os_url, workdir)
    for edit in VARIANT_CONFIG:
        edit(config)
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    proc = subprocess.Popen([ingest.collector_binary(), f"--config={path}"], stdout=open(workdir / "log", "w"),
                            stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, **VARIANT_ENV})
    url = f"http://127.0.0.1:{http_port}/v1/logs"
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.post(url, data=b"", headers={"Content-Type": "application/x-protobuf"}, timeout=1).ok:
                return proc, url
        except requests.RequestException:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit((workdir / "log").read_text()[-3000:])
        time.sleep(0.2)


def summary(res: ingest.IngestResult) -> str:
    """The runs' seconds, the ratio, loss, doubling and each side's CPU per 10k records in the best runs."""
    def cpu(path: str) -> str:
        best = [r for r in res.runs if r.path == path and r.seconds]
        if not best:
            return "-"
        run = min(best, key=lambda r: r.seconds)
        return " ".join(f"{k} {v * 10000 / res.n:.2f}" for k, v in run.cpu_s.items())

    def secs(path: str) -> str:
        return "/".join("-" if s is None else f"{s:.2f}" for s in res.runs_s(path))

    return (f"direct {res.direct_rate or 0:.0f}/s ({secs('direct')} s, {res.bulk_requests} bulks), "
            f"collector {res.collector_rate or 0:.0f}/s ({secs('collector')} s), ratio {res.ratio or 0:.2f}, "
            f"CPU-work ratio {res.cpu_ratio or 0:.2f}, collector ceiling {res.collector_ceiling or 0:.2f}, "
            f"lost {res.lost}, doubled {res.doubled} of {res.collector_sent}; "
            f"CPU s/10k records: direct [{cpu('direct')}], collector [{cpu('collector')}]")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("variants", nargs="+")
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from opensearch_node import opensearch

    # A SIGTERM still stops the node and the collector (the finally blocks below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    nodes = opensearch.__wrapped__() if hasattr(opensearch, '__wrapped__') else opensearch.__pytest_wrapped__.obj()
    node = next(nodes)
    ratios: dict[str, list] = {v: [] for v in args.variants}
    try:
        bootstrap(node.real_url or node.url)
        os_url = node.real_url or node.url
        for r in range(args.rounds):
            for variant in args.variants:
                apply(variant)
                requests.put(f"{os_url}/{ingest.INDEX}*/_settings", json=VARIANT_INDEX, timeout=30).raise_for_status()
                with tempfile.TemporaryDirectory(prefix="ingest-pair-") as tmp:
                    proc, otlp = start_collector(os_url, pathlib.Path(tmp))
                    cpu = {"opensearch": probes.cpu_of_session(node.proc.pid), "collector": probes.cpu_of_session(proc.pid)}
                    try:
                        res = ingest.run(os_url, otlp, args.records, uuid.uuid4().hex[:8], cpu=cpu)
                    finally:
                        # Its peak resident memory: the stack runs the collector under a memory limit.
                        peak_kib = probes.proc_status_kib(proc.pid, "VmHWM")
                        peak = f"{peak_kib / 1024:.0f}" if peak_kib is not None else "?"
                        os.killpg(proc.pid, signal.SIGTERM)
                        proc.wait(timeout=30)
                ratios[variant].append(res.ratio)
                print(f"round {r + 1} {variant}: {summary(res)}, collector peak RSS {peak} MiB, load {os.getloadavg()[0]:.1f}", flush=True)
        for variant, values in ratios.items():
            ok = [v for v in values if v]
            print(f"median {variant}: {statistics.median(ok) if ok else 0:.2f} ({', '.join(f'{v or 0:.2f}' for v in values)})")
    finally:
        try:
            next(nodes)
        except StopIteration:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
