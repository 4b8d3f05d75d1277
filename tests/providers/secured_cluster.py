"""A real SECURED OpenSearch for tests: 3.4.0 with the security plugin, as local processes.

tools/opensearch_secure.sh obtains and caches the distribution (see its header for what
Maven Central serves and what it assembles). This module makes the certificates with the
`openssl` CLI (a throwaway CA; one certificate per node, valid for 127.0.0.1 and localhost,
used for HTTP and transport TLS), sets the admin user's password (hashed by the plugin's
own tools/hash.sh) and starts `nodes` nodes on loopback that form one cluster. TLS is on for
both layers; every HTTP call needs the admin credential or a user made through the
security plugin's REST API.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import requests

from net import free_port
from prerequisites import unavailable

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "opensearch_secure.sh"
ADMIN_USER, ADMIN_PASSWORD = "admin", "Clawker-Admin-7x!pQ"
HEAP = "-Xms384m -Xmx384m"
START_TIMEOUT_S = int(os.environ.get("CLAWKER_SECURED_START_S", "240"))
NODE_DN = "CN=clawker-node,O=clawker-test"
ADMIN_DN = "CN=clawker-admin,O=clawker-test"


@dataclass
class SecuredCluster:
    urls: list[str]
    ca_pem: str
    ca_file: Path
    state: Path
    procs: list = field(default_factory=list, repr=False)
    # Per node: (argv, env, log file) it was started with (start_node starts it again).
    launches: list = field(default_factory=list, repr=False)

    def call(self, method: str, path: str, *, auth=(ADMIN_USER, ADMIN_PASSWORD), **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        return requests.request(method, f"{self.urls[0]}/{path.lstrip('/')}", auth=auth, verify=str(self.ca_file), **kwargs)

    @property
    def connection(self) -> dict:
        """The providers' `connection` input for the admin."""
        return {"username": ADMIN_USER, "password": ADMIN_PASSWORD, "ca_pem": self.ca_pem}


def _openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"openssl {' '.join(args)} failed:\n{proc.stderr}"


def issue_certificates(directory: Path, addresses: Sequence[str] = ()) -> None:
    """ca.pem, node.pem / node-key.pem (HTTP and transport, both ways), admin.pem / admin-key.pem;
    with `addresses` (IPs beyond loopback that containers dial, tests/e2e/team_fixture.py) the node
    certificate is valid for them too, and prometheus.pem / prometheus-key.pem (the team
    Prometheus's server certificate, same CA) is made for them."""
    directory.mkdir(parents=True, exist_ok=True)
    _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "ca-key.pem", cwd=directory)
    _openssl("req", "-x509", "-new", "-key", "ca-key.pem", "-out", "ca.pem", "-days", "2", "-subj", "/CN=clawker-test-ca",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=directory)
    names = "DNS:localhost,IP:127.0.0.1" + "".join(f",IP:{a}" for a in addresses)
    leaves = [
        ("node", NODE_DN, f"subjectAltName={names}\nextendedKeyUsage=serverAuth,clientAuth"),
        ("admin", ADMIN_DN, "extendedKeyUsage=clientAuth"),
    ]
    if addresses:
        leaves.append(("prometheus", "CN=clawker-team-prometheus,O=clawker-test", f"subjectAltName={names}\nextendedKeyUsage=serverAuth"))
    for name, dn, ext in leaves:
        # The security plugin reads PKCS#8 keys (genpkey's format).
        _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", f"{name}-key.pem", cwd=directory)
        subject = "/" + "/".join(reversed(dn.split(",")))
        _openssl("req", "-new", "-key", f"{name}-key.pem", "-out", f"{name}.csr", "-subj", subject, cwd=directory)
        (directory / f"{name}.ext").write_text(ext + "\nkeyUsage=critical,digitalSignature,keyEncipherment\n")
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial",
                 "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext", cwd=directory)


def _dist() -> dict:
    proc = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        unavailable(f"tools/opensearch_secure.sh failed:\n{proc.stderr[-3000:]}")
    return dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)


def _admin_hash(home: Path, java_home: str) -> str:
    env = {**os.environ, "JAVA_HOME": java_home, "OPENSEARCH_JAVA_HOME": java_home}
    proc = subprocess.run(
        ["bash", str(home / "plugins" / "opensearch-security" / "tools" / "hash.sh"), "-p", ADMIN_PASSWORD],
        capture_output=True, text=True, env=env, timeout=120,
    )
    hashes = [line for line in proc.stdout.splitlines() if line.startswith("$2")]
    assert hashes, f"hash.sh gave no hash:\n{proc.stdout}\n{proc.stderr}"
    return hashes[-1]


def _node_config(home: Path, state: Path, certs: Path, admin_hash: str) -> Path:
    config = state / "config"
    shutil.copytree(home / "config", config)
    for name in ("ca.pem", "node.pem", "node-key.pem"):
        shutil.copy(certs / name, config / name)
    security = config / "opensearch-security"
    (security / "internal_users.yml").write_text(
        '_meta:\n  type: "internalusers"\n  config_version: 2\n'
        f'{ADMIN_USER}:\n  hash: "{admin_hash}"\n  reserved: true\n  backend_roles:\n  - "admin"\n'
    )
    # The DN lists go in the YAML: on the command line a list setting is split at every comma,
    # and a DN has commas (the nodes of a two-node cluster then refuse each other's certificate).
    with open(config / "opensearch.yml", "a") as yml:
        yml.write(f'\nplugins.security.nodes_dn: ["{NODE_DN}"]\nplugins.security.authcz.admin_dn: ["{ADMIN_DN}"]\n')
    jvm = config / "jvm.options"
    jvm.write_text(jvm.read_text().replace("logs/", f"{state}/logs/").replace("HeapDumpPath=data", f"HeapDumpPath={state}/data"))
    for sub in ("data", "logs", "tmp"):
        (state / sub).mkdir(exist_ok=True)
    return config


def _settings(http: int, transport: int, seeds: list[int], masters: list[str], name: str) -> list[str]:
    tls = {
        "pemcert_filepath": "node.pem",
        "pemkey_filepath": "node-key.pem",
        "pemtrustedcas_filepath": "ca.pem",
    }
    args = [
        "-Ecluster.name=clawker-secured-tests",
        f"-Enode.name={name}",
        "-Enetwork.host=127.0.0.1",
        f"-Ehttp.port={http}",
        f"-Etransport.port={transport}",
        "-Ediscovery.seed_hosts=" + ",".join(f"127.0.0.1:{p}" for p in seeds),
        "-Ecluster.initial_cluster_manager_nodes=" + ",".join(masters),
        "-Ecluster.routing.allocation.disk.threshold_enabled=false",
        "-Eplugins.security.ssl.http.enabled=true",
        "-Eplugins.security.ssl.transport.enforce_hostname_verification=false",
        "-Eplugins.security.allow_default_init_securityindex=true",
        "-Eplugins.security.restapi.roles_enabled=all_access",
        "-Eplugins.security.audit.type=noop",
    ]
    for layer in ("http", "transport"):
        args += [f"-Eplugins.security.ssl.{layer}.{k}={v}" for k, v in tls.items()]
    return args


def start(nodes: int = 1, addresses: Sequence[str] = ()) -> SecuredCluster:
    """`nodes` nodes on loopback forming one cluster; `addresses`: see issue_certificates."""
    dist = _dist()
    home, java_home = Path(dist["OPENSEARCH_SECURE_HOME"]), dist["OPENSEARCH_JAVA_HOME"]
    state = Path(tempfile.mkdtemp(prefix="clawker-secured-"))
    certs = state / "certs"
    issue_certificates(certs, addresses)
    admin_hash = _admin_hash(home, java_home)
    ports = [(free_port(), free_port()) for _ in range(nodes)]
    names = [f"secured-{i}" for i in range(nodes)]
    cluster = SecuredCluster(
        [f"https://127.0.0.1:{h}" for h, _ in ports], (certs / "ca.pem").read_text(), certs / "ca.pem", state
    )
    for i, (http, transport) in enumerate(ports):
        node_state = state / names[i]
        node_state.mkdir()
        config = _node_config(home, node_state, certs, admin_hash)
        args = [f"{home}/bin/opensearch", f"-Epath.data={node_state}/data", f"-Epath.logs={node_state}/logs"]
        args += _settings(http, transport, [t for _, t in ports], names, names[i])
        env = {**os.environ, "OPENSEARCH_JAVA_HOME": java_home, "OPENSEARCH_PATH_CONF": str(config),
               "OPENSEARCH_TMPDIR": str(node_state / "tmp"), "OPENSEARCH_JAVA_OPTS": HEAP}
        env.pop("JAVA_HOME", None)
        if os.getuid() == 0:
            args = ["unshare", "--user", "--map-user=1000", "--map-group=1000", "--"] + args
        cluster.launches.append((args, env, node_state / "stdout.log"))
        cluster.procs.append(_launch(*cluster.launches[-1]))
    _wait_green(cluster, nodes)
    return cluster


def _launch(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    out = open(log, "a")
    return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def stop_node(cluster: SecuredCluster, node: int) -> None:
    """Stop one node (SIGTERM, as an operator's stop would); its data stays for start_node."""
    proc = cluster.procs[node]
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)


def start_node(cluster: SecuredCluster, node: int, wait: bool = True) -> None:
    """Start a stopped node again on its data; with `wait`, returns once the cluster has all its nodes again
    (otherwise wait_for_nodes does)."""
    assert cluster.procs[node].poll() is not None, f"node {node} is running"
    cluster.procs[node] = _launch(*cluster.launches[node])
    if wait:
        wait_for_nodes(cluster)


def wait_for_nodes(cluster: SecuredCluster) -> None:
    """Returns once every node of the cluster is in it (yellow or better)."""
    _wait_green(cluster, len(cluster.procs))


def _log(cluster: SecuredCluster, lines: int = 40) -> str:
    out = []
    for log in sorted(cluster.state.glob("*/stdout.log")):
        out.append(f"--- {log}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:]))
    return "\n".join(out)


def _wait_green(cluster: SecuredCluster, nodes: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        for proc in cluster.procs:
            if proc.poll() is not None:
                stop(cluster)
                raise RuntimeError(f"a secured OpenSearch node exited with {proc.returncode}:\n{_log(cluster)}")
        try:
            health = cluster.call("GET", f"_cluster/health?wait_for_nodes={nodes}&wait_for_status=yellow&timeout=1s", timeout=5)
            if health.status_code == 200 and health.json().get("number_of_nodes") == nodes:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            log = _log(cluster)
            stop(cluster, remove=False)
            raise RuntimeError(f"the secured cluster was not up within {START_TIMEOUT_S}s (state kept in {cluster.state}):\n{log}")
        time.sleep(1)


def stop(cluster: SecuredCluster, remove: bool = True) -> None:
    for proc in cluster.procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in cluster.procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    if remove:
        shutil.rmtree(cluster.state, ignore_errors=True)


def start_team_prometheus(binary: str, work: Path, users: dict[str, str]) -> tuple[subprocess.Popen, str, object]:
    """The real Prometheus binary with the team stack's web config (components/services/prometheus_web.py):
    basic auth for `users`, TLS from an openssl-made CA (tests/e2e/tls_material.py), the remote-write
    receiver on. Returns (process, https URL, the TLS material); the container paths in the web
    config are swapped for the files'."""
    import yaml

    from components.services import prometheus_web
    from e2e.tls_material import issue

    tls = issue(work / "tls")
    web = prometheus_web.web_config(users, tls=True)
    web["tls_server_config"] = {"cert_file": str(tls.server_cert), "key_file": str(tls.server_key)}
    (work / "web.yml").write_text(yaml.safe_dump(web))
    (work / "prometheus.yml").write_text("global:\n  scrape_interval: 15s\nscrape_configs: []\n")
    port = free_port()
    log = open(work / "prometheus.log", "w")
    proc = subprocess.Popen(
        [binary, f"--config.file={work / 'prometheus.yml'}", f"--web.listen-address=127.0.0.1:{port}",
         f"--web.config.file={work / 'web.yml'}", "--web.enable-remote-write-receiver",
         f"--storage.tsdb.path={work / 'data'}"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"https://127.0.0.1:{port}"
    user, password = next(iter(users.items()))
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, (work / "prometheus.log").read_text()[-2000:]
        try:
            if requests.get(f"{url}/-/ready", auth=(user, password), verify=str(tls.ca_cert), timeout=2).status_code == 200:
                return proc, url, tls
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, (work / "prometheus.log").read_text()[-2000:]
        time.sleep(0.3)
