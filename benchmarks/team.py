"""The team benchmark (issue 19 item 6): figures as ratios measured in the same run. Prints numbers; asserts nothing.

    CLAWKER_TOOLCHAIN_BIN=... venv/bin/python benchmarks/team.py [--records N] [--nodes 2] [--skip-up]

1. Ingest on the team's cluster: a real OpenSearch cluster with the security plugin
   (tests/providers/secured_cluster.py: `--nodes` nodes, default 2, indices with one replica),
   bootstrapped with the stack's templates and pipelines by the providers, one credential per
   machine made by the providers as the team stack makes them. Two machines, each the real
   collector build running the stack's config with the machine part
   (components/services/collector_machine.py: the machine's name on every record, its
   credential from the environment, the cluster's CA verifying TLS), each sent N Claude
   Code-shaped records (benchmarks/ingest.py encodes them, numbered, two senders per machine).
   Ceiling: the `_bulk` bodies those collectors' exporters write for the same records
   (captured from the same build and config pointed at a capture server), posted by a plain
   client with each machine's own credential over the same verified TLS, both machines at once
   (as many bulks at once per machine as its exporter's consumers),
   before and after the collectors' run (the faster counts). Both rates are 2N / (first
   request -> all 2N visible to `_count`); lost and doubled records come from an exact
   composite aggregation over the record numbers, per machine.
2. Cold `up`: a machine stack's (role `machine`: the collector and its queue volume, the team
   check against the cluster and the team Prometheus) against the local stack's (every
   service and the bootstrap), both from nothing with images present, through the real Pulumi
   CLI, alternating, `--repeats` each; wall seconds of `pulumi up --yes --skip-preview`. It
   makes the stack's containers, so it holds the e2e lock (/tmp/clawker-e2e.lock) for that part
   only (not taken again under CLAWKER_DOCKER_LOCK_HELD=1) and removes both stacks after.

Nothing is left behind: the cluster's processes and state, the collectors, the Prometheus,
both stacks, their containers and volumes.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import fcntl
import os
import pathlib
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

import requests
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
for extra in (ROOT, ROOT / "tests", ROOT / "tests" / "e2e", ROOT / "tests" / "providers"):
    sys.path.insert(0, str(extra))

from benchmarks import ingest  # noqa: E402
from net import unused_port  # noqa: E402
from components import names  # noqa: E402
from components.bootstrap import opensearch as boot  # noqa: E402
from components.providers import opensearch as osp  # noqa: E402
from components.providers.opensearch import security  # noqa: E402
from components.services import collector_config, collector_machine  # noqa: E402

MACHINES = ("bench-laptop-a", "bench-laptop-b")
STREAMS = [ingest.INDEX, names.TRACES_INDEX]
TIMEOUT_S = 60.0
E2E_LOCK = "/tmp/clawker-e2e.lock"
# No team Prometheus in the ingest part: the collectors' own metrics are refused there, nothing else.
NO_PROMETHEUS = "http://127.0.0.1:9/api/v1/write"


def _median(values: list) -> Optional[float]:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


# ------------------------------------------------------------------ the team's cluster


def bootstrap(cluster, replicas: int = boot.TEAM_REPLICAS) -> dict[str, tuple[str, str]]:
    """The stack's pipelines, templates (with `replicas`) and write-name index; one credential per machine."""
    props = lambda **extra: {"endpoint": cluster.urls[0], "connection": cluster.connection, "timeout_s": TIMEOUT_S, **extra}  # noqa: E731
    for name, body in boot.pipeline_bodies().items():
        osp.IngestPipelineProvider().create(props(name=name, body=body))
    # As the team stack applies them (components/bootstrap/opensearch.py: one replica on a team's cluster).
    common = boot.with_replicas(copy.deepcopy(boot.component_template_body()), replicas)
    osp.ComponentTemplateProvider().create(props(name=names.COMPONENT_TEMPLATE, body=common))
    for index in STREAMS:
        for name, body in boot.template_bodies(index).items():
            osp.IndexTemplateProvider().create(props(name=name, body=boot.with_replicas(copy.deepcopy(body), replicas)))
    settings = {**boot.index_settings(ingest.INDEX), "index.number_of_replicas": replicas}
    osp.IndexProvider().create(
        props(name=ingest.INDEX, mappings=boot.index_mappings(ingest.INDEX), settings=settings, policy_id=None)
    )
    credentials = {}
    for machine in MACHINES:
        outs = security.MachineCredentialProvider().create(props(machine=machine, streams=STREAMS)).outs
        credentials[machine] = (outs["username"], outs["password"])
    return credentials


def machine_adjust(machine: str, ca: bool):
    def adjust(config: dict) -> dict:
        return collector_machine.machine_part(config, machine, cluster_ca=ca, prometheus_ca=False,
                                              local_metrics_port=unused_port(config), listen_host="127.0.0.1")

    return adjust


def machine_env(cluster_url: str, credential: tuple[str, str]) -> dict:
    return {
        collector_machine.ENV["cluster_url"]: cluster_url,
        collector_machine.ENV["username"]: credential[0],
        collector_machine.ENV["password"]: credential[1],
        collector_machine.ENV["remote_write_url"]: NO_PROMETHEUS,
    }


@contextlib.contextmanager
def machine_collector(cluster, machine: str, credential: tuple[str, str], work: pathlib.Path):
    """The real collector as a machine stack runs it: the machine part, the cluster's CA, the credential in its env."""
    config, http_port = ingest.local_collector_config("http://unused", work, machine_adjust(machine, ca=True))
    text = yaml.safe_dump(config, sort_keys=False).replace(collector_machine.CLUSTER_CA_PATH, str(cluster.ca_file))
    path = work / "config.yaml"
    path.write_text(text)
    log = work / "collector.log"
    proc = subprocess.Popen(
        [ingest.collector_binary(), f"--config={path}"], stdout=open(log, "w"), stderr=subprocess.STDOUT,
        start_new_session=True, env={**os.environ, **machine_env(cluster.urls[0], credential)},
    )
    try:
        url = f"http://127.0.0.1:{http_port}/v1/logs"
        ingest.wait_for_otlp(url, proc, log, f"{machine}'s collector", 60)
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def _session(auth: tuple[str, str], ca_file) -> requests.Session:
    http = requests.Session()
    http.auth, http.verify = auth, str(ca_file)
    http.trust_env = False  # else a CA bundle named in the environment replaces the cluster's CA
    return http


def ingest_ratio(cluster, credentials: dict, n: int, run_id: str) -> dict:
    from telemetry_samples import RESOURCES, claude_code_records

    records = claude_code_records()
    admin = _session((cluster.connection["username"], cluster.connection["password"]), cluster.ca_file)
    store = ingest.Store(cluster.urls[0], admin)
    tag = {m: chr(ord("A") + i) for i, m in enumerate(MACHINES)}
    marker = lambda kind, m: f"bench-{kind}{tag[m]}-{run_id}"  # noqa: E731 (equal lengths: swapped in place)
    assert len({len(marker(k, m)) for k in ("capt", "dir1", "dir2", "coll") for m in MACHINES}) == 1

    bodies = {}
    for m in MACHINES:
        payloads = ingest.otlp_payloads(records, RESOURCES[ingest.INDEX], marker("capt", m), n)
        bodies[m], content_type = ingest.capture_bulk_bodies(
            payloads, n, machine_adjust(m, ca=False), env=lambda url, m=m: machine_env(url, credentials[m])
        )

    def sessions() -> dict:
        return {m: _session(credentials[m], cluster.ca_file) for m in MACHINES}

    def bulk_ok(resp: requests.Response) -> None:
        resp.raise_for_status()
        if resp.json().get("errors"):
            raise SystemExit(f"direct _bulk had item errors: {resp.text[:2000]}")

    def wait_all(kind: str, started: float) -> Optional[float]:
        deadline = started + 600
        while time.time() < deadline:
            if sum(store.count(marker(kind, m)) for m in MACHINES) >= 2 * n:
                return time.time() - started
            time.sleep(0.1)
        return None

    def direct(kind: str) -> tuple[Optional[float], int]:
        http = sessions()
        started = time.time()
        with ThreadPoolExecutor(len(MACHINES)) as pool:
            list(pool.map(lambda m: ingest.post_all(
                cluster.urls[0], [(p, b.replace(marker("capt", m).encode(), marker(kind, m).encode())) for p, b in bodies[m]],
                content_type, bulk_ok, collector_config.DURABLE_CONSUMERS, http=http[m]), MACHINES))
        took = wait_all(kind, started)
        return took, sum(store.distinct_sequences(marker(kind, m))[0] for m in MACHINES)

    first = direct("dir1")
    with tempfile.TemporaryDirectory(prefix="bench-team-") as tmp, contextlib.ExitStack() as stack:
        urls = {}
        for m in MACHINES:
            work = pathlib.Path(tmp) / m
            work.mkdir()
            urls[m] = stack.enter_context(machine_collector(cluster, m, credentials[m], work))
        payloads = {m: ingest.otlp_payloads(records, RESOURCES[ingest.INDEX], marker("coll", m), n) for m in MACHINES}
        started = time.time()
        with ThreadPoolExecutor(len(MACHINES)) as pool:
            list(pool.map(lambda m: ingest.post_all(urls[m], payloads[m], "application/x-protobuf", lambda r: r.raise_for_status()), MACHINES))
        accepted = time.time() - started
        collector_s = wait_all("coll", started)
        time.sleep(2)  # late duplicates would show after the count first reaches 2N
        per_machine = {m: store.distinct_sequences(marker("coll", m)) for m in MACHINES}
    second = direct("dir2")
    timed = [r for r in (first, second) if r[0]]
    direct_s = min(timed)[0] if timed else None
    distinct = sum(d for d, _ in per_machine.values())
    docs = sum(c for _, c in per_machine.values())
    return {
        "n": 2 * n, "direct_s": direct_s, "direct_runs_s": [first[0], second[0]], "direct_distinct": [first[1], second[1]],
        "collector_s": collector_s, "collector_accept_s": accepted, "lost": 2 * n - distinct, "doubled": docs - distinct,
        "ratio": (direct_s / collector_s) if direct_s and collector_s else None,
    }


# ------------------------------------------------------------------ cold up: machine stack vs local stack


def machine_config(workdir: pathlib.Path, settings: dict) -> pathlib.Path:
    """The e2e stack's config (tests/e2e/Pulumi.e2e.yaml) less what the machine role refuses
    (components/roles.py), plus the machine's plain `settings` (its password is set as a secret)."""
    from components import roles
    from pulumi_cli import E2E_CONFIG

    config = yaml.safe_load(E2E_CONFIG.read_text())
    keys = config["config"]
    for key in list(keys):
        short = key.split(":", 1)[1]
        if roles.role_errors({"role": "machine", "clusterUrls": ["x"], "machineName": "x", "machinePassword": "x",
                              "teamPrometheusUrl": "x", "teamStack": "", **{short: keys[key]}}, {short}):
            del keys[key]
    keys.update({f"{roles.NAMESPACE}:{k}": v for k, v in settings.items()})
    path = workdir / "Pulumi.machine-source.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def cold_ups(cluster, credentials: dict, repeats: int, toolchain_bin: str) -> dict:
    """Wall seconds of `pulumi up --yes --skip-preview` from nothing: the machine stack's and the local stack's."""
    from benchmarks.stack import remove_stack_leftovers
    from opensearch_node import _prometheus_binary
    from pulumi_cli import PulumiStack
    from secured_cluster import start_team_prometheus

    machine = MACHINES[0]
    binary = _prometheus_binary()
    if not binary:
        raise SystemExit("no Prometheus binary (tools/images.sh builds it)")
    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-team-up-"))
    proc, prometheus_url, tls = start_team_prometheus(binary, work / "prometheus", {credentials[machine][0]: credentials[machine][1]})
    times: dict[str, list] = {"machine": [], "local": []}
    try:
        local = PulumiStack("bench-team-local", work / "local", toolchain_bin)
        plain = {
            "role": "machine", "machineName": machine, "clusterUrls": cluster.urls[0], "clusterCaCert": cluster.ca_pem,
            "teamPrometheusUrl": prometheus_url, "prometheusCaCert": pathlib.Path(tls.ca_cert).read_text(),
        }
        mach = PulumiStack("bench-team-machine", work / "machine", toolchain_bin, config_source=machine_config(work, plain))
        mach.set_config("machinePassword", credentials[machine][1], secret=True)
        for _ in range(repeats):
            for kind, stack in (("machine", mach), ("local", local)):
                remove_stack_leftovers()
                started = time.monotonic()
                stack.run("up", "--yes", "--skip-preview")
                times[kind].append(time.monotonic() - started)
                stack.run("destroy", "--yes", "--skip-preview")
        for stack in (mach, local):
            stack.remove()
    finally:
        remove_stack_leftovers()
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    return times


@contextlib.contextmanager
def e2e_lock():
    if os.environ.get("CLAWKER_DOCKER_LOCK_HELD") == "1":
        yield
        return
    with open(E2E_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ingest_part(cluster, credentials: dict, records: int, run_id: str, load) -> None:
    result = ingest_ratio(cluster, credentials, records, run_id)
    rate = lambda s: f"{result['n'] / s:.0f} records/s ({s:.2f} s)" if s else "did not finish"  # noqa: E731
    print(f"ingest, direct _bulk of the same documents with each machine's credential: {rate(result['direct_s'])}"
          f" (runs {[round(s, 2) if s else None for s in result['direct_runs_s']]} s, distinct {result['direct_distinct']})")
    print(f"ingest through the two machines' collectors: {rate(result['collector_s'])}, accepted in {result['collector_accept_s']:.2f} s,"
          f" lost {result['lost']}, doubled {result['doubled']}")
    print(f"RATIO ingest (stored via machine collectors / direct _bulk): {result['ratio']:.2f}" if result["ratio"] else "RATIO ingest: n/a")
    print(f"load {load()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=20000, help="records per machine (default 20000)")
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2, help="cold ups of each stack (default 2)")
    parser.add_argument("--skip-up", action="store_true", help="the ingest part only (no containers, no lock)")
    parser.add_argument("--skip-ingest", action="store_true", help="the cold-up part only")
    args = parser.parse_args()
    import secured_cluster

    # A SIGTERM still stops the cluster, the collectors and the stacks (the `finally` blocks run).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    run_id = uuid.uuid4().hex[:8]
    load = lambda: " ".join(open("/proc/loadavg").read().split()[:3])  # noqa: E731
    print(f"team benchmark {run_id}: {args.nodes}-node secured cluster, {len(MACHINES)} machines x {args.records} records, load {load()}")
    cluster = secured_cluster.start(nodes=args.nodes)
    try:
        credentials = bootstrap(cluster, replicas=min(boot.TEAM_REPLICAS, args.nodes - 1))
    except BaseException:
        secured_cluster.stop(cluster)
        raise
    try:
        if not args.skip_ingest:
            ingest_part(cluster, credentials, args.records, run_id, load)
        if args.skip_up:
            return
        toolchain = os.environ.get("CLAWKER_TOOLCHAIN_BIN")
        if not toolchain:
            raise SystemExit("CLAWKER_TOOLCHAIN_BIN is not set (tools/setup.sh prints it)")
        with e2e_lock():
            times = cold_ups(cluster, credentials, args.repeats, toolchain)
        m, loc = _median(times["machine"]), _median(times["local"])
        print(f"cold up, machine stack: {[round(t, 1) for t in times['machine']]} s; local stack: {[round(t, 1) for t in times['local']]} s")
        print(f"RATIO cold up (machine stack / local stack, medians): {m / loc:.2f}" if m and loc else "RATIO cold up: n/a")
        print(f"load {load()}")
    finally:
        secured_cluster.stop(cluster)


if __name__ == "__main__":
    main()
