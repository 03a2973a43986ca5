"""Where users' resources may be (``resource_hosts_allowed`` / ``resource_hosts_denied``)
and how often they may connect: the rules themselves, saving a resource (422), every
connection checking again at the address it connects to, through the API and the SSH
transport against a real sshd on loopback, and the per-user limit on connection
attempts (429)."""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import update

from labgate.db.engine import Database
from labgate.db.models import Resource, Role
from labgate.destinations import DEFAULT_DENIED_HOSTS, HostRules, parse_host_rules
from labgate.settings import Settings
from labgate.transport.ssh import HostRefused, SshTransport
from tests.support.accounts import AccountFactory, LoggedIn
from tests.support.hops import key_hop
from tests.support.remote_files import add_ssh_resource
from tests.support.sshd import SshServer

# localhost, as the message names it with the address it resolved to.
LOCALHOST = re.compile(r"localhost \((127\.0\.0\.1|::1)\)")


def rules(allowed: list[str], denied: Sequence[str] = DEFAULT_DENIED_HOSTS) -> HostRules:
    return HostRules(tuple(parse_host_rules(allowed)), tuple(parse_host_rules(denied)))


def address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


def own_lan_address() -> str | None:
    """An address of this machine that is not loopback, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent for UDP connect
        except OSError:
            return None
        found: str = probe.getsockname()[0]
    return None if found.startswith("127.") else found


# -- the rules ---------------------------------------------------------------------------


def test_by_default_the_server_itself_and_link_local_are_refused() -> None:
    default = rules([])
    for refused in ("127.0.0.1", "127.8.9.10", "::1", "0.0.0.0", "169.254.169.254", "fe80::1"):
        assert default.refusal(refused, address(refused)) is not None, refused
    mapped = "::ffff:127.0.0.1"  # the same loopback, written as IPv6
    assert default.refusal(mapped, parse_mapped(mapped)) is not None
    assert default.refusal("192.0.2.10", address("192.0.2.10")) is None
    assert default.refusal("login.example.org", None) is None
    lan = own_lan_address()
    if lan is not None:
        refusal = default.refusal("myself.example.org", address(lan))
        assert refusal is not None
        assert "this-server" in refusal
        assert f"myself.example.org ({lan})" in refusal


def parse_mapped(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    from labgate.destinations import address_of

    found = address_of(text)
    assert found == ipaddress.ip_address("127.0.0.1")
    return found


def test_allowed_hosts_by_name_pattern_and_network() -> None:
    only = rules(["*.cluster.example.org", "10.20.0.0/16"])
    assert only.refusal("login.cluster.example.org", None) is None
    assert only.refusal("LOGIN.Cluster.Example.org.", None) is None
    assert only.refusal("10.20.3.4", address("10.20.3.4")) is None
    assert only.refusal("gw.cluster.example.org", address("10.99.0.1")) is None
    refused = only.refusal("login.example.org", address("192.0.2.10"))
    assert refused is not None
    assert "resource_hosts_allowed" in refused
    assert only.refusal("10.21.0.1", address("10.21.0.1")) is not None
    # An allowed name does not lift a denial: it may still not point at the server.
    assert only.refusal("evil.cluster.example.org", address("127.0.0.1")) is not None
    denied = rules([], ["*.internal", "192.0.2.0/24", "private"])
    assert denied.refusal("db.internal", None) is not None
    assert denied.refusal("db.example.org", address("192.0.2.7")) is not None
    assert denied.refusal("nas", address("192.168.1.2")) is not None
    assert denied.refusal("127.0.0.1", address("127.0.0.1")) is not None  # private too
    assert denied.refusal("db.example.org", address("93.184.215.14")) is None


def test_settings_refuse_what_is_not_a_rule() -> None:
    with pytest.raises(ValueError, match="neither a CIDR"):
        Settings(resource_hosts_denied=["two words"])
    with pytest.raises(ValueError, match="neither a CIDR"):
        Settings(resource_hosts_allowed=["10.0.0.0/99"])
    assert Settings().resource_hosts_denied == ["loopback", "link-local", "this-server"]


# -- saving a resource ------------------------------------------------------------------------


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The defaults of a real installation (the suite's settings allow loopback)."""
    return settings.model_copy(update={"resource_hosts_denied": list(DEFAULT_DENIED_HOSTS)})


def resource(host: str, **extra: Any) -> dict[str, Any]:
    return {"name": host.replace(":", "_"), "host": host, "username": "u", **extra}


async def test_a_user_resource_on_the_server_itself_is_refused(accounts: AccountFactory) -> None:
    alice = await accounts.login("alice")
    for host in ("127.0.0.1", "localhost", "169.254.169.254"):
        refused = await alice.post("/api/v1/resources", json=resource(host))
        assert refused.status_code == 422, refused.text
        error = refused.json()["error"]
        assert error["code"] == "host_refused"
        assert "resource_hosts_denied" in error["message"]
        assert error["details"][0]["field"] == "body.host"
    # localhost is refused for what it resolves to.
    refused = await alice.post("/api/v1/resources", json=resource("localhost"))
    assert LOCALHOST.search(refused.json()["error"]["message"])
    hop = await alice.post(
        "/api/v1/resources",
        json=resource("login.example.org", hops=[{"host": "gw.example.org"}, {"host": "::1"}]),
    )
    assert hop.status_code == 422
    assert [d["field"] for d in hop.json()["error"]["details"]] == ["body.hops.1.host"]
    made = await alice.post("/api/v1/resources", json=resource("login.example.org"))
    assert made.status_code == 201, made.text
    moved = await alice.patch(f"/api/v1/resources/{made.json()['id']}", json={"host": "127.0.0.2"})
    assert moved.status_code == 422
    # An administrator's own resources and shared ones may be anywhere.
    root = await accounts.login("root", role=Role.ADMIN)
    assert (await root.post("/api/v1/resources", json=resource("127.0.0.1"))).status_code == 201
    shared = resource("localhost", shared=True, account_rule="{username}")
    assert (await root.post("/api/v1/resources", json=shared)).status_code == 201


async def test_only_allowed_hosts(accounts: AccountFactory, settings: Settings) -> None:
    settings.resource_hosts_allowed = ["*.cluster.example.org", "10.201.0.0/16"]
    alice = await accounts.login("alice")
    for host in ("login.cluster.example.org", "10.201.7.7"):
        made = await alice.post("/api/v1/resources", json=resource(host))
        assert made.status_code == 201, made.text
    for host in ("login.example.org", "10.202.0.1", "127.0.0.1"):
        refused = await alice.post("/api/v1/resources", json=resource(host))
        assert refused.status_code == 422, refused.text
    refused = await alice.post("/api/v1/resources", json=resource("login.example.org"))
    assert "resource_hosts_allowed" in refused.json()["error"]["message"]


# -- connecting checks again ----------------------------------------------------------------


async def point_at(database: Database, resource_id: int, host: str) -> None:
    """Change a resource's host behind the API's back (as an older labgate, or other
    settings at the time, would have let it be saved)."""
    async with database.session() as db:
        await db.execute(update(Resource).where(Resource.id == resource_id).values(host=host))


async def system(user: LoggedIn, resource_id: int) -> Any:
    return await user.get(f"/api/v1/resources/{resource_id}/system")


async def test_connecting_checks_the_address_again(
    accounts: AccountFactory,
    settings: Settings,
    database: Database,
    sshd: SshServer,
    runtime_dir: str,
) -> None:
    settings.agent_runtime_dir = runtime_dir
    settings.resource_hosts_denied = []  # while the resource is saved
    alice = await accounts.login("alice")
    rid = await add_ssh_resource(alice, sshd, "box")
    assert (await system(alice, rid)).status_code == 200
    await alice.post(f"/api/v1/resources/{rid}/disconnect")
    settings.resource_hosts_denied = list(DEFAULT_DENIED_HOSTS)
    refused = await system(alice, rid)
    assert refused.status_code == 403, refused.text
    error = refused.json()["error"]
    assert error["code"] == "host_refused"
    assert "127.0.0.1" in error["message"]
    # A name is checked for what it resolves to, not for how it is written.
    await point_at(database, rid, "localhost")
    refused = await system(alice, rid)
    assert refused.status_code == 403
    assert LOCALHOST.search(refused.json()["error"]["message"])
    await accounts.close()


async def test_the_transport_connects_to_the_address_it_checked(sshd: SshServer) -> None:
    by_name = key_hop(sshd, host="localhost")
    transport = SshTransport([by_name], host_rules=rules([]))
    with pytest.raises(HostRefused) as refused:
        await transport.connect()
    assert refused.value.code == "host_refused"
    assert refused.value.hop == 0
    assert LOCALHOST.search(refused.value.message)
    # Allowed, the name is resolved once, here, and that address is connected to.
    transport = SshTransport([by_name], host_rules=rules(["127.0.0.1/32"], []))
    await transport.connect()
    try:
        peer = transport._connections[0].get_extra_info("peername")
        assert peer[0] == "127.0.0.1"
    finally:
        await transport.close()


# -- how often -------------------------------------------------------------------------------


async def test_connection_attempts_per_user_are_limited(
    accounts: AccountFactory, settings: Settings
) -> None:
    settings.resource_hosts_denied = []
    settings.resource_connect_attempts_per_minute = 3
    with socket.socket() as closed:  # a port nothing listens on: every attempt is refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    alice = await accounts.login("alice")
    bob = await accounts.login("bob")
    target = {**resource("127.0.0.1"), "port": port}
    rid = (await alice.post("/api/v1/resources", json=target)).json()["id"]
    for _attempt in range(3):
        failed = await system(alice, rid)
        assert failed.status_code == 502
        assert failed.json()["error"]["code"] == "connection_refused"
    limited = await system(alice, rid)
    assert limited.status_code == 429, limited.text
    assert limited.json()["error"]["code"] == "rate_limited"
    assert "3 connections to resources within a minute" in limited.json()["error"]["message"]
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    # Per user: another user's attempts are not Alice's.
    bob_rid = (await bob.post("/api/v1/resources", json=target)).json()["id"]
    assert (await system(bob, bob_rid)).status_code == 502
    await accounts.close()
