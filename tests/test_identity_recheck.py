"""Asking the sign-in providers again (labgate.accounts.recheck): an identity that holds
keeps its sessions; a refused one's sessions end (its cookie is answered 401, its open
WebSocket closes with 4401), and the account is disabled only when it has no other way
in, until its provider vouches for it again; an unanswered check changes nothing; the
interval is kept; two replicas on one database ask once. On SQLite and PostgreSQL, the
provider being the tests' sign-in plug-in (tests/support/sign_in_plugin.py), whose
answers each test sets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from labgate.accounts import recheck
from labgate.app import create_app
from labgate.auth.live_sockets import LOGIN_ENDED
from labgate.auth.providers import ProviderUnavailable, Recheck
from labgate.db.engine import Database
from labgate.db.models import AuditEvent, Role, User, UserIdentity
from labgate.db.types import utcnow
from labgate.plugins.manager import Plugins
from labgate.settings import Settings
from labgate.state import AppState
from tests.support import sign_in_plugin
from tests.support.accounts import AccountFactory, LoggedIn
from tests.support.eventually import eventually
from tests.support.serving import close_of, serving
from tests.support.sign_in_plugin import PASSWORD, CodeProvider
from tests.test_live_sockets import Caller, open_socket

INTERVAL_MINUTES = 15


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "auth_providers": ["local", "codes"],
            "auth": {"codes": {"second_factor": False}},
            "identity_recheck_minutes": INTERVAL_MINUTES,
        }
    )


def make_app(settings: Settings, database: Database) -> Any:
    plugins = Plugins.load(settings, extra=[sign_in_plugin])
    return create_app(settings, database=database, bootstrap=False, plugins=plugins)


@pytest.fixture
async def app(settings: Settings, database: Database) -> AsyncIterator[Any]:
    application = make_app(settings, database)
    async with application.router.lifespan_context(application):
        yield application


def codes_of(state: AppState) -> CodeProvider:
    provider = next(p for p in state.providers if p.name == "codes")
    assert isinstance(provider, CodeProvider)
    return provider


@pytest.fixture
def codes(state: AppState) -> CodeProvider:
    return codes_of(state)


@pytest.fixture
async def admin(accounts: AccountFactory) -> LoggedIn:
    return await accounts.login("root", role=Role.ADMIN)


async def sign_in(accounts: AccountFactory, username: str) -> LoggedIn:
    http = accounts.anonymous()
    answer = await http.post(
        "/api/v1/auth/login", json={"username": username, "password": PASSWORD}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return LoggedIn(http=http, csrf=body["csrf_token"], user=body["user"])


async def due(database: Database) -> None:
    """Make identities look as if neither asked nor used for longer than the interval (a
    test does not wait a quarter of an hour)."""
    long_ago = utcnow() - timedelta(minutes=INTERVAL_MINUTES + 1)
    async with database.session() as db:
        await db.execute(update(UserIdentity).values(checked_at=long_ago, last_login_at=long_ago))


async def identity_of(database: Database, username: str) -> UserIdentity:
    async with database.read() as db:
        found = await db.scalar(
            select(UserIdentity)
            .join(User, User.id == UserIdentity.user_id)
            .where(User.username == username)
            .order_by(UserIdentity.id)
        )
    assert found is not None
    return found


async def user_named(database: Database, username: str) -> User:
    async with database.read() as db:
        found = await db.scalar(select(User).where(User.username == username))
    assert found is not None
    return found


async def session_status(who: LoggedIn) -> int:
    return (await who.get("/api/v1/auth/session")).status_code


async def test_an_identity_that_holds_keeps_its_session_and_its_new_secret(
    accounts: AccountFactory, state: AppState, codes: CodeProvider, database: Database
) -> None:
    alice = await sign_in(accounts, "alice")
    await due(database)
    codes.answers["uid-alice"] = Recheck(holds=True, secret=b"rotated refresh token")
    done = await state.identity_recheck.run_once()
    assert (done.asked, done.held) == (1, 1)
    # It was asked with the secret the sign-in gave, opened.
    assert codes.asked == [("uid-alice", b"refresh-alice")]
    assert await session_status(alice) == 200
    identity = await identity_of(database, "alice")
    assert identity.checked_at is not None
    assert identity.checked_at > utcnow() - timedelta(minutes=1)
    assert identity.refused_at is None
    # The rotated secret is kept (sealed), and given at the next check.
    await due(database)
    await state.identity_recheck.run_once()
    assert codes.asked[-1] == ("uid-alice", b"rotated refresh token")


async def test_a_refused_identity_ends_its_sessions_and_disables_an_account_with_no_other_way_in(
    app: Any,
    accounts: AccountFactory,
    state: AppState,
    codes: CodeProvider,
    database: Database,
    admin: LoggedIn,
) -> None:
    alice = await sign_in(accounts, "alice")
    made = await alice.post("/api/v1/tokens", json={"name": "script", "scopes": ["read"]})
    token = {"Authorization": f"Bearer {made.json()['secret']}"}
    assert (await accounts.anonymous().get("/api/v1/users/me", headers=token)).status_code == 200
    await due(database)
    codes.answers["uid-alice"] = Recheck(holds=False)
    async with serving(app) as url:
        socket = await open_socket(url, "/api/v1/events", Caller.cookie_of(alice))
        done = await state.identity_recheck.run_once()
        assert (done.asked, done.refused) == (1, 1)
        # Its open socket closes at once (this replica; the others within a second).
        code, reason = await close_of(socket, 5.0)
    assert (code, reason) == (LOGIN_ENDED, "login_ended")
    assert await session_status(alice) == 401
    # No other way in (no password, no other identity): disabled, its tokens too.
    assert (await accounts.anonymous().get("/api/v1/users/me", headers=token)).status_code == 401
    shown = (await admin.get("/api/v1/users/alice")).json()
    assert (shown["disabled"], shown["disabled_reason"]) == (True, "provider")
    assert (await identity_of(database, "alice")).refused_at is not None
    async with database.read() as db:
        events = (await db.scalars(select(AuditEvent).order_by(AuditEvent.id))).all()
    refused = next(e for e in events if e.event == "identity_refused")
    assert (refused.target, refused.detail["provider"]) == ("alice", "codes")
    disabled = next(e for e in events if e.event == "user_updated" and e.target == "alice")
    assert disabled.detail == {"changes": {"disabled": True}, "by": "re-check at codes"}
    # The provider vouches for her again: the sign-in enables the account.
    again = await sign_in(accounts, "alice")
    assert again.user["disabled"] is False
    assert (await identity_of(database, "alice")).refused_at is None
    assert (await accounts.anonymous().get("/api/v1/users/me", headers=token)).status_code == 200


async def test_an_account_with_another_way_in_stays_enabled(
    accounts: AccountFactory,
    state: AppState,
    codes: CodeProvider,
    database: Database,
    admin: LoggedIn,
) -> None:
    # bob: a labgate password, and his directory identity linked by an administrator.
    bob_local = await accounts.login("bob")
    linked = await admin.post(
        "/api/v1/users/bob/identities", json={"provider": "codes", "subject": "uid-bob"}
    )
    assert linked.status_code == 201
    bob = await sign_in(accounts, "bob")
    # carol: no password, two identities at the directory (an administrator linked one).
    carol = await sign_in(accounts, "carol")
    second = await admin.post(
        "/api/v1/users/carol/identities", json={"provider": "codes", "subject": "uid-carol-2"}
    )
    assert second.status_code == 201
    await due(database)
    codes.answers["uid-bob"] = codes.answers["uid-carol"] = Recheck(holds=False)
    done = await state.identity_recheck.run_once()
    # carol's second identity has no live session: it is not asked.
    assert sorted(subject for subject, _ in codes.asked) == ["uid-bob", "uid-carol"]
    assert done.refused == 2
    assert await session_status(bob) == 401
    assert await session_status(carol) == 401
    # The session begun with his password lives on; neither account is disabled.
    assert await session_status(bob_local) == 200
    for name in ("bob", "carol"):
        assert not (await user_named(database, name)).disabled, name


async def test_a_check_that_gets_no_answer_changes_nothing(
    accounts: AccountFactory, state: AppState, codes: CodeProvider, database: Database
) -> None:
    alice = await sign_in(accounts, "alice")
    bob = await sign_in(accounts, "bob")
    await due(database)
    codes.answers["uid-alice"] = Recheck(holds=None)
    codes.answers["uid-bob"] = ProviderUnavailable("The directory does not answer.")
    done = await state.identity_recheck.run_once()
    assert (done.asked, done.unanswered) == (2, 2)
    for who, name in ((alice, "alice"), (bob, "bob")):
        assert await session_status(who) == 200
        assert (await identity_of(database, name)).refused_at is None
        assert not (await user_named(database, name)).disabled
    # Asked once per interval even so: an unreachable provider is not hammered.
    assert (await state.identity_recheck.run_once()).asked == 0


async def test_the_interval_is_kept(
    accounts: AccountFactory, state: AppState, codes: CodeProvider, database: Database
) -> None:
    alice = await sign_in(accounts, "alice")
    # Just signed in: that was as good as a check.
    assert (await state.identity_recheck.run_once()).asked == 0
    await due(database)
    assert (await state.identity_recheck.run_once()).asked == 1
    # Asked just now: not again within the interval.
    assert (await state.identity_recheck.run_once()).asked == 0
    # An identity whose sessions ended is not asked about.
    await due(database)
    assert (await alice.post("/api/v1/auth/logout")).status_code == 204
    assert (await state.identity_recheck.run_once()).asked == 0
    assert codes.asked == [("uid-alice", b"refresh-alice")]


async def test_an_account_whose_browser_session_ended_is_asked_about_while_it_has_a_token(
    accounts: AccountFactory, state: AppState, codes: CodeProvider, database: Database
) -> None:
    alice = await sign_in(accounts, "alice")
    made = await alice.post("/api/v1/tokens", json={"name": "nightly", "scopes": ["read"]})
    token = {"Authorization": f"Bearer {made.json()['secret']}"}
    assert (await alice.post("/api/v1/auth/logout")).status_code == 204
    await due(database)
    # Locked at the provider: the token, which outlived the browser session, stops too.
    codes.answers["uid-alice"] = Recheck(holds=False)
    done = await state.identity_recheck.run_once()
    assert (done.asked, done.refused) == (1, 1)
    assert (await accounts.anonymous().get("/api/v1/users/me", headers=token)).status_code == 401
    assert (await user_named(database, "alice")).disabled


async def test_a_password_counts_as_a_way_in_only_while_the_form_asks_labgate(
    accounts: AccountFactory, settings: Settings, database: Database
) -> None:
    without_local = settings.model_copy(update={"auth_providers": ["codes"]})
    app = make_app(without_local, database)
    async with app.router.lifespan_context(app):
        state: AppState = app.state.labgate
        assert await signed_in_status(app, "alice") == 200
        # A password set once (before the form stopped asking labgate's accounts).
        async with database.session() as db:
            await db.execute(update(User).where(User.username == "alice").values(password_hash="x"))
        await due(database)
        codes_of(state).answers["uid-alice"] = Recheck(holds=False)
        assert (await state.identity_recheck.run_once()).refused == 1
    assert (await user_named(database, "alice")).disabled


async def signed_in_status(app: Any, username: str) -> int:
    """Sign ``username`` in through ``app``'s login form; its answer's status."""
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        answer = await http.post(
            "/api/v1/auth/login", json={"username": username, "password": PASSWORD}
        )
        return answer.status_code


async def test_two_replicas_ask_once(
    accounts: AccountFactory, state: AppState, settings: Settings, database: Database
) -> None:
    for name in ("alice", "bob", "carol"):
        await sign_in(accounts, name)
    await due(database)
    other_database = Database(database.url, pool_size=5)
    other = make_app(settings, other_database)
    try:
        async with other.router.lifespan_context(other):
            replicas = [state, other.state.labgate]
            # (The other's own loop has begun a round at its start as well.)
            await asyncio.gather(*(r.identity_recheck.run_once() for r in replicas))
            asked = [subject for r in replicas for subject, _ in codes_of(r).asked]
    finally:
        await other_database.dispose()
    # Each identity was asked once, by one of them.
    assert sorted(asked) == ["uid-alice", "uid-bob", "uid-carol"]


async def test_the_server_asks_by_itself_and_not_when_switched_off(
    settings: Settings, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    @asynccontextmanager
    async def started(minutes: int) -> AsyncIterator[tuple[Any, AccountFactory]]:
        changed = settings.model_copy(update={"identity_recheck_minutes": minutes})
        application = make_app(changed, database)
        async with application.router.lifespan_context(application):
            accounts = AccountFactory(application, database, changed)
            try:
                yield application, accounts
            finally:
                await accounts.close()

    # Every round a moment apart, so the loop the lifespan started comes round soon.
    monkeypatch.setattr(recheck, "TICK_SECONDS", 0.05)
    async with started(1) as (application, accounts):
        alice = await sign_in(accounts, "alice")
        codes = codes_of(application.state.labgate)
        codes.answers["uid-alice"] = Recheck(holds=False)
        await due(database)

        async def ended() -> bool:
            return await session_status(alice) == 401

        await eventually(ended, what="the re-check loop ending alice's session")
    async with started(0) as (application, accounts):
        # Off: the loop has ended at once, and nothing is asked.
        assert application.state.labgate.identity_recheck.settings.identity_recheck_minutes == 0
        assert await application.state.labgate.identity_recheck.run_forever() is None
        assert codes_of(application.state.labgate).asked == []
