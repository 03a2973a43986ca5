"""The rules for adding, changing and removing a resource beyond a request's shape: what
an own resource must and may not say, which hosts its owner may point labgate at, and
that a resource goes only once nothing runs there. The API (``api/resources.py``) calls
them after authorising the caller; the rows themselves are written by
:mod:`labgate.resources.catalog`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from labgate.audit import Actor
from labgate.auth.policy import hosts_restricted
from labgate.db.models import LIVE_SESSION_STATES, AppSession, Resource, Role
from labgate.destinations import HostNotAllowed, HostRules, refusal_of
from labgate.errors import BadRequest, Conflict, FieldProblem
from labgate.resources import catalog
from labgate.resources.catalog import HopFields
from labgate.settings import Settings

# How long a host name may take to resolve when a resource is saved.
RESOLVE_SECONDS = 3.0

# What only a shared resource has: who may use it, and the accounts they get there.
SHARED_ONLY = ("groups", "account_rule", "account_overrides")


class SessionStopper(Protocol):
    """Stops app sessions in the background (``sessions.lifecycle.Lifecycle``)."""

    def stop_soon(self, session_id: str, reason: str) -> None: ...


def check_own(given: Collection[str], username: str) -> None:
    """Refuse (400) a user's own resource that names what only a shared one has (of the
    fields ``given``), or no remote user name."""
    shared_only = [name for name in SHARED_ONLY if name in given]
    if shared_only:
        raise BadRequest(f"{shared_only[0]} is for shared resources only.")
    if not username:
        raise BadRequest("The remote user name is required.")


async def check_hosts(
    settings: Settings,
    role: Role,
    host: str | None,
    port: int | None,
    hops: Sequence[HopFields] | None,
) -> None:
    """Refuse (422) a host or jump host its owner may not use (``resource_hosts_allowed``,
    ``resource_hosts_denied``), before anything is written; each connection checks again,
    at the address it connects to. Only administrators save shared resources, so the
    caller's ``role`` decides whether the rules apply. ``host``, ``port``, ``hops``:
    what the request names (None: unchanged)."""
    if not hosts_restricted(role):
        return
    rules = HostRules.of(settings)
    named = [("body.host", host, port or 22)] if host else []
    named += [(f"body.hops.{n}.host", hop.host, hop.port) for n, hop in enumerate(hops or [])]
    problems = []
    for field, name, at in named:
        refusal = await refusal_of(rules, name, at, within=RESOLVE_SECONDS)
        if refusal is not None:
            problems.append(FieldProblem(field, refusal))
    if problems:
        raise HostNotAllowed(problems[0].message, details=problems)


async def remove(
    db: AsyncSession, resource: Resource, *, actor: Actor, sessions: SessionStopper
) -> None:
    """Delete the resource. Refused (409) while sessions run there: they are stopped
    first (deleting the row would leave their apps running with nobody to stop them),
    which begins at once, so that removing it again soon succeeds."""
    live = list(
        await db.scalars(
            select(AppSession.id).where(
                AppSession.resource_id == resource.id, AppSession.state.in_(LIVE_SESSION_STATES)
            )
        )
    )
    if live:
        for session_id in live:
            sessions.stop_soon(session_id, f"{resource.name} is being removed")
        raise Conflict(
            f"{len(live)} session(s) still run on {resource.name}; labgate is stopping them "
            "now. Remove the resource again once they have ended."
        )
    await catalog.delete_resource(db, resource, actor=actor)
