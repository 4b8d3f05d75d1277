"""What a just-started OpenSearch does with concurrent bootstrap writes (issue 21 item 2).

    venv/bin/python -m benchmarks.os_concurrency [--rounds N] [--modes 1,8,all]

For each round and each mode (how many writes are in flight at once), starts a fresh
OpenSearch the way the stack does (the stack's image and environment, a new volume, no
published port: it is reached at its container address, so it needs no e2e lock and
collides with nothing), waits for the stack's own readiness question (cluster health
yellow), then sends the bootstrap's writes in their dependency waves, each wave with at
most `mode` requests in flight:

  1. cluster documents: the component template, every ingest pipeline, both ISM policies;
  2. the index templates (they compose the component template);
  3. the indices: each stream's write name and today's daily index.

The bodies are the program's own (components/bootstrap/opensearch.py, default streams).
Prints each wave's seconds and the total per mode, then the medians. Numbers only; the
datasource (it needs a Prometheus) is left out.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import requests

from benchmarks import probes
from components import names
from components.bootstrap import opensearch as assets
from components.providers.kit import wait_for
from components.providers.readiness import POLL_S
from components.services.opensearch import HEALTH_PATH

IMAGE = "clawker-test/opensearch:3.6.0"
HEAP = "512m"
DROPPED_RETRIES = 5
DROPPED: list[str] = []


def writes() -> list[list[tuple[str, str, dict | None]]]:
    """The bootstrap's writes in dependency waves: (method, path, body)."""
    table = assets.DEFAULT
    first = [("PUT", f"_component_template/{names.COMPONENT_TEMPLATE}", assets.component_template_body())]
    first += [("PUT", f"_ingest/pipeline/{name}", body) for name, body in assets.pipeline_bodies(table).items()]
    first += [
        ("PUT", f"_plugins/_ism/policies/{names.ISM_POLICY}", assets.retention_policy_body(7, table.retained_indices)),
        ("PUT", f"_plugins/_ism/policies/{names.TRACES_ISM_POLICY}", assets.trace_retention_policy_body(7)),
    ]
    streams = table.log_indices + (names.TRACES_INDEX,)
    second = [("PUT", f"_index_template/{name}", body) for index in streams for name, body in assets.template_bodies(index, table).items()]
    today = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d")
    third = [("PUT", index, None) for index in streams] + [("PUT", names.day_index(index, today), None) for index in streams]
    return [first, second, third]


def start(name: str) -> str:
    env = ["discovery.type=single-node", "bootstrap.memory_lock=false", "DISABLE_SECURITY_PLUGIN=true",
           "DISABLE_INSTALL_DEMO_CONFIG=true", f"OPENSEARCH_JAVA_OPTS=-Xms{HEAP} -Xmx{HEAP}",
           f"plugins.query.datasources.encryption.masterkey={uuid.uuid4().hex[:24]}"]
    argv = ["docker", "run", "-d", "--name", name, "-v", f"{name}-data:/usr/share/opensearch/data"]
    for e in env:
        argv += ["-e", e]
    proc = subprocess.run(argv + [IMAGE], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"docker run failed: {proc.stderr[-500:]}")
    info = json.loads(subprocess.run(["docker", "inspect", name], check=True, capture_output=True, text=True).stdout)[0]
    ip = next(n["IPAddress"] for n in info["NetworkSettings"]["Networks"].values() if n.get("IPAddress"))
    return f"http://{ip}:9200"


def remove(name: str) -> None:
    subprocess.run(["docker", "rm", "-f", name], capture_output=True)
    subprocess.run(["docker", "volume", "rm", "-f", f"{name}-data"], capture_output=True)


def wait_ready(url: str, timeout_s: float = 300) -> None:
    """The stack's own readiness question (components/services/opensearch.py), as its gate asks it."""
    wait_for(url, HEALTH_PATH, lambda status, _body: 200 <= status < 300, timeout_s=timeout_s,
             what="the benchmark's OpenSearch", poll_s=POLL_S)


def send_wave(url: str, wave: list, in_flight: int) -> float:
    started = time.monotonic()

    def one(w):
        method, path, body = w
        for attempt in range(DROPPED_RETRIES):
            try:
                resp = requests.request(method, f"{url}/{path}", json=body, timeout=120)
                break
            except requests.ConnectionError:
                # A just-started node sometimes closes a connection without answering
                # (benchmarks/floors.py sees the same): a plain client sends again.
                DROPPED.append(path)
                if attempt == DROPPED_RETRIES - 1:
                    raise
                time.sleep(0.1)
        if resp.status_code >= 300:
            raise SystemExit(f"{method} {path}: {resp.status_code} {resp.text[:300]}")

    with ThreadPoolExecutor(max(1, min(in_flight, len(wave)))) as pool:
        list(pool.map(one, wave))
    return time.monotonic() - started


def mixed(url: str, waves: list) -> tuple[float, float]:
    """The cluster documents after the index templates, sent all at once, with the indices
    sent at the same moment: (seconds until the last cluster document was answered, until
    the last index was). Alone, the same documents take `send_wave`'s time."""
    first, second, third = waves
    send_wave(url, [w for w in first if w[1].startswith("_component_template")], 1)
    send_wave(url, second, len(second))
    started = time.monotonic()
    done: dict[str, float] = {}

    def group(name: str, wave: list) -> None:
        send_wave(url, wave, len(wave))
        done[name] = time.monotonic() - started

    rest = [w for w in first if not w[1].startswith("_component_template")]
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda g: group(*g), [("documents", rest), ("indices", third)]))
    return done["documents"], done["indices"]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--modes", default="1,8,all")
    parser.add_argument("--mixed", action="store_true",
                        help="also: the pipelines and policies sent together with the index creations "
                             "(after the templates), against the same documents sent alone")
    args = parser.parse_args()
    waves = writes()
    sizes = [len(w) for w in waves]
    modes = [m for m in args.modes.split(",")]
    results: dict[str, list[list[float]]] = {m: [] for m in modes}
    name = f"clawker-osconc-{uuid.uuid4().hex[:6]}"
    try:
        for r in range(args.rounds):
            for mode in modes:
                in_flight = max(sizes) if mode == "all" else int(mode)
                remove(name)
                url = start(name)
                wait_ready(url)
                DROPPED.clear()
                seconds = [send_wave(url, wave, in_flight) for wave in waves]
                results[mode].append(seconds)
                print(f"round {r + 1} in flight {mode:>3}: waves {sizes} took "
                      f"{', '.join(f'{s:.2f}' for s in seconds)} s, total {sum(seconds):.2f} s (load {probes.load_average()})"
                      + (f"; {len(DROPPED)} connections closed unanswered, sent again" if DROPPED else ""), flush=True)
                remove(name)
            if args.mixed:
                remove(name)
                url = start(name)
                wait_ready(url)
                documents, indices = mixed(url, waves)
                results.setdefault("mixed", []).append([documents, indices])
                print(f"round {r + 1} mixed: pipelines and policies ({sizes[0] - 1}) sent with the {sizes[2]} index creations: "
                      f"last document answered after {documents:.2f} s, last index after {indices:.2f} s "
                      f"(load {probes.load_average()})", flush=True)
                remove(name)
    finally:
        remove(name)
    print("medians:")
    for mode, rows in results.items():
        if mode == "mixed":
            print(f"  mixed: documents {statistics.median(r[0] for r in rows):.2f} s, indices {statistics.median(r[1] for r in rows):.2f} s "
                  "(compare with the first and third waves of 'all')")
            continue
        per_wave = [statistics.median(row[i] for row in rows) for i in range(len(waves))]
        print(f"  in flight {mode:>3}: {', '.join(f'{s:.2f}' for s in per_wave)} s; total {statistics.median(sum(r) for r in rows):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
