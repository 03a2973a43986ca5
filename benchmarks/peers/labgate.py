"""labgate itself: ``labgate serve`` from this checkout's virtualenv, served directly by
uvicorn (there is no proxy in front of labgate), with default settings and an SQLite
database in a temporary data directory."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx

from benchmarks import ROOT
from benchmarks.load import Probe
from benchmarks.peers import (
    BROWSER_FETCH_HEADERS,
    BROWSER_NAVIGATE_HEADERS,
    Endpoint,
    Peer,
    Scenario,
)
from benchmarks.process import BenchmarkError, ManagedProcess, free_port, run_command

HOST = "127.0.0.1"
USERNAME = "alice"
COOKIE_NAME = "labgate_session"
NOT_BUILT_MARKER = "front end is not built"


def labgate_executable() -> Path:
    """The ``labgate`` script next to the running interpreter (``.venv/bin/labgate``)."""
    path = Path(sys.executable).with_name("labgate")
    if not path.exists():
        raise BenchmarkError(f"{path} not found: run the benchmarks with .venv/bin/python")
    return path


def labgate_version() -> str:
    """The installed version, with the checkout's commit (and ``+dirty`` if changed)."""
    version = importlib.metadata.version("labgate")
    try:
        commit = run_command(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
        dirty = run_command(["git", "-C", str(ROOT), "status", "--porcelain", "-uno"])
    except (OSError, subprocess.CalledProcessError):
        return version
    return f"{version} ({commit}{'+dirty' if dirty else ''})"


def clean_environment(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment without any ``LABGATE_*`` setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABGATE_")}
    env.update(extra)
    return env


def _login(http: httpx.Client, username: str, password: str) -> str:
    """Log in; the CSRF token (the cookie stays in ``http``)."""
    answer = http.post("/api/v1/auth/login", json={"username": username, "password": password})
    if answer.status_code != 200:
        raise BenchmarkError(f"labgate login as {username} failed: {answer.text}")
    csrf: str = answer.json()["csrf_token"]
    return csrf


def prepare_user(url: str, admin_password: str) -> tuple[str, str]:
    """Create the user, log in as them and create an API token; (token, session cookie)."""
    password = secrets.token_urlsafe(16)
    with httpx.Client(base_url=url, trust_env=False, timeout=30.0) as admin:
        csrf = _login(admin, "admin", admin_password)
        created = admin.post(
            "/api/v1/users",
            json={"username": USERNAME, "password": password, "role": "user"},
            headers={"X-CSRF-Token": csrf},
        )
        if created.status_code != 201:
            raise BenchmarkError(f"labgate could not create {USERNAME}: {created.text}")
    with httpx.Client(base_url=url, trust_env=False, timeout=30.0) as user:
        csrf = _login(user, USERNAME, password)
        cookie = user.cookies.get(COOKIE_NAME)
        made = user.post(
            "/api/v1/tokens",
            json={"name": "benchmark", "scopes": ["read", "write"], "expires_in_days": 1},
            headers={"X-CSRF-Token": csrf},
        )
        if made.status_code != 201 or not cookie:
            raise BenchmarkError(f"labgate could not create a token: {made.text}")
        token: str = made.json()["secret"]
    return token, cookie


@contextlib.contextmanager
def labgate_peer(workdir: Path, *, cpus: frozenset[int] | None = None) -> Iterator[Peer]:
    """A running labgate with user ``alice``, her API token and a login session."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port(HOST)
    admin_password = secrets.token_urlsafe(18)
    server = ManagedProcess(
        "labgate",
        [
            str(labgate_executable()),
            "serve",
            "--host",
            HOST,
            "--port",
            str(port),
            "--data-dir",
            str(workdir / "data"),
        ],
        env=clean_environment({"LABGATE_ADMIN_PASSWORD": admin_password}),
        cwd=workdir,
        cpus=cpus,
    )
    url = f"http://{HOST}:{port}"
    try:
        server.start()
        server.wait_until_answers(f"{url}/healthz")
        token, cookie = prepare_user(url, admin_password)
        notes = ["served directly by uvicorn (one process); no proxy in front"]
        with httpx.Client(base_url=url, trust_env=False) as http:
            if NOT_BUILT_MARKER in http.get("/").text:
                notes.append(
                    "WARNING: the front end is not built, so `GET /` served the short "
                    "'not built' page instead of index.html (run `make frontend`)"
                )
        yield Peer(
            name="labgate",
            endpoints=[Endpoint("labgate", "labgate", HOST, port, note=notes[0])],
            probes={
                Scenario.TOKEN: Probe(
                    "GET",
                    "/api/v1/users/me",
                    (("Authorization", f"Bearer {token}"), ("Accept", "application/json")),
                ),
                Scenario.COOKIE: Probe(
                    "GET",
                    "/api/v1/auth/session",
                    (("Cookie", f"{COOKIE_NAME}={cookie}"), *BROWSER_FETCH_HEADERS),
                ),
                Scenario.LOGIN_PAGE: Probe("GET", "/", BROWSER_NAVIGATE_HEADERS),
            },
            versions={"labgate": labgate_version()},
            notes=notes,
        )
    finally:
        server.stop()
