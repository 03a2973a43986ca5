"""A shared session through the proxy, against a real app on loopback reached through
the ``local`` resource (tests/support/proxied.py), on SQLite and PostgreSQL, with each
app on an origin of its own (``app_domain``; a browser asking labgate's origin is sent
there and signed in, as in a real browser): a USER uses it fully; a GUEST gets pages
but sends nothing (no unsafe method but the POSTs a template lists as reading only, no
WebSocket); someone never invited gets nothing; a revoked or downgraded share, and a
removal from the group it was shared with, close open WebSockets within the live-sockets
check (served by uvicorn: real WebSockets); a
join is told to the owner, audited, mailed when they wish, and listed as connected.

Without ``app_domain``, a browser is never served a web app someone else shares with it
on labgate's own origin (there the app's scripts would act with the viewer's login); the
owner is, and so is a script with an API token.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Origin

from labgate.app import create_app
from labgate.db.engine import Database
from labgate.db.models import AuditEvent, Role, Share
from labgate.sessions.presence import Joined
from labgate.settings import Settings
from tests.support.accounts import AccountFactory, LoggedIn
from tests.support.asgi import websocket_answer, websocket_scope
from tests.support.daemons import daemon_runtime_dir
from tests.support.eventually import PATIENCE_SECONDS, eventually
from tests.support.local_accounts import map_local_to_root
from tests.support.mail import MailServer, running_mail_server
from tests.support.proxied import APP_PAGE, running_session, state_of
from tests.support.serving import close_of, serving

# The live-sockets check runs every second; a closed socket is seen within this.
DEADLINE_SECONDS = 2.0
# labgate at testserver, each session's app at <session>.apps.testserver.
LABGATE = "testserver"
APPS = "apps." + LABGATE


@pytest.fixture
def runtime_dir() -> Iterator[str]:
    with daemon_runtime_dir("labgate-sharing-") as path:
        yield path


@pytest.fixture
def smtp() -> Iterator[MailServer]:
    with running_mail_server() as server:
        yield server


@pytest.fixture
def settings(settings: Settings, runtime_dir: str, smtp: MailServer) -> Settings:
    return settings.model_copy(
        update={
            "agent_runtime_dir": runtime_dir,
            "local_resource": "everyone",
            "smtp_host": smtp.host,
            "smtp_port": smtp.port,
            "public_url": f"http://{LABGATE}",
            "app_domain": "{session}." + APPS,
        }
    )


async def echoing_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An app that answers every request, whatever its method, with ``APP_PAGE``, and
    echoes WebSocket messages (small_app's WebSocket server answers GET only)."""
    if scope["type"] == "http":
        while (await receive()).get("more_body"):
            pass  # not a wait: the request's body, read to its end
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": APP_PAGE})
    elif scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        while (message := await receive())["type"] == "websocket.receive":
            await send({"type": "websocket.send", "text": message.get("text")})


@pytest.fixture
async def app_port() -> AsyncIterator[int]:
    async with serving(echoing_app) as url:
        yield int(url.rsplit(":", 1)[1])


@pytest.fixture
async def admin(accounts: AccountFactory) -> AsyncIterator[LoggedIn]:
    yield await accounts.login("root", role=Role.ADMIN)
    await accounts.close()


@pytest.fixture
async def olga(accounts: AccountFactory, admin: LoggedIn) -> LoggedIn:
    return await accounts.login("olga")


@pytest.fixture
async def bob(accounts: AccountFactory, admin: LoggedIn) -> LoggedIn:
    return await accounts.login("bob")


@pytest.fixture
async def carol(accounts: AccountFactory, admin: LoggedIn) -> LoggedIn:
    return await accounts.login("carol")


@pytest.fixture
async def session_id(app: Any, database: Database, olga: LoggedIn, app_port: int) -> str:
    return await running_session(database, state_of(app).session_tokens, "olga", app_port)


async def shared(owner: LoggedIn, session_id: str, **body: Any) -> int:
    made = await owner.post(f"/api/v1/sessions/{session_id}/shares", json=body)
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


def app_host(session_id: str) -> str:
    return f"{session_id}.{APPS}"


def app_url(session_id: str, path: str = "") -> str:
    """A page of the session's app on its own origin."""
    return f"http://{app_host(session_id)}/s/{session_id}/{path}"


async def opened(user: LoggedIn, session_id: str) -> httpx.Response:
    """``user`` opens the session from labgate, as a browser does: sent on to the app's
    origin with a grant, signed in there (labgate's origin confirms the login), then
    served the app's page."""
    return await user.get(f"/s/{session_id}/", follow_redirects=True)


def app_cookie(user: LoggedIn, session_id: str) -> str:
    """The cookie ``user``'s browser has on the session's origin (once signed in)."""
    host = app_host(session_id)
    return "; ".join(f"{c.name}={c.value}" for c in user.http.cookies.jar if c.domain == host)


async def socket(app: Any, session_id: str, user: LoggedIn, path: str = "ws") -> Any:
    """A WebSocket to the app on its own origin, with what ``user``'s browser has there."""
    host = app_host(session_id)
    raw = [
        (b"host", host.encode()),
        (b"cookie", app_cookie(user, session_id).encode()),
        (b"origin", f"http://{host}".encode()),
    ]
    return await websocket_answer(app, websocket_scope(f"/s/{session_id}/{path}", raw))


async def socket_from_labgate(app: Any, path: str, user: LoggedIn) -> Any:
    """A WebSocket to ``/s/...`` on labgate's origin, with the user's labgate login."""
    jar = "; ".join(f"{name}={value}" for name, value in user.http.cookies.items())
    raw = [(b"cookie", jar.encode()), (b"origin", f"http://{LABGATE}".encode())]
    return await websocket_answer(app, websocket_scope(path, raw))


def refused(answer: httpx.Response, code: str) -> None:
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"]["code"] == code
    assert APP_PAGE not in answer.content


async def test_a_user_uses_the_shared_app_fully(
    app: Any, olga: LoggedIn, bob: LoggedIn, session_id: str
) -> None:
    await shared(olga, session_id, user="bob", role="user")
    page = await opened(bob, session_id)
    assert (page.status_code, page.content) == (200, APP_PAGE)
    assert str(page.url) == app_url(session_id)  # on the app's own origin
    posted = await bob.post(app_url(session_id, "api/run"), content=b"{}")
    assert (posted.status_code, posted.content) == (200, APP_PAGE)
    assert await socket(app, session_id, bob) == "ping"


async def test_a_guest_only_looks(app: Any, olga: LoggedIn, bob: LoggedIn, session_id: str) -> None:
    await shared(olga, session_id, user="bob", role="guest")
    assert (await opened(bob, session_id)).content == APP_PAGE
    page = await bob.get(app_url(session_id, "report.html"))
    assert (page.status_code, page.content) == (200, APP_PAGE)
    assert (await bob.request("HEAD", app_url(session_id))).status_code == 200
    posted = await bob.post(app_url(session_id, "api/run"), content=b"{}")
    refused(posted, "view_only")
    assert "view only" in posted.json()["error"]["message"]
    refused(await bob.request("PUT", app_url(session_id, "file"), content=b"x"), "view_only")
    assert await socket(app, session_id, bob) == 4403
    # Nor on labgate's origin.
    refused(await bob.post(f"/s/{session_id}/api/run", content=b"{}"), "view_only")
    assert await socket_from_labgate(app, f"/s/{session_id}/ws", bob) == 4403


async def test_a_guest_posts_only_where_the_template_says_it_reads(
    app: Any, database: Database, olga: LoggedIn, bob: LoggedIn, app_port: int
) -> None:
    tokens = state_of(app).session_tokens
    board = await running_session(database, tokens, "olga", app_port, template="tensorboard")
    await shared(olga, board, user="bob", role="guest")
    assert (await opened(bob, board)).content == APP_PAGE
    for listed in (
        "experiment/defaultExperimentId/data/plugin/timeseries/timeSeries",
        "data/plugin/scalars/scalars_multirun",
    ):
        read = await bob.post(app_url(board, listed), data={"requests": "[]"})
        assert (read.status_code, read.content) == (200, APP_PAGE)
    refused(await bob.post(app_url(board, "data/plugin/other"), content=b"{}"), "view_only")
    # The whole path below the session's base must be listed, not only its end: an app
    # routing by prefix would take these at its /admin/ handler.
    for unlisted in (
        "admin/drop-all/data/plugin/scalars/scalars_multirun",
        "experiment/x/admin/data/plugin/scalars/scalars_multirun",
        "data%2Fplugin/scalars/scalars_multirun",
    ):
        refused(await bob.post(app_url(board, unlisted), content=b"{}"), "view_only")


async def test_a_guest_of_an_app_that_cannot_be_viewed_alone_gets_nothing(
    app: Any, database: Database, olga: LoggedIn, bob: LoggedIn, app_port: int
) -> None:
    """A GUEST share where the template allows none (made before the template changed,
    say): refused with why, not served half."""
    tokens = state_of(app).session_tokens
    lab = await running_session(database, tokens, "olga", app_port, template="jupyterlab")
    async with database.session() as db:
        db.add(Share(app_session_id=lab, user_id=bob.user["id"], role="guest"))
    answer = await bob.get(f"/s/{lab}/lab", follow_redirects=True)
    refused(answer, "view_only")
    assert "cannot be viewed without using it" in answer.json()["error"]["message"]


async def test_someone_never_invited_gets_nothing(
    app: Any, olga: LoggedIn, bob: LoggedIn, carol: LoggedIn, session_id: str
) -> None:
    await shared(olga, session_id, user="bob", role="user")
    refused(await opened(carol, session_id), "forbidden")
    refused(await carol.post(f"/s/{session_id}/api/run", content=b"{}"), "forbidden")
    assert await socket_from_labgate(app, f"/s/{session_id}/ws", carol) == 4403
    # Bob's grant to the app's origin is his browser's alone; carol has no cookie there.
    assert (await carol.get(app_url(session_id))).status_code == 401
    assert await socket(app, session_id, carol) == 4401


async def test_revoking_takes_effect_at_once_for_new_requests(
    olga: LoggedIn, bob: LoggedIn, session_id: str
) -> None:
    share_id = await shared(olga, session_id, user="bob", role="user")
    assert (await opened(bob, session_id)).status_code == 200
    revoked = await olga.delete(f"/api/v1/sessions/{session_id}/shares/{share_id}")
    assert revoked.status_code == 204
    refused(await bob.get(app_url(session_id)), "forbidden")
    refused(await opened(bob, session_id), "forbidden")


# -- open sockets ----------------------------------------------------------------------------


async def open_socket(base_url: str, session_id: str, user: LoggedIn) -> ClientConnection:
    """A real WebSocket (uvicorn at ``base_url``) to the app on its own origin, from
    ``user``'s browser signed in there."""
    assert (await opened(user, session_id)).status_code == 200
    port = int(base_url.rsplit(":", 1)[1])
    host = app_host(session_id)
    socket = await connect(
        f"ws://{host}:{port}/s/{session_id}/",
        host="127.0.0.1",  # where *.apps.testserver is served here
        port=port,
        additional_headers={"Cookie": app_cookie(user, session_id)},
        origin=Origin(f"http://{host}"),
        open_timeout=PATIENCE_SECONDS,
    )
    await socket.send("hello")
    assert await socket.recv() == "hello"
    return socket


async def test_a_revoked_user_s_open_socket_closes(
    app: Any, olga: LoggedIn, bob: LoggedIn, carol: LoggedIn, session_id: str
) -> None:
    bobs = await shared(olga, session_id, user="bob", role="user")
    await shared(olga, session_id, user="carol", role="user")
    async with serving(app) as url:
        bob_socket = await open_socket(url, session_id, bob)
        carol_socket = await open_socket(url, session_id, carol)
        revoked = await olga.delete(f"/api/v1/sessions/{session_id}/shares/{bobs}")
        assert revoked.status_code == 204
        assert await close_of(bob_socket, DEADLINE_SECONDS) == (4403, "access_withdrawn")
        # Others keep theirs.
        await carol_socket.send("still here")
        assert await carol_socket.recv() == "still here"
        await carol_socket.close()


async def test_a_user_made_guest_loses_their_socket(
    app: Any, olga: LoggedIn, bob: LoggedIn, session_id: str
) -> None:
    bobs = await shared(olga, session_id, user="bob", role="user")
    async with serving(app) as url:
        bob_socket = await open_socket(url, session_id, bob)
        changed = await olga.patch(
            f"/api/v1/sessions/{session_id}/shares/{bobs}", json={"role": "guest"}
        )
        assert changed.status_code == 200
        assert await close_of(bob_socket, DEADLINE_SECONDS) == (4403, "access_withdrawn")


async def test_leaving_the_group_closes_the_socket(
    app: Any, admin: LoggedIn, olga: LoggedIn, bob: LoggedIn, session_id: str
) -> None:
    assert (await admin.post("/api/v1/groups", json={"name": "lab"})).status_code == 201
    assert (await admin.put("/api/v1/groups/lab/members/bob")).is_success
    await shared(olga, session_id, group="lab", role="user")
    async with serving(app) as url:
        bob_socket = await open_socket(url, session_id, bob)
        assert (await admin.delete("/api/v1/groups/lab/members/bob")).is_success
        # Removing a member is not a change of the session: the once-a-second check
        # reads the membership again (from any replica).
        assert await close_of(bob_socket, DEADLINE_SECONDS) == (4403, "access_withdrawn")


# -- joins ----------------------------------------------------------------------------------


async def test_a_join_is_told_audited_mailed_and_listed_as_connected(
    app: Any,
    database: Database,
    smtp: MailServer,
    admin: LoggedIn,
    olga: LoggedIn,
    bob: LoggedIn,
    session_id: str,
) -> None:
    assert (await admin.patch("/api/v1/users/olga", json={"email": "olga@example.org"})).is_success
    wish = {"preferences": {"sharing.notify_joins_by_email": True}}
    assert (await olga.patch("/api/v1/preferences", json=wish)).status_code == 200
    await shared(olga, session_id, user="bob", role="user")
    with state_of(app).presence.joins.subscribe(olga.user["id"]) as joins:
        assert (await opened(bob, session_id)).status_code == 200
        joined = await asyncio.wait_for(joins.get(), PATIENCE_SECONDS)
    assert isinstance(joined, Joined)
    assert joined.event() == {
        "type": "session_joined",
        "session_id": session_id,
        "user": {"id": bob.user["id"], "username": "bob", "display_name": "Bob"},
        "role": "user",
    }
    mail = await asyncio.to_thread(smtp.wait_for, to="olga@example.org")
    assert "Bob joined your session" in mail.subject

    async def joins_audited() -> list[AuditEvent]:
        async with database.read() as db:
            return list(
                await db.scalars(select(AuditEvent).where(AuditEvent.event == "session_joined"))
            )

    [event] = await eventually(joins_audited, what="the join in the audit log")
    assert (event.actor, event.target) == ("bob", session_id)
    sharing = (await olga.get(f"/api/v1/sessions/{session_id}/sharing")).json()
    assert [(c["user"]["username"], c["role"]) for c in sharing["connected"]] == [("bob", "user")]


# -- without app origins ------------------------------------------------------------------


@pytest.fixture
async def plain_app(settings: Settings, database: Database, app: Any) -> AsyncIterator[Any]:
    """labgate as installed by default (no ``app_domain``), on the same database: apps
    are served on labgate's own origin."""
    plain = settings.model_copy(update={"app_domain": ""})
    application = create_app(plain, database=database, bootstrap=False)
    async with application.router.lifespan_context(application):
        await map_local_to_root(database)
        yield application


async def test_without_app_origins_a_browser_gets_no_web_app_shared_with_it(
    app: Any, plain_app: Any, olga: LoggedIn, bob: LoggedIn, session_id: str
) -> None:
    """The owner's pages would run on labgate's origin as bob (read his CSRF token,
    make an API token of his): refused for his browser, whatever his role, with what
    to do. The owner and an API token (a script: no cookie for a page to use) are served."""
    await shared(olga, session_id, user="bob", role="user")
    transport = httpx.ASGITransport(app=plain_app, client=("127.0.0.1", 40000))
    async with (
        httpx.AsyncClient(transport=transport, base_url=f"http://{LABGATE}") as bobs,
        httpx.AsyncClient(transport=transport, base_url=f"http://{LABGATE}") as olgas,
    ):
        bobs.cookies = bob.http.cookies
        olgas.cookies = olga.http.cookies
        for answer in (
            await bobs.get(f"/s/{session_id}/"),
            await bobs.get(f"/s/{session_id}/report.html"),
            await bobs.post(f"/s/{session_id}/api/run", content=b"{}"),
        ):
            refused(answer, "sharing_needs_app_domain")
            assert "app_domain" in answer.json()["error"]["message"]
        page = await bobs.get(f"/s/{session_id}/", headers={"Accept": "text/html"})
        assert page.status_code == 403
        assert "app_domain" in page.text
        assert await socket_from_labgate(plain_app, f"/s/{session_id}/ws", bob) == 4403
        # The owner's own app is served to her browser as before.
        mine = await olgas.get(f"/s/{session_id}/")
        assert (mine.status_code, mine.content) == (200, APP_PAGE)
        # A script of bob's, with an API token: no page runs with it.
        made = await bob.post("/api/v1/tokens", json={"name": "script", "scopes": ["write"]})
        assert made.status_code == 201, made.text
        bearer = {"Authorization": f"Bearer {made.json()['secret']}"}
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{LABGATE}") as script:
            scripted = await script.get(f"/s/{session_id}/", headers=bearer)
        assert (scripted.status_code, scripted.content) == (200, APP_PAGE)
