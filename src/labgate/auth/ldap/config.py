"""The settings of an LDAP provider (``[auth.ldap]``), checked when the server starts."""

from __future__ import annotations

import re
import ssl
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from labgate.accounts.names import valid_name
from labgate.auth.providers import ProviderConfig
from labgate.db.models import Role

DEFAULT_PORTS = {"ldap": 389, "ldaps": 636}
#: An attribute's name (or its OID), as it may stand in a filter.
ATTRIBUTE = r"[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)+"
#: Attributes that hold an entry's DN: never a subject (a DN is reused for the next
#: person of that name).
DN_ATTRIBUTES = frozenset({"entrydn", "distinguishedname", "dn"})


class LdapConfig(ProviderConfig):
    """How to reach the directory, how to find and check a person, and what their groups
    mean in labgate (docs/admin-guide.md, *LDAP*)."""

    label: str = "Directory"
    #: ``ldap://host:389`` or ``ldaps://host:636``; several are tried in order (failover).
    url: list[str] = Field(min_length=1)
    #: Upgrade ``ldap://`` connections with StartTLS before anything is sent.
    start_tls: bool = False
    #: The CA certificates (PEM) the server's certificate is checked against; unset: the
    #: system's.
    ca_file: Path | None = None
    #: False accepts any certificate (unsafe: anyone on the path can read passwords).
    tls_verify: bool = True
    #: For connecting, and for each answer.
    timeout_seconds: int = Field(10, ge=1, le=300)
    #: At most this many questions to the directory at once (each in a thread of its own,
    #: with one or two connections); more wait for a thread.
    max_concurrent: int = Field(8, ge=1, le=64)

    # Bind as the person: their DN from their user name ...
    user_dn_template: str | None = None
    # ... or search for them with a service account, then bind as them.
    bind_dn: str | None = None
    bind_password: SecretStr | None = None
    bind_password_file: Path | None = None
    user_base: str | None = None
    user_filter: str = "(&(objectClass=inetOrgPerson)(uid={username}))"

    username_attribute: str = "uid"
    display_name_attribute: str = "cn"
    email_attribute: str = "mail"
    #: The attribute that names a person for good: the identity's subject. It must never
    #: be given to someone else (a DN or a login name is, to the next person of that
    #: name). OpenLDAP: ``entryUUID``; Active Directory: ``objectGUID`` (read as hex);
    #: 389 Directory Server: ``nsUniqueId``. An entry without it cannot sign in.
    subject_attribute: str = "entryUUID"
    #: Whether ``email_attribute`` is an address the directory's administrators vouch
    #: for (only then does it name the person as an experiment's member; where people
    #: may edit their own ``mail``, leave it false).
    trust_email: bool = False
    #: Whether the directory is the server machine's own account source (through sssd or
    #: nslcd), so that its ``uid`` "bob" IS the OS account "bob". Otherwise a first
    #: sign-in under the name of an existing OS account is refused: on ``local`` it would
    #: get that account's files.
    names_are_os_accounts: bool = False

    group_base: str | None = None
    group_filter: str = "(&(objectClass=groupOfNames)(member={dn}))"
    group_name_attribute: str = "cn"
    #: LDAP group (name or DN) -> role; the highest of a person's groups wins, and one
    #: in none of them is a ``user``. Empty: the directory decides no role.
    roles: dict[str, Role] = Field(default_factory=dict)
    #: LDAP group (name or DN) -> labgate group, whose memberships follow the directory.
    groups: dict[str, str] = Field(default_factory=dict)
    #: Only members of one of these LDAP groups (names or DNs) may sign in. Empty: all.
    allowed_groups: list[str] = Field(default_factory=list)

    @field_validator("url", mode="before")
    @classmethod
    def _one_or_several(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("url")
    @classmethod
    def _ldap_urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            try:
                parts = urlsplit(url)
                parts.port  # noqa: B018  (raises on a port that is not a number)
            except ValueError as exc:
                raise ValueError(f"'{url}' is not a URL ({exc}).") from None
            if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
                raise ValueError(f"'{url}' is not an ldap://host:port or ldaps://host:port URL.")
            if parts.path.strip("/") or parts.query or parts.fragment or parts.username:
                raise ValueError(f"'{url}': give only the scheme, host and port.")
        return urls

    @field_validator("subject_attribute")
    @classmethod
    def _never_reused(cls, attribute: str) -> str:
        if not re.fullmatch(ATTRIBUTE, attribute):
            raise ValueError(f"'{attribute}' is not an attribute's name (nor its OID).")
        if attribute.lower() in DN_ATTRIBUTES:
            raise ValueError(
                f"{attribute} holds the entry's DN, which the next person of the same name "
                "gets: name an attribute that is never reused (entryUUID, objectGUID, "
                "nsUniqueId)."
            )
        return attribute

    @field_validator("groups")
    @classmethod
    def _labgate_group_names(cls, groups: dict[str, str]) -> dict[str, str]:
        for name in groups.values():
            if not valid_name(name):
                raise ValueError(
                    f"'{name}' cannot be a labgate group name (1-32 characters: lower-case "
                    "letters, digits, '_', '.' or '-', starting with a letter or '_')."
                )
        return groups

    @model_validator(mode="after")
    def _one_way_to_bind(self) -> Self:
        if (self.user_dn_template is None) == (self.bind_dn is None):
            raise ValueError(
                "Set either user_dn_template (bind as the person) or bind_dn with "
                "bind_password or bind_password_file and user_base (search with a service "
                "account, then bind as the person), not both nor neither."
            )
        if self.user_dn_template is not None:
            if "{username}" not in self.user_dn_template:
                raise ValueError("user_dn_template must hold {username}.")
            if self.bind_password or self.bind_password_file or self.user_base:
                raise ValueError(
                    "bind_password, bind_password_file and user_base are for searching with "
                    "a service account (bind_dn); with user_dn_template, leave them out."
                )
        else:
            if (self.bind_password is None) == (self.bind_password_file is None):
                raise ValueError("With bind_dn, set bind_password or bind_password_file.")
            if not self.user_base:
                raise ValueError("With bind_dn, set user_base (where people are searched).")
            if "{username}" not in self.user_filter:
                raise ValueError("user_filter must hold {username}.")
        if self.bind_password_file is not None and not self.bind_password_file.is_file():
            raise ValueError(f"bind_password_file {self.bind_password_file} is not a file.")
        if self.ca_file is not None:
            _certificates_in(self.ca_file)
        if self.start_tls and any(url.startswith("ldaps:") for url in self.url):
            raise ValueError("start_tls is for ldap:// URLs; ldaps:// is TLS already.")
        if (self.roles or self.groups or self.allowed_groups) and not self.group_base:
            raise ValueError("roles, groups and allowed_groups need group_base.")
        if "{dn}" not in self.group_filter and "{username}" not in self.group_filter:
            raise ValueError("group_filter must hold {dn} or {username}.")
        _fills("user_dn_template", self.user_dn_template or "", "username")
        _fills("user_filter", self.user_filter, "username")
        _fills("group_filter", self.group_filter, "dn", "username")
        return self

    @property
    def searches(self) -> bool:
        """Search-then-bind with a service account (else: bind as the person)."""
        return self.bind_dn is not None

    @property
    def encrypted(self) -> bool:
        """Whether passwords travel over TLS to every server."""
        return self.start_tls or all(url.startswith("ldaps:") for url in self.url)

    def service_password(self) -> str:
        """The service account's password (read from its file each time it is asked)."""
        if self.bind_password is not None:
            return self.bind_password.get_secret_value()
        assert self.bind_password_file is not None
        return self.bind_password_file.read_text().strip("\r\n")


def _certificates_in(path: Path) -> None:
    """Refuse a ``ca_file`` that is missing or holds no certificate."""
    if not path.is_file():
        raise ValueError(f"ca_file {path} is not a file.")
    try:
        ssl.create_default_context(cafile=str(path))
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise ValueError(f"ca_file {path} holds no PEM certificate we can read ({exc}).") from None


def _fills(setting: str, template: str, *names: str) -> None:
    """Refuse a template with a placeholder other than ``names`` (or a stray brace)."""
    try:
        template.format(**dict.fromkeys(names, "x"))
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(
            f"{setting} may hold only {', '.join('{' + name + '}' for name in names)} "
            f"in braces ({type(exc).__name__}: {exc})."
        ) from None
