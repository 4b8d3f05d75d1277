"""The alertmanager service: turns Prometheus' firing alerts into notifications.

Part of the stack only when a receiver is configured (a webhook, Slack or e-mail).
Its config names secret files (alertmanager_config.SECRET_FILES) that are uploaded
beside it, each from a Pulumi secret, so no URL or password is in the config
file, in the state in plain text, or in an output.
"""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_docker as docker

from components import names
from components.services import alertmanager_config, config_file
from components.services.docker import managed_volume, published, service_container
from components.settings import Settings

MEMORY_MB = 100


def command(settings: Settings) -> list[str]:
    return [
        f"--config.file={alertmanager_config.CONFIG_PATH}",
        f"--storage.path={alertmanager_config.DATA_DIR}",
        f"--web.listen-address=:{settings.alertmanager_port}",
        # One instance: no gossip port, no peers to look for.
        "--cluster.listen-address=",
    ]


def secret_uploads(settings: Settings) -> list[docker.ContainerUploadArgs]:
    """One file per configured secret; its content is a Pulumi secret, so the state keeps it encrypted."""
    return [
        docker.ContainerUploadArgs(
            file=f"{alertmanager_config.SECRETS_DIR}/{file_name}",
            content=pulumi.Output.secret(value),
            # Readable by the image's unprivileged user; the file exists only inside the container.
            permissions="0444",
        )
        for file_name, value in sorted(alertmanager_config.secret_values(settings).items())
    ]


class Alertmanager(pulumi.ComponentResource):
    container: docker.Container

    def __init__(
        self,
        name: str,
        settings: Settings,
        *,
        network: docker.Network,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__("clawker:monitor:Alertmanager", name, None, opts)
        self.volume = managed_volume(names.ALERTMANAGER_VOLUME, settings.purge_volumes_on_destroy, self)
        self.image, self.container = service_container(
            self,
            names.ALERTMANAGER,
            settings.alertmanager_image,
            network,
            command=command(settings),
            ports=[published(settings.alertmanager_port)],
            volumes=[docker.ContainerVolumeArgs(volume_name=self.volume.name, container_path=alertmanager_config.DATA_DIR)],
            uploads=[config_file.upload(alertmanager_config.CONFIG_PATH, alertmanager_config.render(settings))]
            + secret_uploads(settings),
            memory=MEMORY_MB,
            memory_swap=MEMORY_MB,
        )
        self.register_outputs({"container": self.container.name})
