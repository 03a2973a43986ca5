"""Groups and memberships through the API."""

from __future__ import annotations

from labgate.db.models import Role
from tests.support.accounts import AccountFactory


async def test_groups_and_members(accounts: AccountFactory) -> None:
    root = await accounts.login("root", role=Role.ADMIN)
    await accounts.user("alice")
    await accounts.user("bob")
    created = await root.post("/api/v1/groups", json={"name": "physics", "description": "P"})
    assert created.status_code == 201
    assert created.json()["members"] == []
    for name in ("bob", "alice", "alice"):  # adding twice is harmless
        response = await root.put(f"/api/v1/groups/physics/members/{name}")
        assert response.status_code == 200
    assert (await root.get("/api/v1/groups/physics")).json()["members"] == ["alice", "bob"]
    assert (await root.get("/api/v1/users/alice")).json()["groups"] == ["physics"]
    removed = await root.delete("/api/v1/groups/physics/members/bob")
    assert removed.json()["members"] == ["alice"]
    again = await root.delete("/api/v1/groups/physics/members/bob")
    assert again.status_code == 404
    assert (await root.put("/api/v1/groups/physics/members/nobody")).status_code == 404
    assert (await root.put("/api/v1/groups/nogroup/members/alice")).status_code == 404
    assert (await root.delete("/api/v1/groups/physics")).status_code == 204
    assert (await root.get("/api/v1/groups")).json()["groups"] == []
    # The members keep their accounts.
    assert (await root.get("/api/v1/users/alice")).json()["groups"] == []


async def test_group_input_is_validated(accounts: AccountFactory) -> None:
    root = await accounts.login("root", role=Role.ADMIN)
    assert (await root.post("/api/v1/groups", json={"name": "g"})).status_code == 201
    duplicate = await root.post("/api/v1/groups", json={"name": "g"})
    assert duplicate.status_code == 409
    for body in ({"name": "Has Space"}, {"name": ""}, {}, {"name": "ok", "colour": "red"}):
        response = await root.post("/api/v1/groups", json=body)
        assert response.status_code == 422, body
    assert [g["name"] for g in (await root.get("/api/v1/groups")).json()["groups"]] == ["g"]
