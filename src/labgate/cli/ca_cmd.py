"""``labgate ca``: labgate's SSH certificate authority, for administrators of resources."""

from __future__ import annotations

import click

from labgate.cli.context import CliContext, pass_context
from labgate.credentials.authority import SSHD_CONFIG_HINT, CertificateAuthority
from labgate.credentials.store import certificate_authority
from labgate.credentials.vault import Vault
from labgate.db.engine import Database
from labgate.settings import Settings


@click.group()
def ca() -> None:
    """The SSH certificate authority that shared resources trust."""


@ca.command("show")
@pass_context
def show(ctx: CliContext) -> None:
    """Print the CA's public key (making the CA on first use) for sshd's TrustedUserCAKeys.

    Only the key line goes to standard output, so it can be redirected into a file;
    the instructions go to standard error.
    """

    async def job(database: Database, settings: Settings) -> CertificateAuthority:
        vault = Vault.from_settings(settings)
        async with database.session() as db:
            return await certificate_authority(db, vault, actor=ctx.actor)

    authority = ctx.run(job)
    hours = ctx.settings().ssh_certificate_hours
    click.echo(authority.public_key)
    path = SSHD_CONFIG_HINT.split()[-1]
    click.echo(
        f"\nFingerprint: {authority.fingerprint}\n"
        f"On each shared resource, save the line above as {path}, add\n"
        f"    {SSHD_CONFIG_HINT}\n"
        "to /etc/ssh/sshd_config and reload sshd. Each connection then gets a certificate\n"
        f"for the remote account (its principal), valid {hours} h (ssh_certificate_hours).",
        err=True,
    )
