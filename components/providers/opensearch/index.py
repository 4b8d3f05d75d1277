"""Log indices: created after their templates, adopted when kept, rebuilt when a type must change."""

from __future__ import annotations

import copy
from typing import Optional

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

from components.providers.diffing import changed_paths, project_onto
from components.providers.http_client import AlreadyExistsError, AlreadyManagedError, ApiClient, ApiError, MappingTypeConflictError
from components.providers.kit import is_unknown as _is_unknown, plain, without_provider
from components.providers.opensearch.base import DEFAULT_TIMEOUT_S, _check_common, _client, _public
from components.providers.opensearch.documents import canonical_mappings, canonical_settings, mapping_problems
from components.providers.opensearch.rebuild import OWNED_INDEX_SETTINGS as _OWNED_INDEX_SETTINGS
from components.providers.opensearch.rebuild import rebuild_index, rebuild_index_name
from components.providers.opensearch.ism_policy import (
    POLICY_ATTACH_WAIT_S,
    _explain_policy,
    _ism_index_call,
    _wait_for_policy,
    reattach_policy,
)

# ---------------------------------------------------------------------- index



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
            except MappingTypeConflictError:
                # An adopted index (e.g. made by `clawker monitor`) maps a field with another
                # type; OpenSearch cannot change that in place. Rebuild it, documents kept.
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
                try:
                    _ism_index_call(client, "add", name, policy)
                except AlreadyManagedError:
                    # An index made moments ago (a PUT of ours that timed out and was
                    # retried, or another process) gets its policy from ISM's own
                    # ism_template attach, which can land between the explain above and
                    # this add. Which policy the index ends with is checked below.
                    pass
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

