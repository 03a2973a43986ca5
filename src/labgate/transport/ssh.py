"""The SSH transport: a resource reached through zero or more jump hosts with asyncssh.

Host keys are checked against what labgate has stored for each hop, never against the
server's own ~/.ssh: an unknown key stops the connection with its fingerprint (for the
user to confirm), a changed key stops it hard. Credentials are handed in for this
connection only; nothing is read from or written to disk.
"""

from __future__ import annotations

import contextlib
import shlex
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncssh

from labgate.errors import LabgateError
from labgate.transport.base import ByteReader, ByteWriter, RemoteProcess

CONNECT_TIMEOUT_SECONDS = 20


# -- what a hop needs --------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class PasswordCredential:
    password: str


@dataclass(frozen=True, repr=False)
class KeyCredential:
    """A private key in OpenSSH or PEM format, with its passphrase if it has one."""

    private_key: bytes
    passphrase: str | None = None


Credential = PasswordCredential | KeyCredential


@dataclass(frozen=True)
class Hop:
    """One SSH server on the way: a jump host, or the resource itself (the last hop)."""

    host: str
    username: str
    credential: Credential = field(repr=False)
    port: int = 22
    # The host key labgate trusts for this hop, as an OpenSSH public key line; None when
    # the user has not confirmed one yet.
    known_host_key: str | None = None

    @property
    def label(self) -> str:
        return f"{self.username}@{self.host}:{self.port}"


# -- what can go wrong, in words a person can act on ---------------------------------


class SshError(LabgateError):
    """Connecting failed; ``hop`` says which server of the chain (0 = the first)."""

    code = "ssh_failed"
    status = 502

    def __init__(self, message: str, *, hop: int, hop_label: str) -> None:
        super().__init__(message)
        self.hop = hop
        self.hop_label = hop_label


class HostKeyUnknown(SshError):
    code = "host_key_unknown"

    def __init__(self, *, hop: int, hop_label: str, fingerprint: str, public_key: str) -> None:
        super().__init__(
            f"{hop_label} presented a host key labgate does not know yet "
            f"({fingerprint}). Confirm it is the right one to connect.",
            hop=hop,
            hop_label=hop_label,
        )
        self.fingerprint = fingerprint
        self.public_key = public_key


class HostKeyChanged(SshError):
    code = "host_key_changed"

    def __init__(self, *, hop: int, hop_label: str, fingerprint: str, expected: str) -> None:
        super().__init__(
            f"The host key of {hop_label} has CHANGED: it is now {fingerprint}, labgate "
            f"knows {expected}. Either the machine was reinstalled or someone is "
            "intercepting the connection. Ask its administrator before trusting the new key.",
            hop=hop,
            hop_label=hop_label,
        )
        self.fingerprint = fingerprint
        self.expected = expected


# -- host key checking --------------------------------------------------------------------


class _HostKeyCheck(asyncssh.SSHClient):
    """Accepts exactly the stored key of one hop and remembers what it was shown."""

    def __init__(self, known: str | None) -> None:
        self.known = asyncssh.import_public_key(known) if known else None
        self.presented: asyncssh.SSHKey | None = None

    def validate_host_public_key(
        self, host: str, addr: str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        self.presented = key
        return self.known is not None and key == self.known


def fingerprint(public_key: str) -> str:
    """The SHA256 fingerprint of an OpenSSH public key line, as ``ssh-keygen -l`` shows."""
    return asyncssh.import_public_key(public_key).get_fingerprint("sha256")


# -- the transport -----------------------------------------------------------------------


@dataclass
class _SshProcess:
    process: asyncssh.SSHClientProcess[bytes]

    @property
    def stdin(self) -> ByteWriter:
        return _Writer(self.process.stdin)

    @property
    def stdout(self) -> ByteReader:
        return self.process.stdout

    @property
    def stderr(self) -> ByteReader:
        return self.process.stderr

    async def wait(self) -> int | None:
        completed = await self.process.wait(check=False)
        return completed.exit_status

    def terminate(self) -> None:
        with contextlib.suppress(OSError, asyncssh.Error):
            self.process.terminate()
        self.process.close()


@dataclass
class _Writer:
    writer: asyncssh.SSHWriter[bytes]

    def write(self, data: bytes) -> None:
        self.writer.write(data)

    async def drain(self) -> None:
        await self.writer.drain()

    def close(self) -> None:
        with contextlib.suppress(OSError, asyncssh.Error):
            self.writer.write_eof()


class SshTransport:
    """Reaches the last of ``hops`` through the ones before it."""

    name = "ssh"

    def __init__(self, hops: Sequence[Hop], *, connect_timeout: float = CONNECT_TIMEOUT_SECONDS):
        if not hops:
            raise ValueError("an SSH transport needs at least one hop")
        self.hops = list(hops)
        self.connect_timeout = connect_timeout
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
        check = _HostKeyCheck(hop.known_host_key)
        options = _auth_options(hop.credential)
        where = (
            hop.label
            if index == 0
            else f"{hop.label} (hop {index + 1}, via {self.hops[index - 1].label})"
        )
        try:
            connection, _ = await asyncssh.create_connection(
                lambda: check,
                hop.host,
                hop.port,
                tunnel=tunnel if tunnel is not None else (),
                username=hop.username,
                # Trust nothing by default; _HostKeyCheck decides.
                known_hosts=([], [], []),
                agent_path=None,
                config=None,
                connect_timeout=self.connect_timeout,
                login_timeout=self.connect_timeout,
                **options,
            )
            return connection
        except asyncssh.HostKeyNotVerifiable:
            presented = check.presented
            if presented is None:
                raise SshError(
                    f"{where}: the host key could not be verified.", hop=index, hop_label=hop.label
                ) from None
            line = presented.export_public_key("openssh").decode().strip()
            shown = presented.get_fingerprint("sha256")
            if hop.known_host_key is None:
                raise HostKeyUnknown(
                    hop=index, hop_label=hop.label, fingerprint=shown, public_key=line
                ) from None
            raise HostKeyChanged(
                hop=index,
                hop_label=hop.label,
                fingerprint=shown,
                expected=fingerprint(hop.known_host_key),
            ) from None
        except asyncssh.PermissionDenied:
            method = "password" if isinstance(hop.credential, PasswordCredential) else "key"
            raise SshError(
                f"{where}: authentication failed (tried: {method}).", hop=index, hop_label=hop.label
            ) from None
        except socket.gaierror:
            raise SshError(
                f"{where}: the name {hop.host!r} was not found.", hop=index, hop_label=hop.label
            ) from None
        except ConnectionRefusedError:
            raise SshError(
                f"{where}: connection refused (is sshd running on port {hop.port}?).",
                hop=index,
                hop_label=hop.label,
            ) from None
        except (TimeoutError, asyncssh.ConnectionLost) as exc:
            raise SshError(
                f"{where}: no answer ({type(exc).__name__}).", hop=index, hop_label=hop.label
            ) from None
        except asyncssh.ChannelOpenError as exc:
            raise SshError(
                f"{where}: the previous hop could not reach it ({exc.reason}).",
                hop=index,
                hop_label=hop.label,
            ) from None
        except (OSError, asyncssh.Error) as exc:
            raise SshError(f"{where}: {exc}", hop=index, hop_label=hop.label) from None

    async def start(self, argv: list[str]) -> RemoteProcess:
        await self.connect()
        process = await self._connections[-1].create_process(shlex.join(argv), encoding=None)
        return _SshProcess(process)

    async def close(self) -> None:
        for connection in reversed(self._connections):
            connection.close()
            with contextlib.suppress(Exception):
                await connection.wait_closed()
        self._connections.clear()


def _auth_options(credential: Credential) -> dict[str, object]:
    if isinstance(credential, PasswordCredential):
        return {
            "password": credential.password,
            "client_keys": None,
            "preferred_auth": "password,keyboard-interactive",
            "kbdint_auth": True,
        }
    key = asyncssh.import_private_key(credential.private_key, credential.passphrase)
    return {"client_keys": [key], "password": None, "preferred_auth": "publickey"}
