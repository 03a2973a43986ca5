"""Serving HTTPS directly: Secure cookies and HSTS."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.server import running_server

pytestmark = pytest.mark.e2e

PASSWORD = "tls admin password"


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_https_sessions_get_secure_cookies_and_hsts(tmp_path: Path) -> None:
    cert, key = self_signed_certificate(tmp_path)
    env = {
        "LABGATE_TLS_CERTFILE": str(cert),
        "LABGATE_TLS_KEYFILE": str(key),
        "LABGATE_ADMIN_PASSWORD": PASSWORD,
    }
    with running_server(tmp_path, env=env, tls_ca=cert) as server, server.client() as http:
        assert f"labgate is running at https://127.0.0.1:{server.port}" in server.stderr
        login = http.post("/api/v1/auth/login", json={"username": "admin", "password": PASSWORD})
        assert login.status_code == 200
        cookie = login.headers["set-cookie"]
        assert cookie.startswith("__Host-labgate_session=")  # no sibling host can plant it
        assert "Secure" in cookie
        assert "HttpOnly" in cookie
        assert login.headers["strict-transport-security"].startswith("max-age=")
        assert http.get("/api/v1/users/me").status_code == 200


def test_half_a_tls_configuration_is_refused(tmp_path: Path) -> None:
    from labgate.errors import ConfigurationError
    from labgate.settings import load_settings

    cert, _ = self_signed_certificate(tmp_path)
    with pytest.raises(ConfigurationError, match="set together"):
        load_settings(tls_certfile=cert)
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_settings(tls_certfile=cert, tls_keyfile=tmp_path / "missing.pem")
