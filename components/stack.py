"""Wires the services and the bootstrap together in SPEC order.

1. network, volumes, images
2. opensearch-node and prometheus in parallel; dashboards once OpenSearch's container
   runs (as in the reference: Dashboards waits for OpenSearch itself)
3. bootstrap after OpenSearch is healthy (opensearch.ready: the healthcheck's question,
   asked every 0.25 s); datasource after Prometheus; Dashboards steps after Dashboards
   answers, in parallel with the OpenSearch side (datasource included)
4. otel-collector only after every bootstrap step succeeded

That is the local role. The `role` setting chooses the components (README "Running for a team"):
- team (build_team): no OpenSearch node and no collector; the bootstrap is applied to an
  existing secured cluster (its URL, CA and admin credential), Dashboards is this stack's
  container against that cluster (or an existing one's URL), Prometheus receives the machines'
  remote write, and every machine in `machines` gets a credential (MachineCredential);
- machine (build_machine): the collector only, its exporters pointed at the team's cluster and
  Prometheus (TeamEndpoints: a StackReference to the team stack, or explicit settings).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Union

import pulumi

from components import agent_env, codex, names
from components.bootstrap import Bootstrap, Cluster
from components.bootstrap.opensearch import declare_team_datasource
from components.services.alertmanager import Alertmanager
from components.services.collector import Collector
from components.services.dashboards import Dashboards
from components.services.docker import PUBLISH_HOST_IP, clawker_network
from components.services.opensearch import OpenSearch
from components.services.prometheus import Prometheus
from components.providers.opensearch.security import MachineCredential
from components.providers.secret import GeneratedSecret
from components.providers.team_check import TeamCheck
from components.settings import CONFIG_NAMESPACE, Settings


@dataclass
class Stack:
    opensearch: OpenSearch
    prometheus: Prometheus
    dashboards: Dashboards
    bootstrap: Bootstrap
    collector: Collector
    alertmanager: Optional[Alertmanager] = None


@dataclass
class TeamStack:
    prometheus: Prometheus
    dashboards: Optional[Dashboards]
    bootstrap: Bootstrap
    credentials: dict[str, MachineCredential] = field(default_factory=dict)
    datasource: Optional[pulumi.Resource] = None


@dataclass
class MachineStack:
    collector: Collector
    team: "TeamEndpoints"


@dataclass
class TeamEndpoints:
    """What a machine ships to: from the team stack's outputs, or from explicit settings."""

    cluster_urls: Any  # every URL, in order: the collector fails over from one to the next, the team check asks each
    username: Any
    password: Any  # a secret
    remote_write_url: Any
    cluster_ca_pem: Any = None  # None: the system's trusted CAs
    prometheus_ca_pem: Any = None


# The team stack's outputs a machine reads (export_outputs, team role).
TEAM_OUTPUTS = ("clusterUrls", "clusterCaCert", "prometheusRemoteWriteUrl", "prometheusCaCert", "machineCredentials")


def streams(settings: Settings) -> list[str]:
    """The indices a machine writes (its role allows these and their daily indices only): the selected units' and the core's."""
    return list(settings.stream_table.log_indices) + [names.TRACES_INDEX]


def remote_write_url(base: str) -> str:
    return base.rstrip("/") + "/api/v1/write"


def datasource_master_key(settings: Settings) -> pulumi.Output[str]:
    if settings.datasource_master_key:
        return pulumi.Output.secret(settings.datasource_master_key)
    return GeneratedSecret("datasource-master-key").value


def build(settings: Settings) -> Stack:
    # Dynamic resources that need nothing from Docker go before clawker_network(): its lookup
    # blocks the program until the docker provider has started and answered, and a dynamic
    # resource registered first lets the engine start the dynamic-provider process meanwhile
    # (README "Benchmarks": 0.1 s of every no-op preview and up).
    master_key = datasource_master_key(settings)
    network = clawker_network()
    opensearch = OpenSearch("opensearch", settings, network=network, master_key=master_key)
    prometheus = Prometheus("prometheus", settings, network=network)
    # Only with somewhere to deliver to; Prometheus finds it by name whenever it starts.
    alertmanager = Alertmanager("alertmanager", settings, network=network) if settings.alertmanager_enabled else None
    dashboards = Dashboards(
        "dashboards",
        settings,
        network=network,
        after=[opensearch.container],
    )
    bootstrap = Bootstrap(
        "bootstrap",
        settings,
        master_key=master_key,
        opensearch=[opensearch.ready],
        prometheus=[prometheus.container],
        dashboards=[dashboards.container],
        opts=pulumi.ResourceOptions(depends_on=[opensearch.ready]),
    )
    collector = Collector(
        "collector",
        settings,
        network=network,
        # SPEC "Order" 4: index templates apply only at index creation, so no record may land
        # before the bootstrap has succeeded, and a failed bootstrap leaves no collector.
        after=[bootstrap, prometheus.container],
    )
    return Stack(opensearch, prometheus, dashboards, bootstrap, collector, alertmanager)


def build_for_role(settings: Settings) -> Union[Stack, TeamStack, MachineStack]:
    return {"local": build, "team": build_team, "machine": build_machine}[settings.role](settings)


def cluster_of(settings: Settings) -> Cluster:
    """The team's cluster as the bootstrap and the credentials reach it (admin, secret)."""
    connection = {"username": settings.cluster_admin_user, "password": settings.cluster_admin_password}
    if settings.cluster_ca_cert:
        connection["ca_pem"] = settings.cluster_ca_cert
    return Cluster(settings.cluster_url_list[0], pulumi.Output.secret(connection))


def build_team(settings: Settings) -> TeamStack:
    network = clawker_network()
    cluster = cluster_of(settings)
    dashboards = None
    if not settings.dashboards_url:
        dashboards = Dashboards("dashboards", settings, network=network, cluster=cluster, cluster_urls=settings.cluster_url_list)
    bootstrap = Bootstrap(
        "bootstrap",
        settings,
        master_key="",
        opensearch=[],
        prometheus=[],
        dashboards=[dashboards.container] if dashboards else [],
        cluster=cluster,
        dashboards_url=settings.dashboards_url or None,
    )
    credentials: dict[str, MachineCredential] = {}
    previous: list[pulumi.Resource] = []
    for machine in settings.machine_list:
        credentials[machine] = MachineCredential(
            f"machine-credential-{machine}",
            endpoint=cluster.endpoint,
            connection=cluster.connection,
            machine=machine,
            streams=streams(settings),
            # Its role names the indices the bootstrap makes. One after another: the security plugin
            # refuses concurrent changes of its configuration (409 version conflict).
            opts=pulumi.ResourceOptions(depends_on=[bootstrap, *previous]),
        )
        previous = [credentials[machine]]
    prometheus = Prometheus("prometheus", settings, network=network, users=prometheus_users(settings, credentials))
    datasource = None
    if settings.prometheus_datasource:
        # After Prometheus, which waits for the credentials, which wait for the bootstrap: not a
        # child of the bootstrap (that would be a cycle).
        datasource = declare_team_datasource(settings, cluster, [prometheus.container], team_prometheus_url(settings))
    return TeamStack(prometheus, dashboards, bootstrap, credentials, datasource)


def team_prometheus_url(settings: Settings) -> str:
    """Where machines, and the cluster's datasource, reach the team Prometheus."""
    return f"https://{settings.host_name}:{settings.prometheus_port}"


def prometheus_users(settings: Settings, credentials: dict[str, MachineCredential]) -> pulumi.Output:
    """Who may use the team Prometheus: the admin, and each machine with its OpenSearch credential."""
    pairs = [pulumi.Output.all(c.username, c.password) for c in credentials.values()]
    return pulumi.Output.secret(
        pulumi.Output.all(*pairs).apply(
            lambda got: {settings.cluster_admin_user: settings.cluster_admin_password, **{u: p for u, p in got}}
        )
    )


def team_endpoints(settings: Settings) -> TeamEndpoints:
    if not settings.team_stack:
        ca = settings.cluster_ca_cert or None
        return TeamEndpoints(
            cluster_urls=settings.cluster_url_list,
            username=f"clawker-machine-{settings.machine_name}",
            password=pulumi.Output.secret(settings.machine_password),
            remote_write_url=remote_write_url(settings.team_prometheus_url),
            cluster_ca_pem=ca,
            prometheus_ca_pem=settings.prometheus_ca_cert or ca,
        )
    team = pulumi.StackReference(settings.team_stack)
    machine = settings.machine_name
    credential = team.get_output("machineCredentials").apply(lambda all_: _credential_of(all_, machine, settings.team_stack))
    cluster_ca = team.get_output("clusterCaCert")
    return TeamEndpoints(
        cluster_urls=team.get_output("clusterUrls"),
        username=credential.apply(lambda c: c["username"]),
        password=pulumi.Output.secret(credential.apply(lambda c: c["password"])),
        remote_write_url=team.get_output("prometheusRemoteWriteUrl"),
        cluster_ca_pem=cluster_ca,
        prometheus_ca_pem=team.get_output("prometheusCaCert"),
    )


def _credential_of(credentials: Optional[dict], machine: str, team_stack: str) -> dict:
    found = (credentials or {}).get(machine)
    if not found:
        raise pulumi.RunError(
            f"{CONFIG_NAMESPACE}:machineName: {machine} has no credential in the team stack "
            f"{team_stack}: add it to that stack's `machines` and run `pulumi up` there first"
        )
    return found


def build_machine(settings: Settings) -> MachineStack:
    team = team_endpoints(settings)
    # A wrong credential, CA or address fails here, before the running collector is replaced.
    # Before clawker_network()'s lookup, as in build().
    check = TeamCheck("team-check", team)
    network = clawker_network()
    collector = Collector("collector", settings, network=network, team=team, after=[check])
    return MachineStack(collector, team)


def export_team_outputs(settings: Settings, team: TeamStack) -> None:
    """What machines read through a StackReference (TEAM_OUTPUTS); credentials are secret."""
    pulumi.export("clusterUrls", settings.cluster_url_list)
    pulumi.export("clusterCaCert", settings.cluster_ca_cert or None)
    pulumi.export("prometheusRemoteWriteUrl", remote_write_url(team_prometheus_url(settings)))
    pulumi.export("prometheusCaCert", settings.prometheus_ca_cert or settings.cluster_ca_cert or None)
    pulumi.export(
        "machineCredentials",
        pulumi.Output.secret(
            {m: {"username": c.username, "password": c.password} for m, c in team.credentials.items()}
        ),
    )
    pulumi.export("urls", team_urls(settings))


def team_urls(settings: Settings) -> dict[str, str]:
    """The team stack's `urls` output: where its Dashboards answers. The container is published on
    127.0.0.1 only (plain HTTP, nothing in front of it), so on the team stack's host alone; an
    existing Dashboards (`dashboardsUrl`) is wherever that URL says."""
    return {"dashboards": settings.dashboards_url or f"http://{PUBLISH_HOST_IP}:{settings.dashboards_port}"}


def export_outputs(settings: Settings, built=None) -> None:
    if settings.role == "team":
        export_team_outputs(settings, built)
        return
    if settings.role == "machine":
        pulumi.export("machineName", settings.machine_name)
    else:
        pulumi.export("urls", agent_env.service_urls(settings))
        pulumi.export("alertmanagerEnabled", settings.alertmanager_enabled)
    # What agents need, from every stack that runs a collector.
    pulumi.export("otlpEndpointInNetwork", agent_env.otlp_endpoint_in_network(settings))
    pulumi.export("otlpEndpointFromHost", agent_env.otlp_endpoint_from_host(settings))
    pulumi.export("agentEnv", agent_env.agent_env(settings))
    pulumi.export("trustedLaneEnabled", settings.trusted_lane_enabled)
    # Codex reads its telemetry settings only from ~/.codex/config.toml [otel] (components/codex.py).
    codex_config = codex.config_output(settings)
    if codex_config is not None:
        pulumi.export("codexConfig", codex_config)
