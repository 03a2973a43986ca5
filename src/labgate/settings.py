"""The one typed settings object.

Values come, in rising priority, from the defaults below, a TOML file (``--config`` or
``LABGATE_CONFIG``), ``LABGATE_*`` environment variables and command-line options;
:func:`load_settings` puts them together. ``docs/configuration.md``
is generated from this class (``labgate config reference``), so every field's
description is user documentation.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from labgate.destinations import DEFAULT_DENIED_HOSTS, parse_host_rules
from labgate.errors import ConfigurationError, FieldProblem

#: Where a session's id goes in ``app_domain`` (labgate.proxy.origins).
APP_DOMAIN_PLACEHOLDER = "{session}"
_DOMAIN_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def check_app_domain(value: str) -> str:
    """``value`` as the setting keeps it (lower case), or ValueError saying what is wrong."""
    domain = value.strip().lower()
    if not domain:
        return ""
    if not domain.startswith(APP_DOMAIN_PLACEHOLDER + "."):
        raise ValueError(
            "app_domain must start with '{session}.' followed by a domain, "
            "e.g. {session}.apps.example.org"
        )
    rest = domain[len(APP_DOMAIN_PLACEHOLDER) + 1 :]
    labels = rest.split(".")
    if not all(_DOMAIN_LABEL.match(label) for label in labels):
        raise ValueError(
            f"app_domain: {rest!r} is not a domain name (letters, digits and '-' in "
            "dot-separated labels; no scheme, port or path)"
        )
    return domain


def _limit(default: int | None, what: str, who: str) -> Any:
    """A role's quota setting: at least 0, null for none."""
    return Field(default, ge=0, description=f"The most {what} {who} may use. Null: no limit.")


ENV_PREFIX = "LABGATE_"
CONFIG_VARIABLE = ENV_PREFIX + "CONFIG"

# The parsed configuration file, handed from load_settings to the settings source below
# (pydantic-settings builds its sources in a classmethod, without the call's arguments).
_file_values: ContextVar[dict[str, Any] | None] = ContextVar("labgate_settings_file", default=None)


class Settings(BaseSettings):
    """Everything an administrator can configure."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="forbid",
        validate_default=True,
    )

    # -- serving ---------------------------------------------------------------------
    host: str = Field("127.0.0.1", description="Address the HTTP server listens on.")
    port: int = Field(8000, ge=1, le=65535, description="TCP port the HTTP server listens on.")
    public_url: str = Field(
        "",
        description="The URL users reach labgate at, e.g. `https://labgate.example.org`. "
        "When it starts with https:// (or a proxy in front says so via "
        "`trusted_proxies`), session cookies are marked Secure.",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses of reverse proxies whose X-Forwarded-For / "
        "X-Forwarded-Proto headers are believed (for client addresses in the audit log "
        "and rate limiting).",
    )
    tls_certfile: Path | None = Field(
        None,
        description="PEM certificate (chain) to serve HTTPS directly. Usually TLS ends at a "
        "reverse proxy in front of labgate instead.",
    )
    tls_keyfile: Path | None = Field(
        None, description="PEM private key belonging to `tls_certfile`."
    )
    data_dir: Path = Field(
        Path("var"),
        description="Directory for the embedded SQLite database, the server secret and "
        "other state. Created on start, readable by the server's account only (0700).",
    )

    # -- database --------------------------------------------------------------------
    database_url: str = Field(
        "",
        description="SQLAlchemy URL of the database. Empty: SQLite at "
        "`<data_dir>/labgate.sqlite3`. PostgreSQL: `postgresql://user:pass@host/db`.",
    )
    database_pool_size: int = Field(
        10, ge=1, le=200, description="Connections kept open per server (PostgreSQL)."
    )

    # -- accounts and login ----------------------------------------------------------
    admin_username: str = Field(
        "admin", description="Name of the administrator created on first start."
    )
    admin_password: SecretStr | None = Field(
        None,
        description="Password of the administrator created on first start. When unset, "
        "a one-time password is generated and printed.",
    )
    auth_providers: list[str] = Field(
        default_factory=lambda: ["local"],
        description="Sign-in providers, in order: those that check a user name and "
        "password are asked in this order by the login form; those that send the browser "
        "to an identity provider (OpenID Connect) are buttons on the login page, in this "
        "order. Built in: `local` (accounts in labgate's database), `pam` (the machine's "
        "own accounts), `ldap` (a directory) and `oidc` (an OpenID provider). A name that "
        "is not a provider's is one of `auth`'s sections whose `kind` names the provider, "
        "so one kind can be used twice (two OpenID providers). Plug-ins add more through "
        "the `register_auth_providers` hook (docs/plugins.md).",
    )
    auth: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Each sign-in provider's own settings, by its name in "
        "`auth_providers` (TOML: `[auth.ldap]`, `[auth.helmholtz]`): `kind` (the "
        "provider, when the name is not one), `label` (its name on the login page) and "
        "what the provider reads (docs/admin-guide.md, *Sign-in*).",
    )
    identity_recheck_minutes: int = Field(
        15,
        ge=0,
        description="How often the identity provider of a signed-in user is asked again "
        "whether their identity still holds (an LDAP entry locked or gone, a PAM account "
        "locked or expired, an OpenID provider refusing to refresh): a refused identity's "
        "login sessions end. 0: never.",
    )
    login_step_seconds: int = Field(
        120,
        ge=10,
        le=900,
        description="How long a sign-in waits for the answer to a further prompt (a "
        "second factor that PAM asks for) before it must start again.",
    )
    guest_files_on_expiry: Literal["keep", "remove"] = Field(
        "keep",
        description="What happens to an expired guest's files where the guest had an OS "
        "account of their own: on `local`, the account labgate created for them (when the "
        "server runs as root). `keep` the account and its files, or `remove` them "
        "(`userdel --remove`: the account with its home directory, after its processes are "
        "ended; never an account labgate did not create for the guest, nor a home another "
        "account shares). Their labgate account and its data go in either case "
        "(docs/admin-guide.md, *Guests*).",
    )
    session_idle_timeout_minutes: int = Field(
        8 * 60,
        ge=1,
        description="A login session unused this long ends.",
    )
    session_max_age_hours: int = Field(
        7 * 24, ge=1, description="A login session ends this long after login, used or not."
    )
    login_rate_window_seconds: int = Field(
        300, ge=1, description="Window over which failed logins are counted."
    )
    login_max_failures_per_account: int = Field(
        5,
        ge=1,
        description="Failed logins for one account within the window before "
        "further attempts are refused (429).",
    )
    login_max_failures_per_client: int = Field(
        20,
        ge=1,
        description="Failed logins from one client address within the window "
        "before further attempts are refused (429).",
    )
    api_token_max_days: int = Field(
        365, ge=1, description="Longest lifetime an API token may be given."
    )
    password_hash_time_cost: int = Field(
        3, ge=1, le=20, description="argon2id passes per password hash (cost of a login)."
    )
    password_hash_memory_kib: int = Field(
        65536, ge=8, description="argon2id memory per password hash, in KiB."
    )
    min_password_length: int = Field(10, ge=6, description="Shortest password accepted.")

    audit_retention_days: int = Field(
        365,
        ge=0,
        description="Audit events older than this many days are deleted (0 keeps them for "
        "ever). Ended sessions and expired tokens are removed after 30 days.",
    )

    # -- resources and credentials -----------------------------------------------------
    secret_key: SecretStr | None = Field(
        None,
        description="Server secret that encrypts remembered SSH keys, generated key pairs "
        "and the SSH CA key in the database. Empty: read from `<data_dir>/secret.key`, "
        "created (mode 0600) on first start. Replicas must share the same secret; losing "
        "it makes remembered keys unreadable (users upload them again).",
    )
    local_resource: Literal["auto", "admins", "everyone", "off"] = Field(
        "auto",
        description="Who may use the `local` resource, the server's own machine. When the "
        "server runs as root, each labgate user runs there as an OS account of their own "
        "(the resource's account rule and overrides map them); otherwise everyone on "
        "`local` is the server's own OS account. `auto`: `everyone` when the server runs "
        "as root, `admins` otherwise. `everyone` on a server that does not run as root "
        "suits a single-user installation only.",
    )
    local_create_accounts: bool = Field(
        False,
        description="When the server runs as root: create the OS account a labgate user "
        "is mapped to on `local` by the account rule (never an explicit override) on "
        "their first connection, if it does not exist (`useradd --create-home "
        "--user-group`, home mode 0700). `make run` turns it on.",
    )
    ssh_connect_timeout_seconds: int = Field(
        20, ge=1, le=300, description="How long to wait for each SSH server of a chain."
    )
    ssh_keepalive_seconds: int = Field(
        30,
        ge=0,
        le=3600,
        description="Interval of SSH keepalives; a connection that misses three is "
        "treated as lost and reconnected (0 turns keepalives off).",
    )
    ssh_certificate_hours: int = Field(
        12,
        ge=1,
        le=24 * 7,
        description="Validity of the user certificates labgate's SSH CA signs for each "
        "connection to a resource that trusts it.",
    )
    daemon_idle_minutes: int = Field(
        60,
        ge=1,
        description="A user's daemon on a resource exits after this long with no "
        "connection and nothing running.",
    )
    agent_call_timeout_seconds: int = Field(
        60,
        ge=1,
        le=3600,
        description="How long the server waits for the agent on a resource to answer one "
        "call (list a folder, start a process, check an app) before the caller gets an "
        "error. Calls whose work grows with the data (copying, deleting, searching or "
        "measuring a tree, checking an upload) wait up to an hour. A stuck resource then "
        "costs its user an error, and nobody else anything.",
    )

    agent_runtime_dir: str = Field(
        "",
        description="Directory on each resource for the daemon's socket (created 0700). "
        "`{uid}` in it becomes the account's user id, so that one setting serves every "
        "account of a machine (e.g. `/run/labgate/{uid}`). Empty: "
        "`$XDG_RUNTIME_DIR/labgate`, else `/tmp/labgate-<uid>`.",
    )

    # -- limits: what users may reach and how much they may pile up --------------------
    resource_hosts_allowed: list[str] = Field(
        default_factory=list,
        description="Hosts the resources (and jump hosts) of users who are not "
        "administrators may be: CIDRs (`10.20.0.0/16`), host name patterns "
        "(`*.cluster.example.org`) or the words of `resource_hosts_denied`. Empty: any host "
        "that is not denied. Checked on the addresses a name resolves to, when a resource "
        "is saved and at every connection (labgate connects to the address it checked). "
        "Shared resources and administrators' own are not checked.",
    )
    resource_hosts_denied: list[str] = Field(
        default_factory=lambda: list(DEFAULT_DENIED_HOSTS),
        description="Hosts the resources (and jump hosts) of users who are not "
        "administrators may not be, whatever `resource_hosts_allowed` says: CIDRs, host "
        "name patterns, and the words `loopback` (127.0.0.0/8, ::1), `link-local` "
        "(169.254.0.0/16, fe80::/10, where cloud metadata services answer), `private` "
        "(10/8, 172.16/12, 192.168/16, fc00::/7 and the other ranges not routed on the "
        "internet) and `this-server` (any address of the "
        "machine labgate runs on). Keeps labgate from being used to probe the server's own "
        "services and internal hosts.",
    )
    resource_connect_attempts_per_minute: int = Field(
        30,
        ge=1,
        description="Connections to resources one user may start within a minute, on one "
        "server process; more are refused (429) until the minute has passed. Automatic "
        "reconnects of a dropped connection do not count.",
    )
    max_processes_per_resource: int = Field(
        100,
        ge=1,
        description="Running processes and terminals (sessions' apps included) one user "
        "may have on one resource; starting another is refused (409).",
    )
    max_running_transfers: int = Field(
        10, ge=1, description="Copy and move jobs one user may have running at once (409)."
    )
    max_favourites: int = Field(
        200,
        ge=1,
        le=10_000,
        description="Favourites (starred resources, app templates, folders, experiments, and "
        "presets) one user may keep; starring more is refused (409).",
    )
    max_unfinished_uploads: int = Field(
        100,
        ge=1,
        description="Resumable uploads one user may have started and not finished (nor "
        "cancelled, nor expired); starting another is refused (409).",
    )
    app_max_pending_extensions: int = Field(
        10,
        ge=1,
        description="Requests for more time one user may have waiting for an "
        "administrator; asking for another is refused (409).",
    )

    # -- HTTP hardening ----------------------------------------------------------------
    max_body_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        description="Largest request body accepted by the JSON API; larger ones get 413.",
    )
    max_upload_bytes: int = Field(
        0,
        ge=0,
        description="Largest file upload (`PUT .../files/content`); larger ones get 413. "
        "Uploads are streamed to the resource, never held in the server's memory, and "
        "`max_body_bytes` does not apply to them. 0: no limit here (the resource's disk "
        "and quotas still apply).",
    )
    proxy_websocket_max_message_bytes: int = Field(
        16 * 1024 * 1024,
        ge=64 * 1024,
        description="Largest WebSocket message relayed between a browser and an app "
        "through the proxy, either way (and the largest a browser may send on labgate's "
        "own sockets). A larger one is never held in memory: the socket is closed with "
        "1009 (message too big).",
    )
    # -- interactive sessions (apps) ---------------------------------------------------
    app_domain: str = Field(
        "",
        description="Serve each session's app from an origin of its own, e.g. "
        "`{session}.apps.example.org`: the app's pages then cannot read labgate's cookies "
        "or call its API as their viewer. Needs `public_url` (its scheme and port are "
        "used), a wildcard DNS record and, for HTTPS, a wildcard certificate for the "
        "domain. Empty: apps are served under labgate's own origin, at `/s/<session>/`.",
    )
    app_templates_dir: Path | None = Field(
        None,
        description="A directory of app templates of your own (code-server, RStudio, a "
        "site's JupyterLab), one `*.toml` file each, shown in the launcher beside the "
        "built-in ones; a file with a built-in template's `id` replaces it. Checked at "
        "start-up and by `labgate config check`. See the admin guide.",
    )
    app_idle_minutes: int = Field(
        4 * 24 * 60,
        ge=0,
        description="A user's session (JupyterLab, TensorBoard, ...) with no activity for "
        "this long is stopped (four days, as VISA). Activity: any request through labgate "
        "to the app, and for JupyterLab a busy kernel. 0: never.",
    )
    app_staff_idle_minutes: int = Field(
        8 * 24 * 60,
        ge=0,
        description="`app_idle_minutes` for staff and administrators (eight days).",
    )
    app_guest_idle_minutes: int = Field(
        30, ge=0, description="`app_idle_minutes` for guest accounts."
    )
    app_max_hours: int = Field(
        14 * 24,
        ge=0,
        description="The longest a user's session may run, however busy, before it is "
        "stopped unless extended (14 days, as VISA). Batch jobs also end at their time "
        "limit. 0: no limit.",
    )
    app_staff_max_hours: int = Field(
        60 * 24,
        ge=0,
        description="`app_max_hours` for staff and administrators (60 days).",
    )
    app_guest_max_hours: int = Field(8, ge=0, description="`app_max_hours` for guests.")
    app_warnings_minutes: list[int] = Field(
        [24 * 60, 60],
        max_length=5,
        description="How long before an idle or time-limited session is stopped its "
        "owner is warned, once per entry (a day, and again an hour before): in the "
        "workspace, in the notification centre, and by e-mail when `smtp_host` is set "
        "and the owner wants it. A session whose stop is nearer than a warning's lead "
        "gets only the later warnings. Empty: no warnings.",
    )
    app_extension_hours: int = Field(
        8,
        ge=0,
        description="Extensions up to this many hours are granted at once; longer ones "
        "wait for an administrator. 0: every extension waits for an administrator.",
    )
    app_auto_extensions: int = Field(
        3,
        ge=0,
        description="How many extensions one session gets without an administrator.",
    )
    app_max_sessions: int = Field(
        10, ge=1, description="Running (or starting) sessions a user may have at once."
    )
    app_guest_max_sessions: int = Field(2, ge=1, description="`app_max_sessions` for guests.")
    app_start_timeout_seconds: int = Field(
        0,
        ge=0,
        description="How long an app may take from start to answering before it is "
        "stopped and its session failed. 0: each app's own (two minutes for the built-in "
        "ones). Batch jobs count from when the job runs, not from submission.",
    )
    app_reconcile_seconds: int = Field(
        30,
        ge=1,
        description="How often each replica checks the sessions (alive? idle? time up?).",
    )
    app_reconcile_concurrency: int = Field(
        16,
        ge=1,
        le=1000,
        description="How many sessions one replica checks at once. Each check mostly "
        "waits on its resource; a check that hangs holds its place until "
        "`app_check_timeout_seconds`, and the other sessions go on being checked.",
    )
    app_check_timeout_seconds: int = Field(
        45,
        ge=1,
        le=50,
        description="The longest one session's check (and stopping it, when its time is "
        "up) may take; then it is given up, logged, and tried again on a later round. "
        "A session is never failed because its check timed out. At most 50: a check "
        "holds the session's 60-second lease.",
    )
    app_probe_timeout_seconds: int = Field(
        10,
        ge=1,
        le=300,
        description="How long labgate waits for an app's answer when it asks whether the "
        "app is ready (while it starts) or busy (JupyterLab's kernels). An app that does "
        "not answer in time counts as not ready, or not busy.",
    )
    app_scheduler_outage_seconds: int = Field(
        600,
        ge=0,
        description="How long a batch session waits for a scheduler that does not answer "
        "(slurmctld restarting or down, `squeue` timing out) before it is given up. "
        "Meanwhile the session keeps its state and labgate asks again; then it stops "
        "being served, labgate cancels its job as soon as the scheduler answers again, "
        "and the session ends as failed, saying why.",
    )
    app_setup_wheel_directory: str = Field(
        "",
        max_length=4096,
        description="A directory on the resources (a path as the resources see it, e.g. "
        "on a shared file system) holding a wheel of every package labgate pins for its "
        'apps environment ("Set up JupyterLab and TensorBoard for me"): the setup then '
        "installs from it alone (`pip install --no-index --find-links`), for clusters "
        "without internet. Empty: pip installs from the package index each resource "
        "reaches. The admin guide says how to fill it.",
    )
    app_setup_index_url: str = Field(
        "",
        max_length=2048,
        description="The package index the apps environment's setup installs from "
        "(`pip install --index-url`), e.g. a site's mirror. Empty: pip's own default, "
        "or what the resource's pip configuration says. Not used with "
        "`app_setup_wheel_directory`.",
    )
    experiment_embargo_days: int = Field(
        30,
        ge=0,
        le=3650,
        description="How long after an experiment's end date its members may still start "
        "sessions for it (and running ones may go on): sessions can be started until the "
        "end date plus this many days. An experiment without an end date has no limit.",
    )
    support_group: str = Field(
        "",
        max_length=32,
        description="The labgate group of the facility's support staff: its members may "
        "join a user's session (desktop, JupyterLab, ...) when its owner allows support or "
        "asks for help, and are told of requests for help. Empty: no support staff (the "
        "sharing dialog offers no support).",
    )
    # -- e-mail ----------------------------------------------------------------------
    smtp_host: str = Field(
        "",
        description="SMTP server for notices (a session about to be stopped). Empty: "
        "no e-mail; the workspace still shows the warnings.",
    )
    smtp_port: int = Field(25, ge=1, le=65535, description="Port of `smtp_host`.")
    smtp_starttls: bool = Field(False, description="Use STARTTLS with `smtp_host`.")
    smtp_username: str = Field("", description="Login at `smtp_host`, if it needs one.")
    smtp_password: SecretStr | None = Field(None, description="Password for `smtp_username`.")
    smtp_from: str = Field(
        "labgate@localhost", description="The sender address of labgate's e-mail."
    )
    # -- uploads and transfers -------------------------------------------------------
    upload_chunk_max_bytes: int = Field(
        256 * 1024 * 1024,
        ge=64 * 1024,
        description="Largest part of a resumable upload sent in one request "
        "(`PUT .../uploads/{id}`); larger ones get 413. Parts are streamed to the resource "
        "like whole uploads; this only bounds what one retry resends.",
    )
    upload_expiry_hours: int = Field(
        24,
        ge=1,
        description="A resumable upload that receives nothing for this long is cancelled: "
        "its hidden `.labgate-upload-<id>` file on the resource is removed (when the "
        "resource can be reached without typing a password) and it can no longer resume.",
    )
    transfer_history_days: int = Field(
        7,
        ge=1,
        description="Finished copy and move jobs stay listed this long.",
    )
    notification_retention_days: int = Field(
        90,
        ge=1,
        description="Notifications (session warnings, shares, joins, extension decisions, "
        "announcements) older than this many days are deleted, read or not.",
    )
    announcement_check_seconds: int = Field(
        30,
        ge=1,
        le=3600,
        description="How often each replica looks for announcements whose start or end "
        "has come, to show or hide their banner in every tab and send their e-mail.",
    )
    metrics_public: bool = Field(
        False,
        description="Serve /metrics to anyone. Otherwise only loopback clients and "
        "administrators may read it.",
    )

    # -- logging -------------------------------------------------------------------------
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info",
        description="Lowest level of log messages written. At `debug`, the access log "
        "also has the requests to the sessions' apps (`/s/...`).",
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="`json` writes one JSON object per line for log collectors."
    )

    # -- quotas ----------------------------------------------------------------------------
    # Each role's limits, for each user of it alone (the concurrent sessions are
    # `app_max_sessions` / `app_guest_max_sessions`). Empty (null): no limit. A quota an
    # administrator sets for the role in the console replaces these.
    quota_user_max_cores: int | None = _limit(32, "CPU cores in use at once", "a user")
    quota_user_max_memory_gb: int | None = _limit(128, "GB of memory in use at once", "a user")
    quota_user_max_gpus: int | None = _limit(2, "GPUs in use at once", "a user")
    quota_user_core_hours_per_month: int | None = _limit(
        2000, "core-hours a calendar month (UTC)", "a user"
    )
    quota_user_gpu_hours_per_month: int | None = _limit(
        200, "GPU-hours a calendar month (UTC)", "a user"
    )
    quota_staff_max_cores: int | None = _limit(128, "CPU cores in use at once", "staff")
    quota_staff_max_memory_gb: int | None = _limit(512, "GB of memory in use at once", "staff")
    quota_staff_max_gpus: int | None = _limit(8, "GPUs in use at once", "staff")
    quota_staff_core_hours_per_month: int | None = _limit(
        10000, "core-hours a calendar month (UTC)", "staff"
    )
    quota_staff_gpu_hours_per_month: int | None = _limit(
        1000, "GPU-hours a calendar month (UTC)", "staff"
    )
    quota_guest_max_cores: int | None = _limit(4, "CPU cores in use at once", "a guest")
    quota_guest_max_memory_gb: int | None = _limit(16, "GB of memory in use at once", "a guest")
    quota_guest_max_gpus: int | None = _limit(0, "GPUs in use at once", "a guest")
    quota_guest_core_hours_per_month: int | None = _limit(
        100, "core-hours a calendar month (UTC)", "a guest"
    )
    quota_guest_gpu_hours_per_month: int | None = _limit(
        0, "GPU-hours a calendar month (UTC)", "a guest"
    )
    quota_admin_max_cores: int | None = _limit(None, "CPU cores in use at once", "an admin")
    quota_admin_max_memory_gb: int | None = _limit(None, "GB of memory in use at once", "an admin")
    quota_admin_max_gpus: int | None = _limit(None, "GPUs in use at once", "an admin")
    quota_admin_core_hours_per_month: int | None = _limit(
        None, "core-hours a calendar month (UTC)", "an admin"
    )
    quota_admin_gpu_hours_per_month: int | None = _limit(
        None, "GPU-hours a calendar month (UTC)", "an admin"
    )
    quota_direct_cores: int = Field(
        1,
        ge=0,
        le=4096,
        description="CPU cores a session launched directly (not through a scheduler) counts "
        "for its quotas, unless its form asks for more. It counts no memory and no GPUs.",
    )
    quota_warning_percent: int = Field(
        80,
        ge=1,
        le=100,
        description="A user is told once a month (in the notification centre) when their "
        "core-hours or GPU-hours, or their group's or experiment's, pass this share of a "
        "monthly limit.",
    )

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @model_validator(mode="after")
    def _check_tls(self) -> Settings:
        if (self.tls_certfile is None) != (self.tls_keyfile is None):
            raise ValueError("tls_certfile and tls_keyfile must be set together")
        for path in (self.tls_certfile, self.tls_keyfile):
            if path is not None and not path.is_file():
                raise ValueError(f"TLS file {path} does not exist")
        return self

    @field_validator("app_setup_index_url")
    @classmethod
    def _check_index_url(cls, value: str) -> str:
        value = value.strip()
        if value and not re.match(r"^https?://[^\s/]+(/\S*)?$", value):
            raise ValueError(
                "must be an http:// or https:// address, e.g. https://pypi.example.org/simple"
            )
        return value

    @field_validator("app_setup_wheel_directory")
    @classmethod
    def _check_wheel_directory(cls, value: str) -> str:
        value = value.strip()
        if value and (not value.startswith("/") or "\n" in value or "\x00" in value):
            raise ValueError("must be an absolute path on the resources, e.g. /shared/wheels")
        return value

    @field_validator("resource_hosts_allowed", "resource_hosts_denied")
    @classmethod
    def _check_host_rules(cls, value: list[str]) -> list[str]:
        return [str(rule) for rule in parse_host_rules(value)]

    @field_validator("app_warnings_minutes")
    @classmethod
    def _check_warnings(cls, value: list[int]) -> list[int]:
        if any(minutes < 1 for minutes in value):
            raise ValueError("app_warnings_minutes: each entry is a number of minutes >= 1")
        return sorted(set(value), reverse=True)  # earliest warning first

    @field_validator("support_group")
    @classmethod
    def _check_support_group(cls, value: str) -> str:
        value = value.strip()
        if value and not re.fullmatch(r"[a-z_][a-z0-9_.-]{0,31}", value):
            raise ValueError(
                "must be a labgate group's name: lower-case letters, digits, '_', '.' or "
                "'-', starting with a letter or '_'"
            )
        return value

    @field_validator("app_domain")
    @classmethod
    def _check_app_domain(cls, value: str) -> str:
        return check_app_domain(value)

    @model_validator(mode="after")
    def _check_app_origins(self) -> Settings:
        if self.app_domain and not self.public_url:
            raise ValueError(
                "app_domain needs public_url: the sessions' origins take its scheme and port, "
                "and their sign-in starts at labgate's own origin"
            )
        return self

    @model_validator(mode="after")
    def _check_first_admin(self) -> Settings:
        from labgate.accounts.names import valid_name

        if not valid_name(self.admin_username):
            raise ValueError(
                "admin_username must be 1-32 characters: lower-case letters, digits, "
                "'_', '.' or '-', starting with a letter or '_'"
            )
        password = self.admin_password.get_secret_value() if self.admin_password else ""
        if password and len(password) < self.min_password_length:
            raise ValueError(
                f"admin_password must have at least {self.min_password_length} characters"
            )
        return self

    def make_data_dir(self) -> None:
        """Create ``data_dir`` if missing, and make it the server's account's alone
        (0700, also when it existed): the SQLite database and the server secret live
        there, and on ``local`` other OS accounts run users' programs."""
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self.data_dir.stat().st_mode & 0o077:
            self.data_dir.chmod(0o700)

    @property
    def effective_database_url(self) -> str:
        """The SQLAlchemy async URL actually used."""
        url = self.database_url
        if not url:
            return f"sqlite+aiosqlite:///{(self.data_dir / 'labgate.sqlite3').resolve()}"
        if url.startswith(("postgresql://", "postgres://")):
            return "postgresql+asyncpg://" + url.split("://", 1)[1]
        if url.startswith("sqlite://"):
            return "sqlite+aiosqlite://" + url.split("://", 1)[1]
        return url

    @property
    def serves_tls(self) -> bool:
        return self.tls_certfile is not None

    @property
    def secure_cookies(self) -> bool:
        return self.public_url.startswith("https://") or self.serves_tls

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        file_settings = InitSettingsSource(settings_cls, init_kwargs=_file_values.get() or {})
        return init_settings, env_settings, file_settings

    @property
    def config_file(self) -> Path | None:
        """The TOML file these settings were read from, if any."""
        return self._config_file

    _config_file: Path | None = PrivateAttr(None)


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Read settings from ``config_file`` (or the file ``LABGATE_CONFIG`` names), the
    environment and ``overrides`` (command-line options; None means not given), turning
    every problem into one clear error."""
    path = config_file or (
        Path(os.environ[CONFIG_VARIABLE]) if os.environ.get(CONFIG_VARIABLE) else None
    )
    with _reading_file(_read_toml(path) if path else {}):
        try:
            settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
        except ValidationError as exc:
            problems = "; ".join(str(FieldProblem.of(err)) for err in exc.errors())
            raise ConfigurationError(f"Invalid settings: {problems}") from None
    settings._config_file = path
    return settings


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigurationError(f"Configuration file {path} does not exist.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"Configuration file {path} is not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"Cannot read configuration file {path}: {exc}") from None


@contextmanager
def _reading_file(values: dict[str, Any]) -> Iterator[None]:
    token = _file_values.set(values)
    try:
        yield
    finally:
        _file_values.reset(token)
