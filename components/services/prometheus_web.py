"""The team Prometheus's web config: basic auth for every user, TLS when the stack has a certificate.

Prometheus reads `--web.config.file` (its exporter-toolkit web configuration): `basic_auth_users`
maps a user to a bcrypt hash of its password, `tls_server_config` names the certificate and key.
The team stack's users are its admin (clusterAdminUser) and every machine, with the same
password as its OpenSearch credential, so revoking a machine revokes both.

The hashes are bcrypt with a salt derived from the user and the password: the same password
gives the same file, so an unchanged stack does not re-create the container on every `up`
(a random salt would), and a changed password changes it. The file is a Pulumi secret.

bcrypt comes from the platform's crypt(3) through Python's standard `crypt` module (libxcrypt,
which Debian, Ubuntu and Fedora ship, does `$2b$`), so the product needs no dependency beyond
its five pinned ones. `bcrypt_problem()` says, before anything changes, when this Python or
platform cannot (Python 3.13 removed `crypt`); the team role's settings check calls it.
"""

from __future__ import annotations

import hashlib
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import crypt as _crypt
    except ImportError:  # Python 3.13+
        _crypt = None

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
    problem = bcrypt_problem()
    if problem:
        raise RuntimeError(problem)
    return _crypt.crypt(password, _salt(user, password).decode())


def password_matches(password: str, hashed: str) -> bool:
    return _crypt is not None and _crypt.crypt(password, hashed) == hashed


_PROBE = "$2b$04$" + "." * 21 + "O"


def bcrypt_problem() -> str | None:
    """Why this Python cannot write the team Prometheus's password hashes, or None."""
    if _crypt is None:
        return ("the team Prometheus's password file needs bcrypt from Python's `crypt` module, which this Python "
                "(3.13 or later) no longer has: run the team stack with Python 3.11 or 3.12")
    hashed = _crypt.crypt("probe", _PROBE)
    if not hashed or not hashed.startswith("$2b$04$"):
        return ("the team Prometheus's password file needs bcrypt, which this platform's crypt(3) does not do: "
                "run the team stack where libxcrypt is the C library's crypt (Debian, Ubuntu, Fedora)")
    return None


def web_config(users: dict[str, str], tls: bool) -> dict:
    """`users`: user -> password (plain; only their hashes are written)."""
    config: dict = {"basic_auth_users": {user: password_hash(user, pw) for user, pw in sorted(users.items())}}
    if tls:
        config["tls_server_config"] = {"cert_file": TLS_CERT_PATH, "key_file": TLS_KEY_PATH}
    return config
