"""Test-facing API of the ISM CONTRACT DOUBLE's clock and job runner (tests only).

The double (tests/plugin_doubles/server.py) runs ISM policies as the plugin's
ManagedIndexRunner does: each managed index's job runs every job interval
(PLUGIN_DOUBLES_JOB_INTERVAL_MIN: 1 in the provider tests, as
`plugins.index_state_management.job_interval=1`; the test image's entrypoint sets its
own), one step per run: initialise, evaluate transitions (`min_index_age`,
`min_doc_count`, `min_state_age`), run the `delete` action. Any other action or
condition fails the managed index loudly (explain's info says so).

ISM's "now" is a clock the tests move forward; nothing else sees it. Index age is
measured on it: an index's creation date is OpenSearch's creation date plus the clock
offset at the moment the double first saw the index (within one sweep, 0.5-1 s, and
always before the clock moves). So a test simulates day N by advancing the clock, then
writing day N's records.

Double-only HTTP routes, served on the OpenSearch URL the double fronts (there is no
such API in ISM; the real plugin answers 4xx to them):

  GET  /_double/ism/clock                      -> {"now": ms, "offset_ms": ms}
  POST /_double/ism/clock {"advance": "1d"}     -> moves ISM's clock forward (any TimeValue:
       "90m", "7d"; never back). Before it moves, new indices are stamped and due jobs run;
       after, every job run that fell due in the skipped time runs, each at its own
       scheduled time, before the call answers. Returns {"now", "offset_ms", "runs": [...]},
       one entry per job run: {"index", "at", "outcome", "state", "info"} with outcome
       initialized | waiting | step | changed_policy | deleted | failed | disabled.
  POST /_double/ism/run                        -> runs the jobs that are due now (same answer).

So "30 days of traffic under a 7-day policy" is: for each day, advance("1d") and write
that day's records; an index is deleted by the first job run after its age passes
7 days on this clock (plus one run to leave the "hot" state: transition, then delete).
The clock lives with the data (a document in the double's state index), so it survives
a restart of the double and goes with the OpenSearch volume.
"""

from __future__ import annotations

import requests


def _call(url: str, method: str, path: str, body=None) -> dict:
    answer = requests.request(method, f"{url.rstrip('/')}/_double/ism/{path}", json=body, timeout=120)
    if answer.status_code != 200:
        raise AssertionError(f"ISM double {method} /_double/ism/{path}: {answer.status_code} {answer.text[:500]}")
    return answer.json()


def clock(url: str) -> dict:
    """{"now": ms on ISM's clock, "offset_ms": how far it is ahead of real time}."""
    return _call(url, "GET", "clock")


def advance(url: str, by: str) -> dict:
    """Move ISM's clock forward by a TimeValue ("1d", "6h") and run every job that fell due."""
    return _call(url, "POST", "clock", {"advance": by})


def run_jobs(url: str) -> dict:
    """Run the ISM jobs that are due now (and attach indices created since the last sweep)."""
    return _call(url, "POST", "run")
