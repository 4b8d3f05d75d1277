"""The upgrade check's verdict on a preview (tests/e2e/previous_release.forbidden_steps), on
synthetic `pulumi preview --json` steps: a re-created container passes, anything that holds
data or users' objects replaced, created or deleted does not."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))

import previous_release  # noqa: E402
from pulumi_cli import Result  # noqa: E402

PREFIX = "urn:pulumi:e2e::clawker-monitor::"
CONTAINER = PREFIX + "clawker:monitor:Prometheus$docker:index/container:Container::prometheus"
VOLUME = PREFIX + "clawker:monitor:Prometheus$docker:index/volume:Volume::clawker-prometheus"
WORKSPACE = PREFIX + "clawker:monitor:Bootstrap$pulumi-python:dynamic:Resource::dashboards-workspace"


def verdict(*steps: tuple[str, str]) -> dict:
    preview = json.dumps({"steps": [{"urn": urn, "op": op} for urn, op in steps]})
    return previous_release.forbidden_steps(Result(["preview", "--json"], 0, preview, ""))


def test_a_container_re_created_for_a_changed_config_passes():
    assert verdict((CONTAINER, "replace"), (CONTAINER, "create-replacement"), (CONTAINER, "delete-replaced"), (VOLUME, "same")) == {}


def test_a_replaced_volume_or_workspace_still_fails():
    assert verdict((VOLUME, "replace"), (CONTAINER, "update")) == {VOLUME: "replace"}
    assert verdict((WORKSPACE, "delete-replaced")) == {WORKSPACE: "delete-replaced"}


def test_a_container_created_or_deleted_still_fails():
    assert verdict((CONTAINER, "create")) == {CONTAINER: "create"}
    assert verdict((CONTAINER, "delete")) == {CONTAINER: "delete"}


DAILY_TEMPLATE = PREFIX + "clawker:monitor:Bootstrap$pulumi-python:dynamic/clawker:OpenSearchIndexTemplate::opensearch-index-template-claude-code-daily"
LOG_TEMPLATE = PREFIX + "clawker:monitor:Bootstrap$pulumi-python:dynamic/clawker:OpenSearchIndexTemplate::opensearch-index-template-claude-code"


def test_what_this_release_adds_may_be_created_and_nothing_else():
    # README "Retention": the daily indices' templates (and route pipelines, traces policy) are new.
    assert verdict((DAILY_TEMPLATE, "create"), (LOG_TEMPLATE, "update")) == {}
    assert verdict((DAILY_TEMPLATE, "delete")) == {DAILY_TEMPLATE: "delete"}
    assert verdict((DAILY_TEMPLATE, "replace")) == {DAILY_TEMPLATE: "replace"}
    # A rename shows as create + delete: the delete still fails it.
    assert verdict((LOG_TEMPLATE, "create")) == {LOG_TEMPLATE: "create"}


def test_explore_panels_move_into_collections_as_retained_deletes_and_nothing_else():
    """Issue 21: the previous release's per-object explore resources are planned as deletes the
    engine only forgets (retain_on_delete), each object held by this release's collection,
    which is created; any other delete, or one not retained, still fails."""
    explore = PREFIX + "clawker:monitor:Bootstrap$pulumi-python:dynamic:Resource::dashboards-explore-"
    collection = PREFIX + "clawker:monitor:Bootstrap$pulumi-python:dynamic/clawker:DashboardsExploreCollection::dashboards-explore-objects-claude-code"
    previous = sorted(previous_release._previous_explore_ids())
    # Every explore object the previous release had is held by a collection of this one.
    assert previous and set(previous) <= previous_release._explore_ids()

    def steps(*items):
        preview = json.dumps({"steps": [
            {"urn": urn, "op": op, **({"oldState": {"retainOnDelete": retained}} if retained is not None else {})}
            for urn, op, retained in items
        ]})
        return previous_release.forbidden_steps(Result(["preview", "--json"], 0, preview, ""))

    assert steps((collection, "create", None), *[(explore + so_id, "delete", True) for so_id in previous]) == {}
    # Negative controls: not retained (the delete would reach Dashboards), not held, re-created.
    assert steps((explore + previous[0], "delete", False)) == {explore + previous[0]: "delete"}
    assert steps((explore + previous[0], "delete", None)) == {explore + previous[0]: "delete"}
    assert steps((explore + "no-such-panel", "delete", True)) == {explore + "no-such-panel": "delete"}
    assert steps((explore + previous[0], "create", None)) == {explore + previous[0]: "create"}
    assert steps((explore + previous[0], "replace", True)) == {explore + previous[0]: "replace"}
