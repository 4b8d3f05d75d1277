"""The prometheus service: scrapes the collector, accepts OTLP and remote write, evaluates the alerting rules."""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_docker as docker

from components import names
from components.services import config_file, prometheus_config, prometheus_web
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


def team_web(settings: Settings, users: pulumi.Input[dict]) -> dict:
    """The team Prometheus's extra flags, files and mounts: basic auth always, TLS with a certificate."""
    tls = bool(settings.prometheus_tls_cert_file)
    content = pulumi.Output.secret(
        pulumi.Output.from_input(users).apply(lambda u: config_file.to_yaml(prometheus_web.web_config(dict(u), tls)))
    )
    mounts = [
        docker.ContainerVolumeArgs(host_path=host, container_path=inside, read_only=True)
        for host, inside in (
            (settings.prometheus_tls_cert_file, prometheus_web.TLS_CERT_PATH),
            (settings.prometheus_tls_key_file, prometheus_web.TLS_KEY_PATH),
        )
    ] if tls else []
    return {
        "command": [f"--web.config.file={prometheus_web.WEB_CONFIG_PATH}"],
        "uploads": [docker.ContainerUploadArgs(file=prometheus_web.WEB_CONFIG_PATH, content=content, permissions="0644")],
        "volumes": mounts,
        "ip": settings.prometheus_bind_address,
    }


class Prometheus(pulumi.ComponentResource):
    container: docker.Container

    def __init__(
        self,
        name: str,
        settings: Settings,
        *,
        network: docker.Network,
        users: Optional[pulumi.Input[dict]] = None,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        """`users` (the team role): user -> password, a secret; every request then needs one of them."""
        super().__init__("clawker:monitor:Prometheus", name, None, opts)
        web = team_web(settings, users) if users is not None else {}
        self.volume = managed_volume(names.PROMETHEUS_VOLUME, settings.purge_volumes_on_destroy, self)
        self.image, self.container = service_container(
            self,
            names.PROMETHEUS,
            settings.prometheus_image,
            network,
            command=command(settings) + web.get("command", []),
            ports=[published(settings.prometheus_port, web.get("ip", "127.0.0.1"))],
            volumes=[docker.ContainerVolumeArgs(volume_name=self.volume.name, container_path=TSDB_DIR)] + web.get("volumes", []),
            uploads=[
                config_file.upload(prometheus_config.CONFIG_PATH, prometheus_config.render(settings)),
                config_file.upload(prometheus_config.RULES_PATH, prometheus_config.render_rules(settings)),
            ] + web.get("uploads", []),
            memory=MEMORY_MB,
            # No swap on top of the limit; stated explicitly because Docker otherwise
            # reports its own default (twice the limit) as drift.
            memory_swap=MEMORY_MB,
        )
        self.register_outputs({"container": self.container.name})
