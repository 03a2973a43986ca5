"""A real OpenLDAP ``slapd`` on 127.0.0.1 for the tests of LDAP sign-in.

``running_slapd(tmp_dir, entries)`` builds a private server in a new directory under
``tmp_dir``: a certificate authority and a server certificate for ``127.0.0.1`` (made
here with ``cryptography``), a ``cn=config`` directory written by ``slapadd -n0`` (an mdb
database for ``dc=example,dc=org``, the modules back_mdb and ppolicy from Debian's
``/usr/lib/ldap``, the core, cosine, nis and inetorgperson schemas, and Active
Directory's ``objectGUID`` as :data:`AD_GUID_SCHEMA` defines it), the base entries
(``ou=people``, ``ou=groups``, ``ou=services``, ``ou=policies`` and a default password
policy) and the test's own ``entries`` (LDIF) loaded with ``slapadd -n1``. It starts
``/usr/sbin/slapd -d 0`` (in the foreground) listening on free ports for ``ldap://`` and
``ldaps://`` (StartTLS on the first), yields a :class:`Slapd` once both answer, and
stops it by PID at the end. The system's slapd (the Debian package's service) and
``/etc/ldap/slapd.d`` are never touched.

The password policy overlay is configured as a facility that wants locked accounts
told would: ``olcPPolicyUseLockout: TRUE`` (without it slapd's response control says
nothing about a lock). An entry is locked by an administrator with
``pwdAccountLockedTime: 000001010000Z``.

Who may read what (``olcAccess``): a password only for binding (and by its owner); the
service account (``SERVICE_DN``) and signed-in users read everything else, including the
operational ``pwdAccountLockedTime``; anonymous clients nothing. ``admin()`` is a
connection as the database's root DN, to change the directory during a test.

slapd needs the Debian packages ``slapd`` and ``ldap-utils`` (``scripts/install-test-
deps.sh`` installs them); without them ``SlapdNotAvailable`` says so.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import logging
import os
import secrets
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from ldap3 import Connection, Server

from tests.support.eventually import NotEventually, eventually_sync, within

__all__ = [
    "SERVICE_DN",
    "SERVICE_PASSWORD",
    "SUFFIX",
    "CertificateAuthority",
    "Slapd",
    "SlapdNotAvailable",
    "running_slapd",
]

SLAPD = Path("/usr/sbin/slapd")
SLAPADD = Path("/usr/sbin/slapadd")
MODULES = Path("/usr/lib/ldap")
SCHEMAS = Path("/etc/ldap/schema")

SUFFIX = "dc=example,dc=org"
ROOT_DN = f"cn=admin,{SUFFIX}"
SERVICE_DN = f"cn=labgate,ou=services,{SUFFIX}"
SERVICE_PASSWORD = "labgate service password"  # a throw-away test directory's
DEFAULT_POLICY_DN = f"cn=default,ou=policies,{SUFFIX}"

#: Active Directory's objectGUID (its own OID; 16 bytes, found by equality as AD finds
#: it: Debian's msuser schema gives it no matching rule), and an auxiliary class to give
#: an entry one: ``objectClass: adGuid`` and ``objectGUID:: <base64>``.
AD_GUID_SCHEMA = """\
dn: cn=adguid,cn=schema,cn=config
objectClass: olcSchemaConfig
cn: adguid
olcAttributeTypes: ( 1.2.840.113556.1.4.2 NAME 'objectGUID' EQUALITY octetStringMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.40 SINGLE-VALUE )
olcObjectClasses: ( 1.3.6.1.4.1.4203.666.11.1 NAME 'adGuid' AUXILIARY MAY objectGUID )
"""

START_ATTEMPTS = 3  # a free port can be taken between choosing it and slapd binding it
SHUTDOWN_GRACE = 10.0

log = logging.getLogger("labgate.tests.slapd")


class SlapdNotAvailable(RuntimeError):
    """The private slapd could not be set up."""


@dataclass(frozen=True)
class CertificateAuthority:
    """A CA certificate (PEM file) and its key, which can sign server certificates."""

    cert_path: Path
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @classmethod
    def create(cls, path: Path, name: str) -> CertificateAuthority:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return cls(path, key, cert)

    def issue_server(self, cert_path: Path, key_path: Path, address: str) -> None:
        """A server certificate for the IP ``address`` (and its key, mode 0600)."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, address)]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(address))]),
                critical=False,
            )
            .add_extension(
                x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
            .sign(self.key, hashes.SHA256())
        )
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.touch(mode=0o600)
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )


@dataclass(frozen=True)
class Slapd:
    """A private slapd started by :func:`running_slapd`."""

    host: str
    port: int
    """Plain LDAP (StartTLS offered)."""
    tls_port: int
    """LDAPS."""
    pid: int
    directory: Path
    ca_path: Path
    """The CA that signed the server's certificate (PEM)."""
    other_ca_path: Path
    """A CA that signed nothing of this server's: a wrong ``ca_file``."""
    admin_password: str
    log_path: Path

    @property
    def url(self) -> str:
        return f"ldap://{self.host}:{self.port}"

    @property
    def tls_url(self) -> str:
        return f"ldaps://{self.host}:{self.tls_port}"

    @property
    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"

    @contextlib.contextmanager
    def admin(self) -> Iterator[Connection]:
        """A connection bound as the database's root DN (writes bypass every ACL)."""
        connection = Connection(
            Server(self.host, port=self.port, connect_timeout=10),
            user=ROOT_DN,
            password=self.admin_password,
            receive_timeout=10,
            raise_exceptions=True,
        )
        connection.bind()
        try:
            yield connection
        finally:
            connection.unbind()


# --- the configuration ------------------------------------------------------------------


def _config_ldif(directory: Path, admin_password: str) -> str:
    schemas = "\n".join(
        f"include: file://{SCHEMAS / name}.ldif"
        for name in ("core", "cosine", "nis", "inetorgperson")
    )
    return f"""\
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {directory / "slapd.pid"}
olcTLSCACertificateFile: {directory / "ca.pem"}
olcTLSCertificateFile: {directory / "server.pem"}
olcTLSCertificateKeyFile: {directory / "server.key"}

dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: {MODULES}
olcModuleLoad: back_mdb
olcModuleLoad: ppolicy

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

{schemas}

{AD_GUID_SCHEMA}
dn: olcDatabase={{-1}}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {{-1}}frontend

dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config
olcAccess: {{0}}to * by * none

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcDbDirectory: {directory / "data"}
olcDbMaxSize: 104857600
olcSuffix: {SUFFIX}
olcRootDN: {ROOT_DN}
olcRootPW: {admin_password}
olcDbIndex: objectClass eq
olcDbIndex: uid eq
olcDbIndex: member eq
olcDbIndex: memberUid eq
olcDbIndex: entryUUID eq
olcAccess: {{0}}to attrs=userPassword by self write by anonymous auth by * none
olcAccess: {{1}}to * by dn.exact="{SERVICE_DN}" read by users read by * none

dn: olcOverlay={{0}}ppolicy,olcDatabase={{1}}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcPPolicyConfig
olcOverlay: {{0}}ppolicy
olcPPolicyDefault: {DEFAULT_POLICY_DN}
olcPPolicyUseLockout: TRUE
"""


_BASE_ENTRIES = f"""\
dn: {SUFFIX}
objectClass: dcObject
objectClass: organization
dc: example
o: Example Facility

dn: ou=people,{SUFFIX}
objectClass: organizationalUnit
ou: people

dn: ou=groups,{SUFFIX}
objectClass: organizationalUnit
ou: groups

dn: ou=services,{SUFFIX}
objectClass: organizationalUnit
ou: services

dn: ou=policies,{SUFFIX}
objectClass: organizationalUnit
ou: policies

dn: {DEFAULT_POLICY_DN}
objectClass: device
objectClass: pwdPolicy
cn: default
pwdAttribute: userPassword
pwdLockout: TRUE
pwdMaxFailure: 0

dn: {SERVICE_DN}
objectClass: applicationProcess
objectClass: simpleSecurityObject
cn: labgate
userPassword: {SERVICE_PASSWORD}
"""


# --- processes --------------------------------------------------------------------------


def _run(argv: list[str]) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)
    if result.returncode != 0:
        raise SlapdNotAvailable(
            f"{' '.join(argv)} failed (exit {result.returncode}):\n"
            f"{(result.stderr or result.stdout).strip()}"
        )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, signal.SIGTERM)
    if not within(SHUTDOWN_GRACE, lambda: process.poll() is not None):
        log.warning("slapd (pid %d) ignored SIGTERM; killing it", process.pid)
        process.kill()
    process.wait()


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def _started(process: subprocess.Popen[bytes], ports: tuple[int, ...], log_path: Path) -> bool:
    """True once slapd answers on every port; False when it exited before that."""

    def up_or_exited() -> bool:
        return process.poll() is not None or all(_answers(port) for port in ports)

    try:
        eventually_sync(up_or_exited, what=f"slapd answering on ports {ports}")
    except NotEventually as exc:
        raise SlapdNotAvailable(f"{exc}:\n{_log_tail(log_path)}") from None
    return process.poll() is None


def _prepare_system() -> None:
    if os.geteuid() != 0:
        raise SlapdNotAvailable("running_slapd needs root (the tests run as root)")
    for needed in (SLAPD, SLAPADD, MODULES / "ppolicy.so"):
        if not needed.exists():
            raise SlapdNotAvailable(
                f"{needed} is missing: run scripts/install-test-deps.sh (installs slapd)"
            )


@contextlib.contextmanager
def running_slapd(tmp_dir: Path, entries: str = "") -> Iterator[Slapd]:
    """Run a private slapd with the base entries and ``entries`` (LDIF, parents first)
    on 127.0.0.1 for the duration of the block. Its files go to a new directory under
    ``tmp_dir`` (left there for post-mortems)."""
    _prepare_system()
    directory = Path(tempfile.mkdtemp(prefix="slapd-", dir=tmp_dir))
    config_dir = directory / "slapd.d"
    config_dir.mkdir()
    (directory / "data").mkdir()
    log_path = directory / "slapd.log"
    admin_password = secrets.token_urlsafe(16)

    authority = CertificateAuthority.create(directory / "ca.pem", "labgate test LDAP CA")
    authority.issue_server(directory / "server.pem", directory / "server.key", "127.0.0.1")
    CertificateAuthority.create(directory / "other-ca.pem", "labgate test other CA")

    (directory / "config.ldif").write_text(_config_ldif(directory, admin_password))
    (directory / "entries.ldif").write_text(_BASE_ENTRIES + "\n" + entries)
    _run([str(SLAPADD), "-n0", "-F", str(config_dir), "-l", str(directory / "config.ldif")])
    _run([str(SLAPADD), "-n1", "-F", str(config_dir), "-l", str(directory / "entries.ldif")])

    process: subprocess.Popen[bytes] | None = None
    try:
        for attempt in range(1, START_ATTEMPTS + 1):
            port, tls_port = _free_port(), _free_port()
            urls = f"ldap://127.0.0.1:{port}/ ldaps://127.0.0.1:{tls_port}/"
            with log_path.open("ab") as log_out:
                process = subprocess.Popen(
                    [str(SLAPD), "-h", urls, "-F", str(config_dir), "-d", "0"],
                    cwd=directory,
                    env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"},
                    stdin=subprocess.DEVNULL,
                    stdout=log_out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            if _started(process, (port, tls_port), log_path):
                break
            message = f"slapd exited with status {process.returncode} (attempt {attempt})"
            if attempt == START_ATTEMPTS or "errno=98" not in _log_tail(log_path):
                raise SlapdNotAvailable(f"{message}:\n{_log_tail(log_path)}")
            log.warning("%s: a port was taken meanwhile", message)
        assert process is not None
        yield Slapd(
            host="127.0.0.1",
            port=port,
            tls_port=tls_port,
            pid=process.pid,
            directory=directory,
            ca_path=directory / "ca.pem",
            other_ca_path=directory / "other-ca.pem",
            admin_password=admin_password,
            log_path=log_path,
        )
    finally:
        if process is not None:
            _stop(process)
