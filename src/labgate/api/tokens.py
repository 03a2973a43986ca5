"""API tokens for scripts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from labgate import audit
from labgate.api.deps import CurrentPrincipal, Db, State, recheck_sockets
from labgate.api.schemas import Body, Id, NonEmptyName, TokenOut
from labgate.auth.policy import Action, authorize
from labgate.auth.principal import Scope
from labgate.auth.tokens import create_token as make_token
from labgate.auth.tokens import list_tokens as tokens_of
from labgate.db.models import ApiToken, User
from labgate.db.types import utcnow
from labgate.errors import NotFound

router = APIRouter(prefix="/tokens", tags=["API tokens"])


class TokenList(BaseModel):
    tokens: list[TokenOut]


class TokenCreate(Body):
    name: NonEmptyName
    scopes: Annotated[list[Scope], Field(min_length=1)] = [Scope.READ, Scope.WRITE]
    expires_in_days: Annotated[int, Field(ge=1)] | None = 30


class TokenCreated(BaseModel):
    token: TokenOut
    secret: str
    #: Set when the expiry asked for was brought forward (see create_token).
    notice: str | None = None


@router.get("", summary="Your API tokens")
async def list_tokens(principal: CurrentPrincipal, state: State, db: Db) -> TokenList:
    authorize(principal, Action.LIST_TOKENS)
    return TokenList(tokens=[TokenOut.of(t) for t in await tokens_of(db, principal.user_id)])


@router.post("", status_code=201, summary="Create an API token (its secret is shown once)")
async def create_token(
    body: TokenCreate, principal: CurrentPrincipal, state: State, db: Db
) -> TokenCreated:
    """A request authenticated by a token gets a token that expires no later than that
    one: a later expiry asked for is brought forward to it, and ``notice`` says so."""
    authorize(principal, Action.CREATE_TOKEN)
    user = await db.get(User, principal.user_id)
    assert user is not None
    secret, token = await make_token(
        db,
        state.settings,
        user,
        name=body.name,
        scopes=list(body.scopes),
        expires_in_days=body.expires_in_days,
        grantable=principal.scopes,
        actor=principal.actor,
        not_after=principal.token_expires_at,
    )
    notice = None
    if token.expires_at is not None and token.expires_at == principal.token_expires_at:
        notice = (
            f"The new token expires at {token.expires_at:%Y-%m-%d %H:%M} UTC, with the token "
            "that created it: a token cannot create tokens that outlive it. Create it from "
            "a browser session for a later expiry."
        )
    return TokenCreated(token=TokenOut.of(token), secret=secret, notice=notice)


@router.delete("/{token_id}", status_code=204, summary="Revoke an API token")
async def revoke_token(
    token_id: Id, principal: CurrentPrincipal, state: State, db: Db, request: Request
) -> Response:
    token = await db.get(ApiToken, token_id)
    if token is None:
        raise NotFound(f"There is no API token {token_id}.")
    authorize(principal, Action.REVOKE_TOKEN, owner_id=token.user_id)
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit.record(
            db,
            "token_revoked",
            actor=principal.actor,
            target=token.user.username,
            token_id=token.id,
        )
        recheck_sockets(request, state, token.user_id)
    return Response(status_code=204)
