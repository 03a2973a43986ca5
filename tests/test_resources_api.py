"""Resources through the API: own and shared ones, who sees and changes what, jump hops,
host keys and input validation. Connecting is tested against real sshd elsewhere
(tests/test_resource_connect.py)."""

from __future__ import annotations

import os
import socket
from typing import Any

from sqlalchemy import select

from labgate.db.models import AuditEvent, Role
from tests.support.accounts import AccountFactory
from tests.support.local_sessions import local_id

CLUSTER: dict[str, Any] = {
    "name": "cluster",
    "host": "login.example.org",
    "username": "alice",
    "auth_method": "key",
    "hops": [{"host": "gw.example.org", "auth_method": "password"}],
    "python": "/opt/python/bin/python3",
    "setup_lines": ["module load python", "source ~/venv/bin/activate"],
}
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ test"


def names(listing: dict[str, Any]) -> list[str]:
    return [r["name"] for r in listing["resources"]]


async def test_own_resource_round_trip(accounts: AccountFactory) -> None:
    alice = await accounts.login("alice")
    created = await alice.post("/api/v1/resources", json=CLUSTER)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["owner"] == "alice"
    assert body["shared"] is False
    assert body["can_edit"] is True
    assert body["port"] == 22
    assert body["remote_username"] == "alice"
    assert [(h["host"], h["username"], h["auth_method"]) for h in body["hops"]] == [
        ("gw.example.org", "", "password")
    ]
    assert body["setup_lines"] == CLUSTER["setup_lines"]
    assert body["status"]["state"] == "disconnected"

    rid = body["id"]
    hop_id = body["hops"][0]["id"]
    # A second hop is added in front; the first keeps its id (and remembered keys).
    changed = await alice.patch(
        f"/api/v1/resources/{rid}",
        json={
            "hops": [
                {
                    "host": "bastion.example.org",
                    "port": 2222,
                    "auth_method": "keyboard-interactive",
                },
                {"id": hop_id, "host": "gw.example.org", "auth_method": "generated-key"},
            ],
            "description": "The big one",
        },
    )
    assert changed.status_code == 200, changed.text
    hops = changed.json()["hops"]
    assert [h["host"] for h in hops] == ["bastion.example.org", "gw.example.org"]
    assert hops[1]["id"] == hop_id
    assert hops[1]["auth_method"] == "generated-key"
    assert changed.json()["description"] == "The big one"

    assert (await alice.get(f"/api/v1/resources/{rid}")).json()["hops"] == hops
    assert (await alice.delete(f"/api/v1/resources/{rid}")).status_code == 204
    assert (await alice.get(f"/api/v1/resources/{rid}")).status_code == 404


async def test_other_users_resources_are_invisible(accounts: AccountFactory) -> None:
    alice = await accounts.login("alice")
    bob = await accounts.login("bob")
    rid = (await alice.post("/api/v1/resources", json=CLUSTER)).json()["id"]
    assert names((await bob.get("/api/v1/resources")).json()) == []
    for method, url, body in (
        ("GET", f"/api/v1/resources/{rid}", None),
        ("PATCH", f"/api/v1/resources/{rid}", {"description": "mine now"}),
        ("DELETE", f"/api/v1/resources/{rid}", None),
        ("POST", f"/api/v1/resources/{rid}/disconnect", None),
        ("GET", f"/api/v1/resources/{rid}/system", None),
        ("GET", f"/api/v1/resources/{rid}/files", None),
        (
            "POST",
            f"/api/v1/resources/{rid}/host-keys",
            {"host": "gw.example.org", "public_key": HOST_KEY},
        ),
    ):
        response = await bob.request(method, url, json=body)
        assert response.status_code == 404, (method, url, response.text)
    # Bob may use the same name for his own.
    assert (await bob.post("/api/v1/resources", json=CLUSTER)).status_code == 201
    assert (await alice.post("/api/v1/resources", json=CLUSTER)).status_code == 409


async def test_shared_resources_follow_groups(accounts: AccountFactory) -> None:
    root = await accounts.login("root", role=Role.ADMIN)
    alice = await accounts.login("alice")
    bob = await accounts.login("bob")
    await root.post("/api/v1/groups", json={"name": "physics"})
    await root.put("/api/v1/groups/physics/members/alice")
    shared = {
        **CLUSTER,
        "name": "hpc",
        "username": "",
        "auth_method": "certificate",
        "hops": [],
        "shared": True,
        "groups": ["physics"],
        "account_rule": "{username}_ext",
        "account_overrides": {"bob": "robert"},
    }
    # Users cannot make shared resources, nor give their own a certificate.
    assert (await alice.post("/api/v1/resources", json=shared)).status_code == 403
    own_cert = await alice.post("/api/v1/resources", json={**CLUSTER, "auth_method": "certificate"})
    assert own_cert.status_code == 400
    assert own_cert.json()["error"]["details"][0]["field"] == "body.auth_method"

    created = await root.post("/api/v1/resources", json=shared)
    assert created.status_code == 201, created.text
    rid = created.json()["id"]
    assert created.json()["groups"] == ["physics"]
    assert created.json()["owner"] is None

    seen = (await alice.get(f"/api/v1/resources/{rid}")).json()
    assert seen["remote_username"] == "alice_ext"
    assert seen["can_edit"] is False
    assert seen["account_overrides"] == {}  # other users' accounts are for admins
    assert (
        await alice.patch(f"/api/v1/resources/{rid}", json={"description": "x"})
    ).status_code == 403
    assert (await alice.delete(f"/api/v1/resources/{rid}")).status_code == 403
    assert names((await bob.get("/api/v1/resources")).json()) == []
    assert (await bob.get(f"/api/v1/resources/{rid}")).status_code == 404

    await root.put("/api/v1/groups/physics/members/bob")
    assert (await bob.get(f"/api/v1/resources/{rid}")).json()["remote_username"] == "robert"
    # Removing the group from the resource hides it again.
    assert (await root.patch(f"/api/v1/resources/{rid}", json={"groups": []})).status_code == 200
    assert (await bob.get(f"/api/v1/resources/{rid}")).status_code == 404
    assert "hpc" in names((await root.get("/api/v1/resources")).json())


async def test_local_resource_follows_the_setting(accounts: AccountFactory) -> None:
    root = await accounts.login("root", role=Role.ADMIN)
    alice = await accounts.login("alice")
    listing = (await root.get("/api/v1/resources")).json()["resources"]
    local = next(r for r in listing if r["kind"] == "local")
    assert local["name"] == "local"
    assert local["can_edit"] is True
    assert names((await alice.get("/api/v1/resources")).json()) == []
    assert (await alice.get(f"/api/v1/resources/{local['id']}")).status_code == 404
    # Only a few fields of local can change, and it cannot be deleted.
    refused = await root.patch(f"/api/v1/resources/{local['id']}", json={"host": "elsewhere"})
    assert refused.status_code == 400
    assert (await root.delete(f"/api/v1/resources/{local['id']}")).status_code == 400
    changed = await root.patch(
        f"/api/v1/resources/{local['id']}", json={"setup_lines": ["export A=1"]}
    )
    assert changed.json()["setup_lines"] == ["export A=1"]
    # Its dialog sends every field it shows, the name as it is too.
    dialog = {"name": "local", "description": "", "account_overrides": {"alice": "root"}}
    saved = await root.patch(f"/api/v1/resources/{local['id']}", json=dialog)
    assert saved.status_code == 200, saved.text
    assert saved.json()["account_overrides"] == {"alice": "root"}
    renamed = await root.patch(f"/api/v1/resources/{local['id']}", json={"name": "mine"})
    assert renamed.status_code == 400
    assert renamed.json()["error"]["details"][0]["field"] == "body.name"

    accounts.settings.local_resource = "everyone"
    assert names((await alice.get("/api/v1/resources")).json()) == ["local"]
    accounts.settings.local_resource = "off"
    assert "local" not in names((await root.get("/api/v1/resources")).json())


async def test_system_info_is_what_the_agent_reports(
    accounts: AccountFactory, runtime_dir: str
) -> None:
    accounts.settings.agent_runtime_dir = runtime_dir
    root = await accounts.login("root", role=Role.ADMIN)
    answer = await root.get(f"/api/v1/resources/{await local_id(root)}/system")
    assert answer.status_code == 200, answer.text
    info = answer.json()
    fields = ["hostname", "user", "home", "platform", "python", "cpus", "load", "memory"]
    assert list(info) == [*fields, "home_disk", "gpus"]
    assert (info["hostname"], info["home"]) == (socket.gethostname(), os.path.expanduser("~"))
    assert len(info["load"]) == 3
    assert set(info["memory"]) == {"total", "available"}
    assert set(info["home_disk"]) == {"total", "free"}
    assert isinstance(info["gpus"], list)
    schema = (await root.get("/api/v1/openapi.json")).json()["components"]["schemas"]
    assert set(schema["SystemInfo"]["properties"]) == set(info)
    await accounts.close()


async def test_host_keys_are_confirmed_for_servers_of_the_chain(accounts: AccountFactory) -> None:
    alice = await accounts.login("alice")
    rid = (await alice.post("/api/v1/resources", json=CLUSTER)).json()["id"]
    outside = await alice.post(
        f"/api/v1/resources/{rid}/host-keys",
        json={"host": "evil.example.org", "public_key": HOST_KEY},
    )
    assert outside.status_code == 400
    bad = await alice.post(
        f"/api/v1/resources/{rid}/host-keys",
        json={"host": "gw.example.org", "public_key": "ssh-ed25519 not-base64"},
    )
    assert bad.status_code == 400
    confirmed = await alice.post(
        f"/api/v1/resources/{rid}/host-keys",
        json={"host": "gw.example.org", "public_key": HOST_KEY},
    )
    assert confirmed.status_code == 201, confirmed.text
    assert confirmed.json()["fingerprint"].startswith("SHA256:")
    keys = (await alice.get(f"/api/v1/resources/{rid}")).json()["host_keys"]
    assert [(k["host"], k["port"]) for k in keys] == [("gw.example.org", 22)]
    # The same key again is fine; a different one is never silently replaced.
    again = await alice.post(
        f"/api/v1/resources/{rid}/host-keys",
        json={"host": "gw.example.org", "public_key": HOST_KEY},
    )
    assert again.status_code == 201
    other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHhVmoqiVfEYp7HfClhrl+WlyOGoaRZ6Wv0vfbo4Bmxs other"
    replaced = await alice.post(
        f"/api/v1/resources/{rid}/host-keys", json={"host": "gw.example.org", "public_key": other}
    )
    assert replaced.status_code == 409
    forgotten = await alice.delete(f"/api/v1/resources/{rid}/host-keys/{keys[0]['id']}")
    assert forgotten.status_code == 204
    assert (await alice.get(f"/api/v1/resources/{rid}")).json()["host_keys"] == []
    async with accounts.database.read() as db:
        audit_events = set((await db.scalars(select(AuditEvent.event))).all())
    assert {"host_key_confirmed", "host_key_forgotten", "resource_created"} <= audit_events


async def test_bad_input_is_refused_with_the_field(accounts: AccountFactory) -> None:
    alice = await accounts.login("alice")
    cases: list[tuple[dict[str, Any], str]] = [
        ({**CLUSTER, "host": "-oProxyCommand=evil"}, "body.host"),
        ({**CLUSTER, "host": "two words"}, "body.host"),
        ({**CLUSTER, "port": 0}, "body.port"),
        ({**CLUSTER, "port": 70000}, "body.port"),
        ({**CLUSTER, "username": "-root"}, "body.username"),
        ({**CLUSTER, "auth_method": "telepathy"}, "body.auth_method"),
        ({**CLUSTER, "python": "python3; rm -rf ~"}, "body.python"),
        ({**CLUSTER, "setup_lines": ["ok", "two\nlines"]}, "body.setup_lines.1"),
        ({**CLUSTER, "hops": [{"host": ""}]}, "body.hops.0.host"),
        ({**CLUSTER, "hops": [{"host": "gw", "port": -1}]}, "body.hops.0.port"),
        ({**CLUSTER, "name": ""}, "body.name"),
        ({**CLUSTER, "name": "x" * 65}, "body.name"),
        ({**CLUSTER, "colour": "red"}, "body.colour"),
        ({**CLUSTER, "hops": [{"host": "gw"}] * 9}, "body.hops"),
    ]
    for body, field in cases:
        response = await alice.post("/api/v1/resources", json=body)
        assert response.status_code == 422, (body, response.text)
        fields = [d["field"] for d in response.json()["error"]["details"]]
        assert field in fields, (field, fields)
    # Nothing was created by any of them.
    assert names((await alice.get("/api/v1/resources")).json()) == []
    missing_user = await alice.post("/api/v1/resources", json={**CLUSTER, "username": ""})
    assert missing_user.status_code == 400
    shared_only = await alice.post("/api/v1/resources", json={**CLUSTER, "groups": ["x"]})
    assert shared_only.status_code == 400
    rid = (await alice.post("/api/v1/resources", json=CLUSTER)).json()["id"]
    unknown_hop = await alice.patch(
        f"/api/v1/resources/{rid}", json={"hops": [{"id": 999999, "host": "gw"}]}
    )
    assert unknown_hop.status_code == 400
    null_name = await alice.patch(f"/api/v1/resources/{rid}", json={"name": None})
    assert null_name.status_code == 400
    assert (await alice.get(f"/api/v1/resources/{rid}")).json()["hops"][0][
        "host"
    ] == "gw.example.org"


async def test_read_only_tokens_cannot_change_resources(accounts: AccountFactory) -> None:
    alice = await accounts.login("alice")
    created = await alice.post("/api/v1/tokens", json={"name": "ro", "scopes": ["read"]})
    bearer = {"Authorization": f"Bearer {created.json()['secret']}"}
    script = accounts.anonymous()
    listing = await script.get("/api/v1/resources", headers=bearer)
    assert listing.status_code == 200
    refused = await script.post("/api/v1/resources", json=CLUSTER, headers=bearer)
    assert refused.status_code == 403


async def test_process_requests_are_validated(accounts: AccountFactory) -> None:
    root = await accounts.login("root", role=Role.ADMIN)
    alice = await accounts.login("alice")
    listing = (await root.get("/api/v1/resources")).json()["resources"]
    local = next(r for r in listing if r["kind"] == "local")["id"]
    base = f"/api/v1/resources/{local}/processes"
    cases: list[tuple[dict[str, Any], str]] = [
        ({"pty": True, "cols": 0}, "body.cols"),
        ({"pty": True, "rows": 100000}, "body.rows"),
        ({"command": ""}, "body.command"),
        ({"command": "true", "pty": "sometimes"}, "body.pty"),
        ({"command": "true", "colour": "red"}, "body.colour"),
    ]
    for body, field in cases:
        response = await root.post(base, json=body)
        assert response.status_code == 422, (body, response.text)
        assert field in [d["field"] for d in response.json()["error"]["details"]]
    # A body over the JSON limit (64 KiB in these tests) is refused before parsing.
    too_long = await root.post(base, json={"command": "x" * 100_001})
    assert too_long.status_code == 413
    # Nothing to run: refused before anything is started.
    nothing = await root.post(base, json={"pty": False})
    assert nothing.status_code == 400
    bad_signal = await root.post(f"{base}/anything/signal", json={"signal": "EXPLODE"})
    assert bad_signal.status_code == 422
    # A resource the caller may not see answers 404 whatever the body.
    assert (await alice.post(base, json={"command": "true"})).status_code == 404
    assert (await alice.get(base)).status_code == 404
