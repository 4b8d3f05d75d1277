"""`pulumi up` over a data volume that `clawker monitor up` bootstrapped (README "Moving from `clawker monitor`").

The volume is seeded for real: the test OpenSearch image (with the ISM / SQL plugin
doubles, whose state lives on the volume like the plugins') runs on the
`clawker-opensearch` volume while tests/reference_clawker.py applies the reference
bootstrap's asset names and shapes, of Clawker a5aed90f and then of 896bf908 over it
(Clawker upgraded in place: the control plane's index is clawkercp from then on, and
the retention policy is the later one's); that container is then removed and the
stack comes up over the volume with the user's defaults (7-day retention, datasource
on). Each release alone is converged by tests/providers/test_opensearch_providers.py.
"""

from __future__ import annotations

import time

import pytest
import requests

import reference_clawker as ref
from conftest import remove_stack_leftovers
from components import names
from components.bootstrap import opensearch as boot
from net import free_port
from pulumi_cli import PulumiStack, docker, inspect

SEED_CONTAINER = "clawker-monitor-seed-opensearch"
SEEDED = tuple(dict.fromkeys(i for release in ref.RELEASES for i in ref.log_indices(release)))
OPENSEARCH_IMAGE = "clawker-test/opensearch:3.6.0"
API = "http://127.0.0.1:9200"


def _wait_healthy(url: str, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/_cluster/health", params={"wait_for_status": "yellow", "timeout": "2s"}, timeout=5).ok:
                # The plugin doubles answer once their state indices exist.
                if requests.get(f"{url}/_plugins/_ism/policies", timeout=5).ok:
                    return
        except requests.RequestException:
            pass
        time.sleep(1)
    raise AssertionError(f"the seeding OpenSearch at {url} did not become healthy:\n{docker('logs', '--tail', '50', SEED_CONTAINER, check=False).stderr}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory, toolchain_bin, docker_engine):
    remove_stack_leftovers()
    docker("rm", "-f", SEED_CONTAINER, check=False)
    port = free_port()
    docker(
        "run", "-d", "--name", SEED_CONTAINER,
        "-v", f"{names.OPENSEARCH_VOLUME}:/usr/share/opensearch/data",
        "-p", f"127.0.0.1:{port}:9200",
        "-e", f"cluster.name={names.OPENSEARCH_CLUSTER}", "-e", f"node.name={names.OPENSEARCH}",
        "-e", "discovery.type=single-node", "-e", "DISABLE_SECURITY_PLUGIN=true",
        "-e", "OPENSEARCH_JAVA_OPTS=-Xms512m -Xmx512m",
        OPENSEARCH_IMAGE,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url)
        for release in ref.RELEASES:
            ref.seed(lambda method, path, body=None: requests.request(method, f"{url}/{path}", json=body, timeout=60), release=release)
        for index in SEEDED:  # the seed is what clawker monitor leaves: each index under its policy
            assert _policy_of(index, url) == ref.POLICY
    finally:
        docker("stop", "-t", "30", SEED_CONTAINER, check=False)
        docker("rm", "-f", SEED_CONTAINER, check=False)
    s = PulumiStack("e2e-migrate", tmp_path_factory.mktemp("e2e-migrate"), toolchain_bin)
    yield s
    s.run("destroy", "--yes", "--skip-preview", check=False)
    s.remove()
    remove_stack_leftovers()


def _policy_of(index: str, url: str = API, timeout_s: float = 20):
    deadline = time.monotonic() + timeout_s
    while True:
        entry = requests.get(f"{url}/_plugins/_ism/explain/{index}", timeout=30).json()[index]
        got = entry["index.plugins.index_state_management.policy_id"]
        if got is not None or time.monotonic() > deadline:
            return got
        time.sleep(0.5)


def test_up_over_the_seeded_volume_converges(stack):
    result = stack.up()
    assert inspect("container", names.COLLECTOR)["State"]["Running"]
    # Said plainly in the output (the provider's message; see README).
    assert "replaced ISM policy clawker-retention" in result.output, result.output[-4000:]

    policies = {p["_id"]: p["policy"] for p in requests.get(f"{API}/_plugins/_ism/policies", timeout=30).json()["policies"]}
    assert sorted(policies) == sorted([names.ISM_POLICY, names.TRACES_ISM_POLICY])
    hot = policies[names.ISM_POLICY]["states"][0]
    # The default logRetentionDays (7): whole days deleted one day later (README "Retention").
    assert hot["transitions"][0]["conditions"]["min_index_age"] == "8d"
    for index in names.LOG_INDICES:
        # clawker monitor's records moved into the day of their own timestamp, under our policy:
        # the control plane's from both releases (clawker-cp, then clawkercp), where its dashboards read.
        day = names.day_index(index, "2026-11-01")
        hits = requests.get(f"{API}/{names.read_pattern(index)}/_search", timeout=30).json()["hits"]["hits"]
        assert {h["_index"] for h in hits} == {day}, index
        assert [h["_source"]["body"] for h in hits] == ["recorded under clawker monitor"] * len(hits), index
        expected = sorted({index} | set(boot.DEFAULT.former_indices(index)) & set(SEEDED))
        assert sorted(h["_source"]["resource"]["attributes"]["service.name"] for h in hits) == expected, index
        assert _policy_of(day) == names.ISM_POLICY, day
        # The write name: empty, unmanaged, its pipeline sending records to the days.
        assert requests.get(f"{API}/{index}/_count", timeout=30).json()["count"] == 0
        assert _policy_of(index, timeout_s=0) is None, index
        settings = requests.get(f"{API}/{index}/_settings", timeout=30).json()[index]["settings"]["index"]
        assert "final_pipeline" not in settings
        assert settings.get("default_pipeline") == names.route_pipeline(index), (index, settings)
    # 896bf908's name for the control plane's index is gone (its record moved above).
    assert requests.head(f"{API}/clawkercp", timeout=30).status_code == 404
    datasource = requests.get(f"{API}/_plugins/_query/_datasources/{names.DATASOURCE}", timeout=30).json()
    assert datasource["properties"]["prometheus.uri"] == f"http://{names.PROMETHEUS}:9090"


def test_preview_after_the_move_shows_no_changes(stack):
    stack.preview("--expect-no-changes")


def test_explore_panels_direct_query_reaches_prometheus(stack):
    """The call Dashboards' explore metric panels make, through the datasource the stack registered."""
    now = int(time.time())
    body = {"query": "up", "language": "promql",
            "options": {"queryType": "range", "start": str(now - 600), "end": str(now), "step": "15"}}
    deadline = time.monotonic() + 90
    while True:
        answer = requests.post(f"{API}/_plugins/_directquery/_query/{names.DATASOURCE}", json=body, timeout=60)
        assert answer.status_code == 200, answer.text
        series = answer.json()["results"][names.DATASOURCE]
        if series.get("result"):
            break
        assert time.monotonic() < deadline, f"no `up` series from Prometheus through the datasource: {series}"
        time.sleep(5)
    assert series["resultType"] == "matrix"
    assert any(s["metric"].get("job") for s in series["result"])
