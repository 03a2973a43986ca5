"""Logging in and out with a browser session."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, StringConstraints
from sqlalchemy import select

from labgate import audit
from labgate.api.deps import CurrentPrincipal, Db, State, client_of, recheck_sockets
from labgate.api.schemas import Body, Password, UserOut, describe_user
from labgate.audit import Actor
from labgate.auth.ratelimit import FAILED_LOGIN, check_login_allowed
from labgate.auth.sessions import create_session, revoke_session
from labgate.db.models import LoginSession, User
from labgate.db.types import utcnow
from labgate.errors import AccountDisabled, InvalidCredentials, RateLimited
from labgate.http.cookies import delete_session_cookie, set_session_cookie

router = APIRouter(prefix="/auth", tags=["authentication"])


class LoginIn(Body):
    username: Annotated[str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True)]
    password: Password


class SessionOut(BaseModel):
    user: UserOut
    csrf_token: str


@router.post("/login", summary="Log in and start a browser session")
async def login(body: LoginIn, request: Request, response: Response, state: State) -> SessionOut:
    client = client_of(request, state)
    username = body.username.lower()
    user: User | None = None
    async with state.database.session() as db:
        try:
            await check_login_allowed(db, state.settings, username=username, client=client)
        except RateLimited:
            state.metrics.logins.labels("rate_limited").inc()
            raise
        for provider in state.providers:
            user = await provider.authenticate(db, username, body.password)
            if user is not None:
                break
        if user is None:
            audit.record(db, FAILED_LOGIN, target=username, client=client, reason="credentials")
        elif user.disabled:
            audit.record(db, "login_refused", target=username, client=client, reason="disabled")
        else:
            cookie, session = await create_session(
                db,
                user,
                state.settings,
                client=client,
                user_agent=request.headers.get("user-agent", ""),
            )
            user.last_login_at = utcnow()
            answer = SessionOut(user=await describe_user(db, user), csrf_token=session.csrf_token)
            audit.record(
                db, "login", actor=Actor(user.id, user.username), target=username, client=client
            )
    if user is None:
        state.metrics.logins.labels("failed").inc()
        raise InvalidCredentials("Wrong user name or password.")
    if user.disabled:
        state.metrics.logins.labels("disabled").inc()
        raise AccountDisabled("This account is disabled. Ask an administrator to enable it.")
    state.metrics.logins.labels("success").inc()
    set_session_cookie(response, request, state.settings, cookie)
    return answer


@router.get("/session", summary="The current browser session")
async def current_session(principal: CurrentPrincipal, state: State, db: Db) -> SessionOut:
    user = await db.get(User, principal.user_id)
    assert user is not None
    csrf_token = ""
    if principal.session_id is not None:
        found = await db.scalar(
            select(LoginSession.csrf_token).where(LoginSession.id == principal.session_id)
        )
        csrf_token = found or ""
    return SessionOut(user=await describe_user(db, user), csrf_token=csrf_token)


@router.post("/logout", status_code=204, summary="End the browser session")
async def logout(
    principal: CurrentPrincipal, request: Request, response: Response, state: State, db: Db
) -> None:
    if principal.session_id is not None:
        await revoke_session(db, principal.session_id)
        recheck_sockets(request, state, principal.user_id)
    audit.record(
        db,
        "logout",
        actor=principal.actor,
        target=principal.username,
        client=client_of(request, state),
    )
    delete_session_cookie(response, request, state.settings)
