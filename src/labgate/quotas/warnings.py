"""Quota warnings: when the monthly core-hours or GPU-hours of a user's quota (their
role's, a group's, an experiment's) pass ``quota_warning_percent`` of its limit, the
user is told in their notification centre, once per quota, kind of hours and month.
Checked at each launch (``quotas/check.py``) and by a periodic pass
(:func:`warn_everyone`, from the housekeeping loop)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from labgate.db.engine import lock_across_replicas
from labgate.db.models import (
    ExperimentMember,
    Membership,
    Notification,
    Quota,
    QuotaScope,
    SessionUsage,
    User,
)
from labgate.notifications.centre import notify
from labgate.notifications.kinds import QUOTA
from labgate.quotas.accounting import QUOTAS_LOCK, Usage, month_label, month_of, usage_of
from labgate.quotas.limits import Scoped, applicable, scoped_of
from labgate.settings import Settings

_HOURS = (
    ("core", "core_hours_per_month", "core-hours"),
    ("gpu", "gpu_hours_per_month", "GPU-hours"),
)


async def warn(
    db: AsyncSession,
    settings: Settings,
    user_id: int,
    measured: Sequence[tuple[Scoped, Usage]],
    now: datetime,
) -> int:
    """Tell ``user_id`` of each quota of ``measured`` whose monthly hours passed the
    warning share, unless they were told this month; how many notifications were added.
    The caller holds the quotas' lock, or the user's turn, so that two do not both add
    one."""
    month = month_label(now)
    # By the month they were about (in their subject), whenever they were added.
    told = {
        _key(subject)
        for subject in await db.scalars(
            select(Notification.subject).where(
                Notification.user_id == user_id, Notification.kind == QUOTA
            )
        )
    }
    added = 0
    for scoped, usage in measured:
        for hours, name, unit in _HOURS:
            limit: int | None = getattr(scoped.limits, name)
            used = usage.core_hours if hours == "core" else usage.gpu_hours
            if not limit or used * 100 < limit * settings.quota_warning_percent:
                continue
            subject = {"scope": scoped.scope, "subject": scoped.subject, "hours": hours}
            if _key({**subject, "month": month}) in told:
                continue
            share = min(100, int(used * 100 / limit))
            whose = scoped.whose[0].upper() + scoped.whose[1:]
            await notify(
                db,
                user_id,
                QUOTA,
                f"{whose} {unit} are {share}% used this month",
                f"{used:.0f} of {limit} {unit} are used in {now:%B %Y}. Launches that need "
                f"them are refused once all are used, until the month ends.",
                {**subject, "month": month, "quota": scoped.title},
            )
            told.add(_key({**subject, "month": month}))
            added += 1
    return added


def _key(subject: dict[str, object]) -> tuple[object, ...]:
    return tuple(subject.get(k) for k in ("scope", "subject", "hours", "month"))


async def warn_everyone(db: AsyncSession, settings: Settings, now: datetime) -> int:
    """The periodic pass: every user who used sessions this month, for their role's and
    groups' quotas, and every member of a group or experiment with an hours quota; how
    many notifications were added."""
    await lock_across_replicas(db, QUOTAS_LOCK)
    start, end = month_of(now)
    added = 0
    users = await db.execute(
        select(User.id, User.role).where(
            User.id.in_(
                select(SessionUsage.user_id).where(
                    SessionUsage.started_at < end,
                    (SessionUsage.ended_at.is_(None)) | (SessionUsage.ended_at > start),
                )
            )
        )
    )
    for user_id, role in users.all():
        scopes = await applicable(db, settings, user_id, role)
        measured = [(s, await usage_of(db, s, user_id, now)) for s in scopes]
        added += await warn(db, settings, user_id, measured, now)
    hourly = (Quota.core_hours_per_month.is_not(None)) | (Quota.gpu_hours_per_month.is_not(None))
    for quota in await db.scalars(
        select(Quota).where(Quota.scope != QuotaScope.ROLE.value, hourly)
    ):
        scoped = await scoped_of(db, quota)
        if scoped is None:
            continue
        usage = await usage_of(db, scoped, 0, now)
        members: Select[int | None]
        if quota.scope == QuotaScope.GROUP.value:
            members = select(Membership.user_id).where(Membership.group_id == int(quota.subject))
        else:
            members = select(ExperimentMember.user_id).where(
                ExperimentMember.experiment_id == int(quota.subject),
                ExperimentMember.user_id.is_not(None),
            )
        for member in set(await db.scalars(members)):
            if member is not None:
                added += await warn(db, settings, member, [(scoped, usage)], now)
    return added
