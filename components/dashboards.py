"""The opensearch-dashboards service, started once OpenSearch is healthy."""

from __future__ import annotations

import json
from typing import Optional, Sequence

import pulumi
import pulumi_docker as docker

from components import names
from components.docker_common import image, published, service_container_args
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
        self.image = image(names.DASHBOARDS, settings.dashboards_image, self)
        self.container = docker.Container(
            names.DASHBOARDS,
            **service_container_args(
                container_name=names.DASHBOARDS,
                image=self.image,
                network=network,
                command=COMMAND,
                envs=environment(settings),
                ports=[published(settings.dashboards_port)],
            ),
            # The container itself must wait: a component's depends_on does not hold back its children.
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(after)),
        )
        self.register_outputs({"container": self.container.name})
