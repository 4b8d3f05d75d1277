"""Moved to components/services/docker.py (issue 13); this name stays importable for
callers not moved yet (components/collector_config.py)."""

from components.services.docker import (  # noqa: F401
    CONTAINER_LISTEN_HOST,
    PUBLISH_HOST_IP,
    labels,
    managed_volume,
    published,
    service_container,
)
