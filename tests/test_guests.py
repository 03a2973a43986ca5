"""Guest invitations over HTTP, on SQLite and PostgreSQL: an administrator makes one, a
guest looks its code up and joins (a generated name, the guest role, logged in, and in
again with the form), two guests race for the last seat and one wins, a code that is
unknown, withdrawn, ended or full is refused saying which, bad inputs are 422 with
sentences, guessing codes is rate-limited, a guest's launch limits are the guest role's,
an account past its end has no login and the expiry pass removes it (idempotent), and
withdrawing with ``end_accounts`` removes the guests at once.

As root, with real OS accounts on ``local``: with ``guest_files_on_expiry = "remove"`` the
account labgate made for the guest goes with its home and processes; with ``keep`` it
stays; an account labgate did not make, or whose home another account shares, always
stays; each outcome is in the audit log.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import re
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from labgate.accounts.guest_expiry import expire_guests
from labgate.db.engine import Database
from labgate.db.models import AuditEvent, GuestInvitation, Role, User
from labgate.db.types import utcnow
from labgate.settings import Settings
from labgate.state import AppState
from labgate.transport.os_accounts import processes_of
from tests.support.accounts import AccountFactory, LoggedIn
from tests.support.eventually import eventually
from tests.support.local_accounts import local_resource_of, remove_account
from tests.support.processes import skip_unless_root

GUEST_PASSWORD = "a guest's own password"
CODE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")


@pytest.fixture
async def admin(accounts: AccountFactory) -> AsyncIterator[LoggedIn]:
    yield await accounts.login("boss", role=Role.ADMIN)
    await accounts.close()


def in_hours(hours: float) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


async def invite(admin: LoggedIn, *, seats: int = 3, title: str = "Python workshop") -> Any:
    made = await admin.post(
        "/api/v1/guest-invitations",
        json={"title": title, "seats": seats, "expires_at": in_hours(8)},
    )
    assert made.status_code == 201, made.text
    return made.json()


async def join(
    accounts: AccountFactory, code: str, name: str = "Ada", *, client_ip: str = "127.0.0.1"
) -> httpx.Response:
    http = accounts.anonymous(client_ip)
    return await http.post(
        "/api/v1/auth/guest",
        json={"code": code, "display_name": name, "password": GUEST_PASSWORD},
    )


async def joined(accounts: AccountFactory, code: str, name: str = "Ada") -> LoggedIn:
    """A guest who joined with ``code``, as their browser is afterwards."""
    http = accounts.anonymous()
    answer = await http.post(
        "/api/v1/auth/guest",
        json={"code": code, "display_name": name, "password": GUEST_PASSWORD},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return LoggedIn(http=http, csrf=body["csrf_token"], user=body["user"])


async def events(database: Database, name: str) -> list[AuditEvent]:
    async with database.read() as db:
        rows = await db.scalars(select(AuditEvent).where(AuditEvent.event == name))
        return list(rows)


async def end_now(database: Database, username: str) -> None:
    """The guest's end has come (as the invitation's end would)."""
    async with database.session() as db:
        await db.execute(
            update(User)
            .where(User.username == username)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )


async def exists(database: Database, username: str) -> bool:
    async with database.read() as db:
        return await db.scalar(select(User.id).where(User.username == username)) is not None


# -- making and joining -----------------------------------------------------------------------


async def test_an_administrator_invites_and_a_guest_joins_and_logs_in_again(
    admin: LoggedIn, accounts: AccountFactory, database: Database
) -> None:
    invitation = await invite(admin)
    assert CODE.match(invitation["code"]), invitation["code"]
    assert invitation["link"] == f"http://testserver/login?invitation={invitation['code']}"
    assert (invitation["seats"], invitation["used"], invitation["seats_left"]) == (3, 0, 3)
    assert (invitation["state"], invitation["created_by"], invitation["guests"]) == (
        "open",
        "boss",
        [],
    )

    # Typed sloppily: lower case, no dashes, spaces.
    sloppy = invitation["code"].replace("-", " ").lower()
    looked = await accounts.anonymous().get(
        "/api/v1/guest-invitations/lookup", params={"code": sloppy}
    )
    assert looked.status_code == 200, looked.text
    assert looked.json() == {
        "title": "Python workshop",
        "expires_at": invitation["expires_at"],
        "seats_left": 3,
    }

    guest = await joined(accounts, sloppy, "Ada Lovelace")
    name = guest.user["username"]
    assert re.fullmatch(r"guest-[a-z0-9]{5}", name), name
    assert (guest.user["role"], guest.user["display_name"]) == ("guest", "Ada Lovelace")
    me = await guest.get("/api/v1/users/me")
    assert me.status_code == 200, me.text
    assert me.json()["username"] == name
    # Not an administrator's business.
    assert (await guest.get("/api/v1/guest-invitations")).status_code == 403

    # Back another day: the generated name and the chosen password, with the form.
    again = await accounts.anonymous().post(
        "/api/v1/auth/login", json={"username": name, "password": GUEST_PASSWORD}
    )
    assert again.status_code == 200, again.text

    seen = (await admin.get(f"/api/v1/guest-invitations/{invitation['id']}")).json()
    assert (seen["used"], seen["seats_left"]) == (1, 2)
    (listed,) = seen["guests"]
    assert (listed["username"], listed["display_name"]) == (name, "Ada Lovelace")
    assert listed["last_login_at"] is not None
    assert listed["expires_at"] == invitation["expires_at"]
    assert listed["sessions"] == 0
    async with database.read() as db:
        user = await db.scalar(select(User).where(User.username == name))
    assert user is not None
    assert (user.role, user.auth_provider, user.invitation_id) == (
        Role.GUEST.value,
        "local",
        invitation["id"],
    )
    (event,) = await events(database, "guest_joined")
    assert (event.target, event.detail["invitation"]) == (name, invitation["id"])
    assert [e.target for e in await events(database, "guest_invitation_created")] == [
        str(invitation["id"])
    ]
    listing = (await admin.get("/api/v1/guest-invitations")).json()["invitations"]
    assert [i["id"] for i in listing] == [invitation["id"]]


async def test_two_guests_for_the_last_seat_one_gets_it(
    admin: LoggedIn, accounts: AccountFactory, database: Database
) -> None:
    invitation = await invite(admin, seats=2)
    first = await join(accounts, invitation["code"], "First")
    assert first.status_code == 200, first.text

    answers = await asyncio.gather(
        *(join(accounts, invitation["code"], f"Racer {n}") for n in range(4))
    )

    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200, 404, 404, 404], [a.text for a in answers]
    for refused in (a for a in answers if a.status_code == 404):
        error = refused.json()["error"]
        assert error["code"] == "invitation_unusable"
        assert error["message"].startswith("Every seat of this invitation is taken.")
    async with database.read() as db:
        row = await db.get(GuestInvitation, invitation["id"])
        guests = list(
            await db.scalars(select(User.username).where(User.invitation_id == invitation["id"]))
        )
    assert row is not None
    assert (row.used, row.seats, len(guests)) == (2, 2, 2)


async def test_a_code_that_makes_no_account_is_refused_saying_why(
    admin: LoggedIn, accounts: AccountFactory, database: Database
) -> None:
    ended = await invite(admin, title="Ended")
    withdrawn = await invite(admin, title="Withdrawn")
    full = await invite(admin, seats=1, title="Full")
    async with database.session() as db:
        await db.execute(
            update(GuestInvitation)
            .where(GuestInvitation.id == ended["id"])
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )
    assert (await admin.delete(f"/api/v1/guest-invitations/{withdrawn['id']}")).status_code == 200
    assert (await join(accounts, full["code"])).status_code == 200
    cases = {
        ended["code"]: "This invitation has ended.",
        withdrawn["code"]: "This invitation was withdrawn.",
        full["code"]: "Every seat of this invitation is taken.",
        "ZZZZ-ZZZZ-ZZZZ": "There is no invitation with this code.",
        "not a code": "There is no invitation with this code.",
    }
    anonymous = accounts.anonymous()
    for code, why in cases.items():
        for answer in (
            await anonymous.get("/api/v1/guest-invitations/lookup", params={"code": code}),
            await join(accounts, code),
        ):
            assert answer.status_code == 404, answer.text
            error = answer.json()["error"]
            assert error["code"] == "invitation_unusable"
            assert error["message"].startswith(why), error["message"]
            assert "whoever invited you" in error["message"]
    states = {
        i["title"]: i["state"]
        for i in (await admin.get("/api/v1/guest-invitations")).json()["invitations"]
    }
    assert states == {"Ended": "expired", "Withdrawn": "revoked", "Full": "full"}
    # Only the unknown codes count as failed logins (guessing); the others are refused.
    failed = await events(database, "login_failed")
    assert [e.detail for e in failed] == [{"reason": "guest_code"}] * 4


async def test_bad_inputs_are_422_with_sentences(admin: LoggedIn, accounts: AccountFactory) -> None:
    made = "/api/v1/guest-invitations"
    bad_invitations = [
        ({"title": " ", "seats": 3, "expires_at": in_hours(1)}, "body.title", "Give the"),
        ({"title": "a\nb", "seats": 3, "expires_at": in_hours(1)}, "body.title", "one line"),
        ({"title": "a\u2028b", "seats": 3, "expires_at": in_hours(1)}, "body.title", "one line"),
        (
            {"title": "Workshop \u202egnp.exe", "seats": 3, "expires_at": in_hours(1)},
            "body.title",
            "without invisible formatting characters",
        ),
        ({"title": "W", "seats": 0, "expires_at": in_hours(1)}, "body.seats", ""),
        ({"title": "W", "seats": 3, "expires_at": in_hours(-1)}, "body.expires_at", "future"),
        ({"title": "W", "seats": 3, "expires_at": in_hours(24 * 400)}, "body.expires_at", "year"),
        ({"title": "W", "seats": 3, "expires_at": "2026-12-31T18:00"}, "body.expires_at", ""),
        ({"title": "W", "seats": 3}, "body.expires_at", "required"),
        ({"title": "W", "seats": 3, "expires_at": in_hours(1), "code": "X"}, "body.code", ""),
        ({"title": "W" * 400, "seats": 3, "expires_at": in_hours(1)}, "body.title", ""),
        ({"title": "W", "seats": "many", "expires_at": in_hours(1)}, "body.seats", ""),
        ({"title": "W", "seats": 10**9, "expires_at": in_hours(1)}, "body.seats", ""),
        ({"seats": 3, "expires_at": in_hours(1)}, "body.title", "required"),
    ]
    for body, field, words in bad_invitations:
        answer = await admin.post(made, json=body)
        assert answer.status_code == 422, (body, answer.text)
        details = answer.json()["error"]["details"]
        assert [d["field"] for d in details] == [field], details
        assert words in details[0]["message"], details

    invitation = await invite(admin, seats=2)
    code = invitation["code"]
    bad_joins = [
        ({"display_name": "Ada", "password": "short"}, "body.password", "at least 10"),
        ({"display_name": "  ", "password": GUEST_PASSWORD}, "body.display_name", "Type your"),
        ({"display_name": "A\nB", "password": GUEST_PASSWORD}, "body.display_name", "one line"),
        # C1 controls, line and paragraph separators break lines too.
        ({"display_name": "A\x85B", "password": GUEST_PASSWORD}, "body.display_name", "one line"),
        ({"display_name": "A\u2029B", "password": GUEST_PASSWORD}, "body.display_name", "one line"),
        # Right-to-left overrides, isolates and other invisible characters make a name
        # read as another's.
        *(
            (
                {"display_name": f"Ada{hidden}Lovelace", "password": GUEST_PASSWORD},
                "body.display_name",
                "without invisible formatting characters",
            )
            for hidden in ("\u202e", "\u2067", "\u200b", "\u200f", "\ufeff")
        ),
        ({"password": GUEST_PASSWORD}, "body.display_name", "required"),
        ({"display_name": "A" * 300, "password": GUEST_PASSWORD}, "body.display_name", ""),
        ({"display_name": "Ada"}, "body.password", "required"),
        ({"display_name": "Ada", "password": "p" * 2000}, "body.password", ""),
        ({"display_name": "Ada", "password": GUEST_PASSWORD, "role": "admin"}, "body.role", ""),
        ({"display_name": "Ada", "password": GUEST_PASSWORD, "code": ""}, "body.code", ""),
        ({"display_name": "Ada", "password": GUEST_PASSWORD, "code": "K" * 65}, "body.code", ""),
    ]
    anonymous = accounts.anonymous()
    for body, field, words in bad_joins:
        answer = await anonymous.post("/api/v1/auth/guest", json={"code": code, **body})
        assert answer.status_code == 422, (body, answer.text)
        details = answer.json()["error"]["details"]
        assert [d["field"] for d in details] == [field], details
        assert words in details[0]["message"], details
    seen = (await admin.get(f"/api/v1/guest-invitations/{invitation['id']}")).json()
    assert seen["used"] == 0, "a refused join takes no seat"

    # A lone surrogate (JSON may escape one) is no character at all.
    lone = await anonymous.post(
        "/api/v1/auth/guest",
        content=b'{"code": "%s", "display_name": "Ada \\ud800", "password": "%s"}'
        % (code.encode(), GUEST_PASSWORD.encode()),
        headers={"Content-Type": "application/json"},
    )
    assert lone.status_code == 422, lone.text
    assert [d["field"] for d in lone.json()["error"]["details"]] == ["body.display_name"]
    seen = (await admin.get(f"/api/v1/guest-invitations/{invitation['id']}")).json()
    assert seen["used"] == 0, "a refused join takes no seat"

    # Names in every script, accents and emoji are names.
    name = "Zoë Ōtake-李 ليلى 🙂"
    joined_as = await join(accounts, code, name)
    assert joined_as.status_code == 200, joined_as.text
    assert joined_as.json()["user"]["display_name"] == name
    where = f"/api/v1/guest-invitations/{invitation['id']}"
    fewer = await admin.patch(where, json={"seats": 0})
    assert fewer.status_code == 422, fewer.text
    for body, field in (
        ({"title": "a\nb"}, "body.title"),
        ({"expires_at": in_hours(-1)}, "body.expires_at"),
        ({"expires_at": "tomorrow"}, "body.expires_at"),
        ({"code": "X"}, "body.code"),
    ):
        refused = await admin.patch(where, json=body)
        assert refused.status_code == 422, (body, refused.text)
        assert [d["field"] for d in refused.json()["error"]["details"]] == [field]
    for looked_up in ("", "K" * 65):
        found = await anonymous.get("/api/v1/guest-invitations/lookup", params={"code": looked_up})
        assert found.status_code == 422, (looked_up, found.text)
    fewer = await admin.patch(where, json={"title": "Renamed", "seats": 1})
    assert fewer.status_code == 200, fewer.text
    assert (fewer.json()["title"], fewer.json()["state"]) == ("Renamed", "full")
    assert (await admin.patch(where, json={"seats": 1})).status_code == 200
    assert (await admin.delete(where)).status_code == 200
    later = await admin.patch(where, json={"expires_at": in_hours(2)})
    assert later.status_code == 409, later.text
    assert "withdrawn" in later.json()["error"]["message"]
    assert (await admin.get("/api/v1/guest-invitations/987654")).status_code == 404


async def test_without_the_local_provider_no_invitation_is_made(
    admin: LoggedIn, settings: Settings, database: Database
) -> None:
    """Guests log in again with the form (``local``): without it, their account would be
    the one session they joined with."""
    settings.auth_providers = ["pam"]
    try:
        refused = await admin.post(
            "/api/v1/guest-invitations",
            json={"title": "Python workshop", "seats": 3, "expires_at": in_hours(8)},
        )
    finally:
        settings.auth_providers = ["local"]
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"] == {
        "code": "conflict",
        "message": "Guests log in again with a labgate password, which needs the provider "
        "'local' in auth_providers. Add it there to invite guests.",
    }
    async with database.read() as db:
        assert list(await db.scalars(select(GuestInvitation))) == []
    # With it, the same invitation is made.
    assert (await invite(admin))["state"] == "open"


async def test_guessing_codes_is_rate_limited_by_address(
    admin: LoggedIn, accounts: AccountFactory, settings: Settings
) -> None:
    invitation = await invite(admin)
    guesser = accounts.anonymous("192.0.2.7")
    for n in range(settings.login_max_failures_per_client):
        answer = await guesser.get(
            "/api/v1/guest-invitations/lookup", params={"code": f"AAAA-AAAA-{n:04d}"}
        )
        assert answer.status_code == 404, answer.text

    refused = await guesser.get(
        "/api/v1/guest-invitations/lookup", params={"code": invitation["code"]}
    )
    assert refused.status_code == 429, refused.text
    assert "Try again in" in refused.json()["error"]["message"]
    assert (await join(accounts, invitation["code"], client_ip="192.0.2.7")).status_code == 429
    # Others are not held up by one guesser.
    assert (await join(accounts, invitation["code"], client_ip="192.0.2.8")).status_code == 200


async def test_a_guests_launch_limits_are_the_guest_roles(
    admin: LoggedIn, accounts: AccountFactory, settings: Settings
) -> None:
    settings.local_resource = "everyone"
    guest = await joined(accounts, (await invite(admin))["code"])
    mine = (await guest.get("/api/v1/quotas/mine")).json()
    (role,) = mine["quotas"]
    assert (role["scope"], role["subject"]) == ("role", "guest")
    assert role["limits"] == {
        "max_sessions": settings.app_guest_max_sessions,
        "max_cores": settings.quota_guest_max_cores,
        "max_memory_gb": settings.quota_guest_max_memory_gb,
        "max_gpus": settings.quota_guest_max_gpus,
        "core_hours_per_month": settings.quota_guest_core_hours_per_month,
        "gpu_hours_per_month": settings.quota_guest_gpu_hours_per_month,
    }
    local = local_resource_of((await guest.get("/api/v1/resources")).json()["resources"])
    answer = await guest.post(
        "/api/v1/sessions",
        json={
            "template": "webapp",
            "launcher": "slurm",
            "resource_id": local["id"],
            "form": {"app_command": "sleep 300", "gpus": 1},
        },
    )
    assert answer.status_code == 409, answer.text
    error = answer.json()["error"]
    assert error["code"] == "quota_exceeded"
    assert error["message"].startswith("Your role's limit of 0 GPUs at once would be exceeded")


# -- the end of guests' accounts ---------------------------------------------------------------


async def test_past_its_end_an_account_has_no_login_and_the_pass_removes_it(
    admin: LoggedIn, accounts: AccountFactory, database: Database, state: AppState
) -> None:
    invitation = await invite(admin)
    guest = await joined(accounts, invitation["code"])
    name = guest.user["username"]
    token = await guest.post(
        "/api/v1/tokens", json={"name": "scripts", "scopes": ["read"], "expires_in_days": 1}
    )
    assert token.status_code == 201, token.text
    bearer = {"Authorization": f"Bearer {token.json()['secret']}"}
    assert (await accounts.anonymous().get("/api/v1/users/me", headers=bearer)).status_code == 200

    await end_now(database, name)

    assert (await guest.get("/api/v1/users/me")).status_code == 401
    assert (await accounts.anonymous().get("/api/v1/users/me", headers=bearer)).status_code == 401
    again = await accounts.anonymous().post(
        "/api/v1/auth/login", json={"username": name, "password": GUEST_PASSWORD}
    )
    assert again.status_code == 403, again.text
    assert again.json()["error"]["message"] == "This guest account has expired."
    assert await exists(database, name)

    assert await expire_guests(state) == [name]

    assert not await exists(database, name)
    (deleted,) = await events(database, "user_deleted")
    assert (deleted.target, deleted.actor) == (name, "guest-expiry")
    seen = (await admin.get(f"/api/v1/guest-invitations/{invitation['id']}")).json()
    assert (seen["used"], seen["guests"]) == (1, [])
    # Once is enough: the next pass (or another replica's) finds nothing to do.
    assert await expire_guests(state) == []


async def test_a_new_end_is_the_guests_too_and_withdrawing_can_end_them_now(
    admin: LoggedIn, accounts: AccountFactory, database: Database
) -> None:
    invitation = await invite(admin)
    where = f"/api/v1/guest-invitations/{invitation['id']}"
    ada = await joined(accounts, invitation["code"], "Ada")
    bob = await joined(accounts, invitation["code"], "Bob")
    later = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    changed = await admin.patch(where, json={"expires_at": later.isoformat()})
    assert changed.status_code == 200, changed.text
    assert {g["expires_at"] for g in changed.json()["guests"]} == {
        later.isoformat().replace("+00:00", "Z")
    }

    withdrawn = await admin.delete(where, params={"end_accounts": "true"})

    assert withdrawn.status_code == 200, withdrawn.text
    assert (withdrawn.json()["state"], withdrawn.json()["guests"]) == ("revoked", [])
    for guest in (ada, bob):
        assert (await guest.get("/api/v1/users/me")).status_code == 401
        assert not await exists(database, guest.user["username"])
    (event,) = await events(database, "guest_invitation_revoked")
    assert event.detail["accounts_ended"] == sorted([ada.user["username"], bob.user["username"]])
    assert {e.actor for e in await events(database, "user_deleted")} == {"boss"}


# -- their files on local (as root, real OS accounts) ------------------------------------------


@pytest.fixture
async def on_local(admin: LoggedIn, settings: Settings) -> AsyncIterator[tuple[int, list[str]]]:
    """``local`` as a root server has it for workshops: each user the OS account named
    like them, created at their first connection; the names to remove at the end."""
    skip_unless_root("guests' own OS accounts on local")
    settings.local_resource = "everyone"
    settings.local_create_accounts = True
    listing = (await admin.get("/api/v1/resources")).json()["resources"]
    local = local_resource_of(listing)["id"]
    changed = await admin.patch(
        f"/api/v1/resources/{local}", json={"account_rule": "{username}", "account_overrides": {}}
    )
    assert changed.status_code == 200, changed.text
    made: list[str] = []
    yield local, made
    for name in made:
        remove_account(name)


async def work_there(guest: LoggedIn, local: int) -> int:
    """The guest's notes in their home on ``local`` and a program left running; the
    OS account's uid."""
    started = await guest.post(
        f"/api/v1/resources/{local}/processes",
        json={"command": "echo mine > ~/notes.txt; exec sleep 600", "name": "work"},
    )
    assert started.status_code == 201, started.text
    entry = await eventually(
        lambda: _notes_written(guest.user["username"]), what="the guest's notes written"
    )
    return entry.pw_uid


def _notes_written(name: str) -> pwd.struct_passwd | None:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    return entry if (Path(entry.pw_dir) / "notes.txt").exists() else None


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
@pytest.mark.parametrize("setting", ["remove", "keep"])
async def test_a_guests_own_account_on_local_goes_or_stays_as_set(
    admin: LoggedIn,
    accounts: AccountFactory,
    database: Database,
    state: AppState,
    settings: Settings,
    on_local: tuple[int, list[str]],
    setting: str,
) -> None:
    local, made = on_local
    settings.guest_files_on_expiry = setting  # type: ignore[assignment]
    guest = await joined(accounts, (await invite(admin))["code"])
    name = guest.user["username"]
    made.append(name)
    uid = await work_there(guest, local)
    home = Path(pwd.getpwnam(name).pw_dir)
    assert pwd.getpwnam(name).pw_gecos == f"labgate user {name}"

    await end_now(database, name)
    assert await expire_guests(state) == [name]

    if setting == "remove":
        with pytest.raises(KeyError):
            pwd.getpwnam(name)
        assert not home.exists()
        assert processes_of(uid) == []
        assert not Path(f"/run/labgate/{uid}").exists()
        (event,) = await events(database, "guest_files_removed")
        assert event.detail == {"resource": "local", "account": name, "home": str(home)}
    else:
        assert (home / "notes.txt").read_text() == "mine\n"
        (event,) = await events(database, "guest_files_kept")
        assert event.detail["reason"] == "guest_files_on_expiry is keep"
    assert event.target == name


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_an_account_labgate_did_not_make_or_that_shares_its_home_stays(
    admin: LoggedIn,
    accounts: AccountFactory,
    database: Database,
    state: AppState,
    settings: Settings,
    on_local: tuple[int, list[str]],
) -> None:
    local, made = on_local
    settings.guest_files_on_expiry = "remove"
    code = (await invite(admin))["code"]

    # Made by an administrator before the guest came to local: theirs, not labgate's.
    first = await joined(accounts, code, "First")
    theirs = first.user["username"]
    made.append(theirs)
    subprocess.run(
        ["useradd", "--create-home", "--user-group", "--shell", "/bin/bash", theirs], check=True
    )
    await work_there(first, local)

    # Made by labgate, but another account was given the same home since.
    second = await joined(accounts, code, "Second")
    shared = second.user["username"]
    made.append(shared)
    await work_there(second, local)
    home = pwd.getpwnam(shared).pw_dir
    sharer = "lgt-" + os.urandom(3).hex()
    made.append(sharer)
    subprocess.run(["useradd", "--no-create-home", "--home-dir", home, sharer], check=True)

    for name in (theirs, shared):
        await end_now(database, name)
    assert await expire_guests(state) == sorted([theirs, shared])

    reasons = {e.target: e.detail["reason"] for e in await events(database, "guest_files_kept")}
    assert reasons == {
        theirs: f"labgate did not create the OS account {theirs} for {theirs}",
        shared: f"the home {home} holds the home of {sharer} too",
    }
    for name in (theirs, shared):
        assert (Path(pwd.getpwnam(name).pw_dir) / "notes.txt").exists()
    assert await events(database, "guest_files_removed") == []
