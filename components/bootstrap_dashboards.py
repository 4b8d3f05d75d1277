"""Dashboards side of the bootstrap (SPEC "Bootstrap" step 6).

In SPEC order, each step depending on the one before:

a. the global ``data-connection`` saved object for the ``clawker_prometheus`` datasource;
b. the ``Clawker`` workspace (use-case-all) linked to that data connection;
c. the explore (PromQL) panels, created one by one inside the workspace;
d. the saved-object bundle (index patterns, visualizations, searches, dashboards)
   imported into the workspace; dashboards reference the explore panels of (c).

The saved objects are data files under opensearch_assets/dashboards/. Every
resource waits for Dashboards' /api/status itself (bounded), so it only needs
the container and the OpenSearch-side bootstrap to have been created first.
"""

from __future__ import annotations

from typing import Sequence

import pulumi

from components import names
from components.providers.dashboards import (
    DEFAULT_READY_TIMEOUT_S,
    DataConnection,
    ExploreObject,
    SavedObjectBundle,
    Workspace,
    load_saved_objects,
    object_key,
    split_bundle,
)
from components.settings import Settings

# What explore's dataset picker reads off the data connection.
DATA_CONNECTION_TYPE = "Prometheus"
DATA_CONNECTION_META = {"type": DATA_CONNECTION_TYPE, "timeFieldName": "Time"}


def declare_dashboards_assets(
    settings: Settings,
    *,
    parent: pulumi.Resource,
    dashboards: Sequence[pulumi.Resource],
    opensearch_assets: Sequence[pulumi.Resource],
) -> list[pulumi.Resource]:
    url = settings.dashboards_api_url
    explore_objects, imported_objects = split_bundle(load_saved_objects())

    def opts(*after: pulumi.Resource) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=parent, depends_on=list(after))

    # The datasource the connection names is registered by the OpenSearch side (step 5).
    data_connection = DataConnection(
        "dashboards-data-connection",
        url=url,
        object_id=names.DATA_CONNECTION_ID,
        connection_id=names.DATASOURCE,
        connection_type=DATA_CONNECTION_TYPE,
        meta=DATA_CONNECTION_META,
        ready_timeout_s=DEFAULT_READY_TIMEOUT_S,
        opts=opts(*dashboards, *opensearch_assets),
    )
    workspace = Workspace(
        "dashboards-workspace",
        url=url,
        workspace_name=names.WORKSPACE,
        description=names.WORKSPACE_DESCRIPTION,
        features=names.WORKSPACE_FEATURES,
        data_connections=[data_connection.objectId],
        ready_timeout_s=DEFAULT_READY_TIMEOUT_S,
        opts=opts(data_connection),
    )
    explore = [
        ExploreObject(
            f"dashboards-explore-{so['id']}",
            url=url,
            workspace_id=workspace.id,
            saved_object=so,
            ready_timeout_s=DEFAULT_READY_TIMEOUT_S,
            opts=opts(workspace),
        )
        for so in explore_objects
    ]
    bundle = SavedObjectBundle(
        "dashboards-saved-objects",
        url=url,
        workspace_id=workspace.id,
        saved_objects=imported_objects,
        external_references=[object_key(so) for so in explore_objects],
        ready_timeout_s=DEFAULT_READY_TIMEOUT_S,
        opts=opts(workspace, *explore),
    )
    return [data_connection, workspace, *explore, bundle]
