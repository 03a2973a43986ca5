"""Sharing a session through the API (labgate.api.sharing, labgate.sessions.sharing,
invitations, support): shares with users and groups, invitation links (expiry, use
limit, a race for the last use), support staff, the recipients' session lists, the
audit log and the events, on SQLite and PostgreSQL.

The sessions are rows (tests/support/proxied.py's ``running_session``): nothing is
launched, nothing here goes through the proxy (tests/test_sharing_proxy.py does).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from labgate.db.engine import Database
from labgate.db.models import AppSession as AppSessionRow
from labgate.db.models import AuditEvent, Role, SessionState, ShareInvitation
from labgate.db.types import utcnow
from labgate.sessions.lifecycle import SessionChanged
from labgate.settings import Settings
from tests.support.accounts import AccountFactory, LoggedIn
from tests.support.mail import MailServer
from tests.support.proxied import running_session, state_of

SUPPORT = "helpdesk"


@pytest.fixture
def settings(settings: Settings, smtp: MailServer) -> Settings:
    # Web apps are shared only with each app on an origin of its own (app_domain).
    return settings.model_copy(
        update={
            "support_group": SUPPORT,
            "smtp_host": smtp.host,
            "smtp_port": smtp.port,
            "public_url": "http://testserver",
            "app_domain": "{session}.apps.testserver",
        }
    )


@pytest.fixture
async def admin(accounts: AccountFactory) -> LoggedIn:
    return await accounts.login("root", role=Role.ADMIN)


@pytest.fixture
async def olga(accounts: AccountFactory, admin: LoggedIn) -> LoggedIn:
    return await accounts.login("olga")


@pytest.fixture
async def bob(accounts: AccountFactory) -> LoggedIn:
    return await accounts.login("bob")


@pytest.fixture
async def carol(accounts: AccountFactory) -> LoggedIn:
    return await accounts.login("carol")


async def session_of(app: Any, owner: str, template: str = "webapp") -> str:
    state = state_of(app)
    return await running_session(state.database, state.session_tokens, owner, 1, template)


@pytest.fixture
async def webapp(app: Any, olga: LoggedIn) -> str:
    return await session_of(app, "olga")


def listed(user: LoggedIn) -> Any:
    async def ids() -> dict[str, dict[str, Any]]:
        answer = await user.get("/api/v1/sessions")
        assert answer.status_code == 200, answer.text
        return {s["id"]: s for s in answer.json()["sessions"]}

    return ids()


async def share(owner: LoggedIn, session_id: str, **body: Any) -> Any:
    return await owner.post(f"/api/v1/sessions/{session_id}/shares", json=body)


async def audited(database: Database, event: str) -> list[AuditEvent]:
    async with database.read() as db:
        return list(await db.scalars(select(AuditEvent).where(AuditEvent.event == event)))


def error_code(answer: Any) -> str:
    return str(answer.json()["error"]["code"])


# -- shares with users -----------------------------------------------------------------------


async def test_a_session_shared_with_a_user_is_in_their_list(
    database: Database, olga: LoggedIn, bob: LoggedIn, carol: LoggedIn, webapp: str
) -> None:
    made = await share(olga, webapp, user="bob", role="user")
    assert made.status_code == 201, made.text
    assert made.json()["kind"] == "user"
    assert made.json()["user"]["username"] == "bob"
    assert made.json()["created_by"] == "olga"

    theirs = (await listed(bob))[webapp]
    assert theirs["my_role"] == "user"
    assert theirs["owner"]["username"] == "olga"
    one = await bob.get(f"/api/v1/sessions/{webapp}")
    assert one.status_code == 200
    assert one.json()["my_role"] == "user"
    mine = (await listed(olga))[webapp]
    assert (mine["my_role"], mine["shared"], mine["share_count"]) == ("owner", True, 1)
    assert webapp not in await listed(carol)
    assert (await carol.get(f"/api/v1/sessions/{webapp}")).status_code == 404

    # Bob's notification centre has it (once: the refused second share adds nothing).
    again = await share(olga, webapp, user="bob", role="guest")
    assert again.status_code == 409
    [note] = (await bob.get("/api/v1/notifications")).json()["notifications"]
    assert (note["kind"], note["subject"]) == ("share", {"session": webapp})
    assert note["title"].startswith("olga shared ")
    assert (await carol.get("/api/v1/notifications")).json()["notifications"] == []
    [event] = await audited(database, "session_shared")
    assert (event.actor, event.target, event.detail["user"]) == ("olga", webapp, "bob")
    # Unshared and shared again (and again): Bob is not told of it once more each time.
    for _ in range(3):
        gone = await olga.delete(f"/api/v1/sessions/{webapp}/shares/{made.json()['id']}")
        assert gone.status_code == 204, gone.text
        made = await share(olga, webapp, user="bob", role="user")
        assert made.status_code == 201, made.text
    assert len((await bob.get("/api/v1/notifications")).json()["notifications"]) == 1


async def test_what_cannot_be_shared_is_refused_clearly(
    app: Any, olga: LoggedIn, bob: LoggedIn, webapp: str
) -> None:
    myself = await share(olga, webapp, user="olga", role="user")
    assert myself.status_code == 422
    assert "your own session" in myself.json()["error"]["message"]
    nobody = await share(olga, webapp, user="nobody", role="user")
    assert nobody.status_code == 422
    assert "no user named 'nobody'" in nobody.json()["error"]["message"]
    no_group = await share(olga, webapp, group="nogroup", role="user")
    assert no_group.status_code == 422
    assert (await share(olga, webapp, user="bob", role="owner")).status_code == 422
    both = await share(olga, webapp, user="bob", group="g", role="user")
    assert both.status_code == 422

    jupyter = await session_of(app, "olga", "jupyterlab")
    guest = await share(olga, jupyter, user="bob", role="guest")
    assert guest.status_code == 422
    assert "cannot be shared view-only" in guest.json()["error"]["message"]
    sharing = (await olga.get(f"/api/v1/sessions/{jupyter}/sharing")).json()
    assert sharing["roles"] == ["user", "support"]
    assert "guest" in (await olga.get(f"/api/v1/sessions/{webapp}/sharing")).json()["roles"]


async def test_only_the_owner_shares_and_administrators_may_look(
    olga: LoggedIn, bob: LoggedIn, admin: LoggedIn, webapp: str
) -> None:
    assert (await share(olga, webapp, user="bob", role="user")).status_code == 201
    # Someone it is shared with does not share it on.
    assert (await share(bob, webapp, user="root", role="user")).status_code == 404
    assert (await bob.get(f"/api/v1/sessions/{webapp}/sharing")).status_code == 404
    refused = await share(admin, webapp, user="root", role="user")
    assert refused.status_code == 403
    looked = await admin.get(f"/api/v1/sessions/{webapp}/sharing")
    assert looked.status_code == 200
    assert [s["user"]["username"] for s in looked.json()["shares"]] == ["bob"]


async def test_a_changed_or_revoked_share_changes_the_recipients_list(
    app: Any, database: Database, olga: LoggedIn, bob: LoggedIn, webapp: str
) -> None:
    made = (await share(olga, webapp, user="bob", role="user")).json()
    with state_of(app).lifecycle.hub.subscribe(bob.user["id"]) as news:
        changed = await olga.patch(
            f"/api/v1/sessions/{webapp}/shares/{made['id']}", json={"role": "guest"}
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["role"] == "guest"
        assert (await listed(bob))[webapp]["my_role"] == "guest"
        assert await asyncio.wait_for(news.get(), 5) == SessionChanged(webapp, bob.user["id"])

        revoked = await olga.delete(f"/api/v1/sessions/{webapp}/shares/{made['id']}")
        assert revoked.status_code == 204
        assert await asyncio.wait_for(news.get(), 5) == SessionChanged(webapp, bob.user["id"])
    assert webapp not in await listed(bob)
    gone = await olga.delete(f"/api/v1/sessions/{webapp}/shares/{made['id']}")
    assert gone.status_code == 404
    assert len(await audited(database, "session_share_changed")) == 1
    assert len(await audited(database, "session_share_revoked")) == 1


async def test_a_group_share_follows_the_group_s_members(
    admin: LoggedIn, olga: LoggedIn, bob: LoggedIn, webapp: str
) -> None:
    assert (await admin.post("/api/v1/groups", json={"name": "lab"})).status_code == 201
    assert (await admin.put("/api/v1/groups/lab/members/bob")).status_code in (200, 204)
    made = await share(olga, webapp, group="lab", role="user")
    assert made.status_code == 201, made.text
    assert made.json()["group"]["name"] == "lab"
    assert (await listed(bob))[webapp]["my_role"] == "user"
    [note] = (await bob.get("/api/v1/notifications")).json()["notifications"]
    assert note["kind"] == "share"
    assert "through the group lab" in note["body"]

    assert (await admin.delete("/api/v1/groups/lab/members/bob")).status_code in (200, 204)
    assert webapp not in await listed(bob)


async def test_ended_sessions_are_neither_listed_to_recipients_nor_shared(
    database: Database, olga: LoggedIn, bob: LoggedIn, webapp: str
) -> None:
    assert (await share(olga, webapp, user="bob", role="user")).status_code == 201
    async with database.session() as db:
        await db.execute(
            update(AppSessionRow)
            .where(AppSessionRow.id == webapp)
            .values(state=SessionState.STOPPED.value)
        )
    assert webapp not in await listed(bob)
    assert (await bob.get(f"/api/v1/sessions/{webapp}")).status_code == 404
    assert (await share(olga, webapp, user="root", role="user")).status_code == 409


async def test_deleting_a_user_removes_their_shares(
    admin: LoggedIn, olga: LoggedIn, bob: LoggedIn, webapp: str
) -> None:
    assert (await share(olga, webapp, user="bob", role="user")).status_code == 201
    assert (await admin.delete("/api/v1/users/bob")).status_code == 204
    assert (await olga.get(f"/api/v1/sessions/{webapp}/sharing")).json()["shares"] == []


# -- invitations ---------------------------------------------------------------------------


async def invite(owner: LoggedIn, session_id: str, **body: Any) -> dict[str, Any]:
    body = {"role": "guest", "expires_in_hours": 1, "max_uses": 1, **body}
    made = await owner.post(f"/api/v1/sessions/{session_id}/invitations", json=body)
    assert made.status_code == 201, made.text
    answer: dict[str, Any] = made.json()
    return answer


async def accept(user: LoggedIn, token: str) -> Any:
    return await user.post("/api/v1/invitations/accept", json={"token": token})


async def test_an_invitation_shares_until_it_is_used_up_and_goes_with_its_shares(
    database: Database, olga: LoggedIn, bob: LoggedIn, carol: LoggedIn, webapp: str
) -> None:
    made = await invite(olga, webapp, role="guest", max_uses=1)
    assert made["path"] == f"/?invite={made['token']}"
    async with database.read() as db:
        stored = await db.scalar(select(ShareInvitation.token_hash))
    assert stored is not None
    assert made["token"] not in stored  # only its hash

    taken = await accept(bob, made["token"])
    assert taken.status_code == 200, taken.text
    assert taken.json() == {"session_id": webapp, "role": "guest"}
    assert (await listed(bob))[webapp]["my_role"] == "guest"
    # Accepting again uses nothing up.
    assert (await accept(bob, made["token"])).status_code == 200
    late = await accept(carol, made["token"])
    assert (late.status_code, error_code(late)) == (410, "invitation_used_up")
    mine = await accept(olga, made["token"])
    assert mine.status_code == 422

    sharing = (await olga.get(f"/api/v1/sessions/{webapp}/sharing")).json()
    assert [(i["uses"], i["max_uses"]) for i in sharing["invitations"]] == [(1, 1)]
    [bobs] = sharing["shares"]
    assert bobs["invitation_id"] == made["id"]

    ended = await olga.delete(f"/api/v1/sessions/{webapp}/invitations/{made['id']}")
    assert ended.status_code == 204
    assert webapp not in await listed(bob)
    unknown = await accept(carol, made["token"])
    assert (unknown.status_code, error_code(unknown)) == (404, "invitation_unknown")
    assert len(await audited(database, "session_invitation_accepted")) == 1
    assert len(await audited(database, "session_invitation_ended")) == 1


async def preview(user: LoggedIn, token: str) -> Any:
    return await user.post("/api/v1/invitations/preview", json={"token": token})


async def test_an_invitation_is_shown_before_it_is_taken(
    database: Database, olga: LoggedIn, bob: LoggedIn, carol: LoggedIn, webapp: str
) -> None:
    """The browser asks "Join olga's session ... as a viewer?" first: the preview says
    whose session, which, and in what role, and changes nothing."""
    made = await invite(olga, webapp, role="guest", max_uses=1)
    seen = await preview(bob, made["token"])
    assert seen.status_code == 200, seen.text
    assert seen.json() == {
        "session_id": webapp,
        "title": "A small app",
        "app": "Web app",
        "view": "web",
        "owner": {"id": olga.user["id"], "username": "olga", "display_name": "Olga"},
        "role": "guest",
    }
    assert webapp not in await listed(bob)
    sharing = (await olga.get(f"/api/v1/sessions/{webapp}/sharing")).json()
    assert [i["uses"] for i in sharing["invitations"]] == [0]
    assert (await accept(bob, made["token"])).status_code == 200
    assert (await preview(bob, made["token"])).json()["role"] == "guest"  # his already
    late = await preview(carol, made["token"])
    assert (late.status_code, error_code(late)) == (410, "invitation_used_up")
    assert (await preview(olga, made["token"])).status_code == 422
    unknown = await preview(carol, "not an invitation")
    assert (unknown.status_code, error_code(unknown)) == (404, "invitation_unknown")
    assert (await bob.post("/api/v1/invitations/preview", json={})).status_code == 422
    assert len(await audited(database, "session_invitation_accepted")) == 1


async def test_without_app_domain_web_apps_are_not_shared_but_desktops_are(
    app: Any, olga: LoggedIn, bob: LoggedIn, webapp: str
) -> None:
    """A web app's pages would run on labgate's own origin, as whoever opens them:
    nothing that lets anyone else in is made, and the Share dialog is told why."""
    made_before = await invite(olga, webapp, role="user")
    settings = state_of(app).settings
    settings.app_domain = ""
    try:
        for answer in (
            await share(olga, webapp, user="bob", role="user"),
            await olga.post(f"/api/v1/sessions/{webapp}/invitations", json={"role": "guest"}),
            await olga.put(f"/api/v1/sessions/{webapp}/support", json={"allowed": True}),
            await olga.post(f"/api/v1/sessions/{webapp}/support/help", json={"message": "hi"}),
            await preview(bob, made_before["token"]),
            await accept(bob, made_before["token"]),
        ):
            assert (answer.status_code, error_code(answer)) == (422, "sharing_needs_app_domain")
            assert "app_domain" in answer.json()["error"]["message"]
        assert webapp not in await listed(bob)
        # Closing to support is always possible.
        closed = await olga.put(f"/api/v1/sessions/{webapp}/support", json={"allowed": False})
        assert closed.status_code == 200
        sharing = (await olga.get(f"/api/v1/sessions/{webapp}/sharing")).json()
        assert sharing["sharable"] is False
        assert "app_domain" in sharing["why"]

        desktop = await session_of(app, "olga", "desktop")
        assert (await share(olga, desktop, user="bob", role="guest")).status_code == 201
        sharing = (await olga.get(f"/api/v1/sessions/{desktop}/sharing")).json()
        assert (sharing["sharable"], sharing["why"]) == (True, None)
    finally:
        settings.app_domain = "{session}.apps.testserver"
    sharing = (await olga.get(f"/api/v1/sessions/{webapp}/sharing")).json()
    assert (sharing["sharable"], sharing["why"]) == (True, None)


async def test_those_it_is_shared_with_see_neither_its_form_nor_its_progress(
    database: Database, olga: LoggedIn, bob: LoggedIn, admin: LoggedIn, webapp: str
) -> None:
    """The launch form's command and environment lines may hold the owner's secrets."""
    form = {"app_command": "serve --api-key sk-olga", "environment": "export KEY=olgas"}
    async with database.session() as db:
        await db.execute(
            update(AppSessionRow)
            .where(AppSessionRow.id == webapp)
            .values(form=form, progress=["ran serve --api-key sk-olga"], message="olga's")
        )
    assert (await share(olga, webapp, user="bob", role="guest")).status_code == 201
    for seen in ((await listed(bob))[webapp], (await bob.get(f"/api/v1/sessions/{webapp}")).json()):
        assert seen["my_role"] == "guest"
        assert (seen["form"], seen["progress"]) == ({}, [])
        assert seen["message"] == "Shared with you by its owner."
        assert "sk-olga" not in str(seen)
    for who in (olga, admin):
        theirs = (await who.get(f"/api/v1/sessions/{webapp}")).json()
        assert (theirs["form"], theirs["message"]) == (form, "olga's")


async def test_an_expired_invitation_and_one_to_an_ended_session_are_gone(
    database: Database, olga: LoggedIn, bob: LoggedIn, webapp: str
) -> None:
    made = await invite(olga, webapp, max_uses=5)
    async with database.session() as db:
        await db.execute(update(ShareInvitation).values(expires_at=utcnow() - timedelta(seconds=1)))
    expired = await accept(bob, made["token"])
    assert (expired.status_code, error_code(expired)) == (410, "invitation_expired")
    assert "expired" in expired.json()["error"]["message"]

    async with database.session() as db:
        await db.execute(
            update(AppSessionRow).where(AppSessionRow.id == webapp).values(state="stopped")
        )
    ended = await accept(bob, made["token"])
    assert (ended.status_code, error_code(ended)) == (410, "session_ended")


@pytest.mark.parametrize(
    "body",
    [
        {"role": "user", "expires_in_hours": 0, "max_uses": 1},
        {"role": "user", "expires_in_hours": 721, "max_uses": 1},
        {"role": "user", "expires_in_hours": 1, "max_uses": 0},
        {"role": "user", "expires_in_hours": 1, "max_uses": 1001},
        {"role": "boss", "expires_in_hours": 1, "max_uses": 1},
    ],
)
async def test_an_invitation_s_limits_are_checked(
    olga: LoggedIn, webapp: str, body: dict[str, Any]
) -> None:
    made = await olga.post(f"/api/v1/sessions/{webapp}/invitations", json=body)
    assert made.status_code == 422, made.text


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("support", {"allowed": "yes"}),
        ("support", {}),
        ("support/help", {"message": "x" * 2001}),
        ("support/help", {"message": 7}),
        ("shares", {"user": "bob", "group": "g", "role": "user"}),
        ("shares", {"role": "user"}),
        ("shares", {"user": "bob", "role": "x" * 17}),
    ],
)
async def test_bad_sharing_and_support_bodies_are_refused(
    olga: LoggedIn, webapp: str, path: str, body: dict[str, Any]
) -> None:
    sent = await (olga.put if path == "support" else olga.post)(
        f"/api/v1/sessions/{webapp}/{path}", json=body
    )
    assert sent.status_code == 422, sent.text
    assert (await olga.get(f"/api/v1/sessions/{webapp}/sharing")).json()["shares"] == []


@pytest.mark.parametrize("token", ["", "t" * 201, 12])
async def test_a_bad_invitation_token_is_refused(olga: LoggedIn, token: Any) -> None:
    for route in ("accept", "preview"):
        sent = await olga.post(f"/api/v1/invitations/{route}", json={"token": token})
        assert sent.status_code == 422, sent.text


async def test_of_two_racing_for_the_last_use_exactly_one_wins(
    accounts: AccountFactory, olga: LoggedIn, webapp: str
) -> None:
    made = await invite(olga, webapp, role="user", max_uses=1)
    racers = [await accounts.login(f"racer{n}") for n in range(4)]
    answers = await asyncio.gather(*(accept(racer, made["token"]) for racer in racers))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200, 410, 410, 410], [a.text for a in answers]
    sharing = (await olga.get(f"/api/v1/sessions/{webapp}/sharing")).json()
    assert len(sharing["shares"]) == 1
    assert sharing["invitations"][0]["uses"] == 1


# -- support staff ---------------------------------------------------------------------------


async def test_support_staff_join_where_the_owner_lets_them(
    app: Any,
    database: Database,
    smtp: MailServer,
    admin: LoggedIn,
    olga: LoggedIn,
    bob: LoggedIn,
    carol: LoggedIn,
    webapp: str,
) -> None:
    assert (await admin.post("/api/v1/groups", json={"name": SUPPORT})).status_code == 201
    assert (await admin.put(f"/api/v1/groups/{SUPPORT}/members/bob")).status_code in (200, 204)
    assert (await admin.patch("/api/v1/users/bob", json={"email": "bob@example.org"})).is_success
    assert webapp not in await listed(bob)

    allowed = await olga.put(f"/api/v1/sessions/{webapp}/support", json={"allowed": True})
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["allowed"] is True
    assert allowed.json()["group"] == SUPPORT
    assert (await listed(bob))[webapp]["my_role"] == "support"
    assert webapp not in await listed(carol)

    state = state_of(app)
    title = (await olga.get(f"/api/v1/sessions/{webapp}")).json()["title"]
    with (
        state.lifecycle.hub.subscribe(bob.user["id"]) as news,
        state.help_asked.subscribe(bob.user["id"]) as asked,
        state.help_asked.subscribe(olga.user["id"]) as owners_own,
    ):
        helped = await olga.post(
            f"/api/v1/sessions/{webapp}/support/help", json={"message": "My fit diverges."}
        )
        assert helped.status_code == 200, helped.text
        assert helped.json()["help_requested_at"] is not None
        assert await asyncio.wait_for(news.get(), 5) == SessionChanged(webapp, bob.user["id"])
        # Bob's workspace tells him (the events socket sends this as it is).
        told = await asyncio.wait_for(asked.get(), 5)
        assert told.event() == {
            "type": "help_asked",
            "session_id": webapp,
            "title": title,
            "owner": {"username": "olga", "display_name": olga.user["display_name"] or ""},
            "message": "My fit diverges.",
        }
        assert owners_own.empty()
    mail = await asyncio.to_thread(smtp.wait_for, to="bob@example.org")
    assert "olga asks for help" in mail.subject
    assert "My fit diverges." in mail.body
    assert (await listed(bob))[webapp]["help_requested_at"] is not None
    assert len(await audited(database, "session_help_requested")) == 1

    closed = await olga.put(f"/api/v1/sessions/{webapp}/support", json={"allowed": False})
    assert closed.json() | {"help_requested_at": None} == closed.json()
    assert webapp not in await listed(bob)
    assert len(await audited(database, "session_support_changed")) == 2


async def test_without_a_support_group_support_cannot_be_let_in(
    app: Any, settings: Settings, olga: LoggedIn, webapp: str
) -> None:
    state_of(app).settings.support_group = ""
    try:
        refused = await olga.put(f"/api/v1/sessions/{webapp}/support", json={"allowed": True})
        assert refused.status_code == 409
        assert "support_group" in refused.json()["error"]["message"]
        sharing = (await olga.get(f"/api/v1/sessions/{webapp}/sharing")).json()
        assert sharing["support"]["available"] is False
    finally:
        state_of(app).settings.support_group = SUPPORT
