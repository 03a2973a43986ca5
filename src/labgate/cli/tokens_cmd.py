"""``labgate token``: API tokens for scripts."""

from __future__ import annotations

import click

from labgate.accounts.users import get_user
from labgate.auth.principal import Scope
from labgate.auth.tokens import create_token, list_tokens
from labgate.cli.context import CliContext, pass_context
from labgate.cli.output import print_rows
from labgate.db.engine import Database
from labgate.settings import Settings


@click.group()
def token() -> None:
    """API tokens: `Authorization: Bearer <token>` for scripts."""


@token.command("create")
@click.option("--user", "username", required=True, help="Whose token it is.")
@click.option("--name", default="cli", show_default=True, help="What the token is for.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice([s.value for s in Scope]),
    default=["read", "write"],
    show_default=True,
    help="Repeat for several scopes.",
)
@click.option("--expires-days", type=click.IntRange(min=1), default=30, show_default=True)
@pass_context
def create(
    ctx: CliContext, username: str, name: str, scopes: tuple[str, ...], expires_days: int
) -> None:
    """Create a token and print it (it is shown only this once)."""

    async def job(database: Database, settings: Settings) -> str:
        async with database.session() as db:
            user = await get_user(db, username)
            secret, _ = await create_token(
                db,
                settings,
                user,
                name=name,
                scopes=[Scope(s) for s in scopes],
                expires_in_days=expires_days,
                grantable=frozenset(Scope),  # the server's own administrator is asking
                actor=ctx.actor,
            )
            return secret

    click.echo(ctx.run(job))


@token.command("list")
@click.option("--user", "username", required=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
def list_(ctx: CliContext, username: str, as_json: bool) -> None:
    """List a user's tokens (never their secrets)."""

    async def job(database: Database, _settings: Settings) -> list[dict[str, object]]:
        async with database.session() as db:
            user = await get_user(db, username)
            return [
                {
                    "id": t.id,
                    "name": t.name,
                    "prefix": t.prefix,
                    "scopes": t.scopes,
                    "expires_at": t.expires_at.isoformat() if t.expires_at else None,
                    "revoked": t.revoked_at is not None,
                }
                for t in await list_tokens(db, user.id)
            ]

    print_rows(
        ctx.run(job), ["id", "name", "prefix", "scopes", "expires_at", "revoked"], as_json=as_json
    )
