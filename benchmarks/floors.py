"""The two floors the stack benchmark measures in the same run (issue 21, item 4).

- The engine's floor: a generated Pulumi program with as many trivial dynamic
  resources (and component resources) as the benchmark's stack holds, the same
  longest chain of dependent custom resources, on the same CLI, runtime and
  backend. Its no-op preview/up is what the engine costs for a graph of that
  size and depth, whatever the resources do.
- The engine's floor for this graph and its data ("data floor"): the same kind of generated
  program, but one trivial dynamic resource per resource of the stack, each carrying that
  resource's recorded input document (sizes and nesting as ours) and waiting for the same
  resources: what the engine and the SDKs cost for our documents, whatever our code does
  (Pulumi 3.259's CLI writes every property it marshals into its automatic debug log, a cost
  that grows with the documents' size and nesting; the trivial floor's documents are tiny).
- OpenSearch's floor for the bootstrap: a fresh OpenSearch started the same
  way as the stack's (same image, environment, limits, published port, a new
  empty data volume), then the bootstrap's OpenSearch requests as the counting
  proxy recorded them (same methods, paths and bodies, each distinct request
  once), sent by a plain HTTP client as soon as OpenSearch answers HTTP, two
  ways (MODES): every request in the recorded order one at a time ("serial"),
  and only the writes, each dependency level all at once ("waves": what the
  fastest client could ask of that node). The lower of the two is the floor.

Nothing here decides anything: both floors are printed next to our figures.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Optional

import requests
import yaml

from benchmarks import probes

ROOT = pathlib.Path(__file__).resolve().parents[1]
FLOOR_OPENSEARCH = "clawker-bench-floor-opensearch"
FLOOR_VOLUME = "clawker-bench-floor-opensearch-data"

# ------------------------------------------------------------------ engine floor


@dataclass(frozen=True)
class Shape:
    custom: int  # custom resources (containers, images, dynamic resources...), providers excluded
    components: int  # component resources, the stack's root excluded
    depth: int  # custom resources on the longest chain of dependencies


def stack_shape(deployment: dict) -> Shape:
    """The size and depth of a stack from `pulumi stack export`."""
    resources = [
        r for r in deployment.get("deployment", deployment).get("resources", [])
        if r["type"] != "pulumi:pulumi:Stack" and not r["type"].startswith("pulumi:providers:")
    ]
    by_urn = {r["urn"]: r for r in resources}
    memo: dict[str, int] = {}

    def depth(urn: str, seen: frozenset = frozenset()) -> int:
        if urn in memo:
            return memo[urn]
        resource = by_urn[urn]
        below = [depth(d, seen | {urn}) for d in resource.get("dependencies", []) if d in by_urn and d not in seen]
        memo[urn] = (1 if resource.get("custom") else 0) + max(below, default=0)
        return memo[urn]

    custom = sum(1 for r in resources if r.get("custom"))
    return Shape(custom, len(resources) - custom, max((depth(u) for u in by_urn), default=0))


# What both generated floors declare: a provider that does nothing, and the components.
_TRIVIAL = '''

def _inputs(props):
    return {{k: v for k, v in props.items() if k != "__provider"}}


class Trivial(ResourceProvider):
    def create(self, props):
        return CreateResult(id_=props["name"], outs=_inputs(props))

    def diff(self, _id, olds, news):
        return DiffResult(changes=_inputs(olds) != _inputs(news))


class Group(pulumi.ComponentResource):
    def __init__(self, name):
        super().__init__("floor:index:Group", name, None, None)
        self.register_outputs({{}})
'''

ENGINE_FLOOR_PROGRAM = '''"""The engine's floor: {custom} trivial dynamic resources, {components} components, a chain {depth} deep."""
import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider

SHAPE = {shape}
''' + _TRIVIAL + '''

class Thing(Resource):
    def __init__(self, name, after, opts=None):
        super().__init__(Trivial(), name, {{"name": name, "after": after}}, opts)


groups = [Group(f"group-{{i}}") for i in range(SHAPE["components"])]


def opts(i):
    return pulumi.ResourceOptions(parent=groups[i % len(groups)]) if groups else None


# The chain: each resource takes the previous one's id as an input (the engine registers
# it only once that id exists). Every other resource hangs off one link of the chain, so
# the graph is as deep as the stack's and about as wide.
chain = []
for i in range(SHAPE["depth"]):
    chain.append(Thing(f"chain-{{i}}", chain[-1].id if chain else "", opts(i)))
for j in range(SHAPE["custom"] - SHAPE["depth"]):
    link = chain[j % (SHAPE["depth"] - 1)] if SHAPE["depth"] > 1 else None
    Thing(f"leaf-{{j}}", link.id if link else "", opts(j))
'''


def engine_floor_project(directory: pathlib.Path, shape: Shape) -> pathlib.Path:
    """A Pulumi program of `shape`'s size and depth, on this project's runtime and virtualenv."""
    directory.mkdir(parents=True)
    project = {
        "name": "clawker-engine-floor",
        "runtime": {"name": "python", "options": {"toolchain": "pip", "virtualenv": str(ROOT / "venv")}},
    }
    (directory / "Pulumi.yaml").write_text(yaml.safe_dump(project, sort_keys=False))
    shape_text = json.dumps({"custom": shape.custom, "components": shape.components, "depth": shape.depth})
    (directory / "__main__.py").write_text(
        ENGINE_FLOOR_PROGRAM.format(custom=shape.custom, components=shape.components, depth=shape.depth, shape=shape_text)
    )
    (directory / "Pulumi.engine-floor-config.yaml").write_text("config: {}\n")
    return directory


# ------------------------------------------------------------------ data floor

# A secret value in `pulumi stack export` (without --show-secrets).
_SECRET_SIG = "4dabf18193072939515e22adb298388d"

DATA_FLOOR_PROGRAM = '''"""The engine's floor for this graph and its data: {custom} trivial dynamic resources, each
carrying the input document of one of the stack's resources and waiting for the same ones."""
import json
import pathlib

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider
''' + _TRIVIAL + '''

class Thing(Resource):
    def __init__(self, name, doc, after, opts=None):
        super().__init__(Trivial(), name, {{"name": name, "doc": doc, "after": after}}, opts)


groups = [Group(f"group-{{i}}") for i in range({components})]
made = {{}}
# In dependency order: each resource takes the ids of the ones it depends on as an input, so
# the engine registers it only once they exist (the stack's own dependency graph).
for i, spec in enumerate(json.loads((pathlib.Path(__file__).parent / "resources.json").read_text())):
    opts = pulumi.ResourceOptions(parent=groups[i % len(groups)]) if groups else None
    made[spec["name"]] = Thing(spec["name"], spec["doc"], [made[d].id for d in spec["after"]], opts)
'''


def _public(value):
    """A state value with each secret replaced by a plain string (the floor holds no secrets)."""
    if isinstance(value, dict):
        if _SECRET_SIG in value:
            return "secret"
        return {k: _public(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_public(v) for v in value]
    return value


def data_floor_resources(deployment: dict) -> list[dict]:
    """The stack's custom resources as {name, doc, after}, dependencies first: `doc` is the
    resource's recorded inputs (the dynamic provider's pickle and secrets left out), `after`
    the custom resources it depends on (through a component too)."""
    resources = [
        r for r in deployment.get("deployment", deployment).get("resources", [])
        if r["type"] != "pulumi:pulumi:Stack" and not r["type"].startswith("pulumi:providers:")
    ]
    by_urn = {r["urn"]: r for r in resources}
    children: dict[str, list[str]] = {}
    for r in resources:
        if r.get("parent") in by_urn:
            children.setdefault(r["parent"], []).append(r["urn"])

    def custom_below(urn: str) -> list[str]:
        """A dependency on a component is a dependency on the custom resources under it."""
        if by_urn[urn].get("custom"):
            return [urn]
        return [c for child in children.get(urn, []) for c in custom_below(child)]

    def after(r: dict) -> list[str]:
        out: list[str] = []
        for dep in r.get("dependencies", []):
            if dep in by_urn:
                out.extend(c for c in custom_below(dep) if c not in out and c != r["urn"])
        return out

    names = {r["urn"]: f"{r['urn'].rsplit('::', 1)[-1]}-{i}" for i, r in enumerate(resources)}
    ordered: list[dict] = []
    done: set[str] = set()

    def visit(urn: str, path: frozenset = frozenset()) -> None:
        if urn in done or urn in path:
            return
        r = by_urn[urn]
        deps = after(r)
        for dep in deps:
            visit(dep, path | {urn})
        done.add(urn)
        doc = {k: _public(v) for k, v in (r.get("inputs") or {}).items() if k != "__provider"}
        ordered.append({"name": names[urn], "doc": doc, "after": [names[d] for d in deps if d in done]})

    for r in resources:
        if r.get("custom"):
            visit(r["urn"])
    return ordered


def data_floor_project(directory: pathlib.Path, deployment: dict) -> pathlib.Path:
    """The engine floor for this stack's graph and data (DATA_FLOOR_PROGRAM), on this project's runtime."""
    shape = stack_shape(deployment)
    directory.mkdir(parents=True)
    project = {
        "name": "clawker-data-floor",
        "runtime": {"name": "python", "options": {"toolchain": "pip", "virtualenv": str(ROOT / "venv")}},
    }
    (directory / "Pulumi.yaml").write_text(yaml.safe_dump(project, sort_keys=False))
    (directory / "resources.json").write_text(json.dumps(data_floor_resources(deployment)))
    (directory / "__main__.py").write_text(DATA_FLOOR_PROGRAM.format(custom=shape.custom, components=shape.components))
    (directory / "Pulumi.data-floor-config.yaml").write_text("config: {}\n")
    return directory


# ------------------------------------------------------------------ OpenSearch floor


@dataclass
class StartSpec:
    """How the stack started OpenSearch, read back from Docker."""

    image: str
    env: list[str]
    ulimits: list[str]
    ports: list[str]
    data_dir: str
    # The other containers on its network: OpenSearch resolves their names (the datasource's
    # Prometheus URI must resolve); the floor's OpenSearch gets them as host entries.
    neighbours: list[str]


def start_spec(container: str) -> StartSpec:
    info = json.loads(subprocess.run(["docker", "inspect", container], check=True, capture_output=True, text=True).stdout)[0]
    host = info["HostConfig"]
    ports = []
    for container_port, bindings in (host.get("PortBindings") or {}).items():
        for binding in bindings or []:
            ports.append(f"{binding.get('HostIp') or '127.0.0.1'}:{binding['HostPort']}:{container_port}")
    ulimits = [f"{u['Name']}={u['Soft']}:{u['Hard']}" for u in host.get("Ulimits") or []]
    data_dir = next(m["Destination"] for m in info.get("Mounts", []) if m.get("Type") == "volume")
    neighbours: set[str] = set()
    for network in (info.get("NetworkSettings", {}).get("Networks") or {}):
        answer = subprocess.run(["docker", "network", "inspect", network], capture_output=True, text=True)
        if answer.returncode == 0:
            for member in (json.loads(answer.stdout)[0].get("Containers") or {}).values():
                neighbours.add(member["Name"])
    neighbours.discard(info["Name"].lstrip("/"))
    return StartSpec(info["Config"]["Image"], list(info["Config"]["Env"]), ulimits, ports, data_dir, sorted(neighbours))


def remove_floor_opensearch() -> None:
    subprocess.run(["docker", "rm", "-f", FLOOR_OPENSEARCH], capture_output=True)
    subprocess.run(["docker", "volume", "rm", "-f", FLOOR_VOLUME], capture_output=True)


def start_floor_opensearch(spec: StartSpec) -> float:
    """`docker run` of the stack's OpenSearch on a new empty volume; returns when it was started."""
    remove_floor_opensearch()
    # The environment holds the datasource master key: it goes through a private file,
    # not the command line.
    with tempfile.NamedTemporaryFile("w", suffix=".env", delete=False) as env_file:
        os.chmod(env_file.name, 0o600)
        env_file.write("\n".join(spec.env) + "\n")
    argv = ["docker", "run", "-d", "--name", FLOOR_OPENSEARCH, "--env-file", env_file.name,
            "-v", f"{FLOOR_VOLUME}:{spec.data_dir}"]
    for port in spec.ports:
        argv += ["-p", port]
    for ulimit in spec.ulimits:
        argv += ["--ulimit", ulimit]
    for name in spec.neighbours:
        argv += ["--add-host", f"{name}:127.0.0.1"]
    try:
        started = probes.now()
        subprocess.run(argv + [spec.image], check=True, capture_output=True, text=True)
    finally:
        os.unlink(env_file.name)
    return started


def replayable(recorded: list, zero: float) -> list:
    """The distinct requests of the bootstrap that OpenSearch itself answered, in first-sent order.

    Left out: connections that found nothing listening, the plugin doubles' 502
    while the JVM behind them is not up, polls answered before OpenSearch
    answered HTTP (the floors start there), and repeats of a request already
    kept (a poll waiting for a condition: a floor sends each request once).
    """
    seen: set = set()
    kept = []
    for r in sorted(recorded, key=lambda r: r.at):
        key = (r.method, r.path, r.body)
        if r.status in (0, 502) or r.at + r.seconds < zero or key in seen:
            continue
        seen.add(key)
        kept.append(r)
    return kept


# Which writes OpenSearch needs before which: cluster-level documents first (templates
# of nothing, pipelines, policies, datasources), then index templates (composing the
# component template), then everything on indices (created through the templates).
_WAVES = (("_component_template", "_ingest", "_plugins/_ism/policies", "_plugins/_query"), ("_index_template",))


def wave_of(path: str) -> int:
    bare = path.lstrip("/")
    for i, prefixes in enumerate(_WAVES):
        if bare.startswith(prefixes):
            return i
    return len(_WAVES)


def target_of(path: str) -> str:
    """What a request writes: the whole path for cluster documents (`_ingest/pipeline/x`), the index otherwise."""
    bare = path.lstrip("/").split("?")[0]
    return bare if bare.startswith("_") else bare.split("/")[0]


DROPPED_RETRIES = 5


@dataclass
class Tally:
    statuses: dict = field(default_factory=dict)  # HTTP status -> how many
    # Answers >= 400 other than an existence check's 404: the floor names them (there should be none).
    refused: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Connections the server closed without answering (the request is sent again).
    dropped: int = 0


@dataclass
class FloorRun:
    requests: int
    answered_s: float  # OpenSearch answers HTTP -> last request answered
    tally: Tally


def _send(session: requests.Session, url: str, r, tally: Tally) -> None:
    headers = {"Content-Type": r.content_type} if r.content_type else {}
    for attempt in range(DROPPED_RETRIES):
        try:
            resp = session.request(r.method, url.rstrip("/") + r.path, data=r.body, headers=headers, timeout=120)
            break
        except requests.ConnectionError:
            # A kept-alive connection closed under the client: a plain client sends again.
            with tally.lock:
                tally.dropped += 1
            if attempt == DROPPED_RETRIES - 1:
                raise
            time.sleep(0.1)
    with tally.lock:
        tally.statuses[resp.status_code] = tally.statuses.get(resp.status_code, 0) + 1
    if resp.status_code >= 400 and not (r.method == "GET" and resp.status_code == 404):
        tally.refused.append(f"{r.method} {r.path.split('?')[0]} {resp.status_code} {resp.text[:160]}")


def _serial(url: str, recorded: list, tally: Tally) -> None:
    session = requests.Session()
    for r in recorded:
        _send(session, url, r, tally)


def _waves(url: str, recorded: list, tally: Tally) -> None:
    """Only the writes; each wave (see _WAVES) all at once, one connection per target, in order per target."""
    writes = [r for r in recorded if r.method != "GET"]
    for wave in range(len(_WAVES) + 1):
        targets: dict[str, list] = {}
        for r in writes:
            if wave_of(r.path) == wave:
                targets.setdefault(target_of(r.path), []).append(r)
        if targets:
            with ThreadPoolExecutor(len(targets)) as pool:
                list(pool.map(lambda rs: _serial(url, rs, tally), targets.values()))


# The two ways a plain client sends the bootstrap's requests.
MODES = {
    "serial": ("every distinct request, in order, one at a time", _serial),
    "waves": ("only the writes, each dependency level all at once", _waves),
}


def opensearch_floor(spec: StartSpec, recorded: list, url: str, mode: str, timeout_s: float = 300) -> FloorRun:
    """Start OpenSearch as the stack does, then send `recorded` as MODES[mode] says."""
    start_floor_opensearch(spec)
    try:
        answers = probes.FirstSuccess(probes.answers_http(url))
        answers.start()
        answers.join(timeout_s)
        if answers.at is None:
            answers.stop()
            raise SystemExit(f"the floor's OpenSearch ({FLOOR_OPENSEARCH}) never answered {url}")
        tally = Tally()
        MODES[mode][1](url, recorded, tally)
        return FloorRun(sum(tally.statuses.values()), probes.now() - answers.at, tally)
    finally:
        remove_floor_opensearch()


def writes_in_flight(recorded: list, zero: float) -> float:
    """Seconds after `zero` during which at least one write (not GET/HEAD) was waiting for OpenSearch.

    Next to the span from `zero` to the last answer it says whether OpenSearch was kept
    busy (it applies cluster-state updates one after another: benchmarks/os_concurrency.py)
    or waited for the client between writes."""
    spans = sorted((max(r.at, zero), r.at + r.seconds) for r in recorded
                   if r.status and r.method not in ("GET", "HEAD") and r.at + r.seconds > zero)
    total, current = 0.0, None
    for start, end in spans:
        if current is None or start > current[1]:
            total += (current[1] - current[0]) if current else 0.0
            current = [start, end]
        else:
            current[1] = max(current[1], end)
    return total + ((current[1] - current[0]) if current else 0.0)


def last_answer(recorded: list) -> Optional[float]:
    return max((r.at + r.seconds for r in recorded), default=None)
