"""SSH key pairs: the ones labgate generates for its users, and the ones users upload.

A key is kept in memory as a :class:`PrivateKey`, already opened (no passphrase);
:func:`export_private_key` gives it in OpenSSH format without passphrase, to hand to the
transport or to seal with the vault. Uploaded keys may be in OpenSSH or PEM (PKCS#1,
PKCS#8, SEC1) format, with or without passphrase; what cannot be used is refused with
an error that says what to do instead.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

import asyncssh

from labgate.errors import LabgateError

# Far above any real private key (an RSA-16384 key in PEM is ~12 KB).
MAX_KEY_BYTES = 64 * 1024
GENERATED_KEY_TYPE = "ssh-ed25519"

_OPENSSH_BLOCK = re.compile(
    rb"-----BEGIN OPENSSH PRIVATE KEY-----(.*?)-----END OPENSSH PRIVATE KEY-----", re.DOTALL
)
_OPENSSH_MAGIC = b"openssh-key-v1\0"


class KeyImportError(LabgateError):
    """The key given cannot be used; the message says why and what to do."""

    code = "key_invalid"
    status = 400


class PassphraseRequired(KeyImportError):
    code = "passphrase_required"

    def __init__(self) -> None:
        super().__init__("This key is protected by a passphrase: enter its passphrase.")


class WrongPassphrase(KeyImportError):
    code = "passphrase_wrong"

    def __init__(self) -> None:
        super().__init__("Wrong passphrase.")


@dataclass(frozen=True, repr=False)
class PrivateKey:
    """A private key in memory, opened (no passphrase)."""

    key: asyncssh.SSHKey

    @property
    def public_key(self) -> str:
        """``ssh-ed25519 AAAA... comment``: one line, as in ``authorized_keys``."""
        return str(self.key.export_public_key("openssh").decode().strip())

    @property
    def fingerprint(self) -> str:
        """``SHA256:...`` as ``ssh-keygen -l`` shows it."""
        return str(self.key.get_fingerprint("sha256"))

    def __repr__(self) -> str:
        return f"PrivateKey({self.fingerprint})"


def user_key_comment(username: str) -> str:
    """The comment of a user's generated key, so it can be told apart in authorized_keys."""
    return f"labgate:{username}"


def generate_key_pair(comment: str) -> PrivateKey:
    """A new ed25519 key pair."""
    return PrivateKey(asyncssh.generate_private_key(GENERATED_KEY_TYPE, comment=comment))


def import_private_key(data: bytes | str, passphrase: str | None = None) -> PrivateKey:
    """Read a private key a user gave (OpenSSH or PEM), opening it with ``passphrase``.

    Raises :class:`PassphraseRequired` for an encrypted key without passphrase,
    :class:`WrongPassphrase`, or :class:`KeyImportError` for anything else.
    """
    raw = data.encode() if isinstance(data, str) else data
    if len(raw) > MAX_KEY_BYTES:
        raise KeyImportError(
            f"This is too large to be a private key (more than {MAX_KEY_BYTES // 1024} KiB)."
        )
    raw = raw.strip()
    _refuse_what_is_not_a_private_key(raw)
    encrypted = is_encrypted(raw)
    if encrypted and not passphrase:
        raise PassphraseRequired()
    try:
        key = asyncssh.import_private_key(raw, passphrase if encrypted else None)
    except (asyncssh.KeyImportError, asyncssh.KeyEncryptionError, ValueError):
        if encrypted:
            raise WrongPassphrase() from None
        raise _not_a_key() from None
    if key.get_algorithm().startswith("sk-"):
        raise KeyImportError(
            "This key lives on a security key (FIDO token), which labgate cannot touch: "
            "use a key without a hardware token."
        )
    return PrivateKey(key)


def is_encrypted(data: bytes) -> bool:
    """Whether a private key in OpenSSH or PEM format is protected by a passphrase."""
    if b"Proc-Type: 4,ENCRYPTED" in data or b"-----BEGIN ENCRYPTED PRIVATE KEY-----" in data:
        return True
    block = _OPENSSH_BLOCK.search(data)
    if block is None:
        return False
    try:
        body = base64.b64decode(b"".join(block.group(1).split()), validate=True)
    except (binascii.Error, ValueError):
        return False
    if not body.startswith(_OPENSSH_MAGIC):
        return False
    # The cipher name is the first string after the magic: uint32 length, then bytes.
    rest = body[len(_OPENSSH_MAGIC) :]
    if len(rest) < 4:
        return False
    length = int.from_bytes(rest[:4], "big")
    return rest[4 : 4 + length] != b"none"


def public_key_fingerprint(public_key: str) -> str:
    """The SHA256 fingerprint of an OpenSSH public key line."""
    return asyncssh.import_public_key(public_key).get_fingerprint("sha256")


def export_private_key(key: PrivateKey) -> bytes:
    """``key`` in OpenSSH format without passphrase (for the transport, or to seal)."""
    return bytes(key.key.export_private_key("openssh"))


def _refuse_what_is_not_a_private_key(data: bytes) -> None:
    if data.startswith(b"PuTTY-User-Key-File"):
        raise KeyImportError(
            "This is a PuTTY key: export it in OpenSSH format first (PuTTYgen: "
            "Conversions > Export OpenSSH key) and give that file."
        )
    if data.startswith((b"ssh-", b"ecdsa-", b"sk-", b"---- BEGIN SSH2 PUBLIC KEY")) or (
        b"-----BEGIN PUBLIC KEY-----" in data
    ):
        raise KeyImportError(
            "This is a public key (like the .pub file): give the private key instead, such "
            "as ~/.ssh/id_ed25519."
        )
    if b"CERTIFICATE-----" in data:
        raise KeyImportError("This is a certificate, not a private key.")
    if b"PRIVATE KEY-----" not in data:
        raise _not_a_key()


def _not_a_key() -> KeyImportError:
    return KeyImportError(
        "This is not a private key labgate can read: give the private key file (such as "
        "~/.ssh/id_ed25519) in OpenSSH or PEM format."
    )
