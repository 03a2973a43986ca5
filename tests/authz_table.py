"""THE authorisation table: for every door of labgate (each route of the app's route
table, each WebSocket, and the proxy's doors, see ``tests/support/authz.py``), what each
identity is answered. ``tests/test_authz_matrix.py`` calls every cell and fails when a
door has no row here, or a row names a door that is gone.

How to read a row: a *pattern* names who may pass (below), with the scope the door needs
(``read`` or ``write``) and whether a user who must still replace a one-time password
may pass (``before_password_change``, as in :mod:`labgate.auth.policy`). Each identity's
answer is one of:

- ``ALLOW``: passes and is served (2xx, 3xx; 101 for a socket);
- ``REACH``: passes the door; what follows is the feature's business, which here is a
  resource that cannot be reached, a process that is not there, a wrong current
  password... (2xx, 3xx, 101, or 400/404/409/410/413/422/429/502/503/504/507);
- ``LOGIN``: 401 (4401 for a socket);
- ``DENY``: 403 (4403);
- ``HIDE``: 403 or 404: someone else's thing, refused without showing more;
- ``LOST``: 403, 404, 409 or 410: access to the resource was lost, so the session there
  is refused, or has been stopped already.

A cell that fails only because a fix has not landed yet is wrapped in ``pending(...)``,
naming the fix: it runs as a strict xfail, so it fails once the fix lands, and the
marker must then be removed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from labgate.proxy.origins import ENTER_PATH, SIGN_IN_PATH
from tests.support.authz import (
    CONFIRM,
    ORIGIN,
    PROXY_PATH,
    REDIRECTING_PROXY_PATH,
    Identity,
    Request,
    Thing,
)

I = Identity  # noqa: E741 -- short names keep the rows on one line


@dataclass(frozen=True)
class Expect:
    name: str
    statuses: frozenset[int]
    pending: str = ""

    def accepts(self, status: int) -> bool:
        return status in self.statuses


_SERVED = frozenset(range(200, 400)) | {101}
ALLOW = Expect("ALLOW", _SERVED)
REACH = Expect("REACH", _SERVED | {400, 404, 409, 410, 413, 422, 429, 502, 503, 504, 507})
LOGIN = Expect("LOGIN", frozenset({401}))
DENY = Expect("DENY", frozenset({403}))
HIDE = Expect("HIDE", frozenset({403, 404}))
LOST = Expect("LOST", frozenset({403, 404, 409, 410}))


def pending(expect: Expect, fix: str) -> Expect:
    """``expect``, which holds once ``fix`` (another piece of work) has landed."""
    return Expect(expect.name, expect.statuses, pending=fix)


@dataclass(frozen=True)
class Row:
    """One door: what each identity gets, what a call sends, which path parameters name
    something other than their usual thing, and which things (or the credential, as
    ``"credential"``) a call uses up, so that each call gets its own."""

    expect: Mapping[Identity, Expect]
    request: Request = field(default_factory=Request)
    things: Mapping[str, Thing] = field(default_factory=dict)
    fresh: frozenset[str] = frozenset()
    values: Mapping[str, str] = field(default_factory=dict)


def _row(expect: dict[Identity, Expect], **kwargs: Any) -> Row:
    missing = set(Identity) - set(expect)
    assert not missing, f"a row without an answer for {missing}"
    fresh = kwargs.pop("fresh", ())
    return Row(expect=expect, fresh=frozenset(fresh), **kwargs)


def public(**kwargs: Any) -> Row:
    """Open to everyone, logged in or not."""
    return _row(dict.fromkeys(Identity, ALLOW), **kwargs)


def own_account(
    scope: str, *, before_password_change: bool = False, allowed: Expect = ALLOW, **kwargs: Any
) -> Row:
    """The caller's own account and what hangs on it (their tokens, preferences, lists of
    their things): every logged-in, enabled user, with the scope it needs."""
    return _row(
        {
            I.ANONYMOUS: LOGIN,
            I.OTHER: allowed,
            I.READ_TOKEN: allowed if scope == "read" else DENY,
            I.MUST_CHANGE_PASSWORD: allowed if before_password_change else DENY,
            I.DISABLED: LOGIN,
            I.DISABLED_TOKEN: LOGIN,
            I.DEMOTED_ADMIN: allowed,
            I.REMOVED_MEMBER: allowed,
            I.OWNER: allowed,
            I.ADMIN: allowed,
            I.SHARED_USER: allowed,
            I.SHARED_GUEST: allowed,
            I.SUPPORT_MEMBER: allowed,
        },
        **kwargs,
    )


def admins_only(*, allowed: Expect = ALLOW, **kwargs: Any) -> Row:
    """Administrators only (a login from before a demotion is an ordinary user's)."""
    return _row(
        {
            I.ANONYMOUS: LOGIN,
            I.OTHER: DENY,
            I.READ_TOKEN: DENY,
            I.MUST_CHANGE_PASSWORD: DENY,
            I.DISABLED: LOGIN,
            I.DISABLED_TOKEN: LOGIN,
            I.DEMOTED_ADMIN: DENY,
            I.REMOVED_MEMBER: DENY,
            I.OWNER: DENY,
            I.ADMIN: allowed,
            I.SHARED_USER: DENY,
            I.SHARED_GUEST: DENY,
            I.SUPPORT_MEMBER: DENY,
        },
        **kwargs,
    )


def owners_thing(
    scope: str,
    *,
    admins: Expect = HIDE,
    lost: Expect = HIDE,
    shared: Expect = HIDE,
    owner: Expect = REACH,
    **kwargs: Any,
) -> Row:
    """Something of the owner's (the caller's own, for those who act on their own things):
    the owner with the scope it needs (as ``owner``); others are refused; administrators
    as ``admins`` (they do not see others' private resources, but may act on others'
    sessions); a user removed from a shared resource's group, on their things there, as
    ``lost``; those the owner's running session is shared with as ``shared`` (only what
    a session's recipients may do is not refused to them)."""
    return _row(
        {
            I.ANONYMOUS: LOGIN,
            I.OTHER: HIDE,
            I.READ_TOKEN: REACH if scope == "read" else DENY,
            I.MUST_CHANGE_PASSWORD: DENY,
            I.DISABLED: LOGIN,
            I.DISABLED_TOKEN: LOGIN,
            I.DEMOTED_ADMIN: HIDE,
            I.REMOVED_MEMBER: lost,
            I.OWNER: owner,
            I.ADMIN: admins,
            I.SHARED_USER: shared,
            I.SHARED_GUEST: shared,
            I.SUPPORT_MEMBER: shared,
        },
        **kwargs,
    )


def proxied(*, guest: Expect = REACH, shared: Expect = REACH, **kwargs: Any) -> Row:
    """An app through the proxy: USE_SESSION (write, no one-time password pending, the
    session's owner, or those it is shared with in their role: administrators stop
    sessions, they do not work in them), and only while the owner may still use the
    session's resource. A GUEST only looks (``guest``: what they get here); those it is
    shared with get ``shared`` (the others' pages' rule, below)."""
    return _row(
        {
            I.ANONYMOUS: LOGIN,
            I.OTHER: HIDE,
            I.READ_TOKEN: DENY,
            I.MUST_CHANGE_PASSWORD: DENY,
            I.DISABLED: LOGIN,
            I.DISABLED_TOKEN: LOGIN,
            I.DEMOTED_ADMIN: HIDE,
            I.REMOVED_MEMBER: LOST,
            I.OWNER: REACH,
            I.ADMIN: HIDE,
            I.SHARED_USER: shared,
            I.SHARED_GUEST: guest,
            I.SUPPORT_MEMBER: shared,
        },
        **kwargs,
    )


def _sign_in_step(*, anonymous: Expect, token: Expect = DENY, disabled_token: Expect = DENY) -> Row:
    """A step of an app origin's sign-in, each with the credential of that step (a grant
    or pass of the caller's own login): USE_SESSION asked for that login."""
    return _row(
        {
            I.ANONYMOUS: anonymous,
            I.OTHER: HIDE,
            I.READ_TOKEN: token,
            I.MUST_CHANGE_PASSWORD: DENY,
            I.DISABLED: LOGIN,
            I.DISABLED_TOKEN: disabled_token,
            I.DEMOTED_ADMIN: HIDE,
            I.REMOVED_MEMBER: LOST,
            I.OWNER: ALLOW,
            I.ADMIN: HIDE,
            I.SHARED_USER: ALLOW,
            I.SHARED_GUEST: ALLOW,
            I.SUPPORT_MEMBER: ALLOW,
        }
    )


def _json(body: Any) -> Request:
    return Request(json=body)


API = "/api/v1"
# An invitation's end: in the future, within the year an invitation may last.
_IN_A_MONTH = (datetime.now(UTC) + timedelta(days=30)).isoformat()
R = API + "/resources/{resource_id}"
FILES = R + "/files"
PATH = {"path": "/tmp/matrix"}

TABLE: dict[tuple[str, str], Row] = {
    # -- public: the pages, the API's description, the probes, logging in ----------------
    ("GET", "/{path:path}"): public(values={"path": "workspace"}),
    ("GET", "/assets/{path:path}"): public(values={"path": "app.js"}),
    # Plug-ins' front-end bundles: code, like /assets (web/plugin_assets.py says why).
    ("GET", "/plugins/{path:path}"): public(values={"path": "matrix/matrix.js"}),
    ("GET", API + "/docs"): public(),
    ("GET", API + "/docs/init.js"): public(),
    ("GET", API + "/docs/static/{path:path}"): public(values={"path": "swagger-ui.css"}),
    ("GET", API + "/openapi.json"): public(),
    ("GET", API + "/info"): public(),
    ("GET", "/healthz"): public(),
    ("POST", API + "/auth/login"): public(
        request=_json({"username": "target", "password": "matrix password 1"})
    ),
    # A sign-in's further step: a step id nobody holds is answered 409, for everyone.
    ("POST", API + "/auth/login/step"): _row(
        dict.fromkeys(Identity, REACH), request=_json({"step": "matrix", "answers": []})
    ),
    # Going to an identity provider and coming back: 'local' is none (404), for everyone.
    ("GET", API + "/auth/providers/{name}/login"): _row(
        dict.fromkeys(Identity, REACH), values={"name": "local"}
    ),
    ("GET", API + "/auth/providers/{name}/callback"): _row(
        dict.fromkeys(Identity, REACH), values={"name": "local"}
    ),
    ("GET", API + "/auth/sign-in-error"): public(),
    # Joining as a guest and looking a code up: no login needed (the code is the proof);
    # an unknown code is 404 for everyone.
    ("GET", API + "/guest-invitations/lookup"): _row(
        dict.fromkeys(Identity, REACH), request=Request(query={"code": "MATR-IX00-0000"})
    ),
    ("POST", API + "/auth/guest"): _row(
        dict.fromkeys(Identity, REACH),
        request=_json(
            {"code": "MATR-IX00-0000", "display_name": "Matrix", "password": "a password 12345"}
        ),
    ),
    # Metrics: loopback clients or administrators (the matrix calls from elsewhere).
    ("GET", "/metrics"): admins_only(),
    # -- the caller's own account -----------------------------------------------------------
    ("GET", API + "/auth/session"): own_account("read", before_password_change=True),
    ("POST", API + "/auth/logout"): own_account(
        "read", before_password_change=True, fresh={"credential"}
    ),
    ("GET", API + "/users/me"): own_account("read", before_password_change=True),
    ("PATCH", API + "/users/me"): own_account(
        "write", before_password_change=True, request=_json({"display_name": "Matrix"})
    ),
    # A wrong current password: the door is what counts, and nothing changes (422).
    ("POST", API + "/users/me/password"): own_account(
        "write",
        before_password_change=True,
        allowed=REACH,
        request=_json({"current_password": "not it at all", "new_password": "a new one 12345"}),
    ),
    ("GET", API + "/users/me/ssh-key"): own_account(
        "read", before_password_change=True, allowed=REACH
    ),
    ("POST", API + "/users/me/ssh-key"): own_account("write"),
    ("DELETE", API + "/users/me/ssh-key"): own_account("write", allowed=REACH),
    ("GET", API + "/users/me/identities"): own_account("read", before_password_change=True),
    ("GET", API + "/ssh-ca"): own_account("read", before_password_change=True),
    ("GET", API + "/preferences"): own_account("read", before_password_change=True),
    ("PATCH", API + "/preferences"): own_account(
        "write", before_password_change=True, request=_json({"preferences": {}})
    ),
    ("GET", API + "/tokens"): own_account("read"),
    ("POST", API + "/tokens"): own_account(
        "write", request=_json({"name": "matrix", "scopes": ["read"], "expires_in_days": 1})
    ),
    ("DELETE", API + "/tokens/{token_id}"): owners_thing(
        "write", admins=ALLOW, lost=ALLOW, fresh={"token_id"}
    ),
    # Lists of the caller's own things.
    ("GET", API + "/resources"): own_account("read"),
    ("GET", API + "/uploads"): own_account("read"),
    ("GET", API + "/transfers"): own_account("read"),
    ("GET", API + "/app-templates"): own_account("read"),
    ("GET", API + "/sessions"): own_account("read"),
    ("GET", API + "/quotas/mine"): own_account("read"),
    # Experiments: the caller's own; one they are not in (here: none) is not found, for
    # administrators too; administrators list all, create, change, delete and import.
    ("GET", API + "/experiments"): own_account("read"),
    ("GET", API + "/experiments/{experiment_id}"): owners_thing(
        "read", values={"experiment_id": "987654"}
    ),
    ("POST", API + "/experiments"): admins_only(
        allowed=REACH, request=_json({"code": "12-34", "title": "Matrix"})
    ),
    ("PUT", API + "/experiments/{experiment_id}"): admins_only(
        allowed=REACH, values={"experiment_id": "987654"}, request=_json({"code": "12-34"})
    ),
    ("DELETE", API + "/experiments/{experiment_id}"): admins_only(
        allowed=REACH, values={"experiment_id": "987654"}
    ),
    ("POST", API + "/experiments/import"): admins_only(
        request=_json({"format": "csv", "data": "code\n", "dry_run": True})
    ),
    ("POST", API + "/resources"): own_account(
        "write",
        allowed=REACH,
        request=_json({"name": "made by the matrix", "host": "127.0.0.1", "username": "u"}),
    ),
    ("WS", API + "/events"): own_account("read"),
    ("GET", API + "/notifications"): own_account("read"),
    ("POST", API + "/notifications/read"): own_account("write", request=_json({"all": True})),
    ("DELETE", API + "/notifications/{notification_id}"): owners_thing(
        "write", lost=ALLOW, owner=ALLOW, fresh={"notification_id"}
    ),
    ("GET", API + "/announcements/current"): own_account("read"),
    # -- administration --------------------------------------------------------------------
    ("GET", API + "/users"): admins_only(),
    ("POST", API + "/users"): admins_only(
        allowed=REACH, request=_json({"username": "newcomer", "password": "a password 12345"})
    ),
    ("GET", API + "/users/{username}"): admins_only(),
    ("PATCH", API + "/users/{username}"): admins_only(request=_json({"display_name": "T"})),
    ("DELETE", API + "/users/{username}"): admins_only(fresh={"username"}),
    # Sign-in identities: here only 'local' is active, which has none to link (422); no
    # identity 987654 is the user's to unlink (404).
    ("GET", API + "/users/{username}/identities"): admins_only(),
    ("POST", API + "/users/{username}/identities"): admins_only(
        allowed=REACH, request=_json({"provider": "ldap", "subject": "matrix"})
    ),
    ("DELETE", API + "/users/{username}/identities/{identity_id}"): admins_only(
        allowed=REACH, values={"identity_id": "987654"}
    ),
    ("GET", API + "/groups"): admins_only(),
    ("POST", API + "/groups"): admins_only(allowed=REACH, request=_json({"name": "newgroup"})),
    ("GET", API + "/groups/{name}"): admins_only(),
    ("DELETE", API + "/groups/{name}"): admins_only(fresh={"name"}),
    ("PUT", API + "/groups/{name}/members/{username}"): admins_only(),
    ("DELETE", API + "/groups/{name}/members/{username}"): admins_only(fresh={"name"}),
    ("GET", API + "/users/{username}/usage"): admins_only(),
    ("GET", API + "/quotas"): admins_only(),
    ("PUT", API + "/quotas/{scope}/{subject}"): admins_only(
        request=_json({"max_cores": 8}), values={"scope": "role", "subject": "guest"}
    ),
    # Nothing to remove unless the row above ran first: the door is what counts.
    ("DELETE", API + "/quotas/{scope}/{subject}"): admins_only(
        allowed=REACH, values={"scope": "role", "subject": "guest"}
    ),
    ("GET", API + "/audit"): admins_only(),
    ("GET", API + "/admin/app-templates"): admins_only(),
    ("PUT", API + "/admin/app-templates/{template_id}"): admins_only(
        request=_json({"enabled": True}), values={"template_id": "webapp"}
    ),
    ("GET", API + "/admin/shared-resources"): admins_only(),
    ("GET", API + "/usage/{figure_name}"): admins_only(values={"figure_name": "sessions"}),
    ("GET", API + "/session-extensions"): admins_only(),
    ("GET", API + "/announcements"): admins_only(),
    ("POST", API + "/announcements"): admins_only(
        request=_json({"text": "matrix", "ends_at": "2999-01-01T00:00:00Z"})
    ),
    ("GET", API + "/announcements/{announcement_id}"): admins_only(),
    ("PATCH", API + "/announcements/{announcement_id}"): admins_only(
        request=_json({"text": "changed"})
    ),
    ("DELETE", API + "/announcements/{announcement_id}"): admins_only(fresh={"announcement_id"}),
    ("GET", API + "/guest-invitations"): admins_only(),
    ("POST", API + "/guest-invitations"): admins_only(
        request=_json({"title": "matrix", "seats": 3, "expires_at": _IN_A_MONTH})
    ),
    ("GET", API + "/guest-invitations/{invitation_id}"): admins_only(
        things={"invitation_id": Thing.GUEST_INVITATION}
    ),
    ("PATCH", API + "/guest-invitations/{invitation_id}"): admins_only(
        things={"invitation_id": Thing.GUEST_INVITATION}, request=_json({"title": "changed"})
    ),
    ("DELETE", API + "/guest-invitations/{invitation_id}"): admins_only(
        things={"invitation_id": Thing.GUEST_INVITATION}, fresh={"invitation_id"}
    ),
    ("POST", API + "/session-extensions/{extension_id}"): admins_only(
        request=_json({"grant": False}), fresh={"extension_id"}
    ),
    # -- the owner's resource and what is on it (administrators do not see it) -------------
    ("GET", R): owners_thing("read"),
    ("PATCH", R): owners_thing("write", request=_json({"description": "changed"})),
    ("DELETE", R): owners_thing("write", fresh={"resource_id"}),
    ("POST", R + "/host-keys"): owners_thing(
        "write", request=_json({"host": "127.0.0.1", "public_key": "ssh-ed25519 AAAA"})
    ),
    ("DELETE", R + "/host-keys/{key_id}"): owners_thing("write", fresh={"key_id"}),
    ("PUT", R + "/remembered-keys/{hop}"): owners_thing(
        "write", request=_json({"private_key": "not a key"})
    ),
    ("DELETE", R + "/remembered-keys/{hop}"): owners_thing("write"),
    ("POST", R + "/disconnect"): owners_thing("write"),
    ("GET", R + "/system"): owners_thing("read"),
    ("GET", R + "/launchers"): owners_thing("read"),
    ("WS", R + "/connect"): owners_thing(
        "write", request=Request(first_message={"type": "connect"}, listen=True)
    ),
    ("POST", R + "/processes"): owners_thing("write", request=_json({"command": "true"})),
    ("GET", R + "/processes"): owners_thing("read"),
    ("POST", R + "/processes/{process_id}/signal"): owners_thing(
        "write", request=_json({"signal": "TERM"})
    ),
    ("DELETE", R + "/processes/{process_id}"): owners_thing("write"),
    ("WS", R + "/processes/{process_id}/attach"): owners_thing(
        "write", request=Request(listen=True)
    ),
    # Sharing a terminal makes it a session: the terminal's owner alone.
    ("POST", R + "/processes/{process_id}/share"): owners_thing("write"),
    ("GET", R + "/app-setup"): owners_thing("read"),
    ("POST", R + "/app-setup"): owners_thing("write"),
    ("GET", FILES): owners_thing("read", request=Request(query=PATH)),
    ("GET", FILES + "/stat"): owners_thing("read", request=Request(query=PATH)),
    ("GET", FILES + "/du"): owners_thing("read", request=Request(query=PATH)),
    ("GET", FILES + "/search"): owners_thing(
        "read", request=Request(query={**PATH, "pattern": "x"})
    ),
    ("GET", FILES + "/content"): owners_thing("read", request=Request(query=PATH)),
    ("PUT", FILES + "/content"): owners_thing(
        "write", request=Request(query=PATH, content=b"matrix")
    ),
    ("GET", FILES + "/archive"): owners_thing("read", request=Request(query=PATH)),
    ("POST", FILES + "/mkdir"): owners_thing("write", request=_json(PATH)),
    ("POST", FILES + "/rename"): owners_thing("write", request=_json({**PATH, "to": "/tmp/m2"})),
    ("POST", FILES + "/copy"): owners_thing("write", request=_json({**PATH, "to": "/tmp/m2"})),
    ("POST", FILES + "/delete"): owners_thing("write", request=_json(PATH)),
    ("POST", FILES + "/chmod"): owners_thing("write", request=_json({**PATH, "mode": 0o644})),
    ("POST", R + "/uploads"): owners_thing("write", request=_json({**PATH, "size": 1})),
    ("PUT", R + "/uploads/{upload_id}"): owners_thing(
        "write", request=Request(query={"offset": 0}, content=b"m")
    ),
    ("GET", R + "/uploads/{upload_id}"): owners_thing("read"),
    ("POST", R + "/uploads/{upload_id}/complete"): owners_thing("write", request=_json({})),
    ("DELETE", R + "/uploads/{upload_id}"): owners_thing("write", fresh={"upload_id"}),
    ("POST", API + "/transfers"): owners_thing(
        "write",
        request=_json(
            {
                "source_resource": "{resource_id}",
                "destination_resource": "{resource_id}",
                "paths": ["/tmp/matrix"],
                "destination_dir": "/tmp/m2",
            }
        ),
    ),
    # A job's record stays its user's to read and to cancel, resource or not.
    ("GET", API + "/transfers/{transfer_id}"): owners_thing("read", lost=ALLOW),
    ("DELETE", API + "/transfers/{transfer_id}"): owners_thing(
        "write", lost=ALLOW, fresh={"transfer_id"}
    ),
    ("POST", API + "/sessions"): owners_thing(
        "write", request=_json({"template": "jupyterlab", "resource_id": "{resource_id}"})
    ),
    # -- favourites and presets: the caller's own alone, administrators' included ---------
    # Starring a template twice is a conflict: the door is what counts here.
    ("GET", API + "/favourites"): own_account("read"),
    ("POST", API + "/favourites"): own_account(
        "write", allowed=REACH, request=_json({"kind": "template", "target": "jupyterlab"})
    ),
    # Who lost a resource keeps their favourites of it (to remove), but launches no preset.
    ("PATCH", API + "/favourites/{favourite_id}"): owners_thing(
        "write", lost=ALLOW, owner=ALLOW, request=_json({"title": "matrix", "position": 3})
    ),
    ("DELETE", API + "/favourites/{favourite_id}"): owners_thing(
        "write", lost=ALLOW, owner=ALLOW, fresh={"favourite_id"}
    ),
    ("POST", API + "/favourites/{favourite_id}/launch"): owners_thing(
        "write", lost=LOST, things={"favourite_id": Thing.PRESET}
    ),
    # -- the owner's app sessions (administrators may act on anyone's) ---------------------
    # Who lost the resource still sees and stops their sessions there, but gets no more
    # time for them.
    # Those it is shared with read it too (their role in it is in the answer).
    ("GET", API + "/sessions/{session_id}"): owners_thing(
        "read", admins=ALLOW, lost=ALLOW, shared=ALLOW
    ),
    ("GET", API + "/sessions/{session_id}/log"): owners_thing("read", admins=REACH, lost=REACH),
    ("POST", API + "/sessions/{session_id}/stop"): owners_thing(
        "write", admins=ALLOW, lost=ALLOW, fresh={"session_id"}
    ),
    ("POST", API + "/sessions/{session_id}/extend"): owners_thing(
        "write", admins=REACH, lost=LOST, request=_json({"hours": 1})
    ),
    ("DELETE", API + "/sessions/{session_id}"): owners_thing(
        "write",
        admins=ALLOW,
        lost=ALLOW,
        things={"session_id": Thing.ENDED_SESSION},
        fresh={"session_id"},
    ),
    # A desktop's RFB, as the proxy's doors: the owner and those it is shared with, while
    # the owner keeps the resource; a guest too (the bridge drops a guest's input).
    # Refusals are accepted and closed at once with their code (a browser sees no other).
    ("WS", API + "/sessions/{session_id}/desktop"): proxied(
        things={"session_id": Thing.DESKTOP_SESSION}, request=Request(listen=True)
    ),
    # A shared terminal, as the desktop: the owner and those it is shared with (a guest
    # too: the socket drops a guest's input). The session here is a web app's, which the
    # socket refuses as no terminal (4404) to those who pass.
    ("WS", API + "/sessions/{session_id}/terminal"): proxied(request=Request(listen=True)),
    # -- sharing a session (the owner's; administrators may read who has access) ----------
    ("GET", API + "/sessions/{session_id}/sharing"): owners_thing(
        "read", admins=ALLOW, lost=ALLOW, owner=ALLOW
    ),
    ("POST", API + "/sessions/{session_id}/shares"): owners_thing(
        "write", lost=REACH, request=_json({"user": "target", "role": "guest"})
    ),
    ("PATCH", API + "/sessions/{session_id}/shares/{share_id}"): owners_thing(
        "write", lost=REACH, request=_json({"role": "guest"})
    ),
    ("DELETE", API + "/sessions/{session_id}/shares/{share_id}"): owners_thing(
        "write", lost=REACH, fresh={"share_id"}
    ),
    ("POST", API + "/sessions/{session_id}/invitations"): owners_thing(
        "write",
        lost=REACH,
        request=_json({"role": "guest", "expires_in_hours": 1, "max_uses": 1}),
    ),
    ("DELETE", API + "/sessions/{session_id}/invitations/{invitation_id}"): owners_thing(
        "write", lost=REACH, fresh={"invitation_id"}
    ),
    ("PUT", API + "/sessions/{session_id}/support"): owners_thing(
        "write", lost=REACH, request=_json({"allowed": True})
    ),
    ("POST", API + "/sessions/{session_id}/support/help"): owners_thing(
        "write", lost=REACH, request=_json({"message": "matrix"})
    ),
    # Anyone logged in may take up an invitation (the link is the proof): here an unknown
    # one, so that the world stays as it is.
    ("POST", API + "/invitations/accept"): own_account(
        "write", allowed=REACH, request=_json({"token": "not an invitation"})
    ),
    # What a link would give, asked before accepting it (changes nothing).
    ("POST", API + "/invitations/preview"): own_account(
        "write", allowed=REACH, request=_json({"token": "not an invitation"})
    ),
    # -- the app proxy --------------------------------------------------------------------
    # Without app origins, apps are served on labgate's own origin, where their pages run
    # with the viewer's login: a browser gets no web app others share with it there
    # (sharing_needs_app_domain); with app origins (below) it does.
    ("GET", PROXY_PATH): proxied(shared=DENY, guest=DENY),
    ("POST", PROXY_PATH): proxied(shared=DENY, guest=DENY, request=Request(content=b"{}")),
    ("WS", PROXY_PATH): proxied(shared=DENY, guest=DENY),
    # With app origins, a browser is sent on to the app's origin from labgate's.
    ("GET", REDIRECTING_PROXY_PATH): proxied(),
    ("GET", ORIGIN + PROXY_PATH): proxied(),
    ("POST", ORIGIN + PROXY_PATH): proxied(guest=DENY, request=Request(content=b"{}")),
    ("WS", ORIGIN + PROXY_PATH): proxied(guest=DENY),
    # Signing in to an app's origin (proxy/origins.py): the grant binds the browser there,
    # labgate's origin confirms the browser's login, the pass signs in. API tokens have
    # no grant (their callers need no app cookie).
    ("GET", ORIGIN + ENTER_PATH): _sign_in_step(anonymous=DENY),
    ("GET", CONFIRM): _sign_in_step(anonymous=LOGIN, token=DENY, disabled_token=LOGIN),
    ("GET", ORIGIN + SIGN_IN_PATH): _sign_in_step(anonymous=DENY),
}
