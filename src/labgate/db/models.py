"""ORM models. Every change here comes with an Alembic migration in ``migrations/``.

Resources (and their jump hops, host keys and stored credentials) follow the accounts;
then app sessions, sharing and transfers; the facility's tables (experiments, quotas,
usage history, favourites, notifications, announcements) close the file.
"""

from __future__ import annotations

import enum
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from labgate.db.types import UTCDateTime, utcnow


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[str]: JSON}


class Role(enum.StrEnum):
    """A user's platform role. Admins manage everything; guests get small quotas."""

    ADMIN = "admin"
    #: Facility staff: longer session lifetimes and larger quotas than users.
    STAFF = "staff"
    USER = "user"
    GUEST = "guest"


def new_tag() -> str:
    """A random tag for an installation or a user (64 bits, hex)."""
    return secrets.token_hex(8)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(320))
    #: The address was given by an administrator (or an identity provider), not typed by
    #: the user: only such an address names them as an experiment's member.
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    role: Mapped[str] = mapped_column(String(16), default=Role.USER.value)
    # Which authentication provider vouches for this account ("local", later "ldap", ...).
    auth_provider: Mapped[str] = mapped_column(String(32), default="local")
    password_hash: Mapped[str | None] = mapped_column(String(255))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    last_login_at: Mapped[datetime | None]
    password_changed_at: Mapped[datetime | None]
    # Set for one-time passwords (generated, or handed out by an administrator): until the
    # user picks their own, they may do nothing but that.
    must_change_password: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    # Names the user's work on resources (processes, terminals, apps), with the
    # installation's tag (see labgate.resources.owners): random, so never another
    # user's, unlike the id, which SQLite hands out again after a deletion.
    work_tag: Mapped[str] = mapped_column(String(32), unique=True, index=True, default=new_tag)
    # The tag of users who existed before work tags (``user:<id>``): what they started
    # then is still theirs. Never given to new users.
    legacy_work_tag: Mapped[str | None] = mapped_column(String(32))
    #: Guests' accounts end then (removed with their data: labgate.accounts.guests).
    expires_at: Mapped[datetime | None] = mapped_column(index=True)
    #: The guest invitation this account joined with.
    invitation_id: Mapped[int | None] = mapped_column(
        # use_alter: the invitations name their creator, a user, in turn.
        ForeignKey(
            "guest_invitations.id",
            ondelete="SET NULL",
            use_alter=True,
            name="fk_users_invitation_id_guest_invitations",
        )
    )
    #: Why ``disabled`` is set: None or ``admin`` (an administrator; only one lifts it),
    #: ``provider`` (its identity provider refused it at a re-check; its next successful
    #: sign-in there lifts it: labgate.accounts.identities).
    disabled_reason: Mapped[str | None] = mapped_column(String(16))

    # Not loaded with the user (most requests never need it): ask
    # labgate.accounts.users.group_names; the database deletes memberships with the user.
    memberships: Mapped[list[Membership]] = relationship(
        back_populates="user",
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="raise_on_sql",
    )


class Installation(Base):
    """This labgate installation, one row shared by its replicas. Its random ``tag``
    tells its work on a resource from another installation's on the same account."""

    __tablename__ = "installation"

    id: Mapped[int] = mapped_column(primary_key=True)
    tag: Mapped[str] = mapped_column(String(32), default=new_tag)
    # When work tags began: older processes may carry a legacy tag (User.legacy_work_tag).
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Group(Base):
    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="group", cascade="all, delete-orphan", lazy="selectin"
    )


class Membership(Base):
    """A user in a group; ``role`` lets later issues have group managers."""

    __tablename__ = "memberships"

    group_id: Mapped[int] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(16), default="member")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    group: Mapped[Group] = relationship(back_populates="memberships", lazy="joined")
    user: Mapped[User] = relationship(back_populates="memberships", lazy="joined")


class LoginSession(Base):
    """A browser login. The cookie carries a secret; only its SHA-256 is stored."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    client: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(400), default="")
    #: The identity the user signed in with (None: a labgate password or a guest's);
    #: unlinking it, or its provider refusing it at a re-check, ends the session.
    identity_id: Mapped[int | None] = mapped_column(
        ForeignKey("identities.id", ondelete="CASCADE"), index=True
    )


class UserIdentity(Base):
    """An identity at a sign-in provider (PAM, LDAP, an OpenID provider) that signs in as
    a labgate account. An account may have several (an administrator links them); one
    identity belongs to one account."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("provider", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    #: The provider's name in ``auth_providers`` (``pam``, ``ldap``, ``helmholtz``).
    provider: Mapped[str] = mapped_column(String(64))
    #: The provider's stable name for the person (OpenID ``sub``, the LDAP entry's
    #: entryUUID, the PAM user name and uid as ``alice:1001``).
    subject: Mapped[str] = mapped_column(String(255))
    #: What the provider last called them, for people to read (a login name, an e-mail).
    label: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    #: When the provider was last asked whether the identity still holds.
    checked_at: Mapped[datetime | None]
    #: When a re-check found it refused (locked, removed, disabled) at the provider.
    refused_at: Mapped[datetime | None]
    #: What re-checking needs (an OpenID refresh token), sealed with the server secret
    #: (labgate.credentials.vault, purpose ``identity:<id>``); None when not re-checked.
    recheck_secret: Mapped[bytes | None] = mapped_column(LargeBinary)


class GuestInvitation(Base):
    """An administrator's invitation for guests (a workshop, a class): a code or link
    that makes up to ``seats`` guest accounts until ``expires_at``, when those accounts
    end too. The code is stored hashed (for joining) and sealed (to show it again)."""

    __tablename__ = "guest_invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    code_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    seats: Mapped[int] = mapped_column(Integer)
    used: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class ApiToken(Base):
    """A bearer token for scripts. Only its SHA-256 is stored; ``prefix`` identifies it."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(lazy="joined")


class Preference(Base):
    """One user preference (theme, layout, ...) as a JSON value."""

    __tablename__ = "preferences"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AuditEvent(Base):
    """A security-relevant event. Failed logins here also drive login rate limiting."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_event_target_at", "event", "target", "at"),
        Index("ix_audit_events_event_client_at", "event", "client", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    event: Mapped[str] = mapped_column(String(64))
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    actor: Mapped[str] = mapped_column(String(64), default="")
    target: Mapped[str] = mapped_column(String(200), default="")
    client: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


# -- resources ---------------------------------------------------------------------------


class ResourceKind(enum.StrEnum):
    SSH = "ssh"
    LOCAL = "local"  # the server's own machine, through a subprocess


class AuthMethod(enum.StrEnum):
    """How labgate logs in to one SSH server (a jump host or the resource itself)."""

    PASSWORD = "password"  # noqa: S105 -- a method name; asked in the browser, kept in memory
    KEYBOARD_INTERACTIVE = "keyboard-interactive"  # prompts (2FA) relayed to the browser
    KEY = "key"  # a private key the user uploads; remembered encrypted only if asked
    GENERATED_KEY = "generated-key"  # the user's labgate-generated ed25519 key
    CERTIFICATE = "certificate"  # a short-lived certificate from labgate's SSH CA


class Resource(Base):
    """A computer reached by SSH (through ``hops``), or the server's own (``local``).

    A resource with an owner is that user's own; one without is shared, managed by
    administrators and visible to the members of ``groups``. For a shared resource the
    remote account is computed per user from ``account_rule`` (``{username}`` is the
    labgate user name) unless ``account_overrides`` names one for that user.
    """

    __tablename__ = "resources"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16), default=ResourceKind.SSH.value)
    description: Mapped[str] = mapped_column(Text, default="")
    host: Mapped[str] = mapped_column(String(255), default="")
    port: Mapped[int] = mapped_column(Integer, default=22)
    username: Mapped[str] = mapped_column(String(64), default="")
    auth_method: Mapped[str] = mapped_column(String(32), default=AuthMethod.PASSWORD.value)
    account_rule: Mapped[str] = mapped_column(String(200), default="{username}")
    account_overrides: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    python: Mapped[str] = mapped_column(String(255), default="python3")
    setup_lines: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    hops: Mapped[list[ResourceHop]] = relationship(
        order_by="ResourceHop.position",
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="selectin",
    )
    group_links: Mapped[list[ResourceGroup]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, lazy="selectin"
    )

    @property
    def shared(self) -> bool:
        return self.owner_id is None


class ResourceHop(Base):
    """A jump host on the way to a resource; ``position`` 0 is reached first."""

    __tablename__ = "resource_hops"
    __table_args__ = (UniqueConstraint("resource_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer, default=22)
    # Empty: the same account as on the resource.
    username: Mapped[str] = mapped_column(String(64), default="")
    auth_method: Mapped[str] = mapped_column(String(32), default=AuthMethod.PASSWORD.value)


class ResourceGroup(Base):
    """A group whose members may use a shared resource."""

    __tablename__ = "resource_groups"

    resource_id: Mapped[int] = mapped_column(
        ForeignKey("resources.id", ondelete="CASCADE"), primary_key=True
    )
    group_id: Mapped[int] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )


class HostKey(Base):
    """A host key someone confirmed for one server (host, port) of a resource's chain."""

    __tablename__ = "host_keys"
    __table_args__ = (UniqueConstraint("resource_id", "host", "port"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"))
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer)
    public_key: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(100))
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    confirmed_at: Mapped[datetime] = mapped_column(default=utcnow)


class StoredCredential(Base):
    """A private key a user asked labgate to remember for one server of a resource,
    encrypted with the server secret (see ``labgate.credentials.vault``).
    ``hop_id`` is None for the resource itself."""

    __tablename__ = "stored_credentials"
    __table_args__ = (Index("ix_stored_credentials_user_resource", "user_id", "resource_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    resource_id: Mapped[int] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"))
    hop_id: Mapped[int | None] = mapped_column(ForeignKey("resource_hops.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32), default=AuthMethod.KEY.value)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    public_fingerprint: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class UserSshKey(Base):
    """The ed25519 key pair labgate generated for a user; the private half sealed."""

    __tablename__ = "user_ssh_keys"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    public_key: Mapped[str] = mapped_column(Text)
    sealed_private_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SshCertificateAuthority(Base):
    """labgate's SSH CA key; the newest row without ``retired_at`` signs."""

    __tablename__ = "ssh_certificate_authorities"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_key: Mapped[str] = mapped_column(Text)
    sealed_private_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    retired_at: Mapped[datetime | None]


class SessionState(enum.StrEnum):
    """pending -> starting -> running -> stopping -> stopped, or failed / expired.

    ``pending``: waiting for a scheduler (batch launchers) or about to start; ``starting``:
    the app process runs and labgate waits for it to answer; ``running``: it answers;
    ``stopping``: labgate is ending it; ``stopped``: ended on purpose (the user, an
    administrator, idle clean-up); ``failed``: it could not start or ended by itself;
    ``expired``: its time (lifetime or the scheduler's time limit) was up.
    """

    PENDING = "pending"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"
    EXPIRED = "expired"


LIVE_SESSION_STATES = (
    SessionState.PENDING.value,
    SessionState.STARTING.value,
    SessionState.RUNNING.value,
    SessionState.STOPPING.value,
)
ENDED_SESSION_STATES = (
    SessionState.STOPPED.value,
    SessionState.FAILED.value,
    SessionState.EXPIRED.value,
)


class AppSession(Base):
    """A web app (JupyterLab, TensorBoard, ...) a user started on a resource.

    ``id`` is the random name in its URL (``/s/<id>/``). ``launcher_state`` is what the
    launcher needs to find the app again (a process id, a job id): with it any replica,
    after any restart, carries on. The app's token is sealed with the server secret.
    """

    __tablename__ = "app_sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    resource_id: Mapped[int] = mapped_column(
        ForeignKey("resources.id", ondelete="CASCADE"), index=True
    )
    template: Mapped[str] = mapped_column(String(64))
    launcher: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    form: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(16), default=SessionState.PENDING.value, index=True)
    #: Why it is in its state, for people ("pending: waiting for resources", "culled after
    #: 2 hours without activity", the app's error).
    message: Mapped[str] = mapped_column(Text, default="")
    launcher_state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    endpoint: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    sealed_token: Mapped[bytes] = mapped_column(LargeBinary)
    #: The last progress lines of the launch, shown again after a page reload.
    progress: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: The end of the app's output when it failed.
    log_tail: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    ready_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    last_activity_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Idle clean-up: minutes without activity before it is stopped (0: never).
    idle_minutes: Mapped[int] = mapped_column(Integer, default=0)
    #: The latest moment it may run to (lifetime limit or the scheduler's time limit).
    ends_at: Mapped[datetime | None]
    #: When the owner was warned that it will be stopped (cleared by activity or extension).
    warned_at: Mapped[datetime | None]
    #: Since when its launcher cannot tell whether it runs (the scheduler does not
    #: answer); None while it can. Given up after ``app_scheduler_outage_seconds``.
    unknown_since: Mapped[datetime | None]
    #: The state a ``stopping`` session ends in once its app is gone (stopped, expired,
    #: failed): kept, so that a stop retried later (the scheduler did not answer) ends
    #: the way it began.
    final_state: Mapped[str] = mapped_column(String(16), default=SessionState.STOPPED.value)
    #: A replica driving the launch holds the lease until then (others leave it alone).
    lease_owner: Mapped[str] = mapped_column(String(64), default="")
    lease_until: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    #: Members of the support group (setting ``support_group``) may join it (the owner
    #: allowed it, or asked for help: ``help_requested_at``, ``help_message``).
    support_allowed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    help_requested_at: Mapped[datetime | None]
    help_message: Mapped[str] = mapped_column(Text, default="", server_default="")
    #: Launched for this experiment (its data made available; its members see it).
    experiment_id: Mapped[int | None] = mapped_column(
        ForeignKey("experiments.id", ondelete="SET NULL"), index=True
    )
    #: How many of the stop warnings (``app_warning_hours``, earliest first) were sent for
    #: the current deadline (reset by activity or an extension).
    warnings_sent: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    __table_args__ = (Index("ix_app_sessions_user_state", "user_id", "state"),)


class ExtensionState(enum.StrEnum):
    PENDING = "pending"
    GRANTED = "granted"
    REFUSED = "refused"


class SessionExtension(Base):
    """A request for more time for a session: granted at once within policy, otherwise
    waiting for an administrator."""

    __tablename__ = "session_extensions"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("app_sessions.id", ondelete="CASCADE"), index=True
    )
    hours: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(16), default=ExtensionState.PENDING.value)
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # What was given: ``hours`` when granted as asked (or at once), another amount when an
    # administrator chose it; None until granted.
    granted_hours: Mapped[int | None] = mapped_column(Integer)
    # The administrator's word to the user with their decision (why not, usually).
    answer: Mapped[str] = mapped_column(Text, default="", server_default="")


# -- sharing -----------------------------------------------------------------------------


class ShareRole(enum.StrEnum):
    """What a session's owner lets others do in it (``labgate.auth.policy.SessionRole``
    adds the owner and administrators)."""

    USER = "user"  # full use, as the owner
    GUEST = "guest"  # view only
    SUPPORT = "support"  # facility staff: full use, marked as support


class ShareInvitation(Base):
    """A link that shares a session with whoever opens it (logged in), in ``role``,
    until ``expires_at`` or ``max_uses`` acceptances. Only the token's SHA-256 is stored.
    Shares made by accepting it go with it when it is deleted."""

    __tablename__ = "share_invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    app_session_id: Mapped[str] = mapped_column(
        ForeignKey("app_sessions.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
    max_uses: Mapped[int] = mapped_column(Integer)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class Share(Base):
    """A session shared with one user or with the members of one group (read on every
    use, so leaving the group ends the access), in ``role``. Named for what is shared
    (``app_session_id``), so that other kinds of target (terminals) can be added beside it."""

    __tablename__ = "shares"
    __table_args__ = (
        UniqueConstraint("app_session_id", "user_id"),
        UniqueConstraint("app_session_id", "group_id"),
        UniqueConstraint("app_session_id", "experiment_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    app_session_id: Mapped[str] = mapped_column(
        ForeignKey("app_sessions.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    group_id: Mapped[int | None] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), index=True
    )
    #: Shared with the members of this experiment (read on every use, as groups are).
    experiment_id: Mapped[int | None] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(16))
    #: Made by accepting this invitation (deleted with it).
    invitation_id: Mapped[int | None] = mapped_column(
        ForeignKey("share_invitations.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class SharePresence(Base):
    """Someone other than the owner connected to a session through one replica, seen
    at ``seen_at`` (refreshed while they stay; stale rows are ignored), so that every
    replica can say who is connected now (``labgate.sessions.presence``)."""

    __tablename__ = "share_presence"

    app_session_id: Mapped[str] = mapped_column(
        ForeignKey("app_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    replica: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    since: Mapped[datetime] = mapped_column(default=utcnow)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


# -- transfers ---------------------------------------------------------------------------


class Upload(Base):
    """A resumable upload in progress. Its bytes are in a hidden file beside ``path`` on
    the resource (``.labgate-upload-<id>``), whose size is the truth about how much has
    arrived; ``received`` is what this table last heard, for listing without asking."""

    __tablename__ = "uploads"
    __table_args__ = (Index("ix_uploads_user_activity", "user_id", "last_activity_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    resource_id: Mapped[int] = mapped_column(
        ForeignKey("resources.id", ondelete="CASCADE"), index=True
    )
    path: Mapped[bytes] = mapped_column(LargeBinary)  # absolute, on the resource
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    overwrite: Mapped[bool] = mapped_column(Boolean, default=False)
    if_version: Mapped[str | None] = mapped_column(String(100))
    received: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_activity_at: Mapped[datetime] = mapped_column(default=utcnow)


class TransferState(enum.StrEnum):
    RUNNING = "running"
    CANCELLING = "cancelling"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Transfer(Base):
    """A copy or move job between two resources (or within one). It runs in the server
    replica named by ``runner``, which refreshes ``heartbeat_at`` while it works; the
    other replicas read the row, and ask it to stop through ``cancel_requested``."""

    __tablename__ = "transfers"
    __table_args__ = (
        Index("ix_transfers_user_created", "user_id", "created_at"),
        Index("ix_transfers_state", "state"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    source_resource_id: Mapped[int] = mapped_column(
        ForeignKey("resources.id", ondelete="CASCADE"), index=True
    )
    destination_resource_id: Mapped[int] = mapped_column(
        ForeignKey("resources.id", ondelete="CASCADE"), index=True
    )
    # base64 of each source path's bytes, and the destination directory's bytes
    paths: Mapped[list[str]] = mapped_column(JSON)
    destination_dir: Mapped[bytes] = mapped_column(LargeBinary)
    move: Mapped[bool] = mapped_column(Boolean, default=False)
    overwrite: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(16), default=TransferState.RUNNING.value)
    bytes_done: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_total: Mapped[int | None] = mapped_column(BigInteger)
    files_done: Mapped[int] = mapped_column(Integer, default=0)
    files_total: Mapped[int | None] = mapped_column(Integer)
    current: Mapped[str | None] = mapped_column(Text)
    skipped: Mapped[list[str]] = mapped_column(JSON, default=list)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    runner: Mapped[str] = mapped_column(String(64))
    heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


# -- app origins -------------------------------------------------------------------------


class RedeemedGrant(Base):
    """A grant to an app's own origin (``labgate.proxy.origins``) that was used: its
    nonce, kept until the grant would have expired, so that no replica takes it twice."""

    __tablename__ = "redeemed_grants"

    nonce: Mapped[str] = mapped_column(String(32), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)


# -- the facility: experiments, quotas, usage, favourites, notifications -------------------


class Experiment(Base):
    """An experiment (a proposal): its data on resources, its members, its dates. Sessions
    for it can be started until ``ends_at`` plus the embargo (``experiment_embargo_days``).
    ``source`` names where it came from (``csv``, ``json``, ``console`` or an experiment
    source plug-in), ``code`` is the facility's identifier (the proposal number)."""

    __tablename__ = "experiments"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(400), default="")
    instrument: Mapped[str] = mapped_column(String(120), default="")
    starts_at: Mapped[datetime | None]
    ends_at: Mapped[datetime | None]
    source: Mapped[str] = mapped_column(String(32), default="console")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    members: Mapped[list[ExperimentMember]] = relationship(
        back_populates="experiment", cascade="all, delete-orphan", lazy="selectin"
    )
    locations: Mapped[list[ExperimentLocation]] = relationship(
        back_populates="experiment",
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="ExperimentLocation.position",
    )


class ExperimentRole(enum.StrEnum):
    PRINCIPAL_INVESTIGATOR = "pi"
    MEMBER = "member"
    LOCAL_CONTACT = "local_contact"


class ExperimentMember(Base):
    """A member of an experiment, named as the proposal system names them: by username or
    e-mail. ``user_id`` is the labgate user they were matched to (None until one with that
    username or e-mail exists: matched when they are created or log in)."""

    __tablename__ = "experiment_members"
    __table_args__ = (UniqueConstraint("experiment_id", "username", "email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    username: Mapped[str] = mapped_column(String(64), default="")
    email: Mapped[str] = mapped_column(String(320), default="")
    role: Mapped[str] = mapped_column(String(16), default=ExperimentRole.MEMBER.value)

    experiment: Mapped[Experiment] = relationship(back_populates="members")


class LocationKind(enum.StrEnum):
    RAW = "raw"  # read-only for users
    PROCESSED = "processed"  # writable; a session's default working directory
    SCRATCH = "scratch"  # writable


class ExperimentLocation(Base):
    """Where some of an experiment's data is on one resource (a path there)."""

    __tablename__ = "experiment_locations"
    __table_args__ = (UniqueConstraint("experiment_id", "resource_id", "kind", "path"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), index=True
    )
    resource_id: Mapped[int] = mapped_column(
        ForeignKey("resources.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(String(1024))
    position: Mapped[int] = mapped_column(Integer, default=0)

    experiment: Mapped[Experiment] = relationship(back_populates="locations")


class QuotaScope(enum.StrEnum):
    ROLE = "role"
    GROUP = "group"
    EXPERIMENT = "experiment"


class Quota(Base):
    """Limits for everyone of a role, the members of a group together, or the sessions of
    an experiment together. ``subject``: the role's name, or the group's or experiment's
    id as text. A None limit is no limit. Rows for roles override the settings
    (``quota_<role>_*``)."""

    __tablename__ = "quotas"
    __table_args__ = (UniqueConstraint("scope", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(64))
    max_sessions: Mapped[int | None] = mapped_column(Integer)
    max_cores: Mapped[int | None] = mapped_column(Integer)
    max_memory_gb: Mapped[int | None] = mapped_column(Integer)
    max_gpus: Mapped[int | None] = mapped_column(Integer)
    core_hours_per_month: Mapped[int | None] = mapped_column(Integer)
    gpu_hours_per_month: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class SessionUsage(Base):
    """The history of one launched session, kept after the session is forgotten: what it
    asked for, who for, when it started, became ready and ended, and how. Core-hours are
    ``cores`` x (``ended_at`` or now - ``started_at``); the usage charts read this table."""

    __tablename__ = "session_usage"

    session_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    username: Mapped[str] = mapped_column(String(64), default="")
    role: Mapped[str] = mapped_column(String(16), default="")
    #: The names of the owner's groups at launch.
    groups: Mapped[list[str]] = mapped_column(JSON, default=list)
    experiment_id: Mapped[int | None] = mapped_column(
        ForeignKey("experiments.id", ondelete="SET NULL"), index=True
    )
    resource_id: Mapped[int | None] = mapped_column(ForeignKey("resources.id", ondelete="SET NULL"))
    template: Mapped[str] = mapped_column(String(64), default="")
    launcher: Mapped[str] = mapped_column(String(32), default="")
    cores: Mapped[int] = mapped_column(Integer, default=1)
    memory_gb: Mapped[int] = mapped_column(Integer, default=0)
    gpus: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    ready_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None] = mapped_column(index=True)
    #: The state it ended in (stopped, failed, expired); "" while it lives.
    outcome: Mapped[str] = mapped_column(String(16), default="")
    #: For a failure: a short reason ("timeout", "scheduler", "app_exited", ...).
    failure_reason: Mapped[str] = mapped_column(String(64), default="")


class ActiveDay(Base):
    """A user was active (logged in or used labgate) on ``day`` (UTC, ``YYYY-MM-DD``)."""

    __tablename__ = "active_days"

    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )


class FavouriteKind(enum.StrEnum):
    RESOURCE = "resource"
    TEMPLATE = "template"
    PRESET = "preset"
    FOLDER = "folder"
    EXPERIMENT = "experiment"


class Favourite(Base):
    """Something a user starred: a resource, an app template, a folder (``resource_id``
    and ``path``), an experiment, or a preset: a filled-in launch form relaunched with one
    click (``preset``: template, launcher, resource_id, experiment_id, form)."""

    __tablename__ = "favourites"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    #: What is starred: a resource's or experiment's id, a template's id, a folder's
    #: "<resource id>:<path>"; a preset's own random key.
    target: Mapped[str] = mapped_column(String(1100))
    title: Mapped[str] = mapped_column(String(200), default="")
    preset: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("user_id", "kind", "target"),)


class Notification(Base):
    """A message in a user's notification centre (a session warning, a share, a join, an
    extension decision, an announcement, a quota warning)."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_created", "user_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    #: What it is about, for the front end to open ({"session": id}, {"experiment": id}).
    subject: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]


class Announcement(Base):
    """A banner an administrator scheduled for every user from ``starts_at`` to
    ``ends_at`` (also e-mailed when ``email``; ``emailed_at`` once sent)."""

    __tablename__ = "announcements"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(String(16), default="info")
    starts_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    ends_at: Mapped[datetime] = mapped_column(index=True)
    email: Mapped[bool] = mapped_column(Boolean, default=False)
    emailed_at: Mapped[datetime | None]
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TemplateSwitch(Base):
    """An administrator turned an app template off (or on again) in the console: a
    disabled template is not offered and cannot be launched; running sessions go on."""

    __tablename__ = "template_switches"

    template_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
