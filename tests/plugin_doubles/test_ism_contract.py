"""Contract of the ISM plugin's REST API (opensearch-project/index-management), as the stack uses it.

Runs against the `cluster` fixture: a real OpenSearch 3.6.0 with the real ISM plugin
where the distribution has it, otherwise with the ISM CONTRACT DOUBLE
(tests/plugin_doubles/server.py) in front of it. Every assertion is behaviour of the
real plugin (see the files cited in server.py), so the double cannot drift into
accepting what ISM refuses.
"""

from __future__ import annotations

import time

import pytest

from opensearch_node import ISM
from plugin_doubles import ism_clock

pytestmark = pytest.mark.needs_ism

POLICIES = "_plugins/_ism/policies"


def policy(patterns=None, priority=100, age="7d", description="test retention") -> dict:
    body = {
        "policy": {
            "description": description,
            "default_state": "hot",
            "states": [
                {"name": "hot", "actions": [], "transitions": [{"state_name": "delete", "conditions": {"min_index_age": age}}]},
                {"name": "delete", "actions": [{"delete": {}}], "transitions": []},
            ],
        }
    }
    if patterns is not None:
        body["policy"]["ism_template"] = [{"index_patterns": patterns, "priority": priority}]
    return body


def explain_policy(node, index: str):
    return node.call("GET", f"_plugins/_ism/explain/{index}").json()[index]["index.plugins.index_state_management.policy_id"]


def wait_for_policy(node, index: str, want, timeout_s: float = 15):
    deadline = time.monotonic() + timeout_s
    while True:
        got = explain_policy(node, index)
        if got == want or time.monotonic() > deadline:
            return got
        time.sleep(0.5)


def ism_now(node) -> float:
    """ISM's "now" in ms: the double's clock (tests may have moved it), else real time."""
    return ism_clock.clock(node.url)["now"] if ISM in node.doubled else time.time() * 1000


def after_template(node, policy_id: str, timeout_s: float = 15) -> None:
    """Wait until an index created now is newer than the policy's ism_template (ISM compares
    the template's last_updated_time with the index creation date, in ms)."""
    updated = max(t["last_updated_time"] for t in node.call("GET", f"{POLICIES}/{policy_id}").json()["policy"]["ism_template"])
    deadline = time.monotonic() + timeout_s
    while ism_now(node) <= updated:
        assert time.monotonic() < deadline, f"ISM's clock did not pass {updated}"
        time.sleep(0.01)


def next_job_run(node, index: str, want_policy: str) -> str:
    """Let the index's ISM job run once (the double: move its clock one job interval)."""
    if ISM in node.doubled:
        ism_clock.advance(node.url, "1m")  # the job interval the provider tests give ISM
        return explain_policy(node, index)
    return wait_for_policy(node, index, want_policy, timeout_s=180)


@pytest.fixture()
def ism(cluster):
    cluster.require(ISM)
    return cluster


def test_policy_create_get_conditional_update_delete(ism):
    created = ism.call("PUT", f"{POLICIES}/p1", policy(["ism-a-*"]))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["_id"] == "p1" and {"_version", "_seq_no", "_primary_term"} <= set(body)
    assert body["policy"]["policy"]["policy_id"] == "p1"

    got = ism.call("GET", f"{POLICIES}/p1").json()
    assert got["_seq_no"] == body["_seq_no"] and got["_primary_term"] == body["_primary_term"]
    live = got["policy"]
    assert live["policy_id"] == "p1" and live["default_state"] == "hot"
    assert live["states"][1]["actions"][0]["delete"] == {}
    assert live["ism_template"][0]["index_patterns"] == ["ism-a-*"] and "last_updated_time" in live["ism_template"][0]

    # A bare PUT over an existing policy is refused: ISM writes it with op_type=create.
    bare = ism.call("PUT", f"{POLICIES}/p1", policy(["ism-a-*"], age="14d"))
    assert bare.status_code == 409, bare.text
    assert "version_conflict_engine_exception" in bare.text

    fresh = {"if_seq_no": got["_seq_no"], "if_primary_term": got["_primary_term"]}
    updated = ism.call("PUT", f"{POLICIES}/p1", policy(["ism-a-*"], age="14d"), params=fresh)
    assert updated.status_code == 200, updated.text
    assert updated.json()["_seq_no"] > got["_seq_no"]
    # The same seq_no again is stale now.
    stale = ism.call("PUT", f"{POLICIES}/p1", policy(["ism-a-*"], age="21d"), params=fresh)
    assert stale.status_code == 409, stale.text
    after = ism.call("GET", f"{POLICIES}/p1").json()["policy"]
    assert after["states"][0]["transitions"][0]["conditions"]["min_index_age"] == "14d"

    listed = ism.call("GET", POLICIES).json()
    assert [p["_id"] for p in listed["policies"]] == ["p1"] and listed["total_policies"] == 1

    assert ism.call("DELETE", f"{POLICIES}/p1").status_code == 200
    assert ism.call("GET", f"{POLICIES}/p1").status_code == 404
    assert ism.call("DELETE", f"{POLICIES}/p1").status_code == 404


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda b: b["policy"].update(colour="red"), "Invalid field: [colour] found in Policy."),
        (lambda b: b["policy"]["states"][0].update(extra=1), "Invalid field: [extra] found in State."),
        (lambda b: b["policy"].update(default_state="warm"), "Policy must have a valid default state"),
        (
            lambda b: b["policy"]["states"][0]["transitions"][0].update(state_name="gone"),
            "pointing to a nonexistent state=gone",
        ),
        (lambda b: b["policy"]["states"][0]["transitions"][0]["conditions"].update(min_index_age="7 days"), "min_index_age"),
        (lambda b: b["policy"]["states"][0]["transitions"][0]["conditions"].update(sparkle=1), "found in Conditions."),
        (lambda b: b["policy"]["states"][1]["actions"].append({"explode": {}}), "explode"),
        (lambda b: b["policy"].pop("description"), "description is null"),
        (lambda b: b["policy"]["ism_template"][0].update(priority=-1), "priority to be >= 0"),
        (lambda b: b["policy"]["ism_template"][0].update(index_patterns=["_bad"]), "must not start with '_'"),
        (lambda b: b["policy"]["ism_template"][0].update(index_patterns=["a#b"]), "must not contain a '#'"),
        (lambda b: b["policy"]["ism_template"][0].update(index_patterns=[]), "at least one index pattern"),
    ],
)
def test_invalid_policies_are_refused_and_nothing_is_stored(ism, mutate, message):
    body = policy(["ism-bad-*"])
    mutate(body)
    answer = ism.call("PUT", f"{POLICIES}/bad", body)
    assert answer.status_code == 400, answer.text
    assert message in answer.text
    assert ism.call("GET", f"{POLICIES}/bad").status_code == 404


def test_overlapping_templates_at_one_priority_are_refused(ism):
    assert ism.call("PUT", f"{POLICIES}/first", policy(["clawker-*"], 100)).status_code == 201
    # Another policy claiming an index the first one claims, at the same priority: refused.
    clash = ism.call("PUT", f"{POLICIES}/second", policy(["clawker-cli", "other"], 100))
    assert clash.status_code == 400, clash.text
    assert "matching existing policy templates, please use a different priority than 100" in clash.text
    assert ism.call("GET", f"{POLICIES}/second").status_code == 404
    # Literal names against literal names (the clawker-retention case).
    assert ism.call("PUT", f"{POLICIES}/third", policy(["claude-code", "clawker-envoy"], 50)).status_code == 201
    clash = ism.call("PUT", f"{POLICIES}/fourth", policy(["clawker-envoy"], 50))
    assert clash.status_code == 400 and "different priority than 50" in clash.text
    # A different priority, or patterns that share no index, are accepted.
    assert ism.call("PUT", f"{POLICIES}/second", policy(["clawker-cli"], 200)).status_code == 201
    assert ism.call("PUT", f"{POLICIES}/fifth", policy(["metrics-*"], 100)).status_code == 201
    # A policy never conflicts with its own earlier version.
    got = ism.call("GET", f"{POLICIES}/first").json()
    again = ism.call(
        "PUT", f"{POLICIES}/first", policy(["clawker-*"], 100, age="1d"),
        params={"if_seq_no": got["_seq_no"], "if_primary_term": got["_primary_term"]},
    )
    assert again.status_code == 200, again.text
    # Two templates of ONE policy overlapping at one priority: refused too.
    body = policy(["self-*"], 10)
    body["policy"]["ism_template"].append({"index_patterns": ["self-a"], "priority": 10})
    selfish = ism.call("PUT", f"{POLICIES}/selfish", body)
    assert selfish.status_code == 400 and "matching this policy's other ISM templates" in selfish.text


def test_template_attaches_indices_created_after_it_and_not_before(ism):
    assert ism.call("PUT", "attach-before").status_code == 200
    assert ism.call("PUT", f"{POLICIES}/attach", policy(["attach-*"])).status_code == 201
    after_template(ism, "attach")
    assert ism.call("PUT", "attach-after").status_code == 200
    assert ism.call("PUT", "unrelated-index").status_code == 200
    assert wait_for_policy(ism, "attach-after", "attach") == "attach"
    assert explain_policy(ism, "attach-before") is None
    assert explain_policy(ism, "unrelated-index") is None
    # Documents indexed into a new index auto-create it: it is attached as well.
    assert ism.call("POST", "attach-auto/_doc?refresh=true", {"x": 1}).status_code == 201
    assert wait_for_policy(ism, "attach-auto", "attach") == "attach"

    everything = ism.call("GET", "_plugins/_ism/explain").json()
    assert everything["total_managed_indices"] == 2
    assert set(everything) == {"attach-after", "attach-auto", "total_managed_indices"}
    assert ism.call("GET", "_plugins/_ism/explain", params={"bogus": "1"}).status_code == 400


def test_add_remove_and_their_failures(ism):
    assert ism.call("PUT", f"{POLICIES}/manual", policy()).status_code == 201
    assert ism.call("PUT", "manual-1").status_code == 200
    missing_policy = ism.call("POST", "_plugins/_ism/add/manual-1", {"policy_id": "nope"})
    assert missing_policy.status_code == 404 and "Could not find policy=nope" in missing_policy.text
    assert ism.call("POST", "_plugins/_ism/add/manual-1", {}).status_code == 400
    added = ism.call("POST", "_plugins/_ism/add/manual-1", {"policy_id": "manual"}).json()
    assert added == {"updated_indices": 1, "failures": False, "failed_indices": []}
    assert explain_policy(ism, "manual-1") == "manual"
    again = ism.call("POST", "_plugins/_ism/add/manual-1", {"policy_id": "manual"}).json()
    assert again["updated_indices"] == 0 and again["failures"] is True
    assert "already has a policy" in again["failed_indices"][0]["reason"]
    removed = ism.call("POST", "_plugins/_ism/remove/manual-1").json()
    assert removed["updated_indices"] == 1
    assert explain_policy(ism, "manual-1") is None
    twice = ism.call("POST", "_plugins/_ism/remove/manual-1").json()
    assert twice["failures"] and "does not have a policy to remove" in twice["failed_indices"][0]["reason"]
    assert ism.call("POST", "_plugins/_ism/add/no-such-index", {"policy_id": "manual"}).status_code == 404


def test_change_policy_is_recorded_and_applied_at_the_next_job_run(ism):
    assert ism.call("PUT", f"{POLICIES}/old", policy(["switch-*"])).status_code == 201
    assert ism.call("PUT", f"{POLICIES}/new", policy(None, age="30d")).status_code == 201
    after_template(ism, "old")
    assert ism.call("PUT", "switch-1").status_code == 200
    assert wait_for_policy(ism, "switch-1", "old") == "old"
    unmanaged = ism.call("PUT", "switch-unmanaged-x")
    assert unmanaged.status_code == 200
    ism.call("POST", "_plugins/_ism/remove/switch-unmanaged-x")
    refused = ism.call("POST", "_plugins/_ism/change_policy/switch-unmanaged-x", {"policy_id": "new"}).json()
    assert refused["failures"] and refused["failed_indices"][0]["reason"] == "This index is not being managed"
    assert ism.call("POST", "_plugins/_ism/change_policy/switch-1", {"policy_id": "missing"}).status_code == 404
    assert ism.call("POST", "_plugins/_ism/change_policy/switch-1", {"policy_id": "new", "bogus": 1}).status_code == 400

    changed = ism.call("POST", "_plugins/_ism/change_policy/switch-1", {"policy_id": "new"}).json()
    assert changed == {"updated_indices": 1, "failures": False, "failed_indices": []}
    # Only recorded: the managed index keeps its policy until its job runs (job_interval: 1 min here).
    assert explain_policy(ism, "switch-1") == "old"
    assert next_job_run(ism, "switch-1", "new") == "new"


def test_remove_fails_closed_and_unmanaged_indices_and_expands_wildcards_strictly(ism):
    """TransportRemovePolicyAction at the cited commit."""
    assert ism.call("PUT", f"{POLICIES}/manual", policy()).status_code == 201
    for name in ("rm-open", "rm-closed", "rm-plain"):
        assert ism.call("PUT", name).status_code == 200
    assert ism.call("PUT", "rm-hidden", {"settings": {"index": {"hidden": True}}}).status_code == 200
    for name in ("rm-open", "rm-closed", "rm-hidden"):
        added = ism.call("POST", f"_plugins/_ism/add/{name}", {"policy_id": "manual"}).json()
        assert added["updated_indices"] == 1, (name, added)
    assert ism.call("POST", "rm-closed/_close").status_code == 200

    answer = ism.call("POST", "_plugins/_ism/remove/rm-*").json()
    # The wildcard reaches open and closed indices but not the hidden one.
    assert answer["updated_indices"] == 1, answer
    reasons = {f["index_name"]: f["reason"] for f in answer["failed_indices"]}
    assert reasons == {"rm-closed": "This index is closed", "rm-plain": "This index does not have a policy to remove"}
    assert explain_policy(ism, "rm-open") is None
    assert explain_policy(ism, "rm-closed") == "manual" and explain_policy(ism, "rm-hidden") == "manual"
    # Named outright, a hidden index is found.
    assert ism.call("POST", "_plugins/_ism/remove/rm-hidden").json()["updated_indices"] == 1
    assert ism.call("POST", "_plugins/_ism/remove/rm-nothing-here").status_code == 404
    assert ism.call("POST", "rm-closed/_open").status_code == 200
    ism.call("DELETE", "rm-hidden")  # the cluster fixture's wipe does not see hidden indices


def test_templates_skip_hidden_and_dot_indices_but_manage_a_data_stream_by_its_name(ism):
    """ManagedIndexCoordinator.findIndexLookupName at the cited commit."""
    body = policy(["hid-*", ".dot-*", "stream-*"])
    assert ism.call("PUT", f"{POLICIES}/lookup", body).status_code == 201
    template = {"index_patterns": ["stream-*"], "data_stream": {}, "priority": 500}
    assert ism.call("PUT", "_index_template/stream-tpl", template).status_code == 200
    after_template(ism, "lookup")
    try:
        assert ism.call("PUT", "hid-1", {"settings": {"index": {"hidden": True}}}).status_code == 200
        assert ism.call("PUT", ".dot-1").status_code == 200
        assert ism.call("PUT", "hid-visible").status_code == 200
        assert ism.call("PUT", "_data_stream/stream-1").status_code == 200
        backing = ism.call("GET", "_data_stream/stream-1").json()["data_streams"][0]["indices"][0]["index_name"]
        assert backing.startswith(".ds-stream-1-")
        assert wait_for_policy(ism, backing, "lookup") == "lookup"
        assert wait_for_policy(ism, "hid-visible", "lookup") == "lookup"
        assert explain_policy(ism, "hid-1") is None
        assert explain_policy(ism, ".dot-1") is None
    finally:
        ism.call("DELETE", "_data_stream/stream-1")
        ism.call("DELETE", "_index_template/stream-tpl")
        ism.call("DELETE", ".dot-1")
        ism.call("DELETE", "hid-1")
