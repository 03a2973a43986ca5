"""Groups and their members (administrators)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, StringConstraints

from labgate.accounts import groups as grouping
from labgate.accounts.users import get_user
from labgate.api.deps import CurrentPrincipal, Db, State, after_commit
from labgate.api.schemas import Body, GroupOut
from labgate.auth.policy import Action, authorize

router = APIRouter(prefix="/groups", tags=["groups"])


class GroupList(BaseModel):
    groups: list[GroupOut]


class GroupCreate(Body):
    name: str
    description: Annotated[str, StringConstraints(max_length=2000)] = ""


@router.get("", summary="All groups")
async def list_groups(principal: CurrentPrincipal, state: State, db: Db) -> GroupList:
    authorize(principal, Action.LIST_GROUPS)
    return GroupList(groups=[GroupOut.of(g) for g in await grouping.list_groups(db)])


@router.post("", status_code=201, summary="Create a group")
async def create_group(
    body: GroupCreate, principal: CurrentPrincipal, state: State, db: Db
) -> GroupOut:
    authorize(principal, Action.MANAGE_GROUPS)
    group = await grouping.create_group(
        db, name=body.name, description=body.description, actor=principal.actor
    )
    return GroupOut.of(group)


@router.get("/{name}", summary="One group")
async def get_group(name: str, principal: CurrentPrincipal, state: State, db: Db) -> GroupOut:
    authorize(principal, Action.LIST_GROUPS)
    return GroupOut.of(await grouping.get_group(db, name))


@router.delete("/{name}", status_code=204, summary="Delete a group")
async def delete_group(
    request: Request, name: str, principal: CurrentPrincipal, state: State, db: Db
) -> Response:
    """Its members lose what only this group gave them: their sessions there stop."""
    authorize(principal, Action.MANAGE_GROUPS)
    await grouping.delete_group(db, await grouping.get_group(db, name), actor=principal.actor)
    after_commit(request, lambda: state.revocation.soon())
    return Response(status_code=204)


@router.put("/{name}/members/{username}", summary="Add a member")
async def add_member(
    name: str, username: str, principal: CurrentPrincipal, state: State, db: Db
) -> GroupOut:
    authorize(principal, Action.MANAGE_GROUPS)
    group = await grouping.get_group(db, name)
    user = await get_user(db, username)
    return GroupOut.of(await grouping.add_member(db, group, user, actor=principal.actor))


@router.delete("/{name}/members/{username}", summary="Remove a member")
async def remove_member(
    request: Request, name: str, username: str, principal: CurrentPrincipal, state: State, db: Db
) -> GroupOut:
    """The user's sessions on resources only this group gave them stop, and their
    connections there close."""
    authorize(principal, Action.MANAGE_GROUPS)
    group = await grouping.get_group(db, name)
    user = await get_user(db, username)
    changed = await grouping.remove_member(db, group, user, actor=principal.actor)
    user_id = user.id
    after_commit(request, lambda: state.revocation.soon(user_id=user_id))
    return GroupOut.of(changed)
