"""The limits a session gets, by the owner's role: idle time, lifetime, how many at once,
how much extension without an administrator (settings ``app_*``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from labgate.db.models import Role
from labgate.settings import Settings


@dataclass(frozen=True)
class SessionPolicy:
    idle_minutes: int
    max_hours: int
    max_sessions: int
    warning_minutes: int
    auto_extension_hours: int
    auto_extensions: int


def idle_stop_at(last_activity: datetime, idle_minutes: int) -> datetime | None:
    """When idle clean-up stops a session last used at ``last_activity`` (None: never)."""
    return last_activity + timedelta(minutes=idle_minutes) if idle_minutes else None


def policy_for(role: str, settings: Settings) -> SessionPolicy:
    guest = role == Role.GUEST.value
    return SessionPolicy(
        idle_minutes=settings.app_guest_idle_minutes if guest else settings.app_idle_minutes,
        max_hours=settings.app_guest_max_hours if guest else settings.app_max_hours,
        max_sessions=settings.app_guest_max_sessions if guest else settings.app_max_sessions,
        warning_minutes=settings.app_warning_minutes,
        auto_extension_hours=0 if guest else settings.app_extension_hours,
        auto_extensions=0 if guest else settings.app_auto_extensions,
    )
