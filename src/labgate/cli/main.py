"""``labgate``: serve the platform and administer it from a shell."""

from __future__ import annotations

from pathlib import Path

import click

from labgate import __version__
from labgate.cli import (
    audit_cmd,
    ca_cmd,
    config_cmd,
    db_cmd,
    experiments_cmd,
    groups_cmd,
    guests_cmd,
    plugins_cmd,
    tokens_cmd,
    users_cmd,
)
from labgate.cli.context import CliContext, pass_context
from labgate.errors import LabgateError

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
_CONFIG = click.option(
    "--config",
    "-c",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML configuration file (also: LABGATE_CONFIG).",
)
_DATA_DIR = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for the SQLite database and server state (also: LABGATE_DATA_DIR).",
)


@click.group(context_settings=CONTEXT_SETTINGS)
@_CONFIG
@_DATA_DIR
@click.version_option(__version__, prog_name="labgate")
@click.pass_context
def cli(ctx: click.Context, config: Path | None, data_dir: Path | None) -> None:
    """labgate: a web platform for scientific data analysis on any computer reachable by SSH.

    Settings come from a TOML file (--config), LABGATE_* environment variables and the
    options given here; `labgate config show` prints what is in effect.
    """
    ctx.obj = CliContext(config, data_dir)


@cli.command()
@click.option("--host", help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, help="TCP port to listen on (default 8000).")
@_CONFIG
@_DATA_DIR
@pass_context
def serve(
    ctx: CliContext,
    host: str | None,
    port: int | None,
    config: Path | None,
    data_dir: Path | None,
) -> None:
    """Serve labgate over HTTP (stop with Ctrl-C or SIGTERM; open requests may finish)."""
    from labgate.server import serve as run_server

    if config is not None:
        ctx.config = config
    if data_dir is not None:
        ctx.data_dir = data_dir
    try:
        run_server(ctx.settings(host=host, port=port))
    except LabgateError as exc:
        raise click.ClickException(exc.message) from None


cli.add_command(db_cmd.db)
cli.add_command(users_cmd.user)
cli.add_command(groups_cmd.group)
cli.add_command(tokens_cmd.token)
cli.add_command(config_cmd.config)
cli.add_command(audit_cmd.audit)
cli.add_command(ca_cmd.ca)
cli.add_command(plugins_cmd.plugins)
cli.add_command(experiments_cmd.experiments)
cli.add_command(guests_cmd.guests_group)


def main() -> None:
    cli(prog_name="labgate")
