"""Sign-in providers: who may vouch for a person, and how labgate asks them.

A provider is a small class a plug-in registers through the ``register_auth_providers``
hook (``labgate.plugins``); the built-ins are registered the same way: ``local``
(``labgate.auth.local``, labgate's own password hashes), ``pam`` (``labgate.auth.pam``),
``ldap`` (``labgate.auth.ldap``) and ``oidc`` (``labgate.auth.oidc``). The setting
``auth_providers`` names the active ones, in order, and ``auth.<name>`` holds each one's
own settings (:class:`ProviderConfig`); a name that is no provider's is a section whose
``kind`` names one, so one kind serves twice (two OpenID providers).

There are two kinds of provider:

- a :class:`PasswordProvider` checks what the login form sends (a user name and
  password), maybe asking further prompts (a second factor: :class:`MoreNeeded`);
- a :class:`RedirectProvider` sends the browser to an identity provider and reads what
  comes back (OpenID Connect): a button on the login page.

Either vouches for a person with a :class:`Vouched`; labgate.accounts.identities turns that
into the labgate account it signs in as (found by the identity, or created on first
sign-in with the provider's mapping). A provider that can tell later whether an identity
still holds (:class:`Rechecking`) is asked every ``identity_recheck_minutes``
(labgate.accounts.recheck: it disables accounts, so it lives above auth/).

Refusals the person should read (an account locked at the directory, a provider that
cannot be reached) are raised as :class:`SignInRefused` with a sentence; a plain
``None`` means "not these credentials" and becomes "Wrong user name or password", so a
provider never reveals whether an account exists.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, ValidationError

from labgate.db.engine import Database
from labgate.db.models import Role
from labgate.errors import ConfigurationError, LabgateError
from labgate.plugins.manager import Plugins
from labgate.settings import Settings


class SignInRefused(LabgateError):
    """The provider refused the person for a reason they should read (shown on the login
    page as it is): an account locked or expired at the directory, a second factor
    wrong, a state that does not match. Never for a wrong password alone."""

    code = "sign_in_refused"
    status = 401


class ProviderUnavailable(LabgateError):
    """The provider cannot be asked (a directory server down, an OpenID provider not
    answering): the person should try again later or another way."""

    code = "identity_provider_unavailable"
    status = 503


@dataclass(frozen=True)
class Vouched:
    """Who a provider vouches for, and what its mapping says about them."""

    #: The provider's name in ``auth_providers``.
    provider: str
    #: The provider's stable name for the person, never given to someone else (OpenID
    #: ``sub``, an LDAP entry's entryUUID, a PAM ``name:uid``): an identity is found by
    #: (provider, subject).
    subject: str
    #: The labgate user name they get when their account is created (lower case, the
    #: rules of labgate.accounts.names; a taken name refuses the sign-in, never takes
    #: over the account that has it).
    username: str
    #: For people to read in the console (a login name, an e-mail).
    label: str = ""
    display_name: str = ""
    #: The person's address, as the provider has it ...
    email: str | None = None
    #: ... and whether the provider vouches for it (only then is it an administrator-given
    #: address, ``users.email_verified``, which names people as experiments' members: a
    #: directory where people edit their own ``mail`` must not say so).
    email_verified: bool = True
    #: Whether the provider is the authority over ``username`` as an OS account name of
    #: the server's machine (PAM always; a directory that is the machine's account source,
    #: when its settings say so). Otherwise a first sign-in under the name of an existing
    #: OS account is refused: on ``local`` that account would be theirs.
    name_is_os_account: bool = False
    #: The labgate groups the mapping puts them in ...
    groups: frozenset[str] = frozenset()
    #: ... out of those it decides: memberships of these follow ``groups`` at every
    #: sign-in; other groups are the administrators' business.
    managed_groups: frozenset[str] = frozenset()
    #: The role the mapping gives; None: a new account is a user, an existing one keeps
    #: its role.
    role: Role | None = None
    #: An account the provider already knows (``local`` checks labgate's own accounts):
    #: no identity row, no mapping.
    user_id: int | None = None
    #: What re-checking needs later (an OpenID refresh token); sealed before storage.
    recheck_secret: bytes | None = None

    @classmethod
    def account(cls, user_id: int) -> Vouched:
        """A labgate account vouched for as it is (no identity, no mapping)."""
        return cls("", "", "", user_id=user_id)


@dataclass(frozen=True)
class Prompt:
    """A further question the provider asks (PAM's conversation): its text as the
    provider words it, and whether the answer may be shown while typed."""

    text: str
    echo: bool = False


@dataclass
class MoreNeeded:
    """The provider asks further prompts before it decides (a second factor). The login
    page shows ``messages`` and ``prompts`` and sends the answers, in order, to
    ``answer``, which decides or asks again. ``cancel`` ends the attempt (the person
    gave up, or ``login_step_seconds`` passed); each is called at most once."""

    prompts: list[Prompt]
    answer: Callable[[list[str]], Awaitable[Vouched | MoreNeeded | None]]
    cancel: Callable[[], Awaitable[None]]
    messages: list[str] = field(default_factory=list)


#: What a password provider answers: an account id (a plain labgate account, the form of
#: providers written before identities), who it vouches for, further prompts, or None.
PasswordOutcome = int | Vouched | MoreNeeded | None


class ProviderConfig(BaseModel):
    """What every provider's section may hold; a provider's own settings class extends
    it (``extra`` fields are refused, so a misspelt setting stops the server)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The provider, when the section's name is not one (``kind = "oidc"``).
    kind: str = ""
    #: Its name on the login page ("Helmholtz AAI", "University account").
    label: str = ""


@runtime_checkable
class AuthProvider(Protocol):
    """What every provider has. ``name`` is the instance's name in ``auth_providers``
    (set by :func:`load_providers`), ``label`` its name on the login page."""

    kind: ClassVar[Literal["password", "redirect"]]
    name: str
    label: str


@runtime_checkable
class PasswordProvider(AuthProvider, Protocol):
    """Checks what the login form sends."""

    async def authenticate(
        self, database: Database, username: str, password: str
    ) -> PasswordOutcome:
        """Who these credentials are, or None. Must not reveal (by error or by timing)
        whether the account exists.

        Checking a password is slow (a hash, a directory server): never do it while
        holding a database connection. Read what is needed in a short transaction of
        ``database``, let it go, check, then write (if at all) in another short one;
        otherwise a burst of logins stalls every other user's requests."""
        ...


@dataclass(frozen=True)
class Redirect:
    """Where a redirect provider sends the browser, and what it must find again when the
    browser comes back (kept sealed in a short-lived cookie bound to this browser, so any
    replica can finish the sign-in)."""

    url: str
    flow: dict[str, str]


@runtime_checkable
class RedirectProvider(AuthProvider, Protocol):
    """Sends the browser to an identity provider and reads what comes back."""

    async def begin(self, callback_url: str) -> Redirect:
        """Where to send the browser; ``callback_url`` is where the provider must send it
        back (labgate's ``/api/v1/auth/providers/<name>/callback``)."""
        ...

    async def finish(
        self, flow: Mapping[str, str], params: Mapping[str, str], callback_url: str
    ) -> Vouched:
        """Who came back: ``flow`` is what :meth:`begin` kept, ``params`` the callback's
        query. Raises :class:`SignInRefused` (with what went wrong, for the login page)
        or :class:`ProviderUnavailable`."""
        ...

    async def logout_url(self, after_url: str) -> str | None:
        """Where to send the browser to sign out at the provider too (None: nowhere),
        coming back to ``after_url``. (It may have to ask the provider where that is.)"""
        ...


@dataclass(frozen=True)
class Recheck:
    """A re-check's answer: whether the identity holds (None: the provider could not be
    asked; nothing changes), and a new secret to keep (a rotated refresh token)."""

    holds: bool | None
    secret: bytes | None = None


@runtime_checkable
class Rechecking(Protocol):
    """A provider that can tell later whether an identity still holds."""

    async def recheck(self, subject: str, secret: bytes | None) -> Recheck: ...


#: Of the roles a person's groups or claims give, the highest is theirs.
_RANK = {Role.GUEST: 0, Role.USER: 1, Role.STAFF: 2, Role.ADMIN: 3}


def mapped_role(decides: bool, given: Iterable[Role]) -> Role | None:
    """The role a mapping gives: None when it decides no roles (an account keeps its
    own); else the highest of ``given``, and ``user`` when none is given, so that someone
    taken out of the administrators' group stops being one at their next sign-in."""
    if not decides:
        return None
    return max(given, key=_RANK.__getitem__, default=Role.USER)


def kind_of(provider: object) -> Literal["password", "redirect"]:
    kind: Literal["password", "redirect"] = getattr(provider, "kind", "password")
    return kind


def load_providers(settings: Settings, plugins: Plugins) -> list[AuthProvider]:
    """The providers ``settings.auth_providers`` names, in that order, each made with its
    section of ``settings.auth``."""
    known = plugins.auth_providers()
    unused = set(settings.auth) - set(settings.auth_providers)
    if unused:
        raise ConfigurationError(
            f"auth.{sorted(unused)[0]}: no provider of that name is in auth_providers "
            f"({', '.join(settings.auth_providers)})."
        )
    providers: list[AuthProvider] = []
    for name in settings.auth_providers:
        options = settings.auth.get(name, {})
        kind = str(options.get("kind") or name)
        if kind not in known:
            raise ConfigurationError(
                f"Unknown authentication provider '{kind}'"
                + (f" (auth.{name}.kind)" if kind != name else "")
                + f". Installed: {', '.join(sorted(known))}."
            )
        providers.append(_make(known[kind], settings, name, options))
    return providers


def _make(cls: type[Any], settings: Settings, name: str, options: Mapping[str, Any]) -> Any:
    """One provider: ``cls(settings, config)`` with its settings read by its ``Config``
    class (a :class:`ProviderConfig`), or ``cls(settings)`` for a provider with none."""
    config_class: type[ProviderConfig] | None = getattr(cls, "Config", None)
    if config_class is None:
        if set(options) - {"kind", "label"}:
            raise ConfigurationError(f"auth.{name}: the provider '{cls.name}' has no settings.")
        provider = cls(settings)
    else:
        try:
            config = config_class.model_validate(dict(options))
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(part) for part in problem["loc"])
            raise ConfigurationError(f"auth.{name}.{where}: {problem['msg']}") from exc
        provider = cls(settings, config)
    provider.name = name
    label = options.get("label")
    if label:
        provider.label = str(label)
    return provider
