"""End-to-end: ``labgate serve`` as a real process, reached over real HTTP."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from labgate.auth.cookies import SESSION_COOKIE
from labgate.db.migrate import head_revision
from tests.support import postgres
from tests.support.server import LABGATE, RunningServer, banner_credentials, running_server

pytestmark = pytest.mark.e2e

SESSION = "/api/v1/auth/session"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    with running_server(tmp_path) as running:
        yield running


def log_in(http: httpx.Client, username: str, password: str) -> dict[str, object]:
    response = http.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_first_start_prints_credentials_that_log_in(server: RunningServer) -> None:
    username, password = banner_credentials(server.stderr)

    with server.client() as http:
        assert http.get(SESSION).status_code == 401
        login = log_in(http, username, password)
        session = http.get(SESSION)

    assert username == "admin"
    assert f"labgate is running at {server.url}" in server.stderr
    assert session.status_code == 200, session.text
    assert session.json()["user"]["username"] == "admin"
    assert session.json()["user"]["role"] == "admin"
    assert session.json()["csrf_token"] == login["csrf_token"]
    # The printed password is one-time: the administrator must choose their own first.
    assert session.json()["user"]["must_change_password"] is True


def test_wrong_password_is_refused(server: RunningServer) -> None:
    username, password = banner_credentials(server.stderr)

    with server.client() as http:
        response = http.post(
            "/api/v1/auth/login", json={"username": username, "password": password + "x"}
        )

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_credentials"


def test_restart_keeps_accounts_and_sessions(server: RunningServer) -> None:
    username, password = banner_credentials(server.stderr)
    with server.client() as http:
        log_in(http, username, password)
        cookie = http.cookies[SESSION_COOKIE]

    server.stop()
    server.start()
    server.wait_until_healthy()

    assert "Password:" not in server.stderr
    assert password not in server.stderr
    assert f"Log in as {username}." in server.stderr
    with server.client(cookies={SESSION_COOKIE: cookie}) as http:
        assert http.get(SESSION).json()["user"]["username"] == username
    with server.client() as http:
        log_in(http, username, password)
        assert http.get(SESSION).status_code == 200


def test_sigterm_shuts_down_gracefully(server: RunningServer) -> None:
    server.stop(signal.SIGTERM)  # fails unless the process ends within STOP_TIMEOUT

    assert not server.running
    assert "labgate shutting down" in server.stderr
    assert "Application shutdown complete" in server.stderr
    assert "Traceback" not in server.stderr


def test_sigterm_exit_status_is_zero(server: RunningServer) -> None:
    assert server.stop(signal.SIGTERM) == 0


def test_server_on_postgresql(postgres_dsn: str, tmp_path: Path) -> None:
    # CREATE DATABASE works from any database of the server: the run's own database
    # (with the administrator's credentials) serves as the admin connection, so the
    # PostgreSQL server the suite already uses is reused.
    with (
        postgres.fresh_database(postgres_dsn) as dsn,
        running_server(tmp_path, env={"LABGATE_DATABASE_URL": dsn}) as server,
    ):
        username, password = banner_credentials(server.stderr)
        with server.client() as http:
            log_in(http, username, password)
            assert http.get(SESSION).json()["user"]["username"] == username
        current = subprocess.run(
            [str(LABGATE), "db", "current"],
            env=server.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        stored = postgres.fetchval(dsn, "SELECT username FROM users WHERE role = 'admin'")

    head = head_revision()
    assert current.returncode == 0, current.stderr
    assert current.stdout == f"current: {head}\nnewest:  {head}\n"
    assert stored == username
    assert not (server.data_dir / "labgate.sqlite3").exists()
