"""Authentication providers: who may vouch for a user name and password.

A provider is a small class a plug-in registers through the ``register_auth_providers``
hook (``labgate.plugins``); the built-in ``local`` provider is registered the same way
(``labgate.auth.local``), so PAM, LDAP or OpenID Connect can be added as plug-ins without
touching the rest.
Settings choose which providers are active, and in which order they are asked.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from labgate.db.engine import Database
from labgate.errors import ConfigurationError
from labgate.plugins.manager import Plugins
from labgate.settings import Settings


@runtime_checkable
class AuthProvider(Protocol):
    """Checks credentials and returns the labgate account they belong to."""

    name: str
    label: str

    async def authenticate(self, database: Database, username: str, password: str) -> int | None:
        """The id of the user whose credentials these are, or None. Must not reveal (by
        error or by timing) whether the account exists. A provider may create the account
        on first login (for directory services).

        Checking a password is slow (a hash, a directory server): never do it while
        holding a database connection. Read what is needed in a short transaction of
        ``database``, let it go, check, then write (if at all) in another short one;
        otherwise a burst of logins stalls every other user's requests."""
        ...


def load_providers(settings: Settings, plugins: Plugins) -> list[AuthProvider]:
    """The providers ``settings.auth_providers`` names, in that order."""
    known = plugins.auth_providers()
    providers: list[AuthProvider] = []
    for name in settings.auth_providers:
        if name not in known:
            raise ConfigurationError(
                f"Unknown authentication provider '{name}'. Installed: {', '.join(sorted(known))}."
            )
        providers.append(known[name](settings))
    return providers
