"""The bootstrap: everything that makes OpenSearch and Dashboards useful on first open.

Each item is a resource served by a dynamic provider (components/providers/),
so it previews, diffs, refreshes and updates like any container. The collector
depends on the OpenSearch side (`opensearch_assets`): index templates only apply at
index creation, so no record may land before every template, pipeline, policy and
index here has succeeded. It does not wait for the Prometheus datasource or the
Dashboards side: neither decides how a record is stored (issue 21: each was a step
on the cold start's critical path).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import pulumi

from components.bootstrap.dashboards import declare_dashboards_assets
from components.bootstrap.opensearch import declare_opensearch_assets
from components.providers.opensearch import Datasource
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
        # What the collector waits for: every OpenSearch asset but the datasource.
        self.ingest_assets = [r for r in self.opensearch_assets if not isinstance(r, Datasource)]
        self.dashboards_assets = declare_dashboards_assets(
            settings,
            parent=self,
            dashboards=list(dashboards),
            url=dashboards_url,
        )
        self.register_outputs({})
