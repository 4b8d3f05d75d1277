"""A machine stack's team check (components/providers/team_check.py) against loopback HTTPS servers.

Each server has a certificate from a throwaway CA made by the `openssl` CLI (tests/e2e/tls_material.py)
and wants HTTP basic auth as the security plugin and the team Prometheus do; it counts the TCP
connections it accepted and the requests it answered, so retries are counted, not timed. Shown:
- the cluster is accepted when ANY of `clusterUrls` answers with the credential accepted, whichever
  position it has, as the collector fails over from one URL to the next; `clusterUrls` is named only
  when none of them could be reached (the control: the first URL alone, what the check asked before);
- a refused credential (401) names `machinePassword` and a certificate the CA does not verify names
  `clusterCaCert` / `prometheusCaCert` after exactly one attempt each, however long the bound; the
  providers' client (components/providers/http_client.py) refuses an untrusted certificate after one
  connection too, while it connects again after a dropped connection (the control);
- a dropped connection and a 503 are asked again within the bound, and the check passes once the
  server answers.
The same check against the real secured OpenSearch: tests/providers/test_machine_credential.py.
"""

from __future__ import annotations

import ssl
import threading
from http.server import ThreadingHTTPServer

import pytest

from components.providers.http_client import UntrustedCertificateError
from components.providers.opensearch.base import client_for
from components.providers.team_check import TeamCheckError, check_team
import test_secured_connection
from e2e.tls_material import issue
from net import free_port

USER, PASSWORD = test_secured_connection.USER, test_secured_connection.PASSWORD
# Long enough that a retried final answer would show in the counts many times over.
BOUND_S = 30.0


class _Server(ThreadingHTTPServer):
    """HTTPS with basic auth; drops its first `drop` connections, answers its first `unavailable` requests 503."""

    daemon_threads = True

    def __init__(self, context: ssl.SSLContext, drop: int = 0, unavailable: int = 0):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.context, self.drop, self.unavailable = context, drop, unavailable
        self.connections = 0
        self.requests: list[str] = []

    def get_request(self):
        sock, address = self.socket.accept()
        self.connections += 1
        if self.connections <= self.drop:
            sock.close()  # as a node going down does: the client sees the connection end
            raise OSError("dropped")
        return self.context.wrap_socket(sock, server_side=True), address

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.server_address[1]}"


class _Handler(test_secured_connection._Handler):
    """test_secured_connection's basic-auth server (200 with the credential, 401 without), first `unavailable` requests 503."""

    server: _Server

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.server.requests.append(self.path)
        if len(self.server.requests) > self.server.unavailable:
            return super().do_GET()
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture(scope="module")
def material(tmp_path_factory):
    return issue(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def serve(material):
    """Starts servers for one test; each is shut down after it."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(material.server_cert), str(material.server_key))
    started = []

    def start(**behaviour) -> _Server:
        server = _Server(context, **behaviour)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


def props(material, cluster_urls, prometheus: _Server, **change) -> dict:
    ca = material.ca_cert.read_text()
    return {
        "cluster_urls": cluster_urls, "cluster_ca_pem": ca, "username": USER, "password": PASSWORD,
        "remote_write_url": prometheus.url + "/api/v1/write", "prometheus_ca_pem": ca, "timeout_s": BOUND_S, **change,
    }


def refused(p: dict) -> str:
    with pytest.raises(TeamCheckError) as error:
        check_team(p)
    message = str(error.value)
    assert PASSWORD not in message and "not-the-password" not in message
    return message


def test_the_cluster_is_accepted_when_any_url_answers_and_named_only_when_none_can_be_reached(material, serve):
    node, prometheus = serve(), serve()
    down, also_down = f"https://127.0.0.1:{free_port()}", f"https://127.0.0.1:{free_port()}"
    check_team(props(material, [down, node.url], prometheus))
    check_team(props(material, [node.url, down], prometheus))
    assert node.requests == ["/_plugins/_security/authinfo"] * 2 and prometheus.requests == ["/-/ready"] * 2
    # Control: the first URL alone (what the check asked before) fails although the cluster answers at the second.
    alone = refused(props(material, [down], prometheus, timeout_s=1))
    assert alone.startswith("clawker-monitor:clusterUrls: the team's OpenSearch cluster could not be reached") and down in alone
    none = refused(props(material, [down, also_down], prometheus, timeout_s=1))
    assert "clawker-monitor:clusterUrls:" in none and down in none and also_down in none
    assert "teamPrometheusUrl" not in none and "machinePassword" not in none


def test_a_refused_credential_or_certificate_fails_after_one_attempt_naming_the_setting(material, serve):
    node, prometheus = serve(), serve()
    down = f"https://127.0.0.1:{free_port()}"
    wrong = refused(props(material, [down, node.url], prometheus, password="not-the-password"))
    # Both refused it: the cluster's node (the URL before it could not be reached) and the team Prometheus.
    assert wrong.startswith(f"clawker-monitor:machinePassword: the team's OpenSearch cluster at {node.url} refused this machine's credential (401)")
    assert f"clawker-monitor:machinePassword: the team Prometheus at {prometheus.url} refused" in wrong
    assert f"its other URLs: {down}:" in wrong
    assert (len(node.requests), len(prometheus.requests)) == (1, 1)

    stranger = material.impostor_cert.read_text()
    untrusted = refused(props(material, [node.url], prometheus, cluster_ca_pem=stranger))
    assert untrusted.startswith(f"clawker-monitor:clusterCaCert: the certificate of the team's OpenSearch cluster at {node.url} is not signed")
    assert (node.connections, len(node.requests)) == (2, 1)  # one more connection, no request on it
    untrusted = refused(props(material, [node.url], prometheus, prometheus_ca_pem=stranger))
    assert untrusted.startswith(f"clawker-monitor:prometheusCaCert: the certificate of the team Prometheus at {prometheus.url}")
    assert (prometheus.connections, len(prometheus.requests)) == (3, 2)
    # The providers' client refuses the same certificate as final too: one more connection, no request,
    # however long its bound (until 2026-12-05 it connected again and again until the bound ran out).
    with pytest.raises(UntrustedCertificateError) as error:
        client_for(node.url, BOUND_S, {"username": USER, "password": PASSWORD, "ca_pem": stranger}).request("GET", "_plugins/_security/authinfo")
    assert (node.connections, len(node.requests)) == (4, 2) and node.url in str(error.value)  # (3, 2) before it


def test_the_providers_client_connects_again_after_a_dropped_connection_but_not_after_an_untrusted_certificate(material, serve):
    """Control for the single attempt above: the same client, bound and server retry a connection the
    server dropped (a node restarting) and get the answer; only the certificate refusal is final."""
    restarting = serve(drop=2)
    trusted = {"username": USER, "password": PASSWORD, "ca_pem": material.ca_cert.read_text()}
    assert client_for(restarting.url, BOUND_S, trusted).request("GET", "_plugins/_security/authinfo") is not None
    assert (restarting.connections, len(restarting.requests)) == (3, 1)
    with pytest.raises(UntrustedCertificateError):
        client_for(restarting.url, BOUND_S, {**trusted, "ca_pem": material.impostor_cert.read_text()}).request("GET", "/")
    assert (restarting.connections, len(restarting.requests)) == (4, 1)


def test_a_dropped_connection_and_a_503_are_asked_again_within_the_bound(material, serve):
    restarting, starting = serve(drop=2), serve(unavailable=2)
    check_team(props(material, [restarting.url], starting))
    assert (restarting.connections, restarting.requests) == (3, ["/_plugins/_security/authinfo"])
    assert starting.requests == ["/-/ready"] * 3
