"""The built-in provider: accounts with argon2 password hashes in labgate's database."""

from __future__ import annotations

from typing import ClassVar, Literal

from sqlalchemy import select, update

from labgate.auth.passwords import hash_password, needs_rehash, verify_password
from labgate.auth.sessions import LOCAL_PROVIDER
from labgate.db.engine import Database
from labgate.db.models import User
from labgate.plugins import hookimpl
from labgate.settings import Settings


class LocalProvider:
    kind: ClassVar[Literal["password"]] = "password"
    name = LOCAL_PROVIDER
    label = "labgate account"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def authenticate(self, database: Database, username: str, password: str) -> int | None:
        async with database.read() as db:
            found = (
                await db.execute(
                    select(User.id, User.password_hash).where(
                        User.username == username, User.auth_provider == self.name
                    )
                )
            ).first()
        # Hashing happens here, with the connection back in the pool.
        user_id, stored = (None, None) if found is None else (found.id, found.password_hash)
        if not await verify_password(stored, password) or user_id is None:
            return None
        if stored is not None and needs_rehash(stored):
            upgraded = await hash_password(password)
            async with database.session() as db:
                # Unless the password was changed meanwhile.
                await db.execute(
                    update(User)
                    .where(User.id == user_id, User.password_hash == stored)
                    .values(password_hash=upgraded)
                )
        return int(user_id)


@hookimpl
def register_auth_providers() -> list[type[LocalProvider]]:
    return [LocalProvider]
