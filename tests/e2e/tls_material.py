"""Throwaway TLS material for the collector's trusted (mTLS) lane, made with the `openssl` CLI.

issue() writes, into one directory:
- an infra CA (what signs trusted senders' client certificates);
- the collector's server certificate, signed by that CA, valid for the names
  senders dial: otel-collector (in-network), localhost and 127.0.0.1 (host);
- a client certificate signed by the CA (a genuine trusted sender);
- a client certificate signed by a second, unrelated CA (an impostor).

Keys are EC P-256 (fast to make). The collector runs as a non-root user and
reads the bind-mounted files, so every file is world-readable: the material is
for one test run only.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

DAYS = "2"
SERVER_NAMES = "DNS:otel-collector,DNS:localhost,IP:127.0.0.1"


@dataclass(frozen=True)
class InfraTls:
    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    impostor_cert: Path
    impostor_key: Path

    def stack_config(self) -> dict[str, str]:
        """The three settings that switch the trusted lane on."""
        return {
            "infraTlsCertFile": str(self.server_cert),
            "infraTlsKeyFile": str(self.server_key),
            "infraTlsCaFile": str(self.ca_cert),
        }


def _openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"openssl {' '.join(args)} failed:\n{proc.stderr}"


def _new_key(path: Path, cwd: Path) -> None:
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(path), cwd=cwd)


def _ca(name: str, cwd: Path) -> tuple[Path, Path]:
    key, cert = cwd / f"{name}.key", cwd / f"{name}.crt"
    _new_key(key, cwd)
    _openssl(
        "req", "-x509", "-new", "-key", str(key), "-out", str(cert), "-days", DAYS, "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=cwd,
    )
    return cert, key


def _leaf(name: str, ca: tuple[Path, Path], extensions: list[str], cwd: Path) -> tuple[Path, Path]:
    key, csr, cert, ext = cwd / f"{name}.key", cwd / f"{name}.csr", cwd / f"{name}.crt", cwd / f"{name}.ext"
    _new_key(key, cwd)
    _openssl("req", "-new", "-key", str(key), "-out", str(csr), "-subj", f"/CN={name}", cwd=cwd)
    ext.write_text("\n".join(["basicConstraints=critical,CA:FALSE", *extensions]) + "\n")
    ca_cert, ca_key = ca
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key), "-CAcreateserial",
        "-out", str(cert), "-days", DAYS, "-extfile", str(ext),
        cwd=cwd,
    )
    return cert, key


def issue(directory: Path) -> InfraTls:
    if shutil.which("openssl") is None:
        raise RuntimeError("the openssl CLI is needed to make the trusted lane's test certificates")
    directory.mkdir(parents=True, exist_ok=True)
    ca = _ca("clawker-e2e-infra-ca", directory)
    impostor_ca = _ca("clawker-e2e-impostor-ca", directory)
    server_cert, server_key = _leaf(
        "otel-collector",
        ca,
        [f"subjectAltName={SERVER_NAMES}", "keyUsage=critical,digitalSignature", "extendedKeyUsage=serverAuth"],
        directory,
    )
    client_usage = ["keyUsage=critical,digitalSignature", "extendedKeyUsage=clientAuth"]
    client_cert, client_key = _leaf("clawker-cp", ca, client_usage, directory)
    impostor_cert, impostor_key = _leaf("impostor", impostor_ca, client_usage, directory)
    for path in directory.iterdir():
        path.chmod(0o644)
    return InfraTls(
        ca_cert=ca[0],
        server_cert=server_cert,
        server_key=server_key,
        client_cert=client_cert,
        client_key=client_key,
        impostor_cert=impostor_cert,
        impostor_key=impostor_key,
    )
