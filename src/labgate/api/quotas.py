"""Quotas: the caller's own with their usage this month, a user's (administrators), and
the administrators' list, setting and removing of a role's, group's or experiment's
limits. The rules are ``labgate.quotas``'s."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, Field

from labgate.accounts.users import get_user
from labgate.api.deps import CurrentPrincipal, Db, State
from labgate.api.schemas import Body
from labgate.auth.policy import Action, authorize
from labgate.db.models import Quota, QuotaScope, Role
from labgate.db.types import utcnow
from labgate.quotas import editing
from labgate.quotas.accounting import Usage
from labgate.quotas.limits import Limits, Scoped, role_defaults, scoped_of
from labgate.quotas.report import Report, report_for

router = APIRouter(tags=["quotas"])

Limit = Annotated[int, Field(ge=0, le=10_000_000)] | None
Subject = Annotated[str, Path(min_length=1, max_length=64)]


class LimitsIn(Body):
    """A quota's limits; null (or left out): no limit."""

    max_sessions: Limit = None
    max_cores: Limit = None
    max_memory_gb: Limit = None
    max_gpus: Limit = None
    core_hours_per_month: Limit = None
    gpu_hours_per_month: Limit = None


class LimitsOut(BaseModel):
    max_sessions: int | None
    max_cores: int | None
    max_memory_gb: int | None
    max_gpus: int | None
    core_hours_per_month: int | None
    gpu_hours_per_month: int | None


class UsageOut(BaseModel):
    """In use now (live sessions) and used this month (hours, to the hundredth)."""

    sessions: int
    cores: int
    memory_gb: int
    gpus: int
    core_hours: float
    gpu_hours: float


class QuotaUsageOut(BaseModel):
    scope: str
    subject: str
    title: str
    limits: LimitsOut
    usage: UsageOut

    @classmethod
    def of(cls, scoped: Scoped, usage: Usage) -> QuotaUsageOut:
        return cls(
            scope=scoped.scope,
            subject=scoped.subject,
            title=scoped.title,
            limits=LimitsOut(**scoped.limits.to_json()),
            usage=UsageOut(**usage.to_json()),
        )


class UsageReport(BaseModel):
    #: The calendar month (UTC) the hours are of: "2026-12".
    month: str
    quotas: list[QuotaUsageOut]

    @classmethod
    def of(cls, report: Report) -> UsageReport:
        return cls(month=report.month, quotas=[QuotaUsageOut.of(*pair) for pair in report.quotas])


class QuotaOut(BaseModel):
    scope: str
    subject: str
    title: str
    limits: LimitsOut
    #: ``settings``: a role's defaults from the configuration; ``console``: set here.
    source: Literal["settings", "console"]
    updated_at: datetime | None


class QuotaList(BaseModel):
    #: Each role's limits as the settings give them (a role's quota set here replaces them).
    defaults: list[QuotaOut]
    #: Those set here, roles first.
    quotas: list[QuotaOut]


def _set_here(row: Quota, scoped: Scoped | None) -> QuotaOut:
    return QuotaOut(
        scope=row.scope,
        subject=row.subject,
        title=scoped.title if scoped is not None else f"{row.scope} {row.subject} (gone)",
        limits=LimitsOut(**Limits.of(row).to_json()),
        source="console",
        updated_at=row.updated_at,
    )


@router.get("/quotas/mine", summary="Your quotas and what you use of them")
async def my_quotas(principal: CurrentPrincipal, state: State, db: Db) -> UsageReport:
    authorize(principal, Action.READ_OWN_QUOTAS)
    report = await report_for(db, state.settings, principal.user_id, principal.role, utcnow())
    return UsageReport.of(report)


@router.get("/users/{username}/usage", summary="A user's quotas and usage (administrators)")
async def user_usage(
    username: str, principal: CurrentPrincipal, state: State, db: Db
) -> UsageReport:
    authorize(principal, Action.LIST_QUOTAS)
    user = await get_user(db, username)
    return UsageReport.of(await report_for(db, state.settings, user.id, user.role, utcnow()))


@router.get("/quotas", summary="Every quota (administrators)")
async def list_quotas(principal: CurrentPrincipal, state: State, db: Db) -> QuotaList:
    authorize(principal, Action.LIST_QUOTAS)
    defaults = [
        QuotaOut(
            scope=QuotaScope.ROLE.value,
            subject=role.value,
            title=f"Role {role.value}",
            limits=LimitsOut(**role_defaults(role.value, state.settings).to_json()),
            source="settings",
            updated_at=None,
        )
        for role in Role
    ]
    quotas = [_set_here(row, await scoped_of(db, row)) for row in await editing.all_quotas(db)]
    return QuotaList(defaults=defaults, quotas=quotas)


@router.put("/quotas/{scope}/{subject}", summary="Set a quota (administrators)")
async def set_quota(
    scope: QuotaScope, subject: Subject, body: LimitsIn, principal: CurrentPrincipal, db: Db
) -> QuotaOut:
    """A role's (``subject``: its name), a group's or an experiment's (its id) limits,
    replacing any before; for a role they replace its settings."""
    authorize(principal, Action.MANAGE_QUOTAS)
    limits = Limits(**body.model_dump())
    row = await editing.set_quota(db, scope, subject, limits, actor=principal.actor)
    return _set_here(row, await scoped_of(db, row))


@router.delete("/quotas/{scope}/{subject}", status_code=204, summary="Remove a quota")
async def remove_quota(
    scope: QuotaScope, subject: Subject, principal: CurrentPrincipal, db: Db
) -> Response:
    """A role's settings apply again; a group or experiment has no quota of its own."""
    authorize(principal, Action.MANAGE_QUOTAS)
    await editing.remove_quota(db, scope, subject, actor=principal.actor)
    return Response(status_code=204)
