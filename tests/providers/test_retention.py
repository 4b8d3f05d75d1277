"""Rolling retention: 30 days of traffic under a 7-day policy, in seconds (README "Retention").

Real OpenSearch stores the records (through the write name's route pipeline into the
daily indices); the ISM CONTRACT DOUBLE runs the stack's retention policy as ISM's
ManagedIndexRunner does, on a clock the test moves forward (tests/plugin_doubles/
ism_clock.py). Every six simulated hours one record is written, stamped with ISM's "now";
after each step every record younger than the retention must be there and every record
older than retention + 1 day (plus two ISM job runs: transition, then delete) gone.

Negative control, in the same run: the earlier layout (records in the fixed-name index
itself, the reference's policy deleting that index at 7 days) loses records written
minutes before.
"""

from __future__ import annotations

import datetime

import pytest

from opensearch_node import ISM
from plugin_doubles import ism_clock
from test_opensearch_mappings import TIMEOUT_S

from components import names
from components.bootstrap import opensearch as boot
from components.providers import opensearch as osp

RETENTION_DAYS = 7
SIMULATED_DAYS = 30
STEP_H = 6
DAY_MS = 86_400_000
# ISM deletes in two job runs once the age is reached (transition, then delete); runs are a
# minute apart in the provider tests (PLUGIN_DOUBLES_JOB_INTERVAL_MIN=1).
ISM_RUNS_MS = 2 * 60_000 + 1_000
DAILY = "claude-code"  # this release's layout
FIXED = "clawker-cli"  # the control: the earlier layout


def _props(node, name: str, body: dict) -> dict:
    return {"endpoint": node.url, "name": name, "body": body, "timeout_s": TIMEOUT_S}


def _iso(ms: int) -> str:
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _write(node, index: str, ms: int, step: int) -> None:
    doc = {"@timestamp": _iso(ms), "body": f"step {step}", "resource": {"service.name": index}}
    answer = node.call("POST", f"{index}/_doc", doc)
    assert answer.status_code == 201, answer.text


def _present(node, index: str) -> set[int]:
    pattern = names.read_pattern(index)
    node.call("POST", f"{pattern}/_refresh", params={"allow_no_indices": "true"})
    answer = node.call("GET", f"{pattern}/_search", {"size": 10_000, "_source": ["body"]},
                       params={"allow_no_indices": "true"}).json()
    return {int(h["_source"]["body"].split()[1]) for h in answer["hits"]["hits"]}


@pytest.mark.needs_ism
def test_thirty_days_under_a_seven_day_policy_keep_every_record_younger_than_seven_days(cluster):
    cluster.require(ISM)
    url = cluster.url
    for name, body in boot.pipeline_bodies().items():
        osp.IngestPipelineProvider().create(_props(cluster, name, body))
    osp.ComponentTemplateProvider().create(_props(cluster, names.COMPONENT_TEMPLATE, boot.component_template_body()))
    for name, body in boot.template_bodies(DAILY).items():
        osp.IndexTemplateProvider().create(_props(cluster, name, body))
    osp.IsmPolicyProvider().create(_props(cluster, names.ISM_POLICY, boot.retention_policy_body(RETENTION_DAYS)))
    osp.IndexProvider().create({
        "endpoint": url, "name": DAILY, "mappings": boot.index_mappings(DAILY), "settings": boot.index_settings(DAILY),
        "policy_id": names.ISM_POLICY, "timeout_s": TIMEOUT_S,
    })
    # The control: the earlier releases' layout and the reference's policy (the fixed name, deleted whole at 7 days).
    earlier = boot.index_template_body(FIXED)
    earlier["template"]["settings"]["index"].pop("default_pipeline")
    osp.IndexTemplateProvider().create(_props(cluster, names.LOG_INDEX_TEMPLATES[FIXED], earlier))
    whole = boot.retention_policy_body(RETENTION_DAYS)
    whole["policy"]["states"][0]["transitions"][0]["conditions"]["min_index_age"] = f"{RETENTION_DAYS}d"
    whole["policy"]["ism_template"] = [{"index_patterns": [FIXED], "priority": 100}]
    assert cluster.call("PUT", "_plugins/_ism/policies/control-fixed-name-retention", whole).status_code == 201

    written: dict[int, int] = {}  # step -> ISM-clock time it was written at
    control_losses = []
    deleted_days = set()
    for step in range(SIMULATED_DAYS * 24 // STEP_H):
        if step:
            runs = ism_clock.advance(url, f"{STEP_H}h")["runs"]
            deleted_days |= {r["index"] for r in runs if r["outcome"] == "deleted" and r["index"].startswith(f"{DAILY}-")}
        now = ism_clock.clock(url)["now"]
        for index in (DAILY, FIXED):
            _write(cluster, index, now, step)
        written[step] = now
        ism_clock.run_jobs(url)  # attach the policy to a day made just now

        kept = _present(cluster, DAILY)
        young = {s for s, at in written.items() if now - at < RETENTION_DAYS * DAY_MS}
        old = {s for s, at in written.items() if now - at > (RETENTION_DAYS + 1) * DAY_MS + ISM_RUNS_MS}
        assert young <= kept, f"day {step * STEP_H / 24:.2f}: records younger than {RETENTION_DAYS} days missing: {sorted(young - kept)}"
        assert not (old & kept), f"day {step * STEP_H / 24:.2f}: records older than {RETENTION_DAYS + 1} days kept: {sorted(old & kept)}"
        lost = young - _present(cluster, FIXED)
        if lost:
            control_losses.append((step, min(now - written[s] for s in lost) / 3_600_000))

    # Whole days went, one after another (not the index at once): about 30 - 8 of them.
    assert len(deleted_days) >= SIMULATED_DAYS - RETENTION_DAYS - 2, sorted(deleted_days)
    print(f"\n{len(deleted_days)} daily indices deleted over {SIMULATED_DAYS} simulated days; "
          f"control lost young records at {len(control_losses)} steps")
    # Negative control: the fixed-name index deleted whole takes records written hours before.
    assert control_losses, "the earlier layout kept every young record: the control shows nothing"
    assert min(hours for _, hours in control_losses) < 24, control_losses
