"""Long server-side work as an OpenSearch task (components/providers/opensearch/tasks.py),
against the real OpenSearch node: a copy that outlasts the client's read timeout runs
exactly once, counted by the copied documents' version numbers (a second reindex over
the same ids rewrites each one: _version 2)."""

from __future__ import annotations

import json
import time

import pytest

from net import AnswerDroppingProxy
from opensearch_node import OpenSearchNode, wipe
from telemetry_samples import ingest_source_for, records_for, ss4o_log_document
from test_opensearch_mappings import install_log_index

from components.providers.http_client import ApiClient, GaveUpError, OutcomeUnknownError
from components.providers.opensearch import tasks

# The source is the real claude-code data: records written to its write name (templates,
# pipelines) land in its daily indices, which the copy reads; the copy matches no template.
WRITE_NAME, DEST = "claude-code", "tasks-copy-of-claude-code"
SOURCE = f"{WRITE_NAME}-*"
DOCS = 400
# The copy is throttled to last about DOCS / COPY_RATE = 2 s, four read timeouts.
COPY_RATE, BATCH = 200, 50
READ_TIMEOUT_S = 0.5


def _load_source(node: OpenSearchNode) -> None:
    install_log_index(node, WRITE_NAME)
    samples = records_for("claude-code")
    lines = []
    for seq in range(DOCS):
        record = samples[seq % len(samples)]
        record = {**record, "attributes": {**record["attributes"], "e2e_seq": seq}}
        doc = ss4o_log_document("claude-code", record, ingest_source=ingest_source_for("claude-code"))
        lines += [json.dumps({"index": {"_index": WRITE_NAME, "_id": f"seq-{seq}"}}), json.dumps(doc)]
    answer = node.call(
        "POST", "_bulk", data=("\n".join(lines) + "\n").encode(),
        headers={"Content-Type": "application/x-ndjson"}, params={"refresh": "true"},
    ).json()
    assert not answer["errors"], [item for item in answer["items"] if item["index"].get("error")][:1]


def _reindex_body() -> dict:
    return {"source": {"index": SOURCE, "size": BATCH}, "dest": {"index": DEST}}


def _copy_versions(node: OpenSearchNode) -> dict[str, int]:
    node.call("POST", f"{DEST}/_refresh")
    hits = node.call("GET", f"{DEST}/_search", params={"size": DOCS * 2, "version": "true", "_source": "false"}).json()
    return {hit["_id"]: hit["_version"] for hit in hits["hits"]["hits"]}


def _no_reindex_running(node: OpenSearchNode, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while tasks.running_tasks(ApiClient(node.url), "*reindex"):
        assert time.monotonic() < deadline, "a reindex is still running"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def loaded(opensearch):
    """The source index, made and filled once for the module (no test writes to it)."""
    wipe(opensearch)
    _load_source(opensearch)
    return opensearch


@pytest.fixture()
def source(loaded):
    loaded.call("DELETE", DEST)
    yield loaded
    _no_reindex_running(loaded)


def test_a_copy_longer_than_the_read_timeout_runs_once_as_a_task(source):
    client = ApiClient(source.url, total_timeout_s=30, request_timeout_s=READ_TIMEOUT_S)
    task_id = tasks.start_task(client, "_reindex", json_body=_reindex_body(), params={"requests_per_second": COPY_RATE})
    description = f"reindex from [{SOURCE}] to [{DEST}]"
    assert tasks.running_tasks(client, "*reindex", description) == [task_id]
    response = tasks.wait_for_task(client, task_id, timeout_s=60, what=f"copying {SOURCE}")
    assert response["took"] > 2 * READ_TIMEOUT_S * 1000  # the copy outlasted the read timeout (server's own ms)
    assert response["total"] == DOCS and response["created"] == DOCS and response["updated"] == 0
    versions = _copy_versions(source)
    assert len(versions) == DOCS and set(versions.values()) == {1}
    assert tasks.running_tasks(client, "*reindex") == []


def test_control_the_same_copy_resent_after_each_read_timeout_runs_several_times(source):
    # The old client: POST _reindex waiting for completion, resent after every read timeout.
    client = ApiClient(source.url, total_timeout_s=4.5, request_timeout_s=READ_TIMEOUT_S)
    with pytest.raises(GaveUpError):
        client.request(
            "POST", "_reindex", json_body=_reindex_body(),
            params={"wait_for_completion": "true", "requests_per_second": COPY_RATE}, idempotent=True,
        )
    _no_reindex_running(source)
    # Each copy rewrites every id: a version above 1 counts the copies the resends started
    # (how many still ran at one instant depends on the machine's speed, so it is not asserted).
    versions = _copy_versions(source)
    assert len(versions) == DOCS and max(versions.values()) >= 2, sorted(set(versions.values()))


def test_the_start_of_a_task_is_sent_once(source):
    # Without wait_for_completion=false the answer waits for the copy and the read times out:
    # the client does not send it again, and says the outcome is unknown.
    client = ApiClient(source.url, total_timeout_s=30, request_timeout_s=READ_TIMEOUT_S)
    with pytest.raises(OutcomeUnknownError, match="outcome unknown"):
        client.request("POST", "_reindex", json_body=_reindex_body(),
                       params={"wait_for_completion": "true", "requests_per_second": COPY_RATE})
    assert len(tasks.running_tasks(client, "*reindex")) == 1
    _no_reindex_running(source)
    assert set(_copy_versions(source).values()) == {1}


def test_a_task_whose_documents_fail_raises_with_their_reasons(source):
    source.call("PUT", DEST, {"mappings": {"properties": {"attributes": {"properties": {"e2e_seq": {"type": "boolean"}}}}}})
    client = ApiClient(source.url, total_timeout_s=30)
    with pytest.raises(tasks.TaskFailedError) as err:
        tasks.run_task(client, "_reindex", json_body=_reindex_body(), timeout_s=60, what=f"copying {SOURCE} to {DEST}")
    assert err.value.failures and f"copying {SOURCE} to {DEST}: task " in str(err.value)
    assert "failure(s)" in str(err.value) and "mapper_parsing_exception" in str(err.value)


def test_a_task_start_whose_answer_is_lost_is_followed_not_started_again(source):
    proxy = AnswerDroppingProxy(source.url, "POST", "/_reindex")
    try:
        client = ApiClient(proxy.url, total_timeout_s=30, request_timeout_s=READ_TIMEOUT_S)
        response = tasks.run_task(
            client, "_reindex", json_body=_reindex_body(), params={"requests_per_second": COPY_RATE},
            timeout_s=60, what=f"copying {SOURCE}", description=f"reindex from [{SOURCE}] to [{DEST}]",
        )
    finally:
        proxy.close()
    assert proxy.dropped == 1 and proxy.forwarded[("POST", "/_reindex")] == 1
    assert response["total"] == DOCS and response["created"] == DOCS
    assert set(_copy_versions(source).values()) == {1}
