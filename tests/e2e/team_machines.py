"""Machine stacks of the issue-19 team tests: each on its own Docker Engine, through the real Pulumi CLI.

- `second_engine()`: the second Docker Engine (tools/engine2.sh: its own data root, exec root, pid
  file, socket, bridge and address pool) with the collector and queue-init images loaded into it;
  a stack runs there with DOCKER_HOST set to its socket.
- `MachineStack`: a stack of this project with role=machine, its machineName, and teamStack naming
  the team stack on the same file backend (a StackReference), or the explicit settings instead.
  Its OTLP ports and its own metrics endpoint's (machineMetricsPort) come from settings (free ports),
  so two machine stacks publish on this one host's 127.0.0.1 (a second engine's published ports too).
- `send_numbered()` / `stored()`: numbered Claude Code records (tests/corpus.py shapes, through
  durable_traffic.Sender) into a machine's collector, and what the cluster stored of them, read
  as the admin: exact distinct sequence numbers, total documents, and the `resource.machine`
  values they carry.
"""

from __future__ import annotations

import json
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import yaml

from components import names
from durable_traffic import SEQ, HttpLane, Sender
from net import free_port
from prerequisites import unavailable
from pulumi_cli import E2E_CONFIG, PulumiStack

ROOT = Path(__file__).resolve().parents[2]
ENGINE2 = ROOT / "tools" / "engine2.sh"
PROJECT = "clawker-monitor"
# A machine stack runs the collector and its queue-init container (the Prometheus image): only these.
MACHINE_IMAGES = ("collectorImage", "prometheusImage")
LOGS = "claude-code"


def e2e_images() -> dict[str, str]:
    config = yaml.safe_load(E2E_CONFIG.read_text())["config"]
    return {k: config[f"{PROJECT}:{k}"] for k in MACHINE_IMAGES}


def second_engine() -> str:
    """Start (or reuse) the second engine with the machine images; returns its DOCKER_HOST."""
    proc = subprocess.run(["bash", str(ENGINE2), *e2e_images().values()], capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        unavailable(f"tools/engine2.sh could not start the second Docker Engine:\n{proc.stderr[-3000:]}")
    found = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    return found["ENGINE2_DOCKER_HOST"]


def engine_docker(docker_host: Optional[str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    argv = ["docker", *(["-H", docker_host] if docker_host else []), *args]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    if check:
        assert proc.returncode == 0, f"{' '.join(argv)}: {proc.stderr}"
    return proc


def remove_machine_leftovers(docker_host: Optional[str]) -> None:
    """No collector, queue-init container or queue volume on that engine (a machine stack's own)."""
    for container in (names.COLLECTOR, names.COLLECTOR_QUEUE_INIT):
        engine_docker(docker_host, "rm", "-f", container, check=False)
    engine_docker(docker_host, "volume", "rm", "-f", names.COLLECTOR_QUEUE_VOLUME, check=False)


@dataclass
class MachineStack:
    name: str  # the machine's name (machineName), also the stack's
    stack: PulumiStack
    docker_host: Optional[str]  # None: the engine this process's DOCKER_HOST names (the first)
    http_port: int
    metrics_port: int  # machineMetricsPort

    def docker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return engine_docker(self.docker_host, *args, check=check)

    def collector_id(self) -> str:
        return self.docker("inspect", "-f", "{{.Id}}", names.COLLECTOR).stdout.strip()

    def collector_log(self) -> str:
        proc = self.docker("logs", names.COLLECTOR, check=False)
        return proc.stdout + proc.stderr

    def otlp(self) -> HttpLane:
        return HttpLane(f"http://127.0.0.1:{self.http_port}")

    def local_metrics(self) -> str:
        """The machine's own metrics endpoint (components/services/collector_machine.py LOCAL_METRICS)."""
        return f"http://127.0.0.1:{self.metrics_port}/metrics"


def machine_config(machine: str, team_stack: str) -> dict:
    """A machine stack's settings: role, name, team stack, ports from settings, the local images."""
    config = {f"{PROJECT}:{k}": v for k, v in e2e_images().items()}
    config.update({
        f"{PROJECT}:role": "machine",
        f"{PROJECT}:machineName": machine,
        f"{PROJECT}:teamStack": team_stack,
        f"{PROJECT}:otlpHttpPort": str(free_port()),
        f"{PROJECT}:otlpGrpcPort": str(free_port()),
        f"{PROJECT}:machineMetricsPort": str(free_port()),
        # The trusted lane stays off (no certificates): its port is not published.
        f"{PROJECT}:infraPort": "0",
    })
    return {"config": config}


def machine_stack(team, machine: str, docker_host: Optional[str], toolchain_bin: str) -> MachineStack:
    """The machine's stack beside the team stack (same file backend: the StackReference reads it)."""
    work = team.stack.state_dir.parent
    source = work / f"Pulumi.{machine}-source.yaml"
    config = machine_config(machine, f"organization/{PROJECT}/{team.stack.name}")
    source.write_text(yaml.safe_dump(config, sort_keys=False))
    remove_machine_leftovers(docker_host)
    stack = PulumiStack(machine, work, toolchain_bin, config_source=source)
    if docker_host:
        stack.env["DOCKER_HOST"] = docker_host
    ports = [int(config["config"][f"{PROJECT}:{key}"]) for key in ("otlpHttpPort", "machineMetricsPort")]
    return MachineStack(machine, stack, docker_host, *ports)


def set_pem(stack: PulumiStack, key: str, pem: str) -> None:
    """`pulumi config set` of a PEM through stdin (a value starting with dashes is not an argument)."""
    argv = ["pulumi", "config", "set", "--raw", f"{PROJECT}:{key}", "--stack", stack.name, "--config-file", str(stack.config_file),
            "--non-interactive"]
    proc = subprocess.run(argv, input=pem, cwd=stack.project_dir, env=stack.env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def up_all(stacks: list[PulumiStack], command: str = "up") -> None:
    """`pulumi up` (or destroy) of several stacks at once (each its own engine); every failure is reported."""
    results: dict[str, object] = {}

    def run(stack: PulumiStack) -> None:
        results[stack.name] = stack.run(command, "--yes", "--skip-preview", check=False)

    threads = [threading.Thread(target=run, args=(s,)) for s in stacks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    failed = {name: r for name, r in results.items() if r.returncode != 0}
    assert not failed, "\n".join(f"pulumi {command} of {name} failed:\n{r.output[-4000:]}" for name, r in failed.items())


def corpus_records() -> list[dict]:
    """Claude Code's log events as tests/corpus.py generates them (its sessions' records, in order)."""
    import corpus

    return [r for b in corpus.claude_code_batches() if b.index == LOGS for r in b.records]


def sender(machine: MachineStack, tag: str, total: int, seq_start: int = 0, batch: int = 100, lane: Optional[HttpLane] = None) -> Sender:
    """`total` numbered Claude Code records (corpus shapes; resource.agent = tag) into the machine's OTLP/HTTP
    port (or `lane`, another collector's)."""
    records = corpus_records()
    return Sender({LOGS: lane or machine.otlp()}, tag=tag, tag_hex="", total=total, batch=batch, seq_start=seq_start,
                  retry_s=0.5, extra=lambda _index, seq: records[seq % len(records)])


def one_url_collector(team, machine: str, credential_of: str, work: Path):
    """A third machine's collector as a local process (the real collector build, the machine part of
    the config rendered with the first of clusterUrls only: no failover), with `credential_of`'s
    credential; a context manager yielding {"ports", "log"} (tests/providers/test_machine_credential.py)."""
    from test_machine_credential import machine_collector

    prometheus = (team.prometheus_url, str(team.ca_file))
    return machine_collector(team.urls[:1], str(team.ca_file), prometheus, team.credential(credential_of), work, machine=machine)


def reads_of(tag: str) -> dict:
    """Every read of one set of records (a run's, a machine's) from the same shard copies: a
    preference string, the same for each page and each call. The team's indices have a replica,
    and a copy may still lack a record the other has shown (the primary refreshes it before the
    replica has it), so reads spread over both copies could see the record, then miss it, and
    mix two views across the pages of one count."""
    return {"preference": f"clawker-e2e-{tag}"}


def _read(team, api: str, body: dict, key: str, door: int):
    """POST `api` (_search, _count) over the stream's door and days as the admin, from the copies
    `key` picks (reads_of)."""
    return team.call("POST", f"{names.read_pattern(LOGS)}/{api}", json=body, params=reads_of(key), door=door)


def _refresh(team, door: int) -> None:
    team.call("POST", f"{names.read_pattern(LOGS)}/_refresh", door=door)


def stored(team, tag: str, door: int = 0) -> tuple[set[int], int, dict[str, int]]:
    """(distinct e2e_seq, total documents, resource.machine -> documents) of run `tag`, read as the admin
    from the same copies every time (reads_of)."""
    _refresh(team, door)
    query = {"term": {"resource.agent": tag}}
    seqs: set[int] = set()
    after = None
    while True:
        composite: dict = {"size": 5000, "sources": [{"v": {"terms": {"field": f"attributes.{SEQ}"}}}]}
        if after:
            composite["after"] = after
        body = {"size": 0, "track_total_hits": True, "query": query,
                "aggs": {"seen": {"composite": composite}, "machines": {"terms": {"field": "resource.machine", "size": 10}}}}
        answer = _read(team, "_search", body, tag, door)
        assert answer.status_code == 200, answer.text[:2000]
        doc = answer.json()
        agg = doc["aggregations"]["seen"]
        seqs.update(int(b["key"]["v"]) for b in agg["buckets"])
        after = agg.get("after_key")
        if not agg["buckets"] or not after:
            machines = {b["key"]: b["doc_count"] for b in doc["aggregations"]["machines"]["buckets"]}
            return seqs, doc["hits"]["total"]["value"], machines


def machine_records(team, machine: str, door: int = 0) -> int:
    """How many log records the cluster holds from `machine`, read as the admin from the same copies
    each time (reads_of)."""
    _refresh(team, door)
    answer = _read(team, "_count", {"query": {"term": {"resource.machine": machine}}}, f"machine-{machine}", door)
    assert answer.status_code == 200, answer.text[:1000]
    return answer.json()["count"]


def explain_stored(team, tag: str, door: int = 0) -> str:
    """What `stored` counted, copy by copy, for a failed exactness check: documents per index, every
    sequence number stored more than once (each copy's index, id and times), documents without
    resource.machine, and a sample of the sequence numbers missing below the highest stored."""
    seqs = stored(team, tag, door)[0]  # refreshes first
    copy_fields = ["@timestamp", "observedTimestamp", "resource.machine", "attributes.ingest_error"]
    body = {
        "size": 0, "track_total_hits": True, "query": {"term": {"resource.agent": tag}},
        "aggs": {
            "indices": {"terms": {"field": "_index", "size": 20}},
            "twice": {"terms": {"field": f"attributes.{SEQ}", "min_doc_count": 2, "size": 20},
                      "aggs": {"copies": {"top_hits": {"size": 5, "_source": copy_fields}}}},
            "no_machine": {"missing": {"field": "resource.machine"},
                           "aggs": {"some": {"top_hits": {"size": 3, "_source": True}}}},
        },
    }
    answer = _read(team, "_search", body, tag, door)
    if answer.status_code != 200:  # an assertion's message: say so rather than hide the assertion
        return f"(explaining failed: {answer.status_code} {answer.text[:500]})"
    aggs = answer.json()["aggregations"]
    lines = [f"total {answer.json()['hits']['total']['value']}; per index "
             f"{ {b['key']: b['doc_count'] for b in aggs['indices']['buckets']} }; "
             f"distinct {len(seqs)}; missing (a sample) {sorted(set(range(max(seqs, default=-1) + 1)) - seqs)[:20]}"]
    for bucket in aggs["twice"]["buckets"]:
        copies = [{"_index": h["_index"], "_id": h["_id"], **h["_source"]} for h in bucket["copies"]["hits"]["hits"]]
        lines.append(f"seq {bucket['key']} stored {bucket['doc_count']} times: {json.dumps(copies, sort_keys=True)}")
    lost = aggs["no_machine"]
    if lost["doc_count"]:
        lines.append(f"{lost['doc_count']} without resource.machine, e.g. "
                     + json.dumps([{"_index": h["_index"], "_id": h["_id"], **h["_source"]} for h in lost["some"]["hits"]["hits"]])[:3000])
    return "\n".join(lines)


def series_machines(team, query: str) -> set[str]:
    """The `machine` labels of the series a PromQL query returns from the team Prometheus (as the admin)."""
    import requests

    answer = requests.get(f"{team.prometheus_url}/api/v1/query", params={"query": query}, auth=team.admin,
                          verify=str(team.ca_file), timeout=10)
    assert answer.status_code == 200, answer.text[:1000]
    return {r["metric"].get("machine", "") for r in answer.json()["data"]["result"]}


def security_objects(team, door: int = 0) -> dict[str, list[str]]:
    """The internal users, roles and role mappings of machines on the cluster (names only)."""
    out = {}
    for kind in ("internalusers", "roles", "rolesmapping"):
        answer = team.call("GET", f"_plugins/_security/api/{kind}", door=door)
        assert answer.status_code == 200, answer.text[:500]
        out[kind] = sorted(k for k in answer.json() if k.startswith("clawker-machine-"))
    return out


def as_json(value) -> str:
    return json.dumps(value, sort_keys=True)
