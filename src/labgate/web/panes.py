"""labgate's own panes, a plug-in like any other (``register_panes``): every kind the
front end registers (``frontend/src/panes/*/index.ts``), in the order of
``frontend/src/panes/builtin.ts``. Panes opened only from elsewhere (a file, a session)
are not in the Panes menu; the administrators' own are in the Administration menu.
"""

from __future__ import annotations

from labgate.plugins import hookimpl
from labgate.plugins.front_end import Pane

PANES = (
    Pane("welcome", "Welcome"),
    Pane("resources", "Resources"),
    Pane("editor", "Editor", in_menu=False),
    Pane("terminal", "Terminal", in_menu=False),
    Pane("shared-terminal", "Shared terminal", in_menu=False),
    Pane("terminals", "Terminals"),
    Pane("launcher", "Launch an app"),
    Pane("sessions", "Sessions"),
    Pane("experiments", "Experiments"),
    Pane("experiments-admin", "Experiments", admin_only=True),
    Pane("app", "App", in_menu=False),
    Pane("desktop", "Desktop", in_menu=False),
    Pane("files", "Files", in_menu=False),
    Pane("viewer", "Viewer", in_menu=False),
    Pane("extension-requests", "Requests for more time", admin_only=True),
    Pane("users", "Users", admin_only=True),
    Pane("groups", "Groups", admin_only=True),
    Pane("shared-resources", "Shared resources", admin_only=True),
    Pane("app-templates", "App templates", admin_only=True),
    Pane("all-sessions", "All sessions", admin_only=True),
    Pane("audit-log", "Audit log", admin_only=True),
    Pane("announcements", "Announcements", admin_only=True),
    Pane("guest-invitations", "Guest invitations", admin_only=True),
    Pane("quotas", "Quotas", admin_only=True),
    Pane("usage", "Usage", admin_only=True),
)


@hookimpl
def register_panes() -> list[Pane]:
    return list(PANES)
