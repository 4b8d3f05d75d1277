"""A machine's credential on a REAL secured cluster (OpenSearch 3.4.0 + the security plugin).

The team role's MachineCredential provider makes an internal user, a role and a role mapping
through the security plugin's REST API, after the stack's templates, pipelines and indices were
applied through the same providers with the admin `connection` (tests/providers/secured_cluster.py
starts the node; TLS on both layers). Shown with Claude Code-shaped records and spans:
- the machine stores log records (today's, and one from another day, whose daily index its first
  record creates) and spans through the write names' route pipelines, each in its daily index;
- the same credential is refused (403) reading, deleting an index, changing a template and
  writing another index;
- deleting the credential (the machine left `machines`) refuses its next write (401);
- negative control: a role allowing writes to the write names only (not their daily indices)
  stores nothing, so the daily pattern in the role is what makes writes work.
- a machine's real collector ships records, spans and series; its credential check reports 0 to
  the team Prometheus while accepted (no refusal in its log); with its credential deleted its
  records wait on its disk while its log says why (401, what to do) and the check reports 1.
"""

from __future__ import annotations

import datetime
import json
import os
import signal
import time

import pytest
import requests

from components import names
from components.bootstrap import opensearch as boot
from components.providers import opensearch as osp
from components.providers.opensearch import security
from secured_cluster import SecuredCluster, start, stop
from otlp_sender import http_log_exporter, send_delta_counters, send_logs, send_spans
from telemetry_samples import RESOURCES, ingest_source_for, records_for, ss4o_log_document, ss4o_span_document

TIMEOUT_S = 60.0
STREAMS = ["claude-code", names.TRACES_INDEX]


@pytest.fixture(scope="module")
def secured():
    cluster = start(nodes=1)
    try:
        yield cluster
    finally:
        stop(cluster)


def _props(cluster: SecuredCluster, **extra) -> dict:
    return {"endpoint": cluster.urls[0], "connection": cluster.connection, "timeout_s": TIMEOUT_S, **extra}


@pytest.fixture(scope="module")
def bootstrapped(secured):
    """The claude-code and traces assets, applied by the providers as the team stack's admin."""
    for name, body in boot.pipeline_bodies().items():
        osp.IngestPipelineProvider().create(_props(secured, name=name, body=body))
    osp.ComponentTemplateProvider().create(_props(secured, name=names.COMPONENT_TEMPLATE, body=boot.component_template_body()))
    for index in STREAMS:
        for name, body in boot.template_bodies(index).items():
            osp.IndexTemplateProvider().create(_props(secured, name=name, body=body))
    osp.IndexProvider().create(
        _props(secured, name="claude-code", mappings=boot.index_mappings("claude-code"),
               settings=boot.index_settings("claude-code"), policy_id=None)
    )
    return secured


def _machine(secured, machine: str) -> tuple[str, tuple[str, str], dict]:
    props = _props(secured, machine=machine, streams=STREAMS)
    outs = security.MachineCredentialProvider().create(props).outs
    return outs["username"], (outs["username"], outs["password"]), props


def _bulk(secured, auth, index: str, docs: list[dict]) -> requests.Response:
    """The exporter's request: one `index` action per document."""
    lines = []
    for doc in docs:
        lines += [json.dumps({"index": {"_index": index}}), json.dumps(doc)]
    return secured.call(
        "POST", "_bulk", auth=auth, data=("\n".join(lines) + "\n").encode(),
        headers={"Content-Type": "application/x-ndjson"}, params={"refresh": "wait_for"},
    )


def _claude_code_docs(n: int, day_offset: int = 0) -> list[dict]:
    samples = records_for("claude-code")
    docs = []
    for i in range(n):
        record = samples[i % len(samples)]
        doc = ss4o_log_document("claude-code", {**record, "attributes": {**record["attributes"], "e2e_seq": i}},
                                ingest_source=ingest_source_for("claude-code"))
        if day_offset:
            when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=day_offset)
            doc["@timestamp"] = when.isoformat().replace("+00:00", "Z")
        docs.append(doc)
    return docs


def _stored(secured, pattern: str) -> dict[str, int]:
    secured.call("POST", f"{pattern}/_refresh")
    hits = secured.call("GET", f"{pattern}/_search", json={"size": 1000}).json()["hits"]["hits"]
    out: dict[str, int] = {}
    for hit in hits:
        out[hit["_index"]] = out.get(hit["_index"], 0) + 1
    return out


def test_a_machine_stores_records_and_spans_in_their_daily_indices(bootstrapped):
    _, auth, _ = _machine(bootstrapped, "laptop-a")
    today = _bulk(bootstrapped, auth, "claude-code", _claude_code_docs(40)).json()
    two_days_ago = _bulk(bootstrapped, auth, "claude-code", _claude_code_docs(5, day_offset=-2)).json()
    # The traces index keys a span by traceId-spanId: three distinct spans.
    spans = [ss4o_span_document(name, {"session.id": "s1"}) for name in
             ("claude_code.interaction", "claude_code.llm_request", "claude_code.tool")]
    traced = _bulk(bootstrapped, auth, names.TRACES_INDEX, spans).json()
    for answer in (today, two_days_ago, traced):
        assert not answer["errors"], [i["index"].get("error") for i in answer["items"] if i["index"].get("error")][:2]
    stored = _stored(bootstrapped, names.read_pattern("claude-code"))
    day = lambda offset: (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=offset)).strftime("%Y-%m-%d")  # noqa: E731
    assert stored == {names.day_index("claude-code", day(0)): 40, names.day_index("claude-code", day(-2)): 5}
    assert sum(_stored(bootstrapped, names.read_pattern(names.TRACES_INDEX)).values()) == 3


def test_a_machine_can_read_delete_and_change_nothing(bootstrapped):
    _, auth, _ = _machine(bootstrapped, "laptop-b")
    assert not _bulk(bootstrapped, auth, "claude-code", _claude_code_docs(2)).json()["errors"]
    day = next(iter(_stored(bootstrapped, names.read_pattern("claude-code"))))
    refusals = {
        "read": bootstrapped.call("GET", f"{names.read_pattern('claude-code')}/_search", auth=auth),
        "read one index": bootstrapped.call("GET", f"{day}/_search", auth=auth),
        "delete an index": bootstrapped.call("DELETE", day, auth=auth),
        "change a template": bootstrapped.call(
            "PUT", "_index_template/claude-code", auth=auth, json=boot.template_bodies("claude-code")["claude-code"]
        ),
        "change a pipeline": bootstrapped.call("PUT", f"_ingest/pipeline/{names.ENVELOPE_PIPELINE}", auth=auth,
                                               json={"processors": []}),
        "write another index": bootstrapped.call("POST", "someone-elses/_doc", auth=auth, json={"a": 1}),
        "read the security config": bootstrapped.call("GET", "_plugins/_security/api/internalusers", auth=auth),
    }
    assert {what: r.status_code for what, r in refusals.items()} == {what: 403 for what in refusals}
    other = _bulk(bootstrapped, auth, "someone-elses", [{"a": 1}]).json()["items"][0]["index"]
    assert other["status"] == 403
    # Still there, unchanged.
    assert bootstrapped.call("GET", day).status_code == 200


def test_a_deleted_credential_is_refused(bootstrapped):
    user, auth, props = _machine(bootstrapped, "laptop-c")
    assert not _bulk(bootstrapped, auth, "claude-code", _claude_code_docs(1)).json()["errors"]
    security.MachineCredentialProvider().delete(user, props)
    assert _bulk(bootstrapped, auth, "claude-code", _claude_code_docs(1)).status_code == 401
    for kind in ("internalusers", "roles", "rolesmapping"):
        assert bootstrapped.call("GET", f"_plugins/_security/api/{kind}/{user}").status_code == 404, kind


def test_control_a_role_without_the_daily_indices_stores_nothing(bootstrapped):
    _, auth, props = _machine(bootstrapped, "laptop-d")
    narrow = security.role_body(STREAMS)
    narrow["index_permissions"] = narrow["index_permissions"][:1]  # the write names only
    assert bootstrapped.call("PUT", f"{security.API}/roles/{security.user_name('laptop-d')}", json=narrow).status_code == 200
    answer = _bulk(bootstrapped, auth, "claude-code", _claude_code_docs(3)).json()
    assert answer["errors"] and {i["index"]["status"] for i in answer["items"]} == {403}


# --- a machine stack's collector shipping to the team (real collector build, real secured cluster,
# real team Prometheus): the machine part of the config (components/services/collector_machine.py)
# over the stack's own lanes and durable queue.

MACHINE = "laptop-m"


@pytest.fixture(scope="module")
def team_prometheus_for(tmp_path_factory):
    """Starts the team Prometheus for a dict of users (once per module)."""
    from opensearch_node import _prometheus_binary
    from prerequisites import unavailable
    from secured_cluster import start_team_prometheus

    binary = _prometheus_binary()
    if not binary:
        unavailable("no Prometheus binary (tools/images.sh builds it; or set CLAWKER_PROMETHEUS_BIN)")
    started = []

    def start_for(users: dict) -> tuple[str, str]:
        proc, url, tls = start_team_prometheus(binary, tmp_path_factory.mktemp("team-prom"), users)
        started.append(proc)
        return url, str(tls.ca_cert)

    yield start_for
    for proc in started:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def machine_collector(cluster_urls: list[str], cluster_ca: str, prometheus: tuple[str, str], auth: tuple[str, str], work,
                      machine: str = MACHINE):
    """The real collector with a machine's config (the stack's, plus the machine part for these cluster
    URLs); the credential only in its environment. A second run in the same `work` directory reuses
    the on-disk queue. `prometheus`: (URL, CA file) of the team Prometheus."""
    from components.services import collector_machine
    from test_collector_to_opensearch import running_collector

    def adjust(config: dict) -> None:
        shipped = collector_machine.machine_part(config, machine, cluster_ca=True, prometheus_ca=True, cluster_urls=len(cluster_urls))
        text = json.dumps(shipped).replace(collector_machine.CLUSTER_CA_PATH, cluster_ca)
        config.clear()
        config.update(json.loads(text.replace(collector_machine.PROMETHEUS_CA_PATH, prometheus[1])))

    env = {
        **{collector_machine.cluster_url_env(i): url for i, url in enumerate(cluster_urls)},
        collector_machine.ENV["username"]: auth[0],
        collector_machine.ENV["password"]: auth[1],
        collector_machine.ENV["remote_write_url"]: prometheus[0] + "/api/v1/write",
    }
    return running_collector(cluster_urls[0], work, adjust=adjust, env=env)


def _send_numbered(port: int, agent: str, n: int) -> None:
    samples = records_for("claude-code")
    records = [{**samples[i % len(samples)], "attributes": {**samples[i % len(samples)]["attributes"], "e2e_seq": i}}
               for i in range(n)]
    resource = {**RESOURCES["claude-code"], "agent": agent}
    assert send_logs(http_log_exporter(f"http://127.0.0.1:{port}"), resource=resource, records=records)


def _count_of(secured, agent: str) -> int:
    secured.call("POST", f"{names.read_pattern('claude-code')}/_refresh")
    query = {"query": {"bool": {"filter": [{"term": {"resource.agent": agent}}, {"term": {"resource.machine": MACHINE}}]}}}
    return secured.call("GET", f"{names.read_pattern('claude-code')}/_count", json=query).json().get("count", 0)


def _wait(what: str, condition, timeout_s: float = 120):
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not within {timeout_s}s"
        time.sleep(1)


def test_a_machine_collector_ships_named_records_spans_and_series_and_keeps_them_while_revoked(
    bootstrapped, team_prometheus_for, tmp_path
):
    from components.services import collector_machine
    from machine_refusal import refusals, reported, says_why

    user, auth, props = _machine(bootstrapped, MACHINE)
    prometheus = team_prometheus_for({user: auth[1]})
    prometheus_as = lambda auth: (prometheus[0], auth, prometheus[1])  # noqa: E731
    with machine_collector(bootstrapped.urls[:1], str(bootstrapped.ca_file), prometheus, auth, tmp_path) as running:
        port = running["ports"]["http"]
        config_file = tmp_path / "otel-collector-config.yaml"
        assert "${env:CLAWKER_MACHINE_PASSWORD}" in config_file.read_text()
        assert auth[1] not in config_file.read_text(), "the credential must not be in the config file"
        _send_numbered(port, "phase-admitted", 300)
        accepted, _ = send_spans(f"http://127.0.0.1:{port}", resource=RESOURCES["claude-code"], scope="com.anthropic.claude_code.tracing",
                                 tree={"name": "claude_code.interaction", "attributes": {"session.id": "m1"},
                                       "children": [{"name": "claude_code.tool", "attributes": {"tool_name": "Bash"}}]})
        assert accepted
        assert send_delta_counters(
            f"http://127.0.0.1:{port}", resource=RESOURCES["claude-code"], scope="com.anthropic.claude_code",
            counters={"claude_code.cost.usage": {"unit": "USD"}},
            rounds=[[("claude_code.cost.usage", 0.25, {"model": "claude-sonnet-4-5"})]],
        )
        _wait("300 records from the machine", lambda: _count_of(bootstrapped, "phase-admitted") >= 300)
        assert _count_of(bootstrapped, "phase-admitted") == 300

        def spans() -> int:
            bootstrapped.call("POST", f"{names.read_pattern(names.TRACES_INDEX)}/_refresh")
            answer = bootstrapped.call("GET", f"{names.read_pattern(names.TRACES_INDEX)}/_count",
                                       json={"query": {"term": {"resource.machine": MACHINE}}})
            return answer.json().get("count", 0) if answer.status_code == 200 else 0

        _wait("the machine's two spans", lambda: spans() >= 2)
        assert spans() == 2

        def series():
            answer = requests.get(f"{prometheus[0]}/api/v1/query", params={"query": f'{{__name__=~"claude_code_cost.*",machine="{MACHINE}"}}'},
                                  auth=auth, verify=prometheus[1], timeout=10).json()
            return answer["data"]["result"]

        assert _wait("the cost series in the team Prometheus, labelled with the machine", series)

        # Negative control: accepted, its credential check reports 0 (not refused) and its log no refusal.
        check_url = bootstrapped.urls[0] + collector_machine.CREDENTIAL_CHECK_PATH
        assert _wait("the credential check's series (accepted)", lambda: reported(*prometheus_as(auth), MACHINE)) == {check_url: 0}
        assert refusals(running["log"].read_text()) == []

        # Revoked (the machine left `machines`): its records wait on its disk and its collector says
        # why. The security plugin answers 401 with the plain text "Unauthorized", which the
        # opensearch exporter (v0.141.0) reports only as a body it cannot parse; the durable hop
        # then retries from the queue. The credential check asks the cluster with the same credential:
        # its log line names the 401 and what to do, and the series turns 1 in the team Prometheus
        # (which still takes this machine's credential here: a refusal by the cluster alone, as when
        # the cluster's user was removed outside the team stack; a revocation by the team stack
        # refuses the machine at the team Prometheus too, README "Running for a team").
        security.MachineCredentialProvider().delete(user, props)
        _send_numbered(port, "phase-revoked", 100)
        refused = "flush: failed to json unmarshal body: invalid character 'U'"
        _wait("the collector logging the refusal and retrying from its queue",
              lambda: refused in running["log"].read_text() and "Exporting failed. Will retry" in running["log"].read_text(), 90)
        lines = _wait("the collector saying why: its credential is refused", lambda: refusals(running["log"].read_text()), 60)
        assert all(says_why(line) and check_url in line for line in lines), lines
        assert _wait("the refusal in the team Prometheus, labelled with the machine",
                     lambda: reported(*prometheus_as(auth), MACHINE) == {check_url: 1}, 60)
        assert _count_of(bootstrapped, "phase-revoked") == 0
    # Re-admitted: a new credential; the same on-disk queue delivers every record exactly once.
    _, new_auth, _ = _machine(bootstrapped, MACHINE)
    with machine_collector(bootstrapped.urls[:1], str(bootstrapped.ca_file), prometheus, new_auth, tmp_path):
        _wait("the revoked machine's 100 records after re-admission", lambda: _count_of(bootstrapped, "phase-revoked") >= 100, 180)
        assert _count_of(bootstrapped, "phase-revoked") == 100
        assert _count_of(bootstrapped, "phase-admitted") == 300


def test_the_team_check_names_the_setting_and_lets_a_good_team_through(bootstrapped, team_prometheus_for, tmp_path):
    """What fails a machine stack's `pulumi up` before its collector is replaced (components/providers/team_check.py)."""
    from e2e.tls_material import issue
    from components.providers.team_check import TeamCheckError, check_team
    from net import free_port

    user, auth, _ = _machine(bootstrapped, "laptop-k")
    prometheus_url, prometheus_ca = team_prometheus_for({user: auth[1]})
    good = {
        "cluster_urls": [bootstrapped.urls[0]], "cluster_ca_pem": bootstrapped.ca_pem, "username": user, "password": auth[1],
        "remote_write_url": prometheus_url + "/api/v1/write", "prometheus_ca_pem": open(prometheus_ca).read(), "timeout_s": 3,
    }
    check_team(good)
    # Any URL of the cluster that accepts the credential will do, as the collector fails over to it.
    down = f"https://127.0.0.1:{free_port()}"
    check_team({**good, "cluster_urls": [down, bootstrapped.urls[0]]})
    stranger = issue(tmp_path / "stranger").impostor_cert.read_text()
    cases = {
        "machinePassword": {"password": "not-the-password"},
        "clusterCaCert": {"cluster_ca_pem": stranger},
        "clusterUrls": {"cluster_urls": [down, f"https://127.0.0.1:{free_port()}"]},
        "prometheusCaCert": {"prometheus_ca_pem": stranger},
        "teamPrometheusUrl": {"remote_write_url": f"https://127.0.0.1:{free_port()}/api/v1/write"},
    }
    for setting, change in cases.items():
        with pytest.raises(TeamCheckError) as error:
            check_team({**good, **change})
        assert f"clawker-monitor:{setting}:" in str(error.value), (setting, str(error.value))
        assert auth[1] not in str(error.value) and "not-the-password" not in str(error.value)
