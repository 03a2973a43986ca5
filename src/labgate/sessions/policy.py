"""The limits a session gets, by the owner's role: idle time, lifetime, warnings, how much
extension without an administrator (settings ``app_*``). How many at once is a quota
(``labgate.quotas``).

Users, staff and guests each have their own idle limit and lifetime (VISA's defaults:
users four days idle and 14 days in all, staff eight and 60). Administrators get the
staff's: they run the facility's long work and support sessions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from labgate.db.models import Role
from labgate.settings import Settings


@dataclass(frozen=True)
class SessionPolicy:
    idle_minutes: int
    max_hours: int
    #: Leads of the warnings before a stop, earliest first (``app_warnings_minutes``).
    warnings_minutes: tuple[int, ...]
    auto_extension_hours: int
    auto_extensions: int


def idle_stop_at(last_activity: datetime, idle_minutes: int) -> datetime | None:
    """When idle clean-up stops a session last used at ``last_activity`` (None: never)."""
    return last_activity + timedelta(minutes=idle_minutes) if idle_minutes else None


def policy_for(role: str, settings: Settings) -> SessionPolicy:
    guest = role == Role.GUEST.value
    staff = role in (Role.STAFF.value, Role.ADMIN.value)
    if guest:
        idle, hours = settings.app_guest_idle_minutes, settings.app_guest_max_hours
    elif staff:
        idle, hours = settings.app_staff_idle_minutes, settings.app_staff_max_hours
    else:
        idle, hours = settings.app_idle_minutes, settings.app_max_hours
    return SessionPolicy(
        idle_minutes=idle,
        max_hours=hours,
        warnings_minutes=tuple(settings.app_warnings_minutes),
        auto_extension_hours=0 if guest else settings.app_extension_hours,
        auto_extensions=0 if guest else settings.app_auto_extensions,
    )


def warning_due(
    now: datetime, stop_at: datetime, leads_minutes: tuple[int, ...] | list[int], sent: int
) -> int | None:
    """Which warning (its index in ``leads_minutes``, earliest first) to send now for a
    stop at ``stop_at``, ``sent`` of them sent already for it; None: none. When several
    are due at once (a session shorter than a warning's lead, or a server that was down)
    only the latest is sent: the earlier ones count as sent, so no burst of two."""
    left = stop_at - now
    due = None
    for index, minutes in enumerate(leads_minutes):
        if index >= sent and left <= timedelta(minutes=minutes):
            due = index
    return due


def warnings_kept(ends_at: datetime | None, now: datetime, settings: Settings) -> bool:
    """Whether activity now leaves the warnings sent as they are: when the session's
    end of lifetime (which activity does not move) is itself within the earliest
    warning's lead, those warnings stand for it; otherwise activity moved the deadline
    they were for, and they start again."""
    leads = settings.app_warnings_minutes
    return ends_at is not None and bool(leads) and ends_at - now <= timedelta(minutes=leads[0])
