#!/usr/bin/env python3
"""OpenSearch Dashboards 3.6.0 CONTRACT DOUBLE (test tooling only, never the product).

OpenSearch Dashboards cannot be obtained on the machines that run our tests, so the
stack's tests run this small HTTP server in its place.  It implements exactly the
Dashboards HTTP endpoints the clawker-monitor stack calls, with request and response
shapes taken from Dashboards' own route code (opensearch-project/OpenSearch-Dashboards,
tag 3.6.0 = commit ca4df1dedb5f76ebf61eaaca39e7da540b491b15, the OpenSearch-Dashboards ref
that opensearch-build's manifests/3.6.0/opensearch-dashboards-3.6.0.yml pins for the
3.6.0 release; paths below are at that commit):

  src/core/server/http/http_service.ts                runNotReadyServer: until core has
                                                      started, every request gets 503 "OpenSearch
                                                      Dashboards server is not ready yet" with
                                                      Retry-After: 30
  src/core/server/http/lifecycle_handlers.ts          osd-xsrf / osd-version checks
  src/core/server/status/routes/status.ts             GET /api/status (+ legacy_status.ts)
  src/core/server/saved_objects/routes/*.ts           create/get/update/delete/_find/
                                                      _bulk_get/_bulk_create/_import
  src/core/server/saved_objects/service/lib/repository.ts, errors.ts,
  decorate_opensearch_error.ts                        response shapes, error messages
  src/core/server/saved_objects/import/*.ts           _import pipeline and result shape
  src/plugins/workspace/server/routes/index.ts        /api/workspaces routes
  src/plugins/workspace/server/workspace_client.ts    workspace semantics + messages
  src/plugins/workspace/server/plugin.ts              /w/<workspaceId>/ URL prefix
  src/plugins/workspace/server/saved_objects/workspace_id_consumer_wrapper.ts
  src/plugins/workspace/server/saved_objects/saved_objects_wrapper_for_check_workspace_conflict.ts
  src/plugins/data_source/server/saved_objects/data_connection.ts

It is strict where real Dashboards is strict (it must never accept what Dashboards
rejects), and it adds the fields Dashboards adds (version, updated_at, namespaces,
migrationVersion, workspaces) so that providers' normalisation is exercised.

  src/core/server/saved_objects/serialization/serializer.ts   raw document (_id <type>:<id>)
  src/core/server/saved_objects/migrations/core/build_active_mappings.ts, index_migrator.ts
                                                      .kibana alias over .kibana_1, mappings

Python 3.11 standard library only.  Like real Dashboards, the double keeps NO state of its
own: saved objects and workspaces live in the real OpenSearch it is pointed at, in the
``.kibana`` index (see Store), so they survive the double's container being replaced and
vanish only with OpenSearch's data.

Usage:
  python server.py [--host 127.0.0.1] [--port 5601] [--opensearch-hosts '["http://x:9200"]']
  (unknown arguments such as --explore.enabled=true are accepted and ignored, like the
  command line the stack passes to the real image)
Environment: SERVER_PORT (default 5601), SERVER_HOST (default 0.0.0.0), OPENSEARCH_USERNAME /
  OPENSEARCH_PASSWORD / OPENSEARCH_SSL_CERTIFICATEAUTHORITIES / OPENSEARCH_SSL_VERIFICATIONMODE
  (a secured cluster: see opensearch_opener),
  OPENSEARCH_HOSTS (JSON list, default ["http://localhost:9200"] like Dashboards; the
  double answers 503 "not ready yet" until one of those hosts answers and its saved
  objects index exists, like real Dashboards).
"""

from __future__ import annotations

import argparse
import base64
import copy
import datetime as _dt
import email.parser
import email.policy
import json
import os
import re
import secrets
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DOUBLE_NAME = "opensearch-dashboards-contract-double"
VERSION = "3.6.0"
LOG_PREFIX = "[dashboards-double]"

# ---------------------------------------------------------------------------
# Saved object types the double knows.  namespaceType and management icon come from
# each type's registration; migrationVersion is the latest migration key of each type
# (Dashboards stamps {<type>: <latest>} on write; types without migrations get none).
# ---------------------------------------------------------------------------
TYPES: dict[str, dict[str, Any]] = {
    # src/plugins/data_source/server/saved_objects/data_connection.ts
    "data-connection": {"ns": "agnostic", "migration": None, "icon": "apps"},
    # src/plugins/data/server/saved_objects/index_patterns.ts
    "index-pattern": {"ns": "single", "migration": "7.6.0", "icon": "indexPatternApp"},
    # src/plugins/dashboard/server/saved_objects/dashboard.ts
    "dashboard": {"ns": "single", "migration": "7.9.3", "icon": "dashboardApp"},
    # src/plugins/visualizations/server/saved_objects/visualization.ts
    "visualization": {"ns": "single", "migration": "7.10.0", "icon": "visualizeApp"},
    # src/plugins/discover/server/saved_objects/search.ts
    "search": {"ns": "single", "migration": "7.9.3", "icon": "discoverApp"},
    # src/plugins/explore/server/saved_objects/search.ts (type name 'explore')
    "explore": {"ns": "single", "migration": "7.9.3", "icon": "discoverApp"},
    # src/core/server/ui_settings/saved_objects/ui_settings.ts
    "config": {"ns": "single", "migration": "7.9.0", "icon": "advancedSettingsApp"},
    # src/plugins/data/server/saved_objects/query.ts
    "query": {"ns": "single", "migration": None, "icon": "search"},
}
# The workspace type is stored in the same index but is not reachable through the
# saved objects API (plugins/workspace/server/integration_tests/routes.test.ts).
WORKSPACE_TYPE = "workspace"
# Types that cannot be created inside a workspace
# (saved_objects_wrapper_for_check_workspace_conflict.ts).
NOT_IN_WORKSPACE_TYPES = ("config", "data-source", "data-connection")
# Types a workspace-scoped read may only see when assigned to that workspace
# (workspace_id_consumer_wrapper.ts validateObjectInAWorkspace).
WORKSPACE_LEVEL_TYPES = ("data-source", "data-connection")
# Reference types the importer validates (import/validate_references.ts).
REF_TYPES_TO_VALIDATE = ("index-pattern", "search")
# Workspace use cases (routes/index.ts featuresSchema, DEFAULT_NAV_GROUPS).
USE_CASES = [
    "use-case-all",
    "use-case-observability",
    "use-case-security-analytics",
    "use-case-essentials",
    "use-case-search",
]
MAX_WORKSPACE_NAME_LENGTH = 40
MAX_WORKSPACE_DESCRIPTION_LENGTH = 200
WORKSPACE_ID_SIZE = 6
MAX_IMPORT_EXPORT_SIZE = 10000
MAX_IMPORT_PAYLOAD_BYTES = 26214400

DUPLICATE_WORKSPACE_NAME_ERROR = "workspace name has already been used, try with a different name"
WORKSPACE_NOT_FOUND_ERROR = "workspace not found"
NOT_READY_TEXT = "OpenSearch Dashboards server is not ready yet"
NOT_READY_RETRY_AFTER_S = "30"  # src/core/server/http/http_service.ts (runNotReadyServer)

REASONS = {s.value: s.phrase for s in HTTPStatus}
def opensearch_opener(env=os.environ) -> tuple[urllib.request.OpenerDirector, dict]:
    """How the double reaches OpenSearch, from the settings the Dashboards image maps from its
    environment (opensearch.username / .password, opensearch.ssl.certificateAuthorities /
    .verificationMode; src/core/server/opensearch/opensearch_config.ts): basic auth on every
    request when a username is set; https verified against the given CA ("full": chain and host
    name, "certificate": chain only, "none": nothing), the system's CAs without one.
    Dashboards talks to OpenSearch directly, never through a proxy from the environment."""
    import ssl

    mode = env.get("OPENSEARCH_SSL_VERIFICATIONMODE", "full")
    if mode not in ("full", "certificate", "none"):
        raise SystemExit(f"{LOG_PREFIX} opensearch.ssl.verificationMode: expected full, certificate or none, got {mode!r}")
    context = ssl.create_default_context(cafile=env.get("OPENSEARCH_SSL_CERTIFICATEAUTHORITIES") or None)
    if mode != "full":
        context.check_hostname = False
    if mode == "none":
        context.verify_mode = ssl.CERT_NONE
    headers = {}
    if env.get("OPENSEARCH_USERNAME"):
        token = f"{env['OPENSEARCH_USERNAME']}:{env.get('OPENSEARCH_PASSWORD', '')}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(token).decode()
    return urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)), headers


NO_PROXY_OPENER, OPENSEARCH_AUTH = opensearch_opener()


def log(msg: str) -> None:
    sys.stderr.write(f"{LOG_PREFIX} {msg}\n")
    sys.stderr.flush()


# ---------------------------------------------------------------------------
# Errors: Dashboards answers errors with a Boom payload {statusCode, error, message}.
# ---------------------------------------------------------------------------
class HttpError(Exception):
    def __init__(self, status: int, message: str | None = None, extra: dict | None = None,
                 text: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message or "")
        self.status = status
        self.message = message if message is not None else REASONS.get(status, "Error")
        self.extra = extra or {}
        self.text = text  # plain-text body instead of JSON
        self.headers = headers or {}

    def payload(self) -> dict:
        body = {"statusCode": self.status, "error": REASONS.get(self.status, "Error"),
                "message": self.message}
        body.update(self.extra)
        return body


def bad_request(reason: str) -> HttpError:
    # SavedObjectsErrorHelpers.createBadRequestError(reason): Boom prefixes the reason.
    return HttpError(400, f"{reason}: Bad Request")


def not_found(type_: str, id_: str) -> HttpError:
    return HttpError(404, f"Saved object [{type_}/{id_}] not found")


def conflict(type_: str, id_: str) -> HttpError:
    return HttpError(409, f"Saved object [{type_}/{id_}] conflict")


def unsupported_type(type_: str) -> HttpError:
    return HttpError(400, f"Unsupported saved object type: '{type_}': Bad Request")


def forbidden_not_in_workspace() -> HttpError:
    return HttpError(403, "Saved object does not belong to the workspace")


def invalid_workspaces() -> HttpError:
    return HttpError(400, "Exist invalid workspaces")


def not_allowed_in_workspace(type_: str, verb: str) -> HttpError:
    return HttpError(400, f"Unsupported type in workspace: '{type_}' is not allowed to be "
                          f"{verb} in workspace.")


def validation_error(path: str, message: str) -> HttpError:
    return HttpError(400, f"[{path}]: {message}")


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------
def now_iso() -> str:
    t = _dt.datetime.now(_dt.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def encode_version(seq_no: int, primary_term: int) -> str:
    # src/core/server/saved_objects/version/encode_version.ts: base64(JSON([seq, term]))
    raw = json.dumps([seq_no, primary_term], separators=(",", ":"))
    return base64.b64encode(raw.encode()).decode()


def decode_version(version: str) -> tuple[int, int]:
    # decode_version.ts: anything but a base64 JSON [int, int] is "Invalid version [..]"
    try:
        decoded = json.loads(base64.b64decode(version, validate=True).decode())
        if (isinstance(decoded, list) and len(decoded) == 2
                and all(isinstance(x, int) and not isinstance(x, bool) for x in decoded)):
            return decoded[0], decoded[1]
    except Exception:  # noqa: BLE001 - any decoding failure is an invalid version
        pass
    raise HttpError(400, f"Invalid version [{version}]")


def type_name(value: Any) -> str:
    # how @osd/config-schema names the received type in its messages (type-detect)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "Array"
    return "Object"


def deep_merge(base: Any, patch: Any) -> Any:
    # OpenSearch partial document update: objects merge recursively, anything else replaces
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for k, v in patch.items():
            out[k] = deep_merge(base.get(k), v) if k in base else copy.deepcopy(v)
        return out
    return copy.deepcopy(patch)


def tokens(text: str) -> list[str]:
    return [t for t in re.split(r"[^0-9a-z_]+", text.lower()) if t]


def string_values(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for v in value for s in string_values(v)]
    if isinstance(value, dict):
        return [s for v in value.values() for s in string_values(v)]
    return []


def search_matches(search: str, values: list[str], keyword: bool, operator: str) -> bool:
    """Approximation of simple_query_string over text (keyword=False) or keyword fields."""
    search = search.strip()
    if search in ("", "*"):
        return True
    clauses: list[tuple[str, str]] = []  # (kind, text)
    for m in re.finditer(r'"([^"]*)"|(\S+)', search):
        if m.group(1) is not None:
            clauses.append(("phrase", m.group(1)))
        else:
            word = m.group(2)
            clauses.append(("prefix", word[:-1]) if word.endswith("*") else ("term", word))

    def clause_hits(kind: str, text: str) -> bool:
        for v in values:
            if keyword:
                if kind in ("phrase", "term") and v == text:
                    return True
                if kind == "prefix" and v.startswith(text):
                    return True
                continue
            vt = tokens(v)
            qt = tokens(text)
            if not qt:
                continue
            if kind == "prefix":
                if any(t.startswith(qt[-1]) for t in vt) and all(q in vt for q in qt[:-1]):
                    return True
            elif kind == "phrase" or len(qt) > 1:
                n = len(qt)
                if any(vt[i:i + n] == qt for i in range(len(vt) - n + 1)):
                    return True
            elif qt[0] in vt:
                return True
        return False

    results = [clause_hits(k, t) for k, t in clauses]
    return all(results) if operator == "AND" else any(results)


# ---------------------------------------------------------------------------
# State
# ---------------------------------------------------------------------------
class StoreUnavailable(Exception):
    """OpenSearch did not answer (Dashboards then answers 503)."""


class Store:
    """Saved objects and workspaces in the REAL OpenSearch, laid out as Dashboards lays them out.

    Facts (opensearch-project/OpenSearch-Dashboards), re-expressed here, not copied:
    - index: the saved-objects index is the alias ``.kibana`` (config opensearchDashboards.index)
      over the concrete ``.kibana_1``, created with one shard and ``auto_expand_replicas 0-1``
      (saved_objects/migrations/core/index_migrator.ts migrateIndex, migration_context.ts,
      opensearch_index.ts createIndex/claimAlias);
    - mappings: root ``dynamic: strict`` with the core fields type, namespace(s), originId,
      updated_at, references (nested), migrationVersion (dynamic), and one object property per
      saved-object type (migrations/core/build_active_mappings.ts defaultMapping); the
      workspace type maps name as keyword (plugins/workspace/server/saved_objects/workspace.ts);
      objects carry a ``workspaces`` keyword list;
    - document: ``_id`` is ``<type>:<id>`` (our objects live in the default namespace, so no
      namespace prefix), ``_source`` holds the attributes under the type's own name plus
      type/references/migrationVersion/updated_at/originId/workspaces
      (saved_objects/serialization/serializer.ts savedObjectToRaw/generateRawId);
    - a workspace is a saved object of type ``workspace`` in the same index
      (workspace_client.ts create), so deleting the volume deletes every workspace with it;
    - ``version`` is base64 of [_seq_no, _primary_term] of the OpenSearch document
      (saved_objects/version/encode_version.ts); a write is visible to the next search
      (repository.ts writes with refresh ``wait_for``; the double refreshes the index once
      before its next search instead, which reads the same and waits for nothing).

    Nothing is kept in the double's process: a replaced container reads what the volume holds.
    """

    ALIAS = ".kibana"
    CONCRETE = ".kibana_1"

    def __init__(self, hosts: list[str]):
        self.lock = threading.RLock()
        self.hosts = [h.rstrip("/") for h in hosts]
        # Real Dashboards keeps its uuid in its data path, not in OpenSearch.
        self.uuid = str(uuid.uuid4())
        # Gets by id are real-time in OpenSearch; searches need a refresh after writes.
        self.unrefreshed = True

    # -- transport -------------------------------------------------------------
    def call(self, method: str, path: str, body: Any = None, *, ndjson: str | None = None) -> tuple[int, Any]:
        """One request to the first OpenSearch host that answers: a JSON body, or `ndjson` lines."""
        if ndjson is not None:
            data, content_type = ndjson.encode(), "application/x-ndjson"
        else:
            data, content_type = (json.dumps(body).encode() if body is not None else None), "application/json"
        last: Exception | None = None
        for host in self.hosts:
            req = urllib.request.Request(host + path, data=data, method=method,
                                         headers={"Content-Type": content_type, **OPENSEARCH_AUTH})
            try:
                with NO_PROXY_OPENER.open(req, timeout=30) as resp:
                    status, raw = resp.status, resp.read()
            except urllib.error.HTTPError as e:
                status, raw = e.code, e.read()
            except (urllib.error.URLError, OSError) as e:
                last = e
                continue
            try:
                return status, json.loads(raw.decode("utf-8")) if raw else None
            except ValueError:
                return status, raw.decode("utf-8", "replace")
        raise StoreUnavailable(f"no OpenSearch host answered ({self.hosts}): {last!r}")

    @staticmethod
    def _reason(body: Any) -> str:
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            err = body["error"]
            return f"{err.get('reason') or err.get('type')}: {err.get('type')}"
        return str(body)[:300]

    def _checked(self, method: str, path: str, body: Any = None, ok=(200, 201), **kw) -> tuple[int, Any]:
        status, answer = self.call(method, path, body, **kw)
        if status in ok:
            return status, answer
        if status == 400:
            # decorate_opensearch_error.ts: an OpenSearch 400 is a bad request of the caller
            raise HttpError(400, self._reason(answer))
        if status in (429, 503):
            raise HttpError(503, self._reason(answer))
        raise HttpError(500, f"OpenSearch answered {status} to {method} {path}: {self._reason(answer)}")

    # -- index -----------------------------------------------------------------
    @staticmethod
    def mappings() -> dict:
        def type_mapping(type_: str) -> dict:
            props: dict[str, Any] = {"title": {"type": "text"}}
            if type_ == "data-connection":
                props = {"connectionId": {"type": "keyword"}, "type": {"type": "keyword"}}
            elif type_ == "config":
                props = {"buildNum": {"type": "keyword"}}
            return {"dynamic": False, "properties": props}

        props: dict[str, Any] = {
            "migrationVersion": {"dynamic": "true", "type": "object"},
            "type": {"type": "keyword"},
            "namespace": {"type": "keyword"},
            "namespaces": {"type": "keyword"},
            "originId": {"type": "keyword"},
            "updated_at": {"type": "date"},
            "references": {"type": "nested", "properties": {
                "name": {"type": "keyword"}, "type": {"type": "keyword"}, "id": {"type": "keyword"}}},
            "workspaces": {"type": "keyword"},
            "permissions": {"type": "object", "enabled": False},
            WORKSPACE_TYPE: {"dynamic": False, "properties": {
                "name": {"type": "keyword"}, "description": {"type": "text"},
                "features": {"type": "keyword"}, "color": {"type": "keyword"},
                "icon": {"type": "keyword"}, "defaultVISTheme": {"type": "keyword"},
                "reserved": {"type": "boolean"}}},
        }
        for type_ in TYPES:
            props[type_] = type_mapping(type_)
        return {"dynamic": "strict", "properties": props}

    def ensure_index(self) -> None:
        """What Dashboards' migrator does on an empty cluster: create .kibana_1 behind .kibana.

        An existing .kibana (kept volume) is used as it is: its documents are the state.
        """
        status, _ = self.call("HEAD", f"/{self.ALIAS}")
        if status == 200:
            return
        body = {"settings": {"number_of_shards": 1, "auto_expand_replicas": "0-1"},
                "mappings": self.mappings(), "aliases": {self.ALIAS: {}}}
        status, answer = self.call("PUT", f"/{self.CONCRETE}", body)
        if status == 200:
            log(f"created {self.CONCRETE} with alias {self.ALIAS} (saved objects index)")
            return
        kind = (answer.get("error") or {}).get("type") if isinstance(answer, dict) else None
        if kind != "resource_already_exists_exception":
            raise StoreUnavailable(f"creating {self.CONCRETE}: {status} {self._reason(answer)}")

    # -- documents ---------------------------------------------------------------
    @staticmethod
    def raw_id(type_: str, id_: str) -> str:
        return f"{type_}:{id_}"

    def _doc_path(self, type_: str, id_: str) -> str:
        return f"/{self.ALIAS}/_doc/{urllib.parse.quote(self.raw_id(type_, id_), safe='')}"

    @staticmethod
    def from_raw(hit: dict) -> dict | None:
        src = hit.get("_source") or {}
        type_ = src.get("type")
        if not type_ or not str(hit.get("_id", "")).startswith(f"{type_}:") or type_ not in src:
            return None  # not a saved object (serializer.ts isRawSavedObject)
        doc: dict[str, Any] = {
            "type": type_, "id": hit["_id"][len(type_) + 1:],
            "attributes": src.get(type_) or {}, "references": src.get("references") or [],
            "updated_at": src.get("updated_at"),
            "seq_no": hit.get("_seq_no"), "primary_term": hit.get("_primary_term"),
            "doc_version": hit.get("_version"),
        }
        for key in ("migrationVersion", "workspaces", "originId", "namespace", "permissions"):
            if src.get(key):
                doc[key] = src[key]
        return doc

    @staticmethod
    def to_source(doc: dict) -> dict:
        src: dict[str, Any] = {doc["type"]: doc["attributes"], "type": doc["type"],
                               "references": doc.get("references") or []}
        for key in ("namespace", "originId", "migrationVersion", "updated_at", "workspaces",
                    "permissions"):
            if doc.get(key):
                src[key] = doc[key]
        return src

    def get(self, type_: str, id_: str) -> dict | None:
        status, answer = self._checked("GET", self._doc_path(type_, id_), ok=(200, 404))
        if status == 404 or not answer.get("found"):
            return None
        return self.from_raw(answer)

    def put(self, doc: dict) -> dict:
        _, answer = self._checked("PUT", self._doc_path(doc["type"], doc["id"]),
                                  self.to_source(doc))
        doc["seq_no"], doc["primary_term"] = answer["_seq_no"], answer["_primary_term"]
        doc["doc_version"] = answer["_version"]
        self.unrefreshed = True
        return doc

    def get_many(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], dict | None]:
        """Several objects in one ``_mget`` (repository.bulkGet / the import's checkConflicts)."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        body = {"docs": [{"_id": self.raw_id(t, i)} for t, i in wanted]}
        status, answer = self._checked("POST", f"/{self.ALIAS}/_mget", body, ok=(200, 404))
        found: dict[tuple[str, str], dict | None] = {key: None for key in wanted}
        if status == 404:
            return found
        for key, hit in zip(wanted, answer.get("docs") or []):
            if hit.get("found"):
                found[key] = self.from_raw(hit)
        return found

    def put_many(self, docs: list[dict]) -> list[dict]:
        """Several objects in one ``_bulk`` of index actions (repository.bulkCreate)."""
        if not docs:
            return docs
        lines = []
        for doc in docs:
            lines.append(json.dumps({"index": {"_index": self.ALIAS, "_id": self.raw_id(doc["type"], doc["id"])}}))
            lines.append(json.dumps(self.to_source(doc)))
        _, answer = self._checked("POST", "/_bulk", ndjson="\n".join(lines) + "\n", ok=(200,))
        for doc, item in zip(docs, answer.get("items") or []):
            result = item.get("index") or {}
            if result.get("error") or result.get("status", 500) >= 300:
                raise HttpError(500, f"OpenSearch refused {doc['type']}:{doc['id']}: {self._reason(result)}")
            doc["seq_no"], doc["primary_term"] = result["_seq_no"], result["_primary_term"]
            doc["doc_version"] = result["_version"]
        self.unrefreshed = True
        return docs

    def delete(self, type_: str, id_: str) -> None:
        self._checked("DELETE", self._doc_path(type_, id_), ok=(200, 404))
        self.unrefreshed = True

    def all(self) -> list[dict]:
        """Every saved object in the index, oldest first (the order Dashboards' index gives)."""
        body = {"size": MAX_IMPORT_EXPORT_SIZE, "seq_no_primary_term": True, "version": True,
                "query": {"match_all": {}}, "sort": [{"updated_at": {"order": "asc", "missing": "_last"}}, "_doc"]}
        if self.unrefreshed:
            # Cleared before the refresh: a write that lands meanwhile sets it again.
            self.unrefreshed = False
            self._checked("POST", f"/{self.ALIAS}/_refresh", ok=(200, 404))
        status, answer = self._checked("POST", f"/{self.ALIAS}/_search", body, ok=(200, 404))
        if status == 404:
            return []
        docs = [self.from_raw(h) for h in answer["hits"]["hits"]]
        return [d for d in docs if d is not None]

    def workspace_exists(self, ws_id: str) -> bool:
        return self.get(WORKSPACE_TYPE, ws_id) is not None


def migration_version(type_: str) -> dict | None:
    latest = TYPES.get(type_, {}).get("migration")
    return {type_: latest} if latest else None


def namespaces_for(type_: str) -> list[str]:
    return [] if TYPES.get(type_, {}).get("ns", "agnostic") == "agnostic" else ["default"]


def filter_attributes(attrs: dict, fields: list[str] | None) -> dict:
    if not fields:
        return copy.deepcopy(attrs)
    return {k: copy.deepcopy(v) for k, v in attrs.items() if k in fields}


def view_raw(doc: dict, fields: list[str] | None = None) -> dict:
    """Shape of create / bulk-create / _find results (repository._rawToSavedObject)."""
    out: dict[str, Any] = {"type": doc["type"], "id": doc["id"]}
    if TYPES.get(doc["type"], {}).get("ns") == "single":
        out["namespaces"] = ["default"]
    if doc.get("originId"):
        out["originId"] = doc["originId"]
    out["attributes"] = filter_attributes(doc["attributes"], fields)
    out["references"] = copy.deepcopy(doc.get("references") or [])
    if doc.get("migrationVersion"):
        out["migrationVersion"] = dict(doc["migrationVersion"])
    out["updated_at"] = doc["updated_at"]
    out["version"] = encode_version(doc["seq_no"], doc["primary_term"])
    if doc.get("workspaces"):
        out["workspaces"] = list(doc["workspaces"])
    return out


def view_source(doc: dict, fields: list[str] | None = None) -> dict:
    """Shape of GET and _bulk_get results (repository.get / getSavedObjectFromSource)."""
    out: dict[str, Any] = {"id": doc["id"], "type": doc["type"],
                           "namespaces": namespaces_for(doc["type"])}
    if doc.get("originId"):
        out["originId"] = doc["originId"]
    out["updated_at"] = doc["updated_at"]
    if doc.get("workspaces"):
        out["workspaces"] = list(doc["workspaces"])
    out["version"] = encode_version(doc["seq_no"], doc["primary_term"])
    out["attributes"] = filter_attributes(doc["attributes"], fields)
    out["references"] = copy.deepcopy(doc.get("references") or [])
    if doc.get("migrationVersion"):
        out["migrationVersion"] = dict(doc["migrationVersion"])
    return out


# ---------------------------------------------------------------------------
# Request validation in the style of @osd/config-schema (unknown keys are rejected)
# ---------------------------------------------------------------------------
def check_keys(obj: dict, allowed: tuple[str, ...], path: str) -> None:
    for k in obj:
        if k not in allowed:
            raise validation_error(f"{path}.{k}", "definition for this key is missing")


def require_object(value: Any, path: str, *, plain: bool = True) -> dict:
    if value is None:
        value = {}
    if not isinstance(value, dict):
        if plain:
            raise validation_error(path, f"expected a plain object value, but found "
                                         f"[{type_name(value)}] instead.")
        raise validation_error(path, f"expected value of type [object] but got "
                                     f"[{type_name(value)}]")
    return value


def require_record(value: Any, path: str) -> dict:
    if not isinstance(value, dict):
        raise validation_error(path, f"expected value of type [object] but got "
                                     f"[{type_name(value) if value is not None else 'undefined'}]")
    return value


def require_string(value: Any, path: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        got = "undefined" if value is None else type_name(value)
        raise validation_error(path, f"expected value of type [string] but got [{got}]")
    return value


def require_string_list(value: Any, path: str, *, optional: bool = False,
                        min_size: int = 0) -> list[str] | None:
    if value is None and optional:
        return None
    if not isinstance(value, list):
        got = "undefined" if value is None else type_name(value)
        raise validation_error(path, f"expected value of type [array] but got [{got}]")
    for i, v in enumerate(value):
        require_string(v, f"{path}.{i}")
    if len(value) < min_size:
        raise validation_error(path, f"array size is [{len(value)}], but cannot be smaller "
                                     f"than [{min_size}]")
    return value


def require_references(value: Any, path: str) -> list[dict] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise validation_error(path, f"expected value of type [array] but got [{type_name(value)}]")
    for i, ref in enumerate(value):
        p = f"{path}.{i}"
        if not isinstance(ref, dict):
            raise validation_error(p, f"expected a plain object value, but found "
                                      f"[{type_name(ref)}] instead.")
        for key in ("name", "type", "id"):
            require_string(ref.get(key), f"{p}.{key}")
        check_keys(ref, ("name", "type", "id"), p)
    return value


def query_bool(query: dict, key: str, default: bool) -> bool:
    if key not in query:
        return default
    v = query[key]
    if isinstance(v, list):
        v = v[-1]
    if v in ("true", True):
        return True
    if v in ("false", False):
        return False
    raise validation_error(f"request query.{key}", f"expected value of type [boolean] but got "
                                                   f"[{type_name(v)}]")


def query_number(query: dict, key: str, default: int, minimum: int = 0) -> int:
    if key not in query:
        return default
    v = query[key]
    if isinstance(v, list):
        v = v[-1]
    try:
        n = int(v)
    except (TypeError, ValueError):
        raise validation_error(f"request query.{key}",
                               f"expected value of type [number] but got [{type_name(v)}]")
    if n < minimum:
        raise validation_error(f"request query.{key}",
                               f"Value must be equal to or greater than [{minimum}].")
    return n


def query_list(query: dict, key: str) -> list[str] | None:
    if key not in query:
        return None
    v = query[key]
    return v if isinstance(v, list) else [v]


def array_entries(body: Any) -> list[tuple[str, Any]]:
    """A body schema.arrayOf(...) validates: (path, entry) for each, or 400 when it is no array."""
    if not isinstance(body, list):
        raise validation_error("request body", f"expected value of type [array] but got "
                                               f"[{type_name(body) if body is not None else 'undefined'}]")
    return [(f"request body.{i}", entry) for i, entry in enumerate(body)]


def check_query_keys(query: dict, allowed: tuple[str, ...]) -> None:
    for k in query:
        if k not in allowed:
            raise validation_error(f"request query.{k}", "definition for this key is missing")


# ---------------------------------------------------------------------------
# The application: routes and semantics
# ---------------------------------------------------------------------------
class App:
    def __init__(self, store: Store):
        self.store = store
        self.opensearch_hosts = store.hosts
        # Real Dashboards serves only "not ready yet" until it reached OpenSearch and its
        # saved-objects index is in place (core/server/http/http_service.ts notReady server;
        # saved_objects_service.ts runs the migrator before start).
        self.ready = False
        self.opensearch_up = False
        self.started = now_iso()
        self._stop = threading.Event()
        threading.Thread(target=self._watch_opensearch, daemon=True).start()

    # -- OpenSearch reachability --------------------------------------------
    def _probe(self) -> bool:
        for host in self.opensearch_hosts:
            try:
                probe = urllib.request.Request(host.rstrip("/") + "/", headers=OPENSEARCH_AUTH)
                with NO_PROXY_OPENER.open(probe, timeout=3) as resp:
                    if resp.status < 500:
                        return True
            except urllib.error.HTTPError as e:
                if e.code < 500:
                    return True
            except Exception:  # noqa: BLE001 - unreachable host
                continue
        return False

    def _watch_opensearch(self) -> None:
        while not self._stop.is_set():
            up = self._probe()
            if up != self.opensearch_up:
                log(f"OpenSearch {'reachable' if up else 'unreachable'} at {self.opensearch_hosts}")
            self.opensearch_up = up
            if up and not self.ready:
                try:
                    with self.store.lock:
                        self.store.ensure_index()
                    self.ready = True
                    log("ready: serving the Dashboards API (contract double); saved objects "
                        f"in OpenSearch index {Store.ALIAS}")
                except (StoreUnavailable, HttpError) as e:
                    log(f"saved objects index not ready: {e}")
            self._stop.wait(1.0 if up else 0.5)

    def stop(self) -> None:
        self._stop.set()

    # -- dispatch --------------------------------------------------------------
    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes
               ) -> tuple[int, Any, dict[str, str]]:
        """Returns (status, body (dict/list/str), extra headers)."""
        if not self.ready:
            # http_service.ts runNotReadyServer: every path and method, 503, and the client
            # is asked to come back after 30 seconds.
            raise HttpError(503, text=NOT_READY_TEXT, headers={"Retry-After": NOT_READY_RETRY_AFTER_S})

        parsed = urllib.parse.urlsplit(raw_path)
        path = parsed.path
        query = parse_query(parsed.query)

        # plugins/workspace/server/plugin.ts: /w/<id>/... is rewritten to /..., and the
        # id becomes the request's workspace (core/server/utils getWorkspaceIdFromUrl).
        ws: str | None = None
        m = re.match(r"^/w/([^/]+)(/.*)$", path)
        if m:
            ws = urllib.parse.unquote(m.group(1))
            path = m.group(2)

        route = self.route(method, path)
        if route is None:
            raise HttpError(404, "Not Found")
        handler, params, kind = route

        # lifecycle_handlers.ts createVersionCheckPostAuthHandler
        req_version = headers.get("osd-version")
        if req_version is not None and req_version != VERSION:
            raise HttpError(400, "Browser client is out of date, please refresh the page "
                                 f"(\"osd-version\" header was \"{req_version}\" but should "
                                 f"be \"{VERSION}\")",
                            extra={"attributes": {"expected": VERSION, "got": req_version}})
        # lifecycle_handlers.ts createXsrfPostAuthHandler
        if method not in ("GET", "HEAD") and "osd-xsrf" not in headers \
                and "osd-version" not in headers:
            raise HttpError(400, "Request must contain a osd-xsrf header.")

        if kind != "status" and not self.opensearch_up:
            raise HttpError(503, "No Living connections")

        payload: Any = None
        if kind == "json":
            payload = parse_json_body(headers, body)
        elif kind == "multipart":
            payload = (headers.get("content-type", ""), body)

        # Real Dashboards serves requests side by side (one Node.js process, every OpenSearch
        # call asynchronous): a status question or a read never waits for an import. The
        # double runs one request at a time only where it decides in Python what real
        # Dashboards leaves to OpenSearch (a create that must not overwrite, which Dashboards
        # sends as an OpenSearch `create`; an update checked against `version`, sent with
        # if_seq_no; an import's or a workspace's several steps): those hold the lock.
        if kind == "status" or self.side_by_side(handler, query):
            return 200, self.run(handler, ws, query, payload, params), {}
        with self.store.lock:
            return 200, self.run(handler, ws, query, payload, params), {}

    @staticmethod
    def run(handler, ws, query, payload, params) -> Any:
        try:
            return handler(ws=ws, query=query, body=payload, **params)
        except StoreUnavailable as e:
            log(f"OpenSearch unavailable: {e}")
            raise HttpError(503, "No Living connections")

    def side_by_side(self, handler, query: dict) -> bool:
        """Reads, and writes that overwrite (nothing is decided before the write)."""
        if handler in (self.so_get, self.so_bulk_get, self.so_find):
            return True
        return handler in (self.so_create, self.so_bulk_create) and query.get("overwrite") == "true"

    def route(self, method: str, path: str):
        segs = [urllib.parse.unquote(s) for s in path.split("/")[1:]]
        if method == "HEAD":
            method = "GET"
        if segs == ["api", "status"] and method == "GET":
            return self.get_status, {}, "status"
        if len(segs) >= 2 and segs[:2] == ["api", "saved_objects"]:
            rest = segs[2:]
            if rest == ["_find"] and method == "GET":
                return self.so_find, {}, "none"
            if rest == ["_bulk_get"] and method == "POST":
                return self.so_bulk_get, {}, "json"
            if rest == ["_import"] and method == "POST":
                return self.so_import, {}, "multipart"
            if rest == ["_bulk_create"] and method == "POST":
                return self.so_bulk_create, {}, "json"
            if len(rest) == 1 and rest[0] and method == "POST":
                return self.so_create, {"type_": rest[0], "id_": None}, "json"
            if len(rest) == 2 and all(rest):
                type_, id_ = rest
                if method == "POST":
                    return self.so_create, {"type_": type_, "id_": id_}, "json"
                if method == "GET":
                    return self.so_get, {"type_": type_, "id_": id_}, "none"
                if method == "PUT":
                    return self.so_update, {"type_": type_, "id_": id_}, "json"
                if method == "DELETE":
                    return self.so_delete, {"type_": type_, "id_": id_}, "none"
            return None
        if len(segs) >= 2 and segs[:2] == ["api", "workspaces"]:
            rest = segs[2:]
            if rest == [] and method == "POST":
                return self.ws_create, {}, "json"
            if rest == ["_list"] and method == "POST":
                return self.ws_list, {}, "json"
            if len(rest) == 1 and rest[0]:
                if method == "GET":
                    return self.ws_get, {"id_": rest[0]}, "none"
                if method == "PUT":
                    return self.ws_update, {"id_": rest[0]}, "json"
                if method == "DELETE":
                    return self.ws_delete, {"id_": rest[0]}, "none"
            return None
        return None

    # -- status ----------------------------------------------------------------
    def get_status(self, ws, query, body):
        # core/server/status/routes/status.ts (+ legacy_status.ts for the default format)
        check_query_keys(query, ("v8format",))
        v8 = query_bool(query, "v8format", False)
        available = self.opensearch_up
        if v8:
            level = "available" if available else "unavailable"
            summary = ("All services are available" if available
                       else "[opensearch]: Unable to connect to OpenSearch")
            core = {"opensearch": {"level": level, "summary": summary},
                    "savedObjects": {"level": level, "summary": summary}}
            status = {"overall": {"level": level, "summary": summary}, "core": core,
                      "plugins": {}}
        else:
            attrs = ({"state": "green", "title": "Green", "nickname": "Looking good",
                      "icon": "success", "uiColor": "secondary"} if available else
                     {"state": "red", "title": "Red", "nickname": "Danger Will Robinson! Danger!",
                      "icon": "danger", "uiColor": "danger"})
            since = now_iso()
            statuses = [
                {"id": f"core:{svc}@{VERSION}",
                 "message": "Contract double: " + ("available" if available else "unavailable"),
                 "since": since, "state": attrs["state"], "icon": attrs["icon"],
                 "uiColor": attrs["uiColor"]}
                for svc in ("opensearch", "savedObjects")
            ]
            status = {"overall": {"since": since, **attrs}, "statuses": statuses}
        return {
            "name": DOUBLE_NAME,
            "uuid": self.store.uuid,
            "version": {"number": VERSION, "build_hash": "contract-double", "build_number": 0,
                        "build_snapshot": False},
            "status": status,
            "metrics": {"last_updated": now_iso(), "collection_interval_in_millis": 5000,
                        "process": {"pid": os.getpid()}, "os": {}, "response_times": {},
                        "requests": {}, "concurrent_connections": 0},
        }

    # -- workspace scoping helpers --------------------------------------------
    def check_workspaces_exist(self, workspaces: list[str] | None) -> None:
        # workspace_id_consumer_wrapper.ts checkWorkspacesExist
        if workspaces and any(not self.store.workspace_exists(w) for w in workspaces):
            raise invalid_workspaces()

    @staticmethod
    def visible_in_workspace(doc: dict, ws: str) -> bool:
        # workspace_id_consumer_wrapper.ts validateObjectInAWorkspace
        if doc["type"] in WORKSPACE_LEVEL_TYPES and not doc.get("workspaces"):
            return False
        if doc.get("workspaces"):
            return ws in doc["workspaces"]
        return True

    # -- saved objects: create -------------------------------------------------
    def so_create(self, ws, query, body, type_, id_):
        # saved_objects/routes/create.ts
        check_query_keys(query, ("overwrite",))
        overwrite = query_bool(query, "overwrite", False)
        body = require_object(body, "request body")
        check_keys(body, ("attributes", "migrationVersion", "references", "initialNamespaces",
                          "workspaces"), "request body")
        attributes = require_record(body.get("attributes"), "request body.attributes")
        if body.get("migrationVersion") is not None:
            require_record(body["migrationVersion"], "request body.migrationVersion")
        references = require_references(body.get("references"), "request body.references")
        initial_ns = require_string_list(body.get("initialNamespaces"),
                                         "request body.initialNamespaces", optional=True,
                                         min_size=1)
        body_ws = require_string_list(body.get("workspaces"), "request body.workspaces",
                                      optional=True, min_size=1)

        # workspace_id_consumer_wrapper.ts: config is never put in the request workspace
        workspaces = body_ws if body_ws is not None else ([ws] if ws and type_ != "config" else None)
        self.check_workspaces_exist(workspaces)
        # saved_objects_wrapper_for_check_workspace_conflict.ts
        if workspaces and type_ in NOT_IN_WORKSPACE_TYPES:
            raise not_allowed_in_workspace(type_, "created")
        existing = self.store.get(type_, id_) if id_ and type_ in TYPES else None
        if id_ and overwrite and existing is not None:
            current = existing.get("workspaces") or []
            if workspaces and any(w not in current for w in workspaces):
                raise conflict(type_, id_)
            workspaces = existing.get("workspaces")
        # repository.ts create
        if initial_ns is not None:
            raise bad_request('"options.initialNamespaces" can only be used on multi-namespace types')
        if type_ not in TYPES:
            raise unsupported_type(type_)
        if id_ is None:
            id_ = str(uuid.uuid1())
        elif existing is not None and not overwrite:
            # OpenSearch create on an existing _id, decorated by decorate_opensearch_error.ts
            raise HttpError(409, f"[{type_}:{id_}]: version conflict, document already exists "
                                 f"(current version [{existing.get('doc_version', 1)}]): "
                                 f"version_conflict_engine_exception")
        doc = self.write_doc(type_, id_, attributes, references, workspaces)
        log(f"created {type_}/{id_}" + (f" in workspaces {workspaces}" if workspaces else ""))
        return view_raw(doc)

    def so_bulk_create(self, ws, query, body):
        """POST [/w/<id>]/api/saved_objects/_bulk_create: several objects in one request.

        saved_objects/routes/bulk_create.ts (query ``overwrite``; body an array of {type,
        id?, attributes, version?, migrationVersion?, references?, initialNamespaces?});
        the request workspace is added by workspace_id_consumer_wrapper.ts bulkCreate;
        saved_objects_wrapper_for_check_workspace_conflict.ts bulkCreate answers a config or
        data-source object aimed at a workspace, and an overwrite of an object that lives
        in another workspace, with a per-object error (``metadata.isNotOverwritable``) and
        keeps the workspaces of an object it overwrites; repository.ts bulkCreate writes the
        rest in one ``_bulk`` and answers an unsupported type, initialNamespaces on a
        single-namespace type and (without overwrite) an existing id per object. The answer
        is 200 whatever failed: every failure is an item with ``error``.
        """
        check_query_keys(query, ("overwrite",))
        overwrite = query_bool(query, "overwrite", False)
        items = []
        for p, entry in array_entries(body):
            entry = require_object(entry, p)
            check_keys(entry, ("type", "id", "attributes", "version", "migrationVersion", "references",
                               "initialNamespaces"), p)
            type_ = require_string(entry.get("type"), f"{p}.type")
            id_ = require_string(entry.get("id"), f"{p}.id", optional=True)
            attributes = require_record(entry.get("attributes"), f"{p}.attributes")
            require_string(entry.get("version"), f"{p}.version", optional=True)
            if entry.get("migrationVersion") is not None:
                require_record(entry["migrationVersion"], f"{p}.migrationVersion")
            references = require_references(entry.get("references"), f"{p}.references")
            initial_ns = require_string_list(entry.get("initialNamespaces"), f"{p}.initialNamespaces",
                                             optional=True, min_size=1)
            items.append((type_, id_, attributes, references, initial_ns))
        workspaces = [ws] if ws else None
        self.check_workspaces_exist(workspaces)
        refused, allowed = [], []
        for item in items:
            if workspaces and item[0] in NOT_IN_WORKSPACE_TYPES:
                e = not_allowed_in_workspace(item[0], "imported").payload()
                refused.append({"type": item[0], "id": item[1], "error": {**e, "metadata": {"isNotOverwritable": True}}})
            else:
                allowed.append(item)
        stored = self.store.get_many([(t, i) for t, i, *_ in allowed if i and t in TYPES])
        docs, answers = [], []
        for type_, id_, attributes, references, initial_ns in allowed:
            existing = stored.get((type_, id_)) if id_ else None
            targets = workspaces
            if overwrite and existing is not None:
                # An object overwritten keeps the workspaces it has, from a workspace URL or not;
                # one that lives elsewhere than the request workspace is not overwritten.
                if workspaces and any(w not in (existing.get("workspaces") or []) for w in workspaces):
                    refused.append({"id": id_, "type": type_, "attributes": {}, "references": [],
                                    "error": {**conflict(type_, id_).payload(), "metadata": {"isNotOverwritable": True}}})
                    continue
                targets = existing.get("workspaces")
            if type_ not in TYPES:
                answers.append({"id": id_, "type": type_, "error": unsupported_type(type_).payload()})
            elif initial_ns is not None:
                answers.append({"id": id_, "type": type_, "error": bad_request(
                    '"initialNamespaces" can only be used on multi-namespace types').payload()})
            elif existing is not None and not overwrite:
                answers.append({"id": id_, "type": type_, "error": conflict(type_, id_).payload()})
            else:
                doc = self.new_doc(type_, id_ or str(uuid.uuid1()), attributes, references, targets)
                docs.append(doc)
                answers.append(doc)
        self.store.put_many(docs)
        log(f"bulk-created {len(docs)} of {len(items)} objects" + (f" in workspace {ws}" if ws else ""))
        return {"saved_objects": refused + [a if "error" in a else view_raw(a) for a in answers]}

    def write_doc(self, type_: str, id_: str, attributes: dict, references: list | None,
                  workspaces: list[str] | None, origin_id: str | None = None) -> dict:
        return self.store.put(self.new_doc(type_, id_, attributes, references, workspaces, origin_id))

    @staticmethod
    def new_doc(type_: str, id_: str, attributes: dict, references: list | None,
                workspaces: list[str] | None, origin_id: str | None = None) -> dict:
        doc: dict[str, Any] = {
            "type": type_, "id": id_, "attributes": copy.deepcopy(attributes),
            "references": copy.deepcopy(references) if isinstance(references, list) else [],
            "updated_at": now_iso(),
        }
        mv = migration_version(type_)
        if mv:
            doc["migrationVersion"] = mv
        if workspaces:
            doc["workspaces"] = list(workspaces)
        if origin_id:
            doc["originId"] = origin_id
        return doc

    # -- saved objects: get / update / delete ---------------------------------
    def so_get(self, ws, query, body, type_, id_):
        # saved_objects/routes/get.ts; repository.get: unknown types are "not found"
        doc = self.store.get(type_, id_) if type_ in TYPES else None
        if doc is None:
            raise not_found(type_, id_)
        if ws and not self.visible_in_workspace(doc, ws):
            raise forbidden_not_in_workspace()
        return view_source(doc)

    def so_update(self, ws, query, body, type_, id_):
        # saved_objects/routes/update.ts; repository.update (partial update, optional
        # optimistic concurrency through `version`)
        check_query_keys(query, ("force",))
        query_bool(query, "force", False)
        body = require_object(body, "request body")
        check_keys(body, ("attributes", "version", "references"), "request body")
        attributes = require_record(body.get("attributes"), "request body.attributes")
        version = require_string(body.get("version"), "request body.version", optional=True)
        references = require_references(body.get("references"), "request body.references")
        if type_ not in TYPES:
            raise not_found(type_, id_)
        if version is not None:
            seq, term = decode_version(version)
        doc = self.store.get(type_, id_)
        if doc is None:
            raise not_found(type_, id_)
        if version is not None and (seq, term) != (doc["seq_no"], doc["primary_term"]):
            raise HttpError(409, f"[{type_}:{id_}]: version conflict, required seqNo [{seq}], "
                                 f"primary term [{term}]. current document has seqNo "
                                 f"[{doc['seq_no']}] and primary term [{doc['primary_term']}]: "
                                 f"version_conflict_engine_exception")
        doc["attributes"] = deep_merge(doc["attributes"], attributes)
        if isinstance(references, list):
            doc["references"] = copy.deepcopy(references)
        doc["updated_at"] = now_iso()
        self.store.put(doc)
        out: dict[str, Any] = {"id": id_, "type": type_, "updated_at": doc["updated_at"],
                               "version": encode_version(doc["seq_no"], doc["primary_term"]),
                               "namespaces": namespaces_for(type_)}
        if doc.get("originId"):
            out["originId"] = doc["originId"]
        if references is not None:
            out["references"] = copy.deepcopy(references)
        out["attributes"] = copy.deepcopy(attributes)
        return out

    def so_delete(self, ws, query, body, type_, id_):
        # saved_objects/routes/delete.ts; repository.delete answers {}
        check_query_keys(query, ("force",))
        query_bool(query, "force", False)
        if type_ not in TYPES or self.store.get(type_, id_) is None:
            raise not_found(type_, id_)
        self.store.delete(type_, id_)
        log(f"deleted {type_}/{id_}")
        return {}

    # -- saved objects: find / bulk_get ---------------------------------------
    def so_find(self, ws, query, body):
        # saved_objects/routes/find.ts; repository.find
        check_query_keys(query, ("per_page", "page", "type", "search", "default_search_operator",
                                 "search_fields", "sort_field", "has_reference", "fields",
                                 "filter", "namespaces", "workspaces"))
        per_page = query_number(query, "per_page", 20)
        page = query_number(query, "page", 1)
        types = query_list(query, "type")
        if types is None:
            raise validation_error("request query.type",
                                   "expected at least one defined value but got [undefined]")
        operator = query.get("default_search_operator", "OR")
        if isinstance(operator, list):
            operator = operator[-1]
        if operator not in ("OR", "AND"):
            raise validation_error("request query.default_search_operator",
                                   "types that failed validation:\n- [request query."
                                   "default_search_operator.0]: expected value to equal [OR]\n"
                                   "- [request query.default_search_operator.1]: expected "
                                   "value to equal [AND]")
        search = query.get("search")
        if isinstance(search, list):
            search = search[-1]
        search_fields = query_list(query, "search_fields")
        fields = query_list(query, "fields")
        sort_field = query.get("sort_field")
        has_reference = query.get("has_reference")
        if isinstance(has_reference, str):
            try:
                has_reference = json.loads(has_reference)
            except ValueError:
                raise validation_error("request query.has_reference",
                                       "could not parse object value from json input")
        q_ws = query_list(query, "workspaces")
        workspaces = q_ws if q_ws is not None else ([ws] if ws else None)
        workspaces = [w for w in (workspaces or []) if w != "*"] or None
        self.check_workspaces_exist(workspaces)

        allowed = [t for t in types if t in TYPES]
        if not allowed:
            return {"page": page, "per_page": per_page, "total": 0, "saved_objects": []}
        hits = []
        for doc in self.store.all():
            if doc["type"] not in allowed:
                continue
            if workspaces is not None and not set(doc.get("workspaces") or []) & set(workspaces):
                continue
            if has_reference and not any(
                    r.get("type") == has_reference.get("type") and r.get("id") == has_reference.get("id")
                    for r in doc.get("references") or []):
                continue
            if search:
                if search_fields:
                    names = [f.split("^")[0] for f in search_fields]
                    values = [s for n in names for s in string_values(doc["attributes"].get(n))]
                else:
                    values = string_values(doc["attributes"])
                if not search_matches(search, values, False, operator):
                    continue
            hits.append(doc)
        if sort_field:
            def sort_key(d: dict):
                v = d.get(sort_field) if sort_field in ("type", "updated_at") else \
                    d["attributes"].get(sort_field)
                return (v is None, str(v) if v is not None else "")
            hits.sort(key=sort_key)
        start = per_page * (page - 1)
        page_hits = hits[start:start + per_page]
        saved = []
        for d in page_hits:
            item = view_raw(d, fields)
            item["score"] = 1 if search else 0
            saved.append(item)
        return {"page": page, "per_page": per_page, "total": len(hits), "saved_objects": saved}

    def so_bulk_get(self, ws, query, body):
        # saved_objects/routes/bulk_get.ts; repository.bulkGet; the workspace id consumer
        # wrapper replaces objects outside the request workspace with a 403 error
        items = []
        for p, entry in array_entries(body):
            if not isinstance(entry, dict):
                raise validation_error(p, f"expected a plain object value, but found "
                                          f"[{type_name(entry)}] instead.")
            check_keys(entry, ("type", "id", "fields", "namespaces"), p)
            require_string(entry.get("type"), f"{p}.type")
            require_string(entry.get("id"), f"{p}.id")
            require_string_list(entry.get("fields"), f"{p}.fields", optional=True)
            items.append(entry)
        out = []
        for entry in items:
            type_, id_ = entry["type"], entry["id"]
            if type_ not in TYPES:
                out.append({"id": id_, "type": type_,
                            "error": unsupported_type(type_).payload()})
                continue
            doc = self.store.get(type_, id_)
            if doc is None:
                out.append({"id": id_, "type": type_, "error": not_found(type_, id_).payload()})
                continue
            if ws and not self.visible_in_workspace(doc, ws):
                out.append({"id": id_, "type": type_, "attributes": {}, "references": [],
                            "error": forbidden_not_in_workspace().payload()})
                continue
            out.append(view_source(doc, entry.get("fields")))
        return {"saved_objects": out}

    # -- saved objects: import -------------------------------------------------
    def so_import(self, ws, query, body):
        # saved_objects/routes/import.ts + saved_objects/import/import_saved_objects.ts
        check_query_keys(query, ("overwrite", "createNewCopies", "workspaces", "dataSourceId",
                                 "dataSourceEnabled"))
        overwrite = query_bool(query, "overwrite", False)
        create_new_copies = query_bool(query, "createNewCopies", False)
        if overwrite and create_new_copies:
            raise validation_error("request query", "cannot use [overwrite] with [createNewCopies]")
        q_ws = query_list(query, "workspaces")
        content_type, raw = body
        filename, data = parse_multipart_file(content_type, raw)
        ext = os.path.splitext(filename)[1].lower()
        if ext != ".ndjson":
            raise HttpError(400, f"Invalid file extension {ext}")
        objects = parse_ndjson(data)
        if len(objects) > MAX_IMPORT_EXPORT_SIZE:
            raise HttpError(400, f"Can't import more than {MAX_IMPORT_EXPORT_SIZE} objects")
        target_ws = q_ws if q_ws is not None else ([ws] if ws else None)
        return self.import_objects(objects, overwrite, create_new_copies, target_ws, ws)

    def import_objects(self, objects: list, overwrite: bool, create_new_copies: bool,
                       target_ws: list[str] | None, request_ws: str | None) -> dict:
        errors: list[dict] = []
        # collect_saved_objects.ts
        entries: list[str] = []
        collected: list[dict] = []
        for obj in objects:
            if not isinstance(obj, dict) or not isinstance(obj.get("attributes"), dict):
                # Dashboards dereferences obj.attributes here and fails with a 500
                raise HttpError(500, "An internal server error occurred.")
            key = f"{obj.get('type')}:{obj.get('id')}"
            entries.append(key)
            title = obj["attributes"].get("title")
            if obj.get("type") not in TYPES:
                errors.append(err_entry(obj.get("id"), obj.get("type"), title,
                                        {"type": "unsupported_type"}))
                continue
            collected.append(obj)
        dupes = sorted({k for k in entries if entries.count(k) > 1}, key=entries.index)
        if dupes:
            raise bad_request(f"Non-unique import objects detected: [{','.join(dupes)}]")

        # validate_references.ts: only index-pattern and search references are checked
        in_file = {f"{o['type']}:{o['id']}" for o in collected}
        wanted: dict[str, tuple[str, str]] = {}
        for o in collected:
            for ref in o.get("references") or []:
                if ref.get("type") in REF_TYPES_TO_VALIDATE:
                    k = f"{ref['type']}:{ref['id']}"
                    if k not in in_file:
                        wanted[k] = (ref["type"], ref["id"])
        missing: set[str] = set()
        errored_refs = []
        referenced = self.store.get_many(list(wanted.values()))
        for k, (rt, rid) in wanted.items():
            doc = referenced[(rt, rid)]
            if doc is None:
                missing.add(k)
            elif request_ws and not self.visible_in_workspace(doc, request_ws):
                errored_refs.append({"id": rid, "type": rt, "attributes": {}, "references": [],
                                     "error": forbidden_not_in_workspace().payload()})
        if errored_refs:
            raise HttpError(400, "Bad Request", extra={"attributes": {"objects": errored_refs}})
        for o in collected:
            refs = [{"type": r["type"], "id": r["id"]} for r in o.get("references") or []
                    if r.get("type") in REF_TYPES_TO_VALIDATE
                    and f"{r['type']}:{r['id']}" in missing]
            if refs:
                errors.append(err_entry(o["id"], o["type"], o["attributes"].get("title"),
                                        {"type": "missing_references", "references": refs}))

        # check_conflicts.ts (+ the workspace conflict wrapper's checkConflicts)
        id_map: dict[str, dict] = {}
        pending_overwrites: set[str] = set()
        if create_new_copies:
            for o in collected:
                id_map[f"{o['type']}:{o['id']}"] = {"id": str(uuid.uuid4()), "omitOriginId": True}
        else:
            # check_conflicts.ts reads every object in one bulkGet
            stored = self.store.get_many([(o["type"], o["id"]) for o in collected])
            for o in collected:
                key = f"{o['type']}:{o['id']}"
                title = o["attributes"].get("title")
                if target_ws and o["type"] in NOT_IN_WORKSPACE_TYPES:
                    e = not_allowed_in_workspace(o["type"], "imported").payload()
                    e["metadata"] = {"isNotOverwritable": True}
                    errors.append(err_entry(o["id"], o["type"], title, {**e, "type": "unknown"}))
                    continue
                existing = stored[(o["type"], o["id"])]
                if existing is None:
                    continue
                if target_ws and any(w not in (existing.get("workspaces") or []) for w in target_ws):
                    # unresolvable conflict: Dashboards imports a copy under a new id
                    id_map[key] = {"id": str(uuid.uuid4()), "omitOriginId": False}
                elif not overwrite:
                    errors.append(err_entry(o["id"], o["type"], title, {"type": "conflict"}))
                else:
                    pending_overwrites.add(key)

        # create_saved_objects.ts
        err_keys = {f"{e['type']}:{e['id']}" for e in errors}
        to_create = [o for o in collected if f"{o['type']}:{o['id']}" not in err_keys]
        created: list[dict] = []
        if to_create:
            resolvable = any(e["error"]["type"] in ("conflict", "ambiguous_conflict",
                                                    "missing_references") for e in errors)
            prepared = []
            for o in to_create:
                refs = []
                for r in o.get("references") or []:
                    mapped = id_map.get(f"{r.get('type')}:{r.get('id')}")
                    refs.append({**r, "id": mapped["id"]} if mapped else dict(r))
                entry = id_map.get(f"{o['type']}:{o['id']}")
                new_id = entry["id"] if entry else o["id"]
                origin = None
                if entry:
                    origin = None if entry["omitOriginId"] else (o.get("originId") or o["id"])
                else:
                    origin = o.get("originId")
                prepared.append((o, new_id, refs, origin))
            if resolvable:
                # Dashboards does not write anything when a resolvable error exists, but
                # still reports the remaining objects as successes.
                for o, new_id, refs, origin in prepared:
                    created.append({"type": o["type"], "id": o["id"], "title": o["attributes"].get("title"),
                                    "destinationId": new_id if new_id != o["id"] else None,
                                    "originId": origin})
            else:
                created.extend(self.bulk_create_for_import(prepared, overwrite, target_ws, errors))

        success_results = []
        for c in created:
            key = f"{c['type']}:{c['id']}"
            item: dict[str, Any] = {"type": c["type"], "id": c["id"],
                                    "meta": meta(c["title"], c["type"])}
            if key in pending_overwrites:
                item["overwrite"] = True
            if c.get("destinationId"):
                item["destinationId"] = c["destinationId"]
                if not c.get("originId") and not create_new_copies:
                    item["createNewCopy"] = True
            success_results.append(item)
        error_results = []
        for e in errors:
            e = dict(e)
            e["meta"] = {**e.get("meta", {}), "icon": TYPES.get(e["type"], {}).get("icon")}
            if e["meta"]["icon"] is None:
                del e["meta"]["icon"]
            if f"{e['type']}:{e['id']}" in pending_overwrites:
                e["overwrite"] = True
            error_results.append(e)
        result: dict[str, Any] = {"successCount": len(created), "success": not errors}
        if success_results:
            result["successResults"] = success_results
        if error_results:
            result["errors"] = error_results
        log(f"import into {target_ws or 'global'}: successCount={len(created)} "
            f"errors={[(e['type'], e['id'], e['error']['type']) for e in errors]}")
        return result

    def bulk_create_for_import(self, prepared, overwrite, target_ws, errors) -> list[dict]:
        # workspace_id_consumer_wrapper.ts bulkCreate: the target workspaces must exist
        self.check_workspaces_exist(target_ws)
        created = []
        # repository.bulkCreate: one bulkGet preflight, then one _bulk of every object
        stored = self.store.get_many([(o["type"], new_id) for o, new_id, _refs, _origin in prepared])
        docs = []
        for o, new_id, refs, origin in prepared:
            type_ = o["type"]
            title = o["attributes"].get("title")
            existing = stored[(type_, new_id)]
            workspaces = target_ws
            if target_ws and type_ in NOT_IN_WORKSPACE_TYPES:
                e = not_allowed_in_workspace(type_, "imported").payload()
                errors.append(err_entry(o["id"], type_, title, {**e, "type": "unknown"}))
                continue
            if existing is not None:
                if not overwrite:
                    errors.append(err_entry(o["id"], type_, title, {"type": "conflict"}))
                    continue
                if target_ws and any(w not in (existing.get("workspaces") or []) for w in target_ws):
                    errors.append(err_entry(o["id"], type_, title, {"type": "conflict"}))
                    continue
                workspaces = existing.get("workspaces")
            docs.append(self.new_doc(type_, new_id, o["attributes"], refs, workspaces, origin))
            created.append({"type": type_, "id": o["id"], "title": title,
                            "destinationId": new_id if new_id != o["id"] else None,
                            "originId": origin})
        self.store.put_many(docs)
        return created

    # -- workspaces --------------------------------------------------------------
    def ws_docs(self) -> list[dict]:
        return [d for d in self.store.all() if d["type"] == WORKSPACE_TYPE]

    @staticmethod
    def ws_view(doc: dict, with_mode: bool = False) -> dict:
        # workspace_client.ts getFlattenedResultWithSavedObject (+ permissionMode in _list)
        out = copy.deepcopy(doc["attributes"])
        out["lastUpdatedTime"] = doc["updated_at"]
        out["id"] = doc["id"]
        if with_mode:
            out["permissionMode"] = "read"
        return out

    def validate_ws_attributes(self, attrs: Any, path: str, creating: bool) -> dict:
        # plugins/workspace/server/routes/index.ts create/updateWorkspaceAttributesSchema
        attrs = require_object(attrs, path)
        name = attrs.get("name")
        if creating or name is not None:
            require_string(name, f"{path}.name")
            if len(name) > MAX_WORKSPACE_NAME_LENGTH:
                raise validation_error(f"{path}.name", f"value has length [{len(name)}] but it "
                                       f"must have a maximum length of [{MAX_WORKSPACE_NAME_LENGTH}].")
            if not name.strip():
                raise validation_error(f"{path}.name", "can't be empty or blank.")
        features = attrs.get("features")
        if creating or features is not None:
            require_string_list(features, f"{path}.features", min_size=1)
            n = sum(1 for f in features if f in USE_CASES)
            if n == 0:
                raise validation_error(f"{path}.features", "At least one use case is required. "
                                       f"Valid options: {', '.join(USE_CASES)}")
            if n > 1:
                raise validation_error(f"{path}.features", "Only one use case is allowed per workspace.")
        desc = require_string(attrs.get("description"), f"{path}.description", optional=True)
        if desc is not None and len(desc) > MAX_WORKSPACE_DESCRIPTION_LENGTH:
            raise validation_error(f"{path}.description", f"value has length [{len(desc)}] but it "
                                   f"must have a maximum length of [{MAX_WORKSPACE_DESCRIPTION_LENGTH}].")
        color = require_string(attrs.get("color"), f"{path}.color", optional=True)
        if color is not None and not re.fullmatch(r"#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})", color):
            raise validation_error(f"{path}.color", "invalid workspace color format")
        require_string(attrs.get("icon"), f"{path}.icon", optional=True)
        require_string(attrs.get("defaultVISTheme"), f"{path}.defaultVISTheme", optional=True)
        if attrs.get("reserved") is not None and not isinstance(attrs["reserved"], bool):
            raise validation_error(f"{path}.reserved", f"expected value of type [boolean] but got "
                                                       f"[{type_name(attrs['reserved'])}]")
        check_keys(attrs, ("name", "features", "description", "color", "icon", "defaultVISTheme",
                           "reserved"), path)
        return attrs

    @staticmethod
    def validate_ws_settings(settings: Any, path: str) -> dict:
        settings = require_object(settings, path)
        check_keys(settings, ("permissions", "dataSources", "dataConnections"), path)
        if settings.get("permissions") is not None:
            require_record(settings["permissions"], f"{path}.permissions")
        require_string_list(settings.get("dataSources"), f"{path}.dataSources", optional=True)
        require_string_list(settings.get("dataConnections"), f"{path}.dataConnections", optional=True)
        return settings

    def name_taken(self, name: str, except_id: str | None = None) -> bool:
        # workspace_client.ts: find type=workspace search="<name>" searchFields=[name]
        # (name is a keyword field: exact match)
        return any(d["attributes"].get("name") == name and d["id"] != except_id
                   for d in self.ws_docs())

    def set_assignment(self, type_: str, ids: list[str], ws_id: str, add: bool) -> None:
        for id_ in ids:
            doc = self.store.get(type_, id_)
            if doc is None:
                continue
            current = list(doc.get("workspaces") or [])
            if add and ws_id not in current:
                current.append(ws_id)
            elif not add and ws_id in current:
                current.remove(ws_id)
            else:
                continue
            if current:
                doc["workspaces"] = current
            else:
                doc.pop("workspaces", None)
            doc["updated_at"] = now_iso()
            self.store.put(doc)

    def ws_create(self, ws, query, body):
        # workspace routes/index.ts POST /api/workspaces; workspace_client.ts create
        body = require_object(body, "request body")
        attrs = self.validate_ws_attributes(body.get("attributes"), "request body.attributes",
                                            creating=True)
        settings = self.validate_ws_settings(body.get("settings"), "request body.settings")
        check_keys(body, ("attributes", "settings"), "request body")
        if self.name_taken(attrs["name"]):
            return {"success": False, "error": DUPLICATE_WORKSPACE_NAME_ERROR}
        data_sources = settings.get("dataSources") or []
        data_connections = settings.get("dataConnections") or []
        # addToWorkspaces on an object that does not exist fails the whole create; the
        # client's formatError renders any not-found error as "workspace not found".
        for t, ids in (("data-source", data_sources), ("data-connection", data_connections)):
            if any(self.store.get(t, i) is None for i in ids):
                return {"success": False, "error": WORKSPACE_NOT_FOUND_ERROR}
        new_id = secrets.token_urlsafe(WORKSPACE_ID_SIZE)[:WORKSPACE_ID_SIZE]
        while self.store.get(WORKSPACE_TYPE, new_id) is not None:
            new_id = secrets.token_urlsafe(WORKSPACE_ID_SIZE)[:WORKSPACE_ID_SIZE]
        self.set_assignment("data-source", data_sources, new_id, True)
        self.set_assignment("data-connection", data_connections, new_id, True)
        doc = {"type": WORKSPACE_TYPE, "id": new_id, "attributes": copy.deepcopy(attrs),
               "references": [], "updated_at": now_iso()}
        self.store.put(doc)
        log(f"workspace created: {new_id} name={attrs['name']!r} dataConnections={data_connections}")
        return {"success": True, "result": {"id": new_id}}

    def ws_list(self, ws, query, body):
        # workspace routes/index.ts POST /api/workspaces/_list; workspace_client.ts list
        body = require_object(body, "request body")
        check_keys(body, ("search", "sortOrder", "perPage", "page", "sortField", "searchFields",
                          "permissionModes"), "request body")
        search = require_string(body.get("search"), "request body.search", optional=True)
        require_string(body.get("sortOrder"), "request body.sortOrder", optional=True)
        sort_field = require_string(body.get("sortField"), "request body.sortField", optional=True)
        search_fields = require_string_list(body.get("searchFields"), "request body.searchFields",
                                            optional=True)
        per_page = body.get("perPage", 20)
        page = body.get("page", 1)
        for key, val in (("perPage", per_page), ("page", page)):
            if not isinstance(val, int) or isinstance(val, bool):
                raise validation_error(f"request body.{key}", f"expected value of type [number] "
                                                              f"but got [{type_name(val)}]")
            if val < 0:
                raise validation_error(f"request body.{key}",
                                       "Value must be equal to or greater than [0].")
        docs = self.ws_docs()
        if search:
            fields = [f.split("^")[0] for f in (search_fields or ["name", "description"])]
            docs = [d for d in docs if any(
                search_matches(search, string_values(d["attributes"].get(f)), f == "name", "OR")
                for f in fields)]
        if sort_field:
            docs.sort(key=lambda d: str(d["attributes"].get(sort_field, "")),
                      reverse=body.get("sortOrder") == "desc")
        start = per_page * (page - 1)
        return {"success": True, "result": {
            "page": page, "per_page": per_page, "total": len(docs),
            "workspaces": [self.ws_view(d, with_mode=True) for d in docs[start:start + per_page]],
        }}

    def ws_get(self, ws, query, body, id_):
        doc = self.store.get(WORKSPACE_TYPE, id_)
        if doc is None:
            return {"success": False, "error": WORKSPACE_NOT_FOUND_ERROR}
        return {"success": True, "result": self.ws_view(doc)}

    def ws_update(self, ws, query, body, id_):
        # workspace routes/index.ts PUT /api/workspaces/{id}; workspace_client.ts update
        body = require_object(body, "request body")
        attrs = self.validate_ws_attributes(body.get("attributes"), "request body.attributes",
                                            creating=False)
        settings = self.validate_ws_settings(body.get("settings"), "request body.settings")
        check_keys(body, ("attributes", "settings"), "request body")
        doc = self.store.get(WORKSPACE_TYPE, id_)
        if doc is None:
            return {"success": False, "error": WORKSPACE_NOT_FOUND_ERROR}
        if doc["attributes"].get("name") != attrs.get("name"):
            probe = attrs.get("name") if attrs.get("name") is not None else "undefined"
            if self.name_taken(probe, except_id=None):
                return {"success": False, "error": DUPLICATE_WORKSPACE_NAME_ERROR}
        for t, key in (("data-source", "dataSources"), ("data-connection", "dataConnections")):
            wanted = settings.get(key)
            if wanted is None:
                continue
            current = [d["id"] for d in self.store.all()
                       if d["type"] == t and id_ in (d.get("workspaces") or [])]
            to_add = [i for i in wanted if i not in current]
            if any(self.store.get(t, i) is None for i in to_add):
                return {"success": False, "error": WORKSPACE_NOT_FOUND_ERROR}
            self.set_assignment(t, [i for i in current if i not in wanted], id_, False)
            self.set_assignment(t, to_add, id_, True)
        doc["attributes"] = {**doc["attributes"], **copy.deepcopy(attrs)}
        doc["updated_at"] = now_iso()
        self.store.put(doc)
        log(f"workspace updated: {id_}")
        return {"success": True, "result": True}

    def ws_delete(self, ws, query, body, id_):
        # workspace_client.ts delete: unassign data sources/connections, delete the
        # workspace's objects (deleteByWorkspace), then the workspace itself
        doc = self.store.get(WORKSPACE_TYPE, id_)
        if doc is None:
            return {"success": False, "error": WORKSPACE_NOT_FOUND_ERROR}
        if doc["attributes"].get("reserved"):
            return {"success": False, "error": f"Reserved workspace {id_} is not allowed to delete."}
        for d in self.store.all():
            wss = d.get("workspaces") or []
            if id_ not in wss or d["type"] == WORKSPACE_TYPE:
                continue
            if d["type"] in WORKSPACE_LEVEL_TYPES or len(wss) > 1:
                self.set_assignment(d["type"], [d["id"]], id_, False)
            else:
                self.store.delete(d["type"], d["id"])
        self.store.delete(WORKSPACE_TYPE, id_)
        log(f"workspace deleted: {id_}")
        return {"success": True, "result": True}


def err_entry(id_, type_, title, error: dict) -> dict:
    out: dict[str, Any] = {"id": id_, "type": type_}
    if title is not None:
        out["title"] = title
    out["meta"] = {"title": title} if title is not None else {}
    out["error"] = error
    return out


def meta(title, type_) -> dict:
    m: dict[str, Any] = {}
    if title is not None:
        m["title"] = title
    icon = TYPES.get(type_, {}).get("icon")
    if icon:
        m["icon"] = icon
    return m


# ---------------------------------------------------------------------------
# Body parsing
# ---------------------------------------------------------------------------
def parse_query(qs: str) -> dict[str, Any]:
    """qs-style parsing: repeated keys become lists; a[b]=c becomes {'a': {'b': 'c'}}."""
    out: dict[str, Any] = {}
    for key, value in urllib.parse.parse_qsl(qs, keep_blank_values=True):
        m = re.fullmatch(r"([^\[\]]+)\[([^\[\]]+)\]", key)
        if m:
            out.setdefault(m.group(1), {})
            if isinstance(out[m.group(1)], dict):
                out[m.group(1)][m.group(2)] = value
            continue
        if key in out:
            out[key] = (out[key] if isinstance(out[key], list) else [out[key]]) + [value]
        else:
            out[key] = value
    return out


def parse_json_body(headers: dict[str, str], body: bytes) -> Any:
    ctype = headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if not body:
        return None
    if ctype != "application/json" and not ctype.endswith("+json"):
        raise HttpError(415, "Unsupported Media Type")
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise HttpError(400, "Invalid request payload JSON format")


def parse_multipart_file(content_type: str, body: bytes) -> tuple[str, bytes]:
    ctype = content_type.split(";")[0].strip().lower()
    if ctype != "multipart/form-data":
        raise HttpError(415, "Unsupported Media Type")
    if "boundary=" not in content_type:
        raise HttpError(400, "Invalid content-type header: multipart missing boundary")
    if len(body) > MAX_IMPORT_PAYLOAD_BYTES:
        raise HttpError(413, "Payload content length greater than maximum allowed: "
                             f"{MAX_IMPORT_PAYLOAD_BYTES}")
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\nMIME-Version: 1.0\r\n\r\n" + body)
    if not msg.is_multipart() or msg.defects:
        raise HttpError(400, "Invalid multipart payload format")
    file_part = None
    fields: list[str] = []
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        fields.append(name)
        if name == "file":
            file_part = part
    for name in fields:
        if name != "file":
            raise validation_error(f"request body.{name}", "definition for this key is missing")
    if file_part is None:
        raise validation_error("request body.file",
                               "expected value of type [Stream] but got [undefined]")
    filename = file_part.get_filename()
    if filename is None:
        raise validation_error("request body.file",
                               "expected value of type [Stream] but got [string]")
    return filename, file_part.get_payload(decode=True) or b""


def js_truthy(value: Any) -> bool:
    if value is None or value is False or value == "":
        return False
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0:
        return False
    return True


def parse_ndjson(data: bytes) -> list:
    # routes/utils.ts createSavedObjectsStreamFromNdJson: split on \n, JSON.parse every
    # non-blank line (a parse failure answers 400), drop the export-details line.
    out = []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise HttpError(400, "Unexpected token in JSON: the file is not UTF-8")
    pos = 0
    for line in text.split("\n"):
        if line.strip():
            try:
                obj = json.loads(line)
            except ValueError as e:
                raise HttpError(400, f"Unexpected token in JSON at position {pos + getattr(e, 'pos', 0)}"
                                     f" ({e.msg})")
            if js_truthy(obj) and not (isinstance(obj, dict) and js_truthy(obj.get("exportedCount"))):
                out.append(obj)
        pos += len(line) + 1
    return out


# ---------------------------------------------------------------------------
# HTTP plumbing
# ---------------------------------------------------------------------------
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "OpenSearchDashboardsContractDouble/" + VERSION
    app: App  # set on the class by make_server

    def log_message(self, fmt, *args):  # quieter default logging; see _respond
        pass

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size_line = self.rfile.readline().strip()
                size = int(size_line.split(b";")[0] or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        body = self._read_body()
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            status, result, extra = self.app.handle(self.command, self.path, headers, body)
        except HttpError as e:
            if e.text is not None:
                self._respond(e.status, e.text.encode(), "text/plain; charset=utf-8", headers=e.headers)
            else:
                self._respond(e.status, json.dumps(e.payload(), ensure_ascii=False).encode("utf-8"), headers=e.headers)
            return
        except Exception as e:  # noqa: BLE001 - an internal error answers 500 like hapi
            log(f"internal error on {self.command} {self.path}: {e!r}")
            self._respond(500, json.dumps({"statusCode": 500, "error": "Internal Server Error",
                                           "message": "An internal server error occurred."}).encode())
            return
        self._respond(status, json.dumps(result, ensure_ascii=False).encode("utf-8"), headers=extra)

    def _respond(self, status: int, payload: bytes, ctype: str = "application/json; charset=utf-8",
                 headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("osd-name", DOUBLE_NAME)
        self.send_header("X-Contract-Double", "opensearch-dashboards " + VERSION)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        log(f"{self.command} {self.path} -> {status}")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _dispatch


# Dashboards' opensearch.hosts default (src/core/server/opensearch/opensearch_config.ts).
DEFAULT_OPENSEARCH_HOSTS = ["http://localhost:9200"]


def make_server(host: str, port: int, opensearch_hosts: list[str] | None = None
                ) -> tuple[ThreadingHTTPServer, App]:
    app = App(Store(opensearch_hosts or DEFAULT_OPENSEARCH_HOSTS))
    handler = type("BoundHandler", (Handler,), {"app": app})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server, app


def parse_hosts(value: str | None) -> list[str]:
    if not value:
        return []
    value = value.strip()
    if value.startswith("["):
        hosts = json.loads(value)
    else:
        hosts = [h.strip() for h in value.split(",") if h.strip()]
    return [str(h) for h in hosts]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="OpenSearch Dashboards contract DOUBLE")
    parser.add_argument("--host", default=os.environ.get("SERVER_HOST", "0.0.0.0"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("SERVER_PORT", "5601")))
    parser.add_argument("--opensearch-hosts", default=os.environ.get("OPENSEARCH_HOSTS"))
    args, ignored = parser.parse_known_args(argv)
    hosts = parse_hosts(args.opensearch_hosts)
    server, app = make_server(args.host, args.port, hosts)
    log(f"OpenSearch Dashboards {VERSION} CONTRACT DOUBLE listening on {args.host}:{args.port}"
        f" (opensearch hosts: {app.opensearch_hosts}; ignored args: {ignored})")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        app.stop()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
