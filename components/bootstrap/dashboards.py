"""Dashboards side of the bootstrap (SPEC "Bootstrap" step 6).

In SPEC order, each step depending on the one before:

a. the global ``data-connection`` saved object for the ``clawker_prometheus`` datasource;
b. the ``Clawker`` workspace (use-case-all) linked to that data connection;
c. the explore (PromQL) panels written inside the workspace, one resource per unit
   (``dashboards-explore-objects-<unit>``, all its panels: issue 21);
d. the saved-object bundles (index patterns, visualizations, searches, dashboards)
   imported into the workspace; a bundle waits only for the resources holding what
   its objects reference (the explore panels of (c), the core's bundle).
   The core's objects (opensearch_assets/dashboards/) are one bundle,
   ``dashboards-saved-objects``; each selected unit's are its own,
   ``dashboards-saved-objects-<unit>`` (after the core's: they may show its index
   patterns), so adding a unit creates its bundle and removing one deletes the
   resource only (below: its objects stay).

The saved objects are data files (components/units.py finds them). Every
resource waits for Dashboards' /api/status itself (bounded), so it only needs
the container to have been created first. Nothing here waits for the OpenSearch
side: (a) names the datasource of SPEC step 5, which Dashboards does not look up
when the object is written; the collector waits for both sides.

Teardown (SPEC "Teardown"): Dashboards keeps all of this in its ``.kibana`` index on
the OpenSearch volume, and deleting a workspace makes Dashboards delete every saved
object in it, the ones users made included. So unless the purge setting is on, every
resource here is ``retain_on_delete``: ``pulumi destroy`` only forgets them (no call
reaches Dashboards) and the workspace, the users' objects and ours stay on the volume.
The next ``pulumi up`` adopts them: the workspace is found by its exact name (same
id), the data connection by its fixed id, explore objects and the bundle are written
over their kept copies in that workspace. Stacks written before the explore
collections hold one resource per explore object (``dashboards-explore-<id>``); the
engine adopts at most one old resource per new one, so their upgrade plans each of
them as a ``delete[retain]`` (forgotten, no call reaches Dashboards) and the unit's
collection as a create that writes over the same objects in place
(tests/e2e/previous_release.py checks exactly that). With the purge setting, destroy deletes
them through the API and the volume goes with everything else.
A consequence: a saved object a later release drops from the program (rather than
from its bundle or explore collection, which remove it on update) stays in the
workspace until a purge.
"""

from __future__ import annotations

from typing import Optional, Sequence

import pulumi

from components import codex, names, units
from components.providers.dashboards import (
    DEFAULT_READY_TIMEOUT_S,
    DataConnection,
    ExploreCollection,
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


def unit_objects(unit: units.Unit, settings: Settings) -> list[dict]:
    """A unit's saved objects as this stack deploys them.

    The built-in codex unit's dashboard gains the estimated-cost panels when codexPrices
    is set (components/codex.py); every other unit's objects are its files as they are.
    """
    objects = load_saved_objects([unit.dashboards_dir()])
    if unit.path == units.BUILTIN_DIR / codex.UNIT:
        objects = codex.with_estimated_cost(objects, settings.codex_price_table)
    return objects


def saved_objects(settings: Settings) -> list[dict]:
    """Every saved object this stack deploys: the core's, then each selected unit's (what the panel proof reads)."""
    core = load_saved_objects(units.dashboards_dirs(()))
    return core + [so for unit in settings.selected_units for so in unit_objects(unit, settings)]


def declare_dashboards_assets(
    settings: Settings,
    *,
    parent: pulumi.Resource,
    dashboards: Sequence[pulumi.Resource],
    url: Optional[str] = None,
) -> list[pulumi.Resource]:
    """`url`: an existing Dashboards (the team role's dashboardsUrl) instead of this stack's container."""
    url = url or settings.dashboards_api_url
    selected = settings.selected_units
    core_explore, core_imported = split_bundle(load_saved_objects(units.dashboards_dirs(())))
    by_unit = {unit.name: split_bundle(unit_objects(unit, settings)) for unit in selected}
    explore_objects = core_explore + [so for explore, _ in by_unit.values() for so in explore]

    keep = not settings.purge_volumes_on_destroy

    def opts(*after: pulumi.Resource) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=parent, depends_on=list(after), retain_on_delete=keep)

    # The connection names the datasource the OpenSearch side registers (step 5) but
    # Dashboards does not look it up when the object is written, so it does not wait for it:
    # the two sides run in parallel and the collector waits for both (issue 11).
    data_connection = DataConnection(
        "dashboards-data-connection",
        url=url,
        object_id=names.DATA_CONNECTION_ID,
        connection_id=names.DATASOURCE,
        connection_type=DATA_CONNECTION_TYPE,
        meta=DATA_CONNECTION_META,
        ready_timeout_s=DEFAULT_READY_TIMEOUT_S,
        opts=opts(*dashboards),
    )
    workspace = Workspace(
        "dashboards-workspace",
        url=url,
        workspace_name=names.WORKSPACE,
        description=names.WORKSPACE_DESCRIPTION,
        features=names.WORKSPACE_FEATURES,
        # Its id is the object's id: unlike an output read by name, it is there in a
        # state written before the inputs were renamed (a no-op diff keeps old outputs).
        data_connections=[data_connection.id],
        ready_timeout_s=DEFAULT_READY_TIMEOUT_S,
        opts=opts(data_connection),
    )
    owners = [("", core_explore)] + [(unit.name, by_unit[unit.name][0]) for unit in selected]
    explore = {
        owner: ExploreCollection(
            "dashboards-explore-objects" + (f"-{owner}" if owner else ""),
            url=url,
            workspace_id=workspace.id,
            saved_objects=objects,
            ready_timeout_s=DEFAULT_READY_TIMEOUT_S,
            opts=opts(workspace),
        )
        for owner, objects in owners
        if objects
    }
    holder = {object_key(so): explore[owner] for owner, objects in owners for so in objects}
    explore_keys = sorted(holder)

    def after(objects: list[dict], *also: pulumi.Resource) -> pulumi.ResourceOptions:
        """Waits for the workspace, `also`, and the collections holding what the objects reference."""
        needed = {id(r): r for r in also}
        for so in objects:
            for ref in so.get("references") or []:
                held = holder.get(f"{ref.get('type')}/{ref.get('id')}")
                if held is not None:
                    needed[id(held)] = held
        return opts(workspace, *needed.values())

    unit_keys = [object_key(so) for _, imported in by_unit.values() for so in imported]
    core_keys = [object_key(so) for so in core_imported]
    core = SavedObjectBundle(
        "dashboards-saved-objects",
        url=url,
        workspace_id=workspace.id,
        saved_objects=core_imported,
        external_references=explore_keys,
        # Up to this release the core bundle held claude-code's objects: its bundle holds them now.
        handed_over=unit_keys,
        ready_timeout_s=DEFAULT_READY_TIMEOUT_S,
        opts=after(core_imported),
    )
    bundles = [core]
    for unit in selected:
        imported = by_unit[unit.name][1]
        if not imported:
            continue
        shows_core = any(f"{r.get('type')}/{r.get('id')}" in core_keys for so in imported for r in so.get("references") or [])
        bundles.append(
            SavedObjectBundle(
                f"dashboards-saved-objects-{unit.name}",
                url=url,
                workspace_id=workspace.id,
                saved_objects=imported,
                external_references=explore_keys + core_keys,
                ready_timeout_s=DEFAULT_READY_TIMEOUT_S,
                opts=after(imported, *([core] if shows_core else [])),
            )
        )
    return [data_connection, workspace, *explore.values(), *bundles]
