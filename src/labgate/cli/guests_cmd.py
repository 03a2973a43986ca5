"""``labgate guests``: guest invitations for workshops and classes, and removing the
guests whose accounts have ended."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from labgate.accounts import guests
from labgate.accounts.guest_codes import join_path, shown_code
from labgate.accounts.guest_expiry import expire_guests, remove_guests
from labgate.cli.context import CliContext, pass_context
from labgate.cli.output import print_rows
from labgate.credentials.vault import Vault
from labgate.db.engine import Database
from labgate.db.types import utcnow
from labgate.errors import FieldProblem, ValidationFailed
from labgate.plugins.manager import Plugins
from labgate.settings import Settings
from labgate.state import AppState


@click.group("guests")
def guests_group() -> None:
    """Make, list and withdraw guest invitations; remove ended guests."""


def _origin(settings: Settings) -> str:
    """Where people reach labgate (``public_url``, else the address it serves)."""
    if settings.public_url:
        return settings.public_url
    scheme = "https" if settings.serves_tls else "http"
    return f"{scheme}://{settings.host}:{settings.port}"


def _moment(text: str) -> datetime:
    """An ISO date and time; without a zone, this machine's local time."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        message = f"{text!r} is not a date and time such as 2026-12-31T18:00."
        raise ValidationFailed(message, details=[FieldProblem("--expires", message)]) from None
    # A naive moment is taken as local time by astimezone.
    return moment.astimezone(UTC)


@guests_group.command("create")
@click.option("--title", required=True, help="What it is for, such as the workshop's name.")
@click.option("--seats", type=int, required=True, help="How many guests may join.")
@click.option(
    "--expires",
    required=True,
    help="When it ends, and the guests' accounts with it: 2026-12-31T18:00 (local time "
    "unless a zone is given).",
)
@pass_context
def create(ctx: CliContext, title: str, seats: int, expires: str) -> None:
    """Make an invitation; prints its code and the link to hand out."""

    async def job(database: Database, settings: Settings) -> tuple[int, str]:
        async with database.session() as db:
            row, code = await guests.create_invitation(
                db,
                Vault.from_settings(settings),
                settings,
                title=title,
                seats=seats,
                expires_at=_moment(expires),
                actor=ctx.actor,
            )
            return row.id, code

    invitation_id, code = ctx.run(job)
    settings = ctx.settings()
    click.echo(f"Invitation {invitation_id}: {title}, {seats} seats until {expires}.")
    click.echo(f"Code: {shown_code(code)}")
    click.echo(f"Link: {_origin(settings)}{join_path(code)}")


@guests_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
def list_(ctx: CliContext, as_json: bool) -> None:
    """List invitations with their codes, seats and guests."""

    async def job(database: Database, settings: Settings) -> list[dict[str, object]]:
        vault = Vault.from_settings(settings)
        now = utcnow()
        async with database.read() as db:
            rows = await guests.list_invitations(db)
            theirs = await guests.guests_of(db, [row.id for row in rows])
        return [
            {
                "id": row.id,
                "title": row.title,
                "code": shown_code(guests.code_of(vault, row)),
                "seats": row.seats,
                "used": row.used,
                "expires": row.expires_at.isoformat(timespec="minutes"),
                "state": guests.state_of(row, now).value,
                "guests": [guest.username for guest in theirs[row.id]],
            }
            for row in rows
        ]

    print_rows(
        ctx.run(job),
        ["id", "title", "code", "seats", "used", "expires", "state", "guests"],
        as_json=as_json,
    )


def _state(settings: Settings, database: Database) -> AppState:
    """What removing accounts uses of a server (connections to their resources)."""
    return AppState(
        settings=settings, database=database, plugins=Plugins.load(settings), providers=[]
    )


@guests_group.command("revoke")
@click.argument("invitation_id", type=int)
@click.option(
    "--end-accounts",
    is_flag=True,
    help="Also end its guests' accounts now: they are logged out and removed.",
)
@pass_context
def revoke(ctx: CliContext, invitation_id: int, end_accounts: bool) -> None:
    """Withdraw invitation INVITATION_ID: nobody joins with it any more."""

    async def job(database: Database, settings: Settings) -> list[str]:
        async with database.session() as db:
            row = await guests.get_invitation(db, invitation_id)
            ended = await guests.revoke_invitation(
                db, row, actor=ctx.actor, end_accounts=end_accounts
            )
        if not ended:
            return []
        state = _state(settings, database)
        try:
            return await remove_guests(state, ended, actor=ctx.actor)
        finally:
            await state.connections.close()

    removed = ctx.run(job)
    click.echo(f"Invitation {invitation_id} is withdrawn.")
    if removed:
        click.echo("Removed: " + ", ".join(removed))


@guests_group.command("expire")
@pass_context
def expire(ctx: CliContext) -> None:
    """Remove the guests whose accounts have ended now, as the server does every minute
    (their files on `local` as guest_files_on_expiry says)."""

    async def job(database: Database, settings: Settings) -> list[str]:
        state = _state(settings, database)
        try:
            return await expire_guests(state)
        finally:
            await state.connections.close()

    removed = ctx.run(job)
    click.echo("Removed: " + ", ".join(removed) if removed else "No guest account has ended.")
