"""Container settings every service shares, and the one way to publish a port.

Kept in one place so a policy (labels, log caps, loopback-only publishing)
cannot drift between services.
"""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_docker as docker

from components import names

# Host ports are reachable from this machine only: the OTLP ports are unauthenticated.
PUBLISH_HOST_IP = "127.0.0.1"
# Inside its container a service listens on every interface so that peers on
# clawker-net can reach it; only the host-side publish above is restricted.
CONTAINER_LISTEN_HOST = "0.0.0.0"

LOG_DRIVER = "json-file"
LOG_OPTS = {"max-size": "10m", "max-file": "3"}
RESTART_POLICY = "unless-stopped"


def published(port: int) -> docker.ContainerPortArgs:
    """Publish a container port on the same host port, on 127.0.0.1 only."""
    return docker.ContainerPortArgs(internal=port, external=port, ip=PUBLISH_HOST_IP, protocol="tcp")


def labels(extra: Optional[dict] = None) -> list[docker.ContainerLabelArgs]:
    merged = {**names.LABELS, **(extra or {})}
    return [docker.ContainerLabelArgs(label=k, value=v) for k, v in sorted(merged.items())]


def volume_labels() -> list[docker.VolumeLabelArgs]:
    return [docker.VolumeLabelArgs(label=k, value=v) for k, v in sorted(names.LABELS.items())]


def image(name: str, ref: str, parent: pulumi.Resource) -> docker.RemoteImage:
    """The service's image, found locally or pulled; never removed on destroy (other stacks may share it)."""
    return docker.RemoteImage(
        f"{name}-image",
        name=ref,
        keep_locally=True,
        opts=pulumi.ResourceOptions(parent=parent),
    )


def service_container_args(
    *,
    container_name: str,
    image: docker.RemoteImage,
    network: docker.Network,
    **specific,
) -> dict:
    """Keyword arguments for docker.Container with the stack-wide policies filled in."""
    return dict(
        name=container_name,
        hostname=container_name,
        image=image.image_id,
        networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=network.name, aliases=[container_name])],
        labels=labels(),
        log_driver=LOG_DRIVER,
        log_opts=LOG_OPTS,
        restart=RESTART_POLICY,
        # Replace without touching data: named volumes outlive their container.
        **specific,
    )


def managed_volume(volume_name: str, purge_on_destroy: bool, parent: pulumi.Resource) -> docker.Volume:
    """A labelled named volume; kept on destroy unless the purge setting is on.

    Creating a volume whose name already exists returns the existing one, so a
    volume kept by an earlier destroy is adopted with its data.
    """
    return docker.Volume(
        volume_name,
        name=volume_name,
        labels=volume_labels(),
        opts=pulumi.ResourceOptions(parent=parent, retain_on_delete=not purge_on_destroy),
    )
