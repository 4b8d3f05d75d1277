"""Moving an index's documents into the daily indices, under traffic, nothing lost or doubled.

A fixed-name index kept from an earlier release or from `clawker monitor` holds records
(and maybe field types our templates cannot change in place). Before this call its
default_pipeline already sends new writes to the daily indices (the caller sets it
first), so the index only shrinks from here on. Its documents are then copied with
their _id through the day-route pipeline alone (they were processed when they came in),
by a server-side task that is started once and polled (`POST _reindex?
wait_for_completion=false`, `GET _tasks/<id>`): the request that starts it is never
resent; a lost answer or a killed `pulumi up` leaves at most a copy that the next run
repeats onto the same _ids. Only when every _id of the source is found in the daily
indices is the source deleted.
"""

from __future__ import annotations

import dataclasses

import re
import time
from typing import Iterator, Optional

from components import names as _names
from components.providers.http_client import ApiClient, ApiError, OutcomeUnknownError
from components.providers.opensearch.tasks import TaskFailedError, running_tasks, start_task, wait_for_task
from components.providers.kit import say as _say

# A copy of a big index may take long; each poll is one short GET.
MOVE_TIMEOUT_S = 3600.0
# _ids per verification search (below index.max_result_window and the terms-query limit).
VERIFY_BATCH = 5000
# How many copy passes may still find _ids missing before the move gives up.
MOVE_PASSES = 3
# The reindex task's action name, to find one an interrupted run left running.
REINDEX_ACTION = "indices:data/write/reindex"


def is_day(index: str, name: str) -> bool:
    """Whether `name` is one of `index`'s daily indices (not, e.g., an old rebuild copy)."""
    return re.fullmatch(re.escape(index) + r"-\d{4}-\d{2}-\d{2}", name) is not None


def day_indices(client: ApiClient, index: str) -> list[str]:
    """The daily indices of `index`, oldest first."""
    answer = client.request(
        "GET", f"_cat/indices/{_names.day_pattern(index)}", params={"format": "json", "h": "index", "expand_wildcards": "open"},
        missing_ok=True,
    ) or []
    return sorted(e["index"] for e in answer if isinstance(e, dict) and is_day(index, str(e.get("index"))))


def _refresh(client: ApiClient, expression: str) -> None:
    client.request("GET", f"{expression}/_refresh", params={"ignore_unavailable": "true", "allow_no_indices": "true"})


def _ids(client: ApiClient, source: str) -> Iterator[list[str]]:
    """The source's _ids in batches (a scroll in index order, cleared at the end)."""
    body = {"size": VERIFY_BATCH, "_source": False, "sort": ["_doc"], "query": {"match_all": {}}}
    answer = client.request("GET", f"{source}/_search", params={"scroll": "2m"}, json_body=body) or {}
    scroll = answer.get("_scroll_id")
    try:
        while True:
            hits = (answer.get("hits") or {}).get("hits") or []
            if not hits:
                return
            yield [h["_id"] for h in hits]
            answer = client.request("GET", "_search/scroll", json_body={"scroll": "2m", "scroll_id": scroll}) or {}
            scroll = answer.get("_scroll_id") or scroll
    finally:
        if scroll:
            client.request("DELETE", "_search/scroll", json_body={"scroll_id": scroll}, missing_ok=True)


def missing_ids(client: ApiClient, source: str, door: str) -> list[str]:
    """_ids of `source` that no daily index of `door` holds yet."""
    days = _names.day_pattern(door)
    _refresh(client, source)
    _refresh(client, days)
    missing: list[str] = []
    for batch in _ids(client, source):
        body = {"size": 2 * len(batch), "_source": False, "query": {"ids": {"values": batch}}}
        answer = client.request("GET", f"{days}/_search", json_body=body, params={"allow_no_indices": "true"}) or {}
        hits = (answer.get("hits") or {}).get("hits") or []
        found = {h["_id"] for h in hits if is_day(door, h["_index"])}
        missing += [i for i in batch if i not in found]
    return missing


def _description(source: str, door: str) -> str:
    """How OpenSearch describes the copy task (to find one an interrupted run left running)."""
    return f"reindex from [{source}] to [{door}{_names.MOVING_SUFFIX}]"


def _start_copy(client: ApiClient, source: str, door: str, ids: Optional[list[str]]) -> Optional[str]:
    """Start the copy task (one POST, never resent); None when its answer was lost and no
    such task runs: it finished, or never started, and the verification decides."""
    query = {"ids": {"values": ids}} if ids is not None else {"match_all": {}}
    body = {
        "source": {"index": source, "query": query, "size": 1000},
        # The reindex refuses to write into its source, so the destination is a name no
        # index carries; the move pipeline strips the marker and picks <door>-<day>.
        "dest": {"index": f"{door}{_names.MOVING_SUFFIX}", "pipeline": _names.DAY_MOVE_PIPELINE},
    }
    try:
        return start_task(client, "_reindex", json_body=body)
    except OutcomeUnknownError:
        running = running_tasks(client, REINDEX_ACTION, _description(source, door))
        return running[0] if running else None


def _wait(client: ApiClient, task: str, source: str) -> None:
    try:
        wait_for_task(client, task, timeout_s=MOVE_TIMEOUT_S, what=f"copying {source} into its daily indices")
    except TaskFailedError as failed:
        if ((failed.body or {}).get("response") or {}).get("canceled") and not failed.failures:
            # Cancelled (by hand, or an interrupted run's cleanup): what it copied stays
            # (same _ids); the verification finds the rest and copies it again.
            return
        raise ApiError(f"{failed}; {source} is left as it was", body=failed.body) from failed


def copy_into_days(client: ApiClient, source: str, door: str) -> None:
    """Copy every document of `source` into <door>-<day> (same _id), verified by _id."""
    ids: Optional[list[str]] = None
    # A copy an interrupted run left running is followed, not started a second time.
    running = running_tasks(client, REINDEX_ACTION, _description(source, door))
    for attempt in range(1, MOVE_PASSES + 1):
        task = running[0] if (attempt == 1 and running) else _start_copy(client, source, door, ids)
        if task is not None:
            _wait(client, task, source)
        missing = missing_ids(client, source, door)
        if not missing:
            return
        # A few stragglers are copied by _id; after a copy cut short, everything again (same _ids).
        ids = missing if len(missing) <= VERIFY_BATCH else None
    raise ApiError(f"copying {source} into its daily indices left {len(missing)} document(s) behind, e.g. {missing[:3]}; {source} is left as it was")


def move_into_days(client: ApiClient, source: str, door: str) -> int:
    """Copy `source` into the daily indices of `door`, then delete it. Returns its count."""
    # The same cluster and credentials, a longer bound.
    slow = dataclasses.replace(client, total_timeout_s=MOVE_TIMEOUT_S)
    _refresh(slow, source)
    count = int((slow.request("GET", f"{source}/_count") or {}).get("count", 0))
    # ISM must not delete it (whole) while it is being moved: it leaves its policy.
    slow.request("POST", f"_plugins/_ism/remove/{source}", missing_ok=True, ok=(200, 400, 405), idempotent=True)
    if count:
        copy_into_days(slow, source, door)
        _say(f"moved {count} document(s) of {source} into the daily indices {_names.day_pattern(door)}")
    slow.request("DELETE", source, missing_ok=True)
    return count
