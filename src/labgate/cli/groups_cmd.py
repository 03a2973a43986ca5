"""``labgate group``: groups of users."""

from __future__ import annotations

import click

from labgate.accounts import groups as grouping
from labgate.accounts.users import get_user
from labgate.cli.context import CliContext, pass_context
from labgate.cli.output import print_rows
from labgate.db.engine import Database
from labgate.resources.revocation import mark_lost_sessions, stopping_note
from labgate.settings import Settings


@click.group()
def group() -> None:
    """Create groups and manage their members."""


@group.command("add")
@click.argument("name")
@click.option("--description", default="")
@pass_context
def add(ctx: CliContext, name: str, description: str) -> None:
    """Create the group NAME."""

    async def job(database: Database, _settings: Settings) -> None:
        async with database.session() as db:
            await grouping.create_group(db, name=name, description=description, actor=ctx.actor)

    ctx.run(job)
    click.echo(f"Created group '{name}'.")


@group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
def list_(ctx: CliContext, as_json: bool) -> None:
    """List groups and their members."""

    async def job(database: Database, _settings: Settings) -> list[dict[str, object]]:
        async with database.session() as db:
            return [
                {
                    "name": g.name,
                    "description": g.description,
                    "members": sorted(m.user.username for m in g.memberships),
                }
                for g in await grouping.list_groups(db)
            ]

    print_rows(ctx.run(job), ["name", "members", "description"], as_json=as_json)


@group.command()
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_context
def delete(ctx: CliContext, name: str, yes: bool) -> None:
    """Delete the group NAME (its members keep their accounts)."""
    if not yes:
        click.confirm(f"Delete the group '{name}'?", abort=True)

    async def job(database: Database, settings: Settings) -> int:
        async with database.session() as db:
            found = await grouping.get_group(db, name)
            members = [m.user_id for m in found.memberships]
            await grouping.delete_group(db, found, actor=ctx.actor)
            return await mark_lost_sessions(db, settings, members)

    marked = ctx.run(job)
    click.echo(f"Deleted group '{name}'.")
    _say_stopping(marked)


@group.command("add-member")
@click.argument("name")
@click.argument("usernames", nargs=-1, required=True)
@pass_context
def add_member(ctx: CliContext, name: str, usernames: tuple[str, ...]) -> None:
    """Add USERNAMES to the group NAME."""

    async def job(database: Database, _settings: Settings) -> None:
        async with database.session() as db:
            found = await grouping.get_group(db, name)
            for username in usernames:
                await grouping.add_member(db, found, await get_user(db, username), actor=ctx.actor)

    ctx.run(job)
    click.echo(f"Added {', '.join(usernames)} to '{name}'.")


@group.command("remove-member")
@click.argument("name")
@click.argument("usernames", nargs=-1, required=True)
@pass_context
def remove_member(ctx: CliContext, name: str, usernames: tuple[str, ...]) -> None:
    """Remove USERNAMES from the group NAME."""

    async def job(database: Database, settings: Settings) -> int:
        async with database.session() as db:
            found = await grouping.get_group(db, name)
            removed = [await get_user(db, username) for username in usernames]
            for member in removed:
                await grouping.remove_member(db, found, member, actor=ctx.actor)
            return await mark_lost_sessions(db, settings, [u.id for u in removed])

    marked = ctx.run(job)
    click.echo(f"Removed {', '.join(usernames)} from '{name}'.")
    _say_stopping(marked)


def _say_stopping(marked: int) -> None:
    note = stopping_note(marked)
    if note:
        click.echo(note)
