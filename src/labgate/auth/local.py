"""The built-in provider: accounts with argon2 password hashes in labgate's database."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from labgate.auth.passwords import hash_password, needs_rehash, verify_password
from labgate.db.models import User
from labgate.settings import Settings


class LocalProvider:
    name = "local"
    label = "labgate account"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def authenticate(self, db: AsyncSession, username: str, password: str) -> User | None:
        user = await db.scalar(
            select(User).where(User.username == username, User.auth_provider == self.name)
        )
        stored = user.password_hash if user is not None else None
        if not await verify_password(stored, password) or user is None:
            return None
        if stored is not None and needs_rehash(stored):
            user.password_hash = await hash_password(password)
        return user
