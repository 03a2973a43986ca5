"""The SSH transport: a resource reached through zero or more jump hosts with asyncssh.

Host keys are checked against what labgate has stored for each hop, never against the
server's own ~/.ssh: an unknown key stops the connection with its fingerprint (for the
user to confirm, through ``confirm_host_key`` while connecting or afterwards), a changed
key stops it hard. Credentials are handed in for this connection only; nothing is read
from or written to disk. A hop's credential may be given late, as an async callable: it
is asked for once the hops before it are up and the hop's host key is trusted, so a
person is never asked for a password of a server that cannot be reached or trusted.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import errno
import shlex
import socket
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncssh

from labgate.credentials.keys import import_private_key
from labgate.credentials.kinds import (
    CertificateCredential,
    Credential,
    CredentialSource,
    KeyboardInteractiveCredential,
    KeyCredential,
    PasswordCredential,
)
from labgate.destinations import HostRules, resolve
from labgate.errors import LabgateError
from labgate.transport import aead_send
from labgate.transport.base import (
    ByteReader,
    ByteWriter,
    RemoteProcess,
    StreamOpenFailed,
    StreamWriter,
)
from labgate.transport.batched import BatchedConnector

CONNECT_TIMEOUT_SECONDS = 20
# Keyboard-interactive logins wait for a person typing (a one-time code, say); sshd's
# own LoginGraceTime (120 s by default) usually ends them first.
INTERACTIVE_LOGIN_TIMEOUT_SECONDS = 300
KEEPALIVE_COUNT_MAX = 3

# AES-GCM first, then asyncssh's defaults: asyncssh encrypts in Python, one call into
# `cryptography` per packet, and its AES-GCM is one OpenSSL call on the CPU's AES
# instructions, where chacha20-poly1305 builds several cipher objects per packet (about a
# third less CPU per GiB for the server). Both are authenticated ciphers OpenSSH offers
# by default; a server without AES-GCM gets chacha20-poly1305 as before.
ENCRYPTION_ALGS = "^aes128-gcm@openssh.com,aes256-gcm@openssh.com"
# The agent's session: a larger window than asyncssh's default (2 MiB), which would cap
# a stream at 40 MB/s on a path of 50 ms round trip (on loopback it makes no difference).
# At most this much is buffered here if the server stops reading. Larger packets would
# not help: OpenSSH's sshd sends a program's output in packets of at most 32 KiB.
SESSION_WINDOW_BYTES = 8 * 1024 * 1024


# -- what a hop needs --------------------------------------------------------------------


@dataclass(frozen=True)
class Hop:
    """One SSH server on the way: a jump host, or the resource itself (the last hop)."""

    host: str
    username: str
    credential: CredentialSource = field(repr=False)
    port: int = 22
    # The host key labgate trusts for this hop, as an OpenSSH public key line; None when
    # the user has not confirmed one yet.
    known_host_key: str | None = None

    @property
    def label(self) -> str:
        return f"{self.username}@{self.host}:{self.port}"


# Asked when hop ``index`` shows a key labgate does not know: (index, hop, fingerprint,
# public key line) -> True to trust it for this connection (the caller stores it).
HostKeyConfirmation = Callable[[int, Hop, str, str], Awaitable[bool]]


# -- what can go wrong, in words a person can act on ---------------------------------


class SshFailure(enum.StrEnum):
    """Why a hop could not be connected; also the error's ``code``."""

    HOST_KEY_UNKNOWN = "host_key_unknown"
    HOST_KEY_CHANGED = "host_key_changed"
    AUTH_FAILED = "auth_failed"
    NAME_NOT_FOUND = "name_not_found"
    CONNECTION_REFUSED = "connection_refused"
    TIMED_OUT = "timed_out"
    UNREACHABLE = "unreachable"
    HOST_REFUSED = "host_refused"  # not a host labgate may connect to for this resource
    OTHER = "ssh_failed"  # the server broke off or spoke something else


class SshError(LabgateError):
    """Connecting failed; ``reason`` (and ``code``) says how, ``hop`` at which server of
    the chain (0 = the first), ``hop_label`` names it."""

    code = SshFailure.OTHER.value
    status = 502

    def __init__(
        self,
        message: str,
        *,
        hop: int,
        hop_label: str,
        reason: SshFailure = SshFailure.OTHER,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.code = reason.value
        self.hop = hop
        self.hop_label = hop_label


class HostKeyUnknown(SshError):
    code = SshFailure.HOST_KEY_UNKNOWN.value

    def __init__(self, *, hop: int, hop_label: str, fingerprint: str, public_key: str) -> None:
        super().__init__(
            f"{hop_label} presented a host key labgate does not know yet "
            f"({fingerprint}). Confirm it is the right one to connect.",
            hop=hop,
            hop_label=hop_label,
            reason=SshFailure.HOST_KEY_UNKNOWN,
        )
        self.fingerprint = fingerprint
        self.public_key = public_key


class HostKeyChanged(SshError):
    code = SshFailure.HOST_KEY_CHANGED.value

    def __init__(self, *, hop: int, hop_label: str, fingerprint: str, expected: str) -> None:
        super().__init__(
            f"The host key of {hop_label} has CHANGED: it is now {fingerprint}, labgate "
            f"knows {expected}. Either the machine was reinstalled or someone is "
            "intercepting the connection. Ask its administrator before trusting the new key.",
            hop=hop,
            hop_label=hop_label,
            reason=SshFailure.HOST_KEY_CHANGED,
        )
        self.fingerprint = fingerprint
        self.expected = expected


class HostRefused(SshError):
    """The hop's host, or the address its name resolves to, is not one labgate may
    connect to for this resource (``resource_hosts_allowed`` / ``resource_hosts_denied``)."""

    code = SshFailure.HOST_REFUSED.value
    status = 403

    def __init__(self, message: str, *, hop: int, hop_label: str) -> None:
        super().__init__(message, hop=hop, hop_label=hop_label, reason=SshFailure.HOST_REFUSED)


# -- the client side of one hop: host key check and interactive login ---------------------


class _Client(asyncssh.SSHClient):
    """Accepts exactly the stored key of one hop (remembering what it was shown) and logs
    in with the hop's credential, which is looked for only when the server asks for a
    login, i.e. after its host key was verified: nobody is asked for a password for a
    server that turns out to be the wrong one."""

    def __init__(self, known: str | None, source: CredentialSource | None) -> None:
        self.known = asyncssh.import_public_key(known) if known else None
        self.presented: asyncssh.SSHKey | None = None
        self.source = source
        self.credential: Credential | None = None
        self._resolving: asyncio.Future[Credential | None] | None = None
        self.keys_offered = False
        self.kbdint_tried = False
        self.password_sent = False
        # A prompt the credential could not answer, and an error raised while getting the
        # credential or by a responder: both explain a failed login better than
        # "permission denied".
        self.unanswered: str | None = None
        self.failure: Exception | None = None

    def validate_host_public_key(
        self, host: str, addr: str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        self.presented = key
        return self.known is not None and key == self.known

    async def resolved(self) -> Credential | None:
        """The hop's credential, got once; None (and ``failure`` set) if getting it failed."""
        if self.source is None:
            return None
        if self._resolving is None:
            self._resolving = asyncio.ensure_future(self._resolve())
        return await asyncio.shield(self._resolving)

    async def _resolve(self) -> Credential | None:
        try:
            self.credential = await _resolve(self.source) if self.source else None
        except Exception as exc:
            self.failure = exc
        return self.credential

    async def public_key_auth_requested(self) -> list[Any] | None:
        credential = await self.resolved()
        if self.keys_offered:
            return None
        self.keys_offered = True
        if isinstance(credential, KeyCredential):
            return [import_private_key(credential.private_key, credential.passphrase).key]
        if isinstance(credential, CertificateCredential):
            return [
                (
                    asyncssh.import_private_key(credential.private_key),
                    asyncssh.import_certificate(credential.certificate),
                )
            ]
        return None

    async def password_auth_requested(self) -> str | None:
        credential = await self.resolved()
        if not isinstance(credential, PasswordCredential) or self.password_sent:
            return None
        self.password_sent = True
        return credential.password

    def kbdint_auth_requested(self) -> str | None:
        # One round of keyboard-interactive per connection: a second attempt would ask
        # the person again without saying why. Keys and certificates never use it.
        keys = isinstance(self.credential, KeyCredential | CertificateCredential)
        if self.source is None or keys or self.failure or self.kbdint_tried:
            return None
        self.kbdint_tried = True
        return ""  # let the server choose the submethods

    async def kbdint_challenge_received(
        self, name: str, instructions: str, lang: str, prompts: Sequence[tuple[str, bool]]
    ) -> list[str] | None:
        credential = await self.resolved()
        if not prompts:
            return []  # only instructions or a banner: nothing to answer
        if isinstance(credential, PasswordCredential):
            if self.password_sent or len(prompts) != 1 or not _asks_for_password(prompts[0][0]):
                self.unanswered = prompts[0][0].strip()
                return None
            self.password_sent = True
            return [credential.password]
        if isinstance(credential, KeyboardInteractiveCredential):
            try:
                answers = list(await credential.respond(name, instructions, list(prompts)))
            except Exception as exc:  # e.g. nobody there to ask: raised by _open
                self.failure = exc
                return None
            if len(answers) != len(prompts):
                self.failure = ValueError(
                    f"{len(prompts)} prompts got {len(answers)} answers from the responder"
                )
                return None
            return answers
        return None


def _asks_for_password(prompt: str) -> bool:
    lowered = prompt.lower()
    return "password" in lowered or "passcode" in lowered


def fingerprint(public_key: str) -> str:
    """The SHA256 fingerprint of an OpenSSH public key line, as ``ssh-keygen -l`` shows."""
    return asyncssh.import_public_key(public_key).get_fingerprint("sha256")


def _method_name(credential: Credential | None) -> str:
    if isinstance(credential, PasswordCredential):
        return "password"
    if isinstance(credential, KeyCredential):
        return "key"
    if isinstance(credential, CertificateCredential):
        return "certificate"
    if isinstance(credential, KeyboardInteractiveCredential):
        return "keyboard-interactive"
    return "none"


def _auth_options(source: CredentialSource | None) -> dict[str, Any]:
    """asyncssh's options: no agent, no keys from ~/.ssh; every login method left to
    ``_Client``, which answers from the hop's credential. ``None``: no method at all,
    for a first look at the host key."""
    if source is None:
        return {
            "client_keys": None,
            "password": None,
            "kbdint_auth": False,
            "preferred_auth": "publickey",
        }
    return {
        "client_keys": None,
        "password": None,
        "kbdint_auth": True,
        "preferred_auth": "publickey,keyboard-interactive,password",
    }


# -- the transport -----------------------------------------------------------------------


@dataclass
class _SshProcess:
    process: asyncssh.SSHClientProcess[bytes]

    def __post_init__(self) -> None:
        # Made once: the agent's connection writes and reads through them frame by frame.
        self._stdin = _Writer(self.process.stdin)
        self._stdout = _Reader(self.process.stdout)
        self._stderr = _Reader(self.process.stderr)

    @property
    def stdin(self) -> ByteWriter:
        return self._stdin

    @property
    def stdout(self) -> ByteReader:
        return self._stdout

    @property
    def stderr(self) -> ByteReader:
        return self._stderr

    async def wait(self) -> int | None:
        completed = await self.process.wait(check=False)
        return completed.exit_status

    def terminate(self) -> None:
        with contextlib.suppress(OSError, asyncssh.Error):
            self.process.terminate()
        self.process.close()


@contextlib.contextmanager
def _ended_as_connection_error() -> Iterator[None]:
    """The transport contract's errors for asyncssh's: a connection that ended (its
    ``ConnectionLost`` when the server closed it, any other disconnect) is a
    ``ConnectionError``, as a reset one already is."""
    try:
        yield
    except asyncssh.DisconnectError as exc:
        raise ConnectionResetError(f"the SSH connection ended: {exc.reason}") from exc


@dataclass
class _Reader:
    reader: asyncssh.SSHReader[bytes]

    async def readexactly(self, n: int) -> bytes:
        with _ended_as_connection_error():
            return await self.reader.readexactly(n)

    async def read(self, n: int = -1) -> bytes:
        with _ended_as_connection_error():
            return await self.reader.read(n)


@dataclass
class _Writer:
    writer: asyncssh.SSHWriter[bytes]

    def write(self, data: bytes) -> None:
        self.writer.write(data)

    async def drain(self) -> None:
        with _ended_as_connection_error():
            await self.writer.drain()

    def close(self) -> None:
        with contextlib.suppress(OSError, asyncssh.Error):
            self.writer.write_eof()


class SshTransport:
    """Reaches the last of ``hops`` through the ones before it.

    ``confirm_host_key`` is asked when a hop shows a key labgate does not know yet; if it
    returns True the hop is connected trusting that key (storing it is the caller's
    business). Without it, or when it returns False, :class:`HostKeyUnknown` is raised.
    A changed key is never offered: :class:`HostKeyChanged`. ``keepalive_interval``
    seconds between keepalives (0: none); after ``keepalive_count_max`` unanswered ones
    the connection is closed, which ends every process started over it.

    With ``host_rules`` every hop's name is resolved here and checked against them, and
    the hop is connected at an address that passed (see :mod:`labgate.destinations`).
    """

    name = "ssh"

    def __init__(
        self,
        hops: Sequence[Hop],
        *,
        connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
        keepalive_interval: float = 0,
        keepalive_count_max: int = KEEPALIVE_COUNT_MAX,
        interactive_login_timeout: float = INTERACTIVE_LOGIN_TIMEOUT_SECONDS,
        confirm_host_key: HostKeyConfirmation | None = None,
        host_rules: HostRules | None = None,
    ) -> None:
        if not hops:
            raise ValueError("an SSH transport needs at least one hop")
        self.hops = list(hops)
        self.connect_timeout = connect_timeout
        self.keepalive_interval = keepalive_interval
        self.keepalive_count_max = keepalive_count_max
        self.interactive_login_timeout = interactive_login_timeout
        self.confirm_host_key = confirm_host_key
        self.host_rules = host_rules
        self._connections: list[asyncssh.SSHClientConnection] = []

    async def connect(self) -> None:
        """Open the chain hop by hop; on failure, close what was opened and raise."""
        if self._connections:
            return
        try:
            for index, hop in enumerate(self.hops):
                tunnel = self._connections[-1] if self._connections else None
                self._connections.append(await self._connect_hop(index, hop, tunnel))
        except BaseException:
            await self.close()
            raise

    async def _connect_hop(
        self, index: int, hop: Hop, tunnel: asyncssh.SSHClientConnection | None
    ) -> asyncssh.SSHClientConnection:
        addresses = await self._addresses(index, hop)
        trusted = hop.known_host_key
        if trusted is None:
            trusted = await self._confirm_new_host_key(index, hop, tunnel, addresses)
        return await self._open_any(index, hop, tunnel, trusted, hop.credential, addresses)

    async def _addresses(self, index: int, hop: Hop) -> list[str]:
        """Where to connect for ``hop``: without host rules its name, resolved when
        connecting (by the previous hop's sshd behind a jump host); with them, the
        addresses its name resolves to here that the rules allow. Connecting to those,
        and not to the name again, leaves the name no time to point elsewhere."""
        rules = self.host_rules
        if rules is None:
            return [hop.host]

        def failed(message: str, reason: SshFailure) -> SshError:
            where = f"{self._where(index)}: {message}"
            if reason is SshFailure.HOST_REFUSED:
                return HostRefused(where, hop=index, hop_label=hop.label)
            return SshError(where, hop=index, hop_label=hop.label, reason=reason)

        try:
            found = await resolve(hop.host, hop.port, within=self.connect_timeout)
        except socket.gaierror:
            if index == 0:
                raise failed(
                    f"the name {hop.host!r} was not found.", SshFailure.NAME_NOT_FOUND
                ) from None
            # A name only the hosts behind the jump host know: checked as a name, and
            # resolved by the jump host, in that host's network (not this server's).
            refusal = rules.refusal(hop.host, None)
            if refusal is not None:
                raise failed(refusal, SshFailure.HOST_REFUSED) from None
            return [hop.host]
        except TimeoutError:
            raise failed(
                f"the name {hop.host!r} could not be resolved in time.", SshFailure.TIMED_OUT
            ) from None
        allowed, refusal = rules.sort(hop.host, found)
        if not allowed:
            raise failed(
                refusal or f"the name {hop.host!r} has no address.", SshFailure.HOST_REFUSED
            )
        return [str(address) for address in allowed]

    async def _open_any(
        self,
        index: int,
        hop: Hop,
        tunnel: asyncssh.SSHClientConnection | None,
        trusted: str | None,
        source: CredentialSource | None,
        addresses: Sequence[str],
    ) -> asyncssh.SSHClientConnection:
        """:meth:`_open` at the first of ``addresses`` that takes the connection."""
        for address in addresses[:-1]:
            try:
                return await self._open(index, hop, tunnel, trusted, source, address)
            except SshError as exc:
                if exc.reason not in (SshFailure.CONNECTION_REFUSED, SshFailure.UNREACHABLE):
                    raise
        return await self._open(index, hop, tunnel, trusted, source, addresses[-1])

    async def _confirm_new_host_key(
        self,
        index: int,
        hop: Hop,
        tunnel: asyncssh.SSHClientConnection | None,
        addresses: Sequence[str],
    ) -> str:
        """Look at the key of a hop whose key is not known (no login is tried) and ask
        ``confirm_host_key`` about it; the key line if trusted, else HostKeyUnknown."""
        try:
            connection = await self._open_any(index, hop, tunnel, None, None, addresses)
        except HostKeyUnknown as unknown:
            confirm = self.confirm_host_key
            if confirm is None or not await confirm(
                index, hop, unknown.fingerprint, unknown.public_key
            ):
                raise
            return unknown.public_key
        connection.close()  # cannot happen: no key is trusted without a known one
        raise SshError(
            f"{self._where(index)}: the host key was not checked.", hop=index, hop_label=hop.label
        )

    def _where(self, index: int) -> str:
        hop = self.hops[index]
        if index == 0:
            return hop.label
        return f"{hop.label} (hop {index + 1}, via {self.hops[index - 1].label})"

    async def _open(
        self,
        index: int,
        hop: Hop,
        tunnel: asyncssh.SSHClientConnection | None,
        trusted: str | None,
        source: CredentialSource | None,
        address: str,
    ) -> asyncssh.SSHClientConnection:
        client = _Client(trusted, source)
        options = _auth_options(source)
        # A person may be asked for the credential while logging in (a password, a
        # one-time code): give them time, unless the credential is at hand already.
        login_timeout = self.connect_timeout
        interactive = isinstance(source, KeyboardInteractiveCredential) or (
            source is not None and not isinstance(source, _CREDENTIAL_TYPES)
        )
        if interactive:
            login_timeout = max(login_timeout, self.interactive_login_timeout)
        where = self._where(index)

        def failed(message: str, reason: SshFailure) -> SshError:
            return SshError(f"{where}: {message}", hop=index, hop_label=hop.label, reason=reason)

        try:
            connection, _ = await asyncssh.create_connection(
                lambda: client,
                address,
                hop.port,
                # One write per turn of the event loop (see transport/batched.py).
                tunnel=BatchedConnector(tunnel),
                username=hop.username,
                # Trust nothing by default; _Client decides.
                known_hosts=([], [], []),
                agent_path=None,
                config=None,
                connect_timeout=self.connect_timeout,
                login_timeout=login_timeout,
                keepalive_interval=self.keepalive_interval,
                keepalive_count_max=self.keepalive_count_max,
                encryption_algs=ENCRYPTION_ALGS,
                **options,
            )
            # Channel data the direct way (see transport/aead_send.py).
            aead_send.install(connection)
            return connection
        except asyncssh.HostKeyNotVerifiable:
            presented = client.presented
            if presented is None:
                raise failed(
                    "the host key could not be verified.", SshFailure.HOST_KEY_UNKNOWN
                ) from None
            line = presented.export_public_key("openssh").decode().strip()
            shown = presented.get_fingerprint("sha256")
            if trusted is None:
                raise HostKeyUnknown(
                    hop=index, hop_label=hop.label, fingerprint=shown, public_key=line
                ) from None
            raise HostKeyChanged(
                hop=index, hop_label=hop.label, fingerprint=shown, expected=fingerprint(trusted)
            ) from None
        except asyncssh.PermissionDenied:
            if client.failure is not None:
                raise client.failure from None
            credential = client.credential
            message = f"authentication failed (tried: {_method_name(credential)})."
            if client.unanswered:
                message += (
                    f" The server also asked {client.unanswered!r}, which a password cannot "
                    "answer: use keyboard-interactive for this server."
                )
            elif isinstance(credential, CertificateCredential):
                message += (
                    " The server may not trust labgate's certificate authority "
                    "(TrustedUserCAKeys), or not for this account."
                )
            raise failed(message, SshFailure.AUTH_FAILED) from None
        except socket.gaierror:
            raise failed(
                f"the name {hop.host!r} was not found.", SshFailure.NAME_NOT_FOUND
            ) from None
        except TimeoutError:
            raise failed(
                f"no answer within {self.connect_timeout:g} s (is the machine on, or are "
                "packets dropped by a firewall?).",
                SshFailure.TIMED_OUT,
            ) from None
        except OSError as exc:
            reason = _os_failure(exc)
            raise failed(_explain(reason, hop, str(exc)), reason) from None
        except asyncssh.ChannelOpenError as exc:
            reason = _text_failure(exc.reason) or SshFailure.UNREACHABLE
            explained = _explain(reason, hop, exc.reason, via_jump=True)
            raise failed(f"the previous hop could not reach it: {explained}", reason) from None
        except asyncssh.ConnectionLost as exc:
            if "timeout" in exc.reason.lower():
                raise failed(
                    f"the login did not complete within {login_timeout:g} s.",
                    SshFailure.TIMED_OUT,
                ) from None
            raise failed(
                f"the server closed the connection before the login completed ({exc.reason}).",
                SshFailure.OTHER,
            ) from None
        except asyncssh.Error as exc:
            raise failed(str(exc), SshFailure.OTHER) from None

    @property
    def cipher(self) -> str | None:
        """The cipher negotiated with the resource (the last hop); None before connecting."""
        if not self._connections:
            return None
        return str(self._connections[-1].get_extra_info("send_cipher"))

    async def start(self, argv: list[str]) -> RemoteProcess:
        await self.connect()
        process = await self._connections[-1].create_process(
            shlex.join(argv),
            encoding=None,
            window=SESSION_WINDOW_BYTES,
        )
        return _SshProcess(process)

    async def open_tcp(self, host: str, port: int) -> tuple[ByteReader, StreamWriter]:
        """A direct-tcpip channel: the resource's sshd connects to ``host:port``."""
        await self.connect()
        try:
            reader, writer = await self._connections[-1].open_connection(host, port)
        except (asyncssh.ChannelOpenError, OSError) as exc:
            raise StreamOpenFailed(f"{host}:{port} on the resource: {_reason(exc)}") from exc
        return _Reader(reader), writer

    async def open_unix(self, path: str) -> tuple[ByteReader, StreamWriter]:
        """A direct-streamlocal channel to a Unix socket on the resource."""
        await self.connect()
        try:
            reader, writer = await self._connections[-1].open_unix_connection(path)
        except (asyncssh.ChannelOpenError, OSError) as exc:
            raise StreamOpenFailed(f"{path} on the resource: {_reason(exc)}") from exc
        return _Reader(reader), writer

    async def close(self) -> None:
        for connection in reversed(self._connections):
            connection.close()
            with contextlib.suppress(Exception):
                await connection.wait_closed()
        self._connections.clear()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, asyncssh.ChannelOpenError):
        if exc.code == asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED:
            return (
                "the SSH server does not allow forwarding"
                " (AllowTcpForwarding / AllowStreamLocalForwarding)."
            )
        return exc.reason or "the SSH server could not connect there."
    return str(exc)


_CREDENTIAL_TYPES = (
    PasswordCredential,
    KeyCredential,
    CertificateCredential,
    KeyboardInteractiveCredential,
)


async def _resolve(source: CredentialSource) -> Credential:
    if isinstance(source, _CREDENTIAL_TYPES):
        return source
    return await source()


_UNREACHABLE_ERRNOS = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN}


def _os_failure(exc: OSError) -> SshFailure:
    if isinstance(exc, ConnectionRefusedError) or exc.errno == errno.ECONNREFUSED:
        return SshFailure.CONNECTION_REFUSED
    if exc.errno == errno.ETIMEDOUT:
        return SshFailure.TIMED_OUT
    if exc.errno in _UNREACHABLE_ERRNOS:
        return SshFailure.UNREACHABLE
    # asyncio reports several addresses that all failed as one OSError without errno.
    return _text_failure(str(exc)) or SshFailure.OTHER


def _text_failure(text: str) -> SshFailure | None:
    """The failure an error text (OpenSSH's channel-open failure, strerror) describes."""
    lowered = text.lower()
    if "refused" in lowered:
        return SshFailure.CONNECTION_REFUSED
    if "timed out" in lowered:
        return SshFailure.TIMED_OUT
    if any(
        words in lowered
        for words in ("not known", "name resolution", "no address associated", "unknown host")
    ):
        return SshFailure.NAME_NOT_FOUND
    if "unreachable" in lowered or "no route" in lowered:
        return SshFailure.UNREACHABLE
    return None


def _explain(reason: SshFailure, hop: Hop, detail: str, *, via_jump: bool = False) -> str:
    if reason is SshFailure.CONNECTION_REFUSED:
        return f"connection refused (is sshd running on port {hop.port}?)."
    if reason is SshFailure.NAME_NOT_FOUND:
        return f"the name {hop.host!r} was not found."
    if reason is SshFailure.TIMED_OUT:
        return "no answer (is the machine on, or are packets dropped by a firewall?)."
    if reason is SshFailure.UNREACHABLE:
        if via_jump:
            return f"no route to {hop.host} from there ({detail})."
        return f"no route to {hop.host} ({detail}); it may be reachable only through a jump host."
    return detail
