"""The team Prometheus's web config: basic auth for every user, TLS when the stack has a certificate.

Prometheus reads `--web.config.file` (its exporter-toolkit web configuration): `basic_auth_users`
maps a user to a bcrypt hash of its password, `tls_server_config` names the certificate and key.
The team stack's users are its admin (clusterAdminUser) and every machine, with the same
password as its OpenSearch credential, so revoking a machine revokes both.

The hashes are bcrypt with a salt derived from the user and the password: the same password
gives the same file, so an unchanged stack does not re-create the container on every `up`
(a random salt would), and a changed password changes it. The file is a Pulumi secret.
"""

from __future__ import annotations

import hashlib

import bcrypt

WEB_CONFIG_PATH = "/etc/prometheus/web.yml"
TLS_CERT_PATH = "/etc/prometheus/tls/server.crt"
TLS_KEY_PATH = "/etc/prometheus/tls/server.key"
BCRYPT_COST = 10
# bcrypt's own base64 alphabet; a salt is 22 of these characters (16 bytes).
_ALPHABET = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def _salt(user: str, password: str) -> bytes:
    digest = hashlib.sha256(f"clawker-monitor prometheus {user}\0{password}".encode()).digest()
    chars = [_ALPHABET[b % 64] for b in digest[:21]]
    # The 22nd character carries only 2 bits of the salt: pick one whose unused bits are zero.
    chars.append(".Oeu"[digest[21] % 4])
    return f"$2b${BCRYPT_COST:02d}$".encode() + "".join(chars).encode()


def password_hash(user: str, password: str) -> str:
    return bcrypt.hashpw(password.encode(), _salt(user, password)).decode()


def web_config(users: dict[str, str], tls: bool) -> dict:
    """`users`: user -> password (plain; only their hashes are written)."""
    config: dict = {"basic_auth_users": {user: password_hash(user, pw) for user, pw in sorted(users.items())}}
    if tls:
        config["tls_server_config"] = {"cert_file": TLS_CERT_PATH, "key_file": TLS_KEY_PATH}
    return config
