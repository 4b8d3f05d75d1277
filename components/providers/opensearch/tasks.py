"""Long server-side work (`_reindex`, `_update_by_query`, ...) run as an OpenSearch task.

The request that starts the work is sent once (`wait_for_completion=false`; it answers at
once with the task's id), and only the polls of `GET _tasks/<id>` are resent: a copy that
outlasts a read timeout is waited for, never started again. OpenSearch keeps a finished
task's result (in its `.tasks` index), so a poll after completion still answers.
"""

from __future__ import annotations

import time
from typing import Any, Optional

from components.providers.http_client import ApiClient, ApiError, OutcomeUnknownError, reason_of

# Pause between two polls of a running task.
TASK_POLL_S = 0.5


class TaskFailedError(ApiError):
    """A task that ended with an error or with per-item failures; `failures` lists them."""

    def __init__(self, message: str, *, task_id: str, failures: list, body: Any):
        super().__init__(message, body=body, method="GET", url=f"_tasks/{task_id}")
        self.task_id = task_id
        self.failures = failures


def start_task(client: ApiClient, path: str, *, json_body: Any = None, params: Optional[dict] = None) -> str:
    """POST path?wait_for_completion=false once; return the id of the task it started.

    A lost answer raises OutcomeUnknownError: the work may be running; look for it with
    running_tasks before starting it again.
    """
    answer = client.request("POST", path, json_body=json_body, params={**(params or {}), "wait_for_completion": "false"})
    task_id = answer.get("task") if isinstance(answer, dict) else None
    if not task_id:
        raise ApiError(f"POST {client.url(path)} started no task: {reason_of(answer)}", method="POST", url=client.url(path))
    return str(task_id)


def _describe_failure(failure: Any) -> str:
    if not isinstance(failure, dict):
        return str(failure)[:300]
    cause = failure.get("cause") or failure.get("reason") or {}
    if isinstance(cause, dict):
        cause = f"{cause.get('type', 'error')}: {cause.get('reason', '')}"
    where = failure.get("id") or failure.get("shard") or failure.get("index") or "?"
    return f"{where}: {cause}"


def wait_for_task(client: ApiClient, task_id: str, *, timeout_s: float, what: str, poll_s: float = TASK_POLL_S) -> dict:
    """Poll GET _tasks/<task_id> until the task completes; return its `response`.

    Raises TaskFailedError naming the task, its error or its first failures when it ended
    badly, and ApiError when it is still running after timeout_s (the task keeps running;
    the message gives its id and progress).
    """
    deadline = time.monotonic() + timeout_s
    while True:
        body = client.request("GET", f"_tasks/{task_id}") or {}
        if body.get("completed"):
            break
        if time.monotonic() >= deadline:
            status = (body.get("task") or {}).get("status") or {}
            raise ApiError(
                f"{what}: task {task_id} still running after {timeout_s:g}s "
                f"(progress: {status.get('created', 0) + status.get('updated', 0)} of {status.get('total', '?')}); "
                f"it goes on in OpenSearch: follow it with GET _tasks/{task_id} or cancel it with "
                f"POST _tasks/{task_id}/_cancel",
                method="GET",
                url=client.url(f"_tasks/{task_id}"),
            )
        time.sleep(max(0.0, min(poll_s, deadline - time.monotonic())))
    response = body.get("response") or {}
    if body.get("error"):
        raise TaskFailedError(
            f"{what}: task {task_id} failed: {reason_of({'error': body['error']})}",
            task_id=task_id, failures=[body["error"]], body=body,
        )
    failures = list(response.get("failures") or [])
    if failures or response.get("canceled"):
        shown = "; ".join(_describe_failure(f) for f in failures[:3])
        more = f" (and {len(failures) - 3} more)" if len(failures) > 3 else ""
        cancelled = f"cancelled: {response['canceled']}" if response.get("canceled") else ""
        raise TaskFailedError(
            f"{what}: task {task_id} ended with {len(failures)} failure(s): "
            f"{'; '.join(p for p in (shown + more, cancelled) if p)}",
            task_id=task_id, failures=failures, body=body,
        )
    return response


def run_task(
    client: ApiClient, path: str, *, json_body: Any = None, params: Optional[dict] = None,
    timeout_s: float, what: str, poll_s: float = TASK_POLL_S, description: Optional[str] = None,
) -> dict:
    """Start path as a task (sent once) and wait for it; return the task's response.

    description: the task's description as OpenSearch words it (a reindex's is
    "reindex from [source] to [dest]"). When the start's answer is lost, the one running
    task so described is the one that start made: it is waited for instead of a second start.
    """
    try:
        task_id = start_task(client, path, json_body=json_body, params=params)
    except OutcomeUnknownError as lost:
        running = running_tasks(client, "*", description) if description else []
        if len(running) != 1:
            found = f"{len(running)} running tasks are described {description!r}" if description else "no description to look for"
            raise OutcomeUnknownError(
                f"{what}: {lost}; {found}, so the task it may have started cannot be told apart: check "
                f"GET _tasks?detailed=true and the destination before trying again",
                method=lost.method, url=lost.url,
            ) from lost
        task_id = running[0]
    return wait_for_task(client, task_id, timeout_s=timeout_s, what=what, poll_s=poll_s)


def running_tasks(client: ApiClient, actions: str, description: Optional[str] = None) -> list[str]:
    """Ids of running tasks whose action matches `actions` (e.g. "*reindex"), and whose
    description is exactly `description` when given (a reindex's reads
    "reindex from [source] to [dest]")."""
    body = client.request("GET", "_tasks", params={"actions": actions, "detailed": "true"}) or {}
    found = []
    for node in (body.get("nodes") or {}).values():
        for task_id, task in (node.get("tasks") or {}).items():
            if task.get("parent_task_id"):
                continue  # a slice of a parallel task: its parent is the one to follow
            if description is None or task.get("description") == description:
                found.append(task_id)
    return sorted(found)
