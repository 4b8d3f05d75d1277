"""The bootstrap: everything that makes OpenSearch and Dashboards useful on first open.

Each item is a resource served by a dynamic provider (components/providers/),
so it previews, diffs, refreshes and updates like any container. The collector
depends on this whole component (SPEC "Order" 4): index templates only apply at index
creation, so no record may land before every step here has succeeded, and a failed
bootstrap leaves the collector not created with the error plain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import pulumi

from components.bootstrap.dashboards import declare_dashboards_assets
from components.bootstrap.opensearch import declare_opensearch_assets
from components.settings import Settings


@dataclass
class Cluster:
    """Where the OpenSearch side is applied when it is not this stack's own node (the team role)."""

    endpoint: str
    # The providers' `connection` input: username, password, ca_pem (a secret).
    connection: Optional[Any] = None
    # Register the Prometheus datasource (the local role's node reaches its Prometheus in-network).
    datasource: bool = False


class Bootstrap(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        settings: Settings,
        *,
        master_key: pulumi.Input[str],
        opensearch: Sequence[pulumi.Resource],
        prometheus: Sequence[pulumi.Resource],
        dashboards: Sequence[pulumi.Resource],
        cluster: Optional[Cluster] = None,
        dashboards_url: Optional[str] = None,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__("clawker:monitor:Bootstrap", name, None, opts)
        self.opensearch_assets = declare_opensearch_assets(
            settings,
            master_key=master_key,
            parent=self,
            opensearch=list(opensearch),
            prometheus=list(prometheus),
            cluster=cluster,
        )
        self.dashboards_assets = declare_dashboards_assets(
            settings,
            parent=self,
            dashboards=list(dashboards),
            url=dashboards_url,
        )
        self.register_outputs({})
