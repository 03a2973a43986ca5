"""``labgate db``: the database schema."""

from __future__ import annotations

import click

from labgate.cli.context import CliContext, pass_context
from labgate.db import migrate
from labgate.db.engine import Database
from labgate.settings import Settings


async def _revision(database: Database, _settings: Settings) -> str | None:
    return await migrate.current_revision(database)


@click.group()
def db() -> None:
    """Database schema migrations."""


@db.command()
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@pass_context
def upgrade(ctx: CliContext, revision: str) -> None:
    """Apply migrations up to REVISION (the server also does this when it starts)."""
    click.echo(f"Database at revision {ctx.run(_revision, migrate_to=revision)}.")


@db.command()
@pass_context
def current(ctx: CliContext) -> None:
    """Print the schema revision of the database and the newest one known."""
    found = ctx.run(_revision, migrate_to=None)
    click.echo(f"current: {found or 'empty'}\nnewest:  {migrate.head_revision()}")
