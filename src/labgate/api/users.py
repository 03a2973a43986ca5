"""User accounts: one's own, and (for administrators) everybody's."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel
from sqlalchemy import select

from labgate.accounts import users as accounts
from labgate.accounts.removal import remove_user
from labgate.api.deps import Caller, CurrentPrincipal, Db, State
from labgate.api.schemas import Body, DisplayName, Email, Password, UserOut, describe_user
from labgate.auth.passwords import hash_password, verify_password
from labgate.auth.policy import Action, authorize
from labgate.auth.sessions import began_with_one_time_password
from labgate.db.models import Role, User
from labgate.errors import Conflict, FieldProblem, ValidationFailed
from labgate.state import AppState

router = APIRouter(prefix="/users", tags=["users"])


class UserList(BaseModel):
    users: list[UserOut]


class UserCreate(Body):
    username: str
    password: Password
    role: Role = Role.USER
    display_name: DisplayName = ""
    email: Email | None = None
    must_change_password: bool = False


class UserUpdate(Body):
    role: Role | None = None
    disabled: bool | None = None
    display_name: DisplayName | None = None
    email: Email | None = None
    password: Password | None = None
    # With ``password``: the user must replace it at their next login.
    must_change_password: bool = False


class SelfUpdate(Body):
    display_name: DisplayName | None = None
    email: Email | None = None


class PasswordChange(Body):
    # May be left out only by a browser session that began by logging in with the
    # one-time password the account must replace (labgate.auth.sessions).
    current_password: Password | None = None
    new_password: Password


@router.get("/me", summary="Your own account")
async def get_me(principal: CurrentPrincipal, state: State, db: Db) -> UserOut:
    authorize(principal, Action.READ_OWN_ACCOUNT)
    user = await db.get(User, principal.user_id)
    assert user is not None
    return await describe_user(db, user)


@router.patch("/me", summary="Change your display name or e-mail address")
async def update_me(body: SelfUpdate, principal: CurrentPrincipal, state: State, db: Db) -> UserOut:
    authorize(principal, Action.UPDATE_OWN_ACCOUNT)
    user = await db.get(User, principal.user_id)
    assert user is not None
    await accounts.update_user(
        db,
        state.settings,
        user,
        actor=principal.actor,
        display_name=body.display_name,
        email=body.email,
        by_user=True,
    )
    return await describe_user(db, user)


@router.post("/me/password", status_code=204, summary="Change your password")
async def change_my_password(body: PasswordChange, principal: Caller, state: State) -> Response:
    """The current password is required, except right after logging in with a one-time
    password: the browser session that did so may leave it out (it was just typed)."""
    authorize(principal, Action.UPDATE_OWN_ACCOUNT)
    accounts.check_password(body.new_password, state.settings, field="body.new_password")
    # Both hashes are made with no transaction open: hashing is slow on purpose, and
    # nobody else's request should wait for it.
    async with state.database.read() as db:
        stored = await db.scalar(select(User.password_hash).where(User.id == principal.user_id))
        proven = body.current_password is None and await began_with_one_time_password(db, principal)
    if body.current_password is None:
        if not proven:
            message = "Type your current password."
            raise ValidationFailed(
                message, details=[FieldProblem("body.current_password", message)]
            )
    elif not await verify_password(stored, body.current_password):
        message = "The current password is wrong."
        raise ValidationFailed(message, details=[FieldProblem("body.current_password", message)])
    new_hash = await hash_password(body.new_password)
    async with state.database.session() as db:
        user = await db.get(User, principal.user_id)
        if user is None or user.password_hash != stored:
            raise Conflict("Your password was changed meanwhile. Log in again and retry.")
        await accounts.store_password_hash(
            db, user, new_hash, actor=principal.actor, keep_session_id=principal.session_id
        )
    # Other logins of the user ended: the proxy asks the database again, and their open
    # sockets here close now (there is no request transaction to do it after).
    state.recent_callers.forget_all()
    state.live_sockets.recheck(principal.user_id)
    return Response(status_code=204)


@router.get("", summary="All users (administrators)")
async def list_users(principal: CurrentPrincipal, state: State, db: Db) -> UserList:
    authorize(principal, Action.LIST_USERS)
    found = await accounts.list_users(db)
    groups = await accounts.group_names(db, [u.id for u in found])
    return UserList(users=[UserOut.of(u, groups[u.id]) for u in found])


@router.post("", status_code=201, summary="Create a user (administrators)")
async def create_user(body: UserCreate, principal: Caller, state: State) -> UserOut:
    authorize(principal, Action.MANAGE_USERS)
    password_hash = await _hashed(state, body.password, field="body.password")
    async with state.database.session() as db:
        user = await accounts.create_user(
            db,
            state.settings,
            username=body.username,
            password=body.password,
            role=body.role,
            display_name=body.display_name,
            email=body.email,
            must_change_password=body.must_change_password,
            actor=principal.actor,
            password_hash=password_hash,
        )
        return await describe_user(db, user)


@router.get("/{username}", summary="One user (administrators)")
async def get_user(username: str, principal: CurrentPrincipal, state: State, db: Db) -> UserOut:
    authorize(principal, Action.LIST_USERS)
    return await describe_user(db, await accounts.get_user(db, username))


@router.patch("/{username}", summary="Change a user (administrators)")
async def update_user(username: str, body: UserUpdate, principal: Caller, state: State) -> UserOut:
    """A demoted administrator's sessions on resources only their role gave them stop."""
    authorize(principal, Action.MANAGE_USERS)
    password_hash = None
    if body.password is not None:
        password_hash = await _hashed(state, body.password, field="body.password")
    async with state.database.session() as db:
        user = await accounts.get_user(db, username)
        await accounts.update_user(
            db,
            state.settings,
            user,
            actor=principal.actor,
            role=body.role,
            disabled=body.disabled,
            display_name=body.display_name,
            email=body.email,
        )
        if body.password is not None:
            await accounts.set_password(
                db,
                state.settings,
                user,
                body.password,
                actor=principal.actor,
                field="body.password",
                one_time=body.must_change_password,
                password_hash=password_hash,
            )
        answer = await describe_user(db, user)
    # A new password or disabling ended logins: the proxy asks the database again, and
    # the user's open sockets here close now (no request transaction does it after).
    state.recent_callers.forget_all()
    state.live_sockets.recheck(answer.id)
    if body.role is not None:
        state.revocation.soon(user_id=answer.id)
    return answer


async def _hashed(state: AppState, password: str, *, field: str) -> str:
    """``password`` checked and hashed, before any transaction is open: hashing is slow
    on purpose, and nobody else's request should wait for it."""
    accounts.check_password(password, state.settings, field=field)
    return await hash_password(password)


@router.delete("/{username}", status_code=204, summary="Delete a user (administrators)")
async def delete_user(username: str, principal: Caller, state: State) -> Response:
    """Their app sessions, processes and terminals end first on every resource labgate
    reaches without asking anyone; the audit event ``user_deleted`` says what was
    stopped and which resources could not be reached (see labgate.accounts.removal)."""
    authorize(principal, Action.MANAGE_USERS)
    await remove_user(state, username, actor=principal.actor)
    return Response(status_code=204)
