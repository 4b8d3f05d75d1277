"""Paired cold ups (issue 21 item 2): programs A and B alternating on the same machine, same load.

    CLAWKER_TOOLCHAIN_BIN=... flock /tmp/clawker-e2e.lock venv/bin/python -m benchmarks.cold_pair A_DIR [B_DIR] [--rounds N] [--dump DIR]

A program is a directory holding this project, optionally with environment changes for its
commands, as in noop_pair.py: `DIR@KEY=VALUE` (`A@PULUMI_PARALLEL=32`: the same program with
more engine slots).

Prints, for each cold up, OpenSearch answers HTTP -> collector accepts OTLP, and the
bootstrap's last OpenSearch answer, with the engine's timeline; then the per-program medians.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile

from benchmarks import floors, stack as bench
from benchmarks.noop_pair import parse_program, with_env


def dump(path: pathlib.Path, cold: dict, proxies: dict, zero: float) -> None:
    """One cold up on one clock (0 = OpenSearch answers HTTP): engine steps and every proxied request."""
    engine = cold["engine"]
    steps = [
        {"name": urn.rsplit("::", 1)[-1], "op": engine.ops.get(urn, ""), "start": began - zero,
         "end": (engine.finished[urn] - zero) if urn in engine.finished else None}
        for urn, began in engine.started.items()
    ]
    requests = [
        {"service": service, "method": q.method, "path": q.path, "status": q.status, "at": q.at - zero, "seconds": q.seconds}
        for service, proxy in proxies.items() for q in proxy.requests
    ]
    ready = cold["otlp_accepts"] - zero if cold["otlp_accepts"] else None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"zero": zero, "ready": ready, "steps": steps, "requests": requests,
                                "collector_log": collector_log(zero)}, indent=1))


def collector_log(zero: float, lines: int = 80) -> list:
    """The collector's first log lines, each stamped by Docker on the dump's clock: where its start went."""
    out = subprocess.run(["docker", "logs", "--timestamps", bench.names.COLLECTOR], capture_output=True, text=True, timeout=30)
    stamped = []
    for line in (out.stdout + out.stderr).splitlines()[:lines]:
        stamp, _, text = line.partition(" ")
        try:
            at = datetime.datetime.fromisoformat(stamp[:26] + "+00:00").timestamp() - zero
        except ValueError:
            continue
        stamped.append({"at": at, "line": text[:300]})
    return stamped


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("programs", nargs="+")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--dump", metavar="DIR", help="write each cold up's steps and proxied requests as JSON into DIR")
    args = parser.parse_args()
    toolchain = os.environ["CLAWKER_TOOLCHAIN_BIN"]
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="clawker-coldpair-"))
    ports = {"opensearch": 9200, "otlp_http": 4318}
    proxies = {
        "opensearch": bench.probes.CountingProxy(bench.PROXY_HOST, 9200, "127.0.0.1"),
        "dashboards": bench.probes.CountingProxy(bench.PROXY_HOST, 5601, "127.0.0.1"),
        "prometheus": bench.probes.CountingProxy(bench.PROXY_HOST, 9090, "127.0.0.1"),
    }
    stacks = []
    results: dict[str, list] = {p: [] for p in args.programs}
    try:
        bench.remove_stack_leftovers()
        for proxy in proxies.values():
            proxy.start()
        for i, program in enumerate(args.programs):
            project, env = parse_program(program)
            stacks.append(with_env(bench.PulumiStack(f"pair{i}", workdir / f"s{i}", toolchain,
                                                     config_source=bench.bench_config(workdir / f"b{i}.yaml"),
                                                     project_dir=project), env))
        for r in range(args.rounds):
            for program, st in zip(args.programs, stacks):
                for proxy in proxies.values():
                    proxy.requests.clear()
                print(f"\n-- {program} round {r + 1}, load {bench.probes.load_average()}", flush=True)
                cold = bench.cold_up(st, ports)
                zero = cold["os_answers"]
                if not args.quiet:
                    bench.print_timeline(cold, zero)
                info = bench.print_requests(proxies, zero)
                last_os = floors.last_answer([q for q in proxies["opensearch"].requests if q.status])
                print(f"    opensearch had a write of ours in flight {floors.writes_in_flight(proxies['opensearch'].requests, zero):.2f} s "
                      f"of the {last_os - zero:.2f} s from answering HTTP to its last answer")
                ready = cold["otlp_accepts"] - zero if cold["otlp_accepts"] else None
                cstart = cold["events"].first(bench.names.COLLECTOR, "start")
                print(f"  READY {ready:.2f} s; bootstrap last OS answer {last_os - zero:.2f} s; "
                      f"collector start at {cstart - zero:+.2f}; up returned {cold['ended'] - zero:+.2f}", flush=True)
                results[program].append((ready, last_os - zero, cold["ended"] - zero))
                if args.dump:
                    dump(pathlib.Path(args.dump) / f"p{args.programs.index(program)}-r{r + 1}.json", cold, proxies, zero)
                st.run("destroy", "--yes", "--skip-preview")
                bench.remove_stack_leftovers()
        print("\n== medians")
        for program, rows in results.items():
            print(f"  {program}: ready {statistics.median(r[0] for r in rows):.2f} s ({', '.join(f'{r[0]:.2f}' for r in rows)}); "
                  f"bootstrap OS {statistics.median(r[1] for r in rows):.2f} s; up returned {statistics.median(r[2] for r in rows):.2f} s")
        return 0
    finally:
        for proxy in proxies.values():
            try:
                proxy.stop()
            except Exception:
                pass
        for st in stacks:
            st.run("destroy", "--yes", "--skip-preview", check=False)
            st.remove()
        bench.remove_stack_leftovers()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
