"""ISM policies (`_plugins/_ism/policies/<id>`) and the calls that move indices between them."""

from __future__ import annotations

import fnmatch
import re
import time
from typing import Optional

from components import names as _names
from components.providers.diffing import project_onto
from components.providers.http_client import (
    AlreadyManagedError, ApiClient, ApiError, ConflictError, NotFoundError, OutcomeUnknownError,
)
from components.providers.kit import plain, say as _say
from components.providers.opensearch.base import _AssetProvider, _DocumentResource

# How long a freshly created index may take to show its ISM policy in explain.
POLICY_ATTACH_WAIT_S = 30.0
# How often a new index asks `explain` whether ISM has attached its policy yet. One cheap
# GET; each index of a cold `pulumi up` waits for it, and at 0.5 s the wait cost up to half
# a second per index on the bootstrap's critical path (the provider runs four calls at once).
POLICY_ATTACH_POLL_S = 0.1
# How often an ISM update is retried when someone else changed the policy in between.
ISM_CONFLICT_ATTEMPTS = 5



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
    TEXT_PROPERTIES = ("body",)  # one JSON text in the engine's hands (text_documents.py)
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
            except ConflictError:
                if attempt == ISM_CONFLICT_ATTEMPTS:
                    raise
                time.sleep(0.2 * attempt)

    def after_apply(self, client, props, existed):
        # Indices already managed keep running the policy version they started
        # with (ISM keeps a copy per index); move them onto the new version, e.g.
        # retention 7d -> 14d. Also after a re-create: indices on a kept volume
        # still run the copy they got before `pulumi destroy`.
        name = props["name"]
        patterns = [p for t in (plain(props.get("body") or {}).get("policy") or {}).get("ism_template") or [] for p in t.get("index_patterns") or []]

        def claimed(index: str) -> bool:
            # An index our ism_template does not claim (an earlier release's fixed-name
            # log index) is taken out of ISM by the Index provider when it moves it.
            return any(fnmatch.fnmatchcase(index, p.replace("[", "[[]")) for p in patterns)

        for attempt in range(1, ISM_CONFLICT_ATTEMPTS + 1):
            managed = [i for i in managed_indices(client, name) if claimed(i)]
            if not managed:
                break
            try:
                _ism_index_call(client, "change_policy", ",".join(managed), name)
                break
            except NotFoundError:
                # An index explain listed is gone (ISM deleted an expired day meanwhile): list again.
                if attempt == ISM_CONFLICT_ATTEMPTS:
                    raise
        # Indices a predecessor policy (replaced by _make_room_for_policy) still manages
        # keep running its copy; move them onto this one now. change_policy would only
        # take effect at each index's next ISM job run (minutes later), so they are
        # detached and attached again, which ISM does at once.
        for old in _names.PREDECESSOR_ISM_POLICIES:
            moved = [i for i in managed_indices(client, old) if claimed(i)]
            for index in moved:
                reattach_policy(client, index, name)
            if moved:
                _say(f"moved {len(moved)} index(es) from ISM policy {old} to {name}: {', '.join(moved)}")



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
    # A predecessor's policy goes even where it no longer overlaps ours: it claims the
    # bare write names, which now stay empty, and would delete them whole.
    present = {e.get("_id") for e in (client.request("GET", "_plugins/_ism/policies", params={"size": 1000}) or {}).get("policies", [])}
    predecessors = set(conflicts) | {p for p in _names.PREDECESSOR_ISM_POLICIES if p in present}
    for old in sorted(predecessors):
        client.request("DELETE", f"_plugins/_ism/policies/{old}", missing_ok=True)
        _say(
            f"replaced ISM policy {old} (left by `clawker monitor`; it claimed the Clawker log indices, "
            f"which now hold their records in daily indices under {name})"
        )


# What ISM answers to `add` on an index that some policy already manages.
ISM_ALREADY_MANAGED = "already has a policy"


def reattach_policy(client: ApiClient, index: str, policy_id: str) -> None:
    """Make policy_id manage index now: ISM remove, then add (both take effect at once)."""
    # Its answer is not read and a second removal leaves the same state: safe to resend.
    client.request("POST", f"_plugins/_ism/remove/{index}", idempotent=True)
    deadline = time.monotonic() + POLICY_ATTACH_WAIT_S
    while True:
        try:
            _ism_index_call(client, "add", index, policy_id)
            return
        except AlreadyManagedError:
            # The removal may not be visible to add yet: try again shortly.
            if time.monotonic() > deadline:
                raise
        time.sleep(0.5)


def _ism_index_call(client: ApiClient, action: str, indices: str, policy_id: str) -> None:
    """POST _plugins/_ism/<add|change_policy>/<indices>; ISM reports per-index failures in a 200.

    Raises AlreadyManagedError when every refused index is already managed by a policy.
    """
    try:
        # change_policy records the same pending change again when repeated; add does not repeat
        # well (a second add of a policy answers "already has a policy").
        answer = client.request(
            "POST", f"_plugins/_ism/{action}/{indices}", json_body={"policy_id": policy_id},
            idempotent=action == "change_policy",
        ) or {}
    except OutcomeUnknownError:
        # The add was sent once and may have happened: it did if each index now has the policy.
        if action == "add" and all(_explain_policy(client, index) == policy_id for index in indices.split(",")):
            return
        raise
    if answer.get("failures"):
        failed = answer.get("failed_indices") or []
        reasons = "; ".join(f"{f.get('index_name')}: {f.get('reason')}" for f in failed)
        managed = failed and all(ISM_ALREADY_MANAGED in str(f.get("reason") or "") for f in failed)
        kind = AlreadyManagedError if managed else ApiError
        raise kind(f"ISM {action} of policy {policy_id} on {indices} failed: {reasons}", body=answer)


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
        time.sleep(POLICY_ATTACH_POLL_S)


class IsmPolicy(_DocumentResource, module="clawker", name="OpenSearchIsmPolicy"):
    provider_class = IsmPolicyProvider

