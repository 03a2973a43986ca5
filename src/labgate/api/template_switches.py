"""The administration console's app templates: every template with where it came from
and whether it is switched on, the administrator's files that were refused and why, and
the switch itself (:mod:`labgate.sessions.switches`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import PurePath
from typing import Annotated, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, StrictBool
from sqlalchemy import select

from labgate.api.deps import CurrentPrincipal, Db, State
from labgate.api.schemas import Body
from labgate.auth.policy import Action, authorize
from labgate.db.models import TemplateSwitch, User
from labgate.errors import NotFound
from labgate.launching.template import AppTemplate
from labgate.sessions import switches
from labgate.state import AppState

router = APIRouter(prefix="/admin/app-templates", tags=["administration"])

TemplateId = Annotated[str, Path(min_length=1, max_length=64)]


class SwitchOut(BaseModel):
    """Who last switched it, and when (null: never switched)."""

    at: datetime
    by: str | None


class ConsoleTemplateOut(BaseModel):
    id: str
    title: str
    description: str
    icon: str
    view: str
    #: ``plugin`` (labgate's own templates are a plug-in's too) or ``file``.
    source: Literal["plugin", "file"]
    #: The plug-in's name, or the file's name in ``app_templates_dir``.
    origin: str
    #: False: not offered and not launched (running sessions go on).
    enabled: bool
    #: False: made by labgate for something else (a shared terminal), never launched.
    launchable: bool
    switched: SwitchOut | None


class RefusedFileOut(BaseModel):
    file: str
    message: str


class ConsoleTemplateList(BaseModel):
    templates: list[ConsoleTemplateOut]
    #: The files of ``app_templates_dir`` left out at start, with what is wrong.
    refused: list[RefusedFileOut]


class SwitchIn(Body):
    enabled: StrictBool


async def _described(db: Db, state: AppState, only: str | None = None) -> list[ConsoleTemplateOut]:
    catalog = state.template_catalog
    owners = state.plugins.owners("register_app_templates")
    query = select(TemplateSwitch, User.username).outerjoin(
        User, User.id == TemplateSwitch.updated_by
    )
    rows = {row.template_id: (row, by) for row, by in (await db.execute(query)).all()}
    described = []
    for template in catalog.templates.values():
        if only is not None and template.id != only:
            continue
        switch, by = rows.get(template.id, (None, None))
        described.append(_out(template, catalog.files, owners, switch, by))
    return described


def _out(
    template: AppTemplate,
    files: Mapping[str, PurePath],
    owners: dict[str, str],
    switch: TemplateSwitch | None,
    by: str | None,
) -> ConsoleTemplateOut:
    file = files.get(template.id)
    return ConsoleTemplateOut(
        id=template.id,
        title=template.title,
        description=template.description,
        icon=template.icon,
        view=template.view,
        source="file" if file is not None else "plugin",
        origin=file.name if file is not None else owners.get(template.id, ""),
        enabled=switch is None or switch.enabled,
        launchable=template.launchable,
        switched=SwitchOut(at=switch.updated_at, by=by) if switch is not None else None,
    )


@router.get("", summary="Every app template, switched on or off (administrators)")
async def list_console_templates(
    principal: CurrentPrincipal, state: State, db: Db
) -> ConsoleTemplateList:
    authorize(principal, Action.LIST_APP_TEMPLATES)
    return ConsoleTemplateList(
        templates=await _described(db, state),
        refused=[
            RefusedFileOut(file=refused.path.name, message=refused.message)
            for refused in state.template_catalog.refused
        ],
    )


@router.put("/{template_id}", summary="Switch an app template on or off (administrators)")
async def switch_template(
    template_id: TemplateId, body: SwitchIn, principal: CurrentPrincipal, state: State, db: Db
) -> ConsoleTemplateOut:
    """Off: it is no longer offered (``GET /app-templates``) and a launch of it is refused
    (422, ``body.template``); the sessions running go on. Audited."""
    authorize(principal, Action.SWITCH_APP_TEMPLATES)
    template = state.templates.get(template_id)
    if template is None or not template.launchable:
        raise NotFound(f"There is no app template {template_id!r}.")
    await switches.switch(db, template_id, enabled=body.enabled, actor=principal.actor)
    [out] = await _described(db, state, only=template_id)
    return out
