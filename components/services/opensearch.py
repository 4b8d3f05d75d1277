"""The opensearch-node service: single-node OpenSearch with its data volume."""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_docker as docker

from components import names
from components.services.docker import managed_volume, published, service_container
from components.providers.readiness import ServiceReady
from components.settings import Settings

DATA_DIR = "/usr/share/opensearch/data"
# Long enough for a cold JVM start plus the healthcheck's start period and retries.
HEALTHY_WAIT_S = 300


HEALTH_PATH = "/_cluster/health?wait_for_status=yellow&timeout=5s"


def health_url(settings: Settings) -> str:
    """What the container's healthcheck asks, inside the container."""
    return f"http://localhost:{settings.opensearch_port}{HEALTH_PATH}"


def ready_url(settings: Settings) -> str:
    """The same question, asked from where `pulumi up` runs."""
    return f"{settings.opensearch_api_url}{HEALTH_PATH}"


def environment(settings: Settings, master_key: pulumi.Input[str]) -> pulumi.Output[list[str]]:
    heap = f"{settings.opensearch_heap_mb}m"
    plain = [
        f"cluster.name={names.OPENSEARCH_CLUSTER}",
        f"node.name={names.OPENSEARCH}",
        "discovery.type=single-node",
        f"bootstrap.memory_lock={'true' if settings.opensearch_raise_limits else 'false'}",
        "DISABLE_SECURITY_PLUGIN=true",
        "DISABLE_INSTALL_DEMO_CONFIG=true",
        f"http.port={settings.opensearch_port}",
        f"OPENSEARCH_JAVA_OPTS=-Xms{heap} -Xmx{heap}",
    ]
    # The SQL plugin refuses datasource writes without a master key. The whole
    # env list becomes a secret because this element is one.
    return pulumi.Output.secret(master_key).apply(
        lambda key: plain + [f"plugins.query.datasources.encryption.masterkey={key}"]
    )


def ulimits(settings: Settings) -> list[docker.ContainerUlimitArgs]:
    # Locked heap avoids swapping the JVM; many shards need many files.
    if not settings.opensearch_raise_limits:
        return []
    return [
        docker.ContainerUlimitArgs(name="memlock", soft=-1, hard=-1),
        docker.ContainerUlimitArgs(name="nofile", soft=65536, hard=65536),
    ]


class OpenSearch(pulumi.ComponentResource):
    container: docker.Container
    # Exists once OpenSearch answers the healthcheck's question: what the bootstrap waits for.
    ready: ServiceReady

    def __init__(
        self,
        name: str,
        settings: Settings,
        *,
        network: docker.Network,
        master_key: pulumi.Input[str],
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__("clawker:monitor:OpenSearch", name, None, opts)
        self.volume = managed_volume(names.OPENSEARCH_VOLUME, settings.purge_volumes_on_destroy, self)
        self.image, self.container = service_container(
            self,
            names.OPENSEARCH,
            settings.opensearch_image,
            network,
            envs=environment(settings, master_key),
            ports=[published(settings.opensearch_port)],
            volumes=[docker.ContainerVolumeArgs(volume_name=self.volume.name, container_path=DATA_DIR)],
            ulimits=ulimits(settings),
            healthcheck=docker.ContainerHealthcheckArgs(
                tests=["CMD", "curl", "-fsS", health_url(settings)],
                interval="10s",
                timeout="5s",
                retries=10,
                # Go's canonical duration text, as Docker reports it back: "60s" would diff forever.
                start_period="1m0s",
            ),
            # Docker probes every 10 s; waiting for its verdict cost up to 10 s per cold
            # up. `ready` below asks the healthcheck's question itself, every 0.25 s.
            wait=False,
        )
        self.ready = ServiceReady(
            f"{names.OPENSEARCH}-ready",
            url=ready_url(settings),
            target=self.container.id,
            timeout_s=HEALTHY_WAIT_S,
            what=f"OpenSearch (check `docker logs {names.OPENSEARCH}`)",
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"container": self.container.name})
