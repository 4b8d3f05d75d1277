"""A stream's write name (the "door") and its daily indices (README "Retention").

The collector writes to the fixed names (claude-code, ..., the SS4O traces index).
Each is kept empty: its default_pipeline processes the record and moves it into
<name>-<UTC day of its @timestamp>, where ISM deletes whole days. An index of that
name kept from an earlier release or from `clawker monitor` has its documents moved
into the days (days.py), then is made again, empty, from its template."""

from __future__ import annotations

import copy
import datetime
from typing import Optional

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

from components.providers.diffing import changed_paths, project_onto
from components.providers.http_client import AlreadyExistsError, AlreadyManagedError, ApiClient, ApiError, MappingTypeConflictError
from components.providers.kit import is_unknown as _is_unknown, plain, say as _say, without_provider
from components.providers.text_documents import TextMembers, encode_document
from components.providers.opensearch.base import DEFAULT_TIMEOUT_S, _check_common, _client, _public, with_connection
from components.providers.opensearch.documents import (
    canonical_mappings,
    canonical_settings,
    mapping_problems,
    retyped_fields,
    without_fields,
)
from components import names
from components.providers.opensearch.days import day_indices, move_into_days
from components.providers.opensearch.rebuild import OWNED_INDEX_SETTINGS as _OWNED_INDEX_SETTINGS
from components.providers.opensearch.rebuild import rebuild_index_name
from components.providers.opensearch.ism_policy import (
    POLICY_ATTACH_WAIT_S,
    _explain_policy,
    _ism_index_call,
    _wait_for_policy,
    reattach_policy,
)

# ---------------------------------------------------------------------- index



class IndexProvider(TextMembers, ResourceProvider):
    """A stream's door index and its daily indices, made after their templates and policy.

    Inputs: endpoint, name (the door: the write name), `mappings` (what the templates
    give door and days: each must carry at least these), `settings` (the door's dynamic
    settings: its route pipeline) and `policy_id` (the ISM policy that must manage the
    daily indices; None: kept forever).

    create / update:
    1. the door gets its settings first, so every new write goes to the days;
    2. documents in the door (an earlier release's or `clawker monitor`'s index), or in
       a copy an earlier release's rebuild left, are moved into the days by their own
       timestamps (days.move_into_days), and the door is made again from its template;
       an empty door whose mapping cannot take the declared one is made again too;
    2b. an index a predecessor wrote this stream to under another name (`former_names`:
       `clawker monitor` at 896bf908 named the control plane's index clawkercp) has its
       documents moved into this stream's days the same way, and is deleted;
    3. the door must not be managed by ISM (a predecessor's policy is removed from it);
    4. today's daily index is made (or found); its mapping must be the template's (a
       template that did not match fails the bootstrap), and every daily index must be
       managed by `policy_id`.

    delete keeps everything: it holds the telemetry, and `pulumi destroy` must leave data
    in place like `clawker monitor down` (volumes survive). Removing data is the volume
    purge's job.
    """

    # One JSON text in the engine's hands (text_documents.py); states written before hold it nested.
    TEXT_PROPERTIES = ("mappings",)

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
    def _live(client: ApiClient, name: str, props: dict, *, policy: bool = True) -> Optional[dict]:
        """The door's live mappings, settings and (unless policy=False: one request per day
        fewer, for the steps that compare only mappings or settings) its days' policy."""
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
        wanted_policy = props.get("policy_id")
        return {
            "mappings": project_onto(canonical_mappings(index.get("mappings", {})), declared_mappings),
            "settings": settings,
            # Without a declared policy, ISM (maybe not even installed) is not asked.
            "policy_id": _days_policy(client, name, wanted_policy) if wanted_policy and policy else None,
        }

    @staticmethod
    def _declared(props: dict) -> dict:
        return {
            "mappings": canonical_mappings(plain(props.get("mappings") or {})),
            "settings": canonical_settings(plain(props.get("settings") or {})),
            "policy_id": props.get("policy_id"),
        }

    def _outputs(self, props: dict, live: dict) -> dict:
        outs = without_provider(props)
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
        # The door, then (in _converge_days) today's daily index, one after the other: making
        # both at once was tried (fc5bc0f) and gave no faster cold start (README "Cold start:
        # where the time goes"): OpenSearch applies index creations one after another anyway.
        created = client.request("GET", name, missing_ok=True) is None and self._put_index(client, name)
        live = self._converge(client, name, props, fresh=created)
        return CreateResult(id_=name, outs=self._outputs(props, live))

    def update(self, id_: str, olds: dict, news: dict) -> UpdateResult:
        client = _client(news)
        name = news["name"]
        fresh = self._live(client, name, news, policy=False) is None and self._put_index(client, name)
        return UpdateResult(outs=self._outputs(news, self._converge(client, name, news, fresh=fresh)))

    @staticmethod
    def _put_index(client: ApiClient, name: str) -> bool:
        """Create the bare index (the templates shape it); False when someone else just did."""
        try:
            client.request("PUT", name)
            return True
        except AlreadyExistsError:
            return False

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
        if not fresh:
            self._settle_settings(client, name, props)  # 1. new writes go to the days from here on
            if self._must_remake(client, name, props):
                move_into_days(client, name, name)  # 2. (deletes it)
                fresh = self._put_index(client, name)
        old_copy = rebuild_index_name(name)
        if _exists(client, old_copy):
            # An earlier release's rebuild stopped half way: its copy holds documents.
            move_into_days(client, old_copy, name)
        for former in props.get("former_names") or ():
            if _exists(client, former):  # 2b.
                move_into_days(client, former, name)
        live = self._live(client, name, props, policy=False)
        if live["mappings"] != declared["mappings"]:
            missing = changed_paths(live["mappings"], declared["mappings"])
            if fresh:
                raise ApiError(
                    f"index {name} was created without the mapping its index template declares "
                    f"(differs at {', '.join(missing[:5])}): the template did not match the index",
                )
            raise ApiError(f"index {name} does not carry the declared mapping at {', '.join(missing[:5])}")
        if self._settle_settings(client, name, props, live):
            live = self._live(client, name, props, policy=False)
        # 3. The door holds nothing for ISM to delete; a predecessor's ism_template
        # (`clawker monitor` claims the bare names) may have attached to it.
        if _door_managed(client, name):
            client.request("POST", f"_plugins/_ism/remove/{name}", idempotent=True)  # removing twice changes nothing
        self._converge_days(client, name, props)  # 4.
        # What the door now is, without asking again: its mappings and settings as read above
        # (nothing since has changed them), and the declared policy on every day, which
        # _converge_days has just confirmed day by day (it raises otherwise).
        return {**live, "policy_id": declared["policy_id"]}

    def _settle_settings(self, client: ApiClient, name: str, props: dict, live: Optional[dict] = None) -> bool:
        """live: the door as just read (nothing changed it since), else it is read here. True when it
        wrote the door's settings (a `live` passed in is then out of date)."""
        declared = self._declared(props)
        live = live or self._live(client, name, props, policy=False)
        if live["settings"] == declared["settings"]:
            return False
        wanted = copy.deepcopy(declared["settings"])
        for key in _OWNED_INDEX_SETTINGS:
            if key in live["settings"].get("index", {}) and key not in wanted.get("index", {}):
                wanted.setdefault("index", {})[key] = None  # null resets it: no such pipeline
        client.request("PUT", f"{name}/_settings", json_body=wanted)
        return True

    def _must_remake(self, client: ApiClient, name: str, props: dict) -> bool:
        """True when the door holds documents, or cannot take the declared mapping."""
        client.request("GET", f"{name}/_refresh")
        if int((client.request("GET", f"{name}/_count") or {}).get("count", 0)):
            return True
        declared = self._declared(props)["mappings"]
        if self._live(client, name, props, policy=False)["mappings"] != declared:
            try:
                client.request("PUT", f"{name}/_mapping", json_body=declared)
            except MappingTypeConflictError:
                return True
        return False

    def _converge_days(self, client: ApiClient, name: str, props: dict) -> None:
        declared = self._declared(props)
        today = _today(name)
        # The days are listed before today's is made (not after, on the cold start's path): the
        # list then tells whether today's exists, and one made here joins it.
        days = day_indices(client, name)
        created = today not in days and self._put_index(client, today)
        days = sorted(set(days) | {today})
        live = canonical_mappings((client.request("GET", f"{today}/_mapping") or {}).get(today, {}).get("mappings", {}))
        wanted = declared["mappings"]
        if project_onto(live, wanted) != wanted:
            if not created:  # kept from before a template change: additive changes only
                kept = retyped_fields(live, wanted)
                if kept:
                    # Records of today already gave these fields a type (the dynamic keyword of
                    # an attribute the earlier template did not declare): they keep it in this
                    # index, which stays searchable; tomorrow's index has the template's type.
                    wanted = without_fields(wanted, kept)
                    _say(f"{today} keeps the type it gave {', '.join(kept)} before this release; "
                         f"{names.day_pattern(name)} indices made from tomorrow on have the template's")
                client.request("PUT", f"{today}/_mapping", json_body=wanted)
                live = canonical_mappings((client.request("GET", f"{today}/_mapping") or {}).get(today, {}).get("mappings", {}))
            missing = changed_paths(project_onto(live, wanted), wanted)
            if missing:
                raise ApiError(
                    f"daily index {today} was created without the mapping its index template declares "
                    f"(differs at {', '.join(missing[:5])}): the template did not match {names.day_pattern(name)}"
                )
        policy = declared["policy_id"]
        if not policy:
            return
        for day in days:
            current = _wait_for_policy(client, day, timeout_s=POLICY_ATTACH_WAIT_S if (created and day == today) else 0)
            if current is None:
                try:
                    _ism_index_call(client, "add", day, policy)
                except AlreadyManagedError:
                    pass  # ISM's own ism_template attach landed in between; checked below
            elif current != policy:
                reattach_policy(client, day, policy)
            if current != policy:  # asked again only after a change of ours
                current = _wait_for_policy(client, day, timeout_s=POLICY_ATTACH_WAIT_S)
            if current != policy:
                raise ApiError(
                    f"daily index {day} is not managed by ISM policy {policy} "
                    f"(explain reports {current!r}); the policy's ism_template did not attach"
                )


def _today(name: str) -> str:
    return names.day_index(name, datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"))


def _door_managed(client: ApiClient, name: str) -> bool:
    try:
        return _explain_policy(client, name) is not None
    except ApiError:
        return False  # no ISM plugin on this cluster: nothing can manage the door


def _exists(client: ApiClient, index: str) -> bool:
    return client.request("GET", index, missing_ok=True) is not None


def _days_policy(client: ApiClient, name: str, declared: str) -> Optional[str]:
    """The policy managing the daily indices: the declared one if every day has it, else what one has."""
    for day in day_indices(client, name):
        current = _explain_policy(client, day)
        if current != declared:
            return current
    return declared


class Index(Resource, module="clawker", name="OpenSearchIndex"):
    endpoint: pulumi.Output[str]
    mappings: pulumi.Output[str]
    policy_id: pulumi.Output[str]

    def __init__(
        self, resource_name, *, endpoint, name, mappings, settings, policy_id, timeout_s=DEFAULT_TIMEOUT_S,
        connection=None, former_names=(), opts=None,
    ):
        props = {
            "endpoint": endpoint,
            "name": name,
            "mappings": encode_document(mappings),
            "settings": settings,
            "policy_id": policy_id,
            "timeout_s": timeout_s,
        }
        if former_names:
            # Read on create and update only; not compared (diff), so adding it changes no existing stack.
            props["former_names"] = list(former_names)
        props, opts = with_connection(props, opts, connection)
        super().__init__(IndexProvider(), resource_name, props, opts)

