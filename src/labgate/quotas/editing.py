"""Administrators' quotas: a role's, a group's or an experiment's limits set (replacing
any before) or removed, checked and audited."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from labgate import audit
from labgate.audit import Actor
from labgate.db.models import Experiment, Group, Quota, QuotaScope, Role
from labgate.errors import FieldProblem, NotFound, ValidationFailed
from labgate.quotas.limits import LIMIT_NAMES, Limits


async def all_quotas(db: AsyncSession) -> list[Quota]:
    """Every quota set by an administrator: roles', then groups', then experiments'."""
    order = {scope.value: i for i, scope in enumerate(QuotaScope)}
    rows = await db.scalars(select(Quota))
    return sorted(rows, key=lambda r: (order.get(r.scope, len(order)), r.subject.zfill(20)))


async def check_subject(db: AsyncSession, scope: QuotaScope, subject: str) -> None:
    """Refuse a subject that names nothing of ``scope``: an unknown role, or a group's
    or experiment's id that is not a number (422) or not theirs (404)."""
    if scope == QuotaScope.ROLE:
        if subject not in {r.value for r in Role}:
            roles = ", ".join(r.value for r in Role)
            message = f"There is no role {subject!r} (one of {roles})."
            raise ValidationFailed(message, details=[FieldProblem("path.subject", message)])
        return
    what = "group" if scope == QuotaScope.GROUP else "experiment"
    if not subject.isdigit() or len(subject) > 18:
        message = f"A {what} is named by its id, a number."
        raise ValidationFailed(message, details=[FieldProblem("path.subject", message)])
    model = Group if scope == QuotaScope.GROUP else Experiment
    if await db.scalar(select(model.id).where(model.id == int(subject))) is None:
        raise NotFound(f"There is no {what} {subject}.")


async def set_quota(
    db: AsyncSession, scope: QuotaScope, subject: str, limits: Limits, *, actor: Actor
) -> Quota:
    """The quota of ``scope``/``subject`` from now on: ``limits`` (None: no limit)."""
    await check_subject(db, scope, subject)
    row = await db.scalar(select(Quota).where(Quota.scope == scope.value, Quota.subject == subject))
    if row is None:
        row = Quota(scope=scope.value, subject=subject)
        db.add(row)
    for name in LIMIT_NAMES:
        setattr(row, name, getattr(limits, name))
    row.updated_by = actor.id
    await db.flush()
    audit.record(
        db, "quota_set", actor=actor, target=f"{scope.value}:{subject}", limits=limits.to_json()
    )
    return row


async def forget_quotas_of(db: AsyncSession, scope: QuotaScope, subject: str) -> None:
    """A group or experiment is deleted: its quota goes with it (a later one given the
    same id must not inherit it)."""
    await db.execute(delete(Quota).where(Quota.scope == scope.value, Quota.subject == subject))


async def remove_quota(db: AsyncSession, scope: QuotaScope, subject: str, *, actor: Actor) -> None:
    """Remove the quota (a role's settings apply again); 404 if there is none."""
    row = await db.scalar(select(Quota).where(Quota.scope == scope.value, Quota.subject == subject))
    if row is None:
        raise NotFound(f"There is no quota for {scope.value} {subject}.")
    await db.delete(row)
    await db.flush()
    audit.record(db, "quota_removed", actor=actor, target=f"{scope.value}:{subject}")
