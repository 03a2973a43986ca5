"""Writing experiments: what a source yields (an import, re-runnable: an experiment is
updated in place by its ``code``, its members and locations replaced by what the record
says) and what an administrator enters in the console. A bad record is reported with
where it is and what is wrong, and the others are applied.

When an experiment's end moves earlier, its live sessions' ends follow (no session for
it runs past :func:`~labgate.experiments.dates.launch_until`); a later end does not
lengthen running sessions (their owners ask for more time, as for any session).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from labgate import audit
from labgate.audit import Actor
from labgate.db.models import (
    LIVE_SESSION_STATES,
    AppSession,
    Experiment,
    ExperimentLocation,
    ExperimentMember,
    Resource,
)
from labgate.experiments.dates import launch_until
from labgate.experiments.membership import matches
from labgate.experiments.records import BadRecord, ExperimentRecord, RecordError, Report


async def shared_resources(db: AsyncSession) -> dict[str, int]:
    """Shared resources (those without an owner, ``local`` among them) by name: what a
    location may name."""
    rows = await db.execute(select(Resource.name, Resource.id).where(Resource.owner_id.is_(None)))
    return {name: resource_id for name, resource_id in rows.all()}


def _locations(record: ExperimentRecord, resources: dict[str, int]) -> list[tuple[int, str, str]]:
    unknown = sorted({x.resource for x in record.locations if x.resource not in resources})
    if unknown:
        raise RecordError(f"there is no shared resource {', '.join(repr(n) for n in unknown)}")
    return [(resources[x.resource], x.kind, x.path) for x in record.locations]


def _same(row: Experiment, record: ExperimentRecord, locations: list[tuple[int, str, str]]) -> bool:
    members = {(m.username.lower(), m.email.lower(), m.role) for m in row.members}
    wanted = {(m.username.lower(), m.email.lower(), m.role) for m in record.members}
    return (
        row.title == record.title
        and row.instrument == record.instrument
        and row.starts_at == record.starts_at
        and row.ends_at == record.ends_at
        and members == wanted
        and [(x.resource_id, x.kind, x.path) for x in row.locations] == locations
    )


async def save(
    db: AsyncSession,
    record: ExperimentRecord,
    *,
    source: str,
    embargo_days: int,
    row: Experiment | None = None,
    resources: dict[str, int] | None = None,
) -> tuple[Experiment, bool]:
    """Write ``record`` over ``row`` (None: the experiment of its code, made if there is
    none); whether anything changed. A location naming no shared resource is refused
    (:class:`RecordError`), with nothing written."""
    locations = _locations(record, resources or await shared_resources(db))
    if row is None:
        row = await db.scalar(select(Experiment).where(Experiment.code == record.code))
    if row is None:
        row = Experiment(code=record.code, source=source, members=[], locations=[])
        db.add(row)
    elif _same(row, record, locations) and row.code == record.code:
        return row, False
    old_until = launch_until(row, embargo_days) if row.id is not None else None
    row.code, row.title, row.instrument = record.code, record.title, record.instrument
    row.starts_at, row.ends_at = record.starts_at, record.ends_at
    # Emptied and flushed before the new rows are added: one flush would insert a member
    # named as before while its old row, still there, holds that name.
    row.members.clear()
    row.locations.clear()
    await db.flush()
    found = await matches(db, record.members)
    row.members.extend(
        ExperimentMember(username=m.username, email=m.email, role=m.role, user_id=found.get(m))
        for m in record.members
    )
    row.locations.extend(
        ExperimentLocation(resource_id=resource_id, kind=kind, path=path, position=n)
        for n, (resource_id, kind, path) in enumerate(locations)
    )
    await db.flush()
    until = launch_until(row, embargo_days)
    if until is not None and (old_until is None or until < old_until):
        await _cap_sessions(db, row.id, until)
    return row, True


async def _cap_sessions(db: AsyncSession, experiment_id: int, until: datetime) -> None:
    await db.execute(
        update(AppSession)
        .where(
            AppSession.experiment_id == experiment_id,
            AppSession.state.in_(LIVE_SESSION_STATES),
            or_(AppSession.ends_at.is_(None), AppSession.ends_at > until),
        )
        .values(ends_at=until)
        .execution_options(synchronize_session=False)
    )


async def apply(
    db: AsyncSession,
    read: Iterable[ExperimentRecord | BadRecord],
    *,
    source: str,
    embargo_days: int,
    actor: Actor = audit.SYSTEM,
    dry_run: bool = False,
) -> Report:
    """Apply what a source read, record by record; with ``dry_run`` only say what would
    be done. A record is checked completely before anything of it is written, so a
    refused one leaves nothing behind."""
    report = Report(dry_run=dry_run)
    resources = await shared_resources(db)
    for item in read:
        if isinstance(item, BadRecord):
            report.refused.append(item)
            continue
        try:
            _locations(item, resources)
        except RecordError as exc:
            report.refused.append(BadRecord(item.where, str(exc), item.code))
            continue
        existing = await db.scalar(select(Experiment).where(Experiment.code == item.code))
        if dry_run:
            if existing is None:
                report.created.append(item.code)
            elif _same(existing, item, _locations(item, resources)):
                report.unchanged.append(item.code)
            else:
                report.updated.append(item.code)
            continue
        _, changed = await save(
            db, item, source=source, embargo_days=embargo_days, row=existing, resources=resources
        )
        outcome = report.created if existing is None else report.updated if changed else None
        (outcome if outcome is not None else report.unchanged).append(item.code)
    if not dry_run and (report.created or report.updated):
        audit.record(
            db,
            "experiments_imported",
            actor=actor,
            target=source,
            created=report.created[:100],
            updated=report.updated[:100],
            refused=len(report.refused),
        )
    return report
