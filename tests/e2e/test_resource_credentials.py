"""Every kind of credential through the real server process, against real OpenSSH servers
logging in to the real account ``labgate-test``:

- keyboard-interactive with a second factor (PAM: password, then a TOTP code), each
  question relayed to the browser over the connect WebSocket;
- the user's labgate-generated key pair, once authorised on the server;
- an uploaded key with a passphrase, remembered for the resource and forgotten again;
- certificates from labgate's SSH CA for a shared resource, to an sshd trusting only it;
- a jump chain in network namespaces, asking for each hop's host key and password in turn.

The browser is played by httpx (the API) and the ``websockets`` sync client (the connect
and events WebSockets), as in ``test_resource_connect.py``.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.labgate_api import Browser, labgate_server, states_until
from tests.support.netns import JumpNetwork
from tests.support.server import LABGATE, RunningServer
from tests.support.sshd import SshServer, TestUser, ensure_test_user, running_sshd
from tests.support.sshd_auth import TwoFactorServer, running_ca_sshd, running_two_factor_sshd

pytestmark = pytest.mark.e2e

ADMIN_PASSWORD = "credentials admin password"
USER_PASSWORD = "a labgate user's password"
KEY_PASSPHRASE = "the key's own passphrase"


# -- servers ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with labgate_server(tmp_path_factory.mktemp("labgate"), ADMIN_PASSWORD) as running:
        yield running


@pytest.fixture(scope="module")
def test_user() -> TestUser:
    return ensure_test_user()


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory, test_user: TestUser) -> Iterator[SshServer]:
    """An ordinary sshd: passwords, and keys from its own authorized_keys file."""
    with running_sshd(tmp_path_factory.mktemp("sshd"), test_user) as running:
        yield running


@pytest.fixture(scope="module")
def two_factor(
    tmp_path_factory: pytest.TempPathFactory, test_user: TestUser
) -> Iterator[TwoFactorServer]:
    with running_two_factor_sshd(tmp_path_factory.mktemp("2fa-sshd"), test_user) as running:
        yield running


def add_user(admin: Browser, username: str, groups: tuple[str, ...] = ()) -> None:
    created = admin.post(
        "/api/v1/users",
        json={"username": username, "password": USER_PASSWORD, "role": "user"},
    )
    assert created.status_code == 201, created.text
    for group in groups:
        joined = admin.put(f"/api/v1/groups/{group}/members/{username}")
        assert joined.status_code == 200, joined.text


@pytest.fixture(scope="module")
def admin(server: RunningServer) -> Iterator[Browser]:
    browser = Browser(server, "admin", ADMIN_PASSWORD)
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def alice(server: RunningServer, admin: Browser) -> Iterator[Browser]:
    """An ordinary user with resources of her own."""
    add_user(admin, "alice")
    browser = Browser(server, "alice", USER_PASSWORD)
    yield browser
    browser.close()


def accepted_lines(server: SshServer, method: str = "") -> list[str]:
    """sshd's ``Accepted <method> for labgate-test ...`` log lines (any method if "")."""
    return [
        line
        for line in server.log.splitlines()
        if line.startswith(f"Accepted {method}") and f" for {server.user.name} from " in line
    ]


def ssh_keygen(directory: Path, passphrase: str) -> tuple[Path, str, str]:
    """A new ed25519 key: (private key file, public key line, SHA256 fingerprint)."""
    path = directory / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", "uploaded", "-f", str(path)],
        check=True,
    )
    public = path.with_name(path.name + ".pub")
    return path, public.read_text().strip(), public_fingerprint(public.read_text())


def public_fingerprint(public_key: str) -> str:
    """``SHA256:...`` of an OpenSSH public key line, as ``ssh-keygen -l`` prints it."""
    shown = subprocess.run(
        ["ssh-keygen", "-l", "-f", "-"], input=public_key, capture_output=True, text=True
    )
    assert shown.returncode == 0, shown.stderr
    return shown.stdout.split()[1]


# -- a: keyboard-interactive with a second factor ---------------------------------------------


def test_two_factor_questions_are_asked_in_the_browser(
    alice: Browser, two_factor: TwoFactorServer
) -> None:
    server = two_factor.server
    rid = alice.add_resource("two-factor", server, auth_method="keyboard-interactive")
    with alice.socket("/api/v1/events") as events:
        assert states_until(events, rid, "disconnected") == ["disconnected"]
        with alice.connecting(rid) as talk:
            talk.confirm_host_key(server)
            # PAM's questions, one round each, exactly as sshd asks them.
            password = talk.expect("prompt")
            assert password["kind"] == "keyboard-interactive"
            assert [p["text"].strip() for p in password["prompts"]] == ["Password:"]
            assert password["prompts"][0]["echo"] is False
            assert password["hop"] == 0
            assert password["hop_label"] == f"{server.user.name}@{server.host}:{server.port}"
            talk.answer(password, server.user.password)
            code = talk.expect("prompt")
            assert code["kind"] == "keyboard-interactive"
            assert [p["text"].strip() for p in code["prompts"]] == ["Verification code:"]
            assert code["prompts"][0]["echo"] is False
            talk.answer(code, two_factor.code())
            connected = talk.connected()
        # Every tab of the user sees the connection's progress live.
        assert states_until(events, rid, "connected") == ["connecting", "connected"]
    assert connected["status"]["state"] == "connected"
    assert connected["system"]["user"] == server.user.name
    assert len(accepted_lines(server, "keyboard-interactive/pam")) == 1
    assert alice.get(f"/api/v1/resources/{rid}/system").status_code == 200

    # A one-time code is never kept: once disconnected, only the browser can log in again.
    assert alice.post(f"/api/v1/resources/{rid}/disconnect").status_code == 204
    needs_login = alice.get(f"/api/v1/resources/{rid}/system")
    assert needs_login.status_code == 409, needs_login.text
    assert needs_login.json()["error"]["code"] == "login_required"

    # The right password with a wrong code: refused by the server, said as such.
    with alice.connecting(rid) as talk:
        talk.answer(talk.expect("prompt"), server.user.password)
        code = talk.expect("prompt")
        assert code["prompts"][0]["text"].strip() == "Verification code:"
        talk.answer(code, two_factor.wrong_code())
        error = talk.failed("auth_failed")
    assert talk.kinds == ["prompt", "prompt", "failed"]
    assert error["hop"] == 0
    assert "keyboard-interactive" in error["message"]
    status = alice.resource(rid)["status"]
    assert (status["state"], status["error"]["code"]) == ("failed", "auth_failed")
    assert len(accepted_lines(server, "keyboard-interactive/pam")) == 1


# -- b: the key pair labgate generates for its user -------------------------------------------


def test_the_generated_key_logs_in_without_questions_once_authorised(
    alice: Browser, sshd: SshServer
) -> None:
    rid = alice.add_resource("generated", sshd, auth_method="generated-key")
    alice.trust_host_key(rid, sshd)

    # No key yet: nothing to log in with, and the message says how to get one.
    assert alice.get("/api/v1/users/me/ssh-key").status_code == 404
    with alice.connecting(rid) as talk:
        error = talk.failed("login_required")
    assert talk.kinds == ["failed"]
    assert "generate one" in error["message"]
    assert "authorized_keys" in error["message"]
    needs_key = alice.get(f"/api/v1/resources/{rid}/system")
    assert needs_key.status_code == 409, needs_key.text
    assert needs_key.json()["error"]["code"] == "login_required"

    generated = alice.post("/api/v1/users/me/ssh-key")
    assert generated.status_code == 201, generated.text
    key = generated.json()
    assert key["public_key"].startswith("ssh-ed25519 ")
    assert key["public_key"].endswith(" labgate:alice")
    assert key["fingerprint"] == public_fingerprint(key["public_key"])
    assert alice.get("/api/v1/users/me/ssh-key").json()["public_key"] == key["public_key"]

    # Generated, but not yet in the server's authorized_keys: the server refuses it.
    with alice.connecting(rid) as talk:
        error = talk.failed("auth_failed")
    assert talk.kinds == ["failed"]
    assert error["hop"] == 0
    assert "tried: key" in error["message"]

    sshd.authorize_key(key["public_key"])  # what the user pastes into authorized_keys
    with alice.connecting(rid) as talk:
        connected = talk.connected()
    assert talk.kinds == ["connected"], "no question at all"
    assert connected["system"]["user"] == sshd.user.name
    assert [line for line in accepted_lines(sshd, "publickey") if key["fingerprint"] in line]

    # Nothing to type, so the API connects by itself too.
    assert alice.post(f"/api/v1/resources/{rid}/disconnect").status_code == 204
    system = alice.get(f"/api/v1/resources/{rid}/system")
    assert system.status_code == 200, system.text
    assert system.json()["user"] == sshd.user.name


# -- c: an uploaded key with a passphrase, remembered and forgotten ---------------------------


def test_an_uploaded_key_is_asked_for_remembered_and_forgotten(
    alice: Browser, sshd: SshServer, tmp_path: Path
) -> None:
    key_file, public_line, fingerprint = ssh_keygen(tmp_path, KEY_PASSPHRASE)
    private_key = key_file.read_text()
    sshd.authorize_key(public_line)
    rid = alice.add_resource("uploaded", sshd, auth_method="key")
    alice.trust_host_key(rid, sshd)
    remember = f"/api/v1/resources/{rid}/remembered-keys/target"

    # What cannot be used is refused at the door, and nothing is stored.
    garbage = alice.put(remember, json={"private_key": "not a key at all"})
    assert garbage.status_code == 400, garbage.text
    wrong = alice.put(remember, json={"private_key": private_key, "passphrase": "wrong"})
    assert wrong.status_code == 400, wrong.text
    assert wrong.json()["error"]["code"] == "passphrase_wrong"
    assert alice.resource(rid)["remembered_keys"] == []

    with alice.connecting(rid) as talk:
        asked = talk.expect("prompt")
        assert (asked["kind"], asked["hop"], asked["error"]) == ("key", 0, None)
        talk.send(
            {
                "type": "answer",
                "id": asked["id"],
                "private_key": private_key,
                "passphrase": "not the passphrase",
            }
        )
        again = talk.expect("prompt")
        assert again["kind"] == "key"
        assert again["error"] == "Wrong passphrase."
        talk.send(
            {
                "type": "answer",
                "id": again["id"],
                "private_key": private_key,
                "passphrase": KEY_PASSPHRASE,
                "remember": True,
            }
        )
        connected = talk.connected()
    assert connected["system"]["user"] == sshd.user.name
    assert alice.resource(rid)["remembered_keys"] == [{"hop_id": None, "fingerprint": fingerprint}]
    logins = len([line for line in accepted_lines(sshd, "publickey") if fingerprint in line])
    assert logins == 1

    # A new connection needs nobody: the remembered key logs in.
    assert alice.post(f"/api/v1/resources/{rid}/disconnect").status_code == 204
    assert alice.resource(rid)["status"]["state"] == "disconnected"
    system = alice.get(f"/api/v1/resources/{rid}/system")
    assert system.status_code == 200, system.text
    assert system.json()["user"] == sshd.user.name
    again_logins = [line for line in accepted_lines(sshd, "publickey") if fingerprint in line]
    assert len(again_logins) == logins + 1

    # Forgotten: the next connection needs the key typed in again. (Forgetting does not
    # end the live connection; disconnecting does.)
    assert alice.delete(remember).status_code == 204
    assert alice.resource(rid)["remembered_keys"] == []
    assert alice.delete(remember).status_code == 404
    assert alice.post(f"/api/v1/resources/{rid}/disconnect").status_code == 204
    needs_key = alice.get(f"/api/v1/resources/{rid}/system")
    assert needs_key.status_code == 409, needs_key.text
    assert needs_key.json()["error"]["code"] == "login_required"

    # Remembered through the API instead of while connecting: the same, without a socket.
    stored = alice.put(remember, json={"private_key": private_key, "passphrase": KEY_PASSPHRASE})
    assert stored.status_code == 200, stored.text
    assert (stored.json()["hop_id"], stored.json()["fingerprint"]) == (None, fingerprint)
    assert alice.get(f"/api/v1/resources/{rid}/system").status_code == 200


# -- d: certificates from labgate's CA for a shared resource ----------------------------------


def test_a_shared_resource_trusts_labgates_certificates(
    server: RunningServer,
    admin: Browser,
    test_user: TestUser,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    authority = admin.get("/api/v1/ssh-ca")
    assert authority.status_code == 200, authority.text
    ca = authority.json()
    assert ca["fingerprint"] == public_fingerprint(ca["public_key"])

    # The same CA, as the administrator of a resource gets it on the command line.
    shown = subprocess.run(
        [str(LABGATE), "--data-dir", str(server.data_dir), "ca", "show"],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == ca["public_key"]
    assert ca["fingerprint"] in shown.stderr

    assert admin.post("/api/v1/groups", json={"name": "physics"}).status_code == 201
    add_user(admin, "bob", groups=("physics",))
    add_user(admin, "eve")
    bob = Browser(server, "bob", USER_PASSWORD)
    eve = Browser(server, "eve", USER_PASSWORD)
    with (
        contextlib.closing(bob),
        contextlib.closing(eve),
        running_ca_sshd(tmp_path_factory.mktemp("ca-sshd"), ca["public_key"], test_user) as sshd,
    ):
        rid = admin.add_resource(
            "shared-box",
            sshd,
            username="",
            auth_method="certificate",
            shared=True,
            groups=["physics"],
            account_overrides={"bob": test_user.name},
        )
        seen_by_bob = bob.resource(rid)
        assert (seen_by_bob["shared"], seen_by_bob["can_edit"]) == (True, False)
        assert seen_by_bob["remote_username"] == test_user.name

        # Only those who manage a shared resource may trust its host key.
        with bob.connecting(rid) as talk:
            offered = talk.expect("host_key")
            assert offered["can_confirm"] is False
            talk.send({"type": "confirm_host_key", "id": offered["id"], "accept": True})
            talk.failed("host_key_unknown")
        assert bob.resource(rid)["host_keys"] == []
        admin.trust_host_key(rid, sshd)

        with bob.connecting(rid) as talk:
            connected = talk.connected()
        assert talk.kinds == ["connected"], "a certificate needs no question"
        assert connected["system"]["user"] == test_user.name
        system = bob.get(f"/api/v1/resources/{rid}/system")
        assert system.status_code == 200, system.text
        assert system.json()["user"] == test_user.name
        # sshd took a certificate of labgate's CA, issued for bob.
        accepted = accepted_lines(sshd, "publickey")
        assert len(accepted) == 1, sshd.log
        assert "-CERT " in accepted[0]
        assert "ID labgate:bob:shared-box " in accepted[0]
        assert f"CA ED25519 {ca['fingerprint']}" in accepted[0]

        # Outside the group, the resource does not exist.
        assert eve.get(f"/api/v1/resources/{rid}").status_code == 404
        assert eve.get(f"/api/v1/resources/{rid}/system").status_code == 404
        assert rid not in [r["id"] for r in eve.get("/api/v1/resources").json()["resources"]]
        with eve.connecting(rid) as talk:
            talk.failed("not_found")
        assert len(accepted_lines(sshd, "publickey")) == 1


# -- e: a jump chain --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chain_user(tmp_path_factory: pytest.TempPathFactory, network: JumpNetwork) -> Iterator[Browser]:
    """A user of a server of its own: its daemons on the target are its own, started
    inside the target's namespace (those of ``server`` run in the root namespace, and the
    machine's file system, where they are found, is one)."""
    with labgate_server(tmp_path_factory.mktemp("labgate-chain"), ADMIN_PASSWORD) as running:
        admin = Browser(running, "admin", ADMIN_PASSWORD)
        add_user(admin, "carol")
        admin.close()
        carol = Browser(running, "carol", USER_PASSWORD)
        yield carol
        carol.close()


def test_a_jump_chain_asks_hop_by_hop(
    chain_user: Browser, network: JumpNetwork, jump_sshd: SshServer, target_sshd: SshServer
) -> None:
    carol = chain_user
    hops = [{"host": jump_sshd.host, "port": jump_sshd.port, "auth_method": "password"}]
    rid = carol.add_resource("behind-gw", target_sshd, auth_method="password", hops=hops)
    with carol.connecting(rid) as talk:
        talk.confirm_host_key(jump_sshd, hop=0)
        first = talk.expect("prompt")
        assert (first["kind"], first["hop"]) == ("password", 0)
        assert first["hop_label"] == f"{jump_sshd.user.name}@{jump_sshd.host}:{jump_sshd.port}"
        assert any("hop 1 of 2" in p for p in talk.progress), talk.progress
        assert not any("hop 2 of 2" in p for p in talk.progress), "not before hop 1 is up"
        talk.answer(first, jump_sshd.user.password)
        talk.confirm_host_key(target_sshd, hop=1)
        second = talk.expect("prompt")
        assert (second["kind"], second["hop"]) == ("password", 1)
        assert second["hop_label"] == (
            f"{target_sshd.user.name}@{target_sshd.host}:{target_sshd.port}"
        )
        assert any("hop 2 of 2" in p for p in talk.progress), talk.progress
        talk.answer(second, target_sshd.user.password)
        connected = talk.connected()
    assert talk.kinds == ["host_key", "prompt", "host_key", "prompt", "connected"]
    assert connected["system"]["user"] == target_sshd.user.name
    trusted = {(k["host"], k["port"]): k["fingerprint"] for k in carol.resource(rid)["host_keys"]}
    assert trusted == {
        (jump_sshd.host, jump_sshd.port): jump_sshd.host_key_fingerprint,
        (target_sshd.host, target_sshd.port): target_sshd.host_key_fingerprint,
    }
    # The target let us in from the jump host's inner address: the only way there.
    assert [
        line
        for line in accepted_lines(target_sshd)
        if f" from {network.jump_inner_address} " in line
    ]

    # The files are the target's: its network namespace has only its own link.
    listing = carol.get(f"/api/v1/resources/{rid}/files", params={"path": "/sys/class/net"})
    assert listing.status_code == 200, listing.text
    links = {entry["name"] for entry in listing.json()["entries"]}
    assert links == {"lo", network.target_link}

    # A wrong password for the second hop: the failure names that hop.
    wrong = carol.add_resource("behind-gw-wrong", target_sshd, auth_method="password", hops=hops)
    for server in (jump_sshd, target_sshd):
        carol.trust_host_key(wrong, server)
    with carol.connecting(wrong) as talk:
        talk.answer(talk.expect("prompt"), jump_sshd.user.password)
        second = talk.expect("prompt")
        assert second["hop"] == 1
        talk.answer(second, "not the password")
        error = talk.failed("auth_failed")
    assert talk.kinds == ["prompt", "prompt", "failed"]
    assert error["hop"] == 1
    assert error["hop_label"] == f"{target_sshd.user.name}@{target_sshd.host}:{target_sshd.port}"
    assert "hop 2" in error["message"]
