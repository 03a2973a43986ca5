"""The one place that decides who may do what.

Every route and every WebSocket calls :func:`authorize` with an :class:`Action`. An
action needs a token scope (``read``/``write``/``admin``) and may be admin-only; acting
on something another user owns needs the admin role, unless the action is the owner's
alone (``owner_only``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum, StrEnum

from labgate.auth.principal import Principal, Scope
from labgate.db.models import Role, ShareRole
from labgate.errors import Forbidden, PasswordChangeRequired, ViewOnly


# eq=False: two actions governed by equal rules stay two actions (an Enum makes members
# with equal values aliases of the first, which would log and register one under the
# other's name).
@dataclass(frozen=True, eq=False)
class Rule:
    scope: Scope
    admin_only: bool = False
    # Allowed while the user still has a one-time password to replace.
    before_password_change: bool = False
    # Only the owner, administrators included (the role does not open other users' things).
    owner_only: bool = False


class Action(Enum):
    """Everything a user can ask labgate to do; the value is the rule that governs it."""

    READ_OWN_ACCOUNT = Rule(Scope.READ, before_password_change=True)
    UPDATE_OWN_ACCOUNT = Rule(Scope.WRITE, before_password_change=True)
    READ_PREFERENCES = Rule(Scope.READ, before_password_change=True)
    UPDATE_PREFERENCES = Rule(Scope.WRITE, before_password_change=True)
    LIST_TOKENS = Rule(Scope.READ)
    CREATE_TOKEN = Rule(Scope.WRITE)
    REVOKE_TOKEN = Rule(Scope.WRITE)
    LIST_USERS = Rule(Scope.READ, admin_only=True)
    MANAGE_USERS = Rule(Scope.ADMIN, admin_only=True)
    LIST_GROUPS = Rule(Scope.READ, admin_only=True)
    MANAGE_GROUPS = Rule(Scope.ADMIN, admin_only=True)
    READ_AUDIT_LOG = Rule(Scope.ADMIN, admin_only=True)
    READ_METRICS = Rule(Scope.READ, admin_only=True)
    READ_USAGE = Rule(Scope.ADMIN, admin_only=True)
    LIST_RESOURCES = Rule(Scope.READ)
    # Adding, changing and removing one's own resources; shared ones need the admin role
    # as well (checked with the resource, see labgate.resources.catalog.can_edit).
    MANAGE_RESOURCES = Rule(Scope.WRITE)
    MANAGE_SHARED_RESOURCES = Rule(Scope.ADMIN, admin_only=True)
    # Connecting, running things and writing files on a resource the caller may see.
    USE_RESOURCE = Rule(Scope.WRITE)
    # Reading files and system information there.
    READ_RESOURCE = Rule(Scope.READ)
    MANAGE_OWN_KEYS = Rule(Scope.WRITE)
    # Interactive sessions (apps): listing one's own, and launching, stopping, extending
    # them; using one through the proxy (running code in it as its owner) needs write
    # too, and is the owner's alone: administrators may stop a session, not work in it.
    # Those the owner shared it with use it in their role (:func:`session_role`,
    # :func:`authorize_session_use`).
    LIST_SESSIONS = Rule(Scope.READ)
    MANAGE_SESSIONS = Rule(Scope.WRITE)
    USE_SESSION = Rule(Scope.WRITE, owner_only=True)
    # Who has access to a session and who is connected: the owner; administrators may
    # read it. Sharing it, inviting, letting support staff in: the owner alone.
    READ_SHARING = Rule(Scope.READ)
    SHARE_SESSION = Rule(Scope.WRITE, owner_only=True)
    # Taking up an invitation link (the link is the proof).
    ACCEPT_INVITATION = Rule(Scope.WRITE)
    DECIDE_EXTENSIONS = Rule(Scope.ADMIN, admin_only=True)
    # The administration console: every app template (switched off or not, and the
    # refused files), switching them; the shared resources with their sessions.
    LIST_APP_TEMPLATES = Rule(Scope.READ, admin_only=True)
    SWITCH_APP_TEMPLATES = Rule(Scope.ADMIN, admin_only=True)
    LIST_SHARED_RESOURCES = Rule(Scope.READ, admin_only=True)
    # One's own notification centre: reading it, marking read and deleting.
    READ_NOTIFICATIONS = Rule(Scope.READ)
    MANAGE_NOTIFICATIONS = Rule(Scope.WRITE)
    # The announcements shown now: every logged-in user; scheduling them: administrators.
    READ_ANNOUNCEMENTS = Rule(Scope.READ)
    MANAGE_ANNOUNCEMENTS = Rule(Scope.ADMIN, admin_only=True)
    # Quotas: one's own with their usage; everybody's, and setting them (administrators).
    READ_OWN_QUOTAS = Rule(Scope.READ)
    LIST_QUOTAS = Rule(Scope.READ, admin_only=True)
    MANAGE_QUOTAS = Rule(Scope.ADMIN, admin_only=True)
    # Experiments: their members see theirs (one they are not in is not found);
    # administrators see, create, change, delete and import them all.
    LIST_EXPERIMENTS = Rule(Scope.READ)
    MANAGE_EXPERIMENTS = Rule(Scope.ADMIN, admin_only=True)
    # One's favourites and presets: one's own alone (others' are not found, whoever asks);
    # relaunching a preset is a launch, authorised as one as well.
    LIST_FAVOURITES = Rule(Scope.READ)
    MANAGE_FAVOURITES = Rule(Scope.WRITE)
    # Guest invitations (a workshop's, a class's): administrators see, make, change and
    # withdraw them. Joining with one needs no login (its code is the proof).
    LIST_GUEST_INVITATIONS = Rule(Scope.READ, admin_only=True)
    MANAGE_GUEST_INVITATIONS = Rule(Scope.ADMIN, admin_only=True)


def allowed(principal: Principal, action: Action, *, owner_id: int | None = None) -> bool:
    rule: Rule = action.value
    if rule.scope not in principal.scopes:
        return False
    if rule.admin_only and not principal.is_admin:
        return False
    if principal.must_change_password and not rule.before_password_change:
        return False
    if owner_id is None or owner_id == principal.user_id:
        return True
    return principal.is_admin and not rule.owner_only


def effective_local_resource(setting: str, *, server_is_root: bool) -> str:
    """The ``local_resource`` setting with ``auto`` decided: ``everyone`` when the server
    runs as root (each user then runs as an OS account of their own), ``admins``
    otherwise (everyone would share the server's account)."""
    if setting != "auto":
        return setting
    return "everyone" if server_is_root else "admins"


def may_use_resource(
    principal: Principal,
    *,
    owner_id: int | None,
    local: bool,
    local_resource: str,
    in_its_groups: bool,
) -> bool:
    """Whether ``principal`` may see and use a resource, now: their own; ``local`` (the
    server's machine) as the ``local_resource`` setting says (``auto`` decided, see
    :func:`effective_local_resource`); a shared one (no owner)
    through one of its groups (``in_its_groups``) or the admin role. Asked when a request
    names the resource and again on every later use (the proxy, extensions, reconnects),
    so a removal from a group, a demotion or a changed setting ends access."""
    if local:
        return local_resource == "everyone" or (local_resource == "admins" and principal.is_admin)
    if owner_id is not None:
        return owner_id == principal.user_id
    return principal.is_admin or in_its_groups


def authorize(principal: Principal, action: Action, *, owner_id: int | None = None) -> None:
    """Raise :class:`Forbidden` unless ``principal`` may perform ``action``."""
    if allowed(principal, action, owner_id=owner_id):
        return
    rule: Rule = action.value
    if rule.scope not in principal.scopes:
        raise Forbidden(f"This API token lacks the '{rule.scope}' scope needed here.")
    if rule.admin_only and not principal.is_admin:
        raise Forbidden("Only administrators may do this.")
    if principal.must_change_password and not rule.before_password_change:
        raise PasswordChangeRequired(
            "You logged in with a one-time password. Choose your own password first."
        )
    raise Forbidden("That belongs to another user.")


# -- sessions shared with others ---------------------------------------------------------


class SessionRole(StrEnum):
    """What a caller is to a session: its owner, someone it was shared with (in a
    :class:`~labgate.db.models.ShareRole`), or an administrator, who may see and stop it
    but not work in it."""

    OWNER = "owner"
    USER = ShareRole.USER.value
    GUEST = ShareRole.GUEST.value
    SUPPORT = ShareRole.SUPPORT.value
    ADMIN = "admin"


# Who may do what in a session: full use (typing, running code, every method, sockets)
# or looking only. The best of several grants wins.
_USE_LEVEL = {
    SessionRole.OWNER: 2,
    SessionRole.USER: 2,
    SessionRole.SUPPORT: 2,
    SessionRole.GUEST: 1,
    SessionRole.ADMIN: 0,
}
_BEST_FIRST = (SessionRole.USER, SessionRole.SUPPORT, SessionRole.GUEST)


def session_role(
    principal: Principal, *, owner_id: int, granted: Iterable[str], support: bool
) -> SessionRole | None:
    """The caller's role on a session owned by ``owner_id``: the owner's; else the best of
    the roles it was shared in with them (``granted``: directly, through one of their
    groups, through an invitation they accepted) and ``support`` (they are in the support
    group and the owner lets support in); else an administrator's; else None (no access).
    Grants are read on every use by the caller (``labgate.sessions.sharing``), so a
    revocation or a removal from a group ends access."""
    if principal.user_id == owner_id:
        return SessionRole.OWNER
    roles = {SessionRole(role) for role in granted if role in _SHARE_ROLE_VALUES}
    if support:
        roles.add(SessionRole.SUPPORT)
    for role in _BEST_FIRST:
        if role in roles:
            return role
    return SessionRole.ADMIN if principal.is_admin else None


_SHARE_ROLE_VALUES = frozenset(role.value for role in ShareRole)


def may_work_in(role: SessionRole | None) -> bool:
    """Full use: the owner, a USER, SUPPORT staff."""
    return role is not None and _USE_LEVEL[role] == 2


def still_allows(accepted: SessionRole, now: SessionRole | None) -> bool:
    """Whether a connection accepted for ``accepted`` may stay open for a caller whose
    role is ``now``: not if access ended or became less (a USER made GUEST: their full
    connection closes, a view-only one may be opened again)."""
    return now is not None and _USE_LEVEL[now] >= max(_USE_LEVEL[accepted], 1)


def authorize_session_use(
    principal: Principal, role: SessionRole | None, *, acts: bool, guest_view: bool
) -> None:
    """Raise unless the caller may use the session's app through labgate now: the
    ``USE_SESSION`` rule's scope and one-time-password checks, then the role. ``acts``:
    the request may change something (an unsafe method, a WebSocket that carries input);
    a GUEST may only look, and only at an app whose template can be shared view-only
    (``guest_view``)."""
    authorize(principal, Action.USE_SESSION, owner_id=principal.user_id)
    if role is None or role is SessionRole.ADMIN:
        raise Forbidden("That belongs to another user.")
    if role is not SessionRole.GUEST:
        return
    if not guest_view:
        raise ViewOnly(
            "This session was shared with you to view only, and its app cannot be viewed "
            "without using it. Ask its owner for the user role."
        )
    if acts:
        raise ViewOnly(
            "This session was shared with you to view only: you can look at its pages, "
            "not send anything to it."
        )


def hosts_restricted(owner_role: Role | None) -> bool:
    """Whether a resource is held to ``resource_hosts_allowed`` / ``resource_hosts_denied``
    (its hosts and jump hosts): a user's own resource is; a shared one (``owner_role``
    None: only administrators make them) and an administrator's own are not, since
    administrators decide those settings anyway."""
    return owner_role is not None and owner_role is not Role.ADMIN
