"""Logging in over SSH with every kind of credential labgate has, against real OpenSSH
servers and the real account ``labgate-test``: certificates from labgate's CA (accepted,
wrong principal, expired), the user's generated key, an uploaded key with passphrase,
keyboard-interactive with a real second factor (PAM: password, then a TOTP code), and the
transport's behaviour around them: credentials asked hop by hop, host keys confirmed
while connecting, failures named by a code."""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from labgate.credentials import keys, store
from labgate.credentials.authority import CertificateAuthority
from labgate.credentials.kinds import (
    CertificateCredential,
    Credential,
    KeyboardInteractiveCredential,
    KeyCredential,
    PasswordCredential,
)
from labgate.credentials.vault import Vault
from labgate.db.engine import Database
from labgate.db.models import Resource, User
from labgate.db.types import utcnow
from labgate.errors import LabgateError
from labgate.transport.ssh import (
    Hop,
    HostKeyChanged,
    HostKeyUnknown,
    SshError,
    SshFailure,
    SshTransport,
)
from tests.support.eventually import eventually
from tests.support.netns import GUARD_RANGE, ensure_guard_route
from tests.support.sshd import SshServer, ensure_test_user, running_sshd
from tests.support.sshd_auth import (
    KBDINT_ONLY,
    running_ca_sshd,
    running_two_factor_sshd,
    totp,
)

# An address in the test range that no test network uses: the guard route makes it
# unreachable from the root namespace.
UNROUTED_ADDRESS = "10.201.254.254"


# -- servers -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def authority() -> CertificateAuthority:
    return CertificateAuthority.create()


@pytest.fixture(scope="module")
def ca_sshd(
    tmp_path_factory: pytest.TempPathFactory, authority: CertificateAuthority
) -> Iterator[SshServer]:
    """An sshd that trusts labgate's CA and nothing else: no authorized_keys, no passwords."""
    with running_ca_sshd(
        tmp_path_factory.mktemp("ca-sshd"), authority.public_key, ensure_test_user()
    ) as server:
        yield server


@pytest.fixture(scope="module")
def kbdint_sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    """Keyboard-interactive only, with Debian's PAM stack for sshd (a password prompt)."""
    with running_sshd(
        tmp_path_factory.mktemp("kbdint-sshd"), ensure_test_user(), extra_config=KBDINT_ONLY
    ) as server:
        yield server


@pytest.fixture(scope="module")
def two_factor_sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SshServer, str]]:
    """Keyboard-interactive through a PAM stack of its own: ``Password:`` (pam_unix), then
    ``Verification code:`` (pam_google_authenticator, TOTP). Yields the server and the
    base32 TOTP secret (see ``tests/support/sshd_auth.py``)."""
    directory = tmp_path_factory.mktemp("2fa-sshd")
    with running_two_factor_sshd(directory, ensure_test_user()) as server_and_secret:
        yield server_and_secret


# -- helpers -------------------------------------------------------------------------------


def hop(server: SshServer, credential: object, **changes: object) -> Hop:
    values: dict[str, object] = {
        "host": server.host,
        "port": server.port,
        "username": server.user.name,
        "credential": credential,
        "known_host_key": server.host_public_key,
    }
    values.update(changes)
    return Hop(**values)  # type: ignore[arg-type]


async def remote_user(transport: SshTransport) -> str:
    """Who the transport is logged in as on the last hop (``id -un`` there); closes it."""
    try:
        process = await transport.start(["id", "-un"])
        output = await process.stdout.read()
        assert await process.wait() == 0
        return output.decode().strip()
    finally:
        await transport.close()


async def login_fails(transport: SshTransport) -> SshError:
    with pytest.raises(SshError) as failed:
        await transport.connect()
    return failed.value


def make_key(directory: Path, passphrase: str = "") -> Path:
    path = directory / f"key-{secrets.token_hex(4)}"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", "uploaded", "-f", str(path)],
        check=True,
    )
    return path


# -- certificates from labgate's CA -----------------------------------------------------------


async def test_a_certificate_logs_in_where_only_the_ca_is_trusted(
    ca_sshd: SshServer, authority: CertificateAuthority
) -> None:
    credential = authority.session_credential(
        ca_sshd.user.name, hours=12, key_id="labgate:alice:shared"
    )

    assert await remote_user(SshTransport([hop(ca_sshd, credential)])) == ca_sshd.user.name
    # sshd logs which CA vouched for whom.
    assert "ID labgate:alice:shared" in ca_sshd.log
    assert f"CA ED25519 {authority.fingerprint}" in ca_sshd.log
    # The same server refuses the fixture's plain client key: only the CA counts.
    plain = KeyCredential(ca_sshd.client_key_path.read_bytes())
    failed = await login_fails(SshTransport([hop(ca_sshd, plain)]))
    assert failed.code == "auth_failed"


async def test_a_certificate_for_another_account_is_refused(
    ca_sshd: SshServer, authority: CertificateAuthority
) -> None:
    credential = authority.session_credential("someone-else", hours=12, key_id="labgate:wrong")

    failed = await login_fails(SshTransport([hop(ca_sshd, credential)]))

    assert failed.code == "auth_failed"
    assert failed.reason is SshFailure.AUTH_FAILED
    assert "tried: certificate" in failed.message
    assert "TrustedUserCAKeys" in failed.message
    assert failed.hop == 0
    assert failed.hop_label == f"{ca_sshd.user.name}@{ca_sshd.host}:{ca_sshd.port}"


async def test_an_expired_certificate_is_refused(
    ca_sshd: SshServer, authority: CertificateAuthority
) -> None:
    subject = keys.generate_key_pair("expired")
    certificate = authority.sign(
        subject.public_key,
        principals=[ca_sshd.user.name],
        hours=1,
        key_id="labgate:expired",
        now=utcnow() - timedelta(days=2),
    )
    credential = CertificateCredential(keys.export_private_key(subject), certificate.encode())

    failed = await login_fails(SshTransport([hop(ca_sshd, credential)]))

    assert failed.code == "auth_failed"
    assert "expired" in ca_sshd.log.lower()


async def test_a_certificate_from_another_ca_is_refused(ca_sshd: SshServer) -> None:
    stranger = CertificateAuthority.create()
    credential = stranger.session_credential(ca_sshd.user.name, hours=1, key_id="labgate:rogue")

    failed = await login_fails(SshTransport([hop(ca_sshd, credential)]))

    assert failed.code == "auth_failed"


# -- keys: generated by labgate, uploaded by the user ----------------------------------------------


async def test_the_users_generated_key_logs_in_once_authorized(
    sshd: SshServer, database: Database
) -> None:
    vault = Vault(b"a server secret for the tests, long enough")
    async with database.session() as db:
        user = User(username="alice")
        db.add(user)
        await db.flush()
        shown = await store.create_user_key(db, vault, user_id=user.id, username="alice")
    async with database.read() as db:
        credential = await store.user_key_credential(db, vault, user.id)
    assert credential is not None

    before = await login_fails(SshTransport([hop(sshd, credential)]))
    assert before.code == "auth_failed"
    assert "tried: key" in before.message
    sshd.authorize_key(shown.public_key)  # what the user pastes into authorized_keys
    assert await remote_user(SshTransport([hop(sshd, credential)])) == sshd.user.name


async def test_an_uploaded_key_with_passphrase(sshd: SshServer, tmp_path: Path) -> None:
    path = make_key(tmp_path, passphrase="key passphrase")
    sshd.authorize_key(path.with_name(path.name + ".pub").read_text())
    private = path.read_bytes()

    typed = KeyCredential(private, "key passphrase")
    assert await remote_user(SshTransport([hop(sshd, typed)])) == sshd.user.name
    # Opened once (as when remembered): the key without passphrase logs in as well.
    opened = KeyCredential(
        keys.export_private_key(keys.import_private_key(private, "key passphrase"))
    )
    assert await remote_user(SshTransport([hop(sshd, opened)])) == sshd.user.name
    with pytest.raises(keys.WrongPassphrase):
        await SshTransport([hop(sshd, KeyCredential(private, "wrong"))]).connect()
    with pytest.raises(keys.PassphraseRequired):
        await SshTransport([hop(sshd, KeyCredential(private))]).connect()


async def test_a_remembered_key_logs_in(
    sshd: SshServer, database: Database, tmp_path: Path
) -> None:
    vault = Vault(b"a server secret for the tests, long enough")
    path = make_key(tmp_path, passphrase="key passphrase")
    sshd.authorize_key(path.with_name(path.name + ".pub").read_text())
    async with database.session() as db:
        user = User(username="alice")
        db.add(user)
        await db.flush()
        resource = Resource(name="r", owner_id=user.id, host=sshd.host, username="alice")
        db.add(resource)
        await db.flush()
        ids = {"user_id": user.id, "resource_id": resource.id, "hop_id": None}
        await store.remember_key(
            db, vault, **ids, private_key=path.read_bytes(), passphrase="key passphrase"
        )
    async with database.read() as db:
        credential = await store.remembered_key(db, vault, **ids)
    assert credential is not None

    assert await remote_user(SshTransport([hop(sshd, credential)])) == sshd.user.name


# -- keyboard-interactive ----------------------------------------------------------------------


async def test_two_factor_keyboard_interactive(two_factor_sshd: tuple[SshServer, str]) -> None:
    server, totp_secret = two_factor_sshd
    rounds: list[list[tuple[str, bool]]] = []

    async def respond(name: str, instructions: str, prompts: list[tuple[str, bool]]) -> list[str]:
        rounds.append(prompts)
        answers = []
        for text, _echo in prompts:
            if "Password" in text:
                answers.append(server.user.password)
            else:
                answers.append(totp(totp_secret, time.time()))
        return answers

    transport = SshTransport([hop(server, KeyboardInteractiveCredential(respond))])
    assert await remote_user(transport) == server.user.name

    # One round per PAM prompt: the password, then the one-time code (neither echoed).
    assert rounds == [[("Password: ", False)], [("Verification code: ", False)]]


async def test_a_wrong_second_factor_fails(two_factor_sshd: tuple[SshServer, str]) -> None:
    server, totp_secret = two_factor_sshd

    async def respond(name: str, instructions: str, prompts: list[tuple[str, bool]]) -> list[str]:
        if "Password" in prompts[0][0]:
            return [server.user.password]
        right = totp(totp_secret, time.time())
        return ["000000" if right != "000000" else "111111"]

    failed = await login_fails(SshTransport([hop(server, KeyboardInteractiveCredential(respond))]))

    assert failed.code == "auth_failed"
    assert "tried: keyboard-interactive" in failed.message


async def test_a_password_alone_cannot_pass_a_second_factor(
    two_factor_sshd: tuple[SshServer, str],
) -> None:
    server, _ = two_factor_sshd

    failed = await login_fails(
        SshTransport([hop(server, PasswordCredential(server.user.password))])
    )

    assert failed.code == "auth_failed"
    assert "Verification code:" in failed.message
    assert "keyboard-interactive" in failed.message


async def test_a_password_answers_a_keyboard_interactive_password_prompt(
    kbdint_sshd: SshServer,
) -> None:
    transport = SshTransport([hop(kbdint_sshd, PasswordCredential(kbdint_sshd.user.password))])

    assert await remote_user(transport) == kbdint_sshd.user.name
    assert "Accepted keyboard-interactive/pam" in kbdint_sshd.log


async def test_an_error_of_the_responder_is_what_the_caller_sees(
    two_factor_sshd: tuple[SshServer, str],
) -> None:
    server, _ = two_factor_sshd

    class NobodyThere(LabgateError):
        code = "login_required"

    async def respond(name: str, instructions: str, prompts: list[tuple[str, bool]]) -> list[str]:
        raise NobodyThere("Connect from the Resources view to type the code.")

    with pytest.raises(NobodyThere, match="Resources view"):
        await SshTransport([hop(server, KeyboardInteractiveCredential(respond))]).connect()


async def test_cancelling_a_login_cancels_the_question(
    two_factor_sshd: tuple[SshServer, str],
) -> None:
    server, _ = two_factor_sshd
    asked = asyncio.Event()
    outcome: list[str] = []

    async def respond(name: str, instructions: str, prompts: list[tuple[str, bool]]) -> list[str]:
        asked.set()
        try:
            await asyncio.Event().wait()  # a person who never answers
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise
        return []

    transport = SshTransport([hop(server, KeyboardInteractiveCredential(respond))])
    connecting = asyncio.create_task(transport.connect())
    await asked.wait()
    connecting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await connecting
    # The question itself was withdrawn, not left waiting for an answer.
    await eventually(lambda: outcome, what="the question withdrawn")
    assert outcome == ["cancelled"]


# -- credentials asked hop by hop, host keys confirmed on the way ---------------------------------


async def test_a_hops_credential_is_asked_for_only_once_the_hops_before_it_are_up(
    sshd: SshServer, tmp_path: Path
) -> None:
    asked: list[int] = []

    def lazily(index: int, credential: Credential) -> object:
        async def resolve() -> Credential:
            asked.append(index)
            return credential

        return resolve

    good = KeyCredential(sshd.client_key_path.read_bytes())
    chain = SshTransport([hop(sshd, lazily(0, good)), hop(sshd, lazily(1, good))])
    assert await remote_user(chain) == sshd.user.name
    assert asked == [0, 1]

    asked.clear()
    wrong = KeyCredential(make_key(tmp_path).read_bytes())  # not authorized
    broken = SshTransport([hop(sshd, lazily(0, wrong)), hop(sshd, lazily(1, good))])
    failed = await login_fails(broken)
    assert failed.hop == 0
    assert asked == [0], "the second hop's credential is never asked for"


async def test_an_unknown_host_key_mid_chain_is_confirmed_before_logging_in(
    sshd: SshServer,
) -> None:
    events: list[str] = []

    async def confirm(index: int, shown: Hop, fingerprint: str, public_key: str) -> bool:
        events.append(f"confirm {index} {fingerprint}")
        assert public_key.split()[:2] == sshd.host_public_key.split()[:2]
        return True

    async def password() -> Credential:
        events.append("credential 1")
        return PasswordCredential(sshd.user.password)

    key = KeyCredential(sshd.client_key_path.read_bytes())
    chain = SshTransport(
        [hop(sshd, key), hop(sshd, password, known_host_key=None)], confirm_host_key=confirm
    )

    assert await remote_user(chain) == sshd.user.name
    assert events == [f"confirm 1 {sshd.host_key_fingerprint}", "credential 1"]


async def test_a_refused_host_key_stops_before_any_credential_is_asked(sshd: SshServer) -> None:
    events: list[str] = []

    async def refuse(index: int, shown: Hop, fingerprint: str, public_key: str) -> bool:
        events.append(f"confirm {index}")
        return False

    async def password() -> Credential:
        events.append("credential")
        return PasswordCredential(sshd.user.password)

    chain = SshTransport(
        [
            hop(sshd, KeyCredential(sshd.client_key_path.read_bytes())),
            hop(sshd, password, known_host_key=None),
        ],
        confirm_host_key=refuse,
    )

    with pytest.raises(HostKeyUnknown) as unknown:
        await chain.connect()
    assert unknown.value.hop == 1
    assert unknown.value.code == "host_key_unknown"
    assert events == ["confirm 1"]


async def test_a_changed_host_key_is_never_offered(sshd: SshServer, tmp_path: Path) -> None:
    offered: list[int] = []

    async def confirm(index: int, shown: Hop, fingerprint: str, public_key: str) -> bool:
        offered.append(index)
        return True

    stale = make_key(tmp_path)
    stale_line = stale.with_name(stale.name + ".pub").read_text().strip()
    transport = SshTransport(
        [hop(sshd, PasswordCredential(sshd.user.password), known_host_key=stale_line)],
        confirm_host_key=confirm,
    )

    with pytest.raises(HostKeyChanged) as changed:
        await transport.connect()
    assert changed.value.code == "host_key_changed"
    assert offered == []


# -- failures by kind -------------------------------------------------------------------------


async def test_failures_carry_a_code_per_kind(sshd: SshServer) -> None:
    key = KeyCredential(sshd.client_key_path.read_bytes())
    ensure_guard_route()  # the test range goes nowhere, so this address is unreachable
    assert UNROUTED_ADDRESS.startswith(GUARD_RANGE.split(".0.0/")[0])
    direct = {
        "connection_refused": hop(sshd, key, port=1),
        "name_not_found": hop(sshd, key, host="no-such-host.invalid"),
        "unreachable": hop(sshd, key, host=UNROUTED_ADDRESS),
    }
    for code, target in direct.items():
        failed = await login_fails(SshTransport([target]))
        assert (failed.code, failed.hop) == (code, 0), failed.message
    # The same failures seen by a jump host, which reports them in words of its own.
    for code, target in direct.items():
        failed = await login_fails(SshTransport([hop(sshd, key), target]))
        assert (failed.code, failed.hop) == (code, 1), failed.message
        assert "hop 2" in failed.message


async def test_a_server_that_never_speaks_times_out() -> None:
    silent = await asyncio.start_server(lambda reader, writer: None, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    try:
        target = Hop("127.0.0.1", "nobody", PasswordCredential("x"), port=port, known_host_key=None)
        failed = await login_fails(SshTransport([target], connect_timeout=1))
    finally:
        silent.close()
        await silent.wait_closed()

    assert failed.code == "timed_out"
    assert "no answer" in failed.message


class FreezingProxy:
    """A TCP relay to a server that can stop passing bytes on (a network that silently
    drops everything, as a dead link or a suspended laptop does)."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.frozen = False
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> int:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()
        await self.server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        self.writers += [writer, upstream_writer]
        await asyncio.gather(
            self._pump(reader, upstream_writer), self._pump(upstream_reader, writer)
        )

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            if not self.frozen:
                writer.write(data)
                await writer.drain()


async def test_keepalives_notice_a_silent_network(sshd: SshServer) -> None:
    proxy = FreezingProxy(sshd.host, sshd.port)
    async with proxy as port:
        key = KeyCredential(sshd.client_key_path.read_bytes())
        transport = SshTransport(
            [hop(sshd, key, port=port)], keepalive_interval=1, keepalive_count_max=2
        )
        try:
            # cat ends when its input closes, so nothing outlives the dropped session.
            process = await transport.start(["cat"])
            proxy.frozen = True
            # Nothing answers the keepalives any more: the connection is given up and the
            # process over it ends (the bound only keeps a broken test from hanging).
            status = await asyncio.wait_for(process.wait(), timeout=60)
        finally:
            await transport.close()
    assert status is None, "no exit status: the connection was lost, not the process ended"
