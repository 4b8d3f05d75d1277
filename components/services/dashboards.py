"""The opensearch-dashboards service, started once OpenSearch is healthy."""

from __future__ import annotations

import json
from typing import Optional, Sequence

import pulumi
import pulumi_docker as docker

from components import names
from components.services.docker import published, service_container
from components.settings import Settings

# Explore is not reachable through the image's env allow-list, so it is
# switched on by command-line flags.
COMMAND = ["opensearch-dashboards", "--explore.enabled=true", "--explore.discoverMetrics.enabled=true"]


def environment(settings: Settings) -> list[str]:
    return [
        f"OPENSEARCH_HOSTS={json.dumps([settings.opensearch_internal_url])}",
        "DISABLE_SECURITY_DASHBOARDS_PLUGIN=true",
        f"SERVER_PORT={settings.dashboards_port}",
        "DATA_SOURCE_ENABLED=true",
        "WORKSPACE_ENABLED=true",
    ]


class Dashboards(pulumi.ComponentResource):
    container: docker.Container

    def __init__(
        self,
        name: str,
        settings: Settings,
        *,
        network: docker.Network,
        after: Sequence[pulumi.Resource] = (),
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__("clawker:monitor:Dashboards", name, None, opts)
        self.image, self.container = service_container(
            self,
            names.DASHBOARDS,
            settings.dashboards_image,
            network,
            command=COMMAND,
            envs=environment(settings),
            ports=[published(settings.dashboards_port)],
            after=after,
        )
        self.register_outputs({"container": self.container.name})
