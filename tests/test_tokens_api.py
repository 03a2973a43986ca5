"""API tokens: creation, scopes, expiry and revocation."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from labgate.db.engine import Database
from labgate.db.models import ApiToken, Role
from labgate.db.types import utcnow
from tests.support.accounts import AccountFactory, LoggedIn


async def make_token(owner: LoggedIn, **body: object) -> tuple[int, str]:
    response = await owner.post("/api/v1/tokens", json={"name": "script", **body})
    assert response.status_code == 201, response.text
    created = response.json()
    return created["token"]["id"], created["secret"]


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def test_a_token_authenticates_without_cookie_or_csrf(
    accounts: AccountFactory, database: Database
) -> None:
    alice = await accounts.login("alice")
    token_id, secret = await make_token(alice, scopes=["read", "write"])
    assert secret.startswith("lgt_")
    script = accounts.anonymous()
    me = await script.get("/api/v1/users/me", headers=bearer(secret))
    assert me.status_code == 200
    assert me.json()["username"] == "alice"
    changed = await script.patch(
        "/api/v1/preferences", json={"preferences": {"theme": "light"}}, headers=bearer(secret)
    )
    assert changed.status_code == 200
    # Only a hash is stored; the listing shows a recognisable prefix, never the secret.
    async with database.session() as db:
        row = await db.scalar(select(ApiToken).where(ApiToken.id == token_id))
        assert row is not None
        assert secret not in (row.token_hash, row.prefix)
        assert secret.startswith(row.prefix)
    listed = (await alice.get("/api/v1/tokens")).json()["tokens"]
    assert [t["id"] for t in listed] == [token_id]
    assert secret not in str(listed)
    assert listed[0]["last_used_at"] is not None


async def test_a_read_only_token_cannot_change_anything(accounts: AccountFactory) -> None:
    alice = await accounts.login("alice")
    _, secret = await make_token(alice, scopes=["read"])
    script = accounts.anonymous()
    assert (await script.get("/api/v1/preferences", headers=bearer(secret))).status_code == 200
    refused = await script.patch(
        "/api/v1/preferences", json={"preferences": {"theme": "dark"}}, headers=bearer(secret)
    )
    assert refused.status_code == 403
    assert "write" in refused.json()["error"]["message"]
    assert (await alice.get("/api/v1/preferences")).json()["preferences"]["theme"] == "system"


async def test_admin_scope_is_only_for_admins(accounts: AccountFactory) -> None:
    alice = await accounts.login("alice")
    refused = await alice.post("/api/v1/tokens", json={"name": "x", "scopes": ["admin"]})
    assert refused.status_code == 422
    assert refused.json()["error"]["details"][0]["field"] == "body.scopes"
    assert (await alice.get("/api/v1/tokens")).json()["tokens"] == []
    root = await accounts.login("root", role=Role.ADMIN)
    _, write_only = await make_token(root, scopes=["write"])
    script = accounts.anonymous()
    # An admin's token without the admin scope cannot do admin things...
    denied = await script.post(
        "/api/v1/users",
        json={"username": "eve", "password": "long enough pw"},
        headers=bearer(write_only),
    )
    assert denied.status_code == 403
    # ... one with it can.
    _, admin_token = await make_token(root, scopes=["admin"])
    created = await script.post(
        "/api/v1/users",
        json={"username": "eve", "password": "long enough pw"},
        headers=bearer(admin_token),
    )
    assert created.status_code == 201


async def test_expired_revoked_and_malformed_tokens_are_refused(
    accounts: AccountFactory, database: Database
) -> None:
    alice = await accounts.login("alice")
    expired_id, expired = await make_token(alice, expires_in_days=1)
    revoked_id, revoked = await make_token(alice)
    async with database.session() as db:
        await db.execute(
            update(ApiToken)
            .where(ApiToken.id == expired_id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert (await alice.delete(f"/api/v1/tokens/{revoked_id}")).status_code == 204
    script = accounts.anonymous()
    for header in (
        bearer(expired),
        bearer(revoked),
        bearer("lgt_made-up"),
        bearer("garbage"),
        {"Authorization": "Basic YWxpY2U6cHc="},
    ):
        response = await script.get("/api/v1/users/me", headers=header)
        assert response.status_code == 401, header
        assert response.json()["error"]["code"] == "not_authenticated"
    tokens = {t["id"]: t for t in (await alice.get("/api/v1/tokens")).json()["tokens"]}
    assert tokens[revoked_id]["revoked"] is True


async def test_tokens_of_disabled_users_stop_working(accounts: AccountFactory) -> None:
    root = await accounts.login("root", role=Role.ADMIN)
    alice = await accounts.login("alice")
    _, secret = await make_token(alice)
    assert (await root.patch("/api/v1/users/alice", json={"disabled": True})).status_code == 200
    assert (
        await accounts.anonymous().get("/api/v1/users/me", headers=bearer(secret))
    ).status_code == 401


async def test_only_the_owner_or_an_admin_revokes_a_token(accounts: AccountFactory) -> None:
    alice = await accounts.login("alice")
    bob = await accounts.login("bob")
    root = await accounts.login("root", role=Role.ADMIN)
    token_id, _ = await make_token(alice)
    refused = await bob.delete(f"/api/v1/tokens/{token_id}")
    assert refused.status_code == 403
    assert (await bob.get("/api/v1/tokens")).json()["tokens"] == []
    assert (await root.delete(f"/api/v1/tokens/{token_id}")).status_code == 204
    assert (await alice.delete("/api/v1/tokens/999999")).status_code == 404


async def test_token_input_is_validated(accounts: AccountFactory) -> None:
    alice = await accounts.login("alice")
    cases = [
        ({"name": ""}, "body.name"),
        ({"name": "x", "scopes": []}, "body.scopes"),
        ({"name": "x", "scopes": ["root"]}, "body.scopes.0"),
        ({"name": "x", "expires_in_days": 0}, "body.expires_in_days"),
        ({"name": "x", "expires_in_days": 100000}, "body.expires_in_days"),
        ({"name": "x", "expires_in_days": None}, "body.expires_in_days"),
        ({"name": "x", "expires_in_days": "soon"}, "body.expires_in_days"),
    ]
    for body, field in cases:
        response = await alice.post("/api/v1/tokens", json=body)
        assert response.status_code == 422, body
        assert response.json()["error"]["details"][0]["field"] == field, body
    assert (await alice.get("/api/v1/tokens")).json()["tokens"] == []


async def test_a_token_cannot_mint_a_stronger_token(accounts: AccountFactory) -> None:
    root = await accounts.login("root", role=Role.ADMIN)
    _, write_only = await make_token(root, scopes=["write"])
    script = accounts.anonymous()
    refused = await script.post(
        "/api/v1/tokens",
        json={"name": "escalate", "scopes": ["admin"]},
        headers=bearer(write_only),
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["details"][0]["field"] == "body.scopes"
    assert len((await root.get("/api/v1/tokens")).json()["tokens"]) == 1


async def test_a_token_cannot_create_a_token_that_outlives_it(
    accounts: AccountFactory, database: Database
) -> None:
    alice = await accounts.login("alice")
    _, short = await make_token(alice, name="short", expires_in_days=2)
    script = accounts.anonymous()

    async def create(secret: str, days: int) -> dict[str, Any]:
        response = await script.post(
            "/api/v1/tokens",
            json={"name": f"child {days}", "expires_in_days": days},
            headers=bearer(secret),
        )
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    async with database.session() as db:
        parent_expiry = await db.scalar(select(ApiToken.expires_at).where(ApiToken.name == "short"))
    assert parent_expiry is not None
    # Asking for longer: brought forward to the parent's own expiry, and told so.
    longer = await create(short, 30)
    assert datetime.fromisoformat(longer["token"]["expires_at"]) == parent_expiry
    assert "cannot create tokens that outlive it" in longer["notice"]
    # Asking for less: as asked.
    sooner = await create(short, 1)
    assert datetime.fromisoformat(sooner["token"]["expires_at"]) < parent_expiry
    assert sooner["notice"] is None
    # A grandchild cannot outlive its grandparent either.
    grandchild = await create(longer["secret"], 30)
    assert datetime.fromisoformat(grandchild["token"]["expires_at"]) == parent_expiry
    # A token that never expires (made before tokens had to) may create any.
    _, forever = await make_token(alice, name="forever")
    async with database.session() as db:
        await db.execute(update(ApiToken).where(ApiToken.name == "forever").values(expires_at=None))
    free = await create(forever, 30)
    assert free["notice"] is None
    assert datetime.fromisoformat(free["token"]["expires_at"]) > utcnow() + timedelta(days=29)
    # A browser session is not a token: it may ask for any expiry within the maximum.
    from_browser = await alice.post("/api/v1/tokens", json={"name": "b", "expires_in_days": 30})
    assert from_browser.json()["notice"] is None
