"""Dashboards side of the bootstrap (SPEC "Bootstrap" step 6). Filled in by issue #5."""

from __future__ import annotations

from typing import Sequence

import pulumi

from components.settings import Settings


def declare_dashboards_assets(
    settings: Settings,
    *,
    parent: pulumi.Resource,
    dashboards: Sequence[pulumi.Resource],
    opensearch_assets: Sequence[pulumi.Resource],
) -> list[pulumi.Resource]:
    return []
