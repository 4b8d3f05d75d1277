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


CLUSTER_CA_PATH = "/usr/share/opensearch-dashboards/config/clawker-cluster-ca.pem"


def cluster_environment(settings: Settings, cluster_urls: list[str], cluster) -> tuple[pulumi.Output, list]:
    """The team role: Dashboards against the team's secured cluster, with the admin credential
    (a secret: the container's environment, never a file) and the cluster's CA (uploaded)."""
    base = [e for e in environment(settings) if not e.startswith("OPENSEARCH_HOSTS=")]
    ca = bool(settings.cluster_ca_cert)
    envs = pulumi.Output.from_input(cluster.connection).apply(
        lambda c: base + [
            f"OPENSEARCH_HOSTS={json.dumps(cluster_urls)}",
            f"OPENSEARCH_USERNAME={c['username']}",
            f"OPENSEARCH_PASSWORD={c['password']}",
            "OPENSEARCH_SSL_VERIFICATIONMODE=full",
        ] + ([f"OPENSEARCH_SSL_CERTIFICATEAUTHORITIES={CLUSTER_CA_PATH}"] if ca else [])
    )
    uploads = [docker.ContainerUploadArgs(file=CLUSTER_CA_PATH, content=settings.cluster_ca_cert, permissions="0644")] if ca else []
    return pulumi.Output.secret(envs), uploads


class Dashboards(pulumi.ComponentResource):
    container: docker.Container

    def __init__(
        self,
        name: str,
        settings: Settings,
        *,
        network: docker.Network,
        after: Sequence[pulumi.Resource] = (),
        cluster=None,
        cluster_urls: Sequence[str] = (),
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__("clawker:monitor:Dashboards", name, None, opts)
        envs, uploads = environment(settings), []
        if cluster is not None:
            envs, uploads = cluster_environment(settings, list(cluster_urls), cluster)
        self.image, self.container = service_container(
            self,
            names.DASHBOARDS,
            settings.dashboards_image,
            network,
            command=COMMAND,
            envs=envs,
            # Only the team role uploads (the CA): the local container's inputs stay as they were.
            **({"uploads": uploads} if uploads else {}),
            ports=[published(settings.dashboards_port)],
            after=after,
        )
        self.register_outputs({"container": self.container.name})
