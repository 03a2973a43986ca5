"""Experiments (proposals): the caller's, with their members, data locations and dates;
administrators list, create, change, delete and import them. The rules are
:mod:`labgate.experiments`'s."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from labgate import audit
from labgate.accounts import favourites
from labgate.api.deps import CurrentPrincipal, Db, State
from labgate.api.schemas import Body, Id
from labgate.auth.policy import Action, authorize
from labgate.db.models import Experiment, QuotaScope, Resource
from labgate.db.types import utcnow
from labgate.errors import Conflict, FieldProblem, ValidationFailed
from labgate.experiments import access, importing
from labgate.experiments.dates import launch_until, phase, why_not
from labgate.experiments.membership import experiments_of, role_of
from labgate.experiments.records import (
    ExperimentRecord,
    LocationRecord,
    RecordError,
    Report,
    check_code,
    check_location,
    check_member,
    check_record,
)
from labgate.quotas.editing import forget_quotas_of
from labgate.settings import Settings

router = APIRouter(prefix="/experiments", tags=["experiments"])

Text = Annotated[str, StringConstraints(max_length=400, strip_whitespace=True)]


class MemberOut(BaseModel):
    username: str
    email: str
    role: str
    #: Matched to a labgate user (by user name or e-mail).
    matched: bool


class LocationOut(BaseModel):
    resource_id: int
    resource_name: str
    kind: str
    path: str


class ExperimentOut(BaseModel):
    id: int
    code: str
    title: str
    instrument: str
    starts_at: datetime | None
    ends_at: datetime | None
    #: Sessions for it may be started (and run) until then: its end plus the embargo.
    launch_until: datetime | None
    #: ``upcoming``, ``running``, ``ended`` (within the embargo) or ``closed``.
    phase: str
    can_launch: bool
    #: Why the caller cannot launch for it (null: they can).
    why_not: str | None
    #: The caller's role in it (null: not a member, an administrator looking).
    my_role: str | None
    source: str
    members: list[MemberOut]
    locations: list[LocationOut]


class ExperimentList(BaseModel):
    experiments: list[ExperimentOut]


class MemberIn(Body):
    username: Annotated[str, StringConstraints(max_length=64, strip_whitespace=True)] = ""
    email: Annotated[str, StringConstraints(max_length=320, strip_whitespace=True)] = ""
    role: Literal["pi", "member", "local_contact"] = "member"


class LocationIn(Body):
    resource_id: Id
    kind: Literal["raw", "processed", "scratch"]
    path: Annotated[str, StringConstraints(min_length=1, max_length=1024, strip_whitespace=True)]


class ExperimentIn(Body):
    code: Annotated[str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True)]
    title: Text = ""
    instrument: Annotated[str, StringConstraints(max_length=120, strip_whitespace=True)] = ""
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    members: Annotated[list[MemberIn], Field(max_length=500)] = Field(default_factory=list)
    locations: Annotated[list[LocationIn], Field(max_length=50)] = Field(default_factory=list)


class ImportIn(Body):
    #: The experiment source that reads ``data``: ``csv``, ``json`` or a plug-in's.
    format: Annotated[str, StringConstraints(min_length=1, max_length=32)] = "csv"
    # The request's body is bounded by ``max_body_bytes`` (1 MiB by default) before this:
    # a larger file goes through ``labgate experiments import``.
    data: Annotated[str, StringConstraints(max_length=4_000_000)]
    dry_run: bool = False


class RefusedOut(BaseModel):
    #: Where in the file: ``line 4`` (CSV), ``index 2`` (JSON).
    where: str
    problem: str
    code: str


class ImportOut(BaseModel):
    created: list[str]
    updated: list[str]
    unchanged: list[str]
    refused: list[RefusedOut]
    dry_run: bool
    summary: str

    @classmethod
    def of(cls, report: Report) -> ImportOut:
        return cls(
            created=report.created,
            updated=report.updated,
            unchanged=report.unchanged,
            refused=[
                RefusedOut(where=r.where, problem=r.problem, code=r.code) for r in report.refused
            ],
            dry_run=report.dry_run,
            summary=report.summary(),
        )


async def _resource_names(db: AsyncSession, rows: list[Experiment]) -> dict[int, str]:
    ids = {x.resource_id for row in rows for x in row.locations}
    if not ids:
        return {}
    found = await db.execute(select(Resource.id, Resource.name).where(Resource.id.in_(ids)))
    return {resource_id: name for resource_id, name in found.all()}


def _out(row: Experiment, user_id: int, settings: Settings, names: dict[int, str]) -> ExperimentOut:
    now = utcnow()
    embargo = settings.experiment_embargo_days
    my_role = role_of(row, user_id)
    why = why_not(row, embargo, now)
    if why is None and my_role is None:
        why = "Only its members launch sessions for it."
    return ExperimentOut(
        id=row.id,
        code=row.code,
        title=row.title,
        instrument=row.instrument,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        launch_until=launch_until(row, embargo),
        phase=phase(row, embargo, now).value,
        can_launch=why is None,
        why_not=why,
        my_role=my_role,
        source=row.source,
        members=[
            MemberOut(
                username=m.username, email=m.email, role=m.role, matched=m.user_id is not None
            )
            for m in row.members
        ],
        locations=[
            LocationOut(
                resource_id=x.resource_id,
                resource_name=names.get(x.resource_id, ""),
                kind=x.kind,
                path=x.path,
            )
            for x in row.locations
        ],
    )


async def _described(
    db: AsyncSession, rows: list[Experiment], user_id: int, settings: Settings
) -> list[ExperimentOut]:
    names = await _resource_names(db, rows)
    return [_out(row, user_id, settings, names) for row in rows]


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _problem(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, details=[FieldProblem(field, message)])


async def _record(db: AsyncSession, body: ExperimentIn) -> ExperimentRecord:
    """The form as a record, checked as an imported one is (422 naming the field)."""
    shared = await importing.shared_resources(db)
    names = {resource_id: name for name, resource_id in shared.items()}
    try:
        code = check_code(body.code)
    except RecordError as exc:
        raise _problem("body.code", str(exc)) from None
    members = []
    for n, m in enumerate(body.members):
        try:
            members.append(check_member(m.username, m.email, m.role))
        except RecordError as exc:
            raise _problem(f"body.members.{n}", str(exc)) from None
    locations: list[LocationRecord] = []
    for n, x in enumerate(body.locations):
        if x.resource_id not in names:
            raise _problem(f"body.locations.{n}.resource_id", "not a shared resource")
        try:
            locations.append(check_location(names[x.resource_id], x.kind, x.path))
        except RecordError as exc:
            raise _problem(f"body.locations.{n}.path", str(exc)) from None
    record = ExperimentRecord(
        code=code,
        title=body.title,
        instrument=body.instrument,
        starts_at=_utc(body.starts_at),
        ends_at=_utc(body.ends_at),
        members=tuple(members),
        locations=tuple(locations),
    )
    try:
        return check_record(record)
    except RecordError as exc:
        raise _problem("body", str(exc)) from None


@router.get("", summary="Your experiments (all of them for administrators)")
async def list_experiments(
    principal: CurrentPrincipal,
    state: State,
    db: Db,
    everyone: Annotated[bool, Query(alias="all")] = False,
) -> ExperimentList:
    """Those the caller is a member of; ``all=true`` (administrators): every experiment."""
    authorize(principal, Action.LIST_EXPERIMENTS)
    if everyone:
        authorize(principal, Action.MANAGE_EXPERIMENTS)
        rows = list(await db.scalars(select(Experiment).order_by(Experiment.code)))
    else:
        rows = await experiments_of(db, principal.user_id)
    return ExperimentList(experiments=await _described(db, rows, principal.user_id, state.settings))


@router.get("/{experiment_id}", summary="One experiment")
async def get_experiment(
    experiment_id: Id, principal: CurrentPrincipal, state: State, db: Db
) -> ExperimentOut:
    """Its members' and administrators'; anyone else is told there is none (404)."""
    authorize(principal, Action.LIST_EXPERIMENTS)
    row = await access.visible(db, principal, experiment_id)
    return (await _described(db, [row], principal.user_id, state.settings))[0]


@router.post("", status_code=201, summary="Create an experiment")
async def create_experiment(
    body: ExperimentIn, principal: CurrentPrincipal, state: State, db: Db
) -> ExperimentOut:
    """409 if one has that code already."""
    authorize(principal, Action.MANAGE_EXPERIMENTS)
    record = await _record(db, body)
    if await db.scalar(select(Experiment.id).where(Experiment.code == record.code)):
        raise Conflict(f"There is an experiment {record.code} already: change that one.")
    row, _ = await importing.save(
        db, record, source="console", embargo_days=state.settings.experiment_embargo_days
    )
    audit.record(db, "experiment_created", actor=principal.actor, target=row.code)
    return (await _described(db, [row], principal.user_id, state.settings))[0]


@router.put("/{experiment_id}", summary="Change an experiment")
async def update_experiment(
    experiment_id: Id, body: ExperimentIn, principal: CurrentPrincipal, state: State, db: Db
) -> ExperimentOut:
    """Its members and locations become those given; live sessions for it end no later
    than its new dates allow."""
    authorize(principal, Action.MANAGE_EXPERIMENTS)
    row = await access.visible(db, principal, experiment_id)
    record = await _record(db, body)
    taken = await db.scalar(select(Experiment.id).where(Experiment.code == record.code))
    if taken is not None and taken != row.id:
        raise Conflict(f"There is another experiment {record.code} already.")
    before = row.code
    row, changed = await importing.save(
        db,
        record,
        source=row.source,
        embargo_days=state.settings.experiment_embargo_days,
        row=row,
    )
    if changed:
        audit.record(db, "experiment_changed", actor=principal.actor, target=row.code, was=before)
    return (await _described(db, [row], principal.user_id, state.settings))[0]


@router.delete("/{experiment_id}", status_code=204, summary="Delete an experiment")
async def delete_experiment(
    experiment_id: Id, principal: CurrentPrincipal, state: State, db: Db
) -> Response:
    """Its shares with its members end; its sessions go on, for no experiment."""
    authorize(principal, Action.MANAGE_EXPERIMENTS)
    row = await access.visible(db, principal, experiment_id)
    audit.record(db, "experiment_deleted", actor=principal.actor, target=row.code)
    # What names it by id goes with it: a later experiment may get the same id.
    await forget_quotas_of(db, QuotaScope.EXPERIMENT, str(row.id))
    await favourites.forget_stars_of_experiment(db, row.id)
    await db.delete(row)
    return Response(status_code=204)


@router.post("/import", summary="Import experiments from a file's text")
async def import_experiments(
    body: ImportIn, principal: CurrentPrincipal, state: State, db: Db
) -> ImportOut:
    """As ``labgate experiments import``: experiments are created or updated in place by
    their code; bad records are refused with where they are and what is wrong, and the
    others applied. ``dry_run``: only say what would be done."""
    authorize(principal, Action.MANAGE_EXPERIMENTS)
    sources = state.plugins.experiment_sources()
    source = sources.get(body.format)
    if source is None:
        known = ", ".join(sorted(sources))
        raise _problem("body.format", f"There is no experiment source {body.format!r} ({known}).")
    report = await importing.apply(
        db,
        source.read(body.data),
        source=source.name,
        embargo_days=state.settings.experiment_embargo_days,
        actor=principal.actor,
        dry_run=body.dry_run,
    )
    return ImportOut.of(report)
