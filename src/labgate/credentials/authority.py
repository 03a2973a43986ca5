"""labgate's SSH certificate authority: short-lived user certificates for shared resources.

A resource whose sshd trusts the CA's public key (``TrustedUserCAKeys``) lets a labgate
user in as the remote account named in the certificate's principals, for as long as the
certificate is valid. labgate makes a fresh key pair and certificate for every
connection (:meth:`CertificateAuthority.session_credential`), so nothing long-lived
exists apart from the CA key, which the database holds sealed by the vault.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

import asyncssh

from labgate.credentials.keys import GENERATED_KEY_TYPE
from labgate.credentials.kinds import CertificateCredential
from labgate.credentials.vault import Vault
from labgate.db.types import utcnow

CA_KEY_TYPE = "ssh-ed25519"
CA_COMMENT = "labgate-ca"
SEALING_PURPOSE = "ssh-ca"
# Certificates start this long before "now", so a resource whose clock is a little
# behind labgate's accepts them at once.
CLOCK_SKEW = timedelta(minutes=5)
SSHD_CONFIG_HINT = "TrustedUserCAKeys /etc/ssh/labgate_ca.pub"


class CertificateAuthority:
    """One CA key pair; signs OpenSSH user certificates."""

    def __init__(self, key: asyncssh.SSHKey) -> None:
        self._key = key
        self._key.set_comment(CA_COMMENT)

    def __repr__(self) -> str:
        return f"CertificateAuthority({self.fingerprint})"

    @classmethod
    def create(cls) -> CertificateAuthority:
        """A new CA with a new ed25519 key."""
        return cls(asyncssh.generate_private_key(CA_KEY_TYPE, comment=CA_COMMENT))

    @classmethod
    def load(cls, sealed: bytes, vault: Vault) -> CertificateAuthority:
        """The CA whose private key :meth:`seal` sealed (SealedDataUnreadable if the server
        secret changed since)."""
        return cls(asyncssh.import_private_key(vault.open(sealed, SEALING_PURPOSE)))

    def seal(self, vault: Vault) -> bytes:
        """The private key, sealed for storage."""
        return vault.seal(self._key.export_private_key("openssh"), SEALING_PURPOSE)

    @property
    def public_key(self) -> str:
        """``ssh-ed25519 AAAA... labgate-ca``: the line for sshd's TrustedUserCAKeys file."""
        return str(self._key.export_public_key("openssh").decode().strip())

    @property
    def fingerprint(self) -> str:
        return str(self._key.get_fingerprint("sha256"))

    def sign(
        self,
        public_key: str | asyncssh.SSHKey,
        *,
        principals: Sequence[str],
        hours: float,
        key_id: str,
        now: datetime | None = None,
    ) -> str:
        """An OpenSSH user certificate for ``public_key`` (a key or its OpenSSH line),
        valid as the accounts ``principals`` from a few minutes before ``now`` until
        ``hours`` after it; ``key_id`` appears in the resource's sshd log."""
        if isinstance(principals, str) or not principals or not all(principals):
            # A certificate without principals is valid for every account.
            raise ValueError("a certificate needs at least one non-empty principal")
        if hours <= 0:
            raise ValueError("a certificate must be valid for some time")
        subject = (
            asyncssh.import_public_key(public_key) if isinstance(public_key, str) else public_key
        )
        start = now or utcnow()
        certificate = self._key.generate_user_certificate(
            subject,
            key_id,
            serial=secrets.randbits(63),
            principals=list(principals),
            valid_after=start - CLOCK_SKEW,
            valid_before=start + timedelta(hours=hours),
            # What labgate needs: a shell and port forwarding (to reach the next hop
            # of a chain); not X11 or agent forwarding.
            permit_x11_forwarding=False,
            permit_agent_forwarding=False,
            permit_port_forwarding=True,
            permit_pty=True,
            permit_user_rc=True,
        )
        return str(certificate.export_certificate("openssh").decode().strip())

    def session_credential(
        self, principal: str, *, hours: float, key_id: str
    ) -> CertificateCredential:
        """A fresh key pair and a certificate for it, to log in once as ``principal``."""
        key = asyncssh.generate_private_key(GENERATED_KEY_TYPE)
        certificate = self.sign(key, principals=[principal], hours=hours, key_id=key_id)
        return CertificateCredential(
            private_key=bytes(key.export_private_key("openssh")),
            certificate=certificate.encode(),
        )
