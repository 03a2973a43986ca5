"""Real sshd set-ups for logins beyond keys and passwords, on top of ``running_sshd``.

``running_two_factor_sshd(tmp_dir)`` runs an sshd that accepts keyboard-interactive only,
through a PAM stack of its own: ``Password: `` (pam_unix, the account's password), then
``Verification code: `` (pam_google_authenticator, a TOTP code). It yields a
``TwoFactorServer``: the ``SshServer`` and the base32 TOTP secret, from which ``totp()``
computes the code of any moment, as the user's phone would.

sshd names its PAM service after the file it was started as, so a symlink to sshd with a
name of its own picks ``/etc/pam.d/<that name>``, written for the server and removed at
the end; the system's sshd service and its PAM stack are never touched. This needs the
Debian package ``libpam-google-authenticator`` (``scripts/install-test-deps.sh``).

``running_ca_sshd(tmp_dir, ca_public_key)`` runs an sshd that lets a user in only with a
certificate signed by that CA (``TrustedUserCAKeys``): no authorized keys file, no
passwords, no keyboard-interactive. Its log names the certificate's key id and CA.

Both log in to the real local account (``ensure_test_user()`` unless ``user`` is given)
and stop, with everything they forked, at the end of the block (see ``running_sshd``).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import secrets
import struct
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from tests.support.sshd import (
    SSHD,
    SshdNotAvailable,
    SshServer,
    TestUser,
    ensure_test_user,
    running_sshd,
)

__all__ = [
    "KBDINT_ONLY",
    "PAM_GOOGLE_AUTHENTICATOR",
    "TOTP_STEP_SECONDS",
    "TwoFactorServer",
    "running_ca_sshd",
    "running_two_factor_sshd",
    "totp",
]

KBDINT_ONLY = """\
UsePAM yes
KbdInteractiveAuthentication yes
PasswordAuthentication no
PubkeyAuthentication no
AuthenticationMethods keyboard-interactive
"""
"""``extra_config`` for an sshd that accepts keyboard-interactive (through PAM) only."""

PAM_GOOGLE_AUTHENTICATOR = Path("/usr/lib/x86_64-linux-gnu/security/pam_google_authenticator.so")
TOTP_STEP_SECONDS = 30


def totp(secret: str, at: float) -> str:
    """RFC 6238: six digits from HMAC-SHA1 over the 30-second step of ``at`` (Unix time)."""
    key = base64.b32decode(secret)
    step = int(at) // TOTP_STEP_SECONDS
    digest = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    code: int = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{code % 1_000_000:06d}"


class TwoFactorServer(NamedTuple):
    """An sshd asking for a password and then a TOTP code; unpacks as (server, secret)."""

    server: SshServer
    totp_secret: str
    """Base32, as a QR code would carry it to an authenticator app."""

    def code(self, at: float | None = None) -> str:
        """The verification code valid at ``at`` (default: now)."""
        return totp(self.totp_secret, time.time() if at is None else at)

    def wrong_code(self, at: float | None = None) -> str:
        """Six digits the server refuses at ``at``: none of the codes of the steps it
        accepts (pam_google_authenticator allows one step either side)."""
        moment = time.time() if at is None else at
        accepted = {
            totp(self.totp_secret, moment + step * TOTP_STEP_SECONDS) for step in (-1, 0, 1)
        }
        return next(f"{digit}" * 6 for digit in range(10) if f"{digit}" * 6 not in accepted)


@contextlib.contextmanager
def running_two_factor_sshd(
    tmp_dir: Path, user: TestUser | None = None
) -> Iterator[TwoFactorServer]:
    """An sshd whose only login is keyboard-interactive: the account's password, then a
    TOTP code (see the module docstring); its files go to a new directory in ``tmp_dir``."""
    if not PAM_GOOGLE_AUTHENTICATOR.is_file():
        raise SshdNotAvailable(
            f"{PAM_GOOGLE_AUTHENTICATOR} is missing: run scripts/install-test-deps.sh "
            "(installs libpam-google-authenticator)"
        )
    account = user or ensure_test_user()
    directory = Path(tempfile.mkdtemp(prefix="2fa-sshd-", dir=tmp_dir))
    service = f"labgate-test-2fa-{secrets.token_hex(4)}"
    program = directory / service
    program.symlink_to(SSHD)
    totp_secret = base64.b32encode(secrets.token_bytes(20)).decode()
    secret_file = directory / "totp-secret"
    secret_file.write_text(f'{totp_secret}\n" TOTP_AUTH\n')
    secret_file.chmod(0o600)
    pam_file = Path("/etc/pam.d") / service
    pam_file.write_text(
        "auth required pam_unix.so\n"
        # Read as root: the file is the test's, not in the account's home.
        f"auth required {PAM_GOOGLE_AUTHENTICATOR.name} secret={secret_file} user=root\n"
        "account required pam_unix.so\n"
        "session required pam_unix.so\n"
    )
    try:
        with running_sshd(directory, account, extra_config=KBDINT_ONLY, program=program) as server:
            yield TwoFactorServer(server, totp_secret)
    finally:
        pam_file.unlink(missing_ok=True)


@contextlib.contextmanager
def running_ca_sshd(
    tmp_dir: Path, ca_public_key: str, user: TestUser | None = None
) -> Iterator[SshServer]:
    """An sshd that trusts the CA ``ca_public_key`` (an OpenSSH public key line) and
    nothing else: no authorized_keys, no passwords, no keyboard-interactive."""
    line = ca_public_key.strip()
    if not line or "\n" in line:
        raise ValueError(f"not a single public key line: {ca_public_key!r}")
    directory = Path(tempfile.mkdtemp(prefix="ca-sshd-", dir=tmp_dir))
    trusted = directory / "labgate_ca.pub"
    trusted.write_text(line + "\n")
    config = (
        f"TrustedUserCAKeys {trusted}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
    )
    with running_sshd(
        directory, user or ensure_test_user(), extra_config=config, use_authorized_keys=False
    ) as server:
        yield server
