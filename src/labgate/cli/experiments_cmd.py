"""``labgate experiments``: importing experiments (proposals) and listing them."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from sqlalchemy import select

from labgate.cli.context import CliContext, pass_context
from labgate.cli.output import print_rows
from labgate.db.engine import Database
from labgate.db.models import Experiment
from labgate.db.types import utcnow
from labgate.experiments import importing
from labgate.experiments.dates import launch_until, phase
from labgate.experiments.records import Report
from labgate.plugins.manager import Plugins
from labgate.settings import Settings


@click.group()
def experiments() -> None:
    """Import experiments (proposals) and list them."""


@experiments.command("import")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.option(
    "--format",
    "format_",
    default=None,
    help="The experiment source that reads FILE: csv, json or a plug-in's (default: by the "
    "file's extension).",
)
@click.option("--dry-run", is_flag=True, help="Only say what would be done.")
@pass_context
def import_(ctx: CliContext, file: Path, format_: str | None, dry_run: bool) -> None:
    """Create or update experiments from FILE ("-": standard input), by their code; its
    members and locations replace those an experiment had. Bad records are reported
    with their line (CSV) or index (JSON) and the others applied. Re-runnable."""
    settings = ctx.settings()
    sources = Plugins.load(settings).experiment_sources()
    name = format_ or (file.suffix.lstrip(".").lower() if str(file) != "-" else "csv")
    source = sources.get(name)
    if source is None:
        raise click.UsageError(
            f"There is no experiment source {name!r}; --format one of {', '.join(sorted(sources))}."
        )
    data = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8-sig")

    async def job(database: Database, settings: Settings) -> Report:
        async with database.session() as db:
            return await importing.apply(
                db,
                source.read(data),
                source=source.name,
                embargo_days=settings.experiment_embargo_days,
                actor=ctx.actor,
                dry_run=dry_run,
            )

    report = ctx.run(job)
    for title, codes in (
        ("created", report.created),
        ("updated", report.updated),
    ):
        if codes:
            click.echo(f"{'Would be ' if dry_run else ''}{title}: {', '.join(codes)}")
    for bad in report.refused:
        code = f" ({bad.code})" if bad.code else ""
        click.echo(f"Refused {bad.where}{code}: {bad.problem}", err=True)
    click.echo(report.summary())
    if report.refused:
        sys.exit(1)


@experiments.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
def list_(ctx: CliContext, as_json: bool) -> None:
    """List experiments with their dates, members and data locations."""

    async def job(database: Database, settings: Settings) -> list[dict[str, object]]:
        now, embargo = utcnow(), settings.experiment_embargo_days
        async with database.read() as db:
            rows = list(await db.scalars(select(Experiment).order_by(Experiment.code)))
            names = await importing.shared_resources(db)
        by_id = {resource_id: name for name, resource_id in names.items()}
        return [
            {
                "code": row.code,
                "title": row.title,
                "instrument": row.instrument,
                "starts": row.starts_at.date().isoformat() if row.starts_at else "",
                "ends": row.ends_at.date().isoformat() if row.ends_at else "",
                "until": (launch_until(row, embargo) or now).date().isoformat()
                if row.ends_at
                else "",
                "state": phase(row, embargo, now).value,
                "members": ";".join(
                    f"{m.username or m.email}:{m.role}{'' if m.user_id else ' (unmatched)'}"
                    for m in row.members
                ),
                "locations": ";".join(
                    f"{by_id.get(x.resource_id, x.resource_id)}:{x.kind}:{x.path}"
                    for x in row.locations
                ),
                "source": row.source,
            }
            for row in rows
        ]

    print_rows(
        ctx.run(job),
        ["code", "title", "instrument", "starts", "ends", "until", "state", "members", "locations"],
        as_json=as_json,
    )
