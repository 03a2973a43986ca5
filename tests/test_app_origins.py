"""Per-session origins: the setting's checks, which hosts are sessions', the grants (once,
for one session, for a minute) and cookies, the frame rules, and labgate's frame-src."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from labgate.credentials.vault import Vault
from labgate.http.security_headers import content_security_policy
from labgate.proxy import origins as origins_module
from labgate.proxy.headers import to_browser
from labgate.proxy.origins import AppOrigins, check_app_domain
from labgate.settings import Settings

SESSION = "k3v9q2m8x1c4b7n0"
OTHER = "a" * 16


def origins_for(tmp_path: Path, **values: str) -> AppOrigins:
    settings = Settings(data_dir=tmp_path, **values)  # type: ignore[arg-type]
    vault = Vault(b"a test secret of enough length")
    return AppOrigins(settings, lambda: vault)


@pytest.fixture
def origins(tmp_path: Path) -> AppOrigins:
    return origins_for(
        tmp_path,
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


def test_without_an_app_domain_no_host_is_a_session(tmp_path: Path) -> None:
    plain = origins_for(tmp_path)
    assert not plain.enabled
    assert plain.session_of(f"{SESSION}.apps.example.org") is None


def test_a_grant_opens_its_session_once(origins: AppOrigins) -> None:
    grant = origins.grant(SESSION, 42)
    assert origins.redeem(grant, OTHER) is None  # for one session only
    assert origins.redeem(grant, SESSION) == 42
    assert origins.redeem(grant, SESSION) is None  # once
    assert origins.redeem("not a grant", SESSION) is None
    assert origins.redeem("", SESSION) is None
    tampered = grant[:-4] + ("AAAA" if not grant.endswith("AAAA") else "BBBB")
    assert origins.redeem(tampered, SESSION) is None


def test_a_grant_expires(origins: AppOrigins, monkeypatch: pytest.MonkeyPatch) -> None:
    grant = origins.grant(SESSION, 42)
    later = origins_module.time.time() + origins_module.GRANT_SECONDS + 1
    monkeypatch.setattr(origins_module.time, "time", lambda: later)
    assert origins.redeem(grant, SESSION) is None


def test_a_grant_from_another_secret_is_worthless(origins: AppOrigins, tmp_path: Path) -> None:
    other_vault = Vault(b"another secret of enough length")
    settings = Settings(
        data_dir=tmp_path,
        public_url="https://labgate.example.org",
        app_domain="{session}.apps.example.org",
    )
    other = AppOrigins(settings, lambda: other_vault)
    assert origins.redeem(other.grant(SESSION, 42), SESSION) is None


def test_the_cookie_names_the_login_for_one_session(origins: AppOrigins) -> None:
    value = origins.cookie_value(SESSION, 7)
    assert origins.login_of(value, SESSION) == 7
    assert origins.login_of(value, OTHER) is None
    assert origins.login_of("", SESSION) is None
    # A grant is not a cookie, nor the other way round.
    assert origins.login_of(origins.grant(SESSION, 7), SESSION) is None
    assert origins.redeem(value, SESSION) is None
    header = origins.set_cookie_header(SESSION, 7).decode()
    assert header.startswith("labgate_app=")
    assert "; Path=/; HttpOnly; SameSite=Lax; Secure" in header
    assert "Domain" not in header


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


def test_labgate_frames_the_apps_origins_only_when_set() -> None:
    assert "frame-src" not in content_security_policy()
    policy = content_security_policy(["*.apps.example.org:*"])
    assert "frame-src 'self' *.apps.example.org:*" in policy
    assert "frame-ancestors 'self'" in policy
