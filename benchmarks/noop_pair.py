"""Paired no-op commands (issue 21 item 1): programs alternating with the empty program and
the engine floor, same stack, same load, with where each one's CPU went.

    CLAWKER_TOOLCHAIN_BIN=... flock /tmp/clawker-e2e.lock \\
        venv/bin/python -m benchmarks.noop_pair A_DIR [B_DIR ...] [--rounds N] [--timeline]

A program is a directory holding this project (a worktree of main, yours), optionally with
environment changes for its commands: `DIR@KEY=VALUE@KEY2=` (an empty value unsets KEY).
The stack is brought up once with the first program (tests/e2e/Pulumi.e2e.yaml, the e2e
stack's fixed names: hold the e2e lock); every other program gets a copy of that state
(same stack name, same secrets) and one `up` so that its state is its own (a no-op when the
programs declare the same inputs; with --refresh-copies a `refresh` first, so that a newer
program's outputs take its own shape: put the oldest program first). Then, per round, each of: the empty program, the engine
floor and the data floor (floors.py, both made from this stack's state), and every program runs `preview
--expect-no-changes`, then each runs `up --yes --expect-no-changes`. Printed per command:
wall seconds, CPU seconds of the whole process tree (rusage of the reaped children), and
the CPU seconds of each process kind (sampled from /proc every 50 ms: the CLI, the language
host, the program, the dynamic-provider process, the docker provider), medians over the
rounds, and each program's ratio to the floors measured in the same rounds. `--timeline`
adds one `up --skip-preview --json` per program and floor with each step's time.
Leaves no stack, container or volume (the stack is destroyed once at the end).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import pathlib
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Optional

from benchmarks import floors, probes, stack as bench

COMMANDS = {
    "preview": ("preview", "--expect-no-changes"),
    "up": ("up", "--yes", "--expect-no-changes"),
}
SAMPLE_S = 0.05


def process_kind(cmdline: list[str]) -> str:
    """What a process of `pulumi`'s tree is, from its command line."""
    text = " ".join(cmdline)
    first = os.path.basename(cmdline[0]) if cmdline else "?"
    if "pulumi.dynamic" in text:
        return "dynamic provider"
    if "pulumi-language-python-exec" in text:
        return "program"
    if first == "pulumi-resource-docker":
        return "docker provider"
    if first == "pulumi-language-python":
        return "language host"
    if first == "pulumi":
        return "CLI"
    if first.startswith("python") and len(cmdline) > 2 and cmdline[1] == "-m":
        return f"python -m {cmdline[2]}"
    return first


def _stat(pid: int) -> Optional[tuple[int, float]]:
    """(parent pid, CPU seconds) of a process, None when it is gone."""
    got = probes.proc_stat(pid)
    return (got[0], got[2]) if got else None


def _cmdline(pid: int) -> list[str]:
    try:
        return pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    except OSError:
        return []


class TreeCpu(threading.Thread):
    """CPU seconds per process kind of root's descendants, sampled until stopped.

    A process's last sample before it exits is what counts (at most SAMPLE_S of it is
    missed); the rusage total of the whole tree says how much went unattributed."""

    def __init__(self, root: int):
        super().__init__(daemon=True)
        self.root = root
        self.seen: dict[int, tuple[str, float]] = {}
        self._halt = threading.Event()

    def sample(self) -> None:
        parents, cpu = {}, {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                got = _stat(int(entry))
                if got:
                    parents[int(entry)], cpu[int(entry)] = got
        for pid in cpu:
            walk, depth = pid, 0
            while walk in parents and walk != self.root and depth < 32:
                walk, depth = parents[walk], depth + 1
            if walk == self.root and pid != self.root:
                # A launcher shell that execs python keeps its pid: the latest command line names it.
                # An exited process not yet reaped has no command line: it keeps the kind it had.
                cmdline = _cmdline(pid)
                kind = process_kind(cmdline) if cmdline else self.seen.get(pid, ("?", 0.0))[0]
                self.seen[pid] = (kind, cpu[pid])

    def run(self) -> None:
        while not self._halt.is_set():
            self.sample()
            time.sleep(SAMPLE_S)

    def stop(self) -> dict[str, float]:
        self._halt.set()
        self.join(5)
        out: dict[str, float] = {}
        for kind, seconds in self.seen.values():
            out[kind] = out.get(kind, 0.0) + seconds
        return out


@dataclass
class Run:
    wall: float
    cpu: float  # every process of the command's tree (rusage)
    kinds: dict = field(default_factory=dict)


def measured(stack: bench.PulumiStack, args: tuple) -> Run:
    """One command of `stack`, timed, with its tree's CPU."""
    argv = ["pulumi", *args, "--stack", stack.name, "--config-file", str(stack.config_file), "--non-interactive"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.Popen(argv, cwd=stack.project_dir, env=stack.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = TreeCpu(proc.pid)
    sampler.start()
    out, err = proc.communicate(timeout=900)
    wall = time.monotonic() - started
    kinds = sampler.stop()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{stack.name} {' '.join(args)} failed ({proc.returncode}):\n{out[-3000:]}\n{err[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # The CLI itself (the engine): what the tree used that no sampled descendant did.
    kinds["CLI (engine)"] = max(0.0, cpu - sum(kinds.values()))
    return Run(wall, cpu, kinds)


def with_env(stack: bench.PulumiStack, changes: dict) -> bench.PulumiStack:
    """The same stack with environment changes (an empty value unsets the variable)."""
    out = copy.copy(stack)
    out.env = {k: v for k, v in {**stack.env, **changes}.items() if v != ""}
    return out


def without_cli_log(stack: bench.PulumiStack) -> bench.PulumiStack:
    """The stack's commands with the CLI's automatic log off (an experiment, not a setting).

    Pulumi 3.259 writes every command's verbose log, each property it marshals included,
    gzipped and encrypted to PULUMI_HOME/logs, whatever -v says; no setting turns that off.
    It starts only when it can make that directory: here a plain file stands in its place.
    The difference to the same command with the log on is what the log costs."""
    home = pathlib.Path(stack.env["PULUMI_HOME"])
    quiet = home.with_name(home.name + "-no-cli-log")
    if not quiet.exists():
        shutil.copytree(home, quiet, symlinks=True, ignore=shutil.ignore_patterns("logs"))
        (quiet / "logs").write_text("a file, so that the CLI's automatic log cannot start (benchmarks/noop_pair.py)\n")
    return with_env(stack, {"PULUMI_HOME": str(quiet)})


def parse_program(spec: str) -> tuple[pathlib.Path, dict]:
    path, *changes = spec.split("@")
    env = {}
    for change in changes:
        key, _, value = change.partition("=")
        env[key] = value
    return pathlib.Path(path).resolve(), env


def copy_stack(source: bench.PulumiStack, workdir: pathlib.Path, toolchain: str, project: pathlib.Path) -> bench.PulumiStack:
    """A second backend holding the same stack (name, state, secrets' salt), run by `project`."""
    other = bench.PulumiStack(source.name, workdir, toolchain, config_source=source.config_file, project_dir=project)
    other.env = dict(source.env)
    other.env["PULUMI_BACKEND_URL"] = f"file://{other.state_dir}"
    other.env["PULUMI_HOME"] = str(workdir / "pulumi-home")
    shutil.rmtree(other.state_dir)
    shutil.copytree(source.state_dir, other.state_dir)
    shutil.copy(source.config_file, other.config_file)
    return other


def timeline(stack: bench.PulumiStack) -> None:
    argv = ["pulumi", "up", "--yes", "--skip-preview", "--json", "--stack", stack.name,
            "--config-file", str(stack.config_file), "--non-interactive"]
    t0 = probes.now()
    proc = subprocess.Popen(argv, cwd=stack.project_dir, env=stack.env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    events = probes.EngineEvents(proc.stdout)
    events.start()
    proc.wait()
    events.join(10)
    rows = sorted((events.started[u] - t0, events.finished.get(u, t0) - t0, u.rsplit("::", 1)[-1], events.ops.get(u, ""))
                  for u in events.started)
    print(f"-- timeline {stack.name} ({stack.project_dir}): {probes.now() - t0:.2f} s, {len(rows)} steps")
    for a, b, name, op in rows:
        print(f"   {a:6.2f} {b:6.2f} {op:6} {name}")


PYPROFILE = pathlib.Path(__file__).resolve().parent / "pyprofile"


def profiled(stack: bench.PulumiStack, directory: pathlib.Path) -> bench.PulumiStack:
    """The stack's commands with the profiling hook (pyprofile/sitecustomize.py) writing into directory."""
    directory.mkdir(parents=True, exist_ok=True)
    path = os.pathsep.join(p for p in (str(PYPROFILE), stack.env.get("PYTHONPATH", "")) if p)
    return with_env(stack, {"CLAWKER_PYPROFILE_DIR": str(directory), "PYTHONPATH": path})


def summarise_profile(directory: pathlib.Path, top: int = 25) -> None:
    """What the hook wrote: the program's heaviest functions, the provider's calls by kind and resource."""
    import pstats

    for txt in sorted(directory.glob("program-*.txt")):
        facts = dict(line.split("\t") for line in txt.read_text().split("\n") if line)
        print(f"   program {txt.stem}: {float(facts['end']) - float(facts['start']):.2f} s from start to exit, "
              f"cpu {float(facts['cpu']):.2f} s (profiled: slower than unprofiled)")
        stats = pstats.Stats(str(txt.with_suffix(".prof")))
        stats.sort_stats("cumulative")
        rows = []
        for (filename, line, name), (_cc, _nc, tt, ct, _callers) in stats.stats.items():
            if "site-packages" in filename and "pulumi" not in filename:
                continue
            rows.append((ct, tt, f"{pathlib.Path(filename).name}:{line}({name})"))
        for ct, tt, where in sorted(rows, reverse=True)[:top]:
            print(f"      cum {ct:6.3f} self {tt:6.3f}  {where}")
    for tsv in sorted(directory.glob("provider-*.tsv")):
        lines = [line.split("\t") for line in tsv.read_text().splitlines()]
        start = float(lines[0][1])
        calls = [(m, float(at), float(wall), float(cpu), int(size), urn.rsplit("::", 1)[-1]) for m, at, wall, cpu, size, urn in lines[1:]]
        if not calls:
            continue
        first = min(c[1] for c in calls)
        last = max(c[1] + c[2] for c in calls)
        print(f"   provider {tsv.stem}: first call {first - start:.2f} s after its start, last answer {last - start:.2f} s; "
              f"{len(calls)} calls, cpu {sum(c[3] for c in calls):.2f} s, request bytes {sum(c[4] for c in calls)}")
        kinds: dict[str, list] = {}
        for c in calls:
            kinds.setdefault(c[0], []).append(c)
        for kind, cs in sorted(kinds.items()):
            print(f"      {kind}: {len(cs)} calls, wall {sum(c[2] for c in cs):.2f} s, cpu {sum(c[3] for c in cs):.2f} s")
        heavy: dict[str, list[float]] = {}
        for c in calls:
            heavy.setdefault(c[5], [0.0, 0.0, 0])
            heavy[c[5]][0] += c[3]
            heavy[c[5]][1] += c[2]
            heavy[c[5]][2] = max(heavy[c[5]][2], c[4])
        for name, (cpu, wall, size) in sorted(heavy.items(), key=lambda kv: -kv[1][0])[:10]:
            print(f"      {name}: cpu {cpu:.3f} s, wall {wall:.3f} s, largest request {size} bytes")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("programs", nargs="+", help="DIR[@KEY=VALUE...] of each program to compare")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--timeline", action="store_true")
    parser.add_argument("--profile", action="store_true",
                        help="after the timed rounds, one profiled preview per program and floor (pyprofile/)")
    parser.add_argument("--cli-log-off-too", action="store_true",
                        help="also run every program and floor with the CLI's automatic log off (without_cli_log)")
    parser.add_argument("--sandbox-python", action="store_true",
                        help="compile our modules on every command, as this sandbox's PYTHONDONTWRITEBYTECODE=1 does (stack.as_sandbox_python; stack.as_users_python otherwise)")
    parser.add_argument("--refresh-copies", action="store_true",
                        help="each later program reads its copy of the state back (pulumi refresh) before its up: "
                             "a resource whose diff finds nothing keeps the outputs the first program stored, so a "
                             "program storing another shape (a newer one, the first being older) holds its own only so")
    parser.add_argument("--floor-env", default="", help="KEY=VALUE[@KEY=VALUE] for the two floors' commands too")
    args = parser.parse_args()
    toolchain = os.environ["CLAWKER_TOOLCHAIN_BIN"]
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="clawker-nooppair-"))
    programs = [parse_program(p) for p in args.programs]
    floor_env = parse_program("x@" + args.floor_env)[1] if args.floor_env else {}
    stacks: list[bench.PulumiStack] = []
    extra: list[bench.PulumiStack] = []
    try:
        bench.remove_stack_leftovers()
        first = bench.PulumiStack("bench", workdir / "p0", toolchain, project_dir=programs[0][0])
        if args.sandbox_python:
            bench.as_sandbox_python(first)
        else:
            bench.as_users_python(first, workdir / "pycache")
        stacks.append(with_env(first, programs[0][1]))
        started = time.monotonic()
        stacks[0].run("up", "--yes", "--skip-preview")
        print(f"cold up with {programs[0][0]}: {time.monotonic() - started:.1f} s", flush=True)
        for i, (project, env) in enumerate(programs[1:], 1):
            other = with_env(copy_stack(first, workdir / f"p{i}", toolchain, project), env)
            if args.refresh_copies:
                other.run("refresh", "--yes", "--skip-preview")
            other.run("up", "--yes", "--skip-preview")
            stacks.append(other)
        empty_dir = bench.floor_project(workdir / "empty-project")
        empty = bench.PulumiStack("floor", workdir / "empty", toolchain,
                                  config_source=empty_dir / "Pulumi.floor-config.yaml", project_dir=empty_dir)
        extra.append(empty)
        deployment = json.loads(first.run("stack", "export").stdout)
        shape = floors.stack_shape(deployment)
        engine_dir = floors.engine_floor_project(workdir / "engine-project", shape)
        engine = bench.PulumiStack("engine-floor", workdir / "engine", toolchain,
                                   config_source=engine_dir / "Pulumi.engine-floor-config.yaml", project_dir=engine_dir)
        extra.append(engine)
        data_dir = floors.data_floor_project(workdir / "data-project", deployment)
        data = bench.PulumiStack("data-floor", workdir / "data", toolchain,
                                 config_source=data_dir / "Pulumi.data-floor-config.yaml", project_dir=data_dir)
        extra.append(data)
        for st in (empty, engine, data):
            if args.sandbox_python:
                bench.as_sandbox_python(st)
            else:
                bench.as_users_python(st, workdir / "pycache")
        group = [with_env(empty, floor_env), with_env(engine, floor_env), with_env(data, floor_env), *stacks]
        labels = ["empty program", "engine floor", "data floor"] + [
            f"{p}{''.join(f'@{k}={v}' for k, v in e.items())}" for p, e in programs]
        for st in group[:3]:
            st.run("up", "--yes", "--skip-preview")
        if args.cli_log_off_too:
            labels += [f"{label} (CLI log off)" for label in labels]
            group += [without_cli_log(st) for st in group]
        print(f"engine floor: {shape.custom} dynamic resources, {shape.components} components, chain {shape.depth}")
        results: dict[str, list[list[Run]]] = {c: [[] for _ in group] for c in COMMANDS}
        for r in range(args.rounds):
            for command, argv in COMMANDS.items():
                print(f"-- round {r + 1} {command}, load {probes.load_average()}", flush=True)
                for i, st in enumerate(group):
                    run = measured(st, argv)
                    results[command][i].append(run)
                    print(f"   {labels[i]}: wall {run.wall:.2f} s, cpu {run.cpu:.2f} s "
                          + ", ".join(f"{k} {v:.2f}" for k, v in sorted(run.kinds.items(), key=lambda kv: -kv[1])), flush=True)
        half = len(group) // 2 if args.cli_log_off_too else len(group)
        print(f"\n== medians of {args.rounds} rounds, load now {probes.load_average()}")
        for command in COMMANDS:
            med = [(statistics.median(x.wall for x in runs), statistics.median(x.cpu for x in runs)) for runs in results[command]]
            print(f"  {command}:")
            for i, label in enumerate(labels):
                kinds: dict[str, list[float]] = {}
                for x in results[command][i]:
                    for k, v in x.kinds.items():
                        kinds.setdefault(k, []).append(v)
                # Against the floors measured the same way (the CLI's log on, or off).
                f = 0 if i < half else half
                ratio = (f"; wall / empty {med[i][0] / med[f][0]:.2f}, / engine floor {med[i][0] / med[f + 1][0]:.2f}, "
                         f"/ data floor {med[i][0] / med[f + 2][0]:.2f}; cpu / empty {med[i][1] / med[f][1]:.2f}, "
                         f"/ engine floor {med[i][1] / med[f + 1][1]:.2f}, / data floor {med[i][1] / med[f + 2][1]:.2f}"
                         ) if i - f >= 3 else ""
                print(f"    {label}: wall {med[i][0]:.2f} s, cpu {med[i][1]:.2f} s{ratio}")
                print("      cpu by process (median s): " + ", ".join(
                    f"{k} {statistics.median(v):.2f}" for k, v in sorted(kinds.items(), key=lambda kv: -statistics.median(kv[1]))))
        if args.profile:
            for command, argv in COMMANDS.items():
                for i, st in enumerate(group[1:], 1):
                    where = workdir / "profile" / f"{i}-{command}"
                    run = measured(profiled(st, where), argv)
                    print(f"-- profiled {command} of {labels[i]}: wall {run.wall:.2f} s, cpu {run.cpu:.2f} s")
                    summarise_profile(where)
        if args.timeline:
            for st in group[1:]:
                timeline(st)
        return 0
    finally:
        if stacks:
            stacks[0].run("destroy", "--yes", "--skip-preview", check=False)
        for st in stacks + extra:
            st.remove()
        bench.remove_stack_leftovers()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
