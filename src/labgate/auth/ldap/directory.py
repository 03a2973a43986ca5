"""Asking the directory: ldap3's blocking calls, run in a thread by the provider
(labgate.auth.ldap), each connection opened for one question and closed after it.

Every socket operation is bounded by ``timeout_seconds`` (connecting, and each answer),
so a thread never waits longer than a few of them. The URLs are tried in order: the
first server that answers (and passes its TLS check) is asked.

What comes back is plain data (:class:`Person`) or one of three exceptions that the
provider words for people: :class:`Unreachable` (no server answered, or none passed its
TLS check), :class:`PolicyRefused` (the password policy refuses the account: locked,
expired) and :class:`DirectoryError` (a server answered, but not as it should: the
service account was refused, a search failed; for the administrators to mend).
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ldap3 import BASE, SIMPLE, SUBTREE, Connection, Server
from ldap3.core.exceptions import (
    LDAPBindError,
    LDAPCertificateError,
    LDAPCommunicationError,
    LDAPException,
    LDAPStartTLSError,
)
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn

from labgate.auth.ldap import ppolicy
from labgate.auth.ldap.config import DEFAULT_PORTS, LdapConfig
from labgate.auth.ldap.ppolicy import PolicyError
from labgate.auth.ldap.tls import CheckedTls, tls_context

log = logging.getLogger("labgate.auth.ldap")

SUCCESS = 0
SIZE_LIMIT_EXCEEDED = 4
NO_SUCH_OBJECT = 32
INVALID_CREDENTIALS = 49

#: pwdAccountLockedTime of an account an administrator locked (slapo-ppolicy(5)); any
#: other value is the time a lockout after failed passwords began.
LOCKED_BY_ADMINISTRATOR = "000001010000Z"

#: Attributes whose values are bytes, read as hex whatever they hold.
BINARY_SUBJECTS = frozenset({"objectguid"})

#: A bind with these answers says the password was right but may not be used now.
REFUSING = frozenset(
    {PolicyError.ACCOUNT_LOCKED, PolicyError.PASSWORD_EXPIRED, PolicyError.CHANGE_AFTER_RESET}
)


class Unreachable(Exception):
    """No server could be asked; ``tls``: at least one failed its TLS check."""

    def __init__(self, detail: str, *, tls: bool) -> None:
        super().__init__(detail)
        self.tls = tls


class DirectoryError(Exception):
    """A server answered, but not as it should."""


class PolicyRefused(Exception):
    """The password policy refuses the account (``error`` says how)."""

    def __init__(self, error: PolicyError) -> None:
        super().__init__(error.name)
        self.error = error


@dataclass(frozen=True)
class Group:
    name: str
    dn: str


@dataclass(frozen=True)
class Person:
    """An entry whose password was right."""

    dn: str
    #: Its ``subject_attribute`` (None: the entry has none, so it cannot sign in).
    subject: str | None
    username: str
    display_name: str
    email: str | None
    groups: tuple[Group, ...]


class Directory:
    """The directory one provider's settings describe."""

    def __init__(self, config: LdapConfig) -> None:
        self.config = config
        tls = CheckedTls(tls_context(config))
        self._servers: list[Server] = []
        for url in config.url:
            parts = urlsplit(url)
            self._servers.append(
                Server(
                    parts.hostname or "",
                    port=parts.port or DEFAULT_PORTS[parts.scheme],
                    use_ssl=parts.scheme == "ldaps",
                    tls=tls,
                    get_info="NO_INFO",
                    connect_timeout=config.timeout_seconds,
                )
            )

    # -- what the provider asks ----------------------------------------------------------

    def check_password(self, username: str, password: str) -> Person | None:
        """The person whose name and password these are, or None."""
        if self.config.searches:
            return self._search_then_bind(username, password)
        return self._bind_as_person(username, password)

    def still_holds(self, subject: str) -> bool:
        """Whether the entry ``subject`` names is still there, still found by
        ``user_filter``, not locked by an administrator and, with ``allowed_groups``,
        in one of them (search-then-bind only)."""
        with self._service() as connection:
            entry = self._entry_of(connection, subject)
            if entry is None:
                return False
            if LOCKED_BY_ADMINISTRATOR in _values(entry, "pwdAccountLockedTime"):
                return False
            username = _first(entry, self.config.username_attribute) or ""
            found = self._find(connection, username) if username else None
            if found is None or found["dn"].lower() != entry["dn"].lower():
                return False
            groups = self._groups(connection, entry["dn"], username)
            return self.allowed(groups)

    def allowed(self, groups: tuple[Group, ...]) -> bool:
        return not self.config.allowed_groups or bool(matching(groups, self.config.allowed_groups))

    # -- the two ways to bind ------------------------------------------------------------

    def _bind_as_person(self, username: str, password: str) -> Person | None:
        assert self.config.user_dn_template is not None
        dn = self.config.user_dn_template.format(username=escape_rdn(username))
        with self._connection() as connection:
            if not _bind(connection, dn, password):
                return None
            # Read as the person: their own entry, and the groups they may see.
            entry = _base_entry(connection, dn, self._person_attributes())
            if entry is None:
                raise DirectoryError(
                    f"{dn} signed in but cannot read its own entry: the directory's access "
                    "rules must let people read their entries (and the groups)."
                )
            return self._person(connection, entry, username)

    def _search_then_bind(self, username: str, password: str) -> Person | None:
        assert self.config.user_base is not None
        with self._service() as connection:
            entry = self._find(connection, username)
            with self._connection() as checking:
                if entry is None:
                    # Bind all the same (as nobody) so that a name the directory does
                    # not know is not answered visibly sooner than a wrong password.
                    nobody = f"cn={secrets.token_hex(8)},{self.config.user_base}"
                    with contextlib.suppress(DirectoryError, PolicyRefused):
                        _bind(checking, nobody, password)
                    return None
                if not _bind(checking, entry["dn"], password):
                    return None
            return self._person(connection, entry, username)

    # -- searches ------------------------------------------------------------------------

    def _person_attributes(self) -> list[str]:
        config = self.config
        return [
            config.username_attribute,
            config.display_name_attribute,
            config.email_attribute,
            # Operational (entryUUID, nsUniqueId): returned only when named.
            config.subject_attribute,
            "pwdAccountLockedTime",
        ]

    def _find(self, connection: Connection, username: str) -> dict[str, Any] | None:
        """The one entry ``user_filter`` finds for ``username`` (None: none, or several)."""
        assert self.config.user_base is not None
        query = self.config.user_filter.format(username=escape_filter_chars(username))
        entries = _search(
            connection, self.config.user_base, query, self._person_attributes(), size_limit=2
        )
        if len(entries) > 1:
            log.warning("user_filter finds several entries for %r: none of them signs in", username)
            return None
        return entries[0] if entries else None

    def _entry_of(self, connection: Connection, subject: str) -> dict[str, Any] | None:
        """The one entry under ``user_base`` whose subject is ``subject``."""
        assert self.config.user_base is not None
        attribute = self.config.subject_attribute
        query = _subject_filter(attribute, subject)
        if query is None:
            return None
        entries = _search(
            connection, self.config.user_base, query, self._person_attributes(), size_limit=2
        )
        # Read back as at sign-in: the filter's matching rule may be looser than equality.
        found = [entry for entry in entries if subject_of(entry, attribute) == subject]
        return found[0] if len(found) == 1 else None

    def _groups(self, connection: Connection, dn: str, username: str) -> tuple[Group, ...]:
        config = self.config
        if not config.group_base:
            return ()
        query = config.group_filter.format(
            dn=escape_filter_chars(dn), username=escape_filter_chars(username)
        )
        entries = _search(connection, config.group_base, query, [config.group_name_attribute])
        return tuple(
            Group(name=_first(entry, config.group_name_attribute) or "", dn=entry["dn"])
            for entry in entries
        )

    def _person(self, connection: Connection, entry: dict[str, Any], typed: str) -> Person:
        config = self.config
        names = _values(entry, config.username_attribute)
        # The value the person typed, as the directory spells it; else its first.
        username = next((name for name in names if name.lower() == typed.lower()), None)
        username = username or (names[0] if names else typed)
        return Person(
            dn=entry["dn"],
            subject=subject_of(entry, config.subject_attribute),
            username=username,
            display_name=_first(entry, config.display_name_attribute) or "",
            email=_first(entry, config.email_attribute),
            groups=self._groups(connection, entry["dn"], username),
        )

    # -- connections ---------------------------------------------------------------------

    @contextlib.contextmanager
    def _service(self) -> Iterator[Connection]:
        """A connection bound as the service account."""
        assert self.config.bind_dn is not None
        with self._connection() as connection:
            try:
                password = self.config.service_password()
            except OSError as exc:
                raise DirectoryError(f"bind_password_file cannot be read: {exc}") from None
            try:
                bound = _bind(connection, self.config.bind_dn, password)
            except PolicyRefused as refused:
                bound, detail = False, f" ({refused.error.name})"
            else:
                detail = ""
            if not bound:
                raise DirectoryError(
                    f"the service account {self.config.bind_dn} was refused{detail}: check "
                    "bind_dn and its password"
                )
            yield connection

    @contextlib.contextmanager
    def _connection(self) -> Iterator[Connection]:
        """An open connection (TLS started where asked) to the first server that answers;
        closed at the end. Failures of the network and of TLS become :class:`Unreachable`."""
        try:
            connection = self._open()
            try:
                yield connection
            finally:
                with contextlib.suppress(LDAPException, OSError):
                    connection.unbind()
        except (LDAPCommunicationError, LDAPBindError, OSError) as exc:
            # A server that stops answering halfway (a receive timeout).
            raise Unreachable(str(exc), tls=_is_tls(exc)) from exc

    def _open(self) -> Connection:
        failures: list[str] = []
        tls = False
        for server in self._servers:
            connection = Connection(
                server,
                authentication=SIMPLE,
                receive_timeout=self.config.timeout_seconds,
                raise_exceptions=False,
                read_only=True,
                auto_referrals=False,
            )
            try:
                connection.open(read_server_info=False)
                if self.config.start_tls:
                    connection.start_tls(read_server_info=False)
            except (LDAPException, OSError) as exc:
                with contextlib.suppress(LDAPException, OSError):
                    connection.unbind()
                tls = tls or _is_tls(exc)
                failures.append(f"{server.host}:{server.port}: {exc}")
                continue
            return connection
        raise Unreachable("; ".join(failures), tls=tls)


def _bind(connection: Connection, dn: str, password: str) -> bool:
    """Whether ``password`` is ``dn``'s; :class:`PolicyRefused` when the password policy
    says the account may not be used (locked, expired, to be changed first)."""
    connection.rebind(
        user=dn,
        password=password,
        authentication=SIMPLE,
        read_server_info=False,
        controls=[ppolicy.REQUEST],
    )
    result: dict[str, Any] = connection.result
    try:
        policy = ppolicy.from_result(result)
    except ppolicy.BadControl as exc:
        log.warning("The directory's password policy response for %s is unreadable: %s", dn, exc)
        policy = None
    code = result.get("result")
    if policy is not None and policy.error in REFUSING:
        raise PolicyRefused(policy.error)
    if code == SUCCESS:
        if policy is not None and policy.seconds_before_expiration is not None:
            log.info(
                "The directory password of %s expires in %d seconds",
                dn,
                policy.seconds_before_expiration,
            )
        return True
    if code == INVALID_CREDENTIALS:
        return False
    raise DirectoryError(
        f"binding as {dn} was answered {result.get('description')} ({code}): "
        f"{result.get('message') or 'no message'}"
    )


def _search(
    connection: Connection,
    base: str,
    query: str,
    attributes: list[str],
    *,
    size_limit: int = 0,
) -> list[dict[str, Any]]:
    """The entries found (not references), their attributes decoded as UTF-8."""
    connection.search(base, query, SUBTREE, attributes=attributes, size_limit=size_limit)
    return _entries(connection, f"searching {base} for {query}")


def _base_entry(connection: Connection, dn: str, attributes: list[str]) -> dict[str, Any] | None:
    connection.search(dn, "(objectClass=*)", BASE, attributes=attributes)
    if connection.result.get("result") == NO_SUCH_OBJECT:
        return None
    entries = _entries(connection, f"reading {dn}")
    return entries[0] if entries else None


def _entries(connection: Connection, what: str) -> list[dict[str, Any]]:
    result: dict[str, Any] = connection.result
    code = result.get("result")
    if code == SIZE_LIMIT_EXCEEDED:
        log.warning("The directory's size limit cut %s short", what)
    elif code != SUCCESS:
        raise DirectoryError(
            f"{what} was answered {result.get('description')} ({code}): "
            f"{result.get('message') or 'no message'}"
        )
    found = []
    for item in connection.response or []:
        if item.get("type") != "searchResEntry":
            continue
        raw: dict[str, list[bytes]] = item.get("raw_attributes") or {}
        found.append(
            {
                "dn": item["dn"],
                "attributes": {
                    name.lower(): [value.decode("utf-8", "replace") for value in values]
                    for name, values in raw.items()
                },
                "raw": {name.lower(): values for name, values in raw.items()},
            }
        )
    return found


def _values(entry: dict[str, Any], attribute: str) -> list[str]:
    values: list[str] = entry["attributes"].get(attribute.lower(), [])
    return values


def _first(entry: dict[str, Any], attribute: str) -> str | None:
    values = _values(entry, attribute)
    return values[0] if values else None


def subject_of(entry: dict[str, Any], attribute: str) -> str | None:
    """The entry's ``attribute`` as a subject: its text, or its bytes in hex when they are
    not UTF-8 text, and always for Active Directory's ``objectGUID`` (16 bytes that may
    happen to be). None when the entry has none."""
    values: list[bytes] = entry["raw"].get(attribute.lower(), [])
    if not values:
        return None
    value = values[0]
    if attribute.lower() in BINARY_SUBJECTS:
        return value.hex()
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return value.hex()
    return text if text.isprintable() else value.hex()


def _subject_filter(attribute: str, subject: str) -> str | None:
    """A filter finding the entries whose ``attribute`` :func:`subject_of` may read as
    ``subject``: its text, or the bytes its hex spells (escaped byte by byte). None: no
    value can (not hex, for a binary attribute)."""
    forms = [] if attribute.lower() in BINARY_SUBJECTS else [escape_filter_chars(subject)]
    if re.fullmatch("(?:[0-9a-f]{2})+", subject):
        forms.append("".join(f"\\{byte:02x}" for byte in bytes.fromhex(subject)))
    if not forms:
        return None
    if len(forms) == 1:
        return f"({attribute}={forms[0]})"
    return "(|" + "".join(f"({attribute}={form})" for form in forms) + ")"


def matching(groups: tuple[Group, ...], wanted: list[str]) -> list[str]:
    """Which of ``wanted`` (group names or DNs, any case) ``groups`` holds."""
    held = {group.name.lower() for group in groups} | {group.dn.lower() for group in groups}
    return [name for name in wanted if name.lower() in held]


def _is_tls(exc: BaseException) -> bool:
    """Whether ``exc`` is a failure of TLS (or holds one: ldap3 gathers the failures of a
    host name's several addresses in a list of (exception, address))."""
    if isinstance(exc, ssl.SSLError | LDAPCertificateError | LDAPStartTLSError):
        return True
    return any(
        isinstance(item, tuple) and isinstance(item[0], BaseException) and _is_tls(item[0])
        for argument in exc.args
        if isinstance(argument, list)
        for item in argument
    )
