"""``labgate plugins``: what is loaded, with versions."""

from __future__ import annotations

import click

from labgate.cli.context import CliContext, pass_context
from labgate.cli.output import print_rows
from labgate.errors import LabgateError
from labgate.plugins.manager import Plugins


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
def plugins(ctx: CliContext, as_json: bool) -> None:
    """List the loaded plug-ins (labgate's own built-ins among them), with their versions
    and the hooks each implements."""
    try:
        loaded = Plugins.load(ctx.settings()).info()
    except LabgateError as exc:
        raise click.ClickException(exc.message) from None
    rows = [p.describe() for p in loaded]
    print_rows(rows, ["name", "version", "builtin", "hooks"], as_json=as_json)
