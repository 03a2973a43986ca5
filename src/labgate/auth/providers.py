"""Authentication providers: who may vouch for a user name and password.

A provider is a small class registered under the ``labgate.auth_providers`` entry-point
group; the built-in ``local`` provider is registered the same way (see pyproject.toml),
so PAM, LDAP or OpenID Connect can be added as plug-ins without touching the rest.
Settings choose which providers are active, and in which order they are asked.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Protocol, runtime_checkable

from sqlalchemy.ext.asyncio import AsyncSession

from labgate.db.models import User
from labgate.errors import ConfigurationError
from labgate.settings import Settings

ENTRY_POINT_GROUP = "labgate.auth_providers"


@runtime_checkable
class AuthProvider(Protocol):
    """Checks credentials and returns the labgate account they belong to."""

    name: str
    label: str

    async def authenticate(self, db: AsyncSession, username: str, password: str) -> User | None:
        """The user whose credentials these are, or None. Must not reveal (by error or by
        timing) whether the account exists. A provider may create the account on first
        login (for directory services)."""
        ...


def available_providers() -> dict[str, type[AuthProvider]]:
    return {ep.name: ep.load() for ep in entry_points(group=ENTRY_POINT_GROUP)}


def load_providers(settings: Settings) -> list[AuthProvider]:
    known = available_providers()
    providers: list[AuthProvider] = []
    for name in settings.auth_providers:
        if name not in known:
            raise ConfigurationError(
                f"Unknown authentication provider '{name}'. Installed: {', '.join(sorted(known))}."
            )
        providers.append(known[name](settings))  # type: ignore[call-arg]
    return providers
