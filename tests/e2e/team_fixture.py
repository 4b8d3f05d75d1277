"""The shared team of the issue-19 end-to-end tests: ONE secured two-node cluster and ONE team stack.

What `start_team(work, toolchain_bin)` brings up (README "Running for a team"):
- a real OpenSearch 3.4.0 cluster with the security plugin (tests/providers/secured_cluster.py):
  two nodes on 127.0.0.1 forming one cluster, TLS on HTTP and transport, the admin credential,
  a throwaway CA made here whose node certificate is also valid for the host's address (below);
- in front of each node its front door: the ISM / SQL plugin contract doubles
  (tests/plugin_doubles/server.py) serving HTTPS with the node's certificate on the host's
  address, forwarding every other request to its node over verified TLS with the CALLER's
  credential (the security plugin decides), and guarding the doubled routes with the real
  plugin's authentication (see check_caller there). As in the local e2e stack, where the test
  image runs the doubles on the node's published port, every client of the cluster reaches it
  through them. The first door runs the ISM coordinator and runner, the second does not (both
  share the doubles' state, which lives in the cluster);
- the team stack through the real Pulumi CLI (file backend; passwords set with
  `pulumi config set --secret`): role=team, clusterUrls = both doors, clusterCaCert, the admin
  credential, machines = MACHINES, the Dashboards double container against the cluster over
  TLS (main Docker Engine), and the team Prometheus (TLS with a certificate of the same CA,
  basic auth, remote-write receiver) published on the host's address.

The host's address (`host_address()`): the source address of the host's default route, which
the host itself, containers on the main Docker Engine and containers on any other engine on this
host reach (a container's packet to it is delivered to the host, not forwarded). Only the doors
and the team Prometheus listen on it, each with TLS and authentication; the nodes stay on
127.0.0.1.

`Team` is the API the module's tests use (tests/e2e/test_team.py).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import requests
import yaml

import secured_cluster
from net import free_port
from pulumi_cli import E2E_CONFIG, PulumiStack, docker

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DOUBLES = ROOT / "tests" / "plugin_doubles" / "server.py"
MACHINES = ("alice-laptop", "bob-laptop")
STACK = "team-e2e"
# The team stack runs no node and no collector: only these of the e2e config's images.
TEAM_IMAGES = ("dashboardsImage", "prometheusImage")
# The datasource master key the doubled SQL plugin is configured with (a cluster setting there).
DATASOURCE_MASTER_KEY = "team-e2e-datasource-master-key"
READY_TIMEOUT_S = 60.0


def host_address() -> str:
    """The host's own address on its default route (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.250", 9))
            address = s.getsockname()[0]
        except OSError:
            address = ""
    if address and not address.startswith("127."):
        return address
    # No default route: the main engine's bridge gateway (a host address too).
    gateway = docker("network", "inspect", "bridge", "--format", "{{(index .IPAM.Config 0).Gateway}}").stdout.strip()
    assert gateway, "no address beyond loopback for the team cluster's doors"
    return gateway


@dataclass
class Door:
    """One plugin-doubles process in front of one node (HTTPS on the host's address)."""

    url: str
    proc: subprocess.Popen
    log: Path


@dataclass
class Team:
    cluster: secured_cluster.SecuredCluster
    address: str
    doors: list[Door]
    stack: PulumiStack
    prometheus_url: str  # https://<address>:<port>, the team Prometheus
    work: Path
    machines: tuple[str, ...] = MACHINES
    outputs: dict = field(default_factory=dict)

    @property
    def urls(self) -> list[str]:
        """clusterUrls: the doors, one per node (what machines and Dashboards dial)."""
        return [d.url for d in self.doors]

    @property
    def ca_pem(self) -> str:
        return self.cluster.ca_pem

    @property
    def ca_file(self) -> Path:
        return self.cluster.ca_file

    @property
    def admin(self) -> tuple[str, str]:
        return secured_cluster.ADMIN_USER, secured_cluster.ADMIN_PASSWORD

    def call(self, method: str, path: str, *, auth: Optional[tuple] = None, door: int = 0, **kwargs) -> requests.Response:
        """A request through a door (the admin's unless `auth`), verified with the test CA."""
        kwargs.setdefault("timeout", 30)
        return requests.request(method, f"{self.urls[door]}/{path.lstrip('/')}", auth=auth or self.admin,
                                verify=str(self.ca_file), **kwargs)

    def credential(self, machine: str) -> tuple[str, str]:
        """(username, password) the team stack exported for `machine` (secret output, read with --show-secrets)."""
        got = self.stack.outputs()["machineCredentials"][machine]
        return got["username"], got["password"]

    @property
    def dashboards_url(self) -> str:
        """The team's Dashboards container as published (127.0.0.1, a free port)."""
        config = yaml.safe_load(self.stack.config_file.read_text())["config"]
        return f"http://127.0.0.1:{config['clawker-monitor:dashboardsPort']}"


def _start_door(cluster: secured_cluster.SecuredCluster, node: int, address: str, work: Path, jobs: bool) -> Door:
    certs = cluster.state / "certs"
    port = free_port()
    log = work / f"door-{node}.log"
    env = {
        **os.environ,
        "PLUGIN_DOUBLES_UPSTREAM_USER": secured_cluster.ADMIN_USER,
        "PLUGIN_DOUBLES_UPSTREAM_PASSWORD": secured_cluster.ADMIN_PASSWORD,
        "PLUGIN_DOUBLES_MASTER_KEY": DATASOURCE_MASTER_KEY,
        # The team Prometheus's certificate is signed by the test CA (the cluster's trust store).
        "PLUGIN_DOUBLES_PROMETHEUS_CA": str(certs / "ca.pem"),
    }
    args = [sys.executable, str(DOUBLES), "--host", address, "--port", str(port), "--upstream", cluster.urls[node],
            "--upstream-ca", str(certs / "ca.pem"), "--tls-cert", str(certs / "node.pem"), "--tls-key", str(certs / "node-key.pem")]
    if not jobs:
        args.append("--no-jobs")
    proc = subprocess.Popen(args, stdout=open(log, "w"), stderr=subprocess.STDOUT, env=env, start_new_session=True)
    door = Door(f"https://{address}:{port}", proc, log)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        assert proc.poll() is None, f"the door of node {node} exited:\n{log.read_text()[-3000:]}"
        try:
            answer = requests.get(door.url, auth=(secured_cluster.ADMIN_USER, secured_cluster.ADMIN_PASSWORD),
                                  verify=str(certs / "ca.pem"), timeout=5)
            if answer.status_code == 200:
                return door
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, f"the door of node {node} did not answer:\n{log.read_text()[-3000:]}"
        time.sleep(0.2)


def team_config(team_urls: list[str], ca_pem: str, address: str, certs: Path, prometheus_port: int) -> dict:
    """The team stack's plain settings (the admin password is set as a secret separately)."""
    e2e = yaml.safe_load(E2E_CONFIG.read_text())["config"]
    config = {f"clawker-monitor:{k}": e2e[f"clawker-monitor:{k}"] for k in TEAM_IMAGES}
    # The Prometheus container reads its key as its own (non-root) user.
    (certs / "prometheus-key.pem").chmod(0o644)
    config.update({
        f"clawker-monitor:{k}": v for k, v in {
            "role": "team",
            "clusterUrls": ",".join(team_urls),
            "clusterCaCert": ca_pem,
            "clusterAdminUser": secured_cluster.ADMIN_USER,
            "machines": ",".join(MACHINES),
            "prometheusBindAddress": address,
            "prometheusPort": str(prometheus_port),
            # Free like every port a team test publishes: a local stack may hold 5601 meanwhile.
            "dashboardsPort": str(free_port()),
            "prometheusTlsCertFile": str(certs / "prometheus.pem"),
            "prometheusTlsKeyFile": str(certs / "prometheus-key.pem"),
            "hostName": address,
        }.items()
    })
    return {"config": config}


def remove_team_leftovers() -> None:
    from components import names

    for container in (names.DASHBOARDS, names.PROMETHEUS):
        docker("rm", "-f", container, check=False)
    docker("volume", "rm", "-f", names.PROMETHEUS_VOLUME, check=False)


def start_team(work: Path, toolchain_bin: str) -> Team:
    """The cluster, its doors and the team stack, `pulumi up` done (see the module docstring)."""
    address = host_address()
    cluster = secured_cluster.start(nodes=2, addresses=[address])
    doors: list[Door] = []
    stack: Optional[PulumiStack] = None
    try:
        doors = [_start_door(cluster, i, address, work, jobs=(i == 0)) for i in range(2)]
        certs = cluster.state / "certs"
        prometheus_port = free_port()
        config_file = work / "Pulumi.team-source.yaml"
        config_file.write_text(yaml.safe_dump(team_config([d.url for d in doors], cluster.ca_pem, address, certs, prometheus_port),
                                              sort_keys=False))
        remove_team_leftovers()
        stack = PulumiStack(STACK, work / "team-stack", toolchain_bin, config_source=config_file)
        stack.set_config("clusterAdminPassword", secured_cluster.ADMIN_PASSWORD, secret=True)
        team = Team(cluster, address, doors, stack, f"https://{address}:{prometheus_port}", work)
        stack.up()
        team.outputs = stack.outputs()
        return team
    except BaseException:
        try:
            if stack is not None:
                stack.run("destroy", "--yes", "--skip-preview", check=False)
            remove_team_leftovers()
        finally:
            stop_doors(doors)
            secured_cluster.stop(cluster)
        raise


def stop_doors(doors: list[Door]) -> None:
    for door in doors:
        if door.proc.poll() is None:
            os.killpg(door.proc.pid, signal.SIGTERM)
            door.proc.wait(timeout=30)


def stop_team(team: Team) -> None:
    """Destroy the team stack (keeps the cluster's data), remove it, stop the doors and the cluster."""
    try:
        team.stack.run("destroy", "--yes", "--skip-preview", check=False)
        team.stack.remove()
    finally:
        remove_team_leftovers()
        stop_doors(team.doors)
        secured_cluster.stop(team.cluster)
