"""Rebuilding an index whose field types must change, every document kept.

OpenSearch cannot change a mapped field's type in place; an adopted index (made by
`clawker monitor`, say) that maps a field otherwise than our templates is copied
out, made again from its templates, and copied back (see rebuild_index).
"""

from __future__ import annotations

from components.providers.http_client import ApiClient, ApiError, reason_of
from components.providers.kit import say as _say
from components.providers.opensearch import base as _base

# Index settings the stack decides even when it declares none (then: unset).
OWNED_INDEX_SETTINGS = ("default_pipeline", "final_pipeline")

REBUILD_SUFFIX = "-clawker-rebuild"
# Copying an index's documents may take a while on a big index.
REBUILD_TIMEOUT_S = 1800.0


def rebuild_index_name(index: str) -> str:
    return f"{index}{REBUILD_SUFFIX}"


def _count(client: ApiClient, index: str) -> int:
    client.request("POST", f"{index}/_refresh")
    return int((client.request("GET", f"{index}/_count") or {}).get("count", 0))


def _reindex(client: ApiClient, source: str, dest: str) -> None:
    slow = _base.client_for(client.base_url, REBUILD_TIMEOUT_S)
    # A document that does not fit the destination's mapping makes _reindex answer 400 with
    # the per-document failures in the body.
    answer = slow.request(
        "POST", "_reindex", params={"wait_for_completion": "true", "refresh": "true"},
        json_body={"source": {"index": source}, "dest": {"index": dest}}, ok=(200, 400),
    ) or {}
    if not isinstance(answer, dict) or (answer.get("error") and not answer.get("failures")):
        raise ApiError(f"copying {source} to {dest} failed: {reason_of(answer)}; {source} is left as it was")
    if answer.get("failures"):
        first = answer["failures"][0]
        cause = first.get("cause", {})
        raise ApiError(
            f"copying {source} to {dest} failed for {len(answer['failures'])} document(s), e.g. "
            f"{first.get('id')}: {cause.get('type')}: {cause.get('reason')}; {source} is left as it was"
        )


def rebuild_index(client: ApiClient, name: str, mappings: dict, *, resume: bool = False) -> None:
    """Give an existing index the declared field types, keeping every document.

    1. copy its documents (same _id) into <name>-clawker-rebuild, mapped as declared;
    2. delete it and create it again (its index template and ISM template apply);
    3. copy them back with its ingest pipelines off (they ran when the documents came in);
    4. delete the copy. A run that stops in between resumes from the copy (same _ids:
       nothing is stored twice). A document whose value fits no declared type stops the
       rebuild at step 1 with OpenSearch's reason, before anything is deleted.
    """
    copy_name = rebuild_index_name(name)
    if not resume:
        before = _count(client, name)
        client.request("DELETE", copy_name, missing_ok=True)
        client.request(
            "PUT", copy_name,
            json_body={"settings": {"index": {"number_of_shards": 1, "number_of_replicas": 0}}, "mappings": mappings},
        )
        try:
            _reindex(client, name, copy_name)
            copied = _count(client, copy_name)
            if copied != before:
                raise ApiError(f"copying {name} to {copy_name} kept {copied} of {before} documents; {name} is left as it was")
        except ApiError:
            client.request("DELETE", copy_name, missing_ok=True)  # nothing was deleted: no copy to resume from
            raise
        _say(f"index {name} maps fields with types our template cannot change in place: rebuilding it ({before} documents kept)")
        client.request("DELETE", name)
    else:
        before = _count(client, copy_name)
    if client.request("GET", name, missing_ok=True) is None:
        # Its templates apply (settings, ISM policy); the declared mapping wins over theirs.
        client.request("PUT", name, json_body={"mappings": mappings})
    live = (client.request("GET", f"{name}/_settings") or {}).get(name, {}).get("settings", {}).get("index", {})
    off = {key: None for key in OWNED_INDEX_SETTINGS if live.get(key)}
    if off:
        client.request("PUT", f"{name}/_settings", json_body={"index": off})
    _reindex(client, copy_name, name)
    if off:
        client.request("PUT", f"{name}/_settings", json_body={"index": {k: live[k] for k in off}})
    restored = _count(client, name)
    if restored < before:
        raise ApiError(f"index {name}: {restored} of {before} documents copied back; the copy {copy_name} is kept")
    client.request("DELETE", copy_name)
