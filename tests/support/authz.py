"""The authorisation matrix's world: who calls (:class:`Identity`), the things they call
on (made by :class:`World`, owned by the users the identities act for), and how one call
is made and its answer read (:func:`call`), for every door of the app: its HTTP routes,
its WebSockets, and the proxy's ``/s/<id>/...`` on labgate's origin and on an app's own
origin, which live in :mod:`labgate.proxy.asgi`'s middleware, not in the route table
(:data:`PSEUDO_ROUTES`).

Nothing here connects anywhere: resources point at a closed port of 127.0.0.1, so a
caller who passes the door gets what a resource that cannot be reached answers.

A WebSocket's answer is read as a status, like labgate's own close codes: a handshake
closed with 4xxx is status xxx; one accepted whose first message reports a failure
(``{"type": "failed", "error": {"code": ...}}``) is that error's status; one accepted
otherwise is 101.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlencode

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute, APIWebSocketRoute, iter_route_contexts
from sqlalchemy import select
from starlette.routing import Mount, Route

from labgate.accounts.groups import add_member, create_group, remove_member
from labgate.accounts.guests import create_invitation
from labgate.accounts.users import create_user, update_user
from labgate.audit import Actor
from labgate.auth.cookies import SESSION_COOKIE
from labgate.auth.principal import Scope
from labgate.auth.sessions import create_session
from labgate.auth.tokens import create_token
from labgate.db.engine import Database
from labgate.db.models import (
    Announcement,
    AuthMethod,
    ExtensionState,
    Favourite,
    Group,
    HostKey,
    Membership,
    Notification,
    Role,
    SessionExtension,
    SessionState,
    Share,
    ShareInvitation,
    ShareRole,
    Transfer,
    TransferState,
    Upload,
    User,
)
from labgate.db.models import AppSession as AppSessionRow
from labgate.db.types import utcnow
from labgate.proxy.origins import CONFIRM_PATH, ENTER_PATH, SIGN_IN_PATH
from labgate.proxy.routes import PREFIX
from labgate.resources import catalog
from labgate.sessions.tokens import new_session_id
from labgate.settings import Settings
from labgate.state import AppState
from tests.support.rfb import TEMPLATE_ID as DESKTOP_TEMPLATE

PASSWORD = "matrix password 1"
# Not loopback: /metrics is open to loopback clients.
CLIENT = ("192.0.2.10", 40000)
LABGATE_HOST = "testserver"
APP_DOMAIN = "{session}.apps.testserver"
# How long a WebSocket that was accepted may take to say it failed.
SOCKET_ANSWER_SECONDS = 3.0

# The doors that are not in the app's route table: the proxy's, by its own constants.
# (method, path); "WS" for a WebSocket; paths on an app's own origin start with ORIGIN.
ORIGIN = "{app_origin}"
PROXY_PATH = PREFIX + "{session_id}/{path}"
PSEUDO_ROUTES = frozenset(
    {
        ("GET", PROXY_PATH),
        ("POST", PROXY_PATH),
        ("WS", PROXY_PATH),
        ("GET", ORIGIN + PROXY_PATH),
        ("POST", ORIGIN + PROXY_PATH),
        ("WS", ORIGIN + PROXY_PATH),
        ("GET", ORIGIN + ENTER_PATH),
        ("GET", ORIGIN + SIGN_IN_PATH),
    }
)
# The same labgate-origin path once more, on an installation with app origins: browsers
# are sent on to the app's origin from there.
REDIRECTING_PROXY_PATH = "{with_app_domain}" + PROXY_PATH
# labgate's side of an app origin's sign-in, there only with app origins.
CONFIRM = "{with_app_domain}" + CONFIRM_PATH
PSEUDO_ROUTES |= {("GET", REDIRECTING_PROXY_PATH), ("GET", CONFIRM)}


class Identity(StrEnum):
    """Who calls, and for whose things (the *subject*: see :data:`SUBJECT`)."""

    ANONYMOUS = "anonymous"
    OTHER = "other_user"  # an ordinary user, on the owner's things
    READ_TOKEN = "read_token"  # the owner's API token with the read scope only
    MUST_CHANGE_PASSWORD = "must_change_password"  # on their own things
    DISABLED = "disabled"  # their browser session from before, on their own things
    DISABLED_TOKEN = "disabled_token"  # their API token from before, on their own things
    DEMOTED_ADMIN = "demoted_admin"  # their login from when they were admin; owner's things
    # Their login, on their own things on a shared resource whose group they have left.
    REMOVED_MEMBER = "removed_member"
    OWNER = "owner"
    ADMIN = "admin"  # on the owner's things
    # The owner's running session is shared with them: in the user role directly, in the
    # guest role through a group, and as support staff (the owner lets support in).
    SHARED_USER = "shared_user"
    SHARED_GUEST = "shared_guest"
    SUPPORT_MEMBER = "support_member"


class Subject(StrEnum):
    """Users who own a full set of things."""

    OWNER = "owner"
    MUST_CHANGE_PASSWORD = "pwchange"
    DISABLED = "disabled"
    REMOVED = "removed"  # on a shared resource


# The group that shares the removed member's resource, until they leave it.
SHARING_GROUP = "sharing"
# The group the owner's running session is shared with in the guest role.
VIEWERS_GROUP = "viewers"
# The support staff's group (the setting support_group).
SUPPORT_GROUP = "support"


SUBJECT: Mapping[Identity, Subject] = {
    Identity.MUST_CHANGE_PASSWORD: Subject.MUST_CHANGE_PASSWORD,
    Identity.DISABLED: Subject.DISABLED,
    Identity.DISABLED_TOKEN: Subject.DISABLED,
    Identity.REMOVED_MEMBER: Subject.REMOVED,
}


def subject_of(identity: Identity) -> Subject:
    return SUBJECT.get(identity, Subject.OWNER)


class Thing(StrEnum):
    """What a path parameter names; one of each is made per subject (more on demand)."""

    RESOURCE = "resource"
    HOST_KEY = "host_key"
    HOP = "hop"
    PROCESS = "process"
    RUNNING_SESSION = "running_session"
    ENDED_SESSION = "ended_session"
    DESKTOP_SESSION = "desktop_session"  # running, its app a desktop
    TOKEN = "token"
    UPLOAD = "upload"
    TRANSFER = "transfer"
    PENDING_EXTENSION = "pending_extension"
    SHARE = "share"  # of the running session, with a user of its own
    INVITATION = "invitation"  # to the running session
    USER = "user"  # an administrator's target
    GROUP = "group"
    APP_PATH = "app_path"
    FILE = "file"  # a static file
    NOTIFICATION = "notification"  # in the subject's notification centre
    ANNOUNCEMENT = "announcement"
    FAVOURITE = "favourite"  # the subject's resource, starred
    PRESET = "preset"  # a preset to launch on the subject's resource
    GUEST_INVITATION = "guest_invitation"  # an administrator's (the subject's in name)


# Which thing a path parameter names, unless the table's row says otherwise.
PARAMETER_THINGS: Mapping[str, Thing] = {
    "resource_id": Thing.RESOURCE,
    "key_id": Thing.HOST_KEY,
    "hop": Thing.HOP,
    "process_id": Thing.PROCESS,
    "session_id": Thing.RUNNING_SESSION,
    "token_id": Thing.TOKEN,
    "upload_id": Thing.UPLOAD,
    "transfer_id": Thing.TRANSFER,
    "extension_id": Thing.PENDING_EXTENSION,
    "share_id": Thing.SHARE,
    "invitation_id": Thing.INVITATION,
    "username": Thing.USER,
    "name": Thing.GROUP,
    "path": Thing.APP_PATH,
    "notification_id": Thing.NOTIFICATION,
    "announcement_id": Thing.ANNOUNCEMENT,
    "favourite_id": Thing.FAVOURITE,
}


# -- the app's doors ------------------------------------------------------------------------


def route_keys(app: FastAPI) -> set[tuple[str, str]]:
    """Every door in ``app``'s route table as (method, path); "WS" for WebSockets, HEAD
    left out (it follows GET), a mounted directory as GET of ``<mount>/{path:path}``."""
    keys: set[tuple[str, str]] = set()
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        path = str(context.path)
        if isinstance(route, APIWebSocketRoute):
            keys.add(("WS", path))
        elif isinstance(route, APIRoute | Route):
            keys.update((method, path) for method in (context.methods or ()) if method != "HEAD")
        elif isinstance(route, Mount):
            keys.add(("GET", path + "/{path:path}"))
        else:
            raise AssertionError(f"the matrix does not know this kind of route: {route!r}")
    return keys


# -- credentials and things -----------------------------------------------------------------


@dataclass(frozen=True)
class Credential:
    """How one identity proves who it is: a browser session (cookie, CSRF token and the
    login session's id, for app-origin cookies) or an API token; neither for anonymous."""

    user_id: int | None = None
    cookie: str = ""
    csrf: str = ""
    login_id: int | None = None
    token: str = ""

    def headers(self, method: str) -> dict[str, str]:
        if self.token:
            return {"authorization": f"Bearer {self.token}"}
        if not self.cookie:
            return {}
        headers = {"cookie": f"{SESSION_COOKIE}={self.cookie}"}
        if method not in ("GET", "HEAD", "WS"):
            headers["x-csrf-token"] = self.csrf
        return headers


@dataclass
class Things:
    """One subject's things, by kind, as they go into a path."""

    values: dict[Thing, str] = field(default_factory=dict)


class World:
    """Users in every condition the matrix needs, each subject's things, and the
    credentials of every identity. Made once per database; :meth:`make` adds a thing
    for a call that uses its thing up (a delete, a stop)."""

    def __init__(self, state: AppState, database: Database, settings: Settings) -> None:
        self.state = state
        self.database = database
        self.settings = settings
        self.users: dict[str, User] = {}
        self.subjects: dict[Subject, int] = {}
        self.things: dict[Subject, Things] = {}
        self.credentials: dict[Identity, Credential] = {}
        self._serial = 0
        self.closed_port = 1  # nothing listens on port 1 of 127.0.0.1 here

    def _next(self) -> int:
        self._serial += 1
        return self._serial

    # -- building -------------------------------------------------------------------------

    async def build(self) -> None:
        for name, role in (
            ("owner", Role.USER),
            ("other", Role.USER),
            ("pwchange", Role.USER),
            ("disabled", Role.USER),
            ("demoted", Role.ADMIN),
            ("admin", Role.ADMIN),
            ("target", Role.USER),
            ("removed", Role.USER),
            ("shareduser", Role.USER),
            ("sharedguest", Role.USER),
            ("supporter", Role.USER),
        ):
            self.users[name] = await self._user(name, role)
        self.subjects = {
            Subject.OWNER: self.users["owner"].id,
            Subject.MUST_CHANGE_PASSWORD: self.users["pwchange"].id,
            Subject.DISABLED: self.users["disabled"].id,
            Subject.REMOVED: self.users["removed"].id,
        }
        async with self.database.session() as db:
            group = await create_group(db, name=SHARING_GROUP)
            removed = await db.get(User, self.users["removed"].id)
            assert removed is not None
            await add_member(db, group, removed)
        for subject in Subject:
            self.things[subject] = Things()
            for thing in Thing:  # in order: later things hang on earlier ones
                self.things[subject].values[thing] = await self.make(thing, subject)
        self.credentials = {
            Identity.ANONYMOUS: Credential(),
            Identity.OTHER: await self.login("other"),
            Identity.READ_TOKEN: await self.api_token("owner", [Scope.READ]),
            Identity.MUST_CHANGE_PASSWORD: await self.login("pwchange"),
            Identity.DISABLED: await self.login("disabled"),
            Identity.DISABLED_TOKEN: await self.api_token("disabled", [Scope.READ, Scope.WRITE]),
            Identity.DEMOTED_ADMIN: await self.login("demoted"),
            Identity.REMOVED_MEMBER: await self.login("removed"),
            Identity.OWNER: await self.login("owner"),
            Identity.ADMIN: await self.login("admin"),
            Identity.SHARED_USER: await self.login("shareduser"),
            Identity.SHARED_GUEST: await self.login("sharedguest"),
            Identity.SUPPORT_MEMBER: await self.login("supporter"),
        }
        await self._share_the_owners_session()
        # The conditions, made the way administrators make them, after the logins.
        async with self.database.session() as db:
            disabled = await db.get(User, self.users["disabled"].id)
            demoted = await db.get(User, self.users["demoted"].id)
            assert disabled is not None
            assert demoted is not None
            await update_user(db, self.settings, disabled, disabled=True)
            await update_user(db, self.settings, demoted, role=Role.USER)
            pwchange = await db.get(User, self.users["pwchange"].id)
            assert pwchange is not None
            pwchange.must_change_password = True
            sharing = await db.scalar(select(Group).where(Group.name == SHARING_GROUP))
            removed = await db.get(User, self.users["removed"].id)
            assert sharing is not None
            assert removed is not None
            await remove_member(db, sharing, removed)

    async def _share_the_owners_session(self) -> None:
        """The owner's running sessions (an app, a desktop): shared with ``shareduser``
        (user role), with the viewers group (``sharedguest``'s; guest role), and open to
        support staff."""
        owned = self.things[Subject.OWNER].values
        session_ids = [owned[Thing.RUNNING_SESSION], owned[Thing.DESKTOP_SESSION]]
        async with self.database.session() as db:
            viewers = await create_group(db, name=VIEWERS_GROUP)
            staff = await create_group(db, name=SUPPORT_GROUP)
            guest = await db.get(User, self.users["sharedguest"].id)
            supporter = await db.get(User, self.users["supporter"].id)
            assert guest is not None
            assert supporter is not None
            await add_member(db, viewers, guest)
            await add_member(db, staff, supporter)
            for session_id in session_ids:
                db.add(
                    Share(
                        app_session_id=session_id,
                        user_id=self.users["shareduser"].id,
                        role=ShareRole.USER.value,
                    )
                )
                db.add(Share(app_session_id=session_id, group_id=viewers.id, role="guest"))
                session = await db.get(AppSessionRow, session_id)
                assert session is not None
                session.support_allowed = True

    async def _user(self, name: str, role: Role) -> User:
        async with self.database.session() as db:
            return await create_user(
                db, self.settings, username=name, password=PASSWORD, role=role, display_name=name
            )

    async def login(self, username: str) -> Credential:
        """A new browser session of ``username``, as logging in makes one."""
        user = self.users[username]
        async with self.database.session() as db:
            row = await db.get(User, user.id)
            assert row is not None
            cookie, session = await create_session(
                db, row, self.settings, client=CLIENT[0], user_agent="matrix"
            )
            return Credential(
                user_id=user.id, cookie=cookie, csrf=session.csrf_token, login_id=session.id
            )

    async def api_token(self, username: str, scopes: list[Scope]) -> Credential:
        user_id = self.users[username].id
        secret, _ = await self._token(user_id, scopes)
        return Credential(user_id=user_id, token=secret)

    async def _token(self, user_id: int, scopes: list[Scope]) -> tuple[str, int]:
        """A new API token of the user's: its secret and id."""
        async with self.database.session() as db:
            user = await db.get(User, user_id)
            assert user is not None
            secret, token = await create_token(
                db,
                self.settings,
                user,
                name=f"matrix {self._next()}",
                scopes=scopes,
                expires_in_days=30,
                grantable=frozenset(Scope),
                actor=Actor(user.id, user.username),
            )
            return secret, token.id

    async def fresh_credential(self, identity: Identity) -> Credential:
        """Another credential like ``identity``'s, for a call that ends the one it uses."""
        current = self.credentials[identity]
        if current.user_id is None:
            return current
        username = next(n for n, u in self.users.items() if u.id == current.user_id)
        if current.token:
            scopes = [Scope.READ] if identity is Identity.READ_TOKEN else [Scope.READ, Scope.WRITE]
            return await self.api_token(username, scopes)
        return await self.login(username)

    async def make(self, thing: Thing, subject: Subject) -> str:
        """A new ``thing`` of ``subject``'s, as it goes into a path."""
        owner_id = self.subjects[subject]
        n = self._next()
        if thing is Thing.RESOURCE:
            return str(await self._resource(owner_id, n, shared=subject is Subject.REMOVED))
        if thing is Thing.HOST_KEY:
            resource_id = int(self.things[subject].values[Thing.RESOURCE])
            async with self.database.session() as db:
                key = HostKey(
                    resource_id=resource_id,
                    host="127.0.0.1",
                    port=self.closed_port + n,
                    public_key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMatrixKey",
                    fingerprint=f"SHA256:matrix{n}",
                )
                db.add(key)
                await db.flush()
                return str(key.id)
        if thing is Thing.HOP:
            return "target"
        if thing is Thing.PROCESS:
            return "p1"  # the resource cannot be reached: no process is ever found
        if thing in (Thing.RUNNING_SESSION, Thing.ENDED_SESSION):
            return await self._app_session(subject, running=thing is Thing.RUNNING_SESSION)
        if thing is Thing.DESKTOP_SESSION:
            return await self._app_session(subject, running=True, template=DESKTOP_TEMPLATE)
        if thing is Thing.TOKEN:
            _, token_id = await self._token(owner_id, [Scope.READ])
            return str(token_id)
        if thing is Thing.UPLOAD:
            upload_id = f"matrixupload{n:08d}"
            async with self.database.session() as db:
                db.add(
                    Upload(
                        id=upload_id,
                        user_id=owner_id,
                        resource_id=int(self.things[subject].values[Thing.RESOURCE]),
                        path=b"/tmp/matrix-upload",
                        size=10,
                        received=0,
                    )
                )
            return upload_id
        if thing is Thing.TRANSFER:
            transfer_id = f"matrixtransfer{n:08d}"
            resource_id = int(self.things[subject].values[Thing.RESOURCE])
            async with self.database.session() as db:
                db.add(
                    Transfer(
                        id=transfer_id,
                        user_id=owner_id,
                        source_resource_id=resource_id,
                        destination_resource_id=resource_id,
                        paths=[base64.b64encode(b"/tmp/a").decode()],
                        destination_dir=b"/tmp/b",
                        state=TransferState.FAILED.value,
                        runner="matrix",
                    )
                )
            return transfer_id
        if thing is Thing.PENDING_EXTENSION:
            session_id = self.things[subject].values[Thing.RUNNING_SESSION]
            async with self.database.session() as db:
                extension = SessionExtension(
                    session_id=session_id,
                    hours=1,
                    reason="matrix",
                    state=ExtensionState.PENDING.value,
                )
                db.add(extension)
                await db.flush()
                return str(extension.id)
        if thing in (Thing.SHARE, Thing.INVITATION):
            session_id = self.things[subject].values[Thing.RUNNING_SESSION]
            if thing is Thing.INVITATION:
                async with self.database.session() as db:
                    invitation = ShareInvitation(
                        app_session_id=session_id,
                        role=ShareRole.USER.value,
                        token_hash=f"{n:064d}",
                        expires_at=utcnow() + timedelta(hours=1),
                        max_uses=1,
                        uses=0,
                    )
                    db.add(invitation)
                    await db.flush()
                    return str(invitation.id)
            name = f"recipient{n}"
            await self._user(name, Role.USER)
            async with self.database.session() as db:
                user_id = await db.scalar(select(User.id).where(User.username == name))
                share = Share(app_session_id=session_id, user_id=user_id, role="user")
                db.add(share)
                await db.flush()
                return str(share.id)
        if thing is Thing.USER:
            name = f"target{n}"
            await self._user(name, Role.USER)
            return name
        if thing is Thing.GROUP:
            name = f"group{n}"
            async with self.database.session() as db:
                group = Group(name=name)
                db.add(group)
                await db.flush()
                member = await db.scalar(
                    select(User.id).where(User.username == self.things[subject].values[Thing.USER])
                )
                db.add(Membership(group_id=group.id, user_id=member))
            return name
        if thing is Thing.APP_PATH:
            return "lab/api/status"
        if thing is Thing.FILE:
            return "no-such-file.js"
        if thing is Thing.NOTIFICATION:
            async with self.database.session() as db:
                note = Notification(user_id=owner_id, kind="share", title=f"matrix {n}")
                db.add(note)
                await db.flush()
                return str(note.id)
        if thing is Thing.ANNOUNCEMENT:
            async with self.database.session() as db:
                announcement = Announcement(
                    text=f"matrix {n}", ends_at=utcnow() + timedelta(hours=1)
                )
                db.add(announcement)
                await db.flush()
                return str(announcement.id)
        if thing is Thing.GUEST_INVITATION:
            async with self.database.session() as db:
                guests, _code = await create_invitation(
                    db,
                    self.state.vault,
                    self.state.settings,
                    title=f"matrix {n}",
                    seats=5,
                    expires_at=utcnow() + timedelta(hours=1),
                    actor=Actor(None, "matrix"),
                )
                return str(guests.id)
        if thing in (Thing.FAVOURITE, Thing.PRESET):
            resource_id = int(self.things[subject].values[Thing.RESOURCE])
            preset = {
                "template": "jupyterlab",
                "launcher": "direct",
                "resource_id": resource_id,
                "experiment_id": None,
                "form": {},
                "title": "",
            }
            async with self.database.session() as db:
                favourite = Favourite(
                    user_id=owner_id,
                    kind=thing.value if thing is Thing.PRESET else "resource",
                    target=f"matrix{n}",
                    title=f"matrix {n}",
                    preset=preset if thing is Thing.PRESET else None,
                )
                db.add(favourite)
                await db.flush()
                return str(favourite.id)
        raise AssertionError(f"the matrix cannot make a {thing}")

    async def _resource(self, owner_id: int, n: int, *, shared: bool) -> int:
        """The user's own resource, or a shared one of :data:`SHARING_GROUP`'s."""
        async with self.database.session() as db:
            user = await db.get(User, owner_id)
            assert user is not None
            resource = await catalog.create_resource(
                db,
                owner_id=None if shared else owner_id,
                fields={
                    "name": f"matrix {n}",
                    "host": "127.0.0.1",
                    "port": self.closed_port,
                    "username": "nobody",
                    "auth_method": AuthMethod.PASSWORD.value,
                },
                hops=[],
                groups=[SHARING_GROUP] if shared else [],
                actor=Actor(user.id, user.username),
            )
            return resource.id

    async def _app_session(
        self, subject: Subject, *, running: bool, template: str = "tensorboard"
    ) -> str:
        session_id = new_session_id()
        now = utcnow()
        token = self.state.session_tokens.new()
        async with self.database.session() as db:
            db.add(
                AppSessionRow(
                    id=session_id,
                    user_id=self.subjects[subject],
                    resource_id=int(self.things[subject].values[Thing.RESOURCE]),
                    template=template,
                    launcher="direct",
                    title="matrix",
                    form={},
                    state=(SessionState.RUNNING if running else SessionState.STOPPED).value,
                    message="",
                    launcher_state={"pid": 999999} if running else {},
                    endpoint={"kind": "tcp", "host": "127.0.0.1", "port": self.closed_port}
                    if running
                    else None,
                    sealed_token=self.state.session_tokens.seal(token, session_id),
                    progress=[],
                    log_tail="",
                    created_at=now,
                    ready_at=now if running else None,
                    ended_at=None if running else now,
                    last_activity_at=now,
                    idle_minutes=0,
                    ends_at=now + timedelta(hours=8) if running else None,
                    lease_owner="",
                    updated_at=now,
                )
            )
        return session_id


# -- one call -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """What a call sends besides the path: a query, a JSON body or raw bytes, and for a
    WebSocket the first message once it is accepted."""

    query: Mapping[str, Any] = field(default_factory=dict)
    json: Any = None
    content: bytes | None = None
    first_message: Any = None
    # A socket that is accepted first and says in its first message why it refuses.
    listen: bool = False


def fill(template: str, values: Mapping[str, str]) -> str:
    """``template`` with its ``{name}`` and ``{name:converter}`` parameters replaced."""
    path = template
    for name, value in values.items():
        path = path.replace("{" + name + ":path}", value).replace("{" + name + "}", value)
    assert "{" not in path, f"a parameter of {template} has no value: {path}"
    return path


def parameters(template: str) -> list[str]:
    names = []
    for piece in template.split("{")[1:]:
        names.append(piece.split("}")[0].split(":")[0])
    return names


@dataclass(frozen=True)
class Door:
    """Where a call goes: which app (with or without app origins), which host, which path."""

    app: Any
    host: str
    path: str


@dataclass(frozen=True)
class Call:
    method: str
    door: Door
    credential: Credential
    request: Request
    # On an app's origin: the browser's cookies there ("name=value").
    app_cookie: str = ""

    def headers(self) -> dict[str, str]:
        headers = self.credential.headers(self.method)
        if self.app_cookie:
            headers = {"cookie": self.app_cookie}
            if self.credential.token:
                headers["authorization"] = f"Bearer {self.credential.token}"
        return headers


def client(app: Any) -> httpx.AsyncClient:
    """An HTTP client for calls into ``app`` (from a client address that is not loopback)."""
    transport = httpx.ASGITransport(app=app, client=CLIENT)
    return httpx.AsyncClient(transport=transport, base_url=f"http://{LABGATE_HOST}")


async def answer(call: Call, http: httpx.AsyncClient) -> int:
    """The status the call is answered with (see the module's docstring for sockets);
    ``http``, a :func:`client` of the call's app, keeps no cookie from it."""
    if call.method == "WS":
        return await _socket_answer(call)
    try:
        response = await http.request(
            call.method,
            f"http://{call.door.host}{call.door.path}",
            params=dict(call.request.query),
            json=call.request.json,
            content=call.request.content,
            headers=call.headers(),
        )
    finally:
        http.cookies.clear()
    return response.status_code


# The status of an error code a WebSocket reports after accepting.
_FAILED_STATUS = {
    "not_authenticated": 401,
    "forbidden": 403,
    "password_change_required": 403,
    "csrf_failed": 403,
    "not_found": 404,
}


async def _socket_answer(call: Call) -> int:
    headers = [(b"host", call.door.host.encode())]
    headers += [(k.encode(), v.encode()) for k, v in call.headers().items()]
    scope: dict[str, Any] = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "scheme": "ws",
        "path": call.door.path,
        "raw_path": call.door.path.encode(),
        "root_path": "",
        "query_string": urlencode(dict(call.request.query)).encode(),
        "headers": headers,
        "client": CLIENT,
        "server": (call.door.host, 80),
        "subprotocols": [],
        "state": {},
    }
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await inbox.put({"type": "websocket.connect"})
    app = asyncio.create_task(call.door.app(scope, inbox.get, outbox.put))
    try:
        first = await asyncio.wait_for(outbox.get(), SOCKET_ANSWER_SECONDS)
        if first["type"] == "websocket.close":
            code = int(first.get("code", 1000))
            return code - 4000 if 4000 <= code < 5000 else code
        if first["type"] == "websocket.http.response.start":
            return int(first["status"])
        assert first["type"] == "websocket.accept", first
        if not call.request.listen:
            return 101
        if call.request.first_message is not None:
            text = json.dumps(call.request.first_message)
            await inbox.put({"type": "websocket.receive", "text": text})
        return await _after_accept(outbox)
    finally:
        await inbox.put({"type": "websocket.disconnect", "code": 1000})
        app.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await app


async def _after_accept(outbox: asyncio.Queue[dict[str, Any]]) -> int:
    """101, unless the socket's first message (within a moment) says it failed."""
    try:
        message = await asyncio.wait_for(outbox.get(), SOCKET_ANSWER_SECONDS)
    except TimeoutError:
        return 101
    if message["type"] == "websocket.close":
        code = int(message.get("code", 1000))
        return code - 4000 if 4000 <= code < 5000 else 101
    text = message.get("text")
    if not text:
        return 101
    with contextlib.suppress(ValueError):
        sent = json.loads(text)
        if isinstance(sent, dict) and sent.get("type") == "failed":
            error = str((sent.get("error") or {}).get("code", ""))
            return _FAILED_STATUS.get(error, 502)
    return 101
