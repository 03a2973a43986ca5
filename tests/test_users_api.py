"""Accounts through the API: one's own, and administrators managing everybody's."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from labgate.app import create_app
from labgate.db.engine import Database
from labgate.db.models import AuditEvent, Role, User
from labgate.db.types import utcnow
from labgate.settings import Settings
from tests.support.accounts import PASSWORD, AccountFactory
from tests.test_auth_api import HashWatch, real_cost

NEW_USER = {
    "username": "carol",
    "password": "a long password",
    "role": "guest",
    "display_name": "Carol C",
    "email": "carol@example.org",
}


async def user_count(database: Database) -> int:
    async with database.session() as db:
        return int(await db.scalar(select(func.count()).select_from(User)) or 0)


async def test_admin_creates_changes_and_deletes_a_user(
    accounts: AccountFactory, database: Database
) -> None:
    root = await accounts.login("root", role=Role.ADMIN)
    created = await root.post("/api/v1/users", json=NEW_USER)
    assert created.status_code == 201
    assert created.json()["role"] == "guest"
    assert created.json()["email"] == "carol@example.org"
    assert NEW_USER["password"] not in created.text
    assert "hash" not in created.text
    changed = await root.patch("/api/v1/users/carol", json={"role": "user", "display_name": "C"})
    assert changed.json()["role"] == "user"
    assert changed.json()["display_name"] == "C"
    listed = [u["username"] for u in (await root.get("/api/v1/users")).json()["users"]]
    assert listed == ["carol", "root"]
    carol = accounts.anonymous()
    login = await carol.post(
        "/api/v1/auth/login", json={"username": "carol", "password": "a long password"}
    )
    assert login.status_code == 200
    assert (await root.delete("/api/v1/users/carol")).status_code == 204
    assert (await root.get("/api/v1/users/carol")).status_code == 404
    # Deleting the account ended its session too.
    assert (await carol.get("/api/v1/users/me")).status_code == 401
    async with database.session() as db:
        events = (await db.scalars(select(AuditEvent.event).order_by(AuditEvent.id))).all()
    assert {"user_created", "user_updated", "user_deleted"} <= set(events)


async def test_non_admins_cannot_manage_users(accounts: AccountFactory, database: Database) -> None:
    alice = await accounts.login("alice")
    before = await user_count(database)
    for method, url, body in [
        ("GET", "/api/v1/users", None),
        ("POST", "/api/v1/users", NEW_USER),
        ("GET", "/api/v1/users/alice", None),
        ("PATCH", "/api/v1/users/alice", {"role": "admin"}),
        ("DELETE", "/api/v1/users/alice", None),
        ("GET", "/api/v1/audit", None),
        ("GET", "/api/v1/groups", None),
    ]:
        response = await alice.request(method, url, json=body)
        assert response.status_code == 403, (method, url)
        assert response.json()["error"]["code"] == "forbidden"
    assert await user_count(database) == before
    assert (await alice.get("/api/v1/users/me")).json()["role"] == "user"


async def test_anonymous_requests_are_refused_everywhere(accounts: AccountFactory) -> None:
    http = accounts.anonymous()
    for method, url in [
        ("GET", "/api/v1/users/me"),
        ("GET", "/api/v1/users"),
        ("GET", "/api/v1/preferences"),
        ("PATCH", "/api/v1/preferences"),
        ("GET", "/api/v1/tokens"),
        ("POST", "/api/v1/tokens"),
        ("GET", "/api/v1/groups"),
        ("GET", "/api/v1/audit"),
        ("POST", "/api/v1/auth/logout"),
    ]:
        response = await http.request(method, url, json={})
        assert response.status_code == 401, (method, url)


async def test_user_input_is_validated_and_nothing_is_created(
    accounts: AccountFactory, database: Database
) -> None:
    root = await accounts.login("root", role=Role.ADMIN)
    before = await user_count(database)
    cases = [
        ({**NEW_USER, "username": "Bad Name"}, "body.username"),
        ({**NEW_USER, "username": "-rf"}, "body.username"),
        ({**NEW_USER, "username": "x" * 40}, "body.username"),
        ({**NEW_USER, "password": "short"}, "body.password"),
        ({**NEW_USER, "role": "superuser"}, "body.role"),
        ({**NEW_USER, "email": "not-an-address"}, "body.email"),
        ({**NEW_USER, "is_admin": True}, "body.is_admin"),
        ({"username": "carol"}, "body.password"),
        ({**NEW_USER, "display_name": 42}, "body.display_name"),
    ]
    for body, field in cases:
        response = await root.post("/api/v1/users", json=body)
        assert response.status_code == 422, body
        error = response.json()["error"]
        assert error["code"] == "validation_error"
        assert error["details"][0]["field"] == field, body
        assert error["details"][0]["message"]
    assert await user_count(database) == before


async def test_duplicate_user_is_a_conflict(accounts: AccountFactory) -> None:
    root = await accounts.login("root", role=Role.ADMIN)
    assert (await root.post("/api/v1/users", json=NEW_USER)).status_code == 201
    again = await root.post("/api/v1/users", json=NEW_USER)
    assert again.status_code == 409
    assert "already exists" in again.json()["error"]["message"]


async def test_the_last_admin_cannot_be_removed(accounts: AccountFactory) -> None:
    root = await accounts.login("root", role=Role.ADMIN)
    for method, body in [
        ("PATCH", {"role": "user"}),
        ("PATCH", {"disabled": True}),
        ("DELETE", None),
    ]:
        response = await root.request(method, "/api/v1/users/root", json=body)
        assert response.status_code == 409, method
        assert "last active administrator" in response.json()["error"]["message"]
    assert (await root.get("/api/v1/users/me")).json()["role"] == "admin"
    await accounts.user("second", role=Role.ADMIN)
    assert (await root.patch("/api/v1/users/root", json={"role": "user"})).status_code == 200


async def test_disabling_a_user_ends_their_sessions(accounts: AccountFactory) -> None:
    root = await accounts.login("root", role=Role.ADMIN)
    alice = await accounts.login("alice")
    assert (await root.patch("/api/v1/users/alice", json={"disabled": True})).status_code == 200
    assert (await alice.get("/api/v1/users/me")).status_code == 401
    assert (await root.patch("/api/v1/users/alice", json={"disabled": False})).status_code == 200
    assert (await alice.get("/api/v1/users/me")).status_code == 401  # still logged out


async def test_users_edit_their_own_profile_but_not_their_role(accounts: AccountFactory) -> None:
    alice = await accounts.login("alice")
    response = await alice.patch(
        "/api/v1/users/me", json={"display_name": "Alice A.", "email": "a@example.org"}
    )
    assert response.status_code == 200
    assert response.json()["display_name"] == "Alice A."
    sneaky = await alice.patch("/api/v1/users/me", json={"role": "admin"})
    assert sneaky.status_code == 422
    assert (await alice.get("/api/v1/users/me")).json()["role"] == "user"


async def test_changing_the_password_ends_other_sessions(accounts: AccountFactory) -> None:
    laptop = await accounts.login("alice")
    phone = await accounts.login("alice", create=False)
    wrong = await laptop.post(
        "/api/v1/users/me/password",
        json={"current_password": "nope", "new_password": "another long one"},
    )
    assert wrong.status_code == 422
    assert wrong.json()["error"]["details"][0]["field"] == "body.current_password"
    weak = await laptop.post(
        "/api/v1/users/me/password", json={"current_password": PASSWORD, "new_password": "short"}
    )
    assert weak.status_code == 422
    assert weak.json()["error"]["details"][0]["field"] == "body.new_password"
    assert (await phone.get("/api/v1/users/me")).status_code == 200
    ok = await laptop.post(
        "/api/v1/users/me/password",
        json={"current_password": PASSWORD, "new_password": "another long one"},
    )
    assert ok.status_code == 204
    assert (await laptop.get("/api/v1/users/me")).status_code == 200
    assert (await phone.get("/api/v1/users/me")).status_code == 401
    await accounts.login("alice", create=False, password="another long one")


async def test_changing_the_password_holds_no_connection_while_hashing(
    settings: Settings, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No lifespan: no background work holding connections of its own meanwhile.
    app = create_app(real_cost(settings), database=database, bootstrap=False)
    factory = AccountFactory(app, database, settings)
    alice = await factory.login("alice")
    watch = HashWatch(database)
    watch.install(monkeypatch)
    for current, status in (("not the one", 422), (PASSWORD, 204)):
        answer = await alice.post(
            "/api/v1/users/me/password",
            json={"current_password": current, "new_password": "another long one"},
        )
        assert answer.status_code == status, answer.text
    assert watch.checked_out == [0, 0]
    assert watch.hashing_checked_out == [0]
    assert all(watch.write_lock_free)
    await factory.close()


async def test_administrators_set_passwords_holding_no_connection_while_hashing(
    settings: Settings, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No lifespan: no background work holding connections of its own meanwhile.
    app = create_app(real_cost(settings), database=database, bootstrap=False)
    factory = AccountFactory(app, database, settings)
    root = await factory.login("root", role=Role.ADMIN)
    watch = HashWatch(database)
    watch.install(monkeypatch)
    assert (await root.post("/api/v1/users", json=NEW_USER)).status_code == 201
    changed = await root.patch("/api/v1/users/carol", json={"password": "another long one"})
    assert changed.status_code == 200, changed.text
    assert watch.hashing_checked_out == [0, 0]
    assert all(watch.write_lock_free)
    await factory.login("carol", create=False, password="another long one")
    await factory.close()


async def test_admins_read_the_audit_log(accounts: AccountFactory) -> None:
    root = await accounts.login("root", role=Role.ADMIN)
    await accounts.anonymous().post(
        "/api/v1/auth/login", json={"username": "root", "password": "wrong one!"}
    )
    page = (await root.get("/api/v1/audit", params={"limit": 1})).json()
    assert page["events"][0]["event"] == "login_failed"
    assert page["events"][0]["target"] == "root"
    assert page["events"][0]["client"] == "127.0.0.1"
    assert page["next_before_id"] == page["events"][0]["id"]
    older = (await root.get("/api/v1/audit", params={"before_id": page["next_before_id"]})).json()
    assert [e["event"] for e in older["events"]][:1] == ["login"]
    logins = (await root.get("/api/v1/audit", params={"event": "login"})).json()["events"]
    assert {e["event"] for e in logins} == {"login"}
    bad = await root.get("/api/v1/audit", params={"limit": 0})
    assert bad.status_code == 422


async def test_a_one_time_password_must_be_replaced_before_anything_else(
    accounts: AccountFactory,
) -> None:
    root = await accounts.login("root", role=Role.ADMIN)
    created = await root.post("/api/v1/users", json={**NEW_USER, "must_change_password": True})
    assert created.json()["must_change_password"] is True
    carol = await accounts.login("carol", create=False, password=NEW_USER["password"])
    assert carol.user["must_change_password"] is True
    # Own account and preferences work (the workspace can load) ...
    assert (await carol.get("/api/v1/users/me")).status_code == 200
    assert (await carol.get("/api/v1/preferences")).status_code == 200
    # ... anything else waits for a password of their own.
    for method, url, body in [
        ("GET", "/api/v1/tokens", None),
        ("POST", "/api/v1/tokens", {"name": "x"}),
    ]:
        refused = await carol.request(method, url, json=body)
        assert refused.status_code == 403, url
        assert refused.json()["error"]["code"] == "password_change_required"
    changed = await carol.post(
        "/api/v1/users/me/password",
        json={"current_password": NEW_USER["password"], "new_password": "carol's own pw"},
    )
    assert changed.status_code == 204
    assert (await carol.get("/api/v1/users/me")).json()["must_change_password"] is False
    assert (await carol.get("/api/v1/tokens")).status_code == 200
    # An administrator can hand out a new one-time password.
    reset = await root.patch(
        "/api/v1/users/carol", json={"password": "temporary pw 2", "must_change_password": True}
    )
    assert reset.json()["must_change_password"] is True
    again = await accounts.login("carol", create=False, password="temporary pw 2")
    assert (await again.get("/api/v1/tokens")).status_code == 403


async def test_right_after_a_one_time_login_the_password_is_not_asked_again(
    accounts: AccountFactory,
) -> None:
    root = await accounts.login("root", role=Role.ADMIN)
    created = await root.post("/api/v1/users", json={**NEW_USER, "must_change_password": True})
    assert created.status_code == 201
    carol = await accounts.login("carol", create=False, password=NEW_USER["password"])
    # The session that logged in with the one-time password has just proven it.
    changed = await carol.post("/api/v1/users/me/password", json={"new_password": "carol's own pw"})
    assert changed.status_code == 204, changed.text
    assert (await carol.get("/api/v1/users/me")).json()["must_change_password"] is False
    # Once it is her own password, leaving the current one out is refused again.
    again = await carol.post("/api/v1/users/me/password", json={"new_password": "another new pw"})
    assert again.status_code == 422
    assert again.json()["error"]["details"][0]["field"] == "body.current_password"
    await accounts.login("carol", create=False, password="carol's own pw")


async def test_the_current_password_is_still_required_unless_this_login_proved_it(
    accounts: AccountFactory, database: Database
) -> None:
    root = await accounts.login("root", role=Role.ADMIN)
    assert (await root.post("/api/v1/users", json=NEW_USER)).status_code == 201
    carol = await accounts.login("carol", create=False, password=NEW_USER["password"])
    # An ordinary account: the current password is required.
    missing = await carol.post("/api/v1/users/me/password", json={"new_password": "carol's own pw"})
    assert missing.status_code == 422
    assert missing.json()["error"]["details"][0]["field"] == "body.current_password"
    # A token made before an administrator hands out a one-time password cannot use it.
    token = await carol.post("/api/v1/tokens", json={"name": "script"})
    assert token.status_code == 201, token.text
    bearer = {"Authorization": f"Bearer {token.json()['secret']}"}
    reset = await root.patch(
        "/api/v1/users/carol", json={"password": "temporary pw 2", "must_change_password": True}
    )
    assert reset.status_code == 200
    by_token = await accounts.anonymous().post(
        "/api/v1/users/me/password", json={"new_password": "carol's own pw"}, headers=bearer
    )
    assert by_token.status_code == 422, by_token.text
    assert by_token.json()["error"]["details"][0]["field"] == "body.current_password"
    # A session that began before the one-time password was set has not typed it (labgate
    # ends such sessions when it sets one; should one survive, it must type it).
    carol_again = await accounts.login("carol", create=False, password="temporary pw 2")
    async with database.session() as db:
        user = await db.scalar(select(User).where(User.username == "carol"))
        assert user is not None
        user.password_changed_at = utcnow()
    refused = await carol_again.post(
        "/api/v1/users/me/password", json={"new_password": "carol's own pw"}
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["details"][0]["field"] == "body.current_password"
    typed = await carol_again.post(
        "/api/v1/users/me/password",
        json={"current_password": "temporary pw 2", "new_password": "carol's own pw"},
    )
    assert typed.status_code == 204, typed.text
