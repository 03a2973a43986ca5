"""For fuzzing the API of a real ``labgate serve``: an ordinary user's credentials there,
and what its SQLite database holds, to tell whether a refused request changed anything.

A *snapshot* is every row of every table, read from the server's database file (a
reader does not disturb the server). Two snapshots are compared without the columns that
any authenticated request may touch (a login's or token's "last used" time) and without
the audit log, which records failed logins on purpose (:data:`AUDITED_REFUSALS`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.eventually import within
from tests.support.server import RunningServer

# Written by any authenticated request, refused or not (see labgate.auth.principal).
VOLATILE_COLUMNS = frozenset({"last_seen_at", "last_used_at"})
# A refused login is recorded in the audit log: that is the point of it.
AUDITED_REFUSALS = frozenset(
    {
        ("POST", "/api/v1/auth/login"),
        # An unknown guest invitation code counts as a failed login (guessing).
        ("GET", "/api/v1/guest-invitations/lookup"),
        ("POST", "/api/v1/auth/guest"),
    }
)
# How long background work started by an accepted request may take to finish writing.
SETTLE_SECONDS = 5.0

Snapshot = dict[str, list[tuple[Any, ...]]]


def snapshot(database: Path, *, skip: frozenset[str] = frozenset()) -> Snapshot:
    """Every row of every table of the SQLite database (but ``skip``), sorted, without
    :data:`VOLATILE_COLUMNS`."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10) as db:
        tables = [
            name
            for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if name not in skip and not name.startswith("sqlite_")
        ]
        taken: Snapshot = {}
        for table in sorted(tables):
            columns = [row[1] for row in db.execute(f'PRAGMA table_info("{table}")')]
            kept = [f'"{c}"' for c in columns if c not in VOLATILE_COLUMNS]
            rows = db.execute(f'SELECT {", ".join(kept)} FROM "{table}"').fetchall()
            taken[table] = sorted(rows, key=repr)
    return taken


def changes(before: Snapshot, after: Snapshot) -> dict[str, dict[str, list[tuple[Any, ...]]]]:
    """What differs, by table: rows that are gone and rows that are new."""
    found: dict[str, dict[str, list[tuple[Any, ...]]]] = {}
    for table in sorted(set(before) | set(after)):
        old, new = before.get(table, []), after.get(table, [])
        gone = [row for row in old if row not in new]
        added = [row for row in new if row not in old]
        if gone or added:
            found[table] = {"gone": gone, "new": added}
    return found


def settled(database: Path, *, skip: frozenset[str] = frozenset()) -> Snapshot:
    """A snapshot once two in a row agree (background work of an accepted request, such
    as a launch that fails, has finished), within :data:`SETTLE_SECONDS`."""
    taken: list[Snapshot] = []

    def agrees() -> bool:
        """Whether this snapshot is the one before, taken a pause earlier."""
        taken.append(snapshot(database, skip=skip))
        return len(taken) > 1 and taken[-1] == taken[-2]

    within(SETTLE_SECONDS, agrees)
    return taken[-1]


@dataclass(frozen=True)
class FuzzUser:
    """An ordinary user of the server: a browser login and an API token."""

    cookies: Mapping[str, str]
    csrf: str
    token: str

    def browser_headers(self) -> dict[str, str]:
        return {"X-CSRF-Token": self.csrf}

    def token_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def ordinary_user(
    server: RunningServer, admin: tuple[str, str], username: str, password: str
) -> FuzzUser:
    """``username``, made by the administrator ``admin`` (name, password), logged in,
    with a token of the read and write scopes."""
    with server.client() as http:
        login = http.post("/api/v1/auth/login", json={"username": admin[0], "password": admin[1]})
        assert login.status_code == 200, login.text
        made = http.post(
            "/api/v1/users",
            json={"username": username, "password": password},
            headers={"X-CSRF-Token": login.json()["csrf_token"]},
        )
        assert made.status_code == 201, made.text
    with server.client() as http:
        login = http.post("/api/v1/auth/login", json={"username": username, "password": password})
        assert login.status_code == 200, login.text
        csrf = login.json()["csrf_token"]
        token = http.post(
            "/api/v1/tokens",
            json={"name": "fuzzing", "scopes": ["read", "write"]},
            headers={"X-CSRF-Token": csrf},
        )
        assert token.status_code == 201, token.text
        cookies = dict(http.cookies.items())
    return FuzzUser(cookies=cookies, csrf=csrf, token=token.json()["secret"])


def is_refusal(response: httpx.Response | Any) -> bool:
    """A 4xx answer: the request was refused, so it must have changed nothing."""
    return 400 <= int(response.status_code) < 500
