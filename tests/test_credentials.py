"""Tests for labgate.credentials: the vault and its secret file, key pairs and uploaded
keys, the SSH certificate authority, and what the database keeps (on both backends)."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import stat
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import asyncssh
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from labgate.credentials import keys, store
from labgate.credentials.authority import CertificateAuthority
from labgate.credentials.vault import (
    SECRET_FILE,
    SealedDataUnreadable,
    Vault,
    load_or_create_secret,
)
from labgate.db.engine import Database
from labgate.db.models import (
    AuditEvent,
    Resource,
    ResourceHop,
    SshCertificateAuthority,
    StoredCredential,
    User,
    UserSshKey,
)
from labgate.errors import ConfigurationError, NotFound
from labgate.settings import Settings

PASSPHRASE = "correct horse"
SECRET = b"a server secret for the tests, long enough"


def ssh_keygen(*args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        ["ssh-keygen", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "TZ": "UTC"},  # certificate validity in UTC
    )
    return result.stdout


def keygen_fingerprint(public_line: str) -> str:
    # "256 SHA256:... comment (ED25519)"
    return ssh_keygen("-l", "-f", "-", stdin=public_line + "\n").split()[1]


def make_key(
    directory: Path, *, key_type: str = "ed25519", fmt: str = "", passphrase: str = ""
) -> Path:
    """A private key made by OpenSSH's ssh-keygen; ``fmt``: "" (OpenSSH), PEM or PKCS8."""
    path = directory / f"{key_type}-{fmt or 'openssh'}-{'p' if passphrase else 'n'}"
    options = ["-m", fmt] if fmt else []
    extra = ["-b", "2048"] if key_type == "rsa" else []
    ssh_keygen(
        "-q", "-t", key_type, *extra, *options, "-N", passphrase, "-C", "test", "-f", str(path)
    )
    return path


# -- the vault -------------------------------------------------------------------------------


def test_seal_and_open_round_trip() -> None:
    vault = Vault(SECRET)
    first = vault.seal(b"private bytes", "purpose-a")
    second = vault.seal(b"private bytes", "purpose-a")

    assert vault.open(first, "purpose-a") == b"private bytes"
    assert first != second, "every seal uses a new nonce"
    assert first[0] == 1, "the first byte is the format version"
    assert b"private bytes" not in first
    assert vault.open(vault.seal(b"", "empty"), "empty") == b""


def test_tampering_and_other_purposes_are_detected() -> None:
    vault = Vault(SECRET)
    sealed = bytearray(vault.seal(b"private bytes", "purpose-a"))
    sealed[-3] ^= 0x01

    with pytest.raises(SealedDataUnreadable, match="altered"):
        vault.open(bytes(sealed), "purpose-a")
    with pytest.raises(SealedDataUnreadable):
        vault.open(vault.seal(b"x", "purpose-a"), "purpose-b")
    with pytest.raises(SealedDataUnreadable, match="format"):
        vault.open(b"\x02" + vault.seal(b"x", "purpose-a")[1:], "purpose-a")
    with pytest.raises(SealedDataUnreadable, match="format"):
        vault.open(b"\x01short", "purpose-a")


def test_a_different_secret_cannot_open() -> None:
    sealed = Vault(SECRET).seal(b"private bytes", "purpose-a")

    with pytest.raises(SealedDataUnreadable, match="server secret changed") as error:
        Vault(b"another secret, also long enough").open(sealed, "purpose-a")
    assert error.value.status == 500


def test_short_secrets_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="too short"):
        Vault(b"short")
    with pytest.raises(ConfigurationError, match="too short"):
        Vault.from_settings(Settings(secret_key=SecretStr("short"), data_dir=Path("unused")))


def test_the_secret_file_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")  # the directory does not exist yet
    vault = Vault.from_settings(settings)
    secret_file = tmp_path / "data" / SECRET_FILE

    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    text = secret_file.read_text().strip()
    assert len(text) == 43, "32 random bytes, base64url"
    sealed = vault.seal(b"private bytes", "purpose-a")
    # A restart reads the same file; a replica given the file's text as secret_key opens
    # the same data.
    assert Vault.from_settings(settings).open(sealed, "purpose-a") == b"private bytes"
    assert secret_file.read_text().strip() == text
    replica = Settings(data_dir=tmp_path / "elsewhere", secret_key=SecretStr(text))
    assert Vault.from_settings(replica).open(sealed, "purpose-a") == b"private bytes"
    assert not (tmp_path / "elsewhere").exists(), "a configured secret needs no file"
    assert sorted(p.name for p in secret_file.parent.iterdir()) == [SECRET_FILE]


def _race_for_the_secret(path: str, barrier: object, results: object) -> None:
    barrier.wait()  # type: ignore[attr-defined]
    results.put(load_or_create_secret(Path(path)))  # type: ignore[attr-defined]


def test_replicas_starting_together_share_one_secret(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    count = 8
    barrier = context.Barrier(count)
    results = context.Queue()
    path = tmp_path / "data" / SECRET_FILE
    processes = [
        context.Process(target=_race_for_the_secret, args=(str(path), barrier, results))
        for _ in range(count)
    ]
    for process in processes:
        process.start()
    secrets_seen = [results.get(timeout=60) for _ in range(count)]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0

    assert len(set(secrets_seen)) == 1
    assert path.read_bytes().strip() == secrets_seen[0]
    assert sorted(p.name for p in path.parent.iterdir()) == [SECRET_FILE], "no temporary files"


# -- keys ------------------------------------------------------------------------------------


def test_generated_key_pair_is_ed25519_with_the_user_in_its_comment(tmp_path: Path) -> None:
    pair = keys.generate_key_pair(keys.user_key_comment("alice"))

    assert pair.public_key.startswith("ssh-ed25519 ")
    assert pair.public_key.endswith(" labgate:alice")
    assert pair.fingerprint == keygen_fingerprint(pair.public_key)
    private = tmp_path / "generated"
    private.write_bytes(keys.export_private_key(pair))
    private.chmod(0o600)
    # OpenSSH reads the exported private key without a passphrase.
    derived = ssh_keygen("-y", "-P", "", "-f", str(private)).split()
    assert derived[:2] == pair.public_key.split()[:2]
    assert "alice" not in repr(pair)
    assert pair.fingerprint in repr(pair)


@pytest.mark.parametrize(
    ("key_type", "fmt"),
    [("ed25519", ""), ("rsa", "PEM"), ("ecdsa", "PKCS8")],
    ids=["openssh-ed25519", "pem-rsa", "pkcs8-ecdsa"],
)
def test_uploaded_key_with_passphrase(tmp_path: Path, key_type: str, fmt: str) -> None:
    path = make_key(tmp_path, key_type=key_type, fmt=fmt, passphrase=PASSPHRASE)
    data = path.read_bytes()
    expected = keygen_fingerprint(path.with_name(path.name + ".pub").read_text())

    assert keys.is_encrypted(data)
    with pytest.raises(keys.PassphraseRequired, match="passphrase") as missing:
        keys.import_private_key(data)
    assert missing.value.code == "passphrase_required"
    with pytest.raises(keys.WrongPassphrase, match="Wrong passphrase") as wrong:
        keys.import_private_key(data, "not the passphrase")
    assert wrong.value.code == "passphrase_wrong"

    key = keys.import_private_key(data.decode(), PASSPHRASE)
    assert key.fingerprint == expected
    exported = keys.export_private_key(key)
    assert not keys.is_encrypted(exported)
    assert keys.import_private_key(exported).fingerprint == expected


def test_uploaded_key_without_passphrase(tmp_path: Path) -> None:
    path = make_key(tmp_path)
    expected = keygen_fingerprint(path.with_name(path.name + ".pub").read_text())

    assert not keys.is_encrypted(path.read_bytes())
    assert keys.import_private_key(path.read_bytes()).fingerprint == expected
    # A passphrase given for a key that has none does no harm.
    assert keys.import_private_key(path.read_bytes(), "unneeded").fingerprint == expected


def test_what_is_not_a_private_key_is_explained(tmp_path: Path) -> None:
    path = make_key(tmp_path)
    public = path.with_name(path.name + ".pub").read_bytes()
    cases = {
        public: "public key",
        b"PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\n": "PuTTY",
        b"hello, this is not a key": "not a private key",
        b"-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----": (
            "not a private key"
        ),
        b"x" * (keys.MAX_KEY_BYTES + 1): "too large",
    }
    for data, words in cases.items():
        with pytest.raises(keys.KeyImportError, match=words) as error:
            keys.import_private_key(data)
        assert error.value.code == "key_invalid"
        assert not isinstance(error.value, keys.PassphraseRequired | keys.WrongPassphrase)


# -- the certificate authority -----------------------------------------------------------------


def certificate_details(certificate: str, directory: Path) -> str:
    """What OpenSSH's ssh-keygen -L reads from a certificate (it checks the signature)."""
    path = directory / "key-cert.pub"
    path.write_text(certificate + "\n")
    return ssh_keygen("-L", "-f", str(path))


def test_the_ca_signs_user_certificates_openssh_accepts(tmp_path: Path) -> None:
    authority = CertificateAuthority.create()
    subject = keys.generate_key_pair("subject")
    now = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)

    certificate = authority.sign(
        subject.public_key, principals=["alice"], hours=12, key_id="labgate:alice:cluster", now=now
    )

    assert certificate.startswith("ssh-ed25519-cert-v01@openssh.com ")
    details = certificate_details(certificate, tmp_path)
    assert "Type: ssh-ed25519-cert-v01@openssh.com user certificate" in details
    assert f"Signing CA: ED25519 {authority.fingerprint}" in details
    assert f"Public key: ED25519-CERT {subject.fingerprint}" in details
    assert 'Key ID: "labgate:alice:cluster"' in details
    assert "Principals: \n                alice\n" in details
    assert "permit-pty" in details
    assert "permit-port-forwarding" in details
    assert "permit-agent-forwarding" not in details
    assert "permit-X11-forwarding" not in details
    # From five minutes before "now" (clock skew) for the 12 hours asked.
    assert "Valid: from 2030-05-01T11:55:00 to 2030-05-02T00:00:00" in details
    assert authority.public_key.endswith(" labgate-ca")
    assert authority.fingerprint == keygen_fingerprint(authority.public_key)


def test_a_certificate_always_names_its_accounts() -> None:
    authority = CertificateAuthority.create()
    subject = keys.generate_key_pair("subject").public_key
    for principals in ([], [""], "alice"):
        with pytest.raises(ValueError, match="principal"):
            authority.sign(subject, principals=principals, hours=1, key_id="x")
    with pytest.raises(ValueError, match="valid"):
        authority.sign(subject, principals=["alice"], hours=0, key_id="x")


def test_the_ca_key_is_sealed_and_loaded(tmp_path: Path) -> None:
    vault = Vault(SECRET)
    authority = CertificateAuthority.create()
    sealed = authority.seal(vault)

    assert CertificateAuthority.load(sealed, vault).public_key == authority.public_key
    with pytest.raises(SealedDataUnreadable):
        CertificateAuthority.load(sealed, Vault(b"another secret, also long enough"))


def test_a_session_credential_is_a_fresh_key_and_its_certificate(tmp_path: Path) -> None:
    authority = CertificateAuthority.create()
    first = authority.session_credential("alice", hours=12, key_id="labgate:alice:cluster")
    second = authority.session_credential("alice", hours=12, key_id="labgate:alice:cluster")

    key = asyncssh.import_private_key(first.private_key)
    certificate = asyncssh.import_certificate(first.certificate)
    assert certificate.key.public_data == key.public_data
    assert certificate.principals == ["alice"]
    assert first.private_key != second.private_key
    details = certificate_details(first.certificate.decode(), tmp_path)
    assert f"Signing CA: ED25519 {authority.fingerprint}" in details


# -- what the database keeps (SQLite and PostgreSQL) ---------------------------------------------


async def add_user(db: AsyncSession, username: str) -> User:
    user = User(username=username)
    db.add(user)
    await db.flush()
    return user


async def add_resource(db: AsyncSession, owner: User, name: str = "cluster") -> Resource:
    resource = Resource(
        name=name,
        owner_id=owner.id,
        host="login.example.org",
        username=owner.username,
        hops=[ResourceHop(position=0, host="gw.example.org")],
    )
    db.add(resource)
    await db.flush()
    return resource


async def count(database: Database, model: type[object]) -> int:
    async with database.read() as db:
        return int(await db.scalar(select(func.count()).select_from(model)) or 0)


async def events(database: Database, name: str) -> list[AuditEvent]:
    async with database.read() as db:
        return list((await db.scalars(select(AuditEvent).where(AuditEvent.event == name))).all())


async def test_the_ca_is_created_once_and_then_reused(database: Database) -> None:
    vault = Vault(SECRET)
    async with database.session() as db:
        first = await store.certificate_authority(db, vault)
    async with database.session() as db:
        again = await store.certificate_authority(db, vault)

    assert again.public_key == first.public_key
    assert await count(database, SshCertificateAuthority) == 1
    created = await events(database, "ssh_ca_created")
    assert [e.detail["fingerprint"] for e in created] == [first.fingerprint]


async def test_replicas_creating_the_ca_together_end_with_one(database: Database) -> None:
    vault = Vault(SECRET)

    async def replica() -> str:
        async with database.session() as db:
            return (await store.certificate_authority(db, vault)).public_key

    public_keys = await asyncio.gather(*(replica() for _ in range(4)))

    assert len(set(public_keys)) == 1
    assert await count(database, SshCertificateAuthority) == 1


async def test_a_retired_ca_is_replaced_by_a_new_one(database: Database) -> None:
    vault = Vault(SECRET)
    async with database.session() as db:
        old = await store.certificate_authority(db, vault)
        await db.execute(update(SshCertificateAuthority).values(retired_at=datetime.now(UTC)))
    async with database.session() as db:
        new = await store.certificate_authority(db, vault)

    assert new.public_key != old.public_key
    assert await count(database, SshCertificateAuthority) == 2


async def test_a_ca_sealed_with_another_secret_is_a_configuration_error(
    database: Database,
) -> None:
    async with database.session() as db:
        await store.certificate_authority(db, Vault(SECRET))
    async with database.session() as db:
        with pytest.raises(ConfigurationError, match="server secret"):
            await store.certificate_authority(db, Vault(b"another secret, also long enough"))


async def test_a_users_generated_key(database: Database) -> None:
    vault = Vault(SECRET)
    async with database.session() as db:
        alice = await add_user(db, "alice")
        assert await store.user_key(db, alice.id) is None
        assert await store.user_key_credential(db, vault, alice.id) is None
        first = await store.create_user_key(db, vault, user_id=alice.id, username="alice")

    async with database.read() as db:
        shown = await store.user_key(db, alice.id)
        credential = await store.user_key_credential(db, vault, alice.id)
    assert shown == first
    assert first.public_key.endswith(" labgate:alice")
    assert first.fingerprint == keygen_fingerprint(first.public_key)
    assert credential is not None
    assert credential.passphrase is None
    key = asyncssh.import_private_key(credential.private_key)
    assert key.export_public_key("openssh").decode().split()[:2] == first.public_key.split()[:2]

    async with database.session() as db:
        row = await db.get(UserSshKey, alice.id)
        assert row is not None
        assert credential.private_key not in row.sealed_private_key
        second = await store.create_user_key(db, vault, user_id=alice.id, username="alice")
    assert second.fingerprint != first.fingerprint
    assert await count(database, UserSshKey) == 1

    async with database.session() as db:
        assert await store.delete_user_key(db, user_id=alice.id, username="alice") is True
        assert await store.delete_user_key(db, user_id=alice.id, username="alice") is False
        assert await store.user_key_credential(db, vault, alice.id) is None
    generated = await events(database, "ssh_key_generated")
    assert [e.detail["fingerprint"] for e in generated] == [first.fingerprint, second.fingerprint]
    assert [e.target for e in await events(database, "ssh_key_deleted")] == ["alice"]


async def test_a_generated_key_sealed_for_another_user_does_not_open(database: Database) -> None:
    vault = Vault(SECRET)
    async with database.session() as db:
        alice = await add_user(db, "alice")
        bob = await add_user(db, "bob")
        await store.create_user_key(db, vault, user_id=alice.id, username="alice")
        await store.create_user_key(db, vault, user_id=bob.id, username="bob")
        alice_row = await db.get(UserSshKey, alice.id)
        bob_row = await db.get(UserSshKey, bob.id)
        assert alice_row is not None
        assert bob_row is not None
        bob_row.sealed_private_key = alice_row.sealed_private_key
    async with database.read() as db:
        with pytest.raises(SealedDataUnreadable, match="Generate a new one"):
            await store.user_key_credential(db, vault, bob.id)


async def test_remembering_and_forgetting_keys(database: Database, tmp_path: Path) -> None:
    vault = Vault(SECRET)
    protected = make_key(tmp_path, passphrase=PASSPHRASE)
    other = make_key(tmp_path, key_type="ecdsa", fmt="PEM")
    protected_fingerprint = keygen_fingerprint(
        protected.with_name(protected.name + ".pub").read_text()
    )
    async with database.session() as db:
        alice = await add_user(db, "alice")
        resource = await add_resource(db, alice)
        hop_id = resource.hops[0].id
        ids = {"user_id": alice.id, "resource_id": resource.id}
        assert await store.remembered_key(db, vault, **ids, hop_id=None) is None
        remembered, credential = await store.remember_key(
            db, vault, **ids, hop_id=None, private_key=protected.read_bytes(), passphrase=PASSPHRASE
        )
        await store.remember_key(db, vault, **ids, hop_id=hop_id, private_key=other.read_bytes())

    assert remembered.hop_id is None
    assert remembered.fingerprint == protected_fingerprint
    assert credential.passphrase is None
    async with database.read() as db:
        loaded = await store.remembered_key(db, vault, **ids, hop_id=None)
        by_resource = await store.remembered_keys(db, ids["user_id"], [ids["resource_id"]])
        listed = by_resource[ids["resource_id"]]
        row = await db.scalar(select(StoredCredential).where(StoredCredential.hop_id.is_(None)))
    assert loaded == credential
    assert keys.import_private_key(loaded.private_key).fingerprint == protected_fingerprint
    assert row is not None
    assert loaded.private_key not in row.sealed
    assert {(k.hop_id, k.fingerprint) for k in listed} == {
        (None, protected_fingerprint),
        (hop_id, keys.import_private_key(other.read_bytes()).fingerprint),
    }

    # Remembering again replaces; forgetting removes only that server's key.
    async with database.session() as db:
        replaced, _ = await store.remember_key(
            db, vault, **ids, hop_id=None, private_key=other.read_bytes()
        )
        assert replaced.fingerprint != protected_fingerprint
        assert await count_in(db, StoredCredential) == 2
        assert await store.forget_key(db, **ids, hop_id=None) is True
        assert await store.forget_key(db, **ids, hop_id=None) is False
        assert await store.remembered_key(db, vault, **ids, hop_id=None) is None
        assert await store.remembered_key(db, vault, **ids, hop_id=hop_id) is not None
    assert len(await events(database, "key_remembered")) == 3
    assert [e.detail["hop_id"] for e in await events(database, "key_forgotten")] == [None]


async def count_in(db: AsyncSession, model: type[object]) -> int:
    return int(await db.scalar(select(func.count()).select_from(model)) or 0)


async def test_remembering_refuses_bad_keys_and_foreign_hops(
    database: Database, tmp_path: Path
) -> None:
    vault = Vault(SECRET)
    protected = make_key(tmp_path, passphrase=PASSPHRASE)
    async with database.session() as db:
        alice = await add_user(db, "alice")
        resource = await add_resource(db, alice)
        elsewhere = await add_resource(db, alice, "elsewhere")
        ids = {"user_id": alice.id, "resource_id": resource.id}
        with pytest.raises(keys.WrongPassphrase):
            await store.remember_key(
                db, vault, **ids, hop_id=None, private_key=protected.read_bytes(), passphrase="no"
            )
        with pytest.raises(keys.PassphraseRequired):
            await store.remember_key(
                db, vault, **ids, hop_id=None, private_key=protected.read_bytes()
            )
        with pytest.raises(NotFound, match="jump host"):
            await store.remember_key(
                db,
                vault,
                **ids,
                hop_id=elsewhere.hops[0].id,
                private_key=protected.read_bytes(),
                passphrase=PASSPHRASE,
            )
        with pytest.raises(NotFound, match="no resource"):
            await store.remember_key(
                db,
                vault,
                user_id=alice.id,
                resource_id=resource.id + 1000,
                hop_id=None,
                private_key=protected.read_bytes(),
                passphrase=PASSPHRASE,
            )
        assert await count_in(db, StoredCredential) == 0


async def test_a_remembered_key_is_bound_to_its_server(database: Database, tmp_path: Path) -> None:
    vault = Vault(SECRET)
    key = make_key(tmp_path)
    async with database.session() as db:
        alice = await add_user(db, "alice")
        resource = await add_resource(db, alice)
        ids = {"user_id": alice.id, "resource_id": resource.id}
        await store.remember_key(db, vault, **ids, hop_id=None, private_key=key.read_bytes())
        # Moved to the jump host's row (by someone with write access to the database):
        await db.execute(update(StoredCredential).values(hop_id=resource.hops[0].id))
    async with database.read() as db:
        with pytest.raises(SealedDataUnreadable, match="Forget it"):
            await store.remembered_key(db, vault, **ids, hop_id=resource.hops[0].id)
        with pytest.raises(SealedDataUnreadable, match="Forget it"):
            await store.remembered_key(
                db, Vault(b"another secret, also long enough"), **ids, hop_id=resource.hops[0].id
            )
