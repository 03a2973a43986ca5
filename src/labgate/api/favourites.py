"""A user's favourites and presets: the list in order, starring, renaming and moving,
removing, and relaunching a preset with one click.

The rules are :mod:`labgate.accounts.favourites`'s; a preset's relaunch is a launch as
``POST /sessions`` makes it (:func:`labgate.api.sessions.start`), answered the same way.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field, StringConstraints

from labgate.accounts import favourites
from labgate.api.deps import CurrentPrincipal, Db, State
from labgate.api.schemas import Body, Id, OneLineTitle
from labgate.api.sessions import LaunchIn, SessionOut, start
from labgate.auth.policy import Action, authorize
from labgate.db.models import Favourite, FavouriteKind
from labgate.errors import NotFound

router = APIRouter(tags=["favourites"])

# Where a favourite is in its user's order: small numbers, as a list has few entries.
Position = Annotated[int, Field(ge=0, le=1_000_000)]


class PresetIn(Body):
    """A launch kept for later: the fields of ``POST /sessions``'s body."""

    template: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    launcher: Annotated[str, StringConstraints(min_length=1, max_length=32)] = "direct"
    resource_id: Id
    experiment_id: Id | None = None
    form: dict[str, Any] = Field(default_factory=dict)
    #: The new session's title ("": the usual "JupyterLab on box").
    title: OneLineTitle = ""

    def preset(self) -> favourites.Preset:
        return favourites.Preset(
            template=self.template,
            launcher=self.launcher,
            resource_id=self.resource_id,
            experiment_id=self.experiment_id,
            form=self.form,
            title=self.title,
        )


class FavouriteIn(Body):
    kind: FavouriteKind
    #: What is starred (see ``FavouriteOut.target``); left out for a preset.
    target: Annotated[str, StringConstraints(max_length=1100)] = ""
    #: Shown in lists ("": the thing's own name); a preset's name, which it needs.
    title: OneLineTitle = ""
    preset: PresetIn | None = None


class FavouritePatch(Body):
    title: OneLineTitle | None = None
    position: Position | None = None


class FavouriteOut(BaseModel):
    id: int
    kind: FavouriteKind
    #: A resource's or experiment's id, a template's id, a folder's
    #: ``"<resource id>:<path>"``; a preset's own key.
    target: str
    title: str
    #: A preset's launch (null for the other kinds).
    preset: dict[str, Any] | None
    position: int

    @classmethod
    def of(cls, row: Favourite) -> FavouriteOut:
        return cls(
            id=row.id,
            kind=FavouriteKind(row.kind),
            target=row.target,
            title=row.title,
            preset=row.preset,
            position=row.position,
        )


class FavouriteList(BaseModel):
    favourites: list[FavouriteOut]


@router.get("/favourites", summary="Your favourites and presets, in your order")
async def list_favourites(principal: CurrentPrincipal, db: Db) -> FavouriteList:
    authorize(principal, Action.LIST_FAVOURITES)
    rows = await favourites.listed(db, principal.user_id)
    return FavouriteList(favourites=[FavouriteOut.of(row) for row in rows])


@router.post("/favourites", status_code=201, summary="Star something, or save a preset")
async def add_favourite(
    body: FavouriteIn, principal: CurrentPrincipal, state: State, db: Db
) -> FavouriteOut:
    authorize(principal, Action.MANAGE_FAVOURITES)
    row = await favourites.add(
        db,
        state,
        principal,
        kind=body.kind,
        target=body.target,
        title=body.title,
        preset=body.preset.preset() if body.preset else None,
    )
    return FavouriteOut.of(row)


@router.patch("/favourites/{favourite_id}", summary="Rename a favourite or move it")
async def change_favourite(
    favourite_id: Id, body: FavouritePatch, principal: CurrentPrincipal, db: Db
) -> FavouriteOut:
    authorize(principal, Action.MANAGE_FAVOURITES)
    row = await favourites.get_own(db, principal, favourite_id)
    await favourites.change(db, row, title=body.title, position=body.position)
    return FavouriteOut.of(row)


@router.delete("/favourites/{favourite_id}", status_code=204, summary="Unstar, or drop a preset")
async def remove_favourite(favourite_id: Id, principal: CurrentPrincipal, db: Db) -> Response:
    authorize(principal, Action.MANAGE_FAVOURITES)
    row = await favourites.get_own(db, principal, favourite_id)
    await db.delete(row)
    return Response(status_code=204)


@router.post("/favourites/{favourite_id}/launch", status_code=201, summary="Relaunch a preset")
async def launch_preset(
    request: Request, favourite_id: Id, principal: CurrentPrincipal, state: State, db: Db
) -> SessionOut:
    """A new session as the preset says, launched as ``POST /sessions`` launches one.
    Refused as a launch is, and when what the preset names has gone: its template or
    launcher (422), its resource or experiment (404)."""
    authorize(principal, Action.MANAGE_FAVOURITES)
    row = await favourites.get_own(db, principal, favourite_id)
    if row.kind != FavouriteKind.PRESET.value or row.preset is None:
        raise NotFound(f"Favourite {favourite_id} is no preset: there is nothing to launch.")
    preset = await favourites.check_preset(
        db, state, principal, favourites.Preset.of(row.preset), where="preset"
    )
    body = LaunchIn(
        template=preset.template,
        resource_id=preset.resource_id,
        launcher=preset.launcher,
        title=preset.title,
        form=preset.form,
        experiment_id=preset.experiment_id,
    )
    return await start(request, state, db, principal, body)
