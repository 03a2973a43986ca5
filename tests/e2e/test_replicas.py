"""Two labgate servers on one PostgreSQL: either can answer any request, and one can be
stopped and upgraded while the other serves (DESIGN: "an upgrade is not an outage")."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from tests.support import postgres
from tests.support.server import RunningServer

pytestmark = pytest.mark.e2e

PASSWORD = "replica admin password"


def test_two_replicas_share_sessions_preferences_and_rate_limits(
    postgres_dsn: str, tmp_path: Path
) -> None:
    env = {"LABGATE_ADMIN_PASSWORD": PASSWORD, "LABGATE_LOGIN_MAX_FAILURES_PER_ACCOUNT": "3"}
    with contextlib.ExitStack() as stack:
        dsn = stack.enter_context(postgres.fresh_database(postgres_dsn))
        env["LABGATE_DATABASE_URL"] = dsn
        first, second = (RunningServer(tmp_path / name, env=env) for name in ("a", "b"))
        for server in (first, second):
            server.workdir.mkdir()
            stack.callback(server.kill)
        # Started together, both migrate the same empty database at once; an advisory lock
        # makes them take turns.
        first.start()
        second.start()
        first.wait_until_healthy()
        second.wait_until_healthy()
        a = stack.enter_context(first.client())
        b = stack.enter_context(second.client())

        login = a.post("/api/v1/auth/login", json={"username": "admin", "password": PASSWORD})
        assert login.status_code == 200
        csrf = login.json()["csrf_token"]
        b.cookies.update(a.cookies)
        # A session from one replica works on the other, CSRF token included.
        changed = b.patch(
            "/api/v1/preferences",
            json={"preferences": {"theme": "dark"}},
            headers={"X-CSRF-Token": csrf},
        )
        assert changed.status_code == 200
        assert a.get("/api/v1/preferences").json()["preferences"]["theme"] == "dark"

        # Failed logins count across replicas.
        for client in (a, b, a):
            wrong = client.post(
                "/api/v1/auth/login", json={"username": "admin", "password": "wrong guess!"}
            )
            assert wrong.status_code == 401
        blocked = b.post("/api/v1/auth/login", json={"username": "admin", "password": PASSWORD})
        assert blocked.status_code == 429

        # Stop one replica (as for an upgrade); the other carries on with the same session.
        assert first.stop() == 0
        assert b.get("/api/v1/users/me").json()["username"] == "admin"
        first.start()
        first.wait_until_healthy()
        assert a.get("/api/v1/users/me").status_code == 200

        # Logging out on one replica ends the session on both.
        assert a.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
        assert b.get("/api/v1/users/me").status_code == 401
