"""Contract of the SQL plugin's datasource and direct-query REST APIs (opensearch-project/sql).

Runs against the `cluster` fixture: the real plugin where the distribution has it,
otherwise the SQL CONTRACT DOUBLE (tests/plugin_doubles/server.py) in front of a real
OpenSearch. The direct PromQL query goes to a real Prometheus.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from net import free_port
from opensearch_node import SQL
from prerequisites import unavailable

pytestmark = pytest.mark.needs_sql

DATASOURCES = "_plugins/_query/_datasources"
SERVER = Path(__file__).resolve().parent / "server.py"


def datasource(name="ds_test", uri="http://127.0.0.1:9090", **extra) -> dict:
    return {"name": name, "connector": "prometheus", "properties": {"prometheus.uri": uri, **extra}}


@pytest.fixture()
def sql(cluster):
    cluster.require(SQL)
    return cluster


def test_datasource_create_get_update_delete(sql, prometheus):
    created = sql.call("POST", DATASOURCES, datasource(uri=prometheus.url))
    assert created.status_code == 201, created.text
    assert created.json() == "Created DataSource with name ds_test"
    again = sql.call("POST", DATASOURCES, datasource(uri=prometheus.url))
    assert again.status_code == 400 and "A datasource already exists with name: ds_test" in again.text

    got = sql.call("GET", f"{DATASOURCES}/ds_test").json()
    assert got["name"] == "ds_test" and got["connector"] == "PROMETHEUS" and got["status"] == "ACTIVE"
    assert got["properties"] == {"prometheus.uri": prometheus.url}
    assert got["resultIndex"] == "query_execution_result_ds_test"
    assert [d["name"] for d in sql.call("GET", DATASOURCES).json()] == ["ds_test"]

    moved = prometheus.url.replace("127.0.0.1", "localhost")
    updated = sql.call("PUT", DATASOURCES, datasource(uri=moved))
    assert updated.status_code == 200 and updated.json() == "Updated DataSource with name ds_test"
    assert sql.call("GET", f"{DATASOURCES}/ds_test").json()["properties"]["prometheus.uri"] == moved
    absent = sql.call("PUT", DATASOURCES, datasource(name="ds_absent", uri=moved))
    assert absent.status_code == 404 and "doesn't exist" in absent.text

    assert sql.call("DELETE", f"{DATASOURCES}/ds_test").status_code == 204
    gone = sql.call("GET", f"{DATASOURCES}/ds_test")
    assert gone.status_code == 404 and "doesn't exist" in gone.text
    assert sql.call("DELETE", f"{DATASOURCES}/ds_test").status_code == 404


@pytest.mark.parametrize(
    "body, message",
    [
        (datasource(uri="http://no-such-host.invalid:9090"), "Invalid URI in prometheus properties"),
        ({"name": "ds_x", "connector": "prometheus", "properties": {}}, "Missing [prometheus.uri] fields"),
        ({**datasource(name="ds_x"), "colour": "red"}, "Unknown field: colour"),
        (datasource(name="1starts-with-digit"), "contains illegal characters"),
        ({**datasource(name="ds_x"), "connector": "graphite"}, "No DataSourceType with name graphite"),
        ({"connector": "prometheus", "properties": {"prometheus.uri": "http://127.0.0.1:9090"}}, "name cannot be null"),
    ],
)
def test_invalid_datasources_are_refused(sql, body, message):
    answer = sql.call("POST", DATASOURCES, body)
    assert answer.status_code == 400, answer.text
    assert message in answer.text
    assert sql.call("GET", DATASOURCES).json() == []


def test_credentials_are_kept_out_of_reads(sql, prometheus):
    body = datasource(uri=prometheus.url, **{"prometheus.auth.type": "basicauth", "prometheus.auth.username": "u",
                                             "prometheus.auth.password": "secret-pw"})
    assert sql.call("POST", DATASOURCES, body).status_code == 201
    got = sql.call("GET", f"{DATASOURCES}/ds_test").json()
    assert "prometheus.auth.password" not in got["properties"] and "secret-pw" not in str(got)


def test_without_the_master_key_credentials_are_refused_but_a_plain_uri_is_not(opensearch, prometheus):
    """A second double in front of the same OpenSearch, started without the master-key setting."""
    if SQL in opensearch.plugins:
        unavailable("the real SQL plugin is installed: its master key is fixed for this node's life")
    port = free_port()
    env = {**os.environ, "PLUGIN_DOUBLES_MASTER_KEY": ""}
    proc = subprocess.Popen(
        [sys.executable, str(SERVER), "--host", "127.0.0.1", "--port", str(port), "--upstream", opensearch.real_url],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/{DATASOURCES}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(url, timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "the second double did not start"
            time.sleep(0.3)
        with_credentials = datasource(name="ds_keyless", uri=prometheus.url, **{"prometheus.auth.type": "basicauth",
                                      "prometheus.auth.username": "u", "prometheus.auth.password": "p"})
        refused = requests.post(url, json=with_credentials, timeout=30)
        assert refused.status_code == 400 and "Master key is a required config" in refused.text
        plain = requests.post(url, json=datasource(name="ds_keyless", uri=prometheus.url), timeout=30)
        assert plain.status_code == 201, plain.text  # the plugin encrypts nothing: no key needed
        assert requests.delete(f"{url}/ds_keyless", timeout=30).status_code == 204
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_direct_promql_query_reaches_prometheus(sql, prometheus):
    if prometheus.kind != "real":
        unavailable("no Prometheus binary cached (tools/images.sh builds it): the direct query needs a real one")
    assert sql.call("POST", DATASOURCES, datasource(uri=prometheus.url)).status_code == 201
    now = int(time.time())
    body = {"query": "vector(7)", "language": "promql",
            "options": {"queryType": "range", "start": str(now - 300), "end": str(now), "step": "60"}}
    answer = sql.call("POST", "_plugins/_directquery/_query/ds_test", body)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert {"queryId", "results", "sessionId"} <= set(result)
    series = result["results"]["ds_test"]
    assert series["resultType"] == "matrix"
    assert series["result"][0]["values"][-1][1] == "7"

    instant = {"query": "vector(3)", "language": "promql", "options": {"queryType": "instant", "time": str(now)}}
    got = sql.call("POST", "_plugins/_directquery/_query/ds_test", instant).json()["results"]["ds_test"]
    assert got["resultType"] == "vector" and got["result"][0]["value"][1] == "3"

    for broken, message in [
        ({"query": "up", "language": "promql"}, "Prometheus options are required for PROMQL queries"),
        ({"query": "up", "language": "promql", "options": {"queryType": "range", "start": "2", "end": "1", "step": "1"}},
         "End time must be after start time"),
        ({"query": "up", "language": "promql", "options": {"queryType": "range", "start": "1", "end": "2"}},
         "Step parameter is required"),
        ({"language": "promql", "options": {"queryType": "instant", "time": "1"}}, "Query is required"),
        ({"query": "up", "options": {"queryType": "instant", "time": "1"}}, "Language type is required"),
        ({"query": "up", "language": "cobol"}, "Invalid languageType: cobol"),
    ]:
        refused = sql.call("POST", "_plugins/_directquery/_query/ds_test", broken)
        assert refused.status_code == 400 and message in refused.text, (broken, refused.text)


def test_the_builtin_opensearch_datasource_is_readable_and_untouchable(sql):
    """DataSourceServiceImpl and the *ActionRequest.validate() methods at the cited commit."""
    got = sql.call("GET", f"{DATASOURCES}/@opensearch")
    assert got.status_code == 200, got.text
    assert got.json() == {"name": "@opensearch", "description": "", "connector": "OPENSEARCH", "allowedRoles": [],
                          "properties": {}, "resultIndex": "query_execution_result_opensearch", "status": "ACTIVE"}
    assert sql.call("GET", DATASOURCES).json() == []  # the list leaves it out
    body = {"name": "@opensearch", "connector": "opensearch", "properties": {}}
    for method, path, verb in (("POST", DATASOURCES, "create"), ("PUT", DATASOURCES, "update"),
                               ("PATCH", DATASOURCES, "update"), ("DELETE", f"{DATASOURCES}/@opensearch", "delete")):
        answer = sql.call(method, path, None if method == "DELETE" else body)
        assert answer.status_code == 400, (method, answer.text)
        error = answer.json()["error"]
        assert error["type"] == "ActionRequestValidationException"
        assert error["details"] == f"Validation Failed: 1: Not allowed to {verb} datasource with name : @opensearch;"


def test_patch_changes_only_the_fields_it_names(sql, prometheus):
    """RestDataSourceQueryAction.executePatchRequest, XContentParserUtils.toMap,
    DataSourceServiceImpl.patchDataSource at the cited commit."""
    assert sql.call("POST", DATASOURCES, datasource(uri=prometheus.url, **{"prometheus.extra": "kept"})).status_code == 201
    moved = prometheus.url.replace("127.0.0.1", "localhost")
    # connector is ignored by the patch parser; properties are merged into the stored ones.
    answer = sql.call("PATCH", DATASOURCES, {"name": "ds_test", "connector": "s3glue", "description": "patched",
                                             "properties": {"prometheus.uri": moved}})
    assert answer.status_code == 200 and answer.json() == "Updated DataSource with name ds_test", answer.text
    got = sql.call("GET", f"{DATASOURCES}/ds_test").json()
    assert got["connector"] == "PROMETHEUS" and got["description"] == "patched"
    assert got["properties"] == {"prometheus.uri": moved, "prometheus.extra": "kept"}
    assert got["status"] == "ACTIVE" and got["resultIndex"] == "query_execution_result_ds_test"

    assert sql.call("PATCH", DATASOURCES, {"name": "ds_test", "status": "disabled"}).status_code == 200
    assert sql.call("GET", f"{DATASOURCES}/ds_test").json()["status"] == "DISABLED"
    # The Java switch falls through from resultIndex to status: a patch of resultIndex alone
    # resets the status (to ACTIVE when the patch has none).
    assert sql.call("PATCH", DATASOURCES, {"name": "ds_test", "resultIndex": "query_execution_result_other"}).status_code == 200
    got = sql.call("GET", f"{DATASOURCES}/ds_test").json()
    assert got["resultIndex"] == "query_execution_result_other" and got["status"] == "ACTIVE"

    for body, status, message in [
        ({"description": "no name"}, 400, "Name is a required field."),
        ({"name": "ds_test", "colour": "red"}, 400, "Unknown field: colour"),
        ({"name": "ds_test", "status": "paused"}, 400, "No DataSourceStatus with text paused found"),
        ({"name": "ds_test", "properties": {"prometheus.uri": "http://no-such-host.invalid:9090"}}, 400,
         "Invalid URI in prometheus properties"),
        ({"name": "ds_absent", "description": "x"}, 404, "DataSource with name ds_absent doesn't exist."),
    ]:
        answer = sql.call("PATCH", DATASOURCES, body)
        assert answer.status_code == status and message in answer.text, (body, answer.text)
    assert sql.call("GET", f"{DATASOURCES}/ds_test").json()["properties"]["prometheus.uri"] == moved


@pytest.mark.parametrize(
    "uri, accepted",
    [
        # new URI(uri).getHost() is null: InetAddress.getByName(null) is loopback, allowed.
        ("prometheus:9090", True),
        ("http:///api", True),
        ("http://under_score:9090", True),
        # URISyntaxException: refused with its message.
        ("127.0.0.1:9090", False),
        ("http://bad host:9090", False),
        # A host that does not resolve: refused.
        ("http://no-such-host.invalid:9090", False),
    ],
)
def test_prometheus_uri_host_is_checked_as_the_plugin_does(sql, uri, accepted):
    """PrometheusStorageFactory, DatasourceValidationUtils.validateHost, URIValidationUtils at the cited commit."""
    answer = sql.call("POST", DATASOURCES, datasource(name="ds_uri", uri=uri))
    if accepted:
        assert answer.status_code == 201, answer.text
    else:
        assert answer.status_code == 400 and "Invalid URI in prometheus properties" in answer.text, answer.text
        assert sql.call("GET", f"{DATASOURCES}/ds_uri").status_code == 404
