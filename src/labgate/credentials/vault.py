"""The server secret and what it protects: data sealed at rest with AES-256-GCM.

The secret is ``settings.secret_key`` when set, else the text in ``<data_dir>/secret.key``
(32 random bytes, base64url; created on first use, mode 0600). Either way it is text, so
``LABGATE_SECRET_KEY=$(cat var/secret.key)`` gives another replica the same secret.

Each use of the secret has a ``purpose`` (``"ssh-ca"``, ``"user-ssh-key:7"`` ...): the
sealing key is HKDF-SHA256(secret, info=purpose), and the purpose is also authenticated
data, so a sealed value copied into another row or another use does not open.
Sealed form: one format-version byte, a 12-byte random nonce, the ciphertext with its tag.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from labgate.errors import ConfigurationError, LabgateError
from labgate.settings import Settings

log = logging.getLogger(__name__)

SECRET_FILE = "secret.key"  # noqa: S105 -- a file name
SECRET_BYTES = 32
MIN_SECRET_CHARS = 16
FORMAT_VERSION = 1
NONCE_BYTES = 12


class SealedDataUnreadable(LabgateError):
    """A sealed value does not open: the server secret changed, or the data was altered."""

    code = "sealed_data_unreadable"
    status = 500


class Vault:
    """Seals and opens bytes with keys derived from one server secret."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < MIN_SECRET_CHARS:
            raise ConfigurationError(
                f"The server secret is too short: use at least {MIN_SECRET_CHARS} characters "
                "(for example the output of `openssl rand -base64 32`)."
            )
        self._secret = secret

    def __repr__(self) -> str:
        return "Vault(<secret>)"

    @classmethod
    def from_settings(cls, settings: Settings) -> Vault:
        """The vault of ``settings.secret_key``, else of ``<data_dir>/secret.key``."""
        if settings.secret_key is not None and settings.secret_key.get_secret_value():
            return cls(settings.secret_key.get_secret_value().encode())
        settings.make_data_dir()  # the server's alone (0700), also on PostgreSQL
        return cls(load_or_create_secret(settings.data_dir / SECRET_FILE))

    def _aead(self, purpose: str) -> AESGCM:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(
            self._secret
        )
        return AESGCM(key)

    def seal(self, plaintext: bytes, purpose: str) -> bytes:
        """``plaintext`` encrypted and authenticated for ``purpose``."""
        nonce = os.urandom(NONCE_BYTES)
        header = bytes([FORMAT_VERSION])
        return header + nonce + self._aead(purpose).encrypt(nonce, plaintext, purpose.encode())

    def open(self, sealed: bytes, purpose: str) -> bytes:
        """What :meth:`seal` sealed for the same ``purpose``, with the same secret."""
        if len(sealed) < 1 + NONCE_BYTES + 16 or sealed[0] != FORMAT_VERSION:
            raise SealedDataUnreadable(
                f"Stored data for {purpose!r} is not in a format this labgate can read."
            )
        nonce = sealed[1 : 1 + NONCE_BYTES]
        try:
            return self._aead(purpose).decrypt(nonce, sealed[1 + NONCE_BYTES :], purpose.encode())
        except InvalidTag:
            raise SealedDataUnreadable(
                f"Stored data for {purpose!r} cannot be decrypted: the server secret changed "
                "since it was stored (check `secret_key` and <data_dir>/secret.key on every "
                "replica), or the data was altered. Store it again."
            ) from None


def load_or_create_secret(path: Path) -> bytes:
    """The secret in ``path``; on first use, a new random one, created atomically.

    Replicas starting together may race here: each writes a complete temporary file and
    hard-links it into place, which fails for all but the first; the others read that.
    """
    try:
        return _read_secret(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    text = base64.urlsafe_b64encode(secrets.token_bytes(SECRET_BYTES)).rstrip(b"=") + b"\n"
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return _read_secret(path)  # another replica was first
        _sync_directory(path.parent)
        log.info("created the server secret %s", path)
        return text.strip()
    finally:
        temporary.unlink(missing_ok=True)


def _read_secret(path: Path) -> bytes:
    secret = path.read_bytes().strip()
    if not secret:
        raise ConfigurationError(f"The server secret file {path} is empty.")
    if path.stat().st_mode & 0o077:
        # Other accounts run users' programs on this machine (the local resource).
        log.warning("the server secret %s was readable by others: made it mode 0600", path)
        path.chmod(0o600)
    return secret


def _sync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
