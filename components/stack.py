"""Wires the services and the bootstrap together in SPEC order.

1. network, volumes, images
2. opensearch-node and prometheus in parallel; dashboards once OpenSearch's container
   runs (as in the reference: Dashboards waits for OpenSearch itself)
3. bootstrap after OpenSearch is healthy (opensearch.ready: the healthcheck's question,
   asked every 0.25 s); datasource after Prometheus; Dashboards steps after Dashboards
   answers, in parallel with the OpenSearch side (datasource included)
4. otel-collector only after every bootstrap step succeeded
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi

from components import agent_env, codex
from components.bootstrap import Bootstrap
from components.services.alertmanager import Alertmanager
from components.services.collector import Collector
from components.services.dashboards import Dashboards
from components.services.docker import clawker_network
from components.services.opensearch import OpenSearch
from components.services.prometheus import Prometheus
from components.providers.secret import GeneratedSecret
from components.settings import Settings


@dataclass
class Stack:
    opensearch: OpenSearch
    prometheus: Prometheus
    dashboards: Dashboards
    bootstrap: Bootstrap
    collector: Collector
    alertmanager: Optional[Alertmanager] = None


def datasource_master_key(settings: Settings) -> pulumi.Output[str]:
    if settings.datasource_master_key:
        return pulumi.Output.secret(settings.datasource_master_key)
    return GeneratedSecret("datasource-master-key").value


def build(settings: Settings) -> Stack:
    network = clawker_network()
    master_key = datasource_master_key(settings)
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
        # Index templates apply only at index creation: no record may land first.
        after=[bootstrap, prometheus.container],
    )
    return Stack(opensearch, prometheus, dashboards, bootstrap, collector, alertmanager)


def export_outputs(settings: Settings) -> None:
    pulumi.export("urls", agent_env.service_urls(settings))
    pulumi.export("alertmanagerEnabled", settings.alertmanager_enabled)
    pulumi.export("otlpEndpointInNetwork", agent_env.otlp_endpoint_in_network(settings))
    pulumi.export("otlpEndpointFromHost", agent_env.otlp_endpoint_from_host(settings))
    pulumi.export("agentEnv", agent_env.agent_env(settings))
    pulumi.export("trustedLaneEnabled", settings.trusted_lane_enabled)
    # Codex reads its telemetry settings only from ~/.codex/config.toml [otel] (components/codex.py).
    pulumi.export("codexConfig", codex.codex_config(settings))
