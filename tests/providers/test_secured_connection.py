"""The providers' client on a secured cluster (the team role's `connection` input), over real TLS.

A loopback HTTPS server with a certificate from a throwaway CA (the `openssl` CLI,
tests/e2e/tls_material.py) that wants HTTP basic auth, as the security plugin does.
Shown: the CA given in the connection verifies the server and the credential is sent;
a CA that did not sign the server's certificate is refused (no request reaches it, and it is
final: tests/providers/test_team_check.py counts one connection), and so is the system's trust
store when no CA is given (verification is never off); a wrong
password is refused at once with the server's 401, not retried.
"""

from __future__ import annotations

import base64
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from components.providers.http_client import ApiError, GaveUpError, UntrustedCertificateError
from components.providers.opensearch.base import client_for
from e2e.tls_material import issue

USER, PASSWORD = "admin", "right-password-1"


class _Handler(BaseHTTPRequestHandler):
    seen: list = []

    def do_GET(self):  # noqa: N802 (http.server's naming)
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        self.seen.append(self.headers.get("Authorization"))
        ok = self.headers.get("Authorization") == expected
        body = json.dumps({"cluster_name": "secured"} if ok else {"error": "Unauthorized", "status": 401}).encode()
        self.send_response(200 if ok else 401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    material = issue(tmp_path_factory.mktemp("tls"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(material.server_cert), str(material.server_key))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}", material
    server.shutdown()
    server.server_close()


def connection(ca_path, password=PASSWORD) -> dict:
    return {"username": USER, "password": password, "ca_pem": ca_path.read_text()}


def test_the_given_ca_verifies_the_cluster_and_the_credential_is_sent(secured):
    url, material = secured
    _Handler.seen.clear()
    assert client_for(url, 10, connection(material.ca_cert)).request("GET", "/") == {"cluster_name": "secured"}
    assert _Handler.seen == ["Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()]


def test_an_untrusted_ca_is_refused_before_any_request(secured):
    url, material = secured
    _Handler.seen.clear()
    with pytest.raises(UntrustedCertificateError) as error:
        client_for(url, 3, connection(material.impostor_cert)).request("GET", "/")
    assert "CERTIFICATE_VERIFY_FAILED" in str(error.value) or "certificate verify failed" in str(error.value)
    assert "clusterCaCert" in str(error.value)
    # Negative control of the same refusal: no CA at all means the system's CAs, which do not know it either.
    with pytest.raises(UntrustedCertificateError):
        client_for(url, 3, {"username": USER, "password": PASSWORD}).request("GET", "/")
    assert _Handler.seen == []


def test_a_wrong_password_fails_at_once_with_the_servers_answer(secured):
    url, material = secured
    _Handler.seen.clear()
    with pytest.raises(ApiError) as error:
        client_for(url, 10, connection(material.ca_cert, password="wrong")).request("GET", "/")
    assert error.value.status == 401 and not isinstance(error.value, GaveUpError)
    assert len(_Handler.seen) == 1
    assert "wrong" not in str(error.value)
