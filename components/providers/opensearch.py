"""Dynamic providers for the OpenSearch side of the bootstrap (SPEC "Bootstrap" 1-5).

Every asset is a resource whose inputs are the API endpoint, the asset's name
and its document as a nested dict (`body`), so `pulumi preview --diff` shows
field-level changes. The providers:

- check   validate the document locally, before any request;
- diff    compare normalised documents (settings spelled the way OpenSearch
          spells them, dotted mapping names expanded, server bookkeeping
          ignored), so an unchanged stack previews no changes; only a new
          name replaces, anything else updates in place;
- read    return the live document, or nothing when it was deleted, so
          `pulumi refresh` sees edits and deletions made outside Pulumi;
- create / update / delete through the REST API.

The endpoint is an input but never a reason to replace: a new port moves the
container, not the assets (they live on the data volume), so an endpoint-only
change is an update that rewrites state and sends nothing.

Providers are pickled into the state by reference to this module: they hold
no sessions or locks, and every method builds its own ApiClient.
"""

from __future__ import annotations

import copy
import fnmatch
import re
import sys
import time
from typing import Any, Optional

import pulumi
from pulumi.output import Unknown
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)

from components import names as _names
from components.providers.diffing import changed_paths, project_onto
from components.providers.http_client import ApiClient, ApiError, reason_of

DEFAULT_TIMEOUT_S = 120.0
# How long a freshly created index may take to show its ISM policy in explain.
POLICY_ATTACH_WAIT_S = 30.0
# How often an ISM update is retried when someone else changed the policy in between.
ISM_CONFLICT_ATTEMPTS = 5
# How long delete keeps trying an OpenSearch that does not answer at all.
DELETE_UNREACHABLE_S = 20.0
# Properties kept secret in state (see Datasource).
SECRET_PROPS = ("key_fingerprint",)

# Pulumi marks not-yet-known values with this string during preview.
_UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.\-]{0,254}$")
_ENDPOINT = re.compile(r"^https?://[^\s/]+(/[^\s]*)?$")

# Field types a mapping may use (core plus the plugins the stack runs).
FIELD_TYPES = frozenset(
    """alias binary boolean byte completion constant_keyword date date_nanos date_range derived
    double double_range flat_object float float_range geo_point geo_shape half_float integer
    integer_range ip ip_range join keyword knn_vector long long_range match_only_text nested
    object percolator rank_feature rank_features scaled_float search_as_you_type semantic short
    star_tree text token_count unsigned_long version wildcard""".split()
)


# ---------------------------------------------------------------- normalising


def plain(doc: Any) -> Any:
    """Undo Pulumi's number encoding: inputs arrive with every int as a float."""
    if isinstance(doc, dict):
        return {k: plain(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [plain(v) for v in doc]
    if isinstance(doc, float) and doc.is_integer():
        return int(doc)
    return doc


def _setting_text(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return [_setting_text(v) for v in value]
    return value if value is None or isinstance(value, str) else str(value)


def canonical_settings(settings: dict) -> dict:
    """Index settings as OpenSearch answers them: nested under `index`, values as strings."""
    flat: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                walk(f"{prefix}.{key}" if prefix else key, sub)
        else:
            flat[prefix] = _setting_text(value)

    walk("", plain(settings))
    out: dict = {}
    for key, value in flat.items():
        parts = key.split(".")
        if parts[0] != "index":
            parts.insert(0, "index")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


def canonical_properties(props: dict) -> dict:
    """Mapping properties with dotted names expanded the way OpenSearch stores them."""
    out: dict = {}
    for name, field in props.items():
        field = dict(field) if isinstance(field, dict) else field
        if isinstance(field, dict) and isinstance(field.get("properties"), dict):
            field["properties"] = canonical_properties(field["properties"])
        parts = name.split(".")
        node = out
        for part in parts[:-1]:
            holder = node.setdefault(part, {})
            node = holder.setdefault("properties", {})
        leaf = parts[-1]
        if isinstance(node.get(leaf), dict) and isinstance(field, dict) and "properties" in field:
            node[leaf].setdefault("properties", {}).update(field["properties"])
        else:
            node[leaf] = field
    return out


def canonical_mappings(mappings: dict) -> dict:
    out = plain(copy.deepcopy(mappings))
    # A mapping may still arrive wrapped in the legacy type name.
    if set(out) == {"_doc"} and isinstance(out["_doc"], dict):
        out = out["_doc"]
    if isinstance(out.get("properties"), dict):
        out["properties"] = canonical_properties(out["properties"])
    return out


def canonical_template(body: dict) -> dict:
    """A component or index template as OpenSearch stores it; empty sections dropped."""
    out = plain(copy.deepcopy(body))
    template = out.get("template")
    if isinstance(template, dict):
        if isinstance(template.get("settings"), dict):
            template["settings"] = canonical_settings(template["settings"])
        if isinstance(template.get("mappings"), dict):
            template["mappings"] = canonical_mappings(template["mappings"])
        for key in ("settings", "mappings", "aliases"):
            if template.get(key) in ({}, None):
                template.pop(key, None)
        if not template:
            out.pop("template")
    for key in ("composed_of", "_meta"):
        if out.get(key) in ([], {}, None):
            out.pop(key, None)
    return out


def merge_mappings(*mappings: dict) -> dict:
    """What an index built from these (component first, index template last) ends up with."""
    merged: dict = {}
    for mapping in mappings:
        mapping = canonical_mappings(mapping)
        for key, value in mapping.items():
            if key == "properties":
                merged["properties"] = _merge_properties(merged.get("properties", {}), value)
            elif key == "dynamic_templates":
                merged[key] = list(merged.get(key, [])) + [t for t in value if t not in merged.get(key, [])]
            else:
                merged[key] = value
    return merged


def _merge_properties(base: dict, extra: dict) -> dict:
    out = copy.deepcopy(base)
    for name, field in extra.items():
        if isinstance(out.get(name), dict) and "properties" in out[name] and "properties" in field:
            merged = dict(out[name])
            merged["properties"] = _merge_properties(out[name]["properties"], field["properties"])
            out[name] = merged
        else:
            out[name] = copy.deepcopy(field)
    return out


# ------------------------------------------------------------------- checking


def _is_unknown(value: Any) -> bool:
    # Unknown in a preview: the sentinel as the SDK deserialises it (Unknown), or an output value.
    return isinstance(value, (pulumi.Output, Unknown)) or value == _UNKNOWN


def _check_common(news: dict, failures: list) -> None:
    endpoint = news.get("endpoint")
    if not _is_unknown(endpoint) and not (isinstance(endpoint, str) and _ENDPOINT.match(endpoint)):
        failures.append(CheckFailure("endpoint", f"must be an http(s) URL, got {endpoint!r}"))
    name = news.get("name")
    if not _is_unknown(name) and not (isinstance(name, str) and _NAME.match(name)):
        failures.append(
            CheckFailure("name", f"must be lowercase letters, digits, '-', '_' or '.', got {name!r}")
        )
    timeout = news.get("timeout_s", DEFAULT_TIMEOUT_S)
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout <= 0:
        failures.append(CheckFailure("timeout_s", f"must be a positive number of seconds, got {timeout!r}"))


def mapping_problems(mappings: Any, where: str = "mappings") -> list[str]:
    """Shape errors in a mapping that OpenSearch would reject (or silently misread)."""
    if not isinstance(mappings, dict):
        return [f"{where} must be an object"]
    problems = []
    if "properties" in mappings:
        problems += _property_problems(mappings["properties"], f"{where}.properties")
    dyn = mappings.get("dynamic_templates", [])
    if not isinstance(dyn, list) or not all(isinstance(t, dict) and len(t) == 1 for t in dyn):
        problems.append(f"{where}.dynamic_templates must be a list of single-key objects")
    return problems


def _property_problems(props: Any, where: str) -> list[str]:
    if not isinstance(props, dict):
        return [f"{where} must be an object"]
    problems = []
    for name, field in props.items():
        path = f"{where}.{name}"
        if not name or name.startswith(".") or name.endswith(".") or ".." in name:
            problems.append(f"{path}: invalid field name")
        if not isinstance(field, dict):
            problems.append(f"{path} must be an object")
            continue
        ftype = field.get("type", "object" if "properties" in field else None)
        if ftype is None:
            problems.append(f"{path} needs a type or properties")
        elif ftype not in FIELD_TYPES:
            problems.append(f"{path}: unknown field type {ftype!r}")
        if "properties" in field:
            if ftype not in ("object", "nested"):
                problems.append(f"{path}: only object or nested fields take properties, not {ftype!r}")
            problems += _property_problems(field["properties"], f"{path}.properties")
        if "fields" in field:
            problems += _property_problems(field["fields"], f"{path}.fields")
    return problems


# ---------------------------------------------------------------- base class


def _client(props: dict) -> ApiClient:
    return ApiClient(props["endpoint"], total_timeout_s=float(props.get("timeout_s") or DEFAULT_TIMEOUT_S))


class _AssetProvider(ResourceProvider):
    """A named JSON document at one REST path; subclasses say where and how it is compared.

    Outputs mirror the inputs, with `body` replaced by the live document as
    normalised for comparison (the declared body itself when they agree).
    """

    kind = "asset"
    # On a rename the new asset is made before the old one goes (so whatever refers
    # to it is never left dangling), unless two of a kind cannot coexist.
    delete_before_replace = False

    # --- what subclasses provide
    def path(self, name: str) -> str:
        raise NotImplementedError

    def body_problems(self, name: str, body: dict) -> list[str]:
        return []

    def fetch(self, client: ApiClient, name: str) -> Optional[dict]:
        """The live document in the shape of `body`, or None when it does not exist."""
        raise NotImplementedError

    def normalise(self, live: dict, desired: dict) -> dict:
        """Both documents pass through this before being compared."""
        return plain(live)

    def apply(self, client: ApiClient, name: str, body: dict) -> None:
        client.request("PUT", self.path(name), json_body=body)

    def remove(self, client: ApiClient, name: str) -> None:
        # The SQL plugin answers a datasource DELETE with 204.
        client.request("DELETE", self.path(name), ok=(200, 202, 204), missing_ok=True)

    # --- the ResourceProvider protocol
    def check(self, olds: dict, news: dict) -> CheckResult:
        failures: list = []
        _check_common(news, failures)
        body = news.get("body")
        if not _is_unknown(body):
            if not isinstance(body, dict):
                failures.append(CheckFailure("body", f"the {self.kind} document must be an object"))
            else:
                for problem in self.body_problems(news.get("name"), plain(body)):
                    failures.append(CheckFailure("body", f"{self.kind} {news.get('name')}: {problem}"))
        failures += self.extra_checks(news)
        return CheckResult(news, failures)

    def extra_checks(self, news: dict) -> list:
        return []

    def changes(self, olds: dict, news: dict) -> list[str]:
        """Dotted paths that differ between the recorded state and the declared inputs."""
        paths = []
        if olds.get("endpoint") != news.get("endpoint"):
            paths.append("endpoint")
        if plain(olds.get("timeout_s")) != plain(news.get("timeout_s")):
            paths.append("timeout_s")
        desired = plain(news.get("body") or {})
        recorded = self.normalise(plain(olds.get("body") or {}), desired)
        paths += ["body." + p if p != "<root>" else "body" for p in changed_paths(recorded, self.normalise(desired, desired))]
        paths += self.extra_changes(olds, news)
        return paths

    def extra_changes(self, olds: dict, news: dict) -> list[str]:
        return []

    def diff(self, _id: str, olds: dict, news: dict) -> DiffResult:
        replaces = ["name"] if olds.get("name") != news.get("name") else []
        changed = self.changes(olds, news)
        return DiffResult(
            changes=bool(changed or replaces),
            replaces=replaces,
            delete_before_replace=self.delete_before_replace,
        )

    def _outputs(self, props: dict, live: Optional[dict]) -> dict:
        outs = {k: v for k, v in props.items() if k != "__provider"}
        desired = plain(props.get("body") or {})
        if live is not None:
            seen = self.normalise(live, desired)
            outs["body"] = props.get("body") if seen == self.normalise(desired, desired) else seen
        return outs

    def create(self, props: dict) -> CreateResult:
        # An asset that already exists (kept volume, earlier stack) is adopted:
        # rewritten only when it differs from the declaration.
        client = _client(props)
        name = props["name"]
        return CreateResult(id_=name, outs=self._outputs(props, self._converge(client, name, props)))

    def _converge(self, client: ApiClient, name: str, props: dict) -> Optional[dict]:
        body = plain(props["body"])
        live = self.fetch(client, name)
        if live is None or self.normalise(live, body) != self.normalise(body, body):
            self.apply(client, name, body)
            self.after_apply(client, props, existed=live is not None)
            live = self.fetch(client, name)
        return live

    def after_apply(self, client: ApiClient, props: dict, existed: bool) -> None:
        """Hook for follow-up work once a changed document is in place."""

    def read(self, id_: str, props: dict) -> ReadResult:
        client = _client(props)
        live = self.fetch(client, props.get("name") or id_)
        if live is None:
            return ReadResult(id_="", outs={})
        outs = self._outputs(props, live)
        # Inputs follow the live document, so the next preview shows how to get back.
        return ReadResult(id_=id_, outs=outs, inputs=_public(outs))

    def update(self, id_: str, olds: dict, news: dict) -> UpdateResult:
        # Only a document that differs is sent: an endpoint-only change rewrites state, nothing else.
        client = _client(news)
        return UpdateResult(outs=self._outputs(news, self._converge(client, news["name"], news)))

    def delete(self, id_: str, props: dict) -> None:
        # An OpenSearch that cannot be reached at all (its container already gone)
        # must not wedge `pulumi destroy`: the asset then stays on the data volume
        # and the next `pulumi up` adopts it. Any answer from OpenSearch still counts.
        client = _client(props)
        client.total_timeout_s = min(client.total_timeout_s, DELETE_UNREACHABLE_S)
        try:
            self.remove(client, props.get("name") or id_)
        except ApiError as exc:
            if exc.status is not None:
                raise
            print(f"warning: {self.kind} {props.get('name') or id_} left in place: {exc}", file=sys.stderr)


def _public(outs: dict) -> dict:
    """Outputs that may become inputs on refresh: secrets stay out of plain inputs."""
    return {k: v for k, v in outs.items() if k not in SECRET_PROPS}


def _only_entry(answer: Any, list_key: str, item_key: str, name: str) -> Optional[dict]:
    if not answer:
        return None
    for entry in answer.get(list_key, []):
        if entry.get("name") == name:
            return entry.get(item_key)
    return None


# ------------------------------------------------------------------ templates


def _template_problems(body: dict) -> list[str]:
    problems = []
    template = body.get("template", {})
    if not isinstance(template, dict):
        return ["template must be an object"]
    if "settings" in template and not isinstance(template["settings"], dict):
        problems.append("template.settings must be an object")
    if "mappings" in template:
        problems += mapping_problems(template["mappings"], "template.mappings")
    return problems


class ComponentTemplateProvider(_AssetProvider):
    kind = "component template"

    def path(self, name: str) -> str:
        return f"_component_template/{name}"

    def body_problems(self, name, body):
        problems = [] if isinstance(body.get("template"), dict) else ["template (an object) is required"]
        return problems + _template_problems(body)

    def fetch(self, client, name):
        answer = client.request("GET", self.path(name), missing_ok=True)
        return _only_entry(answer, "component_templates", "component_template", name)

    def normalise(self, live, desired):
        return canonical_template(live)


class IndexTemplateProvider(_AssetProvider):
    kind = "index template"
    # Two templates with the same patterns and priority are refused: old one out first.
    delete_before_replace = True

    def path(self, name: str) -> str:
        return f"_index_template/{name}"

    def body_problems(self, name, body):
        problems = []
        patterns = body.get("index_patterns")
        if not (isinstance(patterns, list) and patterns and all(isinstance(p, str) and p for p in patterns)):
            problems.append("index_patterns must be a non-empty list of strings")
        composed = body.get("composed_of", [])
        if not (isinstance(composed, list) and all(isinstance(c, str) and c for c in composed)):
            problems.append("composed_of must be a list of component template names")
        priority = body.get("priority", 0)
        if not isinstance(priority, int) or isinstance(priority, bool) or priority < 0:
            problems.append("priority must be a non-negative integer")
        return problems + _template_problems(body)

    def fetch(self, client, name):
        answer = client.request("GET", self.path(name), missing_ok=True)
        return _only_entry(answer, "index_templates", "index_template", name)

    def normalise(self, live, desired):
        return canonical_template(live)


# ----------------------------------------------------------- ingest pipeline


class IngestPipelineProvider(_AssetProvider):
    kind = "ingest pipeline"

    def path(self, name: str) -> str:
        return f"_ingest/pipeline/{name}"

    def body_problems(self, name, body):
        problems = []
        for key in ("processors", "on_failure"):
            steps = body.get(key, [] if key == "on_failure" else None)
            if not isinstance(steps, list) or (key == "processors" and not steps):
                problems.append(f"{key} must be a {'non-empty ' if key == 'processors' else ''}list")
                continue
            for i, step in enumerate(steps):
                if not (isinstance(step, dict) and len(step) == 1 and isinstance(next(iter(step.values())), dict)):
                    problems.append(f"{key}[{i}] must be one processor: {{\"<type>\": {{...}}}}")
        return problems

    def fetch(self, client, name):
        answer = client.request("GET", self.path(name), missing_ok=True)
        return (answer or {}).get(name)


# ----------------------------------------------------------------- ISM policy


def policy_problems(body: dict) -> list[str]:
    policy = body.get("policy")
    if not isinstance(policy, dict):
        return ["policy (an object) is required"]
    states = policy.get("states")
    if not (isinstance(states, list) and states and all(isinstance(s, dict) and s.get("name") for s in states)):
        return ["policy.states must be a non-empty list of named states"]
    names = [s["name"] for s in states]
    problems = []
    if len(set(names)) != len(names):
        problems.append("policy.states: state names must be unique")
    if policy.get("default_state") not in names:
        problems.append(f"policy.default_state must be one of {names}")
    for state in states:
        for t in state.get("transitions", []):
            if t.get("state_name") not in names:
                problems.append(f"state {state['name']}: transition to unknown state {t.get('state_name')!r}")
            age = (t.get("conditions") or {}).get("min_index_age")
            if age is not None and not (isinstance(age, str) and re.match(r"^\d+(d|h|m|s|ms)$", age)):
                problems.append(f"state {state['name']}: min_index_age must look like '7d', got {age!r}")
    for i, tpl in enumerate(policy.get("ism_template") or []):
        patterns = tpl.get("index_patterns") if isinstance(tpl, dict) else None
        if not (isinstance(patterns, list) and patterns and all(isinstance(p, str) and p for p in patterns)):
            problems.append(f"policy.ism_template[{i}].index_patterns must be a non-empty list of strings")
    return problems


class IsmPolicyProvider(_AssetProvider):
    """ISM policies use optimistic concurrency: an update carries the seq_no and
    primary term of a fresh GET, and a 409 (someone changed it in between) is
    retried with another fresh GET."""

    kind = "ISM policy"
    # Two policies whose ism_templates claim the same indices at one priority are refused.
    delete_before_replace = True

    def path(self, name: str) -> str:
        return f"_plugins/_ism/policies/{name}"

    def body_problems(self, name, body):
        return policy_problems(body)

    def fetch(self, client, name):
        answer = client.request("GET", self.path(name), missing_ok=True)
        return {"policy": answer["policy"]} if answer and "policy" in answer else None

    def normalise(self, live, desired):
        # ISM adds ids, timestamps, schema versions and retry defaults: compare
        # what we declare. A state or action added by hand still changes a list length.
        return project_onto(plain(live), plain(desired))

    def apply(self, client, name, body):
        _make_room_for_policy(client, name, body)
        for attempt in range(1, ISM_CONFLICT_ATTEMPTS + 1):
            current = client.request("GET", self.path(name), missing_ok=True)
            params = None
            if current is not None:
                params = {"if_seq_no": current["_seq_no"], "if_primary_term": current["_primary_term"]}
            try:
                client.request("PUT", self.path(name), json_body=body, params=params)
                return
            except ApiError as exc:
                if exc.status != 409 or attempt == ISM_CONFLICT_ATTEMPTS:
                    raise
                time.sleep(0.2 * attempt)

    def after_apply(self, client, props, existed):
        # Indices already managed keep running the policy version they started
        # with (ISM keeps a copy per index); move them onto the new version, e.g.
        # retention 7d -> 14d. Also after a re-create: indices on a kept volume
        # still run the copy they got before `pulumi destroy`.
        name = props["name"]
        managed = managed_indices(client, name)
        if managed:
            _ism_index_call(client, "change_policy", ",".join(managed), name)
        # Indices a predecessor policy (replaced by _make_room_for_policy) still manages
        # keep running its copy; move them onto this one now. change_policy would only
        # take effect at each index's next ISM job run (minutes later), so they are
        # detached and attached again, which ISM does at once.
        for old in _names.PREDECESSOR_ISM_POLICIES:
            moved = managed_indices(client, old)
            for index in moved:
                reattach_policy(client, index, name)
            if moved:
                _say(f"moved {len(moved)} index(es) from ISM policy {old} to {name}: {', '.join(moved)}")


def _say(message: str) -> None:
    """A line the user sees in `pulumi up` (a provider's stderr is shown as a diagnostic)."""
    print(f"clawker-monitor: {message}", file=sys.stderr, flush=True)


def _patterns_overlap(a: str, b: str) -> bool:
    """Whether two ISM index patterns ('*' wildcards) can match one index name."""
    if "*" not in a or "*" not in b:
        literal, pattern = (a, b) if "*" not in a else (b, a)
        return fnmatch.fnmatchcase(literal, pattern.replace("[", "[[]"))
    pa, sa = a.split("*", 1)[0], a.rsplit("*", 1)[1]
    pb, sb = b.split("*", 1)[0], b.rsplit("*", 1)[1]
    return (pa.startswith(pb) or pb.startswith(pa)) and (sa.endswith(sb) or sb.endswith(sa))


def conflicting_policies(client: ApiClient, name: str, body: dict) -> dict[str, list[str]]:
    """Other policies whose ism_template claims an index ours claims at the same priority.

    ISM refuses to store a policy next to such a policy ("... please use a different
    priority than N"); index-management TransportIndexPolicyAction.validateISMTemplates.
    """
    ours = (body.get("policy") or {}).get("ism_template") or []
    if not ours:
        return {}
    answer = client.request("GET", "_plugins/_ism/policies", params={"size": 1000}) or {}
    found: dict[str, list[str]] = {}
    for entry in answer.get("policies", []):
        other_id = entry.get("_id")
        if other_id == name:
            continue
        for theirs in (entry.get("policy") or {}).get("ism_template") or []:
            for mine in ours:
                if plain(mine.get("priority", 0)) != plain(theirs.get("priority", 0)):
                    continue
                if any(_patterns_overlap(a, b) for a in mine["index_patterns"] for b in theirs["index_patterns"]):
                    found[other_id] = list(theirs["index_patterns"])
    return found


def _make_room_for_policy(client: ApiClient, name: str, body: dict) -> None:
    """Replace a predecessor's overlapping policy; refuse, naming it, any other one."""
    conflicts = conflicting_policies(client, name, body)
    foreign = {k: v for k, v in conflicts.items() if k not in _names.PREDECESSOR_ISM_POLICIES}
    if foreign:
        listing = "; ".join(f"{k} (index_patterns {v})" for k, v in sorted(foreign.items()))
        priority = body["policy"]["ism_template"][0].get("priority", 0)
        raise ApiError(
            f"ISM policy {name} cannot be stored: ISM policy {listing} claims the same indices at "
            f"priority {plain(priority)}, and ISM refuses two such policies. Delete that policy "
            f"(DELETE _plugins/_ism/policies/<id>) or give its ism_template another priority, "
            f"then run `pulumi up` again. Nothing was changed."
        )
    for old in sorted(conflicts):
        client.request("DELETE", f"_plugins/_ism/policies/{old}", missing_ok=True)
        _say(
            f"replaced ISM policy {old} (left by `clawker monitor`; it claimed the same indices as {name}, "
            f"which ISM refuses twice); the indices it managed move to {name}"
        )


def reattach_policy(client: ApiClient, index: str, policy_id: str) -> None:
    """Make policy_id manage index now: ISM remove, then add (both take effect at once)."""
    client.request("POST", f"_plugins/_ism/remove/{index}")
    deadline = time.monotonic() + POLICY_ATTACH_WAIT_S
    while True:
        answer = client.request("POST", f"_plugins/_ism/add/{index}", json_body={"policy_id": policy_id}) or {}
        if not answer.get("failures"):
            return
        reasons = "; ".join(f"{f.get('index_name')}: {f.get('reason')}" for f in answer.get("failed_indices", []))
        # The removal may not be visible to add yet ("already has a policy"): try again shortly.
        if "already has a policy" not in reasons or time.monotonic() > deadline:
            raise ApiError(f"ISM add of policy {policy_id} on {index} failed: {reasons}")
        time.sleep(0.5)


def _ism_index_call(client: ApiClient, action: str, indices: str, policy_id: str) -> None:
    """POST _plugins/_ism/<add|change_policy>/<indices>; ISM reports per-index failures in a 200."""
    answer = client.request("POST", f"_plugins/_ism/{action}/{indices}", json_body={"policy_id": policy_id}) or {}
    if answer.get("failures"):
        reasons = "; ".join(f"{f.get('index_name')}: {f.get('reason')}" for f in answer.get("failed_indices", []))
        raise ApiError(f"ISM {action} of policy {policy_id} on {indices} failed: {reasons}")


def managed_indices(client: ApiClient, policy_id: str) -> list[str]:
    """Indices whose ISM policy is policy_id."""
    answer = client.request("GET", "_plugins/_ism/explain", params={"size": 1000}) or {}
    out = []
    for index, info in answer.items():
        if isinstance(info, dict) and _policy_of(info) == policy_id:
            out.append(index)
    return sorted(out)


def _policy_of(explain_entry: dict) -> Optional[str]:
    return (
        explain_entry.get("index.plugins.index_state_management.policy_id")
        or explain_entry.get("policy_id")
        or explain_entry.get("index.opendistro.index_state_management.policy_id")
    )


# ---------------------------------------------------------------------- index

# Index settings the stack decides even when it declares none (then: unset).
_OWNED_INDEX_SETTINGS = ("default_pipeline", "final_pipeline")


class IndexProvider(ResourceProvider):
    """A log index, created empty after its template and the ISM policy.

    Inputs: endpoint, name, `mappings` (what the templates give it: the index
    must carry at least these), `settings` (dynamic settings it must have, such
    as its ingest pipelines) and `policy_id` (the ISM policy that must manage it).

    create: PUT the bare index so the templates shape it; an index that already
    exists (kept volume, earlier run) is adopted. A new index whose mapping lacks
    a declared field means the template did not match: that fails the bootstrap.
    An adopted index gets missing fields added (additive only; OpenSearch refuses
    type changes, and its reason is passed on). The policy must show up in
    `_plugins/_ism/explain/<index>`; an adopted index without one gets it added.

    delete keeps the index: it holds the telemetry, and `pulumi destroy` must
    leave data in place like `clawker monitor down` (volumes survive). The next
    `pulumi up` adopts it. Removing data is the volume purge's job.
    """

    def check(self, olds: dict, news: dict) -> CheckResult:
        failures: list = []
        _check_common(news, failures)
        mappings = news.get("mappings", {})
        if not _is_unknown(mappings):
            for problem in mapping_problems(plain(mappings)):
                failures.append(CheckFailure("mappings", problem))
        settings = news.get("settings", {})
        if not _is_unknown(settings) and not isinstance(settings, dict):
            failures.append(CheckFailure("settings", "must be an object of dynamic index settings"))
        policy = news.get("policy_id")
        if policy is not None and not _is_unknown(policy) and not (isinstance(policy, str) and policy):
            failures.append(CheckFailure("policy_id", "must be an ISM policy name"))
        return CheckResult(news, failures)

    # --- live state
    @staticmethod
    def _live(client: ApiClient, name: str, props: dict) -> Optional[dict]:
        answer = client.request("GET", name, missing_ok=True)
        if not answer or name not in answer:
            return None
        index = answer[name]
        declared_settings = canonical_settings(plain(props.get("settings") or {}))
        declared_mappings = canonical_mappings(plain(props.get("mappings") or {}))
        live_settings = index.get("settings", {})
        settings = project_onto(live_settings, declared_settings)
        # Which ingest pipelines an index runs is ours to say: one the declaration does not
        # name (e.g. left by `clawker monitor`'s templates on an adopted index) is drift.
        for key in _OWNED_INDEX_SETTINGS:
            value = live_settings.get("index", {}).get(key)
            if value is not None and key not in declared_settings.get("index", {}):
                settings.setdefault("index", {})[key] = value
        return {
            "mappings": project_onto(canonical_mappings(index.get("mappings", {})), declared_mappings),
            "settings": settings,
            # Without a declared policy, ISM (maybe not even installed) is not asked.
            "policy_id": _explain_policy(client, name) if props.get("policy_id") else None,
        }

    @staticmethod
    def _declared(props: dict) -> dict:
        return {
            "mappings": canonical_mappings(plain(props.get("mappings") or {})),
            "settings": canonical_settings(plain(props.get("settings") or {})),
            "policy_id": props.get("policy_id"),
        }

    def _outputs(self, props: dict, live: dict) -> dict:
        outs = {k: v for k, v in props.items() if k != "__provider"}
        declared = self._declared(props)
        for key in ("mappings", "settings", "policy_id"):
            if live[key] != declared[key]:
                outs[key] = live[key]
        return outs

    # --- protocol
    def diff(self, _id: str, olds: dict, news: dict) -> DiffResult:
        replaces = ["name"] if olds.get("name") != news.get("name") else []
        changed = [k for k in ("endpoint", "timeout_s") if plain(olds.get(k)) != plain(news.get(k))]
        recorded, declared = self._declared(olds), self._declared(news)
        for key in ("mappings", "settings"):
            changed += [f"{key}.{p}" for p in changed_paths(project_onto(recorded[key], declared[key]), declared[key])]
        if recorded["policy_id"] != declared["policy_id"]:
            changed.append("policy_id")
        return DiffResult(changes=bool(changed or replaces), replaces=replaces, delete_before_replace=False)

    def create(self, props: dict) -> CreateResult:
        client = _client(props)
        name = props["name"]
        created = client.request("GET", name, missing_ok=True) is None and self._put_index(client, name)
        live = self._converge(client, name, props, fresh=created)
        return CreateResult(id_=name, outs=self._outputs(props, live))

    def update(self, id_: str, olds: dict, news: dict) -> UpdateResult:
        client = _client(news)
        name = news["name"]
        fresh = self._live(client, name, news) is None and self._put_index(client, name)
        return UpdateResult(outs=self._outputs(news, self._converge(client, name, news, fresh=fresh)))

    @staticmethod
    def _put_index(client: ApiClient, name: str) -> bool:
        """Create the bare index (the templates shape it); False when someone else just did."""
        try:
            client.request("PUT", name)
            return True
        except ApiError as exc:
            if exc.status == 400 and "resource_already_exists_exception" in exc.reason:
                return False
            raise

    def read(self, id_: str, props: dict) -> ReadResult:
        client = _client(props)
        live = self._live(client, props.get("name") or id_, props)
        if live is None:
            return ReadResult(id_="", outs={})
        outs = self._outputs(props, live)
        return ReadResult(id_=id_, outs=outs, inputs=_public(outs))

    def delete(self, id_: str, props: dict) -> None:
        # Deliberately nothing: see the class docstring (telemetry survives destroy).
        return None

    # --- convergence
    def _converge(self, client: ApiClient, name: str, props: dict, *, fresh: bool) -> dict:
        declared = self._declared(props)
        if client.request("GET", rebuild_index_name(name), missing_ok=True) is not None:
            # An earlier rebuild stopped half way: finish it (its copy holds the documents).
            rebuild_index(client, name, declared["mappings"], resume=True)
        live = self._live(client, name, props)
        if live["mappings"] != declared["mappings"]:
            if fresh:
                missing = changed_paths(live["mappings"], declared["mappings"])
                raise ApiError(
                    f"index {name} was created without the mapping its index template declares "
                    f"(differs at {', '.join(missing[:5])}): the template did not match the index",
                )
            try:
                client.request("PUT", f"{name}/_mapping", json_body=declared["mappings"])
            except ApiError as exc:
                # An adopted index (e.g. made by `clawker monitor`) maps a field with another
                # type; OpenSearch cannot change that in place. Rebuild it, documents kept.
                if exc.status != 400 or "cannot be changed from type" not in exc.reason:
                    raise
                rebuild_index(client, name, declared["mappings"])
                live = self._live(client, name, props)
        if live["settings"] != declared["settings"]:
            wanted = copy.deepcopy(declared["settings"])
            for key in _OWNED_INDEX_SETTINGS:
                if key in live["settings"].get("index", {}) and key not in wanted.get("index", {}):
                    wanted.setdefault("index", {})[key] = None  # null resets it: no such pipeline
            client.request("PUT", f"{name}/_settings", json_body=wanted)
        policy = declared["policy_id"]
        if policy:
            current = _wait_for_policy(client, name, timeout_s=POLICY_ATTACH_WAIT_S if fresh else 0)
            if current is None and not fresh:
                _ism_index_call(client, "add", name, policy)
            elif current not in (None, policy):
                # Managed by another policy (e.g. `clawker monitor`'s): change_policy would
                # only switch at the index's next ISM job run, so detach and attach now.
                reattach_policy(client, name, policy)
            current = _wait_for_policy(client, name, timeout_s=POLICY_ATTACH_WAIT_S)
            if current != policy:
                raise ApiError(
                    f"index {name} is not managed by ISM policy {policy} "
                    f"(explain reports {current!r}); the policy's ism_template did not attach"
                )
        live = self._live(client, name, props)
        if live["mappings"] != declared["mappings"]:
            missing = changed_paths(live["mappings"], declared["mappings"])
            raise ApiError(f"index {name} does not carry the declared mapping at {', '.join(missing[:5])}")
        return live


REBUILD_SUFFIX = "-clawker-rebuild"
# Copying an index's documents may take a while on a big index.
REBUILD_TIMEOUT_S = 1800.0


def rebuild_index_name(index: str) -> str:
    return f"{index}{REBUILD_SUFFIX}"


def _count(client: ApiClient, index: str) -> int:
    client.request("POST", f"{index}/_refresh")
    return int((client.request("GET", f"{index}/_count") or {}).get("count", 0))


def _reindex(client: ApiClient, source: str, dest: str) -> None:
    slow = ApiClient(client.base_url, total_timeout_s=REBUILD_TIMEOUT_S)
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
    off = {key: None for key in _OWNED_INDEX_SETTINGS if live.get(key)}
    if off:
        client.request("PUT", f"{name}/_settings", json_body={"index": off})
    _reindex(client, copy_name, name)
    if off:
        client.request("PUT", f"{name}/_settings", json_body={"index": {k: live[k] for k in off}})
    restored = _count(client, name)
    if restored < before:
        raise ApiError(f"index {name}: {restored} of {before} documents copied back; the copy {copy_name} is kept")
    client.request("DELETE", copy_name)


def _explain_policy(client: ApiClient, index: str) -> Optional[str]:
    answer = client.request("GET", f"_plugins/_ism/explain/{index}", missing_ok=True) or {}
    entry = answer.get(index)
    return _policy_of(entry) if isinstance(entry, dict) else None


def _wait_for_policy(client: ApiClient, index: str, *, timeout_s: float) -> Optional[str]:
    """ISM attaches an ism_template's policy just after the index is created: give it a moment."""
    deadline = time.monotonic() + timeout_s
    while True:
        current = _explain_policy(client, index)
        if current is not None or time.monotonic() >= deadline:
            return current
        time.sleep(0.5)


# ----------------------------------------------------------------- datasource


class DatasourceProvider(_AssetProvider):
    """A direct-query datasource of the SQL plugin (`_plugins/_query/_datasources`).

    POST creates and PUT updates (the name is in the body). OpenSearch checks
    the URI when it registers the datasource, so every write first waits for
    Prometheus' /-/ready at `prometheus_url` (the host-side address; the
    body's URI is the in-network one OpenSearch uses). `key_fingerprint` ties
    the registration to the cluster's datasource master key: a new key
    re-registers it.
    """

    kind = "datasource"

    def path(self, name: str) -> str:
        return f"_plugins/_query/_datasources/{name}"

    def body_problems(self, name, body):
        problems = []
        if body.get("name") != name:
            problems.append(f"body.name must equal the resource's name {name!r}")
        if not isinstance(body.get("connector"), str) or not body.get("connector"):
            problems.append("connector must be a connector type such as 'prometheus'")
        props = body.get("properties")
        if not isinstance(props, dict) or not all(isinstance(v, str) for v in props.values()):
            problems.append("properties must be an object of strings")
        elif str(body.get("connector")).lower() == "prometheus":
            uri = props.get("prometheus.uri")
            if not (isinstance(uri, str) and _ENDPOINT.match(uri)):
                problems.append(f"properties['prometheus.uri'] must be an http(s) URL, got {uri!r}")
        return problems

    def extra_checks(self, news):
        url = news.get("prometheus_url")
        if url is None or _is_unknown(url) or (isinstance(url, str) and _ENDPOINT.match(url)):
            return []
        return [CheckFailure("prometheus_url", f"must be an http(s) URL, got {url!r}")]

    def extra_changes(self, olds, news):
        return [k for k in ("key_fingerprint", "prometheus_url") if olds.get(k) != news.get(k)]

    def fetch(self, client, name):
        try:
            return client.request("GET", self.path(name), missing_ok=True)
        except ApiError as exc:
            # The SQL plugin has answered a missing datasource with 400 ("DataSource with
            # name X doesn't exist.") as well as 404.
            if exc.status == 400 and "exist" in exc.reason.lower():
                return None
            raise

    def normalise(self, live, desired):
        live = plain(copy.deepcopy(live))
        if isinstance(live.get("connector"), str):
            live["connector"] = live["connector"].lower()
        return project_onto(live, plain(desired))

    def _wait_for_prometheus(self, props: dict) -> None:
        url = props.get("prometheus_url")
        if not url:
            return
        ApiClient(url).wait_until(
            "-/ready",
            lambda status, _body: status == 200,
            timeout_s=float(props.get("timeout_s") or DEFAULT_TIMEOUT_S),
            what="Prometheus",
        )

    def create(self, props):
        self._wait_for_prometheus(props)
        return super().create(props)

    def update(self, id_, olds, news):
        self._wait_for_prometheus(news)
        if olds.get("key_fingerprint") != news.get("key_fingerprint"):
            # Re-register under the new master key even though the document is unchanged.
            self.apply(_client(news), news["name"], plain(news["body"]))
        return super().update(id_, olds, news)

    def apply(self, client, name, body):
        collection = "_plugins/_query/_datasources"
        if self.fetch(client, name) is None:
            try:
                client.request("POST", collection, json_body=body)
                return
            except ApiError as exc:
                if exc.status not in (400, 409) or "exist" not in exc.reason.lower():
                    raise
        client.request("PUT", collection, json_body=body)


# ------------------------------------------------------------------ resources


def _inputs(endpoint, name, body, timeout_s) -> dict:
    return {"endpoint": endpoint, "name": name, "body": body, "timeout_s": timeout_s}


class _DocumentResource(Resource):
    """One named JSON document served by `provider_class` (the four document kinds share this shape)."""

    endpoint: pulumi.Output[str]
    body: pulumi.Output[dict]
    provider_class: type

    def __init__(self, resource_name, *, endpoint, name, body, timeout_s=DEFAULT_TIMEOUT_S, opts=None):
        super().__init__(self.provider_class(), resource_name, _inputs(endpoint, name, body, timeout_s), opts)


class ComponentTemplate(_DocumentResource, module="clawker", name="OpenSearchComponentTemplate"):
    provider_class = ComponentTemplateProvider


class IndexTemplate(_DocumentResource, module="clawker", name="OpenSearchIndexTemplate"):
    provider_class = IndexTemplateProvider


class IngestPipeline(_DocumentResource, module="clawker", name="OpenSearchIngestPipeline"):
    provider_class = IngestPipelineProvider


class IsmPolicy(_DocumentResource, module="clawker", name="OpenSearchIsmPolicy"):
    provider_class = IsmPolicyProvider


class Index(Resource, module="clawker", name="OpenSearchIndex"):
    endpoint: pulumi.Output[str]
    mappings: pulumi.Output[dict]
    policy_id: pulumi.Output[str]

    def __init__(
        self, resource_name, *, endpoint, name, mappings, settings, policy_id, timeout_s=DEFAULT_TIMEOUT_S, opts=None
    ):
        props = {
            "endpoint": endpoint,
            "name": name,
            "mappings": mappings,
            "settings": settings,
            "policy_id": policy_id,
            "timeout_s": timeout_s,
        }
        super().__init__(IndexProvider(), resource_name, props, opts)


class Datasource(Resource, module="clawker", name="OpenSearchDatasource"):
    endpoint: pulumi.Output[str]
    body: pulumi.Output[dict]

    def __init__(
        self,
        resource_name,
        *,
        endpoint,
        name,
        body,
        prometheus_url,
        key_fingerprint,
        timeout_s=DEFAULT_TIMEOUT_S,
        opts=None,
    ):
        props = _inputs(endpoint, name, body, timeout_s)
        props.update(prometheus_url=prometheus_url, key_fingerprint=pulumi.Output.secret(key_fingerprint))
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["key_fingerprint"]))
        super().__init__(DatasourceProvider(), resource_name, props, opts)
