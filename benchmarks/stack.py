"""The stack benchmark: one run of the e2e stack, every figure a ratio against a floor or
ceiling measured in the same run. It prints numbers; it asserts nothing about speed.

    CLAWKER_TOOLCHAIN_BIN=... venv/bin/python -m benchmarks.stack   (benchmarks/run.sh does this)

Needs the Docker lock (it removes and recreates the stack's fixed containers):
benchmarks/run.sh holds it. Figures:

- no-op `pulumi preview` and no-op `pulumi up --yes` of this program, each over
  the same command on an empty Python program (same CLI, same virtualenv,
  same backend), median of alternating repeats; both run with
  --expect-no-changes, so a "no-op" that is not one fails the benchmark;
- cold `pulumi up` (images present, no containers or volumes): seconds from
  OpenSearch first answering HTTP to the collector accepting OTLP, with each
  step's start/end on the same clock (the engine's event log);
- the bootstrap's requests and wall time, counted by a forwarding proxy the
  benchmark's stack reaches OpenSearch, Dashboards and Prometheus through
  (apiHost 127.0.0.2; the containers still publish on 127.0.0.1 only);
- idle and peak memory per container against its limit (cgroup);
- ingest: claude-code records/s stored through the collector over records/s
  of a direct `_bulk` of the same documents into the same index (ingest.py).

The no-op commands and the cold up run with the CLI's defaults and again with
ENGINE_SETTINGS: both are printed, each against the same floor.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Optional

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
for extra in (ROOT, ROOT / "tests", ROOT / "tests" / "e2e", ROOT / "tests" / "providers"):
    sys.path.insert(0, str(extra))

from benchmarks import ingest, probes  # noqa: E402
from components import names  # noqa: E402
from pulumi_cli import E2E_CONFIG, PulumiStack, docker  # noqa: E402

PROXY_HOST = "127.0.0.2"
CONTAINERS = (names.OPENSEARCH, names.PROMETHEUS, names.DASHBOARDS, names.COLLECTOR)
# Targets of issue 11 (README shows them next to the figures).
TARGETS = {"preview": 1.5, "up": 2.0, "ready_s": 5.0, "ingest": 0.8}
# The Pulumi CLI's own speed settings (engine env variables, not the program's): independent
# diffs in parallel (the engine otherwise checks and diffs one resource at a time), and more
# resource operations at once than its default of 4 per CPU. The no-op commands and the cold
# up are measured with the CLI's defaults and again with these (README "Benchmarks" says
# whether they are worth setting).
ENGINE_SETTINGS = {"PULUMI_PARALLEL_DIFF": "true", "PULUMI_PARALLEL": "32"}


def remove_stack_leftovers() -> None:
    for container in (names.COLLECTOR, names.COLLECTOR_QUEUE_INIT, names.DASHBOARDS, names.PROMETHEUS, names.OPENSEARCH):
        docker("rm", "-f", container, check=False)
    for volume in (names.OPENSEARCH_VOLUME, names.PROMETHEUS_VOLUME, "clawker-collector-queue"):
        docker("volume", "rm", "-f", volume, check=False)


def floor_project(directory: pathlib.Path) -> pathlib.Path:
    """An empty Python Pulumi program on the same runtime and virtualenv as this project."""
    directory.mkdir(parents=True)
    project = {
        "name": "clawker-floor",
        "runtime": {"name": "python", "options": {"toolchain": "pip", "virtualenv": str(ROOT / "venv")}},
    }
    (directory / "Pulumi.yaml").write_text(yaml.safe_dump(project, sort_keys=False))
    (directory / "__main__.py").write_text('"""An empty program: the floor."""\nimport pulumi  # noqa: F401\n')
    (directory / "Pulumi.floor-config.yaml").write_text("config: {}\n")
    return directory


def bench_config(path: pathlib.Path) -> pathlib.Path:
    config = yaml.safe_load(E2E_CONFIG.read_text())
    config.setdefault("config", {})["clawker-monitor:apiHost"] = PROXY_HOST
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def timed(fn) -> float:
    started = time.monotonic()
    fn()
    return time.monotonic() - started


def fmt_ratio(value: float, target: float, lower_is_better: bool = True) -> str:
    met = value <= target if lower_is_better else value >= target
    return f"{value:.2f} (target {'<=' if lower_is_better else '>='} {target:g}: {'met' if met else 'NOT met'})"


def mib(n) -> str:
    return "-" if n is None else f"{n / 2**20:.0f} MiB"


def cold_up(stack: PulumiStack, workdir: pathlib.Path, settings_ports: dict) -> dict:
    os_url = f"http://127.0.0.1:{settings_ports['opensearch']}/"
    otlp_url = f"http://127.0.0.1:{settings_ports['otlp_http']}/v1/logs"
    events = probes.DockerEvents(list(CONTAINERS))
    os_answers = probes.FirstSuccess(probes.answers_http(os_url))
    otlp_accepts = probes.FirstSuccess(probes.accepts_otlp_logs(otlp_url))
    for thread in (os_answers, otlp_accepts):
        thread.start()
    # --skip-preview: the preview runs before anything exists and is no part of readiness.
    # --json streams the engine's events as they happen (this CLI has no --event-log).
    argv = ["pulumi", "up", "--yes", "--skip-preview", "--json", "--stack", stack.name,
            "--config-file", str(stack.config_file), "--non-interactive"]
    started = probes.now()
    proc = subprocess.Popen(argv, cwd=stack.project_dir, env=stack.env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    engine = probes.EngineEvents(proc.stdout)
    engine.start()
    stderr = proc.stderr.read()
    proc.wait(timeout=900)
    ended = probes.now()
    engine.join(timeout=10)
    if proc.returncode != 0:
        raise SystemExit(f"cold `pulumi up` failed ({proc.returncode}):\n{''.join(engine.tail)[-5000:]}\n{stderr[-3000:]}")
    deadline = time.monotonic() + 30
    while otlp_accepts.at is None and time.monotonic() < deadline:
        time.sleep(0.1)
    for thread in (os_answers, otlp_accepts):
        thread.stop()
    time.sleep(0.5)
    events.close()
    return {
        "started": started,
        "ended": ended,
        "os_answers": os_answers.at,
        "otlp_accepts": otlp_accepts.at,
        "events": events,
        "engine": engine,
    }


def print_timeline(cold: dict, zero: float) -> None:
    engine = cold["engine"]
    rows = []
    for urn, began in engine.started.items():
        if engine.ops.get(urn) in ("same", "read"):
            continue
        end = engine.finished.get(urn)
        rows.append((began, end, urn.rsplit("::", 1)[-1], engine.ops.get(urn, "")))
    rows.sort()
    print("  engine steps (seconds relative to OpenSearch answering HTTP; start -> end):")
    for began, end, name, op in rows:
        end_text = f"{end - zero:+7.2f}" if end else "   ?   "
        print(f"    {began - zero:+7.2f} -> {end_text}  {op:<7} {name}")
    for container in CONTAINERS:
        for action in ("start", "health_status: healthy"):
            at = cold["events"].first(container, action)
            if at:
                print(f"  docker: {container} {action} at {at - zero:+.2f}")


def print_requests(proxies: dict, zero: float) -> dict:
    total, failed = 0, 0
    first, last = None, None
    print("  bootstrap requests through the counting proxy:")
    for service, proxy in proxies.items():
        reqs = list(proxy.requests)
        if not reqs:
            print(f"    {service}: none")
            continue
        total += len(reqs)
        failed += sum(1 for r in reqs if r.status == 0)
        s_first = min(r.at for r in reqs)
        s_last = max(r.at + r.seconds for r in reqs)
        first = s_first if first is None else min(first, s_first)
        last = s_last if last is None else max(last, s_last)
        by_kind: dict[str, int] = {}
        for r in reqs:
            by_kind[r.method] = by_kind.get(r.method, 0) + 1
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(by_kind.items()))
        print(
            f"    {service}: {len(reqs)} requests ({kinds}; {sum(1 for r in reqs if r.status == 0)} found nothing listening), "
            f"{s_first - zero:+.2f} -> {s_last - zero:+.2f} s"
        )
    wall = (last - first) if first is not None else 0.0
    print(f"    total: {total} requests, wall {wall:.2f} s (first request to last answer)")
    answered = sorted((r for proxy in proxies.values() for r in proxy.requests if r.status), key=lambda r: -r.seconds)
    print("    slowest answers: " + "; ".join(f"{r.method} {r.path.split('?')[0][:48]} {r.seconds:.2f} s" for r in answered[:6]))
    return {"requests": total, "unanswered": failed, "wall_s": wall}


def with_engine_settings(stack: PulumiStack) -> PulumiStack:
    """The same stack (state, config, program) run with ENGINE_SETTINGS in the CLI's environment."""
    tuned = copy.copy(stack)
    tuned.env = {**stack.env, **ENGINE_SETTINGS}
    return tuned


def median_runs(stacks: list[PulumiStack], args: tuple, repeats: int) -> list[float]:
    """Median seconds of each stack's command, the stacks alternating in every round."""
    runs: list[list[float]] = [[] for _ in stacks]
    for _ in range(repeats):
        for i, stack in enumerate(stacks):
            runs[i].append(timed(lambda: stack.run(*args)))
    print(f"  {' '.join(args[:2])}: every run (s): " + "; ".join(
        f"{stack.name}: {', '.join(f'{x:.2f}' for x in r)}" for stack, r in zip(stacks, runs)))
    return [statistics.median(r) for r in runs]


def memory_report(ids: dict) -> dict:
    out = {}
    for name, cid in ids.items():
        out[name] = probes.memory_of(cid) if cid else None
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=20000, help="claude-code records for the ingest ratio")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each no-op command (median)")
    parser.add_argument("--keep", action="store_true", help="leave the stack up (and its state directory) afterwards")
    args = parser.parse_args()

    toolchain = os.environ.get("CLAWKER_TOOLCHAIN_BIN")
    if not toolchain:
        print("CLAWKER_TOOLCHAIN_BIN is not set: run benchmarks/run.sh (it runs tools/setup.sh first)", file=sys.stderr)
        return 2
    run_id = uuid.uuid4().hex[:8]
    print(f"== clawker-monitor stack benchmark, {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"   {probes.cpu_count()} CPUs, load average at start {probes.load_average()}")

    workdir = pathlib.Path(tempfile.mkdtemp(prefix="clawker-bench-"))
    ports = {"opensearch": 9200, "otlp_http": 4318}
    proxies = {
        "opensearch": probes.CountingProxy(PROXY_HOST, 9200, "127.0.0.1"),
        "dashboards": probes.CountingProxy(PROXY_HOST, 5601, "127.0.0.1"),
        "prometheus": probes.CountingProxy(PROXY_HOST, 9090, "127.0.0.1"),
    }
    stack = floor = None
    sampler = None
    try:
        remove_stack_leftovers()
        for proxy in proxies.values():
            proxy.start()
        stack = PulumiStack("bench", workdir / "stack", toolchain, config_source=bench_config(workdir / "bench.yaml"))
        floor_dir = floor_project(workdir / "floor-project")
        floor = PulumiStack(
            "floor", workdir / "floor", toolchain, config_source=floor_dir / "Pulumi.floor-config.yaml", project_dir=floor_dir
        )
        floor.run("up", "--yes", "--skip-preview")

        tuned = with_engine_settings(stack)
        settings_text = " ".join(f"{k}={v}" for k, v in ENGINE_SETTINGS.items())
        ready: dict[str, Optional[float]] = {}
        requests_info: dict = {}
        for label, runner in (("CLI defaults", stack), (settings_text, tuned)):
            if ready:
                # The second cold up starts from nothing again: no containers, no volumes.
                stack.run("destroy", "--yes", "--skip-preview")
                remove_stack_leftovers()
                for proxy in proxies.values():
                    proxy.requests.clear()
            print(f"\n-- cold up (images present; no containers, no volumes), {label}, load {probes.load_average()}")
            cold = cold_up(runner, workdir, ports)
            zero = cold["os_answers"]
            ready[label] = cold["otlp_accepts"] - zero if zero and cold["otlp_accepts"] else None
            print(f"  pulumi up --yes --skip-preview: {cold['ended'] - cold['started']:.1f} s in all")
            if zero:
                print(f"  OpenSearch answered HTTP {zero - cold['started']:.1f} s after `up` started")
                print_timeline(cold, zero)
                print(f"  `pulumi up` returned at {cold['ended'] - zero:+.2f}")
            requests_info[label] = print_requests(proxies, zero or cold["started"])

        ids = {name: probes.container_id(name) for name in CONTAINERS}
        sampler = probes.MemorySampler(ids)
        sampler.start()

        print(f"\n-- no-op commands ({args.repeats} alternating runs each, median), load {probes.load_average()}")
        trio = [floor, stack, tuned]
        preview_floor, preview, preview_tuned = median_runs(trio, ("preview", "--expect-no-changes"), args.repeats)
        up_floor, up, up_tuned = median_runs(trio, ("up", "--yes", "--expect-no-changes"), args.repeats)
        print(f"  preview: {preview:.2f} s, with {settings_text} {preview_tuned:.2f} s, empty program {preview_floor:.2f} s")
        print(f"  up --yes: {up:.2f} s, with {settings_text} {up_tuned:.2f} s, empty program {up_floor:.2f} s")

        idle = memory_report(ids)

        print(f"\n-- ingest ({args.records} claude-code records), load {probes.load_average()}")
        result = ingest.run("http://127.0.0.1:9200", "http://127.0.0.1:4318/v1/logs", args.records, run_id)
        runs = ", ".join("not all stored" if s is None else f"{s:.2f} s" for s in result.direct_runs_s)
        print(f"  direct _bulk of the captured documents ({result.bulk_requests} requests; before/after: {runs}): "
              f"{result.direct_s:.2f} s, {result.direct_rate:.0f} records/s, {result.direct_distinct} distinct stored"
              if result.direct_s else "  direct _bulk: not all stored")
        print(f"  through the collector: accepted in {result.collector_accept_s:.2f} s; "
              + (f"all stored in {result.collector_s:.2f} s, {result.collector_rate:.0f} records/s"
                 if result.collector_s else "NOT all stored within the timeout"))
        lost = result.n - result.collector_distinct
        dupes = result.collector_docs - result.collector_distinct
        print(f"  through the collector: {result.collector_distinct} distinct of {result.n} sent, lost {lost}, duplicates {dupes}")

        sampler.stop()
        peak = memory_report(ids)
        print("\n-- memory per container (working set = usage - inactive file cache; peak = kernel high-water mark incl. cache)")
        for name in CONTAINERS:
            now_, end = idle.get(name), peak.get(name)
            limit = (end or now_).limit if (end or now_) else None
            sampled = sampler.peak_working_set.get(name)
            share = f" = {sampled / limit:.0%} of limit" if limit and sampled else ""
            print(f"  {name}: idle {mib(now_.working_set if now_ else None)}, peak working set {mib(sampled)}{share}, "
                  f"kernel peak {mib(end.peak if end else None)}, limit {mib(limit) if limit else 'none'}")

        print("\n== ratios (same run)")
        print(f"  no-op preview / empty program: {fmt_ratio(preview / preview_floor, TARGETS['preview'])}; "
              f"with {settings_text}: {fmt_ratio(preview_tuned / preview_floor, TARGETS['preview'])}")
        print(f"  no-op up / empty program:      {fmt_ratio(up / up_floor, TARGETS['up'])}; "
              f"with {settings_text}: {fmt_ratio(up_tuned / up_floor, TARGETS['up'])}")
        for label, ready_s in ready.items():
            if ready_s is not None:
                print(f"  cold up ({label}), OpenSearch answers HTTP -> collector accepts OTLP: {ready_s:.2f} s "
                      f"(target <= {TARGETS['ready_s']:g} s: {'met' if ready_s <= TARGETS['ready_s'] else 'NOT met'})")
            else:
                print(f"  cold up ({label}): not measured (OpenSearch or the collector never answered)")
        if result.collector_rate and result.direct_rate:
            ok = lost == 0
            print(f"  ingest stored via collector / direct _bulk: {fmt_ratio(result.collector_rate / result.direct_rate, TARGETS['ingest'], False)}"
                  f"{'' if ok else f'; {lost} LOST'}")
        else:
            # Say why there is no ratio, in the summary too: a missing line reads like a pass.
            why = []
            if not result.direct_rate:
                why.append("the direct _bulk did not store every record")
            if not result.collector_rate:
                why.append(f"{lost} of {result.n} records never stored through the collector (LOST), {dupes} duplicated")
            print(f"  ingest: NO ratio: {'; '.join(why)}")
        for label, info in requests_info.items():
            print(f"  bootstrap ({label}): {info['requests']} requests, {info['wall_s']:.2f} s wall")
        print(f"  load average at end {probes.load_average()}")
        return 0
    finally:
        if sampler:
            try:
                sampler.stop()
            except Exception as exc:  # never leave the stack up because an instrument failed
                print(f"memory sampler: {exc}", file=sys.stderr)
        for proxy in proxies.values():
            try:
                proxy.stop()
            except Exception:
                pass
        if stack and not args.keep:
            stack.run("destroy", "--yes", "--skip-preview", check=False)
            stack.remove()
            remove_stack_leftovers()
        if floor:
            floor.run("destroy", "--yes", "--skip-preview", check=False)
            floor.remove()
        if args.keep:
            print(f"stack left up; state and config under {workdir}/stack")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
