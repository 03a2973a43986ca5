"""The API fuzzed from its own OpenAPI document (schemathesis) against a real ``labgate
serve``, as an ordinary user, by browser login (cookie and CSRF header) and by API token
in turn: no answer is a server error, every answer matches what the document says, and
no refused request (4xx) changes anything in the database.

``make test`` runs a few examples per operation (``LABGATE_FUZZ_EXAMPLES``, 4 by
default); ``make fuzz`` runs many more. The seed is fixed: every run tries the same.
"""

from __future__ import annotations

import itertools
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from tests.support.fuzz import (
    AUDITED_REFUSALS,
    FuzzUser,
    Snapshot,
    changes,
    is_refusal,
    ordinary_user,
    settled,
    snapshot,
)
from tests.support.labgate_api import server_env
from tests.support.server import RunningServer, running_server

EXAMPLES = int(os.environ.get("LABGATE_FUZZ_EXAMPLES", "4"))
ADMIN_PASSWORD = "fuzzing admin password"
PASSWORD = "fuzzing user password"
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
# Would end the fuzzing user's own login; what a refused call does is still fuzzed
# through every other route.
LEAVE_OUT = {("POST", "/api/v1/auth/logout")}


class Fuzzed:
    def __init__(self, server: RunningServer, user: FuzzUser) -> None:
        self.server = server
        self.user = user
        self.database = server.data_dir / "labgate.sqlite3"
        self._turns = itertools.cycle(("browser", "token"))
        # The database before the next call; None after an accepted call, whose work
        # (a launch, a copy) may still be writing.
        self.last: Snapshot | None = None
        self.calls = 0
        self.refusals = 0  # compared against the database
        self.failures: dict[str, list[str]] = {}  # by operation

    def credentials(self) -> tuple[dict[str, str], dict[str, str]]:
        """Headers and cookies of the next call: browser login and token in turn."""
        if next(self._turns) == "browser":
            return self.user.browser_headers(), dict(self.user.cookies)
        return self.user.token_headers(), {}


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    workdir = tmp_path_factory.mktemp("fuzz")
    env = server_env(ADMIN_PASSWORD, str(workdir / "daemons"))
    with running_server(workdir, env=env) as server:
        user = ordinary_user(server, ("admin", ADMIN_PASSWORD), "fuzzer", PASSWORD)
        yield Fuzzed(server, user)


def test_api(fuzzed: Fuzzed) -> None:
    """Every operation of the document, each its own hypothesis run; what failed is
    reported for all of them together, the first failure of each operation in full."""
    schema = schemathesis.openapi.from_url(f"{fuzzed.server.url}/api/v1/openapi.json")
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in LEAVE_OUT:
            continue
        strategy = operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(
            GenerationMode.NEGATIVE
        )
        _fuzz(strategy, fuzzed)
    failures = [
        f"{operation} ({len(found)} failed calls), first:\n{found[0]}"
        for operation, found in fuzzed.failures.items()
    ]
    assert not failures, "\n\n".join(failures)
    # The run did something: calls were made, and refusals compared with the database.
    assert fuzzed.refusals > 0, f"no refused call among {fuzzed.calls}"


def _fuzz(strategy: Any, fuzzed: Fuzzed) -> None:
    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    def one(case: Any) -> None:
        # Failures are collected, not raised: hypothesis goes on with the next example
        # (a replay of a call that changed the database would not be the same call).
        try:
            _call(case, fuzzed)
        except Exception as exc:
            text = str(exc)
            fuzzed.failures.setdefault(f"{case.method} {case.path}", []).append(
                text if len(text) <= 2000 else text[:2000] + " [...]"
            )

    one()


def _call(case: Any, fuzzed: Fuzzed) -> None:
    """One request: if refused, checked against the database; checked by schemathesis."""
    headers, cookies = fuzzed.credentials()
    before = fuzzed.last or settled(fuzzed.database)
    fuzzed.last = None
    response = case.call(base_url=fuzzed.server.url, headers=headers, cookies=cookies)
    fuzzed.calls += 1
    if is_refusal(response):
        _check_nothing_changed(case, response, before, fuzzed)
    case.validate_response(response, checks=CHECKS)


def _check_nothing_changed(case: Any, response: Any, before: Snapshot, fuzzed: Fuzzed) -> None:
    operation = (case.method.upper(), case.path)
    fuzzed.refusals += 1
    after = snapshot(fuzzed.database)
    fuzzed.last = after
    if operation in AUDITED_REFUSALS:  # the failed login's audit event is the point
        before, after = (
            {t: r for t, r in s.items() if t != "audit_events"} for s in (before, after)
        )
    changed = changes(before, after)
    assert not changed, (
        f"{case.method} {case.formatted_path} was refused ({response.status_code}) "
        f"but changed the database: {changed}"
    )


def test_a_change_is_seen(tmp_path: Path) -> None:
    """The comparison the fuzzing relies on sees a changed row, a new one, a gone one."""
    path = tmp_path / "db.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE t (id INTEGER, name TEXT, last_used_at TEXT)")
        db.execute("INSERT INTO t VALUES (1, 'a', 'then'), (2, 'b', 'then')")
    before = snapshot(path)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE t SET last_used_at = 'now'")
    assert changes(before, snapshot(path)) == {}, "last used times are not changes"
    with sqlite3.connect(path) as db:
        db.execute("UPDATE t SET name = 'c' WHERE id = 1")
        db.execute("DELETE FROM t WHERE id = 2")
        db.execute("INSERT INTO t VALUES (3, 'd', 'now')")
    assert changes(before, snapshot(path)) == {
        "t": {"gone": [(1, "a"), (2, "b")], "new": [(1, "c"), (3, "d")]}
    }
