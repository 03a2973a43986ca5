"""Who may see an experiment and launch for it: its members see it and launch for it
within its dates; administrators see every experiment. Anyone else is told there is none
(404), as for any other user's things."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from labgate.auth.principal import Principal
from labgate.db.models import AppSession, Experiment
from labgate.db.types import utcnow
from labgate.errors import Conflict, FieldProblem, Forbidden, NotFound
from labgate.experiments.dates import launch_until, why_not
from labgate.experiments.membership import role_of
from labgate.settings import Settings


class ExperimentClosed(Conflict):
    code = "experiment_closed"


async def visible(
    db: AsyncSession, principal: Principal, experiment_id: int, field: str = "body.experiment_id"
) -> Experiment:
    """The experiment, if the caller is a member or an administrator (else 404, on
    ``field``)."""
    row = await db.get(Experiment, experiment_id)
    if row is None or (not principal.is_admin and role_of(row, principal.user_id) is None):
        raise NotFound(
            f"There is no experiment {experiment_id} of yours.",
            details=[FieldProblem(field, "no such experiment of yours")],
        )
    return row


async def for_launch(
    db: AsyncSession, settings: Settings, principal: Principal, experiment_id: int
) -> Experiment:
    """The experiment a session is launched for: the caller must be a member (404 when
    they may not see it, 403 for an administrator who is not one) and it must be within
    its dates (409, saying when it ended or starts)."""
    row = await visible(db, principal, experiment_id)
    if role_of(row, principal.user_id) is None:
        raise Forbidden(
            f"You are not a member of experiment {row.code}: only its members launch for it."
        )
    why = why_not(row, settings.experiment_embargo_days, utcnow())
    if why is not None:
        raise ExperimentClosed(why)
    return row


def capped(ends_at: datetime | None, experiment: Experiment, settings: Settings) -> datetime | None:
    """A session's end, no later than the last moment its experiment allows."""
    until = launch_until(experiment, settings.experiment_embargo_days)
    if until is None:
        return ends_at
    return until if ends_at is None else min(ends_at, until)


async def keep_within_dates(db: AsyncSession, settings: Settings, row: AppSession) -> None:
    """No more time for a session than its experiment's dates allow (an extension
    granted ends, at the latest, with the embargo)."""
    if row.experiment_id is None:
        return
    experiment = await db.get(Experiment, row.experiment_id)
    if experiment is not None:
        row.ends_at = capped(row.ends_at, experiment, settings)
