"""Sign-in identities: the ways a person signs in as their labgate account (an LDAP entry,
an OpenID provider's subject, a PAM account). Everyone sees their own; administrators see
anyone's, link an identity to an account (so one person signs in several ways, or an
existing account is reached through the directory) and unlink one, which ends the
sessions begun with it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, StringConstraints

from labgate.accounts import identities
from labgate.accounts.users import get_user
from labgate.api.deps import CurrentPrincipal, Db, State, recheck_sockets
from labgate.api.schemas import Body, Id, OneLineLabel
from labgate.auth.policy import Action, authorize
from labgate.auth.sessions import LOCAL_PROVIDER
from labgate.db.models import User, UserIdentity
from labgate.errors import FieldProblem, ValidationFailed
from labgate.state import AppState

router = APIRouter(prefix="/users", tags=["users"])


class IdentityOut(BaseModel):
    id: int
    #: The provider's name in ``auth_providers`` ...
    provider: str
    #: ... and on the login page ("University account"); the name when it is no longer
    #: an active provider.
    provider_label: str
    #: The provider's stable name for the person (an OpenID ``sub``, an LDAP entryUUID).
    subject: str
    #: What the provider last called them (a login name, an e-mail).
    label: str
    created_at: datetime
    last_login_at: datetime | None
    #: When the provider was last asked whether it still holds (labgate.accounts.recheck).
    checked_at: datetime | None
    #: When the provider refused it at a re-check (None: it did not, or a sign-in since).
    refused_at: datetime | None

    @classmethod
    def of(cls, identity: UserIdentity, state: AppState) -> IdentityOut:
        labels = {p.name: p.label for p in state.providers}
        return cls(
            id=identity.id,
            provider=identity.provider,
            provider_label=labels.get(identity.provider, identity.provider),
            subject=identity.subject,
            label=identity.label,
            created_at=identity.created_at,
            last_login_at=identity.last_login_at,
            checked_at=identity.checked_at,
            refused_at=identity.refused_at,
        )


class IdentityList(BaseModel):
    identities: list[IdentityOut]


class IdentityLink(Body):
    #: An active provider's name in ``auth_providers``, not ``local``.
    provider: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    #: The provider's stable name for the person (what it vouches with: an OpenID
    #: ``sub``, an LDAP entry's entryUUID, a PAM user name and uid as ``alice:1001``).
    subject: Annotated[OneLineLabel, StringConstraints(min_length=1)]
    label: OneLineLabel = ""


async def _listed(db: Db, state: AppState, user_id: int) -> IdentityList:
    found = await identities.identities_of(db, user_id)
    return IdentityList(identities=[IdentityOut.of(i, state) for i in found])


@router.get("/me/identities", summary="The ways you sign in: your identities at sign-in providers")
async def my_identities(principal: CurrentPrincipal, state: State, db: Db) -> IdentityList:
    authorize(principal, Action.READ_OWN_ACCOUNT)
    return await _listed(db, state, principal.user_id)


@router.get("/{username}/identities", summary="A user's sign-in identities (administrators)")
async def user_identities(
    username: str, principal: CurrentPrincipal, state: State, db: Db
) -> IdentityList:
    authorize(principal, Action.LIST_USERS)
    user = await get_user(db, username)
    return await _listed(db, state, user.id)


@router.post(
    "/{username}/identities",
    status_code=201,
    summary="Let an identity at a sign-in provider sign in as a user (administrators)",
)
async def link_identity(
    username: str, body: IdentityLink, principal: CurrentPrincipal, state: State, db: Db
) -> IdentityOut:
    """409 when the identity signs in as another account already: unlink it there first."""
    authorize(principal, Action.MANAGE_USERS)
    _check_provider(state, body.provider)
    user = await get_user(db, username)
    identity = await identities.link(
        db,
        user,
        provider=body.provider,
        subject=body.subject,
        label=body.label,
        actor=principal.actor,
    )
    return IdentityOut.of(identity, state)


@router.delete(
    "/{username}/identities/{identity_id}",
    status_code=204,
    summary="Take a sign-in identity from a user, ending the sessions begun with it "
    "(administrators)",
)
async def unlink_identity(
    username: str,
    identity_id: Id,
    request: Request,
    principal: CurrentPrincipal,
    state: State,
    db: Db,
) -> Response:
    authorize(principal, Action.MANAGE_USERS)
    user: User = await get_user(db, username)
    await identities.unlink(db, user, identity_id, actor=principal.actor)
    # The sessions begun with it went with it: their sockets here close once committed.
    recheck_sockets(request, state, user.id)
    return Response(status_code=204)


def _check_provider(state: AppState, name: str) -> None:
    """Only an active provider's identities can be linked; ``local`` has none (it signs
    in labgate's own accounts by their passwords)."""
    linkable = [p.name for p in state.providers if p.name != LOCAL_PROVIDER]
    if name in linkable:
        return
    if not linkable:
        message = (
            "No sign-in provider but labgate's own accounts is active, so there is "
            "nothing to link: add one to auth_providers first."
        )
    else:
        message = f"'{name}' is not an active sign-in provider to link: use one of " + (
            ", ".join(linkable) + "."
        )
    raise ValidationFailed(message, details=[FieldProblem("body.provider", message)])
