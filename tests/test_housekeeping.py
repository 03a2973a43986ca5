"""Clean-up of ended sessions, dead tokens and old audit events."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from labgate import housekeeping
from labgate.db.engine import Database
from labgate.db.models import ApiToken, AuditEvent, LoginSession
from labgate.db.types import utcnow
from labgate.settings import Settings
from tests.support.accounts import AccountFactory


async def count(database: Database, model: type) -> int:
    async with database.session() as db:
        return int(await db.scalar(select(func.count()).select_from(model)) or 0)


async def test_old_rows_go_and_live_ones_stay(
    accounts: AccountFactory, database: Database, settings: Settings
) -> None:
    alive = await accounts.login("alice")
    old = await accounts.login("bob")
    await alive.post("/api/v1/tokens", json={"name": "keep"})
    await old.post("/api/v1/tokens", json={"name": "dead"})
    long_ago = utcnow() - timedelta(days=400)
    async with database.session() as db:
        await db.execute(
            update(LoginSession)
            .where(LoginSession.client == "127.0.0.1")
            .where(LoginSession.user_id == old.user["id"])
            .values(expires_at=long_ago)
        )
        await db.execute(
            update(ApiToken).where(ApiToken.name == "dead").values(revoked_at=long_ago)
        )
        await db.execute(update(AuditEvent).where(AuditEvent.target == "bob").values(at=long_ago))
    before = await count(database, AuditEvent)
    async with database.session() as db:
        removed = await housekeeping.clean_up(db, settings)
    assert removed.sessions == 1
    assert removed.tokens == 1
    assert removed.audit_events >= 1
    assert await count(database, LoginSession) == 1
    assert await count(database, ApiToken) == 1
    assert await count(database, AuditEvent) == before - removed.audit_events
    assert (await alive.get("/api/v1/users/me")).status_code == 200
    async with database.session() as db:
        assert await housekeeping.clean_up(db, settings) == housekeeping.Removed(0, 0, 0, 0)


async def test_retention_zero_keeps_the_audit_log(
    accounts: AccountFactory, database: Database, settings: Settings
) -> None:
    await accounts.login("alice")
    async with database.session() as db:
        await db.execute(update(AuditEvent).values(at=utcnow() - timedelta(days=4000)))
    keep_all = settings.model_copy(update={"audit_retention_days": 0})
    async with database.session() as db:
        assert (await housekeeping.clean_up(db, keep_all)).audit_events == 0
    assert await count(database, AuditEvent) > 0
