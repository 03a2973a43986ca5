"""The limits that apply to a launch: the owner's role's (the settings ``quota_<role>_*``
and ``app_max_sessions``, unless a ``Quota`` row for the role replaces them), each group
of theirs that has a quota, and the experiment's when it has one."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from sqlalchemy import ColumnElement, String, cast, select
from sqlalchemy.ext.asyncio import AsyncSession

from labgate.db.models import Experiment, Group, Membership, Quota, QuotaScope, Role
from labgate.settings import Settings


@dataclass(frozen=True)
class Limits:
    """The most that may be in use at once, and used in a calendar month (None: no
    limit)."""

    max_sessions: int | None = None
    max_cores: int | None = None
    max_memory_gb: int | None = None
    max_gpus: int | None = None
    core_hours_per_month: int | None = None
    gpu_hours_per_month: int | None = None

    @classmethod
    def of(cls, row: Quota) -> Limits:
        return cls(**{name: getattr(row, name) for name in LIMIT_NAMES})

    def to_json(self) -> dict[str, int | None]:
        return asdict(self)


LIMIT_NAMES = tuple(f.name for f in fields(Limits))


@dataclass(frozen=True)
class Scoped:
    """The limits of one scope (``role``, ``group``, ``experiment``) and its subject
    (the role's name, the group's or experiment's id), with its name for people:
    ``title`` ("Group physics") and ``whose`` ("group physics'")."""

    scope: str
    subject: str
    title: str
    whose: str
    limits: Limits


def role_defaults(role: str, settings: Settings) -> Limits:
    """A role's limits as the settings give them."""
    prefix = f"quota_{role}_"
    sessions = settings.app_guest_max_sessions if role == Role.GUEST else settings.app_max_sessions
    return Limits(
        max_sessions=sessions,
        max_cores=getattr(settings, prefix + "max_cores", None),
        max_memory_gb=getattr(settings, prefix + "max_memory_gb", None),
        max_gpus=getattr(settings, prefix + "max_gpus", None),
        core_hours_per_month=getattr(settings, prefix + "core_hours_per_month", None),
        gpu_hours_per_month=getattr(settings, prefix + "gpu_hours_per_month", None),
    )


async def role_limits(db: AsyncSession, settings: Settings, role: str) -> Scoped:
    """The role's limits: its ``Quota`` row's when an administrator set one, else the
    settings'."""
    row = await db.scalar(
        select(Quota).where(Quota.scope == QuotaScope.ROLE.value, Quota.subject == role)
    )
    limits = Limits.of(row) if row is not None else role_defaults(role, settings)
    return Scoped(QuotaScope.ROLE.value, role, f"Role {role}", "your role's", limits)


async def group_limits(db: AsyncSession, user_id: int) -> list[Scoped]:
    """The quotas of the user's groups, by group name."""
    rows = await db.execute(
        select(Quota, Group.name)
        .join(Group, Quota.subject == _as_text(Group.id))
        .join(Membership, Membership.group_id == Group.id)
        .where(Quota.scope == QuotaScope.GROUP.value, Membership.user_id == user_id)
        .order_by(Group.name)
    )
    return [
        Scoped(row.scope, row.subject, f"Group {name}", _whose(f"group {name}"), Limits.of(row))
        for row, name in rows.all()
    ]


async def experiment_limits(db: AsyncSession, experiment_id: int) -> Scoped | None:
    """The experiment's quota, if it has one."""
    found = (
        await db.execute(
            select(Quota, Experiment.code)
            .join(Experiment, Quota.subject == _as_text(Experiment.id))
            .where(Quota.scope == QuotaScope.EXPERIMENT.value, Experiment.id == experiment_id)
        )
    ).first()
    if found is None:
        return None
    row, code = found
    return Scoped(
        row.scope, row.subject, f"Experiment {code}", _whose(f"experiment {code}"), Limits.of(row)
    )


async def applicable(
    db: AsyncSession,
    settings: Settings,
    user_id: int,
    role: str,
    experiment_id: int | None = None,
) -> list[Scoped]:
    """Every quota a launch of the user's (for ``experiment_id``) must fit in: the
    role's first, then their groups', then the experiment's."""
    found = [await role_limits(db, settings, role), *await group_limits(db, user_id)]
    if experiment_id is not None:
        experiment = await experiment_limits(db, experiment_id)
        if experiment is not None:
            found.append(experiment)
    return found


async def scoped_of(db: AsyncSession, row: Quota) -> Scoped | None:
    """A ``Quota`` row with its names for people; None when its group or experiment is
    gone (its row stays until an administrator removes it)."""
    limits = Limits.of(row)
    if row.scope == QuotaScope.ROLE.value:
        return Scoped(row.scope, row.subject, f"Role {row.subject}", "your role's", limits)
    if not row.subject.isdigit():
        return None
    if row.scope == QuotaScope.GROUP.value:
        name = await db.scalar(select(Group.name).where(Group.id == int(row.subject)))
        if name is None:
            return None
        return Scoped(row.scope, row.subject, f"Group {name}", _whose(f"group {name}"), limits)
    code = await db.scalar(select(Experiment.code).where(Experiment.id == int(row.subject)))
    if code is None:
        return None
    return Scoped(
        row.scope, row.subject, f"Experiment {code}", _whose(f"experiment {code}"), limits
    )


def _as_text(column: ColumnElement[int] | object) -> ColumnElement[str]:
    # Quota.subject names a group or experiment by its id, as text (a role by its name).
    return cast(column, String)


def _whose(name: str) -> str:
    """ "group physics'", "experiment 12-34's"."""
    return f"{name}'" if name.endswith("s") else f"{name}'s"
