"""``labgate config``: the settings in effect, and their reference page."""

from __future__ import annotations

import json
from pathlib import Path

import click

from labgate.cli.context import CliContext, pass_context
from labgate.config_reference import masked_settings, reference_markdown


@click.group()
def config() -> None:
    """Inspect settings."""


@config.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
def show(ctx: CliContext, as_json: bool) -> None:
    """Print the effective settings, secrets masked."""
    values = masked_settings(ctx.settings())
    if as_json:
        click.echo(json.dumps(values, indent=2))
        return
    width = max(len(k) for k in values)
    for key, value in values.items():
        click.echo(f"{key.ljust(width)} = {json.dumps(value)}")


@config.command()
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of standard output.",
)
def reference(output: Path | None) -> None:
    """Print the configuration reference (Markdown), as in docs/configuration.md."""
    text = reference_markdown()
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text)


@config.command()
@pass_context
def check(ctx: CliContext) -> None:
    """Check the settings and the app templates of app_templates_dir, without serving."""
    from labgate.errors import LabgateError
    from labgate.plugins.manager import Plugins
    from labgate.sessions.template_files import templates_of

    settings = ctx.settings()
    try:
        plugins = Plugins.load(settings)
        plugins.check()
        templates = templates_of(plugins, settings.app_templates_dir)
    except LabgateError as exc:
        raise click.ClickException(exc.message) from None
    added = sorted(set(templates) - set(plugins.app_templates()))
    click.echo(f"Settings are valid. App templates: {', '.join(sorted(templates))}")
    if added:
        click.echo(f"(from {settings.app_templates_dir}: {', '.join(added)})")
