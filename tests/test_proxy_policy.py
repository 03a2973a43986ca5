"""The proxy asks labgate's policy (``USE_SESSION``) on every request and every WebSocket
handshake, on labgate's origin and on a session's own origin: a read-only API token, or
a user who must still replace a one-time password, reaches no app (403, 4403 for a
WebSocket); the owner with a cookie or a writing token does, administrators do not.
Over HTTPS the login cookie is ``__Host-labgate_session`` and never reaches the app. An
app origin's grant signs in only the browser that asked for it.

In-process, against a real app on loopback reached through the ``local`` resource
(tests/support/proxied.py), on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from labgate.app import create_app
from labgate.db.engine import Database
from labgate.db.models import LoginSession, Role, User
from labgate.settings import Settings
from tests.support.accounts import PASSWORD, AccountFactory, LoggedIn
from tests.support.asgi import websocket_answer, websocket_scope
from tests.support.daemons import daemon_runtime_dir
from tests.support.local_accounts import map_local_to_root
from tests.support.proxied import (
    APP_PAGE,
    must_change_password,
    running_session,
    small_app,
    state_of,
)

ONE_TIME = "a one-time password"
LABGATE = "labgate.test"
APPS = "apps.labgate.test"


@pytest.fixture
def runtime_dir() -> Iterator[str]:
    with daemon_runtime_dir("labgate-proxy-") as path:
        yield path


@pytest.fixture
def settings(settings: Settings, runtime_dir: str) -> Settings:
    # The session's owner is an ordinary user, on the server's own machine.
    return settings.model_copy(
        update={"agent_runtime_dir": runtime_dir, "local_resource": "everyone"}
    )


@pytest.fixture
async def app_port() -> AsyncIterator[int]:
    async with small_app() as port:
        yield port


@pytest.fixture
async def admin(accounts: AccountFactory) -> AsyncIterator[LoggedIn]:
    yield await accounts.login("root", role=Role.ADMIN)
    await accounts.close()


@pytest.fixture
async def alice(accounts: AccountFactory, admin: LoggedIn) -> LoggedIn:
    return await accounts.login("alice")


@pytest.fixture
async def session_id(app: Any, database: Database, alice: LoggedIn, app_port: int) -> str:
    return await running_session(database, state_of(app).session_tokens, "alice", app_port)


async def token(user: LoggedIn, *scopes: str) -> dict[str, str]:
    made = await user.post("/api/v1/tokens", json={"name": "proxy", "scopes": list(scopes)})
    assert made.status_code == 201, made.text
    return {"Authorization": f"Bearer {made.json()['secret']}"}


async def one_time_password(admin: LoggedIn, username: str) -> None:
    """An administrator's reset: the user must choose a new password after logging in."""
    reset = await admin.patch(
        f"/api/v1/users/{username}", json={"password": ONE_TIME, "must_change_password": True}
    )
    assert reset.status_code == 200, reset.text


def refused(answer: httpx.Response, code: str) -> None:
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"]["code"] == code
    assert APP_PAGE not in answer.content


async def socket(app: Any, path: str, headers: dict[str, str]) -> Any:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return await websocket_answer(app, websocket_scope(path, raw))


def cookie_of(user: LoggedIn) -> dict[str, str]:
    jar = "; ".join(f"{name}={value}" for name, value in user.http.cookies.items())
    return {"Cookie": jar, "Origin": "http://testserver"}


# -- labgate's origin ------------------------------------------------------------------


async def test_the_owner_reaches_the_app(app: Any, alice: LoggedIn, session_id: str) -> None:
    page = await alice.get(f"/s/{session_id}/")
    assert page.status_code == 200, page.text
    assert page.content == APP_PAGE
    assert await socket(app, f"/s/{session_id}/ws", cookie_of(alice)) == "ping"
    writing = await token(alice, "read", "write")
    assert (await alice.http.get(f"/s/{session_id}/", headers=writing)).content == APP_PAGE
    assert await socket(app, f"/s/{session_id}/ws", writing) == "ping"


async def test_a_read_only_token_reaches_no_app(
    app: Any, alice: LoggedIn, session_id: str, client: httpx.AsyncClient
) -> None:
    reading = await token(alice, "read")
    refused(await client.get(f"/s/{session_id}/", headers=reading), "forbidden")
    posted = await client.post(f"/s/{session_id}/api/kernels", headers=reading)
    refused(posted, "forbidden")
    assert "'write' scope" in posted.json()["error"]["message"]
    page = await client.get(f"/s/{session_id}/", headers={**reading, "Accept": "text/html"})
    assert page.status_code == 403
    assert "write" in page.text
    assert APP_PAGE not in page.content


async def test_a_read_only_token_opens_no_socket_to_the_app(
    app: Any, alice: LoggedIn, session_id: str
) -> None:
    assert await socket(app, f"/s/{session_id}/ws", await token(alice, "read")) == 4403


async def test_a_one_time_password_must_be_replaced_first(
    app: Any,
    accounts: AccountFactory,
    admin: LoggedIn,
    alice: LoggedIn,
    session_id: str,
) -> None:
    await one_time_password(admin, "alice")
    again = await accounts.login("alice", password=ONE_TIME, create=False)
    refused(await again.get(f"/s/{session_id}/"), "password_change_required")
    assert await socket(app, f"/s/{session_id}/ws", cookie_of(again)) == 4403
    # Once the password is the user's own, the app is theirs again.
    changed = await again.post(
        "/api/v1/users/me/password", json={"current_password": ONE_TIME, "new_password": PASSWORD}
    )
    assert changed.status_code == 204, changed.text
    assert (await again.get(f"/s/{session_id}/")).content == APP_PAGE


async def test_nobody_else_reaches_the_app(
    app: Any, accounts: AccountFactory, admin: LoggedIn, session_id: str
) -> None:
    bob = await accounts.login("bob")
    refused(await bob.get(f"/s/{session_id}/"), "forbidden")
    # Administrators stop other users' sessions; they do not work in them.
    refused(await admin.get(f"/s/{session_id}/"), "forbidden")
    assert await socket(app, f"/s/{session_id}/ws", cookie_of(admin)) == 4403
    everything = await token(admin, "read", "write", "admin")
    assert await socket(app, f"/s/{session_id}/ws", everything) == 4403


async def test_over_https_the_host_cookie_opens_the_app_and_never_reaches_it(
    app: Any, alice: LoggedIn, session_id: str
) -> None:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as https:
        login = await https.post(
            "/api/v1/auth/login", json={"username": "alice", "password": PASSWORD}
        )
        value = https.cookies["__Host-labgate_session"]
        https.cookies.clear()
        sent = f"__Host-labgate_session={value}; theme=dark; __Host-labgate_app=x"
        seen = await https.get(f"/s/{session_id}/headers", headers={"Cookie": sent})
        assert seen.status_code == 200, seen.text
        assert {k.lower(): v for k, v in seen.json().items()}["cookie"] == "theme=dark"
        # A plain-named cookie (one a sibling host could have planted) means nothing here.
        planted = await https.get(
            f"/s/{session_id}/", headers={"Cookie": f"labgate_session={value}"}
        )
        assert planted.status_code == 401
        assert login.status_code == 200


# -- a session's own origin ------------------------------------------------------------


@pytest.fixture
async def origins_app(
    settings: Settings, database: Database, accounts: AccountFactory, admin: LoggedIn
) -> AsyncIterator[Any]:
    """labgate at labgate.test, each session's app at <session>.apps.labgate.test."""
    with_origins = settings.model_copy(
        update={"public_url": f"http://{LABGATE}", "app_domain": "{session}." + APPS}
    )
    application = create_app(with_origins, database=database, bootstrap=False)
    async with application.router.lifespan_context(application):
        await map_local_to_root(database)
        yield application


def browser(app: Any) -> httpx.AsyncClient:
    """A browser of its own (its own cookie jar) that follows redirects across origins."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("127.0.0.1", 40000)),
        base_url=f"http://{LABGATE}",
        follow_redirects=True,
    )


async def log_in(http: httpx.AsyncClient, username: str, password: str = PASSWORD) -> None:
    answer = await http.post(
        "/api/v1/auth/login", json={"username": username, "password": password}
    )
    assert answer.status_code == 200, answer.text


async def login_id(database: Database, username: str) -> int:
    async with database.read() as db:
        found = await db.scalar(select(LoginSession.id).join(User).where(User.username == username))
    assert found is not None
    return found


async def test_on_its_own_origin_the_app_asks_the_policy_too(
    origins_app: Any, database: Database, admin: LoggedIn, app_port: int
) -> None:
    await admin.http.aclose()
    tokens = state_of(origins_app).session_tokens
    session_id = await running_session(database, tokens, "root", app_port)
    app_host = f"http://{session_id}.{APPS}"
    host = {"Host": f"{session_id}.{APPS}"}
    async with browser(origins_app) as owner:
        await log_in(owner, "root")
        # The owner's browser is signed in to the app's origin and gets the app.
        page = await owner.get(f"/s/{session_id}/")
        assert str(page.url) == f"{app_host}/s/{session_id}/"
        assert page.content == APP_PAGE
        csrf = (await owner.get("/api/v1/auth/session")).json()["csrf_token"]
        made = await owner.post(
            "/api/v1/tokens",
            json={"name": "reader", "scopes": ["read"]},
            headers={"X-CSRF-Token": csrf},
        )
        reading = {"Authorization": f"Bearer {made.json()['secret']}"}

        # A read-only token on the app's origin: refused, for pages and sockets.
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=origins_app), base_url=app_host
        ) as script:
            refused(await script.get(f"/s/{session_id}/", headers=reading), "forbidden")
        assert await socket(origins_app, f"/s/{session_id}/ws", {**host, **reading}) == 4403

        # A one-time password to replace, while the browser is signed in to the app's
        # origin: from then on the app's origin refuses it.
        app_cookie = "; ".join(
            f"{c.name}={c.value}" for c in owner.cookies.jar if c.domain.endswith(APPS)
        )
        cookies = {**host, "Cookie": app_cookie, "Origin": app_host}
        assert await socket(origins_app, f"/s/{session_id}/ws", cookies) == "ping"
        await must_change_password(database, "root")
        state_of(origins_app).recent_callers.forget_all()  # as an administrator's change does
        refused(await owner.get(f"/s/{session_id}/"), "password_change_required")
        assert await socket(origins_app, f"/s/{session_id}/ws", cookies) == 4403


async def test_no_grant_for_a_user_who_must_change_the_password(
    origins_app: Any,
    database: Database,
    accounts: AccountFactory,
    app_port: int,
) -> None:
    await accounts.user("carol")
    tokens = state_of(origins_app).session_tokens
    session_id = await running_session(database, tokens, "carol", app_port)
    await must_change_password(database, "carol")
    async with browser(origins_app) as carol:
        await log_in(carol, "carol")
        refused(await carol.get(f"/s/{session_id}/"), "password_change_required")
        # A grant made for her login anyway (as if taken earlier) opens nothing either.
        grant = state_of(origins_app).origins.grant(session_id, await login_id(database, "carol"))
        entered = await carol.get(
            f"http://{session_id}.{APPS}/_labgate/enter", params={"grant": grant}
        )
        refused(entered, "password_change_required")


# -- a grant signs in the browser that asked for it, no other ---------------------------


def location(answer: httpx.Response) -> str:
    assert answer.status_code in (303, 307), answer.text
    return answer.headers["location"]


async def test_a_grant_signs_in_only_the_browser_that_asked_for_it(
    origins_app: Any, database: Database, accounts: AccountFactory, app_port: int
) -> None:
    await accounts.user("alice")
    await accounts.user("bob")
    tokens = state_of(origins_app).session_tokens
    session_id = await running_session(database, tokens, "alice", app_port)
    app_page = f"http://{session_id}.{APPS}/s/{session_id}/"
    async with browser(origins_app) as alice, browser(origins_app) as bob:
        await log_in(alice, "alice")
        await log_in(bob, "bob")
        link = location(await alice.get(f"/s/{session_id}/", follow_redirects=False))
        assert link.startswith(f"http://{session_id}.{APPS}/_labgate/enter?grant=")

        # Alice's grant link in Bob's browser (sent to him, or leaked): refused, clearly.
        refused(await bob.get(link), "grant_other_browser")
        page = await bob.get(link, headers={"Accept": "text/html"})
        assert page.status_code == 403
        assert "made for another browser" in page.text
        assert f'href="http://{LABGATE}/s/{session_id}/"' in page.text
        assert (await bob.get(app_page)).status_code == 401  # not signed in there
        # Nor in a browser without any labgate login.
        async with browser(origins_app) as stranger:
            assert (await stranger.get(link)).status_code == 401
            assert (await stranger.get(app_page)).status_code == 401

        # In Alice's own browser the same link works.
        opened = await alice.get(link)
        assert opened.status_code == 200, opened.text
        assert str(opened.url) == app_page
        assert opened.content == APP_PAGE
        assert (await alice.get(link)).status_code == 403  # once


async def test_each_step_of_the_sign_in_belongs_to_one_browser(
    origins_app: Any, database: Database, accounts: AccountFactory, app_port: int
) -> None:
    await accounts.user("alice")
    await accounts.user("mallory")
    tokens = state_of(origins_app).session_tokens
    session_id = await running_session(database, tokens, "alice", app_port)
    async with browser(origins_app) as alice, browser(origins_app) as mallory:
        await log_in(alice, "alice")
        await log_in(mallory, "mallory")

        # Step by step in Alice's browser: the app's origin binds it, labgate's origin
        # confirms her login and hands out a pass bound to that browser.
        link = location(await alice.get(f"/s/{session_id}/x?y=1", follow_redirects=False))
        confirm = location(await alice.get(link, follow_redirects=False))
        assert confirm.startswith(f"http://{LABGATE}/_labgate/confirm?")
        assert any(c.name.endswith("labgate_bind") for c in alice.cookies.jar)
        sign_in = location(await alice.get(confirm, follow_redirects=False))
        assert sign_in.startswith(f"http://{session_id}.{APPS}/_labgate/sign-in?grant=")

        # The pass (leaked from Alice's history, say) in Mallory's browser: refused,
        # whether or not that browser has a binding of its own.
        refused(await mallory.get(sign_in), "grant_other_browser")
        other_link = location(await alice.get(f"/s/{session_id}/", follow_redirects=False))
        mallorys_confirm = location(await mallory.get(other_link, follow_redirects=False))
        refused(await mallory.get(sign_in), "grant_other_browser")
        # labgate's confirmation of Alice's grant, asked for from Mallory's login: refused.
        refused(await mallory.get(mallorys_confirm), "grant_other_browser")
        # Alice's browser lured to the confirmation carrying Mallory's binding: her pass
        # is bound to a value only Mallory's browser holds, so it signs in neither.
        refused(await alice.get(mallorys_confirm), "grant_other_browser")

        # Alice's own pass, in her browser: signed in, on to the page she asked for, the
        # binding dropped.
        entered = await alice.get(sign_in, follow_redirects=False)
        assert location(entered) == f"/s/{session_id}/x?y=1"
        cookies = entered.headers.get_list("set-cookie")
        assert cookies[0].startswith("labgate_app=")
        assert cookies[1].startswith("labgate_bind=;") or 'labgate_bind="";' in cookies[1]
        assert "Max-Age=0" in cookies[1]
        assert (await alice.get(f"http://{session_id}.{APPS}/s/{session_id}/")).content == APP_PAGE
        assert (await alice.get(sign_in)).status_code == 403  # once (and unbound now)
