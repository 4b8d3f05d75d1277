"""Container settings every service shares, the one way to publish a port, and clawker-net.

Kept in one place so a policy (labels, log caps, loopback-only publishing)
cannot drift between services.
"""

from __future__ import annotations

from typing import Optional, Sequence

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


def published(port: int, ip: str = PUBLISH_HOST_IP) -> docker.ContainerPortArgs:
    """Publish a container port on the same host port, on 127.0.0.1 unless a service with TLS
    and authentication says otherwise (the team Prometheus: settings refuse it without them)."""
    return docker.ContainerPortArgs(internal=port, external=port, ip=ip, protocol="tcp")


def labels(extra: Optional[dict] = None) -> list[docker.ContainerLabelArgs]:
    merged = {**names.LABELS, **(extra or {})}
    return [docker.ContainerLabelArgs(label=k, value=v) for k, v in sorted(merged.items())]


def volume_labels() -> list[docker.VolumeLabelArgs]:
    return [docker.VolumeLabelArgs(label=k, value=v) for k, v in sorted(names.LABELS.items())]


def service_container(
    parent: pulumi.ComponentResource,
    container_name: str,
    image_ref: str,
    network: docker.Network,
    after: Sequence[pulumi.Resource] = (),
    **specific,
) -> tuple[docker.RemoteImage, docker.Container]:
    """The service's image and its container, with the stack-wide policies filled in.

    The image is found locally or pulled, and kept on destroy (other stacks may
    share it). `after` holds the container itself back: a component's
    depends_on does not hold back its children.
    """
    image = docker.RemoteImage(
        f"{container_name}-image",
        name=image_ref,
        keep_locally=True,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    container = docker.Container(
        container_name,
        name=container_name,
        hostname=container_name,
        image=image.image_id,
        networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=network.name, aliases=[container_name])],
        labels=labels(),
        log_driver=LOG_DRIVER,
        log_opts=LOG_OPTS,
        restart=RESTART_POLICY,
        **specific,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(after)),
    )
    return image, container


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


# clawker-net: shared with the rest of Clawker, so adopted when it exists and never removed.


def existing_network_id(name: str) -> Optional[str]:
    """The id of the Docker network called `name`, or None when there is none."""
    try:
        return docker.get_network(name=name).id
    except Exception as exc:  # the provider reports a missing network as an invoke error
        text = str(exc).lower()
        if any(phrase in text for phrase in ("not found", "no such network", "could not find")):
            return None
        raise


def clawker_network(opts: Optional[pulumi.ResourceOptions] = None) -> docker.Network:
    """Declare clawker-net: import it if Docker already has it, create it otherwise.

    retain_on_delete keeps it on `pulumi destroy`: agent containers outside this
    stack are attached to it. Only the name is declared so that a network made
    by `clawker` or by hand imports without an input mismatch.
    """
    network_id = existing_network_id(names.NETWORK)
    return docker.Network(
        names.NETWORK,
        name=names.NETWORK,
        opts=pulumi.ResourceOptions.merge(
            opts,
            pulumi.ResourceOptions(retain_on_delete=True, import_=network_id),
        ),
    )
