"""The kinds of credential a hop of an SSH connection logs in with.

Handed to :mod:`labgate.transport.ssh` for one connection and never written anywhere;
``repr`` shows none of them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True, repr=False)
class PasswordCredential:
    """A password; also answers a keyboard-interactive ``Password:`` prompt."""

    password: str


@dataclass(frozen=True, repr=False)
class KeyCredential:
    """A private key in OpenSSH or PEM format, with its passphrase if it has one."""

    private_key: bytes
    passphrase: str | None = None


@dataclass(frozen=True, repr=False)
class CertificateCredential:
    """A private key (without passphrase) and the OpenSSH user certificate for it."""

    private_key: bytes
    certificate: bytes


# (name, instructions, [(prompt, echo)]) -> one answer per prompt.
KeyboardInteractiveResponder = Callable[[str, str, list[tuple[str, bool]]], Awaitable[list[str]]]


@dataclass(frozen=True, repr=False)
class KeyboardInteractiveCredential:
    """Answers the server's prompts (password, one-time code ...) by asking ``respond``,
    once per round of prompts; rounds without prompts are acknowledged silently."""

    respond: KeyboardInteractiveResponder


Credential = (
    PasswordCredential | KeyCredential | CertificateCredential | KeyboardInteractiveCredential
)
# A credential, or how to get one when the hop is about to be logged in to.
CredentialSource = Credential | Callable[[], Awaitable[Credential]]
