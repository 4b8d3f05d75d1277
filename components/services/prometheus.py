"""The prometheus service: scrapes the collector, accepts OTLP and remote write, evaluates the alerting rules."""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_docker as docker

from components import names
from components.services import config_file, prometheus_config
from components.services.docker import managed_volume, published, service_container
from components.settings import Settings

TSDB_DIR = "/prometheus"
MEMORY_MB = 300


def command(settings: Settings) -> list[str]:
    return [
        f"--config.file={prometheus_config.CONFIG_PATH}",
        f"--web.listen-address=:{settings.prometheus_port}",
        "--web.enable-remote-write-receiver",
        "--web.enable-otlp-receiver",
        "--web.console.templates=/etc/prometheus/consoles",
        "--web.console.libraries=/etc/prometheus/console_libraries",
        f"--storage.tsdb.path={TSDB_DIR}",
        "--web.route-prefix=/",
        "--enable-feature=exemplar-storage,otlp-deltatocumulative",
    ]


class Prometheus(pulumi.ComponentResource):
    container: docker.Container

    def __init__(
        self,
        name: str,
        settings: Settings,
        *,
        network: docker.Network,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__("clawker:monitor:Prometheus", name, None, opts)
        self.volume = managed_volume(names.PROMETHEUS_VOLUME, settings.purge_volumes_on_destroy, self)
        self.image, self.container = service_container(
            self,
            names.PROMETHEUS,
            settings.prometheus_image,
            network,
            command=command(settings),
            ports=[published(settings.prometheus_port)],
            volumes=[docker.ContainerVolumeArgs(volume_name=self.volume.name, container_path=TSDB_DIR)],
            uploads=[
                config_file.upload(prometheus_config.CONFIG_PATH, prometheus_config.render(settings)),
                config_file.upload(prometheus_config.RULES_PATH, prometheus_config.render_rules(settings)),
            ],
            memory=MEMORY_MB,
            # No swap on top of the limit; stated explicitly because Docker otherwise
            # reports its own default (twice the limit) as drift.
            memory_swap=MEMORY_MB,
        )
        self.register_outputs({"container": self.container.name})
