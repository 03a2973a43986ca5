"""``labgate audit``: read the audit log from a shell."""

from __future__ import annotations

import click

from labgate import audit as audit_log
from labgate.cli.context import CliContext, pass_context
from labgate.cli.output import print_rows
from labgate.db.engine import Database
from labgate.settings import Settings


@click.group()
def audit() -> None:
    """Security-relevant events: logins, account and token changes."""


@audit.command("list")
@click.option("--limit", type=click.IntRange(1, 10000), default=50, show_default=True)
@click.option("--event", help="Only this kind of event, e.g. login_failed.")
@click.option("--actor", help="Only events caused by this user (or cli:<unix user>).")
@click.option("--target", help="Only events about this user, group or account name.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
def list_(
    ctx: CliContext,
    limit: int,
    event: str | None,
    actor: str | None,
    target: str | None,
    as_json: bool,
) -> None:
    """List events, newest first."""

    async def job(database: Database, _settings: Settings) -> list[dict[str, object]]:
        async with database.session() as db:
            rows = await audit_log.query(db, limit=limit, event=event, actor=actor, target=target)
            return [
                {
                    "at": r.at.isoformat(timespec="seconds"),
                    "event": r.event,
                    "actor": r.actor,
                    "target": r.target,
                    "client": r.client,
                    "detail": r.detail,
                }
                for r in rows
            ]

    print_rows(
        ctx.run(job), ["at", "event", "actor", "target", "client", "detail"], as_json=as_json
    )
