"""Prometheus's config file, built as Python data from the settings."""

from __future__ import annotations

from components import names
from components.settings import Settings

CONFIG_PATH = "/etc/prometheus/prometheus.yml"

# Resource attributes of OTLP pushes that become labels (per-project/agent views).
PROMOTED_RESOURCE_ATTRIBUTES = ["project", "agent", "service.name", "service.version"]


def render(settings: Settings) -> dict:
    return {
        "global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
        "otlp": {"promote_resource_attributes": PROMOTED_RESOURCE_ATTRIBUTES},
        "scrape_configs": [
            {
                "job_name": names.COLLECTOR,
                "static_configs": [{"targets": [f"{names.COLLECTOR}:{settings.collector_metrics_port}"]}],
            }
        ],
    }

