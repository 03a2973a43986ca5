"""Per-session origins: the setting's checks, which hosts are sessions', the grants (once
across replicas, for one session, for a minute) and cookies, the frame rules, and
labgate's frame-src."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import select, update

from labgate import housekeeping
from labgate.credentials.vault import Vault
from labgate.db.engine import Database
from labgate.db.models import RedeemedGrant
from labgate.http.security_headers import content_security_policy
from labgate.proxy import origins as origins_module
from labgate.proxy.headers import to_app, to_browser
from labgate.proxy.origins import AppOrigins
from labgate.settings import Settings, check_app_domain

SESSION = "k3v9q2m8x1c4b7n0"
OTHER = "a" * 16


def origins_for(tmp_path: Path, database: Database, **values: str) -> AppOrigins:
    settings = Settings(data_dir=tmp_path, **values)  # type: ignore[arg-type]
    vault = Vault(b"a test secret of enough length")
    return AppOrigins(settings, lambda: vault, database)


@pytest.fixture
def origins(tmp_path: Path, database: Database) -> AppOrigins:
    return origins_for(
        tmp_path,
        database,
        public_url="https://labgate.example.org:8443",
        app_domain="{session}.Apps.Example.org",
    )


@pytest.mark.parametrize(
    "value",
    [
        "apps.example.org",  # no placeholder
        "x{session}.example.org",  # not a whole label
        "apps.{session}.example.org",  # not the first label
        "{session}.apps.example.org:8443",  # a port
        "https://{session}.example.org",  # a scheme
        "{session}.exa_mple.org",
        "{session}.-apps.org",
        "{session}.",
    ],
)
def test_bad_app_domains_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="app_domain"):
        check_app_domain(value)


def test_app_domain_needs_a_public_url(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="app_domain needs public_url"):
        Settings(data_dir=tmp_path, app_domain="{session}.apps.example.org")
    assert Settings(data_dir=tmp_path).app_domain == ""


def test_hosts_and_origins(origins: AppOrigins) -> None:
    assert origins.enabled
    assert origins.session_of(f"{SESSION}.apps.example.org") == SESSION
    assert origins.session_of(f"{SESSION.upper()}.APPS.example.org:8443") == SESSION
    assert origins.session_of("labgate.example.org:8443") is None
    assert origins.session_of("apps.example.org") is None
    assert origins.session_of(f"x.{SESSION}.apps.example.org") is None
    assert origins.session_of(f"{SESSION}.apps.example.org.evil.org") is None
    assert origins.session_of("") is None
    assert origins.origin(SESSION) == f"https://{SESSION}.apps.example.org:8443"
    assert origins.labgate_origin == "https://labgate.example.org:8443"
    assert origins.frame_source == "*.apps.example.org:*"
    assert origins.secure


def test_without_an_app_domain_no_host_is_a_session(tmp_path: Path, database: Database) -> None:
    plain = origins_for(tmp_path, database)
    assert not plain.enabled
    assert plain.session_of(f"{SESSION}.apps.example.org") is None


async def test_a_grant_opens_its_session_once(origins: AppOrigins) -> None:
    grant = origins.grant(SESSION, 42)
    assert await origins.redeem(grant, OTHER) is None  # for one session only
    assert await origins.redeem(grant, SESSION) == 42
    assert await origins.redeem(grant, SESSION) is None  # once
    assert await origins.redeem("not a grant", SESSION) is None
    assert await origins.redeem("", SESSION) is None
    tampered = grant[:-4] + ("AAAA" if not grant.endswith("AAAA") else "BBBB")
    assert await origins.redeem(tampered, SESSION) is None


async def test_a_grant_is_taken_once_across_replicas(
    origins: AppOrigins, tmp_path: Path, database: Database
) -> None:
    # Another replica: the same secret and the same database, its own memory.
    replica = origins_for(
        tmp_path,
        database,
        public_url="https://labgate.example.org:8443",
        app_domain="{session}.apps.example.org",
    )
    first = origins.grant(SESSION, 42)
    assert await replica.redeem(first, SESSION) == 42
    assert await origins.redeem(first, SESSION) is None
    # Both at the same moment: exactly one of them gets in.
    second = origins.grant(SESSION, 43)
    answers = await asyncio.gather(*(o.redeem(second, SESSION) for o in (origins, replica) * 3))
    assert sorted(answers, key=lambda a: a is None) == [43] + [None] * 5


@pytest.mark.parametrize(
    "claims",
    [
        {"login": 42, "exp": 4e9, "nonce": "n" * 33},  # longer than any nonce of ours
        {"login": 42, "exp": 4e9, "nonce": ""},
        {"login": 42, "exp": 4e9, "nonce": 7},
        {"login": "42", "exp": 4e9, "nonce": "abc"},
        {"login": 42, "exp": "later", "nonce": "abc"},
        {"login": 42, "nonce": "abc"},
        {"login": 42, "exp": 4e9, "nonce": "abc", "bind": "a" * 64},  # a grant has no binding
        {"login": 42, "exp": 4e9, "nonce": "abc", "bind": 7},
        ["not", "an", "object"],
    ],
)
async def test_grants_with_bad_claims_open_nothing(
    origins: AppOrigins, database: Database, claims: object
) -> None:
    # Sealed with the right secret for the right session, yet not a grant labgate makes.
    vault = Vault(b"a test secret of enough length")
    sealed = vault.seal(json.dumps(claims).encode(), origins_module._GRANT_PURPOSE + SESSION)
    assert await origins.redeem(origins_module._b64(sealed), SESSION) is None
    async with database.read() as db:
        assert (await db.scalars(select(RedeemedGrant))).all() == []


async def test_a_grant_expires(origins: AppOrigins, monkeypatch: pytest.MonkeyPatch) -> None:
    grant = origins.grant(SESSION, 42)
    later = origins_module.time.time() + origins_module.GRANT_SECONDS + 1
    monkeypatch.setattr(origins_module.time, "time", lambda: later)
    assert await origins.redeem(grant, SESSION) is None


async def test_used_grants_are_forgotten_once_expired(
    origins: AppOrigins, database: Database, settings: Settings
) -> None:
    for login in (1, 2, 3):
        assert await origins.redeem(origins.grant(SESSION, login), SESSION) == login
    async with database.read() as db:
        assert len((await db.scalars(select(RedeemedGrant))).all()) == 3
    async with database.session() as db:  # as if their minute had passed
        await db.execute(update(RedeemedGrant).values(expires_at=datetime.now(UTC)))
    assert await origins.redeem(origins.grant(SESSION, 4), SESSION) == 4
    async with database.session() as db:  # housekeeping's round
        assert (await housekeeping.clean_up(db, settings)).grants == 3
    async with database.read() as db:
        left = (await db.scalars(select(RedeemedGrant))).all()
    assert len(left) == 1  # the fourth's, good for another minute
    assert left[0].expires_at > datetime.now(UTC) + timedelta(seconds=30)


async def test_a_grant_from_another_secret_is_worthless(
    origins: AppOrigins, tmp_path: Path, database: Database
) -> None:
    other_vault = Vault(b"another secret of enough length")
    settings = Settings(
        data_dir=tmp_path,
        public_url="https://labgate.example.org",
        app_domain="{session}.apps.example.org",
    )
    other = AppOrigins(settings, lambda: other_vault, database)
    assert await origins.redeem(other.grant(SESSION, 42), SESSION) is None


async def test_the_cookie_names_the_login_for_one_session(origins: AppOrigins) -> None:
    value = origins.cookie_value(SESSION, 7)
    assert origins.login_of(value, SESSION) == 7
    assert origins.login_of(value, OTHER) is None
    assert origins.login_of("", SESSION) is None
    # A grant is not a cookie, nor the other way round.
    assert origins.login_of(origins.grant(SESSION, 7), SESSION) is None
    assert await origins.redeem(value, SESSION) is None
    header = origins.set_cookie_header(SESSION, 7).decode()
    # Over HTTPS a __Host- cookie: no sibling origin (another app) can plant one.
    assert header.startswith("__Host-labgate_app=")
    assert "; Path=/; HttpOnly; SameSite=Lax; Secure" in header
    assert "Domain" not in header


def test_over_http_the_cookies_have_plain_names(tmp_path: Path, database: Database) -> None:
    plain = origins_for(
        tmp_path,
        database,
        public_url="http://labgate.example.org",
        app_domain="{session}.apps.example.org",
    )
    assert plain.set_cookie_header(SESSION, 7).decode().startswith("labgate_app=")
    value, header = plain.new_binding()
    assert header.decode() == f"labgate_bind={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age=60"


async def test_a_pass_opens_its_session_once_in_the_bound_browser(origins: AppOrigins) -> None:
    value, header = origins.new_binding()
    assert header.decode().startswith(f"__Host-labgate_bind={value}; ")
    assert len(value) >= 43  # 32 random bytes
    assert origins_module.is_binding(origins_module.binding_of(value))
    issued = origins.pass_for(SESSION, 42, origins_module.binding_of(value))
    assert origins.check_pass(issued, OTHER) is None  # for one session only
    assert origins.check_grant(issued, SESSION) is None  # a pass is not a grant
    assert origins.check_pass(origins.grant(SESSION, 42), SESSION) is None  # nor the reverse
    claims = origins.check_pass(issued, SESSION)
    assert claims is not None
    assert claims.login == 42
    assert claims.binds(value)
    other_value, _ = origins.new_binding()
    assert not claims.binds(other_value)
    assert not claims.binds("")
    assert await origins.take(claims)
    assert not await origins.take(claims)  # once


PARENT = b"https://labgate.example.org"


@pytest.mark.parametrize(
    ("app_headers", "expected"),
    [
        (
            [(b"Content-Security-Policy", b"frame-ancestors 'self'; report-uri /csp")],
            [
                (
                    b"content-security-policy",
                    b"frame-ancestors 'self' " + PARENT + b"; report-uri /csp",
                )
            ],
        ),
        (
            [(b"content-security-policy", b"frame-ancestors 'none'")],
            [(b"content-security-policy", b"frame-ancestors 'none'")],
        ),
        (
            [(b"x-frame-options", b"SAMEORIGIN")],
            [(b"content-security-policy", b"frame-ancestors 'self' " + PARENT)],
        ),
        ([(b"x-frame-options", b"DENY")], [(b"x-frame-options", b"DENY")]),
        (
            [(b"content-security-policy", b"default-src 'self'")],
            [(b"content-security-policy", b"default-src 'self'")],
        ),
    ],
)
def test_apps_on_their_origin_may_be_framed_by_labgate(
    app_headers: list[tuple[bytes, bytes]], expected: list[tuple[bytes, bytes]]
) -> None:
    assert to_browser(app_headers, framed_by=PARENT) == expected
    # On labgate's own origin nothing changes: 'self' is labgate there.
    assert to_browser(app_headers) == [(n.lower(), v) for n, v in app_headers]


@pytest.mark.parametrize(
    "name", [b"labgate_session", b"__Host-labgate_session", b"__host-labgate_app", b"labgate_x"]
)
def test_apps_set_no_cookie_named_like_labgate_s(name: bytes) -> None:
    theirs = (b"set-cookie", b"theme=dark; Path=/")
    assert to_browser([(b"Set-Cookie", name + b"=stolen; Path=/"), theirs]) == [theirs]
    sent = [(b"cookie", name + b"=secret; theme=dark")]
    assert to_app(sent, auth=None, forwarded_for="", forwarded_proto="https")[0] == (
        b"cookie",
        b"theme=dark",
    )


def test_labgate_frames_the_apps_origins_only_when_set() -> None:
    assert "frame-src" not in content_security_policy()
    policy = content_security_policy(["*.apps.example.org:*"])
    assert "frame-src 'self' *.apps.example.org:*" in policy
    assert "frame-ancestors 'self'" in policy
