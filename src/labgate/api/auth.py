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
from labgate.auth.cookies import delete_session_cookie, set_session_cookie
from labgate.auth.ratelimit import FAILED_LOGIN, claim_login_attempt, settle_login_attempt
from labgate.auth.sessions import create_session, revoke_session
from labgate.db.models import LoginSession, User
from labgate.db.types import utcnow
from labgate.errors import AccountDisabled, InvalidCredentials, RateLimited
from labgate.experiments.membership import match_user
from labgate.state import AppState

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
    try:
        async with state.database.session() as db:
            attempt = await claim_login_attempt(
                db, state.settings, username=username, client=client
            )
    except RateLimited:
        state.metrics.logins.labels("rate_limited").inc()
        raise
    # The password is checked with no database connection held (hashing is slow on
    # purpose), so a burst of logins never makes anybody else's request wait.
    try:
        user_id = await _vouched_for(state, username, body.password)
    except Exception as exc:
        async with state.database.session() as db:
            await settle_login_attempt(db, attempt, "login_error", error=type(exc).__name__)
        raise
    user: User | None = None
    async with state.database.session() as db:
        if user_id is not None:
            user = await db.get(User, user_id)
        if user is None:
            await settle_login_attempt(db, attempt, FAILED_LOGIN, reason="credentials")
        elif user.disabled:
            await settle_login_attempt(db, attempt, "login_refused", reason="disabled")
        else:
            cookie, session = await create_session(
                db,
                user,
                state.settings,
                client=client,
                user_agent=request.headers.get("user-agent", ""),
            )
            user.last_login_at = utcnow()
            await state.active_days.note(db, user.id)
            # Experiments that named them (by e-mail, say) since they last came.
            await match_user(db, user)
            answer = SessionOut(user=await describe_user(db, user), csrf_token=session.csrf_token)
            await settle_login_attempt(db, attempt, "login", actor=Actor(user.id, user.username))
    if user is None:
        state.metrics.logins.labels("failed").inc()
        raise InvalidCredentials("Wrong user name or password.")
    if user.disabled:
        state.metrics.logins.labels("disabled").inc()
        raise AccountDisabled("This account is disabled. Ask an administrator to enable it.")
    state.metrics.logins.labels("success").inc()
    set_session_cookie(response, request, state.settings, cookie)
    return answer


async def _vouched_for(state: AppState, username: str, password: str) -> int | None:
    """The id of the user the first provider that knows these credentials vouches for."""
    for provider in state.providers:
        user_id = await provider.authenticate(state.database, username, password)
        if user_id is not None:
            return user_id
    return None


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
