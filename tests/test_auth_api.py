"""Logging in and out, sessions, CSRF and login rate limiting."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select, update

from labgate.app import create_app
from labgate.auth import passwords
from labgate.db.engine import Database
from labgate.db.models import ApiToken, AuditEvent, LoginSession, Role
from labgate.db.types import utcnow
from labgate.settings import Settings
from tests.support.accounts import PASSWORD, AccountFactory

LOGIN = "/api/v1/auth/login"


async def audit_count(database: Database, event: str) -> int:
    async with database.session() as db:
        return int(
            await db.scalar(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.event == event)
            )
            or 0
        )


async def test_login_sets_a_hardened_cookie_and_returns_the_user(accounts: AccountFactory) -> None:
    await accounts.user("alice")
    http = accounts.anonymous()
    response = await http.post(LOGIN, json={"username": "Alice ", "password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert body["user"]["username"] == "alice"
    assert body["user"]["role"] == "user"
    assert len(body["csrf_token"]) >= 24
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("labgate_session=")
    assert "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()
    assert "Secure" not in cookie  # plain http on loopback
    session = await http.get("/api/v1/auth/session")
    assert session.status_code == 200
    assert session.json()["csrf_token"] == body["csrf_token"]


async def test_wrong_password_and_unknown_user_look_the_same(
    accounts: AccountFactory, database: Database
) -> None:
    await accounts.user("alice")
    http = accounts.anonymous()
    wrong = await http.post(LOGIN, json={"username": "alice", "password": "not the password"})
    unknown = await http.post(LOGIN, json={"username": "nobody", "password": "whatever123"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["error"]["code"] == "invalid_credentials"
    assert "set-cookie" not in wrong.headers
    assert await audit_count(database, "login_failed") == 2


async def test_disabled_account_is_refused_after_a_correct_password(
    accounts: AccountFactory, database: Database
) -> None:
    admin = await accounts.login("root", role=Role.ADMIN)
    await accounts.user("bob")
    assert (await admin.patch("/api/v1/users/bob", json={"disabled": True})).status_code == 200
    http = accounts.anonymous()
    refused = await http.post(LOGIN, json={"username": "bob", "password": PASSWORD})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "account_disabled"
    wrong = await http.post(LOGIN, json={"username": "bob", "password": "wrong password"})
    assert wrong.status_code == 401  # disabled state is not revealed without the password
    async with database.session() as db:
        assert await db.scalar(select(func.count()).select_from(LoginSession)) == 1  # root's


async def test_logout_ends_the_session_on_the_server(accounts: AccountFactory) -> None:
    alice = await accounts.login("alice")
    cookie = alice.http.cookies.get("labgate_session")
    assert (await alice.post("/api/v1/auth/logout")).status_code == 204
    # Replay the old cookie on purpose, as a stolen cookie would be.
    replay = accounts.anonymous()
    replay.cookies.set("labgate_session", cookie)
    response = await replay.get("/api/v1/users/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


async def test_expired_and_idle_sessions_end(accounts: AccountFactory, database: Database) -> None:
    alice = await accounts.login("alice")
    async with database.session() as db:
        await db.execute(
            update(LoginSession).values(
                last_seen_at=utcnow()
                - timedelta(minutes=accounts.settings.session_idle_timeout_minutes + 1)
            )
        )
    assert (await alice.get("/api/v1/users/me")).status_code == 401
    bob = await accounts.login("bob")
    async with database.session() as db:
        await db.execute(update(LoginSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert (await bob.get("/api/v1/users/me")).status_code == 401


async def test_unsafe_methods_need_the_csrf_token(accounts: AccountFactory) -> None:
    alice = await accounts.login("alice")
    patch = {"preferences": {"theme": "dark"}}
    missing = await alice.http.patch("/api/v1/preferences", json=patch)
    assert missing.status_code == 403
    assert missing.json()["error"]["code"] == "csrf_failed"
    wrong = await alice.http.patch(
        "/api/v1/preferences", json=patch, headers={"X-CSRF-Token": "forged"}
    )
    assert wrong.status_code == 403
    assert (await alice.get("/api/v1/preferences")).json()["preferences"]["theme"] == "system"
    right = await alice.patch("/api/v1/preferences", json=patch)
    assert right.status_code == 200
    assert right.json()["preferences"]["theme"] == "dark"
    # Logging out is unsafe too: a forged cross-site request must not end the session.
    assert (await alice.http.post("/api/v1/auth/logout")).status_code == 403
    assert (await alice.get("/api/v1/users/me")).status_code == 200


async def test_failed_logins_are_rate_limited_per_account(
    accounts: AccountFactory, database: Database
) -> None:
    await accounts.user("alice")
    limit = accounts.settings.login_max_failures_per_account
    http = accounts.anonymous()
    for _ in range(limit):
        response = await http.post(LOGIN, json={"username": "alice", "password": "guess-guess"})
        assert response.status_code == 401
    # Even the right password is refused now, from any address.
    other = accounts.anonymous("10.9.8.7")
    blocked = await other.post(LOGIN, json={"username": "alice", "password": PASSWORD})
    assert blocked.status_code == 429
    assert blocked.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(blocked.headers["retry-after"]) <= accounts.settings.login_rate_window_seconds
    # Once the failures are older than the window, logging in works again.
    async with database.session() as db:
        await db.execute(
            update(AuditEvent).values(
                at=utcnow() - timedelta(seconds=accounts.settings.login_rate_window_seconds + 1)
            )
        )
    assert (
        await other.post(LOGIN, json={"username": "alice", "password": PASSWORD})
    ).status_code == 200


async def test_failed_logins_are_rate_limited_per_client_address(
    accounts: AccountFactory,
) -> None:
    await accounts.user("victim")
    attacker = accounts.anonymous("10.1.1.1")
    for i in range(accounts.settings.login_max_failures_per_client):
        await attacker.post(LOGIN, json={"username": f"user{i}", "password": "guess-guess"})
    blocked = await attacker.post(LOGIN, json={"username": "victim", "password": PASSWORD})
    assert blocked.status_code == 429
    # Somebody else, elsewhere, is not affected.
    elsewhere = accounts.anonymous("10.2.2.2")
    assert (
        await elsewhere.post(LOGIN, json={"username": "victim", "password": PASSWORD})
    ).status_code == 200


async def test_login_input_is_validated(accounts: AccountFactory) -> None:
    http = accounts.anonymous()
    missing = await http.post(LOGIN, json={"username": "alice"})
    assert missing.status_code == 422
    assert missing.json()["error"]["details"] == [
        {"field": "body.password", "message": "This field is required."}
    ]
    extra = await http.post(LOGIN, json={"username": "a", "password": "b", "remember": True})
    assert extra.status_code == 422
    assert extra.json()["error"]["details"][0]["field"] == "body.remember"
    wrong_type = await http.post(LOGIN, json={"username": ["alice"], "password": "x"})
    assert wrong_type.status_code == 422
    malformed = await http.post(
        LOGIN, content=b'{"username": "alice",', headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 400
    assert malformed.json()["error"]["code"] == "invalid_json"


async def test_session_endpoint_without_login(accounts: AccountFactory) -> None:
    response = await accounts.anonymous().get("/api/v1/auth/session")
    assert response.status_code == 401
    assert response.json() == {"error": {"code": "not_authenticated", "message": "Please log in."}}


async def test_concurrent_requests_never_wait_on_their_own_connections(
    settings: Settings, database: Database
) -> None:
    """Requests that update "last used" must not ask for a second pool connection while
    holding one: with a tiny pool and many requests at once that would deadlock."""
    tiny = Database(database.url, pool_size=1, pool_timeout=5)
    app = create_app(settings, database=tiny, bootstrap=False)
    async with app.router.lifespan_context(app):
        factory = AccountFactory(app, tiny, settings)
        alice = await factory.login("alice")
        token = await alice.post("/api/v1/tokens", json={"name": "load"})
        secret = token.json()["secret"]
        headers = {"Authorization": f"Bearer {secret}"}
        for _ in range(2):
            async with tiny.session() as db:  # make both due for their update
                await db.execute(update(ApiToken).values(last_used_at=None))
                await db.execute(
                    update(LoginSession).values(last_seen_at=utcnow() - timedelta(minutes=5))
                )
            answers = await asyncio.gather(
                *(alice.http.get("/api/v1/users/me", headers=headers) for _ in range(8)),
                *(alice.get("/api/v1/preferences") for _ in range(8)),
                *(
                    alice.patch("/api/v1/preferences", json={"preferences": {"theme": "dark"}})
                    for _ in range(4)
                ),
            )
            assert [a.status_code for a in answers] == [200] * len(answers)
        await factory.close()
    await tiny.dispose()


async def test_over_https_the_login_cookie_is_a_host_cookie(
    accounts: AccountFactory, app: Any
) -> None:
    """``__Host-labgate_session``: no sibling host (an app's origin) can plant one. The
    plain name means nothing over HTTPS, nor the prefixed one over HTTP."""
    await accounts.user("alice")
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as https:
        login = await https.post(LOGIN, json={"username": "alice", "password": PASSWORD})
        assert login.status_code == 200
        cookie = login.headers["set-cookie"]
        assert cookie.startswith("__Host-labgate_session=")
        assert "Secure" in cookie
        assert "Path=/" in cookie
        assert "domain" not in cookie.lower()
        value = https.cookies["__Host-labgate_session"]
        assert (await https.get("/api/v1/auth/session")).status_code == 200
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as other:
            planted = {"Cookie": f"labgate_session={value}"}
            assert (await other.get("/api/v1/auth/session", headers=planted)).status_code == 401
        csrf = login.json()["csrf_token"]
        out = await https.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})
        assert out.status_code == 204
        ended = out.headers["set-cookie"]
        assert ended.startswith('__Host-labgate_session="";')
        assert "Secure" in ended
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        login = await http.post(LOGIN, json={"username": "alice", "password": PASSWORD})
        value = http.cookies["labgate_session"]
        http.cookies.clear()
        prefixed = {"Cookie": f"__Host-labgate_session={value}"}
        assert (await http.get("/api/v1/auth/session", headers=prefixed)).status_code == 401


async def test_a_trusted_proxy_saying_https_gives_the_host_cookie(
    settings: Settings, database: Database
) -> None:
    await AccountFactory(None, database, settings).user("alice")
    proxied = settings.model_copy(update={"trusted_proxies": ["10.9.8.7"]})
    app = create_app(proxied, database=database, bootstrap=False)
    https = {"X-Forwarded-Proto": "https"}
    async with app.router.lifespan_context(app):
        for peer, name in (("10.9.8.7", "__Host-labgate_session"), ("10.9.8.6", "labgate_session")):
            transport = httpx.ASGITransport(app=app, client=(peer, 40000))
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
                login = await http.post(
                    LOGIN, json={"username": "alice", "password": PASSWORD}, headers=https
                )
                assert login.status_code == 200, login.text
                assert login.headers["set-cookie"].startswith(f"{name}="), peer
                value = login.headers["set-cookie"].split(";")[0].split("=", 1)[1]
                mine = {"Cookie": f"{name}={value}", **https}
                assert (await http.get("/api/v1/auth/session", headers=mine)).status_code == 200


# -- hashing never holds the database ----------------------------------------------------


def real_cost(settings: Settings) -> Settings:
    """The production cost of a password hash (the suite's own is cheap)."""
    fields = Settings.model_fields
    return settings.model_copy(
        update={
            "password_hash_time_cost": fields["password_hash_time_cost"].default,
            "password_hash_memory_kib": fields["password_hash_memory_kib"].default,
        }
    )


def sqlite_write_lock_free(database: Database) -> bool:
    """Whether another connection could start writing at once (SQLite only)."""
    path = database.url.split(":///", 1)[1]
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        other.close()


@dataclass
class HashWatch:
    """Calls of the password check and of hashing (run in worker threads), with what
    held the database at that moment."""

    database: Database
    passwords: list[str] = field(default_factory=list)
    checked_out: list[int] = field(default_factory=list)
    write_lock_free: list[bool] = field(default_factory=list)
    # The same, for new hashes (a new or changed password).
    hashing_checked_out: list[int] = field(default_factory=list)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        verify = passwords._verify
        hasher = passwords._hasher
        watch = self

        def watched(password_hash: str | None, password: str) -> bool:
            self.passwords.append(password)
            self.checked_out.append(self.database.engine.pool.checkedout())  # type: ignore[attr-defined]
            if self.database.is_sqlite:
                self.write_lock_free.append(sqlite_write_lock_free(self.database))
            return verify(password_hash, password)

        class WatchedHasher(PasswordHasher):
            def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
                pool = watch.database.engine.pool
                watch.hashing_checked_out.append(pool.checkedout())  # type: ignore[attr-defined]
                if watch.database.is_sqlite:
                    watch.write_lock_free.append(sqlite_write_lock_free(watch.database))
                return hasher.hash(password, salt=salt)

        monkeypatch.setattr(passwords, "_verify", watched)
        monkeypatch.setattr(
            passwords,
            "_hasher",
            WatchedHasher(time_cost=hasher.time_cost, memory_cost=hasher.memory_cost),
        )


async def test_no_connection_is_held_while_a_password_is_checked(
    settings: Settings, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without its lifespan: no background work (housekeeping, reconciling) that could
    # hold a connection of its own at the moment measured.
    app = create_app(real_cost(settings), database=database, bootstrap=False)
    factory = AccountFactory(app, database, settings)
    await factory.user("alice")
    watch = HashWatch(database)
    watch.install(monkeypatch)
    http = factory.anonymous()
    attempts = [("alice", "not the password"), ("nobody", "whatever123"), ("alice", PASSWORD)]
    answers = [
        (await http.post(LOGIN, json={"username": u, "password": p})).status_code
        for u, p in attempts
    ]
    assert answers == [401, 401, 200]
    assert len(watch.checked_out) == 3
    # Not one pooled connection out, the SQLite write lock free, while hashing.
    assert watch.checked_out == [0, 0, 0]
    assert all(watch.write_lock_free)
    await factory.close()


async def test_a_burst_of_failed_logins_does_not_stall_others(
    settings: Settings, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many wrong passwords at once, from many addresses, at the production hash cost,
    while another user saves preferences: every login is answered 401 or 429 (never
    "database is locked"), the save succeeds, and no more than the per-account limit of
    guesses at one account are checked against its password, even concurrently."""
    app = create_app(real_cost(settings), database=database, bootstrap=False)
    limit = settings.login_max_failures_per_account
    async with app.router.lifespan_context(app):
        factory = AccountFactory(app, database, settings)
        await factory.user("alice")
        saver = await factory.login("saver")
        watch = HashWatch(database)
        watch.install(monkeypatch)

        async def guess(username: str, number: int) -> httpx.Response:
            http = factory.anonymous(f"10.77.{number // 250}.{number % 250 + 1}")
            return await http.post(
                LOGIN, json={"username": username, "password": f"guess-{username}-{number}"}
            )

        async def save(number: int) -> httpx.Response:
            return await saver.patch(
                "/api/v1/preferences", json={"preferences": {"editor.font_size": 10 + number}}
            )

        at_alice = [guess("alice", n) for n in range(3 * limit)]
        elsewhere = [guess(f"nobody{n}", 100 + n) for n in range(8)]
        saves = [save(n) for n in range(4)]
        answers = await asyncio.gather(*at_alice, *elsewhere, *saves)
        alice_answers = answers[: len(at_alice)]
        other_answers = answers[len(at_alice) : len(at_alice) + len(elsewhere)]
        save_answers = answers[len(at_alice) + len(elsewhere) :]

        assert [a.status_code for a in save_answers] == [200] * len(saves)
        assert sorted(a.status_code for a in alice_answers) == [401] * limit + [429] * (
            len(at_alice) - limit
        )
        assert [a.status_code for a in other_answers] == [401] * len(elsewhere)
        for answer in alice_answers + other_answers:
            code = "invalid_credentials" if answer.status_code == 401 else "rate_limited"
            assert answer.json()["error"]["code"] == code
        checked_at_alice = [p for p in watch.passwords if p.startswith("guess-alice-")]
        assert len(checked_at_alice) == limit
        assert await audit_count(database, "login_failed") == limit + len(elsewhere)
        assert await audit_count(database, "login_attempt") == 0
        await factory.close()
