"""What the running server holds: settings, the database and its collaborators.

Nothing here is state that could not be rebuilt from the database, the settings and the
resources: live connections are re-made on demand, and the work on a resource lives in
the user's daemon there. So a restart or a second replica loses nothing.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from functools import cached_property

from sqlalchemy.ext.asyncio import AsyncSession

from labgate.accounts.recheck import IdentityRecheck
from labgate.auth.active_days import ActiveDays
from labgate.auth.live_sockets import LiveSockets
from labgate.auth.login_steps import LoginSteps
from labgate.auth.policy import SessionRole
from labgate.auth.principal import Principal
from labgate.auth.providers import AuthProvider
from labgate.auth.recent import RecentCallers
from labgate.credentials.vault import Vault
from labgate.db.engine import Database
from labgate.db.models import Resource
from labgate.fanout import Fanout
from labgate.http.metrics import Metrics
from labgate.launching.template import AppTemplate
from labgate.notifications.announcements import EVERYONE, Announcer
from labgate.notifications.delivery import Delivery
from labgate.plugins.bundles import LoadedBundle, load_bundles
from labgate.plugins.manager import Plugins
from labgate.proxy.origins import AppOrigins
from labgate.proxy.routes import RouteTable
from labgate.resources.catalog import can_see
from labgate.resources.connections import ConnectionManager
from labgate.resources.keyring import Keyring
from labgate.resources.login import Asker, CredentialCache, Login
from labgate.resources.plan import ConnectionPlan, refreshed
from labgate.resources.revocation import Revocation
from labgate.resources.status import Hub, StatusHub
from labgate.resources.transfers import TransferRunner
from labgate.sessions.activity import ActivityRecorder
from labgate.sessions.lifecycle import Lifecycle, SessionChanged
from labgate.sessions.mail import send_mail
from labgate.sessions.presence import Joined, Presence
from labgate.sessions.reconcile import Reconciler
from labgate.sessions.sharing import session_access
from labgate.sessions.support import HelpAsked
from labgate.sessions.template_files import TemplateCatalog, catalog_of
from labgate.sessions.tokens import SessionTokens
from labgate.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class AppState:
    settings: Settings
    database: Database
    #: The loaded plug-ins (labgate's own parts among them): what they provide.
    plugins: Plugins
    providers: list[AuthProvider]
    metrics: Metrics = field(default_factory=Metrics)
    hub: StatusHub = field(default_factory=StatusHub)
    # The proxy's callers of a moment ago (labgate.auth.recent).
    recent_callers: RecentCallers = field(default_factory=RecentCallers)
    # Whom this replica has recorded as active today (labgate.auth.active_days).
    active_days: ActiveDays = field(default_factory=ActiveDays)

    @cached_property
    def login_steps(self) -> LoginSteps:
        """Sign-ins waiting here for the answer to a further prompt."""
        return LoginSteps(self.settings.login_step_seconds)

    @cached_property
    def live_sockets(self) -> LiveSockets:
        """This replica's open WebSockets, closed when their credential ends."""

        async def may_use(db: AsyncSession, principal: Principal, resource_id: int) -> bool:
            resource = await db.get(Resource, resource_id)
            return resource is not None and await can_see(db, principal, self.settings, resource)

        async def role_on(
            db: AsyncSession, principal: Principal, session_id: str
        ) -> SessionRole | None:
            access = await session_access(db, self.settings, principal, session_id)
            return access.role if access is not None else None

        return LiveSockets(self.database, self.settings, may_use, role_on)

    @cached_property
    def identity_recheck(self) -> IdentityRecheck:
        """Asks the sign-in providers again whether signed-in identities still hold."""

        def ended(user_id: int) -> None:
            # Their sessions ended: the proxy asks the database again, and their open
            # sockets here close now (the other replicas see it within a second).
            self.recent_callers.forget_all()
            self.live_sockets.recheck(user_id)

        return IdentityRecheck(
            self.database, self.settings, self.providers, lambda: self.vault, ended
        )

    @cached_property
    def vault(self) -> Vault:
        """Opened on first use: reading (or creating) the secret file is a side effect
        that servers without resources in use never need."""
        return Vault.from_settings(self.settings)

    @cached_property
    def session_tokens(self) -> SessionTokens:
        return SessionTokens(lambda: self.vault)

    @cached_property
    def routes(self) -> RouteTable:
        """Where each session's URL leads (the proxy's cache)."""
        return RouteTable(
            self.database, self.connections, self.session_tokens, self.templates, self.settings
        )

    @cached_property
    def origins(self) -> AppOrigins:
        """The sessions' own origins, when ``app_domain`` is set."""
        return AppOrigins(self.settings, lambda: self.vault, self.database)

    @cached_property
    def activity(self) -> ActivityRecorder:
        return ActivityRecorder(self.database, self.settings)

    @cached_property
    def lifecycle(self) -> Lifecycle:
        """Launches sessions and keeps them in step with reality."""
        return Lifecycle(self)

    @cached_property
    def presence(self) -> Presence:
        """Who is connected to shared sessions through this replica; owners' news of joins."""
        return Presence(self.database, self.settings, self.lifecycle.replica)

    @cached_property
    def help_asked(self) -> Hub[HelpAsked]:
        """Owners' requests for help, to the support staff's tabs."""
        return Hub()

    @cached_property
    def notifications(self) -> Hub[int]:
        """New notifications (their ids), to their users' tabs."""
        return Hub()

    @cached_property
    def delivery(self) -> Delivery:
        """Committed notifications, to the users' tabs and (when wanted) by e-mail."""

        async def mail(to: str, subject: str, text: str) -> bool:
            return await send_mail(self.settings, to, subject, text)

        return Delivery(self.database, self.notifications.put, mail)

    @cached_property
    def announcements(self) -> Hub[int]:
        """ "Read the current announcements again", to every tab (under ``EVERYONE``)."""
        return Hub()

    @cached_property
    def announcer(self) -> Announcer:
        """Sends out announcements whose start came, and tells this replica's tabs when
        the current ones change."""

        async def mail(to: str, subject: str, text: str) -> bool:
            return await send_mail(self.settings, to, subject, text)

        return Announcer(
            self.database,
            self.settings,
            lambda: self.announcements.deliver(EVERYONE, 0),
            mail,
        )

    @cached_property
    def reconciler(self) -> Reconciler:
        """Checks the live sessions (alive? idle? time up?) every app_reconcile_seconds."""
        return Reconciler(self.lifecycle)

    @cached_property
    def revocation(self) -> Revocation:
        """Ends the sessions and connections of users who lost access to a resource."""
        return Revocation(self)

    @cached_property
    def fanout(self) -> Fanout:
        """Changes of sessions told to the other replicas (on PostgreSQL): to their tabs,
        and to their proxies, which forget where the session's URL led (and who may use
        it); joins of shared sessions, to their owners' tabs; requests for help, to the
        support staff's tabs; requests for more time
        asked or decided, to their administrators' tabs; new notifications, to their
        users' tabs; changed announcements, to every tab."""
        fanout = Fanout(self.database)

        def changed_elsewhere(user_id: int, session_id: str) -> None:
            self.routes.drop(session_id)
            self.lifecycle.hub.deliver(user_id, SessionChanged(session_id, user_id))

        fanout.share(
            "session",
            self.lifecycle.hub,
            encode=lambda change: change.session_id,
            receive=changed_elsewhere,
        )
        fanout.share(
            "joined",
            self.presence.joins,
            encode=lambda joined: json.dumps(asdict(joined)),
            receive=lambda user_id, joined: self.presence.joins.deliver(
                user_id, Joined(**json.loads(joined))
            ),
        )
        fanout.share(
            "help",
            self.help_asked,
            encode=lambda asked: json.dumps(asdict(asked)),
            receive=lambda user_id, asked: self.help_asked.deliver(
                user_id, HelpAsked(**json.loads(asked))
            ),
        )
        fanout.share(
            "extension",
            self.lifecycle.requests,
            encode=str,
            receive=lambda user_id, extension_id: self.lifecycle.requests.deliver(
                user_id, int(extension_id)
            ),
        )
        fanout.share(
            "notification",
            self.notifications,
            encode=str,
            receive=lambda user_id, notification_id: self.notifications.deliver(
                user_id, int(notification_id)
            ),
        )
        fanout.share(
            "announcement",
            self.announcements,
            encode=str,
            receive=lambda user_id, announcement_id: self.announcements.deliver(
                user_id, int(announcement_id)
            ),
        )
        return fanout

    @cached_property
    def bundles(self) -> dict[str, LoadedBundle]:
        """The plug-ins' front-end bundles, by name, their manifests checked."""
        return load_bundles(self.plugins)

    @cached_property
    def template_catalog(self) -> TemplateCatalog:
        """The templates with where each came from, and the administrator's files that
        were refused (each logged once, here)."""
        catalog = catalog_of(self.plugins, self.settings.app_templates_dir)
        for refused in catalog.refused:
            log.error("%s (the file is left out)", refused.message)
        return catalog

    @cached_property
    def templates(self) -> dict[str, AppTemplate]:
        """The plug-ins' templates (labgate's own among them) and the administrator's
        (app_templates_dir)."""
        return self.template_catalog.templates

    @cached_property
    def keyring(self) -> Keyring:
        return Keyring(self.database, lambda: self.vault, self.settings)

    @cached_property
    def connections(self) -> ConnectionManager:
        def login(plan: ConnectionPlan, asker: Asker, cache: CredentialCache) -> Login:
            return Login(plan, asker, cache, self.keyring)

        async def replan(plan: ConnectionPlan) -> ConnectionPlan | None:
            async with self.database.read() as db:
                return await refreshed(db, plan, self.settings)

        return ConnectionManager(self.settings, self.hub, login, replan, self.plugins.transports())

    @cached_property
    def transfers(self) -> TransferRunner:
        """This replica's copy and move jobs."""
        return TransferRunner(self.database, self.connections)
