"""What is left of the copy-out / copy-back rebuild of earlier releases.

Earlier releases rebuilt an index whose field types had to change by copying it to
<index>-clawker-rebuild, deleting it, and copying it back; records stored while that ran
were lost with the deleted index. Indices now move into their daily indices instead
(days.py, under traffic, nothing lost). A copy such a rebuild left behind (a run that
stopped half way) still holds documents: the Index provider moves it into the days too.
"""

from __future__ import annotations

# Index settings the stack decides even when it declares none (then: unset).
OWNED_INDEX_SETTINGS = ("default_pipeline", "final_pipeline")

REBUILD_SUFFIX = "-clawker-rebuild"


def rebuild_index_name(index: str) -> str:
    return f"{index}{REBUILD_SUFFIX}"
