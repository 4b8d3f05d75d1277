"""The otel-collector service: the only entry point for telemetry."""

from __future__ import annotations

from typing import Optional, Sequence

import pulumi
import pulumi_docker as docker

from components import collector_config, config_file, names
from components.docker_common import published, service_container
from components.settings import Settings

MEMORY_MB = 200


def ports(settings: Settings) -> list[docker.ContainerPortArgs]:
    out = [published(settings.otlp_http_port), published(settings.otlp_grpc_port)]
    if settings.trusted_lane_enabled:
        out.append(published(settings.infra_port))
    return out


def tls_mounts(settings: Settings) -> list[docker.ContainerVolumeArgs]:
    if not settings.trusted_lane_enabled:
        return []
    host_paths = settings.infra_tls_host_paths
    return [
        docker.ContainerVolumeArgs(host_path=host_paths[key], container_path=path, read_only=True)
        for key, path in collector_config.INFRA_TLS_FILES.items()
    ]


class Collector(pulumi.ComponentResource):
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
        super().__init__("clawker:monitor:Collector", name, None, opts)
        self.image, self.container = service_container(
            self,
            names.COLLECTOR,
            settings.collector_image,
            network,
            command=[f"--config={collector_config.CONFIG_PATH}"],
            ports=ports(settings),
            uploads=[config_file.upload(collector_config.CONFIG_PATH, collector_config.render(settings))],
            volumes=tls_mounts(settings),
            memory=MEMORY_MB,
            # No swap on top of the limit; stated explicitly because Docker otherwise
            # reports its own default (twice the limit) as drift.
            memory_swap=MEMORY_MB,
            # Lets in-network senders reach services on the Docker host.
            hosts=[docker.ContainerHostArgs(host="host.docker.internal", ip="host-gateway")],
            after=after,
        )
        self.register_outputs({"container": self.container.name})
