"""Real PAM for the sign-in tests: a PAM service of the test's own, and OS accounts with
known passwords, GECOS names and groups.

``pam_service(tmp_dir)`` writes ``/etc/pam.d/labgate-test-<random>``: pam_unix for the
password and the account (``nodelay``: a wrong password is answered at once, not after
PAM's two seconds); with ``two_factor=True`` it asks a TOTP code after a right password
(pam_google_authenticator, with a secret file of the test's, read as root, as
tests/support/sshd_auth.py does for sshd), saying ``TWO_FACTOR_NOTICE`` first (pam_echo).
The file is removed at the end.

``pam_account(password=...)`` is ``os_account`` (tests/support/local_accounts.py) with a
password set by chpasswd, a full name and supplementary groups; ``os_group()`` a group
of the test's. Both are removed at the end, also when the block failed.
"""

from __future__ import annotations

import base64
import contextlib
import grp
import pwd
import secrets
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.local_accounts import OsUser, os_account
from tests.support.sshd_auth import PAM_GOOGLE_AUTHENTICATOR, TOTP_STEP_SECONDS, totp

PAM_DIRECTORY = Path("/etc/pam.d")
#: A password the tests' accounts get (and pam_unix accepts: any is, as root).
PAM_PASSWORD = "Pam-test-pw-0451"
#: What the two-factor service says (pam_echo, a PAM_TEXT_INFO) before asking the code.
TWO_FACTOR_NOTICE = "Open your authenticator app."


@dataclass(frozen=True)
class PamService:
    """A PAM service written for a test: its name, and the TOTP secret of its second
    factor (None: it asks none)."""

    name: str
    totp_secret: str | None = None

    def code(self) -> str:
        """The verification code valid now, as the person's phone shows it."""
        assert self.totp_secret is not None, "this service asks no code"
        return totp(self.totp_secret, time.time())

    def wrong_code(self) -> str:
        """Six digits the service refuses now (pam_google_authenticator accepts the codes
        of one step either side)."""
        assert self.totp_secret is not None, "this service asks no code"
        now = time.time()
        accepted = {totp(self.totp_secret, now + step * TOTP_STEP_SECONDS) for step in (-1, 0, 1)}
        return next(f"{digit}" * 6 for digit in range(10) if f"{digit}" * 6 not in accepted)


@contextlib.contextmanager
def pam_service(tmp_dir: Path, *, two_factor: bool = False) -> Iterator[PamService]:
    """A PAM service of this test's (see the module's docstring)."""
    name = f"labgate-test-{secrets.token_hex(4)}"
    stack = "auth requisite pam_unix.so nodelay\n"
    totp_secret = None
    if two_factor:
        if not PAM_GOOGLE_AUTHENTICATOR.is_file():
            raise RuntimeError(
                f"{PAM_GOOGLE_AUTHENTICATOR} is missing: run scripts/install-test-deps.sh "
                "(installs libpam-google-authenticator)"
            )
        directory = Path(tempfile.mkdtemp(prefix="pam-2fa-", dir=tmp_dir))
        totp_secret = base64.b32encode(secrets.token_bytes(20)).decode()
        secret_file = directory / "totp-secret"
        secret_file.write_text(f'{totp_secret}\n" TOTP_AUTH\n')
        secret_file.chmod(0o600)
        stack += (
            # Said before the code is asked, as a stack's notice would be.
            f"auth optional pam_echo.so {TWO_FACTOR_NOTICE}\n"
            f"auth required {PAM_GOOGLE_AUTHENTICATOR.name} secret={secret_file} user=root\n"
        )
    stack += "account required pam_unix.so\n"
    path = PAM_DIRECTORY / name
    path.write_text(stack)
    try:
        yield PamService(name, totp_secret)
    finally:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def os_group() -> Iterator[str]:
    """A new OS group (``lgtg-`` and random hex), removed at the end."""
    name = "lgtg-" + secrets.token_hex(4)
    subprocess.run(["groupadd", name], capture_output=True, check=True)
    try:
        yield name
    finally:
        with contextlib.suppress(KeyError):
            grp.getgrnam(name)
            subprocess.run(["groupdel", name], capture_output=True, check=False)


@contextlib.contextmanager
def pam_account(
    *,
    password: str = PAM_PASSWORD,
    full_name: str = "",
    groups: tuple[str, ...] = (),
    system: bool = False,
) -> Iterator[OsUser]:
    """An OS account with ``password`` (a system account, uid under 1000, with
    ``system``), removed at the end."""
    if system:
        with _system_account() as user:
            _configure(user.name, password, full_name, groups)
            yield user
        return
    with os_account() as user:
        _configure(user.name, password, full_name, groups)
        yield user


def _configure(name: str, password: str, full_name: str, groups: tuple[str, ...]) -> None:
    subprocess.run(["chpasswd"], input=f"{name}:{password}\n", text=True, check=True)
    if full_name:
        subprocess.run(["usermod", "--comment", f"{full_name},,,", name], check=True)
    if groups:
        subprocess.run(["usermod", "--append", "--groups", ",".join(groups), name], check=True)


@contextlib.contextmanager
def _system_account() -> Iterator[OsUser]:
    """An account with a system uid; os_account's removal refuses those on purpose."""
    name = "lgts-" + secrets.token_hex(4)
    subprocess.run(["useradd", "--system", "--no-create-home", name], check=True)
    try:
        entry = pwd.getpwnam(name)
        assert entry.pw_uid < 1000
        yield OsUser(name=name, uid=entry.pw_uid, home=Path(entry.pw_dir))
    finally:
        subprocess.run(["userdel", "--force", name], capture_output=True, check=False)


def expire_account(name: str) -> None:
    """Make the account expired as its administrator would (``chage -E 0``)."""
    subprocess.run(["chage", "--expiredate", "0", name], capture_output=True, check=True)


def lock_password(name: str) -> None:
    """Lock the account's password (``usermod -L``: a ``!`` before the hash)."""
    subprocess.run(["usermod", "--lock", name], capture_output=True, check=True)


def leave_group(name: str, group: str) -> None:
    subprocess.run(["gpasswd", "--delete", name, group], capture_output=True, check=True)
