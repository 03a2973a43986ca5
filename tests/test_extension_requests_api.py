"""Requests for more time as administrators decide them, through the in-process API on
SQLite and PostgreSQL: the list says whose request it is and for which session, a grant
may give another amount than asked, a refusal carries an answer the owner sees, decided
requests stay listed, and administrators' tabs hear of each request asked or decided.
(Concurrent decisions: ``test_sessions_races.py``; the rules: ``test_sessions_service.py``.)
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from labgate.db.engine import Database
from labgate.db.models import Role
from labgate.sessions.lifecycle import ADMINS
from labgate.settings import Settings
from tests.support.accounts import AccountFactory, LoggedIn
from tests.support.proxied import state_of
from tests.test_sessions_races import ends_at, session_ending


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "local_resource": "everyone",
            "app_extension_hours": 4,
            "app_auto_extensions": 1,
            "app_max_pending_extensions": 5,
            "app_reconcile_seconds": 3600,
        }
    )


async def ask(owner: LoggedIn, session_id: str, hours: int, reason: str = "") -> dict[str, Any]:
    answer = await owner.post(
        f"/api/v1/sessions/{session_id}/extend", json={"hours": hours, "reason": reason}
    )
    assert answer.status_code == 200, answer.text
    extension: dict[str, Any] = answer.json()["extension"]
    return extension


async def listed(admin: LoggedIn, status: str) -> list[dict[str, Any]]:
    answer = await admin.get("/api/v1/session-extensions", params={"status": status})
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["extensions"]
    return found


async def test_a_request_is_listed_with_its_session_and_granted_with_other_hours(
    app: Any, accounts: AccountFactory, database: Database
) -> None:
    root = await accounts.login("root", role=Role.ADMIN)
    alice = await accounts.login("alice")
    session_id = await session_ending(app, database, "alice")
    before = await ends_at(database, session_id)
    heard: list[int] = []

    with state_of(app).lifecycle.requests.subscribe(ADMINS) as news:
        asked = await ask(alice, session_id, 48, "the fit needs the weekend")
        heard.append(await asyncio.wait_for(news.get(), 5))
        [request] = await listed(root, "pending")

        assert request["id"] == asked["id"] == heard[0]
        assert request["username"] == "alice"
        assert request["display_name"] == "Alice"
        assert (request["hours"], request["reason"]) == (48, "the fit needs the weekend")
        assert request["granted_hours"] is None
        assert request["decided_by"] is None
        session = request["session"]
        assert session["title"] == "A small app"
        assert (session["template"], session["template_title"]) == ("webapp", "Web app")
        assert session["resource_name"] == "local"
        assert session["state"] == "running"
        own = (await alice.get(f"/api/v1/sessions/{session_id}")).json()
        assert (session["ends_at"], session["idle_stop_at"]) == (
            own["ends_at"],
            own["idle_stop_at"],
        )
        assert session["ends_at"] is not None

        granted = await root.post(
            f"/api/v1/session-extensions/{request['id']}", json={"grant": True, "hours": 10}
        )
        assert granted.status_code == 200, granted.text
        assert await asyncio.wait_for(news.get(), 5) == request["id"]

    assert granted.json()["state"] == "granted"
    assert (granted.json()["hours"], granted.json()["granted_hours"]) == (48, 10)
    assert await ends_at(database, session_id) - before == timedelta(hours=10)
    assert await listed(root, "pending") == []
    [decided] = await listed(root, "decided")
    assert (decided["id"], decided["decided_by"]) == (request["id"], "root")
    assert decided["granted_hours"] == 10


async def test_a_refusal_carries_an_answer_the_owner_sees(
    app: Any, accounts: AccountFactory, database: Database
) -> None:
    root = await accounts.login("root", role=Role.ADMIN)
    alice = await accounts.login("alice")
    session_id = await session_ending(app, database, "alice")
    before = await ends_at(database, session_id)
    asked = await ask(alice, session_id, 30)
    url = f"/api/v1/session-extensions/{asked['id']}"

    both = await root.post(url, json={"grant": False, "hours": 3})
    assert both.status_code == 422
    assert both.json()["error"]["details"][0]["field"] == "body.hours"
    for bad in (
        {"grant": True, "hours": 0},
        {"grant": True, "hours": 721},
        {"grant": True, "hours": "many"},
        {"grant": True, "answer": "x" * 2001},
    ):
        refused_input = await root.post(url, json=bad)
        assert refused_input.status_code == 422, (bad, refused_input.text)
    refused = await root.post(url, json={"grant": False, "answer": "  Save and relaunch.  "})
    assert refused.status_code == 200, refused.text

    assert refused.json()["state"] == "refused"
    assert refused.json()["granted_hours"] is None
    mine = (await alice.get(f"/api/v1/sessions/{session_id}")).json()["extension"]
    assert (mine["state"], mine["answer"]) == ("refused", "Save and relaunch.")
    assert await ends_at(database, session_id) == before
    assert [r["id"] for r in await listed(root, "refused")] == [asked["id"]]


async def test_automatic_grants_are_not_listed_as_decided_nor_told_to_administrators(
    app: Any, accounts: AccountFactory, database: Database
) -> None:
    root = await accounts.login("root", role=Role.ADMIN)
    alice = await accounts.login("alice")
    session_id = await session_ending(app, database, "alice")

    with state_of(app).lifecycle.requests.subscribe(ADMINS) as news:
        automatic = await ask(alice, session_id, 2)
        waiting = await ask(alice, session_id, 2)  # the one automatic grant is used up
        assert await asyncio.wait_for(news.get(), 5) == waiting["id"]
        assert news.empty()

    assert (automatic["state"], automatic["granted_hours"]) == ("granted", 2)
    assert waiting["state"] == "pending"
    assert await listed(root, "decided") == []
    assert [r["id"] for r in await listed(root, "granted")] == [automatic["id"]]
    assert (await alice.get("/api/v1/session-extensions")).status_code == 403
