"""A REAL OpenSearch 3.6.0 (and a Prometheus) as local processes, for the OpenSearch provider tests.

tools/opensearch_dist.sh obtains and caches the distribution (plus the
job-scheduler, index-management and sql plugins it can get) and a JDK; this
session fixture starts it on a free port with its config, data and logs in a
temp directory, and stops it at the end.

When OpenSearch (or a plugin a test needs) cannot be had: under CI=true the
test FAILS; elsewhere it is skipped with the reason printed (-ra shows it).
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pytest
import requests

from prerequisites import unavailable
from net import free_port

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DIST_SCRIPT = ROOT / "tools" / "opensearch_dist.sh"
CACHE = Path(os.environ.get("CLAWKER_CACHE", Path.home() / ".cache" / "clawker-monitor"))
START_TIMEOUT_S = 180
HEAP = "-Xms512m -Xmx512m"
# The datasource master key the SQL plugin needs before it accepts datasource writes.
MASTER_KEY = "0123456789abcdef0123456789abcdef"
ISM = "opensearch-index-management"
SQL = "opensearch-sql"



@dataclass
class OpenSearchNode:
    url: str
    plugins: set
    state_dir: Path
    java_home: str
    proc: Optional[subprocess.Popen] = field(default=None, repr=False)
    # Plugins whose REST APIs are served by the contract doubles (tests/plugin_doubles)
    # in front of this node; `url` is then the double's and `real_url` OpenSearch's own.
    doubled: set = field(default_factory=set)
    real_url: str = ""
    double_proc: Optional[subprocess.Popen] = field(default=None, repr=False)

    def call(self, method: str, path: str, body=None, **kwargs) -> requests.Response:
        """Out-of-band API access: what a user or another tool would do behind Pulumi's back."""
        return requests.request(method, f"{self.url}/{path.lstrip('/')}", json=body, timeout=30, **kwargs)

    def log(self, lines: int = 60) -> str:
        out = []
        for path in sorted(self.state_dir.glob("logs/*.log")) + [self.state_dir / "stdout.log"]:
            if path.exists():
                out.append(f"--- {path.name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:]))
        return "\n".join(out)

    def require(self, plugin: str) -> None:
        if plugin not in self.plugins and plugin not in self.doubled:
            unavailable(
                f"OpenSearch plugin {plugin} is not installed in the test distribution "
                f"(installed: {', '.join(sorted(self.plugins)) or 'none'}); see tools/opensearch_dist.sh"
            )


def _dist_env() -> dict:
    if not DIST_SCRIPT.exists():
        unavailable(f"{DIST_SCRIPT.relative_to(ROOT)} is missing")
    proc = subprocess.run(["bash", str(DIST_SCRIPT)], capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        unavailable(f"{DIST_SCRIPT.name} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    env = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    if not env.get("OPENSEARCH_HOME") or not env.get("OPENSEARCH_JAVA_HOME"):
        unavailable(f"{DIST_SCRIPT.name} printed no OPENSEARCH_HOME/OPENSEARCH_JAVA_HOME: {proc.stdout!r}")
    return env


def _java_major(java_home: str) -> int:
    try:
        out = subprocess.run([f"{java_home}/bin/java", "-version"], capture_output=True, text=True, timeout=30).stderr
        version = out.split('"')[1]
        return int(version.split(".")[0])
    except (OSError, IndexError, ValueError, subprocess.SubprocessError):
        return 0


def _java_candidates(script_java: str) -> list[str]:
    """The JDK the script chose first; then other JDKs 21+ on the machine as a fallback.

    Why a fallback: a trimmed runtime can lack locale data OpenSearch needs to build
    its analyzers (seen: 'This JRE does not have support for Thai segmentation'),
    which fails every mapping with a text field.
    """
    chosen = os.environ.get("CLAWKER_OPENSEARCH_JAVA_HOME")
    found = [chosen] if chosen else []
    found.append(script_java)
    for java in sorted(glob.glob("/usr/lib/jvm/*/bin/java")):
        home = str(Path(java).parents[1])
        if home not in found and _java_major(home) >= 21:
            found.append(home)
    usable = [home for home in found if home and _java_major(home) >= 21]
    # A JDK found wanting once is not tried again on this machine (it costs a full start).
    return [home for home in usable if not _known_bad(home)] or usable


def _bad_marker(java_home: str) -> Path:
    digest = hashlib.sha256(f"{java_home}:{_java_major(java_home)}".encode()).hexdigest()[:16]
    return CACHE / "test-state" / f"jdk-cannot-build-analyzers-{digest}"


def _known_bad(java_home: str) -> bool:
    return _bad_marker(java_home).exists()


def _mark_bad(java_home: str, reason: str) -> None:
    marker = _bad_marker(java_home)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(f"{java_home}\n{reason}\n")


def _prepare_state(home: Path, state: Path, java_home: str) -> None:
    shutil.copytree(home / "config", state / "config")
    jvm_options = state / "config" / "jvm.options"
    text = jvm_options.read_text()
    # Per-instance GC logs and heap dumps (they default to paths under OPENSEARCH_HOME).
    text = text.replace("logs/", f"{state}/logs/").replace("HeapDumpPath=data", f"HeapDumpPath={state}/data")
    modules = subprocess.run([f"{java_home}/bin/java", "--list-modules"], capture_output=True, text=True).stdout
    if "jdk.incubator.vector@" not in modules:
        # Lucene's optional SIMD module; a JVM without it refuses to boot on --add-modules.
        text = "\n".join(
            "# " + line if "--add-modules=jdk.incubator.vector" in line and not line.startswith("#") else line
            for line in text.splitlines()
        )
    jvm_options.write_text(text)
    for sub in ("data", "logs", "tmp"):
        (state / sub).mkdir(exist_ok=True)


def _start(home: Path, java_home: str, plugins: set, state: Path) -> OpenSearchNode:
    port, transport = free_port(), free_port()
    args = [
        f"{home}/bin/opensearch",
        f"-Epath.data={state}/data",
        f"-Epath.logs={state}/logs",
        "-Ediscovery.type=single-node",
        "-Ecluster.name=clawker-provider-tests",
        "-Enetwork.host=127.0.0.1",
        f"-Ehttp.port={port}",
        f"-Etransport.port={transport}",
        # A full CI disk must not turn the test indices read-only.
        "-Ecluster.routing.allocation.disk.threshold_enabled=false",
    ]
    if ISM in plugins:
        args.append("-Eplugins.index_state_management.job_interval=1")
    if SQL in plugins:
        args.append(f"-Eplugins.query.datasources.encryption.masterkey={MASTER_KEY}")
    env = {
        **os.environ,
        "OPENSEARCH_JAVA_HOME": java_home,
        "OPENSEARCH_PATH_CONF": str(state / "config"),
        "OPENSEARCH_TMPDIR": str(state / "tmp"),
        "OPENSEARCH_JAVA_OPTS": HEAP,
    }
    env.pop("JAVA_HOME", None)
    if os.getuid() == 0:
        # OpenSearch refuses to run as root: map us to an unprivileged uid in a user namespace.
        args = ["unshare", "--user", "--map-user=1000", "--map-group=1000", "--"] + args
    stdout = open(state / "stdout.log", "w")
    proc = subprocess.Popen(args, stdout=stdout, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    node = OpenSearchNode(f"http://127.0.0.1:{port}", plugins, state, java_home, proc)
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"OpenSearch exited with {proc.returncode}:\n{node.log()}")
        try:
            health = requests.get(f"{node.url}/_cluster/health?wait_for_status=yellow&timeout=1s", timeout=5)
            if health.status_code == 200:
                return node
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            _stop(node)
            raise RuntimeError(f"OpenSearch was not healthy within {START_TIMEOUT_S}s:\n{node.log()}")
        time.sleep(1)


DOUBLES_SERVER = ROOT / "tests" / "plugin_doubles" / "server.py"


def start_plugin_doubles(node: OpenSearchNode, job_interval_min: float = 1) -> None:
    """Put the ISM / SQL plugin contract doubles in front of `node` for the plugins it lacks.

    The doubles are a reverse proxy: `node.url` becomes theirs (every other path passes
    through to OpenSearch), `node.real_url` stays OpenSearch's. Where the distribution has
    the real plugins, nothing is doubled and the tests run against them.
    Set CLAWKER_PLUGIN_DOUBLES=0 to run without the doubles (the plugin tests then fail
    under CI=true and skip elsewhere).
    """
    missing = {ISM, SQL} - node.plugins
    node.real_url = node.url
    if not missing or os.environ.get("CLAWKER_PLUGIN_DOUBLES", "1") == "0":
        return
    port = free_port()
    env = {
        **os.environ,
        "PLUGIN_DOUBLES_MASTER_KEY": MASTER_KEY,
        # What -Eplugins.index_state_management.job_interval=1 gives the real plugin.
        "PLUGIN_DOUBLES_JOB_INTERVAL_MIN": str(job_interval_min),
        "PLUGIN_DOUBLES_SWEEP_S": "0.5",
    }
    log = open(node.state_dir / "plugin-doubles.log", "w")
    proc = subprocess.Popen(
        [sys.executable, str(DOUBLES_SERVER), "--host", "127.0.0.1", "--port", str(port), "--upstream", node.url],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"the plugin doubles exited with {proc.returncode}:\n{(node.state_dir / 'plugin-doubles.log').read_text()}")
        try:
            if requests.get(f"{url}/_plugins/_ism/policies", timeout=5).status_code == 200:
                break
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("the plugin doubles did not answer within 60s")
        time.sleep(0.3)
    node.url, node.double_proc, node.doubled = url, proc, missing
    print(f"\nISM/SQL plugin CONTRACT DOUBLES for {sorted(missing)} at {url} in front of {node.real_url}")


def _stop_doubles(node: OpenSearchNode) -> None:
    proc = node.double_proc
    if proc is not None and proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


def _stop(node: OpenSearchNode) -> None:
    _stop_doubles(node)
    proc = node.proc
    if proc is None or proc.poll() is not None:
        return
    # The JVM runs under unshare and the launcher script: signal the whole group we started.
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _analyzers_work(node: OpenSearchNode) -> Optional[str]:
    """None when a text-mapped template is accepted; otherwise OpenSearch's reason."""
    body = {"template": {"mappings": {"properties": {"t": {"type": "text"}}}}}
    answer = node.call("PUT", "_component_template/clawker-jdk-probe", body)
    node.call("DELETE", "_component_template/clawker-jdk-probe")
    return None if answer.status_code == 200 else answer.text[:500]


@pytest.fixture(scope="session")
def opensearch():
    dist = _dist_env()
    home = Path(dist["OPENSEARCH_HOME"])
    plugins = {p.strip() for p in dist.get("OPENSEARCH_PLUGINS", "").split(",") if p.strip()}
    # _cat/plugins names the SQL plugin opensearch-sql; the script its artifact opensearch-sql-plugin.
    plugins = {p[: -len("-plugin")] if p.endswith("-plugin") else p for p in plugins}
    problems = []
    for java_home in _java_candidates(dist["OPENSEARCH_JAVA_HOME"]):
        state = Path(tempfile.mkdtemp(prefix="clawker-os-test-"))
        _prepare_state(home, state, java_home)
        try:
            node = _start(home, java_home, plugins, state)
        except RuntimeError as exc:
            problems.append(f"with {java_home}: {exc}")
            shutil.rmtree(state, ignore_errors=True)
            continue
        reason = _analyzers_work(node)
        if reason is None:
            print(f"\nOpenSearch test node at {node.url} (java {java_home}, plugins {sorted(plugins)})")
            try:
                start_plugin_doubles(node)
            except RuntimeError as exc:
                _stop(node)
                unavailable(str(exc))
            break
        problems.append(f"with {java_home}: a text mapping is refused: {reason}")
        print(f"\nOpenSearch with {java_home} refuses text mappings ({reason[:200]}); trying another JDK")
        _mark_bad(java_home, reason)
        _stop(node)
        shutil.rmtree(state, ignore_errors=True)
    else:
        unavailable("OpenSearch did not start:\n" + "\n".join(problems))
    try:
        yield node
    finally:
        _stop(node)
        shutil.rmtree(node.state_dir, ignore_errors=True)


# Everything the tests may create, removed between tests so each starts from an empty cluster.
def wipe(node: OpenSearchNode) -> None:
    indices = node.call("GET", "_cat/indices", params={"format": "json", "h": "index"}).json()
    for entry in indices:
        if not entry["index"].startswith("."):
            node.call("DELETE", entry["index"])
    templates = node.call("GET", "_index_template").json().get("index_templates", [])
    for entry in templates:
        node.call("DELETE", f"_index_template/{entry['name']}")
    components = node.call("GET", "_component_template").json().get("component_templates", [])
    for entry in components:
        node.call("DELETE", f"_component_template/{entry['name']}")
    for name in node.call("GET", "_ingest/pipeline").json() or {}:
        node.call("DELETE", f"_ingest/pipeline/{name}")
    if ISM in node.plugins | node.doubled:
        policies = node.call("GET", "_plugins/_ism/policies").json().get("policies", [])
        for entry in policies:
            node.call("DELETE", f"_plugins/_ism/policies/{entry['_id']}")
    if SQL in node.plugins | node.doubled:
        answer = node.call("GET", "_plugins/_query/_datasources")
        for entry in answer.json() if answer.status_code == 200 else []:
            node.call("DELETE", f"_plugins/_query/_datasources/{entry['name']}")


@pytest.fixture()
def cluster(opensearch):
    """The session's OpenSearch, emptied before the test."""
    wipe(opensearch)
    return opensearch


# ----------------------------------------------------------------- Prometheus


@dataclass
class PrometheusServer:
    url: str
    kind: str  # always "real": the cached Prometheus 3 binary


def _prometheus_binary() -> Optional[str]:
    explicit = os.environ.get("CLAWKER_PROMETHEUS_BIN")
    if explicit:
        return explicit
    # tools/images.sh builds it into <cache>/prometheus-<version>/prometheus.
    found = [p for p in glob.glob(str(CACHE / "prometheus-*" / "prometheus")) if os.access(p, os.X_OK) and Path(p).is_file()]
    return sorted(found)[-1] if found else None


def _start_prometheus(binary: str, workdir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    config = workdir / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 15s\nscrape_configs: []\n")
    log = open(workdir / "prometheus.log", "w")
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--storage.tsdb.path={workdir / 'data'}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            if requests.get(f"{url}/-/ready", timeout=2).status_code == 200:
                return proc, url
        except requests.RequestException:
            pass
        time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"Prometheus ({binary}) did not get ready:\n{(workdir / 'prometheus.log').read_text()[-2000:]}")


@pytest.fixture(scope="session")
def prometheus():
    """A REAL Prometheus 3 binary (tools/images.sh builds and caches it), never a stand-in:
    a stand-in that always says ready would let readiness and query tests pass on nothing.
    Without the binary the test fails under CI=true and is skipped elsewhere."""
    binary = _prometheus_binary()
    if not binary:
        unavailable(f"no Prometheus binary under {CACHE}/prometheus-*/ (tools/images.sh builds it; "
                    "or set CLAWKER_PROMETHEUS_BIN)")
    workdir = Path(tempfile.mkdtemp(prefix="clawker-prom-test-"))
    proc, url = _start_prometheus(binary, workdir)
    print(f"\nPrometheus for the datasource tests: real binary {binary} at {url}")
    try:
        yield PrometheusServer(url, "real")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)
