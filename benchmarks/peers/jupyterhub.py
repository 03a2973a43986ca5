"""JupyterHub, the peer: installed from PyPI into ``.bench/jupyterhub-venv`` and its proxy,
configurable-http-proxy (CHP), from npm into ``.bench/chp``, both cached between runs.

JupyterHub is deployed with CHP in front of the hub: browsers and scripts talk to CHP,
which forwards ``/hub/`` to the hub process. Both ways are measured: through CHP (as
deployed) and at the hub's own port (the hub alone, which is what labgate's single
uvicorn process compares with most directly). CHP is started here, not by the hub
(``ConfigurableHTTPProxy.should_start = False``), so that every process has a PID this
program started and stops.

The hub runs with its defaults apart from: 127.0.0.1 on free ports, SQLite in a
temporary directory, and the shared-password authenticator (JupyterHub's replacement for
the deprecated ``DummyAuthenticator.password``) with one allowed user.
"""

from __future__ import annotations

import contextlib
import html.parser
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx

from benchmarks import CACHE_DIR, ROOT
from benchmarks.load import Probe
from benchmarks.peers import (
    BROWSER_FETCH_HEADERS,
    BROWSER_NAVIGATE_HEADERS,
    Endpoint,
    Peer,
    Scenario,
)
from benchmarks.process import BenchmarkError, ManagedProcess, free_port, run_command

# Pinned so that runs months apart compare the same peer; raise them deliberately.
JUPYTERHUB_SPEC = "jupyterhub==6.1.1"
CHP_SPEC = "configurable-http-proxy@5.3.0"

VENV = CACHE_DIR / "jupyterhub-venv"
CHP_DIR = CACHE_DIR / "chp"
CHP_BIN = CHP_DIR / "node_modules" / ".bin" / "configurable-http-proxy"
STAMP = ".labgate-bench-spec"

HOST = "127.0.0.1"
USERNAME = "alice"
LOGIN_COOKIE = "jupyterhub-hub-login"
SESSION_COOKIE = "jupyterhub-session-id"
XSRF_COOKIE = "_xsrf"

CONFIG = """\
# Written by benchmarks/peers/jupyterhub.py for one benchmark run.
c = get_config()  # noqa
c.JupyterHub.ip = {host!r}
c.JupyterHub.port = {proxy_port}
c.JupyterHub.hub_ip = {host!r}
c.JupyterHub.hub_port = {hub_port}
c.JupyterHub.db_url = {db_url!r}
c.JupyterHub.cookie_secret_file = {cookie_secret_file!r}
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = {password!r}
c.Authenticator.allowed_users = {{{username!r}}}
c.JupyterHub.cleanup_servers = False
c.ConfigurableHTTPProxy.should_start = False
c.ConfigurableHTTPProxy.api_url = {proxy_api_url!r}
"""


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _stamped(directory: Path, spec: str) -> bool:
    stamp = directory / STAMP
    return stamp.exists() and stamp.read_text().strip() == spec


def node_path() -> str:
    """A PATH with a Node.js recent enough for CHP, chosen as the front-end build chooses
    it (``scripts/node-env.sh``)."""
    try:
        return run_command([str(ROOT / "scripts" / "node-env.sh")])
    except subprocess.CalledProcessError as error:
        raise BenchmarkError(
            f"no usable Node.js for configurable-http-proxy:\n{error.stderr}"
        ) from None


def install(path: str) -> None:
    """Install JupyterHub and CHP into ``.bench/`` unless the pinned versions are there."""
    try:
        if not (_stamped(VENV, JUPYTERHUB_SPEC) and (VENV / "bin" / "jupyterhub").exists()):
            _log(f"Installing {JUPYTERHUB_SPEC} into {VENV.relative_to(ROOT)} (once) ...")
            run_command([sys.executable, "-m", "venv", "--clear", str(VENV)])
            python = str(VENV / "bin" / "python")
            pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
            run_command([*pip, JUPYTERHUB_SPEC])
            (VENV / STAMP).write_text(JUPYTERHUB_SPEC + "\n")
    except subprocess.CalledProcessError as error:
        raise BenchmarkError(
            f"installing the peer failed: {' '.join(error.cmd)}\n{error.stderr}"
        ) from None
    install_chp(path)


def install_chp(path: str) -> None:
    """Install the pinned CHP into ``.bench/chp`` unless it is there (``path``: a PATH
    with Node.js, from ``node_path()``). The sessions section uses CHP alone."""
    try:
        if not (_stamped(CHP_DIR, CHP_SPEC) and CHP_BIN.exists()):
            _log(f"Installing {CHP_SPEC} into {CHP_DIR.relative_to(ROOT)} (once) ...")
            CHP_DIR.mkdir(parents=True, exist_ok=True)
            npm = ["npm", "install", "--prefix", str(CHP_DIR), "--no-audit", "--no-fund"]
            run_command([*npm, "--loglevel=error", CHP_SPEC], env={**os.environ, "PATH": path})
            (CHP_DIR / STAMP).write_text(CHP_SPEC + "\n")
    except subprocess.CalledProcessError as error:
        raise BenchmarkError(
            f"installing configurable-http-proxy failed: {' '.join(error.cmd)}\n{error.stderr}"
        ) from None


def _output(argv: list[str], path: str) -> str:
    return run_command(argv, env={**os.environ, "PATH": path})


def versions(path: str) -> dict[str, str]:
    python = str(VENV / "bin" / "python")
    return {
        "jupyterhub": _output([str(VENV / "bin" / "jupyterhub"), "--version"], path),
        "configurable-http-proxy": _output([str(CHP_BIN), "--version"], path),
        "node": _output(["node", "--version"], path),
        "jupyterhub python": _output(
            [python, "-c", "import platform; print(platform.python_version())"], path
        ),
        "tornado": _output([python, "-c", "import tornado; print(tornado.version)"], path),
    }


class _XsrfField(html.parser.HTMLParser):
    """Finds the login form's hidden ``_xsrf`` value."""

    def __init__(self) -> None:
        super().__init__()
        self.value = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        fields = dict(attrs)
        if tag == "input" and fields.get("name") == "_xsrf":
            self.value = fields.get("value") or ""


def _create_token(hub_url: str, password: str) -> str:
    """A token for the user, requested the documented way a user can without a token:
    ``POST /hub/api/users/<name>/tokens`` with the user name and password in the body."""
    answer = httpx.post(
        f"{hub_url}/hub/api/users/{USERNAME}/tokens",
        json={
            "auth": {"username": USERNAME, "password": password},
            "note": "benchmark",
            "expires_in": 86400,
        },
        trust_env=False,
        timeout=30.0,
    )
    if answer.status_code != 201:
        raise BenchmarkError(f"JupyterHub token request failed: {answer.status_code} {answer.text}")
    token: str = answer.json()["token"]
    return token


def _browser_login(proxy_url: str, password: str) -> dict[str, str]:
    """Log in as a browser does (login form with its XSRF field), then open the home page
    so the hub issues the XSRF cookie bound to this session; the cookies."""
    navigate = dict(BROWSER_NAVIGATE_HEADERS)
    with httpx.Client(base_url=proxy_url, trust_env=False, timeout=30.0) as http:
        form = _XsrfField()
        form.feed(http.get("/hub/login", headers=navigate).text)
        answer = http.post(
            "/hub/login",
            data={"username": USERNAME, "password": password, "_xsrf": form.value},
            headers={**navigate, "Sec-Fetch-Site": "same-origin"},
        )
        # A 302 to the user's server: not followed, so nothing is spawned.
        if answer.status_code != 302:
            raise BenchmarkError(
                f"JupyterHub login failed: {answer.status_code} {answer.text[:300]}"
            )
        home = http.get("/hub/home", headers=navigate)
        if home.status_code != 200:
            raise BenchmarkError(f"JupyterHub home page: {home.status_code}")
        cookies = {cookie.name: cookie.value or "" for cookie in http.cookies.jar}
    missing = {LOGIN_COOKIE, XSRF_COOKIE} - cookies.keys()
    if missing:
        raise BenchmarkError(f"JupyterHub login set no {', '.join(sorted(missing))} cookie")
    return cookies


@contextlib.contextmanager
def jupyterhub_peer(workdir: Path, *, cpus: frozenset[int] | None = None) -> Iterator[Peer]:
    """A running JupyterHub behind CHP, with user ``alice``, her token and a login."""
    path = node_path()
    install(path)
    workdir.mkdir(parents=True, exist_ok=True)
    proxy_port, api_port, hub_port = free_port(HOST), free_port(HOST), free_port(HOST)
    password = secrets.token_urlsafe(16)
    proxy_token = secrets.token_hex(32)
    config = workdir / "jupyterhub_config.py"
    config.write_text(
        CONFIG.format(
            host=HOST,
            proxy_port=proxy_port,
            hub_port=hub_port,
            db_url=f"sqlite:///{workdir / 'jupyterhub.sqlite'}",
            cookie_secret_file=str(workdir / "jupyterhub_cookie_secret"),
            password=password,
            username=USERNAME,
            proxy_api_url=f"http://{HOST}:{api_port}",
        )
    )
    env = {**os.environ, "PATH": path, "CONFIGPROXY_AUTH_TOKEN": proxy_token}
    hub_url, proxy_url = f"http://{HOST}:{hub_port}", f"http://{HOST}:{proxy_port}"
    # The command line JupyterHub itself gives CHP when it starts it.
    proxy = ManagedProcess(
        "configurable-http-proxy",
        [
            str(CHP_BIN),
            "--ip",
            HOST,
            "--port",
            str(proxy_port),
            "--api-ip",
            HOST,
            "--api-port",
            str(api_port),
            "--error-target",
            f"{hub_url}/hub/error",
        ],
        env=env,
        cwd=workdir,
        cpus=cpus,
    )
    hub = ManagedProcess(
        "jupyterhub",
        [str(VENV / "bin" / "jupyterhub"), "-f", str(config)],
        env=env,
        cwd=workdir,
        cpus=cpus,
    )
    try:
        proxy.start()
        hub.start()
        hub.wait_until_answers(f"{hub_url}/hub/health")
        # The hub adds its route to CHP once it is up.
        hub.wait_until_answers(f"{proxy_url}/hub/health")
        token = _create_token(hub_url, password)
        cookies = _browser_login(proxy_url, password)
        cookie_header = "; ".join(
            f"{name}={cookies[name]}"
            for name in (LOGIN_COOKIE, SESSION_COOKIE, XSRF_COOKIE)
            if name in cookies
        )
        yield Peer(
            name="jupyterhub",
            endpoints=[
                Endpoint(
                    "jupyterhub_chp",
                    "JupyterHub via CHP",
                    HOST,
                    proxy_port,
                    note="configurable-http-proxy (Node.js) in front of the hub, "
                    "as JupyterHub is deployed",
                ),
                Endpoint(
                    "jupyterhub_direct",
                    "JupyterHub hub direct",
                    HOST,
                    hub_port,
                    note="the hub's own port, bypassing the proxy",
                ),
            ],
            probes={
                Scenario.TOKEN: Probe(
                    "GET",
                    "/hub/api/user",
                    (("Authorization", f"token {token}"), ("Accept", "application/json")),
                ),
                # As JupyterHub's own pages call the API: cookie plus X-XSRFToken.
                Scenario.COOKIE: Probe(
                    "GET",
                    "/hub/api/user",
                    (
                        ("Cookie", cookie_header),
                        ("X-XSRFToken", cookies[XSRF_COOKIE]),
                        *BROWSER_FETCH_HEADERS,
                    ),
                ),
                Scenario.LOGIN_PAGE: Probe("GET", "/hub/login", BROWSER_NAVIGATE_HEADERS),
            },
            versions=versions(path),
            notes=["SharedPasswordAuthenticator, SQLite, hub and CHP as separate processes"],
        )
    finally:
        hub.stop()
        proxy.stop()
