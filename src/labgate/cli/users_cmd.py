"""``labgate user``: accounts."""

from __future__ import annotations

import secrets
import sys

import click

from labgate.accounts import users as accounts
from labgate.accounts.removal import Removal, remove_user
from labgate.cli.context import CliContext, pass_context
from labgate.cli.output import print_rows
from labgate.db.engine import Database
from labgate.db.models import Role
from labgate.plugins.manager import Plugins
from labgate.resources.revocation import mark_lost_sessions, stopping_note
from labgate.settings import Settings
from labgate.state import AppState

ROLES = click.Choice([r.value for r in Role])
_ONE_TIME = click.option(
    "--one-time/--permanent",
    "one_time",
    default=None,
    help="Whether the user must choose a new password at the next login "
    "(default: one-time for generated passwords, permanent otherwise).",
)


def _read_password(from_stdin: bool, *, generate: bool) -> tuple[str, bool]:
    """The new password and whether it was generated (and so must be shown)."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\n"), False
    if generate or not sys.stdin.isatty():
        return secrets.token_urlsafe(12), True
    return click.prompt("Password", hide_input=True, confirmation_prompt=True), False


@click.group()
def user() -> None:
    """Create, list, change and remove user accounts."""


@user.command("add")
@click.argument("username")
@click.option("--role", type=ROLES, default=Role.USER.value, show_default=True)
@click.option("--display-name", default="", help="Full name shown in the interface.")
@click.option("--email", default=None)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--generate-password", is_flag=True, help="Generate a password and print it.")
@_ONE_TIME
@pass_context
def add(
    ctx: CliContext,
    username: str,
    role: str,
    display_name: str,
    email: str | None,
    password_stdin: bool,
    generate_password: bool,
    one_time: bool | None,
) -> None:
    """Create the account USERNAME. Without --password-stdin you are asked for a password
    (or one is generated when there is no terminal)."""
    password, generated = _read_password(password_stdin, generate=generate_password)

    async def job(database: Database, settings: Settings) -> None:
        async with database.session() as db:
            await accounts.create_user(
                db,
                settings,
                username=username,
                password=password,
                role=Role(role),
                display_name=display_name,
                email=email,
                must_change_password=generated if one_time is None else one_time,
                actor=ctx.actor,
            )

    ctx.run(job)
    click.echo(f"Created {role} '{username}'.")
    if generated:
        click.echo(f"Password: {password}")


@user.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
def list_(ctx: CliContext, as_json: bool) -> None:
    """List every account."""

    async def job(database: Database, _settings: Settings) -> list[dict[str, object]]:
        async with database.session() as db:
            found = await accounts.list_users(db)
            groups = await accounts.group_names(db, [u.id for u in found])
            return [
                {
                    "username": u.username,
                    "role": u.role,
                    "display_name": u.display_name,
                    "email": u.email,
                    "disabled": u.disabled,
                    "groups": groups[u.id],
                    "last_login_at": u.last_login_at.isoformat() if u.last_login_at else None,
                }
                for u in found
            ]

    print_rows(
        ctx.run(job),
        ["username", "role", "display_name", "disabled", "groups", "last_login_at"],
        as_json=as_json,
    )


@user.command()
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--generate-password", is_flag=True, help="Generate a password and print it.")
@_ONE_TIME
@pass_context
def passwd(
    ctx: CliContext,
    username: str,
    password_stdin: bool,
    generate_password: bool,
    one_time: bool | None,
) -> None:
    """Set the password of USERNAME (ends the account's login sessions)."""
    password, generated = _read_password(password_stdin, generate=generate_password)

    async def job(database: Database, settings: Settings) -> None:
        async with database.session() as db:
            user = await accounts.get_user(db, username)
            await accounts.set_password(
                db,
                settings,
                user,
                password,
                one_time=generated if one_time is None else one_time,
                actor=ctx.actor,
            )

    ctx.run(job)
    click.echo(f"Password of '{username}' changed.")
    if generated:
        click.echo(f"Password: {password}")


def _set_flag(ctx: CliContext, username: str, done: str, **changes: object) -> None:
    """Change the user, say ``done``, and how many of their sessions are stopping."""

    async def job(database: Database, settings: Settings) -> int:
        async with database.session() as db:
            user = await accounts.get_user(db, username)
            await accounts.update_user(db, settings, user, actor=ctx.actor, **changes)  # type: ignore[arg-type]
            await db.flush()
            # A demotion can end access to resources only the role gave.
            return await mark_lost_sessions(db, settings, [user.id])

    note = stopping_note(ctx.run(job))
    click.echo(done)
    if note:
        click.echo(note)


@user.command()
@click.argument("username")
@pass_context
def disable(ctx: CliContext, username: str) -> None:
    """Disable USERNAME: no logins, sessions and API tokens stop working."""
    _set_flag(ctx, username, f"Disabled '{username}'.", disabled=True)


@user.command()
@click.argument("username")
@pass_context
def enable(ctx: CliContext, username: str) -> None:
    """Enable USERNAME again."""
    _set_flag(ctx, username, f"Enabled '{username}'.", disabled=False)


@user.command("set-role")
@click.argument("username")
@click.argument("role", type=ROLES)
@pass_context
def set_role(ctx: CliContext, username: str, role: str) -> None:
    """Give USERNAME the role ROLE (admin, user or guest)."""
    _set_flag(ctx, username, f"'{username}' is now {role}.", role=Role(role))


@user.command()
@click.argument("username")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_context
def delete(ctx: CliContext, username: str, yes: bool) -> None:
    """Delete USERNAME with its sessions, tokens, keys and preferences, after ending
    their app sessions, processes and terminals on the resources labgate reaches."""
    if not yes:
        click.confirm(f"Delete the account '{username}' for good?", abort=True)

    async def job(database: Database, settings: Settings) -> Removal:
        state = AppState(
            settings=settings,
            database=database,
            plugins=Plugins.load(settings),
            providers=[],
        )
        try:
            return await remove_user(state, username, actor=ctx.actor)
        finally:
            await state.connections.close()

    removal = ctx.run(job)
    click.echo(f"Deleted '{username}'.")
    if removal.sessions_stopped or removal.processes_stopped:
        click.echo(
            f"Stopped {removal.sessions_stopped} session(s) and "
            f"{removal.processes_stopped} process(es) of theirs."
        )
    if removal.unreachable:
        click.echo(
            "Not reached, their work may still run there: " + ", ".join(removal.unreachable),
            err=True,
        )
