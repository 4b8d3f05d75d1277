"""The ISM CONTRACT DOUBLE runs policies as ISM's ManagedIndexRunner does (tests/plugin_doubles/server.py).

What the stack's retention policy relies on: an index under a hot -> delete policy
at min_index_age 7d is kept while it is younger than 7 days and deleted by the job
runs after that, one step per run (initialise, evaluate the transition, transition,
delete), each visible in the explain API with ISM's own fields and messages.
ISM's clock is the double's (tests/plugin_doubles/ism_clock.py), so days pass in
milliseconds. These tests need the double: the real plugin's clock cannot be moved.
"""

from __future__ import annotations

import pytest

from opensearch_node import ISM
from plugin_doubles import ism_clock

pytestmark = pytest.mark.needs_ism

POLICIES = "_plugins/_ism/policies"
DAY_MS = 86_400_000
JOB_MS = 60_000  # the job interval the provider tests give ISM (opensearch_node.start_plugin_doubles)


def retention(patterns, age="7d", hot_actions=()) -> dict:
    return {"policy": {
        "description": "hot -> delete",
        "default_state": "hot",
        "states": [
            {"name": "hot", "actions": list(hot_actions), "transitions": [{"state_name": "delete", "conditions": {"min_index_age": age}}]},
            {"name": "delete", "actions": [{"delete": {}}], "transitions": []},
        ],
        "ism_template": [{"index_patterns": patterns, "priority": 100}],
    }}


@pytest.fixture()
def ism(cluster):
    if ISM in cluster.plugins:
        pytest.skip("the real ISM plugin runs here: its clock cannot be advanced (these tests pin the double)")
    cluster.require(ISM)
    return cluster


def explain(node, index: str) -> dict:
    answer = node.call("GET", f"_plugins/_ism/explain/{index}")
    assert answer.status_code == 200, answer.text
    return answer.json()[index]


def exists(node, index: str) -> bool:
    return node.call("HEAD", index).status_code == 200


def create_attached(node, index: str, policy_id: str) -> dict:
    """Create the index after the policy's template (on ISM's clock) and see it attached."""
    assert node.call("PUT", index).status_code == 200
    # The proxy's PUT sweeps before answering: the attachment is visible at once.
    entry = explain(node, index)
    assert entry["index.plugins.index_state_management.policy_id"] == policy_id, entry
    return entry


def next_run(node, last_at: int) -> tuple[int, list]:
    """Move ISM's clock to half way between the next job run and the one after: one run."""
    now = ism_clock.clock(node.url)["now"]
    runs = ism_clock.advance(node.url, f"{last_at + JOB_MS + JOB_MS // 2 - now}ms")["runs"]
    assert len(runs) == 1, runs
    return runs[0]["at"], runs


def put_policy(node, policy_id: str, body: dict) -> None:
    assert node.call("PUT", f"{POLICIES}/{policy_id}", body).status_code == 201
    # A template only claims indices created strictly after its last_updated_time (ms).
    ism_clock.advance(node.url, "1ms")


def test_hot_to_delete_at_7d_deletes_only_once_the_index_is_older_than_7d(ism):
    put_policy(ism, "retention", retention(["ret-*"]))
    entry = create_attached(ism, "ret-a", "retention")
    # Before the first job run explain shows what the job itself holds (TransportExplainAction).
    assert {k: entry[k] for k in ("index", "policy_id", "enabled")} == {"index": "ret-a", "policy_id": "retention", "enabled": True}
    assert "state" not in entry

    ism_clock.advance(ism.url, "1m")  # first job run: the policy is initialised
    entry = explain(ism, "ret-a")
    assert entry["state"]["name"] == "hot" and entry["info"] == {"message": "Successfully initialized policy: retention"}
    assert entry["retry_info"] == {"failed": False, "consumed_retries": 0} and entry["enabled"] is True
    created = entry["index_creation_date"]

    ism_clock.advance(ism.url, "1m")  # second run: the transition is evaluated, not met
    entry = explain(ism, "ret-a")
    assert entry["action"]["name"] == "transition" and entry["action"]["index"] == -1
    assert entry["step"]["name"] == "attempt_transition_step" and entry["step"]["step_status"] == "condition_not_met"
    assert entry["info"] == {"message": "Evaluating transition conditions [index=ret-a]"}

    # NEGATIVE: a whole week of job runs short of 7 days of age deletes nothing.
    now = ism_clock.clock(ism.url)["now"]
    runs = ism_clock.advance(ism.url, f"{created + 7 * DAY_MS - now - 3 * JOB_MS}ms")["runs"]
    last = runs[-1]["at"]
    # End the week half way between two job runs, as next_run does: the double's sweeper runs
    # jobs on real time plus the offset, so a clock left just short of a run let the sweeper take
    # that run before next_run's advance (seen: no run reported, with the machine at load 22).
    # The run in between is reported here or was taken by the sweeper; its time is known either way.
    runs += ism_clock.advance(ism.url, f"{last + JOB_MS + JOB_MS // 2 - ism_clock.clock(ism.url)['now']}ms")["runs"]
    last += JOB_MS
    assert runs and {r["outcome"] for r in runs} == {"waiting"}, runs
    assert exists(ism, "ret-a")
    entry = explain(ism, "ret-a")
    assert entry["state"]["name"] == "hot" and entry["step"]["step_status"] == "condition_not_met"
    assert last - created < 7 * DAY_MS

    # Past 7 days: the next run transitions (explain shows transition_to), the one after deletes.
    while True:
        last, runs = next_run(ism, last)
        if runs[0]["outcome"] == "step":
            break
        assert runs[0]["outcome"] == "waiting" and runs[0]["at"] - created < 7 * DAY_MS, runs
    assert runs[0]["at"] - created >= 7 * DAY_MS
    entry = explain(ism, "ret-a")
    assert entry["transition_to"] == "delete" and entry["info"] == {"message": "Transitioning to delete [index=ret-a]"}
    assert "state" not in entry  # explain shows transition_to instead of state/action/step
    assert exists(ism, "ret-a")

    _, done = next_run(ism, last)
    assert [r["outcome"] for r in done] == ["deleted"], done
    assert done[0]["info"] == {"message": "Successfully deleted index [index=ret-a]"}
    assert not exists(ism, "ret-a")
    assert ism.call("GET", "_plugins/_ism/explain").json()["total_managed_indices"] == 0


def test_daily_indices_under_a_7_day_policy_keep_exactly_the_last_week(ism):
    """Rolling retention as the runner does it: one index per simulated day, 10 days (the
    window is full from day 7 on; each day costs a real index create and delete, ~1 s on a
    loaded 2-core machine)."""
    put_policy(ism, "rolling", retention(["day-*"]))
    for day in range(10):
        create_attached(ism, f"day-{day:02d}", "rolling")
        ism_clock.advance(ism.url, "1d")
        alive = sorted(e["index"] for e in ism.call("GET", "_cat/indices/day-*", params={"format": "json"}).json())
        # Day d's index is 1 day old after today's advance; 7d old once 7 days have passed,
        # then one run transitions and the next deletes: gone within the day after.
        expected = [f"day-{d:02d}" for d in range(max(0, day - 6), day + 1)]
        assert alive == expected, (day, alive)


def test_an_action_the_double_cannot_run_fails_the_index_loudly(ism):
    put_policy(ism, "readonly", retention(["ro-*"], hot_actions=[{"read_only": {}}]))
    create_attached(ism, "ro-a", "readonly")
    outcomes = [r["outcome"] for r in ism_clock.advance(ism.url, "3m")["runs"]]
    assert outcomes == ["initialized", "failed", "disabled"], outcomes
    entry = explain(ism, "ro-a")
    assert entry["retry_info"]["failed"] is True and "does not execute action=read_only" in entry["info"]["message"]
    assert entry["enabled"] is False and exists(ism, "ro-a")


def test_the_clock_only_moves_forward_and_says_so(ism):
    before = ism_clock.clock(ism.url)
    for body in ({"advance": "-1d"}, {"advance": "1 day"}, {"by": "1d"}, None):
        answer = ism.call("POST", "_double/ism/clock", body)
        assert answer.status_code == 400, (body, answer.text)
    assert ism_clock.clock(ism.url)["offset_ms"] == before["offset_ms"]
    assert ism_clock.advance(ism.url, "2h")["offset_ms"] == before["offset_ms"] + 7_200_000
