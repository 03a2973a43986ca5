"""The kinds of notification, and the preference that says whether a user wants each by
e-mail too (``notifications.email.<kind>``; a join's is the older
``sharing.notify_joins_by_email``). Announcements have none: the administrator who posts
one decides whether it is e-mailed (``labgate.notifications.announcements``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from labgate import preferences

SESSION_WARNING = "session_warning"
SHARE = "share"
JOIN = "join"
EXTENSION = "extension"
ANNOUNCEMENT = "announcement"
QUOTA = "quota"

#: The kinds a user may want by e-mail: the preference's key and its default.
EMAIL_PREFERENCES: dict[str, tuple[str, bool]] = {
    SESSION_WARNING: (f"notifications.email.{SESSION_WARNING}", True),
    SHARE: (f"notifications.email.{SHARE}", False),
    JOIN: ("sharing.notify_joins_by_email", False),
    EXTENSION: (f"notifications.email.{EXTENSION}", True),
    QUOTA: (f"notifications.email.{QUOTA}", False),
}

_WHAT = {
    SESSION_WARNING: "a session of mine will be stopped soon (a day and an hour before)",
    SHARE: "someone shares a session with me",
    JOIN: "someone joins a session I shared (the workspace always tells)",
    EXTENSION: "an administrator decides on my request for more time",
    QUOTA: "I have used 80% of a quota",
}

for _kind, (_key, _default) in EMAIL_PREFERENCES.items():
    preferences.register(
        _key, Annotated[bool, Field(strict=True)], _default, f"E-mail me when {_WHAT[_kind]}."
    )


def email_preference(kind: str) -> str | None:
    """The preference that says whether ``kind`` is wanted by e-mail (None: never)."""
    found = EMAIL_PREFERENCES.get(kind)
    return found[0] if found else None
