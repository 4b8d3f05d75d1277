"""OpenSearch side of the bootstrap (SPEC "Bootstrap" steps 1-5). Filled in by issue #4."""

from __future__ import annotations

from typing import Sequence

import pulumi

from components.settings import Settings


def declare_opensearch_assets(
    settings: Settings,
    *,
    master_key: pulumi.Input[str],
    parent: pulumi.Resource,
    opensearch: Sequence[pulumi.Resource],
    prometheus: Sequence[pulumi.Resource],
) -> list[pulumi.Resource]:
    return []
