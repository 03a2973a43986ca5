"""Logging in and out with a browser session."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Awaitable
from typing import Annotated, TypeVar, cast
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy import select

from labgate import audit
from labgate.accounts.identities import REFUSED_BY_PROVIDER, account_for
from labgate.api import API_PREFIX
from labgate.api.deps import CurrentPrincipal, Db, State, client_of, recheck_sockets
from labgate.api.schemas import Body, Password, UserOut, describe_user
from labgate.audit import Actor
from labgate.auth.authentication import expected_origin
from labgate.auth.cookies import (
    HOST_PREFIX,
    delete_session_cookie,
    is_secure,
    set_session_cookie,
)
from labgate.auth.local import LocalProvider
from labgate.auth.login_steps import TooManyWaiting
from labgate.auth.providers import (
    AuthProvider,
    MoreNeeded,
    PasswordOutcome,
    PasswordProvider,
    ProviderUnavailable,
    RedirectProvider,
    SignInRefused,
    Vouched,
    kind_of,
)
from labgate.auth.ratelimit import FAILED_LOGIN, claim_login_attempt, settle_login_attempt
from labgate.auth.sessions import LOCAL_PROVIDER, create_session, revoke_session
from labgate.db.models import LoginSession, User, UserIdentity
from labgate.db.types import utcnow
from labgate.errors import (
    AccountDisabled,
    InvalidCredentials,
    LabgateError,
    NotFound,
    RateLimited,
    ValidationFailed,
)
from labgate.experiments.membership import match_user
from labgate.state import AppState

_T = TypeVar("_T")

router = APIRouter(prefix="/auth", tags=["authentication"])

#: The cookie that carries a redirect sign-in's state (sealed) from its start to the
#: provider's callback, and then the sentence saying why it failed to the login page.
#: Over HTTPS it is ``__Host-labgate_sign_in`` (``Path=/``, no ``Domain``), as the login
#: cookie is: an app on a sibling origin cannot plant one (its own, half-finished
#: sign-in) for a victim's browser to finish as the app's author.
SIGN_IN_COOKIE = "labgate_sign_in"
SIGN_IN_COOKIE_PATH = API_PREFIX + "/auth/"
SIGN_IN_SECONDS = 600
_FLOW_PURPOSE = "sign-in-flow"


class LoginIn(Body):
    username: Annotated[str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True)]
    password: Password


class SessionOut(BaseModel):
    user: UserOut
    csrf_token: str


class PromptOut(BaseModel):
    text: str
    #: Whether the answer may be shown while typed (a code; never a password).
    echo: bool


class LoginStepOut(BaseModel):
    """The provider asks more before it decides (a second factor): answer ``prompts``
    in order with ``POST /auth/login/step``, sending ``step`` back."""

    step: str
    provider: str
    prompts: list[PromptOut]
    #: What the provider said meanwhile ("Your password expires in 3 days").
    messages: list[str]


class LoginStepIn(Body):
    step: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    #: One per prompt, in order (an empty answer is an answer: PAM may accept one).
    answers: Annotated[
        list[Annotated[str, StringConstraints(max_length=1024)]], Field(max_length=8)
    ]


@router.post("/login", summary="Log in with a user name and password, starting a browser session")
async def login(
    body: LoginIn, request: Request, response: Response, state: State
) -> SessionOut | LoginStepOut:
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
    provider, outcome = await _settled_on_error(
        state, attempt, _vouched_for(state, username, body.password)
    )
    return await _conclude(request, response, state, attempt, provider, username, outcome)


@router.post("/login/step", summary="Answer the further prompts of a sign-in (a second factor)")
async def login_step(
    body: LoginStepIn, request: Request, response: Response, state: State
) -> SessionOut | LoginStepOut:
    waiting = state.login_steps.take(body.step)
    if len(body.answers) != len(waiting.more.prompts):
        await waiting.more.cancel()
        async with state.database.session() as db:
            await settle_login_attempt(db, waiting.attempt, FAILED_LOGIN, reason="answers")
        raise ValidationFailed(
            f"{len(waiting.more.prompts)} answers were asked for, {len(body.answers)} came: "
            "start again."
        )
    outcome = await _settled_on_error(state, waiting.attempt, waiting.more.answer(body.answers))
    provider = _provider(state, waiting.provider)
    return await _conclude(
        request, response, state, waiting.attempt, provider, waiting.username, outcome
    )


async def _settled_on_error(state: AppState, attempt: int, checking: Awaitable[_T]) -> _T:
    """What ``checking`` gives; when it raises, the attempt is settled as failed first
    (a refusal the person should read counts as a failed login, an error as an error)."""
    try:
        return await checking
    except (SignInRefused, ProviderUnavailable) as exc:
        async with state.database.session() as db:
            await settle_login_attempt(db, attempt, FAILED_LOGIN, reason=exc.code)
        state.metrics.logins.labels("failed").inc()
        raise
    except Exception as exc:
        async with state.database.session() as db:
            await settle_login_attempt(db, attempt, "login_error", error=type(exc).__name__)
        raise


async def _conclude(
    request: Request,
    response: Response,
    state: AppState,
    attempt: int,
    provider: AuthProvider | None,
    username: str,
    outcome: PasswordOutcome,
) -> SessionOut | LoginStepOut:
    """Ask the next prompts, or start the session of whom the provider vouched for."""
    if isinstance(outcome, MoreNeeded):
        assert provider is not None
        try:
            step = state.login_steps.hold(
                outcome, provider=provider.name, username=username, attempt=attempt
            )
        except TooManyWaiting:
            # Not held: its conversation (a PAM thread) ends now, and the attempt counts.
            await outcome.cancel()
            async with state.database.session() as db:
                await settle_login_attempt(db, attempt, "login_error", error="too_many_waiting")
            raise
        return LoginStepOut(
            step=step,
            provider=provider.name,
            prompts=[PromptOut(text=p.text, echo=p.echo) for p in outcome.prompts],
            messages=outcome.messages,
        )
    vouched = Vouched.account(outcome) if isinstance(outcome, int) else outcome
    if vouched is None or provider is None:
        async with state.database.session() as db:
            await settle_login_attempt(db, attempt, FAILED_LOGIN, reason="credentials")
        state.metrics.logins.labels("failed").inc()
        raise InvalidCredentials("Wrong user name or password.")
    cookie, answer = await _start_session(request, state, vouched, provider, attempt=attempt)
    set_session_cookie(response, request, state.settings, cookie)
    return answer


async def _start_session(
    request: Request,
    state: AppState,
    vouched: Vouched,
    provider: AuthProvider,
    *,
    attempt: int | None,
) -> tuple[str, SessionOut]:
    """The account ``vouched`` signs in as, and a new login session for it (the cookie's
    value and the answer); refused if the account is disabled or has expired."""
    async with state.database.session() as db:
        try:
            user, identity = await account_for(
                db, vouched, state.settings, state.vault, label=provider.label
            )
        except SignInRefused as exc:
            if attempt is not None:
                await settle_login_attempt(db, attempt, "login_refused", reason=exc.code)
            refusal: LabgateError | None = exc
        else:
            refusal = _refusal_of(user)
            if refusal is None:
                cookie, session = await create_session(
                    db,
                    user,
                    state.settings,
                    client=client_of(request, state),
                    user_agent=request.headers.get("user-agent", ""),
                    identity_id=identity.id if identity is not None else None,
                )
                user.last_login_at = utcnow()
                await state.active_days.note(db, user.id)
                # Experiments that named them (by e-mail, say) since they last came.
                await match_user(db, user)
                answer = SessionOut(
                    user=await describe_user(db, user), csrf_token=session.csrf_token
                )
                actor = Actor(user.id, user.username)
                if attempt is not None:
                    await settle_login_attempt(db, attempt, "login", actor=actor)
                else:
                    audit.record(
                        db,
                        "login",
                        actor=actor,
                        target=user.username,
                        client=client_of(request, state),
                        provider=provider.name,
                    )
                state.metrics.logins.labels("success").inc()
                return cookie, answer
            if attempt is not None:
                await settle_login_attempt(db, attempt, "login_refused", reason=refusal.code)
    state.metrics.logins.labels("disabled").inc()
    assert refusal is not None
    raise refusal


def _refusal_of(user: User) -> LabgateError | None:
    """Why ``user`` may not sign in now (None: they may)."""
    if user.disabled and user.disabled_reason == REFUSED_BY_PROVIDER:
        return AccountDisabled(
            "Your sign-in provider no longer accepts this account. Ask an administrator."
        )
    if user.disabled:
        return AccountDisabled("This account is disabled. Ask an administrator to enable it.")
    if user.expires_at is not None and user.expires_at <= utcnow():
        return AccountDisabled("This guest account has expired.")
    return None


async def _vouched_for(
    state: AppState, username: str, password: str
) -> tuple[AuthProvider | None, PasswordOutcome]:
    """The first password provider that knows these credentials, and what it says. A
    provider that refuses with a reason stops the search (the person reads it); one that
    cannot be asked is passed over, and said when no other provider knew them."""
    unavailable: ProviderUnavailable | None = None
    for provider in state.providers:
        if kind_of(provider) != "password":
            continue
        try:
            outcome = await cast(PasswordProvider, provider).authenticate(
                state.database, username, password
            )
        except ProviderUnavailable as exc:
            unavailable = unavailable or exc
            continue
        if outcome is not None:
            return provider, outcome
    if unavailable is not None:
        raise unavailable
    return None, None


def _provider(state: AppState, name: str) -> AuthProvider:
    provider = _provider_or_none(state, name)
    if provider is not None:
        return provider
    raise NotFound(f"There is no sign-in provider '{name}'.")


def _redirect_provider(state: AppState, name: str) -> RedirectProvider:
    provider = _provider(state, name)
    if kind_of(provider) != "redirect":
        raise NotFound(f"'{name}' is not a sign-in provider to go to.")
    return cast(RedirectProvider, provider)


def _callback_url(request: Request, state: AppState, name: str) -> str:
    origin = expected_origin(request, state)
    return f"{origin}{API_PREFIX}/auth/providers/{quote(name, safe='')}/callback"


def _local_path(value: str | None) -> str:
    """Where to go after signing in: a path of labgate's own, never another site."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


@router.get(
    "/providers/{name}/login",
    summary="Go to an identity provider to sign in (a redirect)",
    response_class=RedirectResponse,
    status_code=303,
)
async def provider_login(
    name: str, request: Request, state: State, next: str | None = None
) -> RedirectResponse:
    provider = _redirect_provider(state, name)
    try:
        redirect = await provider.begin(_callback_url(request, state, name))
    except (SignInRefused, ProviderUnavailable) as exc:
        return _failed_sign_in(request, state, exc.message)
    flow = dict(redirect.flow)
    flow.update(
        provider=name, next=_local_path(next), until=str(int(time.time()) + SIGN_IN_SECONDS)
    )
    answer = RedirectResponse(redirect.url, status_code=303)
    _set_sign_in_cookie(answer, request, state, flow)
    return answer


@router.get(
    "/providers/{name}/callback",
    summary="Where an identity provider sends the browser back (a redirect)",
    response_class=RedirectResponse,
    status_code=303,
)
async def provider_callback(name: str, request: Request, state: State) -> RedirectResponse:
    provider = _redirect_provider(state, name)
    flow = _read_sign_in_cookie(request, state)
    try:
        if flow is None or flow.get("provider") != name or "error" in flow:
            raise SignInRefused(
                "This sign-in did not begin in this browser, or began too long ago: start again."
            )
        if int(flow.get("until", "0")) < time.time():
            raise SignInRefused("This sign-in took too long: start again.")
        params = {key: value for key, value in request.query_params.items()}
        vouched = await provider.finish(flow, params, _callback_url(request, state, name))
        cookie, _answer = await _start_session(request, state, vouched, provider, attempt=None)
    except LabgateError as exc:
        async with state.database.session() as db:
            audit.record(
                db,
                "login_failed",
                target="",
                client=client_of(request, state),
                provider=name,
                reason=exc.code,
                message=exc.message[:300],
            )
        state.metrics.logins.labels("failed").inc()
        return _failed_sign_in(request, state, exc.message)
    answer = RedirectResponse(flow.get("next", "/"), status_code=303)
    set_session_cookie(answer, request, state.settings, cookie)
    _delete_sign_in_cookie(answer, request, state)
    return answer


class SignInErrorOut(BaseModel):
    #: Why the last sign-in at an identity provider failed in this browser (None: it
    #: did not, or it was read already).
    error: str | None


@router.get("/sign-in-error", summary="Why the last sign-in at an identity provider failed")
async def sign_in_error(request: Request, response: Response, state: State) -> SignInErrorOut:
    flow = _read_sign_in_cookie(request, state)
    _delete_sign_in_cookie(response, request, state)
    return SignInErrorOut(error=flow.get("error") if flow else None)


def _failed_sign_in(request: Request, state: AppState, message: str) -> RedirectResponse:
    """Back to the login page, which reads ``message`` from the sign-in cookie."""
    answer = RedirectResponse("/login?sign_in=failed", status_code=303)
    _set_sign_in_cookie(
        answer, request, state, {"error": message, "until": str(int(time.time()) + 60)}
    )
    return answer


def _set_sign_in_cookie(
    response: Response, request: Request, state: AppState, flow: dict[str, str]
) -> None:
    sealed = state.vault.seal(json.dumps(flow).encode(), _FLOW_PURPOSE)
    name, path, secure = _sign_in_cookie(request, state)
    response.set_cookie(
        name,
        base64.urlsafe_b64encode(sealed).decode(),
        max_age=SIGN_IN_SECONDS,
        httponly=True,
        # Lax: sent on the provider's top-level redirect back to the callback.
        samesite="lax",
        secure=secure,
        path=path,
    )


def _sign_in_cookie(request: Request, state: AppState) -> tuple[str, str, bool]:
    """The sign-in cookie's name, path and Secure flag on this connection."""
    if is_secure(request, state.settings):
        return HOST_PREFIX + SIGN_IN_COOKIE, "/", True
    return SIGN_IN_COOKIE, SIGN_IN_COOKIE_PATH, False


def _delete_sign_in_cookie(response: Response, request: Request, state: AppState) -> None:
    name, path, secure = _sign_in_cookie(request, state)
    response.delete_cookie(name, path=path, secure=secure, httponly=True, samesite="lax")


def _read_sign_in_cookie(request: Request, state: AppState) -> dict[str, str] | None:
    raw = request.cookies.get(_sign_in_cookie(request, state)[0])
    if not raw:
        return None
    try:
        opened = state.vault.open(base64.urlsafe_b64decode(raw.encode()), _FLOW_PURPOSE)
        flow = json.loads(opened)
    except (ValueError, LabgateError):
        return None
    if not isinstance(flow, dict) or int(flow.get("until", "0")) < time.time():
        return None
    return {str(key): str(value) for key, value in flow.items()}


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


@router.post(
    "/logout",
    status_code=204,
    summary="End the browser session",
    responses={
        200: {
            "description": "Ended; sign out at the identity provider too: "
            '`{"logout_url": ...}`, where the browser goes next'
        }
    },
)
async def logout(principal: CurrentPrincipal, request: Request, state: State, db: Db) -> Response:
    logout_url: str | None = None
    if principal.session_id is not None:
        identity_provider = await db.scalar(
            select(UserIdentity.provider)
            .join(LoginSession, LoginSession.identity_id == UserIdentity.id)
            .where(LoginSession.id == principal.session_id)
        )
        await revoke_session(db, principal.session_id)
        recheck_sockets(request, state, principal.user_id)
        if identity_provider is not None:
            logout_url = await _provider_logout_url(request, state, identity_provider)
    audit.record(
        db,
        "logout",
        actor=principal.actor,
        target=principal.username,
        client=client_of(request, state),
    )
    answer: Response = (
        JSONResponse({"logout_url": logout_url}) if logout_url else Response(status_code=204)
    )
    delete_session_cookie(answer, request, state.settings)
    return answer


async def _provider_logout_url(request: Request, state: AppState, name: str) -> str | None:
    """Where to sign out at the provider a session began with (None: nowhere)."""
    provider = _provider_or_none(state, name)
    if provider is None or kind_of(provider) != "redirect":
        return None
    return await cast(RedirectProvider, provider).logout_url(
        expected_origin(request, state) + "/login"
    )


async def start_session_for(
    request: Request, state: AppState, user_id: int, *, attempt: int
) -> tuple[str, SessionOut]:
    """A browser session (the cookie's value and the answer) for an account labgate
    itself vouches for: a guest who has just joined with an invitation
    (labgate.api.guest_invitations). ``attempt`` is settled as their login. They log in
    again with the form, so the provider named is ``local``."""
    provider = _provider_or_none(state, LOCAL_PROVIDER) or cast(
        AuthProvider, LocalProvider(state.settings)
    )
    vouched = Vouched.account(user_id)
    return await _start_session(request, state, vouched, provider, attempt=attempt)


def _provider_or_none(state: AppState, name: str) -> AuthProvider | None:
    return next((p for p in state.providers if p.name == name), None)
