"""The administration console's shared resources: each with the groups it is shared
with, its live sessions, and the administrator's own connection status (the events
socket keeps that live; ``GET /resources/{id}/system`` checks it now)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import func, select

from labgate.api.deps import CurrentPrincipal, Db, State
from labgate.api.resources import StatusOut
from labgate.auth.policy import Action, authorize
from labgate.db.models import LIVE_SESSION_STATES, AppSession, Resource
from labgate.resources import catalog

router = APIRouter(prefix="/admin/shared-resources", tags=["administration"])


class SharedResourceOut(BaseModel):
    id: int
    name: str
    description: str
    host: str
    port: int
    groups: list[str]
    #: Sessions not ended there, everybody's.
    live_sessions: int
    #: How many users those belong to.
    session_users: int
    #: The calling administrator's own connection there.
    status: StatusOut


class SharedResourceList(BaseModel):
    resources: list[SharedResourceOut]


@router.get("", summary="Shared resources with their live sessions (administrators)")
async def list_shared_resources(
    principal: CurrentPrincipal, state: State, db: Db
) -> SharedResourceList:
    authorize(principal, Action.LIST_SHARED_RESOURCES)
    shared = [
        r
        for r in await db.scalars(
            select(Resource).where(Resource.owner_id.is_(None)).order_by(Resource.name)
        )
    ]
    groups = await catalog.group_names_by_resource(db, shared)
    counted = await db.execute(
        select(
            AppSession.resource_id,
            func.count(AppSession.id),
            func.count(func.distinct(AppSession.user_id)),
        )
        .where(AppSession.state.in_(LIVE_SESSION_STATES))
        .group_by(AppSession.resource_id)
    )
    counts = {resource_id: (n, users) for resource_id, n, users in counted.all()}
    return SharedResourceList(
        resources=[
            SharedResourceOut(
                id=r.id,
                name=r.name,
                description=r.description,
                host=r.host,
                port=r.port,
                groups=groups[r.id],
                live_sessions=counts.get(r.id, (0, 0))[0],
                session_users=counts.get(r.id, (0, 0))[1],
                status=StatusOut.of(state.connections.status(principal.user_id, r.id)),
            )
            for r in shared
        ]
    )
