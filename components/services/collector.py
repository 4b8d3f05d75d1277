"""The otel-collector service: the only entry point for telemetry."""

from __future__ import annotations

from typing import Optional, Sequence

import pulumi
import pulumi_docker as docker

from components import names
from components.services import collector_config, collector_machine, config_file
from components.services.docker import labels, managed_volume, published, service_container
from components.settings import Settings

MEMORY_MB = 200
# The official collector image runs as this uid and is FROM scratch: it has no
# directory this user owns, no shell and no chown.
COLLECTOR_UID = 10001


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


def queue_init_command() -> list[str]:
    """What the one-shot init container runs (as root) on the fresh queue volume."""
    dir_ = collector_config.QUEUE_DIR
    return ["sh", "-c", f"chown {COLLECTOR_UID}:{COLLECTOR_UID} {dir_} && chmod 0700 {dir_}"]


def queue_init(
    parent: pulumi.Resource, settings: Settings, volume: docker.Volume
) -> tuple[docker.RemoteImage, docker.Container]:
    """Make the queue volume writable by the collector's user before the collector starts.

    A new named volume mounted where the image has no directory is root-owned
    (Docker copies ownership only from an existing image directory), and the
    collector image can change nothing itself. The Prometheus image (already
    part of the stack; busybox sh + chown) does it once, as root, then exits.
    """
    image = docker.RemoteImage(
        f"{names.COLLECTOR_QUEUE_INIT}-image",
        name=settings.prometheus_image,
        keep_locally=True,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    container = docker.Container(
        names.COLLECTOR_QUEUE_INIT,
        name=names.COLLECTOR_QUEUE_INIT,
        image=image.image_id,
        user="0:0",
        entrypoints=queue_init_command(),
        volumes=[docker.ContainerVolumeArgs(volume_name=volume.name, container_path=collector_config.QUEUE_DIR)],
        labels=labels(),
        # Run to completion once (attach waits for the exit); an exited
        # container is its success, not a failure to restart.
        attach=True,
        must_run=False,
        restart="no",
        network_mode="none",
        opts=pulumi.ResourceOptions(parent=parent),
    )
    # The provider records a failed run as an exit code, not as an error: fail `pulumi up` here.
    container.exit_code.apply(_init_succeeded)
    return image, container


def _init_succeeded(code: Optional[int]) -> Optional[int]:
    if code not in (None, 0):
        raise RuntimeError(
            f"{names.COLLECTOR_QUEUE_INIT} exited with {code}: the {names.COLLECTOR_QUEUE_VOLUME} volume could not "
            f"be handed to uid {COLLECTOR_UID}, so the collector cannot keep its queue. See "
            f"`docker logs {names.COLLECTOR_QUEUE_INIT}`; the Prometheus image must provide sh and chown."
        )
    return code


def machine_config(settings: Settings, team) -> tuple[docker.ContainerUploadArgs, list, pulumi.Output]:
    """The machine role's config upload, its CA uploads and its environment (a secret: the credential).

    The config depends on how many URLs the cluster has (one exporter per URL behind each store's
    failover connector), which a StackReference knows only at deployment."""
    local = collector_config.render(settings)
    urls = pulumi.Output.from_input(team.cluster_urls)
    content = urls.apply(
        lambda u: config_file.to_yaml(
            collector_machine.machine_part(
                local,
                settings.machine_name,
                cluster_ca=team.cluster_ca_pem is not None,
                prometheus_ca=team.prometheus_ca_pem is not None,
                cluster_urls=len(u),
            )
        )
    )
    config = docker.ContainerUploadArgs(file=collector_config.CONFIG_PATH, content=content, permissions="0644")
    uploads = [
        docker.ContainerUploadArgs(file=path, content=pem, permissions="0644")
        for path, pem in (
            (collector_machine.CLUSTER_CA_PATH, team.cluster_ca_pem),
            (collector_machine.PROMETHEUS_CA_PATH, team.prometheus_ca_pem),
        )
        if pem is not None
    ]
    env = collector_machine.ENV
    envs = pulumi.Output.secret(
        pulumi.Output.all(urls, team.username, team.password, team.remote_write_url).apply(
            # No trailing slash: the credential check appends its path.
            lambda v: [f"{collector_machine.cluster_url_env(i)}={url.rstrip('/')}" for i, url in enumerate(v[0])]
            + [
                f"{env['username']}={v[1]}",
                f"{env['password']}={v[2]}",
                f"{env['remote_write_url']}={v[3]}",
            ]
        )
    )
    return config, uploads, envs


class Collector(pulumi.ComponentResource):
    container: docker.Container

    def __init__(
        self,
        name: str,
        settings: Settings,
        *,
        network: docker.Network,
        after: Sequence[pulumi.Resource] = (),
        team=None,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        """`team` (components.stack.TeamEndpoints): the machine role, shipping to the team's cluster."""
        super().__init__("clawker:monitor:Collector", name, None, opts)
        if team is None:
            config, machine_uploads, machine_env = config_file.upload(collector_config.CONFIG_PATH, collector_config.render(settings)), [], {}
        else:
            config, machine_uploads, envs = machine_config(settings, team)
            machine_env = {"envs": envs}
        self.queue_volume = managed_volume(names.COLLECTOR_QUEUE_VOLUME, settings.purge_volumes_on_destroy, self)
        self.queue_init_image, self.queue_init = queue_init(self, settings, self.queue_volume)
        queue_mount = docker.ContainerVolumeArgs(
            volume_name=self.queue_volume.name, container_path=collector_config.QUEUE_DIR
        )
        self.image, self.container = service_container(
            self,
            names.COLLECTOR,
            settings.collector_image,
            network,
            command=[f"--config={collector_config.CONFIG_PATH}"],
            ports=ports(settings),
            uploads=[config] + machine_uploads,
            volumes=[queue_mount] + tls_mounts(settings),
            memory=MEMORY_MB,
            # No swap on top of the limit; stated explicitly because Docker otherwise
            # reports its own default (twice the limit) as drift.
            memory_swap=MEMORY_MB,
            # Lets in-network senders reach services on the Docker host.
            hosts=[docker.ContainerHostArgs(host="host.docker.internal", ip="host-gateway")],
            after=list(after) + [self.queue_init],
            **machine_env,
        )
        self.register_outputs({"container": self.container.name, "queueVolume": self.queue_volume.name})
