#!/usr/bin/env python3
"""CONTRACT DOUBLES of two OpenSearch 3.6 plugin REST APIs (test tooling only, never the product).

The index-management (ISM) and sql (direct-query datasources) plugins are on no
registry the test machines reach, so tests put this reverse proxy in front of a
REAL OpenSearch. It answers the plugin routes the stack uses; every other request
passes through to OpenSearch unchanged. Its own state lives in two indices of that
OpenSearch (as the plugins keep theirs in `.opendistro-ism-config` and
`.ql-datasources`), so it survives a restart of the double and vanishes only with
the data.

Written from the plugins' own code (read, not copied):

opensearch-project/index-management (commit 5078c9a6b960b682e28103b8f8498a3d3ee6d0cd), under
src/main/kotlin/org/opensearch/indexmanagement/indexstatemanagement/ unless a path says otherwise:
  resthandler/RestIndexPolicyAction.kt, RestGetPolicyAction.kt, RestDeletePolicyAction.kt,
  RestAddPolicyAction.kt, RestChangePolicyAction.kt, RestRemovePolicyAction.kt,
  RestExplainAction.kt                                  routes, parameters
  transport/action/indexpolicy/TransportIndexPolicyAction.kt
        ism_template validation; overlap with another policy's template at the same
        priority refused ("... please use a different priority than N"); a PUT without
        if_seq_no/if_primary_term is an op_type=create write (409 on an existing policy),
        with them a conditional write (409 when stale)
  transport/action/indexpolicy/IndexPolicyResponse.kt, getpolicy/GetPolicyResponse.kt,
  getpolicy/GetPoliciesResponse.kt, getpolicy/TransportGetPolicyAction.kt,
  deletepolicy/TransportDeletePolicyAction.kt           response shapes and messages
  transport/action/addpolicy/TransportAddPolicyAction.kt,
  changepolicy/TransportChangePolicyAction.kt, removepolicy/TransportRemovePolicyAction.kt,
  ISMStatusResponse.kt, util/RestHandlerUtils.kt        {updated_indices, failures, failed_indices}
  transport/action/explain/TransportExplainAction.kt, ExplainResponse.kt
  model/Policy.kt, State.kt, Transition.kt, ISMTemplate.kt, ChangePolicy.kt,
  ISMActionsParser.kt                                   strict parsing ("Invalid field: [x] found in Policy.")
  ISMTemplateService.kt                                 validateFormat, overlapping, self-conflicts
  ManagedIndexCoordinator.kt                            an index is auto-managed when it is CREATED
        after a matching ism_template's last_updated_time (highest priority wins);
        an index that predates the template is never attached. findIndexLookupName: a
        hidden index (index.hidden, or a name starting with '.') is never auto-managed
        unless it backs a data stream, which is matched by the STREAM's name; an index
        whose auto_manage is false (set by remove) is skipped; the job of a deleted index
        is dropped (clusterChanged, indicesDeleted)
  util/ManagedIndexUtils.kt (shouldChangePolicy)        change_policy is only recorded; the
        managed index switches at its next job run (job_interval minutes)
  THE RUNNER (what a job run does, one step per run):
  ManagedIndexRunner.kt (runManagedIndexConfig, initManagedIndex,
        getInitializedManagedIndexMetaData, initChangePolicy, disableManagedIndexConfig)
        first run initialises the metadata in the default state; a completed or failed
        policy disables the job; a change_policy applies when the next action is a transition
  model/Policy.kt (getStateToExecute), model/State.kt (getActionToExecute),
  action/TransitionsAction.kt, action/DeleteAction.kt,
  spi/src/main/kotlin/org.opensearch.indexmanagement.spi/indexstatemanagement/Action.kt
        (getUpdatedActionMetadata), .../spi/indexstatemanagement/Step.kt (getStepStartTime)
  util/ManagedIndexUtils.kt (evaluateConditions, getStartingManagedIndexMetaData,
        getCompletedManagedIndexMetaData, isFailed, getUpdatedStateMetaData)
  step/transition/AttemptTransitionStep.kt              first transition whose condition holds;
        min_index_age against the CACHED index_creation_date; messages
        "Evaluating transition conditions [index=x]" / "Transitioning to s [index=x]"
  step/delete/AttemptDeleteStep.kt                       DELETE the index; "Successfully deleted
        index [index=x]"; a failure is retried (retry.count, default 3) then fails the index
  .../spi/indexstatemanagement/model/ManagedIndexMetaData.kt, StateMetaData.kt,
  ActionMetaData.kt, StepMetaData.kt, PolicyRetryInfoMetaData.kt
        the explain API's fields (only the meaningful ones: transition_to replaces
        state/action/step; a completed policy shows policy_completed only)
  transport/action/removepolicy/TransportRemovePolicyAction.kt
        strict expansion of the target (wildcards: open and closed, not hidden); a closed
        index fails "This index is closed"; one without a job fails "This index does not
        have a policy to remove" and is left untouched; only removed indices get
        auto_manage=false

opensearch-project/sql (commit a54acb44094fa6d36982ad3882cd54375325e668):
  datasources/.../rest/RestDataSourceQueryAction.java  routes (POST create 201, PUT update,
        GET one/all, DELETE 204), error mapping (ErrorMessage.java: {status, error{type,
        reason, details}}; DataSourceNotFoundException 404; client errors 400)
  datasources/.../utils/XContentParserUtils.java        strict body ("Unknown field: x")
  core/.../datasource/model/DataSourceMetadata.java, DataSourceType.java
        name pattern, required name/connector, defaults (resultIndex, status ACTIVE)
  datasources/.../service/DataSourceServiceImpl.java    the datasource is built (validated)
        before it is stored, on create and on update
  prometheus/.../storage/PrometheusStorageFactory.java, datasources/.../utils/
  DatasourceValidationUtils.java, common/.../URIValidationUtils.java
        prometheus.uri required; its host must RESOLVE (InetAddress.getByName), else
        "Invalid URI in prometheus properties: ..." (no connection is attempted)
  datasources/.../storage/OpenSearchDataSourceMetadataStorage.java, encryptor/EncryptorImpl.java
        doc id = name, op_type create ("A datasource already exists with name: x");
        credentials (*auth.username/password/access_key/secret_key) are encrypted with
        plugins.query.datasources.encryption.masterkey: WITHOUT that key a datasource WITH
        credentials is refused ("Master key is a required config ..."); one without
        credentials is accepted (the plugin encrypts nothing then)
  direct-query/.../rest/RestDirectQueryManagementAction.java,
  .../transport/format/DirectQueryRequestConverter.java, direct-query-core/.../validator/
  DirectQueryRequestValidator.java, .../prometheus/query/PrometheusQueryHandler.java,
  .../prometheus/client/PrometheusClientImpl.java, .../ExecuteDirectQueryActionResponse.java
        POST /_plugins/_directquery/_query/{dataSources}: the PromQL call Dashboards' explore
        panels make; forwarded to Prometheus /api/v1/query_range or /api/v1/query

ISM's clock is the double's own (DoubleClock): tests advance it through double-only
routes, POST /_double/ism/clock {"advance": "1d"} and POST /_double/ism/run; their
test-facing API is tests/plugin_doubles/ism_clock.py. Index age is measured on it.

Known simplifications (TESTING.md "Known gaps"): the runner executes the transition and
delete actions (what the stack's policies use) and the min_index_age, min_doc_count and
min_state_age conditions; any other action or condition fails the managed index with
an info message saying the double does not run it (never silently passes). Retry
backoff, action timeouts, job jitter and the ISM history index are not modelled;
security/roles are absent (as in the stack, which disables security); only the routes
above exist.

Python 3.11 standard library only.
Usage: server.py --port P --upstream http://127.0.0.1:Q [--host 0.0.0.0]
  In front of a SECURED cluster (the team e2e, tests/e2e/team_fixture.py): --upstream https://...
  --upstream-ca CA.pem --tls-cert/--tls-key (the double serves HTTPS), the double's own
  credential in PLUGIN_DOUBLES_UPSTREAM_USER / _PASSWORD, --no-jobs on all doubles but one.
Environment: PLUGIN_DOUBLES_MASTER_KEY (the datasource master key setting),
  PLUGIN_DOUBLES_PROMETHEUS_CA (a CA the direct query trusts beyond the system's, see _prometheus),
  PLUGIN_DOUBLES_JOB_INTERVAL_MIN (ISM job interval, minutes; default 5 like ISM),
  PLUGIN_DOUBLES_SWEEP_S (how often new indices are looked at; default 1).
"""

from __future__ import annotations

import argparse
import base64
import copy
import fnmatch
import http.client
import json
import os
import re
import socket
import ssl
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional

ISM_INDEX = ".plugin-doubles-ism-config"
DS_INDEX = ".plugin-doubles-ql-datasources"
SCHEMA_VERSION = 30  # the _meta.schema_version of ISM's config index mapping
POLICY_PREFIXES = ("/_plugins/_ism", "/_opendistro/_ism")
ACTION_TYPES = {
    "alias", "allocation", "close", "delete", "force_merge", "index_priority", "notification",
    "open", "read_only", "read_write", "replica_count", "rollup", "rollover", "search_only",
    "shrink", "snapshot", "transform", "stop_replication", "convert_index_to_remote",
}
CONDITION_FIELDS = {
    "min_index_age": "time", "min_doc_count": "long", "min_size": "bytes", "cron": "cron",
    "min_rollover_age": "time", "no_alias": "bool", "min_state_age": "time",
}
DATASOURCE_TYPES = {"PROMETHEUS", "OPENSEARCH", "S3GLUE", "SECURITY_LAKE"}
DEFAULT_DATASOURCE = "@opensearch"  # DataSourceSchemaIdentifierNameResolver.DEFAULT_DATASOURCE_NAME
DATASOURCE_NAME = re.compile(r"[@*A-Za-z]+?[*a-zA-Z_\-0-9]*")
CREDENTIAL_SUFFIXES = ("auth.username", "auth.password", "auth.access_key", "auth.secret_key")
INVALID_FILENAME_CHARS = set('\\/?"<>| ,')
_TIME = re.compile(r"^(-?\d+)(nanos|micros|ms|s|m|h|d)$")
_BYTES = re.compile(r"^(\d+(?:\.\d+)?)(b|kb|mb|gb|tb|pb)?$", re.I)


_UNIT_MS = {"nanos": 1e-6, "micros": 1e-3, "ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


class DoubleClock:
    """ISM's notion of "now", which tests can move forward (never back).

    The real plugin reads Instant.now(); this double reads real time plus an offset that
    only POST /_double/ism/clock changes. Every ISM time the double keeps (a policy's and
    a template's last_updated_time, job schedules, state/action/step start times, and the
    index creation date ISM compares against) is on this clock, so advancing it by 30 days
    makes 30 days pass for ISM and for nothing else."""

    def __init__(self):
        self.offset_ms = 0

    def now(self) -> int:
        return int(time.time() * 1000) + self.offset_ms


CLOCK = DoubleClock()


def now_ms() -> int:
    return CLOCK.now()


def time_ms(value: str) -> int:
    """A TimeValue ("7d", "30m", "500ms") in milliseconds."""
    match = _TIME.match(str(value).strip())
    if not match:
        raise ValueError(f"not a time value: {value!r}")
    return int(int(match.group(1)) * _UNIT_MS[match.group(2)])


class Reply(Exception):
    """An HTTP answer raised from anywhere in a handler."""

    def __init__(self, status: int, body: Any, content_type: str = "application/json; charset=UTF-8"):
        super().__init__(status)
        self.status, self.body, self.content_type = status, body, content_type


def os_error(status: int, etype: str, reason: str, caused_by: Optional[tuple] = None) -> Reply:
    """OpenSearch's own error envelope (BytesRestResponse of an exception)."""
    err: dict = {"root_cause": [{"type": etype, "reason": reason}], "type": etype, "reason": reason}
    if caused_by:
        err["caused_by"] = {"type": caused_by[0], "reason": caused_by[1]}
    return Reply(status, {"error": err, "status": status})


def illegal(reason: str) -> Reply:
    return os_error(400, "illegal_argument_exception", reason)


def ism_illegal(reason: str) -> Reply:
    # IndexManagementException.wrap(IllegalArgumentException): 400, the message kept.
    return os_error(400, "index_management_exception", reason, ("illegal_argument_exception", reason))


def sql_error(status: int, exc_type: str, details: str) -> Reply:
    # ErrorMessage.java: the reason depends on the status only.
    reason = "Invalid Request" if status == 400 else "There was internal problem at backend"
    return Reply(status, {"status": status, "error": {"type": exc_type, "reason": reason, "details": details}})


# ------------------------------------------------------------------ upstream


class Upstream:
    """The real OpenSearch behind the double: plain HTTP (the stack's node, security off) or, in
    front of a secured cluster, HTTPS verified with `ca_file`. With `auth` (user, password) the
    double's OWN requests (its state, the ISM runner) go as that user, as the real plugins act
    with the cluster's own privileges; a passed-through request keeps the caller's headers, so the
    security plugin decides on it."""

    def __init__(self, url: str, auth: Optional[tuple] = None, ca_file: Optional[str] = None):
        parsed = urllib.parse.urlsplit(url)
        self.host, self.port = parsed.hostname, parsed.port or 9200
        self.context = ssl.create_default_context(cafile=ca_file) if parsed.scheme == "https" else None
        self.auth = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode() if auth else None

    @property
    def secured(self) -> bool:
        return self.auth is not None

    def raw(self, method: str, path: str, body: Optional[bytes] = None, headers: Optional[dict] = None, timeout=120, own: bool = False):
        headers = dict(headers or {})
        if own and self.auth:
            headers["Authorization"] = self.auth
        if self.context is not None:
            conn = http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=self.context)
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, resp.getheaders(), data
        finally:
            conn.close()

    def json(self, method: str, path: str, doc: Any = None, params: Optional[dict] = None):
        if params:
            path = f"{path}?{urllib.parse.urlencode(params)}"
        body = None if doc is None else json.dumps(doc).encode()
        status, _h, data = self.raw(method, path, body, {"Content-Type": "application/json"} if body else {}, own=True)
        try:
            answer = json.loads(data) if data else None
        except ValueError:
            answer = data.decode(errors="replace")
        return status, answer

    def ensure_index(self, name: str) -> None:
        status, _ = self.json("HEAD", f"/{name}")
        if status == 200:
            return
        mappings = {"dynamic": False, "properties": {"kind": {"type": "keyword"}, "index_uuid": {"type": "keyword"}}}
        body = {"settings": {"index": {"number_of_shards": 1, "number_of_replicas": 0, "hidden": True}}, "mappings": mappings}
        status, answer = self.json("PUT", f"/{name}", body)
        if status not in (200, 201) and "resource_already_exists_exception" not in json.dumps(answer):
            raise RuntimeError(f"plugin doubles: cannot create state index {name}: {status} {answer}")

    def indices(self, expression: str = "*", expand: str = "all") -> list[dict]:
        """[{index, uuid, creation, status}]; wildcards expand as `expand` says (all: open and
        closed, visible and hidden)."""
        path = f"/_cat/indices/{urllib.parse.quote(expression, safe=',*')}"
        status, answer = self.json("GET", path, params={"format": "json", "h": "index,uuid,creation.date,status", "expand_wildcards": expand})
        if status == 404:
            raise Reply(404, answer)
        if status != 200:
            raise Reply(status, answer)
        return [{"index": e["index"], "uuid": e["uuid"], "creation": int(e["creation.date"]), "status": e.get("status")} for e in answer]


# ------------------------------------------------------------------ parsing helpers


def parse_time(value: Any, field: str) -> None:
    if not isinstance(value, str) or not _TIME.match(value.strip()):
        raise illegal(f"failed to parse setting [{field}] with value [{value}] as a time value: unit is missing or unrecognized")


def parse_bytes(value: Any, field: str) -> None:
    if not isinstance(value, str) or not _BYTES.match(value.strip()):
        raise illegal(f"failed to parse setting [{field}] with value [{value}] as a size in bytes: unit is missing or unrecognized")


def check_index_patterns(patterns: list[str]) -> None:
    """ISMTemplateService.validateFormat."""
    errors, inclusion = [], False
    for pattern in patterns:
        excluded = pattern.startswith("-")
        inclusion = inclusion or not excluded
        body = pattern[1:] if excluded else pattern
        if excluded and not body:
            errors.append(f"index_pattern [{pattern}] must have content after '-' exclusion prefix")
        if "#" in body:
            errors.append(f"index_pattern [{pattern}] must not contain a '#'")
        if ":" in body:
            errors.append(f"index_pattern [{pattern}] must not contain a ':'")
        if body.startswith("_"):
            errors.append(f"index_pattern [{pattern}] must not start with '_'")
        if set(body) & INVALID_FILENAME_CHARS:
            errors.append(f"index_pattern [{pattern}] must not contain the following characters [ , \", *, \\, <, |, ,, >, /, ?]")
    if not inclusion:
        errors.append("index_patterns must contain at least one inclusion pattern (patterns cannot be all exclusions)")
    if errors:
        reason = "Validation Failed: " + "".join(f"{i + 1}: {e};" for i, e in enumerate(errors))
        raise os_error(400, "index_management_exception", reason, ("validation_exception", reason))


def _simple_match_any(name: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def overlapping(p1: list[str], p2: list[str]) -> bool:
    """ISMTemplateService.overlapping: do two sets of simple-match patterns share any name?

    ISM intersects Lucene automata. Patterns here use only '*' wildcards; two such
    patterns overlap when either matches the other with its '*' read literally, or when
    both have wildcards and their fixed prefixes and suffixes are compatible."""
    if not p1 or not p2:
        return False
    for a in p1:
        for b in p2:
            if _patterns_overlap(a, b):
                return True
    return False


def _patterns_overlap(a: str, b: str) -> bool:
    if "*" not in a:
        return fnmatch.fnmatchcase(a, b.replace("[", "[[]"))
    if "*" not in b:
        return fnmatch.fnmatchcase(b, a.replace("[", "[[]"))
    pa, sa = a.split("*", 1)[0], a.rsplit("*", 1)[1]
    pb, sb = b.split("*", 1)[0], b.rsplit("*", 1)[1]
    prefix_ok = pa.startswith(pb) or pb.startswith(pa)
    suffix_ok = sa.endswith(sb) or sb.endswith(sa)
    return prefix_ok and suffix_ok


def index_matches(name: str, patterns: list[str]) -> bool:
    """ManagedIndexCoordinator.matchesIndexPatterns: an inclusion matches, no exclusion does."""
    inc = [p for p in patterns if not p.startswith("-")]
    exc = [p[1:] for p in patterns if p.startswith("-")]
    return _simple_match_any(name, inc) and not _simple_match_any(name, exc)


def parse_action(raw: Any) -> dict:
    """ISMActionsParser.parse: one action type plus optional timeout / retry; defaults filled in."""
    if not isinstance(raw, dict):
        raise illegal("Failed to parse object: expecting token of type [START_OBJECT]")
    out: dict = {}
    kinds = []
    for key, value in raw.items():
        if key == "timeout":
            parse_time(value, "timeout")
            out["timeout"] = value
        elif key == "retry":
            if not isinstance(value, dict) or set(value) - {"count", "backoff", "delay"}:
                raise illegal(f"Invalid field in retry: {value}")
            out["retry"] = {"count": 3, "backoff": "exponential", "delay": "1m", **value}
        elif key in ACTION_TYPES:
            if not isinstance(value, dict):
                raise illegal(f"Failed to parse action [{key}]: expecting an object")
            kinds.append(key)
            out[key] = copy.deepcopy(value)
        else:
            raise illegal(f"Invalid field: [{key}] found in Actions.")
    if not kinds:
        raise illegal("Action inside state is null")
    out.setdefault("retry", {"count": 3, "backoff": "exponential", "delay": "1m"})
    return out


def parse_policy(doc: Any, policy_id: str) -> dict:
    """Policy.parse via parseWithType: {"policy": {...}}, strict about every field."""
    if not isinstance(doc, dict) or list(doc) != ["policy"] or not isinstance(doc["policy"], dict):
        raise illegal("Failed to parse object: expecting a single field [policy] holding the policy")
    raw = doc["policy"]
    known = {"schema_version", "last_updated_time", "policy_id", "description", "error_notification",
             "default_state", "states", "ism_template", "user"}
    for key in raw:
        if key not in known:
            raise illegal(f"Invalid field: [{key}] found in Policy.")
    if raw.get("description") is None:
        raise illegal("description is null")
    if raw.get("default_state") is None:
        raise illegal("default_state is null")
    states_raw = raw.get("states") or []
    if not isinstance(states_raw, list):
        raise illegal("Failed to parse states: expecting an array")
    states = []
    for state in states_raw:
        if not isinstance(state, dict):
            raise illegal("Failed to parse state: expecting an object")
        for key in state:
            if key not in ("name", "actions", "transitions"):
                raise illegal(f"Invalid field: [{key}] found in State.")
        if state.get("name") is None:
            raise illegal("State name is null")
        transitions = []
        for transition in state.get("transitions") or []:
            for key in transition:
                if key not in ("state_name", "conditions"):
                    raise illegal(f"Invalid field: [{key}] found in Transition.")
            if transition.get("state_name") is None:
                raise illegal("Transition state name is null")
            out_t = {"state_name": transition["state_name"]}
            conditions = transition.get("conditions")
            if conditions is not None:
                for key, value in conditions.items():
                    kind = CONDITION_FIELDS.get(key)
                    if kind is None:
                        raise illegal(f"Invalid field: [{key}] found in Conditions.")
                    if kind == "time":
                        parse_time(value, key)
                    elif kind == "bytes":
                        parse_bytes(value, key)
                    elif kind == "long" and (not isinstance(value, int) or value <= 0):
                        raise illegal("Transition doc count condition must be greater than 0")
                if len(conditions) > 1:
                    raise illegal("Cannot provide more than one Transition condition")
                out_t["conditions"] = copy.deepcopy(conditions)
            transitions.append(out_t)
        states.append({"name": state["name"], "actions": [parse_action(a) for a in state.get("actions") or []],
                       "transitions": transitions})
    names = [s["name"] for s in states]
    for state in states:
        for transition in state["transitions"]:
            if transition["state_name"] not in names:
                raise illegal(f"Policy contains a transition in state={state['name']} pointing to a nonexistent state={transition['state_name']}")
    if len(set(names)) != len(names):
        raise illegal("Policy cannot have duplicate state names")
    if not states:
        raise illegal("Policy must contain at least one State")
    if raw["default_state"] not in names:
        raise illegal("Policy must have a valid default state")
    templates = None
    tpl_raw = raw.get("ism_template")
    if tpl_raw is not None:
        tpl_list = tpl_raw if isinstance(tpl_raw, list) else [tpl_raw]
        templates = []
        for tpl in tpl_list:
            if not isinstance(tpl, dict):
                raise illegal("Failed to parse ism_template: expecting an object")
            for key in tpl:
                if key not in ("index_patterns", "priority", "last_updated_time"):
                    raise illegal(f"Invalid field: [{key}] found in ISMTemplate.")
            patterns = tpl.get("index_patterns", [])
            if not isinstance(patterns, list):
                raise illegal("Failed to parse index_patterns: expecting an array")
            priority = tpl.get("priority") or 0
            if not isinstance(priority, int) or isinstance(priority, bool):
                raise illegal(f"Failed to parse priority [{priority}]")
            if priority < 0:
                raise illegal("Requires priority to be >= 0")
            if not patterns:
                raise illegal("Requires at least one index pattern")
            templates.append({"index_patterns": [str(p) for p in patterns], "priority": priority,
                              "last_updated_time": int(tpl.get("last_updated_time") or now_ms())})
    return {
        "policy_id": policy_id,
        "description": raw["description"],
        "last_updated_time": now_ms(),  # RestIndexPolicyAction: copy(lastUpdatedTime = Instant.now())
        "schema_version": SCHEMA_VERSION,
        "error_notification": raw.get("error_notification"),
        "default_state": raw["default_state"],
        "states": states,
        "ism_template": templates,
    }


def _self_conflict(templates: list[dict]) -> Optional[tuple]:
    """ISMTemplateService.findSelfConflictingTemplates."""
    by_priority: dict[int, list] = {}
    for tpl in templates:
        by_priority.setdefault(tpl["priority"], []).append(tpl["index_patterns"])
    for group in by_priority.values():
        for i, patterns in enumerate(group):
            rest = [p for other in group[i + 1:] for p in other]
            if overlapping(patterns, rest):
                return patterns, rest
    return None


def _listing(patterns: list[str]) -> str:
    return "[" + ", ".join(patterns) + "]"


# ------------------------------------------------------------------ the doubles


class PluginDoubles:
    def __init__(self, upstream: Upstream, master_key: str, job_interval_min: float, sweep_s: float):
        self.up = upstream
        self.master_key = master_key
        self.job_interval_ms = int(job_interval_min * 60_000)
        self.sweep_s = sweep_s
        self.lock = threading.RLock()
        self.ready = False
        self.seen_uuids: set[str] = set()
        # index uuid -> the clock offset when the double first saw the index: its creation
        # date on the double clock is OpenSearch's creation.date plus that offset.
        self.births: dict[str, int] = {}
        # False when another double in front of the same cluster runs the ISM coordinator.
        self.jobs = True

    # ---- state in OpenSearch
    def _state_ready(self) -> bool:
        if not self.ready:
            status, _ = self.up.json("GET", "/_cluster/health", params={"wait_for_status": "yellow", "timeout": "1s"})
            if status != 200:
                return False
            self.up.ensure_index(ISM_INDEX)
            self.up.ensure_index(DS_INDEX)
            # The clock and the births survive a restart of the double (they live with the data).
            status, answer = self.up.json("GET", f"/{ISM_INDEX}/_doc/double-clock")
            if status == 200 and answer.get("found"):
                CLOCK.offset_ms = int(answer["_source"].get("offset_ms", 0))
            for hit in self._search(ISM_INDEX, {"term": {"kind": "birth"}}):
                self.births[hit["_source"]["index_uuid"]] = int(hit["_source"]["offset_ms"])
            self.ready = True
        return True

    def _require_state(self) -> None:
        try:
            ready = self._state_ready()
        except OSError:
            ready = False
        if not ready:
            raise os_error(503, "cluster_block_exception", "the cluster is not ready yet")

    def _search(self, index: str, query: dict, size: int = 10000) -> list[dict]:
        status, answer = self.up.json("POST", f"/{index}/_search", {"query": query, "size": size, "seq_no_primary_term": True, "version": True})
        if status != 200:
            raise Reply(status, answer)
        return answer["hits"]["hits"]

    def _policy_doc(self, policy_id: str) -> Optional[dict]:
        status, answer = self.up.json("GET", f"/{ISM_INDEX}/_doc/{urllib.parse.quote(policy_id, safe='')}")
        if status == 404 or not answer.get("found"):
            return None
        if status != 200:
            raise Reply(status, answer)
        if answer["_source"].get("kind") != "policy":
            return None
        return answer

    def _policies(self) -> list[dict]:
        return self._search(ISM_INDEX, {"term": {"kind": "policy"}})

    def _managed(self) -> dict[str, dict]:
        """index uuid -> managed-index hit."""
        return {h["_source"]["index_uuid"]: h for h in self._search(ISM_INDEX, {"term": {"kind": "managed_index"}})}

    def _refresh(self) -> None:
        self.up.json("POST", f"/{ISM_INDEX}/_refresh")

    def _born(self, entry: dict) -> int:
        """The index's creation date on the double clock (see DoubleClock)."""
        uuid_ = entry["uuid"]
        if uuid_ not in self.births:
            self.births[uuid_] = CLOCK.offset_ms
            if CLOCK.offset_ms:
                self.up.json("PUT", f"/{ISM_INDEX}/_doc/birth-{uuid_}",
                             {"kind": "birth", "index_uuid": uuid_, "offset_ms": CLOCK.offset_ms})
        return entry["creation"] + self.births[uuid_]

    def _write_managed(self, entry: dict, policy_hit: dict) -> None:
        doc = {
            "kind": "managed_index",
            "index": entry["index"],
            "index_uuid": entry["uuid"],
            # ISM caches the creation date in the metadata (AttemptTransitionStep.getIndexCreationDate).
            "index_creation_date": self._born(entry),
            "policy_id": policy_hit["_id"],
            "policy_seq_no": policy_hit["_seq_no"],
            "policy_primary_term": policy_hit["_primary_term"],
            "policy": policy_hit["_source"]["policy"],
            "enabled": True,
            "enabled_time": now_ms(),
            "runs_done": 0,
            "change_policy": None,
            "metadata": None,
        }
        self.up.json("PUT", f"/{ISM_INDEX}/_doc/managed-{entry['uuid']}", doc, params={"refresh": "true"})

    def _auto_manage_off(self, uuid_: str) -> bool:
        status, answer = self.up.json("GET", f"/{ISM_INDEX}/_doc/automanage-off-{uuid_}")
        return status == 200 and answer.get("found", False)

    # ---- the coordinator: attach new indices, run jobs
    def sweep(self) -> list[dict]:
        with self.lock:
            try:
                if not self._state_ready():
                    return []
            except OSError:
                return []  # OpenSearch not listening yet (the container is starting)
            indices = self.up.indices("*")
            live = {e["uuid"]: e for e in indices}
            for entry in indices:
                self._born(entry)
            managed = self._managed()
            # An index deleted: its managed-index entry goes (ManagedIndexCoordinator, indices deleted).
            for uuid_ in set(managed) - set(live):
                self.up.json("DELETE", f"/{ISM_INDEX}/_doc/managed-{uuid_}", params={"refresh": "true"})
            fresh = [e for u, e in live.items() if u not in self.seen_uuids and u not in managed]
            if fresh:
                policies = [h for h in self._policies() if h["_source"]["policy"].get("ism_template")]
                lookup = self._lookup_names([e["index"] for e in fresh])
                for entry in fresh:
                    self.seen_uuids.add(entry["uuid"])
                    name = lookup.get(entry["index"])
                    if name is None or self._auto_manage_off(entry["uuid"]):
                        continue
                    policy = self._matching_policy(name, self._born(entry), policies)
                    if policy is not None:
                        self._write_managed(entry, policy)
            return self._run_jobs(self._managed())

    def _lookup_names(self, names: list[str]) -> dict[str, Optional[str]]:
        """ManagedIndexCoordinator.findIndexLookupName: the name an ism_template is matched
        against. A data stream's backing index is matched by the stream's name; any other
        hidden index (index.hidden, or a name starting with '.') is never auto-managed; the
        restricted pattern (.opendistro_security, .kibana*, ISM's own index) starts with '.'."""
        status, answer = self.up.json("GET", "/_data_stream")
        streams = answer.get("data_streams", []) if status == 200 else []
        backing = {i["index_name"]: s["name"] for s in streams for i in s.get("indices", [])}
        hidden: set[str] = set()
        if any(n not in backing and not n.startswith(".") for n in names):
            status, answer = self.up.json("GET", "/_all/_settings/index.hidden",
                                          params={"expand_wildcards": "all", "flat_settings": "true"})
            if status == 200:
                hidden = {n for n, s in answer.items() if str(s.get("settings", {}).get("index.hidden")).lower() == "true"}
        out: dict[str, Optional[str]] = {}
        for name in names:
            if name in backing:
                out[name] = backing[name]
            elif name.startswith(".") or name in hidden:
                out[name] = None
            else:
                out[name] = name
        return out

    @staticmethod
    def _matching_policy(name: str, created: int, policies: list[dict]) -> Optional[dict]:
        """ManagedIndexCoordinator.findMatchingPolicy: templates updated BEFORE the index was created."""
        best: dict[int, dict] = {}
        for hit in policies:
            top = -1
            for tpl in hit["_source"]["policy"].get("ism_template") or []:
                if tpl["last_updated_time"] < created and index_matches(name, tpl["index_patterns"]):
                    top = max(top, tpl["priority"])
            if top > -1:
                best[top] = hit
        return best[max(best)] if best else None

    # ---- the runner (ManagedIndexRunner): one step per job run
    def _run_jobs(self, managed: dict[str, dict]) -> list[dict]:
        """Every managed index's job runs each job_interval from enabled_time on the double
        clock. Runs that fell due while the clock was advanced are caught up, each at its own
        scheduled time; a stretch of runs that can only repeat "condition not met" is skipped
        to the first run whose outcome can differ. Returns what each run did."""
        events: list[dict] = []
        if self.job_interval_ms <= 0:
            return events
        now = now_ms()
        written = False
        for uuid_, hit in managed.items():
            doc = hit["_source"]
            if not doc.get("enabled", True):
                continue
            due = (now - doc["enabled_time"]) // self.job_interval_ms
            done = doc.get("runs_done", 0)
            if due <= done:
                continue
            while done < due:
                done += 1
                at = doc["enabled_time"] + done * self.job_interval_ms
                outcome = self._run_once(doc, at)
                events.append({"index": doc["index"], "at": at, "outcome": outcome,
                               "state": ((doc.get("metadata") or {}).get("state") or {}).get("name"),
                               "info": (doc.get("metadata") or {}).get("info")})
                if outcome in ("deleted", "disabled"):
                    break
                if outcome == "waiting":
                    done = max(done, min(due, self._next_useful_run(doc, done)) - 1)
            doc["runs_done"] = done
            if events and events[-1]["index"] == doc["index"] and events[-1]["outcome"] == "deleted":
                # The coordinator drops the job of a deleted index (clusterChanged, indicesDeleted).
                self.up.json("DELETE", f"/{ISM_INDEX}/_doc/managed-{uuid_}")
            else:
                self.up.json("PUT", f"/{ISM_INDEX}/_doc/managed-{uuid_}", doc)
            written = True
        if written:  # one refresh for all the jobs' writes: the next read sees them
            self._refresh()
        return events

    def _next_useful_run(self, doc: dict, done: int) -> int:
        """The first run number after `done` at which a waiting transition can change: the
        earliest time an age condition is met. Other conditions (doc count) are read live,
        so only the latest run can see a change: jump to it."""
        meta = doc["metadata"]
        state = _state_named(doc["policy"], meta["state"]["name"])
        times = []
        for transition in state["transitions"]:
            cond = transition.get("conditions") or {}
            if "min_index_age" in cond and meta.get("index_creation_date", -1) != -1:
                times.append(meta["index_creation_date"] + time_ms(cond["min_index_age"]))
            elif "min_state_age" in cond:
                times.append(meta["state"]["start_time"] + time_ms(cond["min_state_age"]))
            else:
                return 1 << 62
        first = min(times)
        k = -(-(first - doc["enabled_time"]) // self.job_interval_ms)  # ceil
        return max(k, done + 1)

    def _run_once(self, doc: dict, at: int) -> str:
        """ManagedIndexRunner.runManagedIndexConfig for one job run at clock time `at`.
        Returns "initialized", "changed_policy", "waiting" (transition condition not met),
        "step" (a step ran), "deleted", "failed" or "disabled"."""
        meta = doc.get("metadata")
        change = doc.get("change_policy")
        if meta is None:  # initManagedIndex (a change_policy made before the first run wins)
            if change:
                target = self._policy_doc(change["policy_id"])
                if target is not None:
                    _adopt_policy(doc, target)
                doc["change_policy"] = None
                doc["metadata"] = _initialized(doc, change.get("state"), at) if target is not None else _failed_load(doc, change["policy_id"])
            else:
                doc["metadata"] = _initialized(doc, None, at)
            return "initialized"
        if meta.get("policy_completed") or _is_failed(meta):
            doc["enabled"] = False  # disableManagedIndexConfig
            return "disabled"
        if meta.get("index_creation_date") is None:
            # A job written by an earlier version of this double, which kept no creation date:
            # read it as AttemptTransitionStep.getIndexCreationDate does when none is cached.
            meta["index_creation_date"] = doc.get("index_creation_date") or self._creation_date(doc["index"], doc["index_uuid"])
        policy = doc["policy"]
        state = _state_to_execute(policy, meta)
        action = _action_to_execute(state, meta) if state is not None else None
        if change and (change.get("is_safe") or (action is not None and action["type"] == "transition")):
            target = self._policy_doc(change["policy_id"])  # initChangePolicy
            if target is None:
                meta.update(info={"message": f"Failed to load change policy: {change['policy_id']}"},
                            retry_info={"failed": True, "consumed_retries": 0})
                return "failed"
            if action["type"] == "transition":
                meta["action"] = {"name": "transition", "start_time": at, "index": -1, "failed": False,
                                  "consumed_retries": 0, "last_retry_time": 0}
            meta.update(info={"message": f"Attempting to change policy to {target['_id']}"}, transition_to=change.get("state"),
                        step=None, policy_completed=False, policy_id=target["_id"], policy_seq_no=target["_seq_no"],
                        policy_primary_term=target["_primary_term"])
            _adopt_policy(doc, target)
            doc["change_policy"] = None
            return "changed_policy"
        # getStartingManagedIndexMetaData
        if state is None:
            meta.update(retry_info={"failed": True, "consumed_retries": 0},
                        info={"message": f"Failed to find state={meta.get('transition_to') or meta.get('state')} in policy={meta['policy_id']}"})
            return "failed"
        if action is None:
            meta.update(retry_info={"failed": True, "consumed_retries": 0},
                        info={"message": f"Failed to find action={meta.get('action')} in state={meta.get('state')}"})
            return "failed"
        if action["type"] not in ("transition", "delete"):
            # Not one of ISM's messages: this double executes only what the stack's policies use.
            meta.update(retry_info={"failed": True, "consumed_retries": 0},
                        info={"message": f"the ISM contract double does not execute action={action['type']}"})
            return "failed"
        step_name = "attempt_transition_step" if action["type"] == "transition" else "attempt_delete"
        step_start = _step_start_time(meta, step_name, at)
        action_meta = _updated_action(meta, action, state["name"], at)
        if (meta.get("state") or {}).get("name") != state["name"]:  # State.getUpdatedStateMetaData
            meta["state"] = {"name": state["name"], "start_time": at}
        meta["action"] = action_meta
        meta["step"] = {"name": step_name, "start_time": step_start, "step_status": "starting"}
        # the step runs
        if action["type"] == "transition":
            status, info, target_state, completed = self._attempt_transition(doc, state, at)
            meta.update(transition_to=target_state, policy_completed=completed)
        else:
            status, info = self._attempt_delete(meta["index"])
            meta["transition_to"] = None
        meta["step"] = {"name": step_name, "start_time": step_start, "step_status": status}
        meta["info"] = info
        if status == "failed":  # getCompletedManagedIndexMetaData: the action's retries
            retry = action["config"].get("retry") or {"count": 3}
            if meta["action"]["consumed_retries"] >= int(retry.get("count", 3)):
                meta["action"]["failed"] = True
            else:
                meta["action"]["consumed_retries"] += 1
                meta["action"]["last_retry_time"] = at
            return "failed"
        if action["type"] == "delete" and status == "completed":
            return "deleted"
        return "waiting" if status == "condition_not_met" else "step"

    def _creation_date(self, index: str, uuid_: str) -> int:
        try:
            entry = next((e for e in self.up.indices(index) if e["uuid"] == uuid_), None)
        except Reply:
            entry = None
        return self._born(entry) if entry else -1

    def _attempt_transition(self, doc: dict, state: dict, at: int):
        """AttemptTransitionStep.execute: the first transition whose condition holds."""
        index = doc["metadata"]["index"]
        transitions = state["transitions"]
        if not transitions:
            return "completed", None, None, True
        num_docs = None
        for transition in transitions:
            cond = transition.get("conditions") or {}
            unsupported = set(cond) - {"min_index_age", "min_doc_count", "min_state_age"}
            if unsupported:
                return "failed", {"message": f"Failed to transition index [index={index}]",
                                  "cause": f"the ISM contract double does not evaluate {sorted(unsupported)}"}, None, False
            if "min_doc_count" in cond and num_docs is None:
                status, answer = self.up.json("GET", f"/{urllib.parse.quote(index)}/_stats/docs")
                if status != 200:
                    return "failed", {"message": f"Failed to get stats information for the index [index={index}]"}, None, False
                num_docs = ((answer.get("_all") or {}).get("primaries") or {}).get("docs", {}).get("count", 0)
        created = doc["metadata"].get("index_creation_date", -1)
        state_start = doc["metadata"]["state"]["start_time"]
        for transition in transitions:
            cond = transition.get("conditions") or {}
            met = (not cond
                   or ("min_index_age" in cond and created != -1 and time_ms(cond["min_index_age"]) <= at - created)
                   or ("min_doc_count" in cond and num_docs is not None and cond["min_doc_count"] <= num_docs)
                   or ("min_state_age" in cond and at - state_start >= time_ms(cond["min_state_age"])))
            if met:
                return "completed", {"message": f"Transitioning to {transition['state_name']} [index={index}]"}, transition["state_name"], False
        return "condition_not_met", {"message": f"Evaluating transition conditions [index={index}]"}, None, False

    def _attempt_delete(self, index: str):
        """AttemptDeleteStep.execute: DELETE the index; acknowledged -> completed."""
        status, answer = self.up.json("DELETE", f"/{urllib.parse.quote(index)}")
        if status == 200 and (answer or {}).get("acknowledged"):
            return "completed", {"message": f"Successfully deleted index [index={index}]"}
        info = {"message": f"Failed to delete index [index={index}]"}
        reason = ((answer or {}).get("error") or {}).get("reason") if isinstance(answer, dict) else None
        if reason:
            info["cause"] = reason
        return "failed", info

    def sweeper(self) -> None:
        while True:
            try:
                self.sweep()
            except Exception as exc:  # keep sweeping; the next round may succeed
                print(f"[plugin-doubles] sweep: {exc!r}", file=sys.stderr)
            time.sleep(self.sweep_s)

    # ---- double-only routes (no such API in ISM): the clock and "run the jobs now"
    def double_ism(self, method: str, what: str, body: Any):
        self._require_state()
        if what == "clock" and method == "GET":
            return 200, {"now": now_ms(), "offset_ms": CLOCK.offset_ms}
        if what == "clock" and method == "POST":
            if not isinstance(body, dict) or set(body) != {"advance"}:
                raise illegal('the double clock takes {"advance": "<time value, e.g. 1d>"}')
            try:
                step = time_ms(body["advance"])
            except ValueError as exc:
                raise illegal(str(exc))
            if step < 0:
                raise illegal("the double clock never goes back")
            with self.lock:
                # Indices created so far are stamped, and jobs due so far run, on the old time.
                events = self.sweep()
                CLOCK.offset_ms += step
                self.up.json("PUT", f"/{ISM_INDEX}/_doc/double-clock", {"kind": "clock", "offset_ms": CLOCK.offset_ms},
                             params={"refresh": "true"})
                events += self.sweep()
            return 200, {"now": now_ms(), "offset_ms": CLOCK.offset_ms, "runs": events}
        if what == "run" and method == "POST":
            return 200, {"now": now_ms(), "offset_ms": CLOCK.offset_ms, "runs": self.sweep()}
        raise os_error(405, "method_not_allowed", f"no double route for [{method} /_double/ism/{what}]")

    # ---- ISM routes
    def ism(self, method: str, rest: str, params: dict, body: Any):
        parts = [p for p in rest.split("/") if p]
        if not parts:
            raise illegal(f"no handler found for uri [{rest}] and method [{method}]")
        self._require_state()
        head = parts[0]
        if head == "policies":
            policy_id = urllib.parse.unquote(parts[1]) if len(parts) > 1 else None
            if len(parts) > 2:
                raise illegal("no handler found")
            if method == "PUT":
                return self.put_policy(policy_id, params, body)
            if method in ("GET", "HEAD"):
                return self.get_policies(params) if policy_id is None else self.get_policy(policy_id, method)
            if method == "DELETE" and policy_id:
                return self.delete_policy(policy_id, params)
        elif head in ("add", "change_policy", "remove") and method == "POST":
            target = urllib.parse.unquote(parts[1]) if len(parts) > 1 else ""
            if not target:
                raise illegal("Missing indices" if head == "add" else "Missing index")
            return getattr(self, head)(target, body)
        elif head == "explain" and method in ("GET", "POST"):
            target = urllib.parse.unquote(parts[1]) if len(parts) > 1 else None
            return self.explain(target, params)
        raise os_error(405, "method_not_allowed", f"Incorrect HTTP method for uri [{rest}] and method [{method}]")

    def put_policy(self, policy_id: Optional[str], params: dict, body: Any):
        if not policy_id:
            raise illegal("Missing policy ID")
        _only(params, {"if_seq_no", "if_primary_term", "refresh"})
        if body is None:
            raise os_error(400, "parse_exception", "request body is required")
        policy = parse_policy(body, policy_id)
        with self.lock:
            templates = policy["ism_template"]
            if templates is not None:
                check_index_patterns([p for t in templates for p in t["index_patterns"]])
                self_overlap = _self_conflict(templates)
                if self_overlap:
                    raise ism_illegal(
                        f"New policy {policy_id} has an ISM template with index pattern {_listing(self_overlap[0])} "
                        f"matching this policy's other ISM templates with index patterns {_listing(self_overlap[1])}, please use different priority"
                    )
                others = {h["_id"]: h["_source"]["policy"].get("ism_template") or [] for h in self._policies()}
                others.pop(policy_id, None)
                for tpl in templates:
                    for other in others.values():
                        if any(o["priority"] == tpl["priority"] and overlapping(tpl["index_patterns"], o["index_patterns"]) for o in other):
                            raise ism_illegal(
                                f"New policy {policy_id} has an ISM template with index pattern {_listing(tpl['index_patterns'])} "
                                f"matching existing policy templates, please use a different priority than {tpl['priority']}"
                            )
            write = {"refresh": "true"}
            if "if_seq_no" in params and "if_primary_term" in params:
                write.update(if_seq_no=params["if_seq_no"], if_primary_term=params["if_primary_term"])
            else:
                write["op_type"] = "create"  # TransportIndexPolicyAction.putPolicy
            status, answer = self.up.json("PUT", f"/{ISM_INDEX}/_doc/{urllib.parse.quote(policy_id, safe='')}",
                                          {"kind": "policy", "policy": policy}, params=write)
            if status not in (200, 201):
                raise Reply(status, _rename_index(answer))
        out = {"_id": policy_id, "_version": answer["_version"], "_primary_term": answer["_primary_term"],
               "_seq_no": answer["_seq_no"], "policy": {"policy": policy}}
        return 201 if status == 201 else 200, out

    def get_policy(self, policy_id: str, method: str):
        hit = self._policy_doc(policy_id)
        if hit is None:
            raise os_error(404, "status_exception", "Policy not found")
        if method == "HEAD":
            return 200, None
        return 200, {"_id": policy_id, "_version": hit["_version"], "_seq_no": hit["_seq_no"],
                     "_primary_term": hit["_primary_term"], "policy": hit["_source"]["policy"]}

    def get_policies(self, params: dict):
        _only(params, {"size", "from", "sortField", "sortOrder", "queryString"})
        hits = sorted(self._policies(), key=lambda h: h["_id"])
        start, size = int(params.get("from", 0)), int(params.get("size", 20))
        page = hits[start:start + size]
        return 200, {"policies": [{"_id": h["_id"], "_seq_no": h["_seq_no"], "_primary_term": h["_primary_term"],
                                   "policy": h["_source"]["policy"]} for h in page], "total_policies": len(hits)}

    def delete_policy(self, policy_id: str, params: dict):
        _only(params, {"refresh"})
        with self.lock:
            if self._policy_doc(policy_id) is None:
                raise os_error(404, "status_exception", f"Policy {policy_id} is not found")
            status, answer = self.up.json("DELETE", f"/{ISM_INDEX}/_doc/{urllib.parse.quote(policy_id, safe='')}", params={"refresh": "true"})
        # Indices it manages keep running their own copy of it (ManagedIndexConfig.policy).
        return status, _rename_index(answer)

    def _resolve(self, expression: str) -> list[dict]:
        """IndicesOptions.strictExpand, as the add / change_policy / remove actions resolve
        their target: wildcards expand to open and closed indices that are not hidden; an
        index named outright is found hidden or not; a missing name is index_not_found (404)."""
        return self.up.indices(expression, expand="open,closed")

    def add(self, target: str, body: Any):
        if not isinstance(body, dict) or body.get("policy_id") is None:
            raise illegal("Missing policy_id")
        policy_id = body["policy_id"]
        with self.lock:
            entries = self._resolve(target)
            policy = self._policy_doc(policy_id)
            if not entries:
                return 200, _status(0, [])
            if policy is None:
                raise os_error(404, "status_exception", f"Could not find policy={policy_id}")
            managed, failed, updated = self._managed(), [], 0
            for entry in entries:
                if entry["status"] == "close":
                    failed.append(_failed(entry, "This index is closed"))
                elif entry["uuid"] in managed:
                    failed.append(_failed(entry, "This index already has a policy, use the update policy API to update index policies"))
                else:
                    self._write_managed(entry, policy)
                    self.seen_uuids.add(entry["uuid"])
                    updated += 1
        return 200, _status(updated, failed)

    def change_policy(self, target: str, body: Any):
        if not isinstance(body, dict):
            raise illegal("ChangePolicy policy id is null")
        for key in body:
            if key not in ("policy_id", "state", "include", "is_safe", "user"):
                raise illegal(f"Invalid field: [{key}] found in ChangePolicy.")
        if body.get("policy_id") is None:
            raise illegal("ChangePolicy policy id is null")
        with self.lock:
            target_policy = self._policy_doc(body["policy_id"])
            if target_policy is None:
                raise os_error(404, "status_exception", f"Could not find policy={body['policy_id']}")
            if body.get("state") and body["state"] not in [s["name"] for s in target_policy["_source"]["policy"]["states"]]:
                raise illegal(f"Cannot change policy to a nonexistent state={body['state']}")
            include = {f.get("state") for f in body.get("include") or []}
            managed, failed, updated = self._managed(), [], 0
            for entry in self._resolve(target):
                hit = managed.get(entry["uuid"])
                if hit is None:
                    failed.append(_failed(entry, "This index is not being managed"))
                    continue
                doc = hit["_source"]
                current_state = (doc.get("metadata") or {}).get("state", {}).get("name")
                if include and current_state not in include:
                    continue
                doc["change_policy"] = {"policy_id": body["policy_id"], "state": body.get("state"),
                                        "include": body.get("include") or [], "is_safe": False}
                self.up.json("PUT", f"/{ISM_INDEX}/_doc/managed-{entry['uuid']}", doc, params={"refresh": "true"})
                updated += 1
        return 200, _status(updated, failed)

    def remove(self, target: str, body: Any):
        with self.lock:
            managed, failed, updated = self._managed(), [], 0
            for entry in self._resolve(target):
                # TransportRemovePolicyAction.getClusterState: a closed index fails first.
                if entry["status"] == "close":
                    failed.append(_failed(entry, "This index is closed"))
                    continue
                # getExistingManagedIndices: an index without a job fails and is left as it is.
                if entry["uuid"] not in managed:
                    failed.append(_failed(entry, "This index does not have a policy to remove"))
                    continue
                # updateSettings: index.plugins.index_state_management.auto_manage=false on the
                # indices it removes, so the coordinator never attaches them again. Real
                # OpenSearch refuses that setting without the plugin: the double keeps the flag.
                self.up.json("PUT", f"/{ISM_INDEX}/_doc/automanage-off-{entry['uuid']}",
                             {"kind": "auto_manage_off", "index_uuid": entry["uuid"]}, params={"refresh": "true"})
                self.up.json("DELETE", f"/{ISM_INDEX}/_doc/managed-{entry['uuid']}", params={"refresh": "true"})
                updated += 1
        return 200, _status(updated, failed)

    def explain(self, target: Optional[str], params: dict):
        _only(params, {"size", "from", "sortField", "sortOrder", "queryString", "show_policy", "validate_action",
                       "local", "cluster_manager_timeout", "master_timeout", "showPolicy", "policy_id"})
        show_policy = str(params.get("show_policy", params.get("showPolicy", "false"))).lower() == "true"
        managed = self._managed()
        out: dict = {}
        if target is None:
            rows = sorted(managed.values(), key=lambda h: h["_source"]["index"])
            start, size = int(params.get("from", 0)), int(params.get("size", 20))
            for hit in rows[start:start + size]:
                out[hit["_source"]["index"]] = _explain_entry(hit["_source"], show_policy)
            out["total_managed_indices"] = len(rows)
            return 200, out
        total = 0
        for entry in self.up.indices(target):
            hit = managed.get(entry["uuid"])
            if hit is None:
                out[entry["index"]] = {"index.plugins.index_state_management.policy_id": None,
                                       "index.opendistro.index_state_management.policy_id": None, "enabled": None}
            else:
                total += 1
                out[entry["index"]] = _explain_entry(hit["_source"], show_policy)
        out["total_managed_indices"] = total
        return 200, out

    # ---- SQL plugin: datasources
    def datasources(self, method: str, name: Optional[str], params: dict, body: Any):
        self._require_state()
        if method == "POST" and name is None:
            meta = self._parse_datasource(body)
            if meta["name"] == DEFAULT_DATASOURCE:  # CreateDataSourceActionRequest.validate
                raise _validation_failed(f"Not allowed to create datasource with name : {DEFAULT_DATASOURCE}")
            with self.lock:
                self._validate_datasource(meta)
                stored = self._encrypt(meta)
                status, answer = self.up.json("PUT", f"/{DS_INDEX}/_doc/{urllib.parse.quote(meta['name'], safe='')}",
                                              {"kind": "datasource", "metadata": stored}, params={"op_type": "create", "refresh": "true"})
                if status == 409:
                    raise sql_error(400, "IllegalArgumentException", f"A datasource already exists with name: {meta['name']}")
                if status not in (200, 201):
                    raise Reply(status, answer)
            return 201, f"Created DataSource with name {meta['name']}"
        if method == "PUT" and name is None:
            meta = self._parse_datasource(body)
            if meta["name"] == DEFAULT_DATASOURCE:  # UpdateDataSourceActionRequest.validate
                raise _validation_failed(f"Not allowed to update datasource with name : {DEFAULT_DATASOURCE}")
            with self.lock:
                self._store_update(meta)
            return 200, f"Updated DataSource with name {meta['name']}"
        if method == "PATCH" and name is None:
            return self._patch_datasource(body)
        if method == "GET":
            if name is None:
                # TransportGetDataSourceAction: getDataSourceMetadata(false), without @opensearch.
                hits = self._search(DS_INDEX, {"term": {"kind": "datasource"}})
                return 200, [_without_auth(h["_source"]["metadata"]) for h in hits]
            return 200, _without_auth(self._datasource(name))
        if method == "DELETE" and name is not None:
            if name == DEFAULT_DATASOURCE:  # DeleteDataSourceActionRequest.validate
                raise _validation_failed(f"Not allowed to delete datasource with name : {DEFAULT_DATASOURCE}")
            with self.lock:
                status, answer = self.up.json("DELETE", f"/{DS_INDEX}/_doc/{urllib.parse.quote(name, safe='')}", params={"refresh": "true"})
            if status == 404:
                raise sql_error(404, "DataSourceNotFoundException", f"Datasource with name: {name} doesn't exist")
            return 204, None
        raise Reply(405, method, "text/plain; charset=UTF-8")

    def _store_update(self, meta: dict) -> None:
        """DataSourceServiceImpl.updateDataSource: built (validated), then stored encrypted."""
        self._validate_datasource(meta)
        stored = self._encrypt(meta)
        status, answer = self.up.json("POST", f"/{DS_INDEX}/_update/{urllib.parse.quote(meta['name'], safe='')}",
                                      {"doc": {"kind": "datasource", "metadata": stored}}, params={"refresh": "true"})
        if status == 404:
            raise sql_error(404, "DataSourceNotFoundException", f"Datasource with name: {meta['name']} doesn't exist")
        if status != 200:
            raise Reply(status, answer)

    def _patch_datasource(self, body: Any):
        """RestDataSourceQueryAction.executePatchRequest: XContentParserUtils.toMap (a partial
        body; connector is ignored), PatchDataSourceActionRequest.validate, then
        DataSourceServiceImpl.patchDataSource: the stored datasource with the given fields
        replaced (properties MERGED into the stored ones), validated and stored like an update."""
        if not isinstance(body, dict):
            raise illegal("Failed to parse object: expecting token of type [START_OBJECT]")
        patch: dict = {}
        for key, value in body.items():
            if key in ("name", "description", "resultIndex"):
                patch[key] = value
            elif key == "connector":
                continue
            elif key == "allowedRoles":
                patch[key] = [str(v) for v in value or []]
            elif key == "properties":
                if not isinstance(value, dict):
                    raise illegal("Failed to parse object: expecting token of type [START_OBJECT]")
                patch[key] = value
            elif key == "status":
                patch[key] = _datasource_status(value)
            else:
                raise illegal(f"Unknown field: {key}")
        if not patch.get("name"):
            raise illegal("Name is a required field.")
        if patch["name"] == DEFAULT_DATASOURCE:
            raise _validation_failed(f"Not allowed to update datasource with name : {DEFAULT_DATASOURCE}")
        with self.lock:
            meta = self._decrypt(self._datasource(patch["name"]))
            for key, value in patch.items():
                if key == "properties":
                    meta["properties"] = {**meta["properties"], **value}
                elif key == "resultIndex":
                    # constructUpdatedDatasourceMetadata: this case falls through to status (no
                    # break in the Java switch), so the status becomes the patch's, or the default.
                    meta["resultIndex"] = value
                    meta["status"] = patch.get("status") or "ACTIVE"
                elif key != "name":
                    meta[key] = value
            if meta.get("resultIndex") is None:
                meta["resultIndex"] = _result_index_for(meta["name"])
            _check_result_index(meta["resultIndex"])
            self._store_update(meta)
        return 200, f"Updated DataSource with name {patch['name']}"

    def _datasource(self, name: str) -> dict:
        if name == DEFAULT_DATASOURCE:  # DataSourceMetadata.defaultOpenSearchDataSourceMetadata
            return {"name": DEFAULT_DATASOURCE, "description": "", "connector": "OPENSEARCH", "allowedRoles": [],
                    "properties": {}, "resultIndex": _result_index_for(DEFAULT_DATASOURCE), "status": "ACTIVE"}
        status, answer = self.up.json("GET", f"/{DS_INDEX}/_doc/{urllib.parse.quote(name, safe='')}")
        if status == 404 or not answer.get("found"):
            raise sql_error(404, "DataSourceNotFoundException", f"DataSource with name {name} doesn't exist.")
        return answer["_source"]["metadata"]

    @staticmethod
    def _parse_datasource(body: Any) -> dict:
        """XContentParserUtils.toDataSourceMetadata + DataSourceMetadata.Builder.validateAndBuild."""
        if not isinstance(body, dict):
            raise illegal("Failed to parse object: expecting token of type [START_OBJECT]")
        meta = {"name": None, "description": "", "connector": None, "allowedRoles": [], "properties": {},
                "resultIndex": None, "status": None}
        for key, value in body.items():
            if key not in meta:
                raise illegal(f"Unknown field: {key}")
            meta[key] = value
        if meta["connector"] is not None:
            if str(meta["connector"]).upper() not in DATASOURCE_TYPES:
                raise illegal(f"No DataSourceType with name {meta['connector']} found")
            meta["connector"] = str(meta["connector"]).upper()
        if meta["status"] is not None:
            meta["status"] = _datasource_status(meta["status"])
        missing = [k for k in ("name", "connector") if not meta[k]]
        if missing:
            raise illegal(f"Datasource configuration error: {', '.join(missing)} cannot be null or empty.")
        if not DATASOURCE_NAME.fullmatch(meta["name"]):
            raise illegal(f"DataSource Name: {meta['name']} contains illegal characters. Allowed characters: a-zA-Z0-9_-*@.")
        if not isinstance(meta["properties"], dict) or not all(isinstance(v, (str, type(None))) for v in meta["properties"].values()):
            raise illegal("properties must be an object of strings")
        if meta["resultIndex"] is not None:
            _check_result_index(meta["resultIndex"])
        else:
            meta["resultIndex"] = _result_index_for(meta["name"])
        meta["status"] = meta["status"] or "ACTIVE"
        return meta

    def _validate_datasource(self, meta: dict) -> None:
        """The connector's factory builds the datasource before it is stored (PrometheusStorageFactory)."""
        if meta["connector"] != "PROMETHEUS":
            return
        props = meta["properties"]
        auth = props.get("prometheus.auth.type")
        required = {"prometheus.uri"}
        if auth and auth.lower() == "basicauth":
            required |= {"prometheus.auth.username", "prometheus.auth.password"}
        elif auth and auth.lower() == "awssigv4":
            required |= {"prometheus.auth.access_key", "prometheus.auth.secret_key", "prometheus.auth.region"}
        missing = sorted(required - set(props))
        too_long = sorted(k for k in required & set(props) if len(props[k] or "") > 1000)
        message = ""
        if missing:
            message += f"Missing [{', '.join(missing)}] fields in the connector properties."
        if too_long:
            message += f"Fields [{', '.join(too_long)}] exceeds more than 1000 characters."
        if message:
            raise sql_error(400, "IllegalArgumentException", message)
        uri = props["prometheus.uri"] or ""
        try:
            host = java_uri_host(uri)
        except ValueError as exc:  # java.net.URISyntaxException
            raise sql_error(400, "IllegalArgumentException", f"Invalid URI in prometheus properties: {exc}")
        if host is None:
            # DatasourceValidationUtils.validateHost -> URIValidationUtils.validateURIHost:
            # InetAddress.getByName(null) is the loopback address, which no default deny-list
            # entry covers: a URI without a host ("prometheus:9090", "http:///x") is ACCEPTED.
            return
        try:
            socket.getaddrinfo(host, None)
        except (socket.gaierror, UnicodeError) as exc:
            raise sql_error(400, "IllegalArgumentException", f"Invalid URI in prometheus properties: {host}: {exc.args[-1]}")

    @staticmethod
    def _decrypt(meta: dict) -> dict:
        """OpenSearchDataSourceMetadataStorage reads datasources decrypted (patch merges into them)."""
        out = copy.deepcopy(meta)
        for key, value in meta.get("properties", {}).items():
            if key.endswith(CREDENTIAL_SUFFIXES) and isinstance(value, str) and value.startswith("double-encrypted:"):
                out["properties"][key] = base64.b64decode(value[len("double-encrypted:"):]).decode()
        return out

    def _encrypt(self, meta: dict) -> dict:
        stored = copy.deepcopy(meta)
        for key, value in meta["properties"].items():
            if key.endswith(CREDENTIAL_SUFFIXES):
                if not self.master_key:
                    raise sql_error(400, "IllegalStateException",
                                    "Master key is a required config for using create and update datasource APIs."
                                    "Please set plugins.query.datasources.encryption.masterkey config in opensearch.yml "
                                    "in all the cluster nodes. More details can be found here: "
                                    "https://github.com/opensearch-project/sql/blob/main/docs/user/ppl/admin/"
                                    "datasources.rst#master-key-config-for-encrypting-credential-information")
                # Not real encryption: this double's state never leaves a test cluster.
                stored["properties"][key] = "double-encrypted:" + base64.b64encode((value or "").encode()).decode()
        return stored

    # ---- SQL plugin: direct query (what Dashboards' explore metric panels call)
    def direct_query(self, datasources: str, body: Any):
        self._require_state()
        if not isinstance(body, dict):
            raise sql_error(400, "IllegalArgumentException", "Error while parsing the direct query request: body must be an object")
        request = {"datasource": None, "query": None, "sessionId": None, "language": None, "options": None,
                   "maxResults": None, "timeout": None, "sourceVersion": None}
        for key, value in body.items():
            if key in request:  # DirectQueryRequestConverter skips unknown fields
                request[key] = value
        language = request["language"]
        if language is not None and str(language).upper() not in ("SQL", "PPL", "PROMQL"):
            raise sql_error(400, "IllegalArgumentException",
                            f"Error while parsing the direct query request: Invalid languageType: {language}")
        source = request["datasource"] or datasources
        if not source:
            raise sql_error(400, "IllegalArgumentException", "Datasource is required")
        if not request["query"]:
            raise sql_error(400, "IllegalArgumentException", "Query is required")
        if language is None:
            raise sql_error(400, "IllegalArgumentException", "Language type is required")
        options = request["options"] or {}
        if str(language).upper() == "PROMQL":
            qtype = str(options.get("queryType") or "").lower() or None
            if qtype is None:
                raise sql_error(400, "IllegalArgumentException", "Prometheus options are required for PROMQL queries")
            if qtype == "range":
                start, end = options.get("start"), options.get("end")
                if start is None or end is None:
                    raise sql_error(400, "IllegalArgumentException", "Start and end times are required for range queries")
                if not options.get("step"):
                    raise sql_error(400, "IllegalArgumentException", "Step parameter is required for range queries")
                try:
                    if int(end) <= int(start):
                        raise sql_error(400, "IllegalArgumentException", "End time must be after start time")
                except ValueError:
                    raise sql_error(400, "IllegalArgumentException", "Invalid time format: start and end must be numeric timestamps")
            else:
                if options.get("time") is None:
                    raise sql_error(400, "IllegalArgumentException", "Time parameter is required for instant queries")
                try:
                    int(options["time"])
                except ValueError:
                    raise sql_error(400, "IllegalArgumentException", "Invalid time format: time must be a numeric timestamp")
        else:
            raise sql_error(500, "IOException", f"Unsupported language {language} in this double (the stack only sends PROMQL)")
        try:
            meta = self._datasource(source)
        except Reply:
            # executeDirectQuery swallows the lookup error; the response cannot then be built: 500.
            raise sql_error(500, "IOException", f"Failed to parse result from {source}: datasource not found")
        result = self._prometheus(self._decrypt(meta)["properties"], request, options)
        return 200, {"queryId": str(uuid.uuid4()), "results": {source: result},
                     "sessionId": request["sessionId"] or str(uuid.uuid4())}

    @staticmethod
    def _prometheus(props: dict, request: dict, options: dict) -> dict:
        """PrometheusClientImpl: GET on prometheus.uri, with basic auth when prometheus.auth.type is
        basicauth (BasicAuthenticationInterceptor); an https URI is verified against the JVM's trust
        store, which here is the system's CAs or PLUGIN_DOUBLES_PROMETHEUS_CA (a CA a team adds to its
        cluster's trust store)."""
        base = props["prometheus.uri"]
        params = {"query": request["query"]}
        if str(options.get("queryType")).lower() == "range":
            path = "/api/v1/query_range"
            params.update(start=str(int(options["start"])), end=str(int(options["end"])), step=str(options["step"]))
        else:
            path = "/api/v1/query"
            params["time"] = str(int(options["time"]))
        for key, name in (("maxResults", "limit"), ("timeout", "timeout")):
            if request[key] is not None:
                params[name] = str(request[key])
        url = urllib.parse.urlsplit(base.rstrip("/") + path)
        if not url.hostname:  # a host-less prometheus.uri (accepted at create): nothing to reach
            return {"resultType": None, "result": None}
        headers = {}
        if str(props.get("prometheus.auth.type", "")).lower() == "basicauth":
            token = f"{props.get('prometheus.auth.username', '')}:{props.get('prometheus.auth.password', '')}"
            headers["Authorization"] = "Basic " + base64.b64encode(token.encode()).decode()
        if url.scheme == "https":
            context = ssl.create_default_context(cafile=os.environ.get("PLUGIN_DOUBLES_PROMETHEUS_CA") or None)
            conn = http.client.HTTPSConnection(url.hostname, url.port or 443, timeout=30, context=context)
        else:
            conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=30)
        try:
            conn.request("GET", f"{url.path}?{urllib.parse.urlencode(params)}", headers=headers)
            resp = conn.getresponse()
            payload = resp.read()
        except OSError as exc:
            return {"resultType": None, "result": None, "error": str(exc)}
        finally:
            conn.close()
        try:
            answer = json.loads(payload)
        except ValueError:
            return {"resultType": None, "result": None}
        if resp.status != 200 or answer.get("status") != "success":
            # PrometheusQueryHandler returns {"error": ...}; PrometheusResult keeps resultType/result only.
            return {"resultType": None, "result": None}
        data = answer.get("data") or {}
        return {"resultType": data.get("resultType"), "result": data.get("result")}


# ---- SQL plugin helpers


def _validation_failed(message: str) -> Reply:
    """An ActionRequest.validate() failure: ActionRequestValidationException is an
    IllegalArgumentException, so RestDataSourceQueryAction answers 400 in ErrorMessage form."""
    return sql_error(400, "ActionRequestValidationException", f"Validation Failed: 1: {message};")


def _datasource_status(value: Any) -> str:
    """DataSourceStatus.fromString."""
    for status in ("ACTIVE", "DISABLED"):
        if str(value).lower() == status.lower():
            return status
    raise illegal(f"No DataSourceStatus with text {value} found")


def _result_index_for(name: str) -> str:
    """DataSourceMetadata.fromNameToCustomResultIndex: cut to 255, then keep [a-z0-9_-]."""
    raw = f"query_execution_result_{name.lower()}"[:255]
    return re.sub(r"[^a-z0-9_\-]", "", raw)


def _check_result_index(index: str) -> None:
    """DataSourceMetadata.Builder.validateCustomResultIndex (all problems in one message)."""
    message = ""
    if len(index) > 255:
        message += "Result index name size must contains less than 255 characters."
    if not re.fullmatch(r"[a-z0-9_-]+", index):
        message += "Result index name has invalid character. Valid characters are a-z, 0-9, -(hyphen) and _(underscore)."
    if not index.startswith("query_execution_result"):
        message += "Result index must start with query_execution_result"
    if message:
        raise illegal(message)


_URI_ILLEGAL = set(' "<>\\^`{|}')
_HOSTNAME = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)*[A-Za-z](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.?")
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")


def java_uri_host(uri: str) -> Optional[str]:
    """new java.net.URI(uri).getHost(), enough for the URIs a datasource carries: raises
    ValueError with URISyntaxException's message for a malformed URI; None when the URI
    has no (server-based) host: opaque ("prometheus:9090"), relative, or empty authority."""
    scheme = re.match(r"^([^:/?#]*):", uri)
    if scheme:
        name = scheme.group(1)
        bad = next((i for i, c in enumerate(name) if not (c.isascii() and (c.isalpha() or (i > 0 and (c.isdigit() or c in "+-."))))), None)
        if bad is not None or not name:
            raise ValueError(f"{'Expected scheme name' if not name else 'Illegal character in scheme name'} at index {bad or 0}: {uri}")
    for i, c in enumerate(uri):
        if c in _URI_ILLEGAL or ord(c) < 0x20:
            rest = uri[len(scheme.group(0)):] if scheme else uri
            part = "authority" if scheme and rest.startswith("//") and "/" not in rest[2:i - len(scheme.group(0))] else "path"
            if "#" in uri[:i]:
                part = "fragment"
            elif "?" in uri[:i]:
                part = "query"
            raise ValueError(f"Illegal character in {part} at index {i}: {uri}")
    if not scheme or not uri[len(scheme.group(0)):].startswith("//"):
        return None
    host = urllib.parse.urlsplit(uri).hostname
    if not host:
        return None
    if _IPV4.fullmatch(host) or ":" in host or _HOSTNAME.fullmatch(host):
        return host
    return None  # a registry-based authority (e.g. "my_host:9090"): getHost() is null


def _only(params: dict, allowed: set) -> None:
    unknown = sorted(set(params) - allowed - {"pretty", "human", "error_trace", "filter_path", "format"})
    if unknown:
        raise illegal(f"request contains unrecognized parameter{'s' if len(unknown) > 1 else ''}: [{', '.join(unknown)}]")


def _failed(entry: dict, reason: str) -> dict:
    return {"index_name": entry["index"], "index_uuid": entry["uuid"], "reason": reason}


def _status(updated: int, failed: list) -> dict:
    return {"updated_indices": updated, "failures": bool(failed), "failed_indices": failed}


# ---- the runner's model (ManagedIndexMetaData and the Policy/State/Action lookups)


def _state_named(policy: dict, name: Optional[str]) -> Optional[dict]:
    return next((s for s in policy["states"] if s["name"] == name), None)


def _adopt_policy(doc: dict, target: dict) -> None:
    """savePolicyToManagedIndexConfig: the job now runs its own copy of the new policy."""
    doc.update(policy_id=target["_id"], policy_seq_no=target["_seq_no"],
               policy_primary_term=target["_primary_term"], policy=target["_source"]["policy"])


def _initialized(doc: dict, state: Optional[str], at: int) -> dict:
    """ManagedIndexRunner.getInitializedManagedIndexMetaData."""
    return {
        "index": doc["index"], "index_uuid": doc["index_uuid"], "policy_id": doc["policy_id"],
        "policy_seq_no": doc["policy_seq_no"], "policy_primary_term": doc["policy_primary_term"],
        "policy_completed": False, "rolled_over": False, "index_creation_date": doc.get("index_creation_date"),
        "transition_to": None, "state": {"name": state or doc["policy"]["default_state"], "start_time": at},
        "action": None, "step": None, "retry_info": {"failed": False, "consumed_retries": 0},
        "info": {"message": f"Successfully initialized policy: {doc['policy_id']}"},
    }


def _failed_load(doc: dict, policy_id: str) -> dict:
    meta = _initialized(doc, None, 0)
    meta.update(policy_id=policy_id, policy_seq_no=None, policy_primary_term=None, state=None,
                retry_info={"failed": True, "consumed_retries": 0}, info={"message": f"Fail to load policy: {policy_id}"})
    return meta


def _is_failed(meta: dict) -> bool:
    """ManagedIndexUtils isFailed: the policy's retry info, or the current action, failed."""
    return bool((meta.get("retry_info") or {}).get("failed") or (meta.get("action") or {}).get("failed"))


def _state_to_execute(policy: dict, meta: dict) -> Optional[dict]:
    """Policy.getStateToExecute: the transition target if one is set, else the current state."""
    if meta.get("transition_to") is not None:
        return _state_named(policy, meta["transition_to"])
    return _state_named(policy, (meta.get("state") or {}).get("name"))


def _action_type(config: dict) -> str:
    return next(k for k in config if k not in ("timeout", "retry"))


def _action(state: dict, index: int) -> dict:
    if 0 <= index < len(state["actions"]):
        config = state["actions"][index]
        return {"type": _action_type(config), "index": index, "config": config}
    return {"type": "transition", "index": -1, "config": {}}  # TransitionsAction(state.transitions)


def _action_to_execute(state: dict, meta: dict) -> Optional[dict]:
    """State.getActionToExecute. Every action the double runs has one step, so an action
    whose step COMPLETED is followed by the next action, or by the transitions."""
    current = meta.get("action")
    if meta.get("transition_to") is not None or current is None:
        return _action(state, 0)
    if current["name"] == "transition":
        return _action(state, -1)
    index = current["index"]
    if not (0 <= index < len(state["actions"])) or _action_type(state["actions"][index]) != current["name"]:
        return None
    if (meta.get("step") or {}).get("step_status") == "completed":
        return _action(state, index + 1)
    return _action(state, index)


def _updated_action(meta: dict, action: dict, state_name: str, at: int) -> dict:
    """Action.getUpdatedActionMetadata (from the metadata as it was before this run)."""
    current = meta.get("action")
    if (meta.get("state") or {}).get("name") != state_name or (current or {}).get("index") != action["index"]:
        return {"name": action["type"], "start_time": at, "index": action["index"], "failed": False,
                "consumed_retries": 0, "last_retry_time": 0}
    return {**current, "start_time": current.get("start_time") or at}


def _step_start_time(meta: dict, step_name: str, at: int) -> int:
    """Step.getStepStartTime: a new step, or one after a COMPLETED step, starts now."""
    step = meta.get("step")
    if step is None or step["name"] != step_name or step["step_status"] == "completed":
        return at
    return step["start_time"]


def _explain_metadata(meta: dict) -> dict:
    """ManagedIndexMetaData.toXContent as the explain API shows it (only what is meaningful)."""
    out = {"index": meta["index"], "index_uuid": meta["index_uuid"], "policy_id": meta["policy_id"]}
    for key in ("policy_seq_no", "policy_primary_term"):
        if meta.get(key) is not None:
            out[key] = meta[key]
    if meta.get("rolled_over") or (meta.get("action") or {}).get("name") == "rollover":
        out["rolled_over"] = meta.get("rolled_over")
    if meta.get("index_creation_date") is not None:
        out["index_creation_date"] = meta["index_creation_date"]
    if meta.get("policy_completed"):
        out["policy_completed"] = True
        return out
    if meta.get("transition_to") is not None:
        out["transition_to"] = meta["transition_to"]
    else:
        for key in ("state", "action", "step"):
            if meta.get(key) is not None:
                out[key] = copy.deepcopy(meta[key])
    if meta.get("retry_info") is not None:
        out["retry_info"] = copy.deepcopy(meta["retry_info"])
    if meta.get("info") is not None:
        out["info"] = copy.deepcopy(meta["info"])
    return out


def _explain_entry(doc: dict, show_policy: bool) -> dict:
    """ExplainResponse.toXContent: both policy_id settings, the metadata, enabled, the policy."""
    entry = {"index.plugins.index_state_management.policy_id": doc["policy_id"],
             "index.opendistro.index_state_management.policy_id": doc["policy_id"]}
    if doc.get("metadata"):
        entry.update(_explain_metadata(doc["metadata"]))
    else:
        # TransportExplainAction: before the first job run the metadata is built from the
        # job itself (index, index_uuid, policy_id).
        entry.update(index=doc["index"], index_uuid=doc["index_uuid"], policy_id=doc["policy_id"])
    entry["enabled"] = doc.get("enabled", True)
    if show_policy:
        entry["policy"] = doc["policy"]
    return entry


def _without_auth(meta: dict) -> dict:
    """DataSourceServiceImpl.removeAuthInfo: credentials never leave the plugin."""
    out = copy.deepcopy(meta)
    out["properties"] = {k: v for k, v in meta.get("properties", {}).items() if not k.endswith(CREDENTIAL_SUFFIXES)}
    return out


def _rename_index(answer: Any) -> Any:
    # The plugins' own errors name their system index; keep the real OpenSearch answer otherwise.
    return answer


# ------------------------------------------------------------------ HTTP


HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
              "transfer-encoding", "upgrade", "content-length"}


# The transport action families of the doubled routes, as the plugins register them (ISM:
# ...indexstatemanagement/transport/action/*Action.kt names "cluster:admin/opendistro/ism/...";
# sql: datasources/.../transport/Transport*DataSourceAction.java "cluster:admin/opensearch/ql/
# datasources/...", direct-query's "cluster:admin/opensearch/direct_query/...").
ACTION_FAMILIES = (
    (POLICY_PREFIXES, "cluster:admin/opendistro/ism/*"),
    (("/_plugins/_query/_datasources", "/_opendistro/_query/_datasources"), "cluster:admin/opensearch/ql/datasources/*"),
    (("/_plugins/_directquery",), "cluster:admin/opensearch/direct_query/*"),
    (("/_double",), "the double's own clock routes"),
)


def check_caller(upstream: Upstream, headers, path: str) -> None:
    """In front of a secured cluster, a doubled route is the security plugin's to guard: the
    caller's credential is checked by the real plugin (its authinfo endpoint; its own 401 goes
    back unchanged), and only a user holding the all_access role may use the doubled plugins.
    That is NARROWER than the plugins (which check the action against the user's roles'
    cluster_permissions): a user the real cluster would let in through a custom role is refused
    here with the security plugin's 403, never the reverse. Without security, nothing to check."""
    if not upstream.secured:
        return
    caller = {k: v for k, v in headers.items() if k.lower() == "authorization"}
    status, resp_headers, data = upstream.raw("GET", "/_plugins/_security/authinfo", None, caller, timeout=30)
    if status != 200:
        content_type = dict((k.lower(), v) for k, v in resp_headers).get("content-type", "text/plain; charset=UTF-8")
        raise Reply(status, data, content_type)
    info = json.loads(data)
    if "all_access" in info.get("roles", []):
        return
    action = next((a for prefixes, a in ACTION_FAMILIES if any(path.startswith(p) for p in prefixes)), path)
    user = f"User [name={info.get('user_name')}, backend_roles={info.get('backend_roles', [])}, requestedTenant=null]"
    raise os_error(403, "security_exception", f"no permissions for [{action}] and {user}")


def make_handler(doubles: PluginDoubles, upstream: Upstream):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "opensearch-plugin-doubles"

        def log_message(self, fmt, *args):  # quiet; errors go to stderr explicitly
            pass

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        break
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                return b"".join(chunks)
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _send(self, status: int, body: Any, content_type: str = "application/json; charset=UTF-8") -> None:
            if body is None:
                data = b""
            elif isinstance(body, (bytes, bytearray)):
                data = bytes(body)
            elif isinstance(body, str) and not content_type.startswith("application/json"):
                data = body.encode()
            else:
                data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(0 if self.command == "HEAD" or status == 204 else len(data)))
            self.end_headers()
            if self.command != "HEAD" and status != 204:
                self.wfile.write(data)

        def _handle(self) -> None:
            raw = self._body()
            split = urllib.parse.urlsplit(self.path)
            path = re.sub(r"/+", "/", split.path)
            params = dict(urllib.parse.parse_qsl(split.query, keep_blank_values=True))
            route = self._route(path)
            if route is None:
                self._proxy(raw)
                return
            try:
                check_caller(upstream, self.headers, path)
                body = None
                if raw.strip():
                    try:
                        body = json.loads(raw)
                    except ValueError as exc:
                        raise os_error(400, "parse_exception", f"Failed to parse content to map: {exc}")
                status, answer = route(params, body)
                self._send(status, answer)
            except Reply as reply:
                self._send(reply.status, reply.body, reply.content_type)
            except Exception as exc:  # a bug in the double: say so loudly
                print(f"[plugin-doubles] {self.command} {self.path}: {exc!r}", file=sys.stderr)
                self._send(500, {"error": {"type": "plugin_double_error", "reason": repr(exc)}, "status": 500})

        def _route(self, path: str):
            method = self.command
            for prefix in POLICY_PREFIXES:
                if path == prefix or path.startswith(prefix + "/"):
                    rest = path[len(prefix):]
                    return lambda params, body: doubles.ism(method, rest, params, body)
            for prefix in ("/_plugins/_query/_datasources", "/_opendistro/_query/_datasources"):
                if path == prefix or path.startswith(prefix + "/"):
                    tail = path[len(prefix):].strip("/")
                    name = urllib.parse.unquote(tail) if tail else None
                    return lambda params, body: doubles.datasources(method, name, params, body)
            match = re.fullmatch(r"/_double/ism/(clock|run)", path)
            if match:
                return lambda params, body: doubles.double_ism(method, match.group(1), body)
            prefix = "/_plugins/_directquery/_query/"
            if path.startswith(prefix) and method == "POST":
                source = urllib.parse.unquote(path[len(prefix):].strip("/"))
                return lambda params, body: doubles.direct_query(source, body)
            return None

        def _proxy(self, raw: bytes) -> None:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP and k.lower() != "host"}
            try:
                status, resp_headers, data = upstream.raw(self.command, self.path, raw if raw or self.command in ("POST", "PUT") else None, headers)
            except OSError as exc:
                self._send(502, {"error": {"type": "plugin_double_upstream", "reason": f"OpenSearch unreachable: {exc}"}, "status": 502})
                return
            # A new index: the coordinator looks at it before the answer goes out (ISM reacts to
            # the cluster-changed event), so a following explain sees the attachment.
            creates_index = self.command == "PUT" and re.fullmatch(r"/[^/_][^/]*", urllib.parse.urlsplit(self.path).path or "")
            if creates_index and 200 <= status < 300 and doubles.jobs:
                try:
                    doubles.sweep()
                except Exception as exc:
                    print(f"[plugin-doubles] sweep after write: {exc!r}", file=sys.stderr)
            self.send_response(status)
            for key, value in resp_headers:
                if key.lower() not in HOP_BY_HOP:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle

    return Handler


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="0.0.0.0")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--upstream", required=True, help="the real OpenSearch, e.g. http://127.0.0.1:29200")
    ap.add_argument("--tls-cert", help="serve HTTPS with this certificate (PEM; with --tls-key)")
    ap.add_argument("--tls-key")
    ap.add_argument("--upstream-ca", help="the CA that signed an https upstream's certificate")
    ap.add_argument("--no-jobs", action="store_true",
                    help="run no ISM coordinator (another double in front of the same cluster runs it)")
    args = ap.parse_args(argv)
    user = os.environ.get("PLUGIN_DOUBLES_UPSTREAM_USER")
    auth = (user, os.environ.get("PLUGIN_DOUBLES_UPSTREAM_PASSWORD", "")) if user else None
    upstream = Upstream(args.upstream, auth=auth, ca_file=args.upstream_ca)
    doubles = PluginDoubles(
        upstream,
        master_key=os.environ.get("PLUGIN_DOUBLES_MASTER_KEY", ""),
        job_interval_min=float(os.environ.get("PLUGIN_DOUBLES_JOB_INTERVAL_MIN", "5")),
        sweep_s=float(os.environ.get("PLUGIN_DOUBLES_SWEEP_S", "1")),
    )
    doubles.jobs = not args.no_jobs
    if doubles.jobs:
        threading.Thread(target=doubles.sweeper, daemon=True, name="ism-coordinator").start()
    server = ThreadingHTTPServer((args.host, args.port), make_handler(doubles, upstream))
    server.daemon_threads = True
    if args.tls_cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    print(f"[plugin-doubles] ISM + SQL plugin CONTRACT DOUBLES on {args.host}:{args.port} -> {args.upstream}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
