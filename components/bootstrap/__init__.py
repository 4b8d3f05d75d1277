"""The bootstrap: everything that makes OpenSearch and Dashboards useful on first open.

Each item is a resource served by a dynamic provider (components/providers/),
so it previews, diffs, refreshes and updates like any container. The collector
depends on `ingest_assets`: index templates only apply at index creation, so no
record may land before every template, pipeline and retention policy here has
succeeded. It does not wait for the indices (a first record makes its door and day
from those templates), the Prometheus datasource or the Dashboards side: none
decides how a record is stored, and each was a step on the cold start's critical
path (issue 21).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import pulumi

from components.bootstrap.dashboards import declare_dashboards_assets
from components.bootstrap.opensearch import declare_opensearch_assets
from components.providers.opensearch import Datasource, Index
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
        # What the collector waits for: what shapes a record as OpenSearch stores it (templates,
        # pipelines, retention policies). Not the indices: a record that arrives first creates
        # its door and day from those templates (with their pipelines and ISM policy), exactly as
        # the Index step would, and the Index step then finds and checks them
        # (p:test_bootstrap_order.py::test_records_before_the_index_step_are_stored_as_after_it).
        self.ingest_assets = [r for r in self.opensearch_assets if not isinstance(r, (Datasource, Index))]
        self.dashboards_assets = declare_dashboards_assets(
            settings,
            parent=self,
            dashboards=list(dashboards),
            url=dashboards_url,
        )
        self.register_outputs({})
