"""What the Dashboards providers share: the client, readiness, input checks and diffs.

Input names are snake_case, as on the OpenSearch side (`ready_timeout_s`,
`object_id`, `workspace_id`, `external_references`); the documents under
`attributes` and `settings` keep Dashboards' own spelling. Stacks written by
7636bdc and earlier hold camelCase names in their state, and a resource whose
diff finds nothing keeps its old outputs, so every provider method reads its
property bags through `current_names` first (`DashboardsProvider` does it): such
a stack previews no changes, and its state takes the new names at the next
update or refresh.

Every request carries `osd-xsrf` (Dashboards rejects writes without it) and
waits first for /api/status; workspace routes answer 200 with
{success: false, error} on failure, which `_workspace_result` turns into an error.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any, Iterable
from urllib.parse import quote

from pulumi.dynamic import CheckFailure, DiffResult, Resource, ResourceProvider

from components import names
from components.providers import detailed_diff
from components.providers.diffing import changed_paths, changed_segments
from components.providers.http_client import CALL_TIMEOUT_S as _CALL_TIMEOUT_S
from components.providers.http_client import ApiClient, ProviderError
from components.providers.kit import contains_unknown as _is_unknown, formerly_anonymous, plain, refreshed_inputs, url_problem
from components.providers.text_documents import TextMembers

# Every request to Dashboards carries this header; Dashboards rejects writes without it.
XSRF_HEADERS = {"osd-xsrf": "true"}
# Upper bound for Dashboards to answer /api/status after its container starts.
DEFAULT_READY_TIMEOUT_S = 600
# Upper bound for one API call including retries of 5xx and connection errors.
CALL_TIMEOUT_S = _CALL_TIMEOUT_S
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]*$")
# Workspace name limit in Dashboards' workspace routes (MAX_WORKSPACE_NAME_LENGTH).
MAX_WORKSPACE_NAME_LENGTH = 40


# Input names as 7636bdc and earlier wrote them into state -> today's names.
LEGACY_NAMES = {
    "readyTimeoutSeconds": "ready_timeout_s",
    "objectId": "object_id",
    "workspaceId": "workspace_id",
    "externalReferences": "external_references",
}
_PROTOCOL = ("check", "diff", "create", "read", "update", "delete")


def current_names(props: Any) -> Any:
    """A property bag with legacy input names spelled as today (today's spelling wins)."""
    if not isinstance(props, dict):
        return props
    out = {k: v for k, v in props.items() if k not in LEGACY_NAMES}
    for old, new in LEGACY_NAMES.items():
        if old in props and new not in out:
            out[new] = props[old]
    return out


def _reading_current_names(method):
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        return method(
            self, *(current_names(a) for a in args), **{k: current_names(v) for k, v in kwargs.items()}
        )

    return wrapper


class DashboardsProvider(TextMembers, ResourceProvider):
    """What every kind shares: its diff, and reading legacy input names.

    A kind names the inputs its diff compares (DIFF_KEYS), those whose change replaces
    the object (REPLACE_KEYS), how a property bag is normalised first (`_normalised`) and
    the collections of documents the engine gets as one JSON text per document
    (TEXT_MEMBERS, text_documents.py). Every protocol method, here or in a kind, sees its
    property bags through `current_names`, those collections decoded.
    """

    DIFF_KEYS: tuple = ()
    REPLACE_KEYS: tuple = ()
    # Whether a diff names the changed paths to the engine (detailed_diff.py), read in the
    # raw inputs (a kind whose normalising reshapes them maps each path back: `_as_input_path`).
    DETAILED: bool = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in _PROTOCOL:
            if name in cls.__dict__:
                setattr(cls, name, _reading_current_names(cls.__dict__[name]))

    def _normalised(self, props: dict) -> dict:
        return props

    @_reading_current_names
    def diff(self, _id: str, olds: dict, news: dict) -> DiffResult:
        # Equal as stored means equal once normalised: a no-op preview skips normalising
        # (the bundle's 88 objects twice took 70 ms, on the critical path of every preview).
        if all(olds.get(k) == news.get(k) for k in self.DIFF_KEYS):
            return DiffResult(changes=False, replaces=[], delete_before_replace=False)
        old, new = self._normalised(olds), self._normalised(news)
        result = _diff_result(old, new, self.DIFF_KEYS, self.REPLACE_KEYS)
        if self.DETAILED and result.changes:
            changes = [self._as_input_path(segments, kind) for segments, kind in detailed_changes(old, new, self.DIFF_KEYS)]
            detailed_diff.offer(detailed_diff.kinds_of(changes, self.REPLACE_KEYS))
        return result

    def _as_input_path(self, segments: tuple, kind: str) -> tuple[tuple, str]:
        """A changed path of the normalised inputs as a path of the raw inputs (where the engine reads it):
        inside a document carried as JSON text, the document (`objects["explore/<id>"]`), whose
        changed fields `pulumi preview --diff` then prints itself (text_documents.py)."""
        if len(segments) > 2 and segments[0] in self.TEXT_MEMBERS:
            return segments[:2], "update"
        return segments, kind


class DashboardsResource(Resource):
    """What every Dashboards resource passes: the API's URL, the bound on waiting for it,
    and the alias to the anonymous dynamic type it had until 7636bdc."""

    def __init__(self, provider, name, url, ready_timeout_s, props: dict, opts) -> None:
        inputs = {"url": url, "ready_timeout_s": ready_timeout_s, **props}
        super().__init__(provider, name, inputs, formerly_anonymous(opts))


class DashboardsError(ProviderError):
    """A Dashboards call that did not do what we asked; the message says what and why."""


def _client(props: dict) -> ApiClient:
    return ApiClient(str(props["url"]), headers=dict(XSRF_HEADERS), total_timeout_s=CALL_TIMEOUT_S)


def _status_ready(status: int, body: Any) -> bool:
    """/api/status answers 503 until Dashboards is up; a red overall state is not ready either."""
    if status != 200 or not isinstance(body, dict):
        return False
    overall = (body.get("status") or {}).get("overall") or {}
    state = overall.get("state") or overall.get("level")
    return state not in ("red", "critical", "unavailable")


def wait_ready(client: ApiClient, timeout_s: float) -> None:
    client.wait_until(
        "/api/status",
        _status_ready,
        timeout_s=timeout_s,
        what=f"OpenSearch Dashboards (check `docker logs {names.DASHBOARDS}`)",
    )


def _ready_client(props: dict) -> ApiClient:
    client = _client(props)
    wait_ready(client, float(props.get("ready_timeout_s") or DEFAULT_READY_TIMEOUT_S))
    return client


def _q(value: str) -> str:
    return quote(str(value), safe="")


def _ws_prefix(workspace_id: str) -> str:
    return f"/w/{_q(workspace_id)}"


def _workspace_result(body: Any, what: str) -> Any:
    """Workspace routes answer 200 with {success:false, error} on failure: treat it as one."""
    if not isinstance(body, dict) or "success" not in body:
        raise DashboardsError(f"{what}: unexpected answer from Dashboards: {json.dumps(body)[:500]}")
    if not body["success"]:
        raise DashboardsError(f"{what} failed: {body.get('error') or 'no reason given'}")
    return body.get("result")


def _is_not_found_failure(body: Any) -> bool:
    return (
        isinstance(body, dict)
        and body.get("success") is False
        and "not found" in str(body.get("error", "")).lower()
    )


# --------------------------------------------------------------------------- shared provider logic


def _check_common(news: dict, failures: list[CheckFailure]) -> None:
    problem = url_problem(news.get("url"), "an http(s) URL of Dashboards' API")
    if problem:
        failures.append(CheckFailure("url", problem))
    timeout = news.get("ready_timeout_s", DEFAULT_READY_TIMEOUT_S)
    if not _is_unknown(timeout) and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 1 <= timeout <= 3600
    ):
        failures.append(CheckFailure("ready_timeout_s", f"must be a number of seconds from 1 to 3600, got {timeout!r}"))


def _check_id(news: dict, key: str, failures: list[CheckFailure]) -> None:
    value = news.get(key)
    if _is_unknown(value):
        return
    if not isinstance(value, str) or not _ID_RE.match(value):
        failures.append(CheckFailure(key, f"must be a saved-object id (letters, digits, _ . : -), got {value!r}"))


def _check_workspace_id(news: dict, failures: list[CheckFailure]) -> None:
    ws = news.get("workspace_id")
    if not _is_unknown(ws) and (not isinstance(ws, str) or not ws):
        failures.append(CheckFailure("workspace_id", "must be the workspace's id"))


def _check_references(where: str, refs: Any, failures: list[CheckFailure], prop: str) -> None:
    if not isinstance(refs, list):
        failures.append(CheckFailure(prop, f"{where}: references must be a list"))
        return
    for i, ref in enumerate(refs):
        if not isinstance(ref, dict) or not all(isinstance(ref.get(k), str) and ref.get(k) for k in ("name", "type", "id")):
            failures.append(CheckFailure(prop, f"{where}: references[{i}] needs non-empty name, type and id"))


def _diff_result(olds: dict, news: dict, keys: Iterable[str], replace_keys: Iterable[str] = ()) -> DiffResult:
    paths = document_changes(olds, news, keys)
    replaces = sorted({p.split(".")[0].split("[")[0] for p in paths} & set(replace_keys))
    return DiffResult(changes=bool(paths), replaces=replaces, delete_before_replace=False)


def document_changes(olds: dict, news: dict, keys: Iterable[str]) -> list[str]:
    """Dotted paths that differ between the normalised old state and the new inputs."""
    paths: list[str] = []
    for key in keys:
        new = news.get(key)
        if _is_unknown(new):
            paths.append(key)
            continue
        paths.extend(changed_paths(plain(olds.get(key)), plain(new), key))
    return paths



def detailed_changes(olds: dict, news: dict, keys: Iterable[str]) -> list[tuple[tuple, str]]:
    """document_changes as (segments, add/delete/update) for the engine's detailed diff."""
    out: list[tuple[tuple, str]] = []
    for key in keys:
        new = news.get(key)
        if _is_unknown(new):
            out.append(((key,), "update"))
        elif key not in olds and key in news:
            out.append(((key,), "add"))
        else:
            out.extend(changed_segments(plain(olds.get(key)), plain(new), (key,)))
    return out


def _inputs_from(props: dict, outs: dict) -> dict:
    """Inputs to record after a refresh: the live document, so the next preview shows drift by field."""
    return refreshed_inputs(props, outs)


def _outs_base(props: dict) -> dict:
    """The outputs every Dashboards resource starts from."""
    return {"url": props["url"], "ready_timeout_s": props.get("ready_timeout_s", DEFAULT_READY_TIMEOUT_S)}
