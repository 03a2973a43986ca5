"""The check before every launch (:func:`check_launch`): the launch must fit in every
quota that applies (``quotas/limits.py``), counted from the database
(``quotas/accounting.py``), or it is refused with what would be exceeded, what is in use
and when it frees up.

Atomic: the caller holds the user's turn (``sessions.service.one_at_a_time``), which is
enough for the role's quota (the user's own); a group's or an experiment's is shared
with others, so a launch that counts against one also takes the quotas' lock across
replicas (PostgreSQL; SQLite runs one writer at a time), held until its transaction
ends, so two launches at once cannot both take the last free slot.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from labgate.auth.principal import Principal
from labgate.db.engine import lock_across_replicas
from labgate.db.models import QuotaScope
from labgate.db.types import utcnow
from labgate.errors import QuotaExceeded
from labgate.quotas import warnings
from labgate.quotas.accounting import QUOTAS_LOCK, LiveSession, Usage, month_of, usage_of
from labgate.quotas.limits import Scoped, applicable
from labgate.quotas.requested import Requested
from labgate.settings import Settings


async def check_launch(
    db: AsyncSession,
    settings: Settings,
    principal: Principal,
    requested: Requested,
    *,
    experiment_id: int | None = None,
) -> list[tuple[Scoped, Usage]]:
    """Refuse (409 ``quota_exceeded``) a launch of ``principal``'s asking for
    ``requested`` (for ``experiment_id``) that would go beyond a quota; otherwise tell
    the user of monthly hours nearly used up (once a month each), and return each quota
    that applies with its usage before the launch."""
    scopes = await applicable(db, settings, principal.user_id, principal.role, experiment_id)
    if any(s.scope != QuotaScope.ROLE.value for s in scopes):
        await lock_across_replicas(db, QUOTAS_LOCK)
    now = utcnow()
    measured = [(s, await usage_of(db, s, principal.user_id, now)) for s in scopes]
    for scoped, usage in measured:
        refusal = refusal_for(scoped, usage, requested, now)
        if refusal is not None:
            raise refusal
    await warnings.warn(db, settings, principal.user_id, measured, now)
    return measured


# What each limit counts: its name, its unit, and which of a live session's amounts holds it.
_AT_ONCE = (
    ("max_sessions", "sessions", None),
    ("max_cores", "CPU cores", "cores"),
    ("max_memory_gb", "GB of memory", "memory_gb"),
    ("max_gpus", "GPUs", "gpus"),
)
# "a limit of 1 session", not "1 sessions".
_ONE = {"sessions": "session", "CPU cores": "CPU core", "GPUs": "GPU"}
_MONTHLY = (
    ("core_hours_per_month", "core-hours", "cores"),
    ("gpu_hours_per_month", "GPU-hours", "gpus"),
)


def refusal_for(
    scoped: Scoped, usage: Usage, requested: Requested, now: datetime
) -> QuotaExceeded | None:
    """The refusal of a launch asking for ``requested`` where ``scoped`` has ``usage``;
    None when it fits."""
    whose = scoped.whose[0].upper() + scoped.whose[1:]
    for name, unit, amount in _AT_ONCE:
        limit: int | None = getattr(scoped.limits, name)
        asked = 1 if amount is None else getattr(requested, amount)
        in_use = usage.sessions if amount is None else getattr(usage, amount)
        if limit is None or asked == 0 or in_use + asked <= limit:
            continue
        holders = [s for s in usage.live if amount is None or getattr(s, amount) > 0]
        by = f" by {_sessions(len(holders))}" if amount is not None and holders else ""
        asking = "" if amount is None else f", and this launch asks for {asked}"
        first = _first_to_end(holders)
        if not holders:
            frees = "This launch alone asks for more than that: ask for less."
        elif first is None or first.ends_at is None:
            frees = "It frees up when one of those sessions is stopped."
        elif first.mine:
            frees = (
                f'It frees up when "{first.title}" ends, at {_when(first.ends_at)}; '
                "stop a session to launch sooner."
            )
        else:  # someone else's: when, not what
            frees = f"It frees up when one of those sessions ends, at {_when(first.ends_at)}."
        named = _ONE.get(unit, unit) if limit == 1 else unit
        message = (
            f"{whose} limit of {limit} {named} at once would be exceeded: {in_use} of "
            f"{limit} {unit} in use{by}{asking}. {frees}"
        )
        return QuotaExceeded(
            message,
            _details(
                scoped,
                name,
                limit,
                in_use,
                asked,
                len(holders),
                first.ends_at if first is not None else None,
                {"id": first.id, "title": first.title}
                if first is not None and first.mine
                else None,
            ),
        )
    for name, unit, amount in _MONTHLY:
        limit = getattr(scoped.limits, name)
        asked = getattr(requested, amount)
        used: float = usage.core_hours if amount == "cores" else usage.gpu_hours
        if limit is None or asked == 0 or used < limit:
            continue
        _, next_month = month_of(now)
        message = (
            f"{whose} limit of {limit} {unit} a month is used up: {used:.0f} of {limit} "
            f"{unit} used in {now:%B %Y}. It frees up at the start of next month, "
            f"{_when(next_month)}."
        )
        return QuotaExceeded(
            message,
            _details(scoped, name, limit, round(used, 2), asked, usage.sessions, next_month, None),
        )
    return None


def _first_to_end(sessions: Sequence[LiveSession]) -> LiveSession | None:
    """The one of ``sessions`` that ends first (None: none of them has an end)."""
    ending = [(s.ends_at, s) for s in sessions if s.ends_at is not None]
    return min(ending, key=lambda pair: pair[0])[1] if ending else None


def _sessions(count: int) -> str:
    return f"{count} session" if count == 1 else f"{count} sessions"


def _when(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M} UTC"


def _details(
    scoped: Scoped,
    limit_name: str,
    limit: int,
    in_use: float,
    asked: int,
    sessions: int,
    frees_at: datetime | None,
    frees_with: dict[str, str] | None,
) -> dict[str, Any]:
    return {
        "scope": scoped.scope,
        "subject": scoped.subject,
        "title": scoped.title,
        "limit": limit_name,
        "allowed": limit,
        "in_use": in_use,
        "asked": asked,
        "sessions": sessions,
        "frees_at": frees_at.isoformat() if frees_at is not None else None,
        "frees_with": frees_with,
    }
