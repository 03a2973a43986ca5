"""A user's quotas with their usage, as the app shows them ("120 of 500 core-hours used
this month"): their role's, their groups', and those of the experiments they are a
member of."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from labgate.db.models import ExperimentMember
from labgate.quotas.accounting import Usage, month_label, usage_of
from labgate.quotas.limits import Scoped, applicable, experiment_limits
from labgate.settings import Settings


@dataclass(frozen=True)
class Report:
    month: str
    quotas: list[tuple[Scoped, Usage]]


async def report_for(
    db: AsyncSession, settings: Settings, user_id: int, role: str, now: datetime
) -> Report:
    """Every quota of the user's with what it has in use and has used in ``now``'s month."""
    scopes = await applicable(db, settings, user_id, role)
    experiments = await db.scalars(
        select(ExperimentMember.experiment_id)
        .where(ExperimentMember.user_id == user_id)
        .distinct()
        .order_by(ExperimentMember.experiment_id)
    )
    for experiment_id in list(experiments):
        found = await experiment_limits(db, experiment_id)
        if found is not None:
            scopes.append(found)
    return Report(month_label(now), [(s, await usage_of(db, s, user_id, now)) for s in scopes])
