"""The team Prometheus's web config on a REAL Prometheus 3 binary (the one tools/images.sh builds).

components/services/prometheus_web.py renders what the team stack uploads: bcrypt hashes of the
admin's and each machine's password, and TLS with the stack's certificate (here one from an
`openssl`-made CA, tests/e2e/tls_material.py; the container paths swapped for the files').
Shown: every endpoint, the remote-write receiver included, refuses a request without a user or
with a wrong password (401); a machine's credential over verified TLS reaches the API and the
receiver (which then judges the body: 400 for one that is not a remote-write message); plain
HTTP and a client that does not trust the CA get nothing.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from pathlib import Path

import pytest
import requests

from opensearch_node import _prometheus_binary
from prerequisites import unavailable
from secured_cluster import start_team_prometheus

USERS = {"admin": "admin-pass-1", "clawker-machine-laptop-a": "machine-pass-a"}


@pytest.fixture(scope="module")
def team_prometheus():
    binary = _prometheus_binary()
    if not binary:
        unavailable("no Prometheus binary (tools/images.sh builds it; or set CLAWKER_PROMETHEUS_BIN)")
    work = Path(tempfile.mkdtemp(prefix="clawker-team-prom-"))
    proc, url, tls = start_team_prometheus(binary, work, USERS)
    try:
        yield url, tls
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


def test_every_endpoint_wants_a_known_user(team_prometheus):
    url, tls = team_prometheus
    ca = str(tls.ca_cert)
    for path, method in (("/api/v1/query?query=up", "GET"), ("/api/v1/write", "POST"), ("/-/ready", "GET")):
        assert requests.request(method, url + path, verify=ca, timeout=10).status_code == 401, path
        wrong = requests.request(method, url + path, auth=("clawker-machine-laptop-a", "wrong"), verify=ca, timeout=10)
        assert wrong.status_code == 401, path
        other = requests.request(method, url + path, auth=("clawker-machine-laptop-b", USERS["admin"]), verify=ca, timeout=10)
        assert other.status_code == 401, path


def test_a_machine_reaches_the_receiver_over_verified_tls(team_prometheus):
    url, tls = team_prometheus
    auth = ("clawker-machine-laptop-a", USERS["clawker-machine-laptop-a"])
    assert requests.get(f"{url}/api/v1/query", params={"query": "1"}, auth=auth, verify=str(tls.ca_cert), timeout=10).status_code == 200
    # Past authentication the receiver judges the body: not a snappy-compressed WriteRequest.
    answer = requests.post(f"{url}/api/v1/write", data=b"not a remote write message", auth=auth,
                           headers={"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy"},
                           verify=str(tls.ca_cert), timeout=10)
    assert answer.status_code == 400, answer.text


def test_plain_http_and_an_untrusted_ca_get_nothing(team_prometheus):
    url, tls = team_prometheus
    auth = ("admin", USERS["admin"])
    plain = requests.get(url.replace("https://", "http://") + "/api/v1/query?query=1", auth=auth, timeout=10)
    assert plain.status_code == 400 and "HTTPS" in plain.text
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{url}/api/v1/query?query=1", auth=auth, verify=str(tls.impostor_cert), timeout=10)
