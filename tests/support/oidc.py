"""A real OpenID provider for the sign-in tests: panva's ``oidc-provider`` under Node.js
(``tests/support/oidc_provider/provider.mjs``), on a free port of 127.0.0.1.

``running_oidc_provider(workdir, clients)`` writes the provider's state directory
(its clients, a signing key, no accounts yet), starts it, waits for its discovery
document and stops it by PID when the block ends. The test then changes what the
provider reads on every use: its accounts (:meth:`TestProvider.set_accounts`,
``disabled`` for an account it no longer knows) and its switches
(:meth:`TestProvider.control`: how long a code lives, ID tokens for another audience or
with another ``sub``, ``id_token_sub=None`` for none).
:meth:`TestProvider.rotate_key` restarts it with a new signing key first in its set.

The provider's npm packages are installed from its package-lock.json (``npm ci``) when
they are missing; ``make test`` installs them beforehand (scripts/install-test-deps.sh).
Node.js is the one the front end's build uses (scripts/node-env.sh).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from joserfc.jwk import RSAKey

from tests.support.eventually import NotEventually, eventually_sync, within
from tests.support.server import free_port

PROVIDER_DIR = Path(__file__).with_name("oidc_provider")
ROOT = Path(__file__).resolve().parents[2]
STOP_GRACE = 10.0


def node_path() -> str:
    """PATH with a recent enough Node.js first (scripts/node-env.sh)."""
    found = subprocess.run(
        [str(ROOT / "scripts" / "node-env.sh")], capture_output=True, text=True, check=True
    )
    return found.stdout.strip()


def ensure_packages() -> None:
    """``npm ci`` in the provider's directory, unless its packages are installed."""
    if (PROVIDER_DIR / "node_modules" / "oidc-provider" / "package.json").exists():
        return
    subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund"],
        cwd=PROVIDER_DIR,
        env={**os.environ, "PATH": node_path()},
        check=True,
        stdin=subprocess.DEVNULL,
    )


def new_signing_key(kid: str) -> dict[str, Any]:
    """A private RSA JWK for the provider to sign with."""
    key = RSAKey.generate_key(2048, parameters={"kid": kid, "alg": "RS256", "use": "sig"})
    return dict(key.as_dict(private=True))


class TestProvider:
    """The provider process and the files it reads."""

    __test__ = False  # not a test class, whatever pytest thinks of its name

    def __init__(self, workdir: Path, clients: list[dict[str, Any]]) -> None:
        self.state_dir = workdir
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.keys = [new_signing_key("key-1")]
        self._write("config.json", {"port": self.port, "clients": clients})
        self._write("keys.json", {"keys": self.keys})
        self._write("accounts.json", [])
        self._write("control.json", {})

    def _write(self, name: str, value: object) -> None:
        path = self.state_dir / name
        temporary = path.with_suffix(".new")
        temporary.write_text(json.dumps(value))
        temporary.replace(path)  # the provider never reads half a file

    @property
    def log(self) -> str:
        path = self.state_dir / f"provider-{self.starts}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def set_accounts(self, accounts: list[dict[str, Any]]) -> None:
        self._write("accounts.json", accounts)

    def control(self, **switches: Any) -> None:
        """Replace the switches (none given: all off)."""
        self._write("control.json", switches)

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None
        self.starts += 1
        with (self.state_dir / f"provider-{self.starts}.log").open("wb") as log:
            self.process = subprocess.Popen(
                ["node", str(PROVIDER_DIR / "provider.mjs"), str(self.state_dir)],
                cwd=PROVIDER_DIR,
                env={**os.environ, "PATH": node_path(), "NODE_ENV": "test"},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        url = self.issuer + "/.well-known/openid-configuration"

        def discovery() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"the OpenID provider exited:\n{self.log}")
            with contextlib.suppress(httpx.TransportError):
                return httpx.get(url, timeout=2.0, trust_env=False).status_code == 200
            return False

        try:
            eventually_sync(discovery, what="the OpenID provider's discovery document")
        except NotEventually:
            self.stop()
            raise

    def stop(self) -> None:
        """SIGTERM to the provider's PID, SIGKILL after a grace; never fails."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        if not within(STOP_GRACE, lambda: process.poll() is not None):
            process.kill()
        process.wait()

    def rotate_key(self) -> str:
        """Restart with a new signing key first in the set (the old one after it); its
        kid."""
        kid = f"key-{len(self.keys) + 1}"
        self.keys = [new_signing_key(kid), *self.keys]
        self._write("keys.json", {"keys": self.keys})
        self.stop()
        self.start()
        return kid


@contextlib.contextmanager
def running_oidc_provider(workdir: Path, clients: list[dict[str, Any]]) -> Iterator[TestProvider]:
    """A started provider with ``clients`` (oidc-provider's client metadata), stopped at
    the end of the block whatever happened in it."""
    ensure_packages()
    provider = TestProvider(workdir, clients)
    try:
        provider.start()
        yield provider
    finally:
        provider.stop()


def labgate_client(port: int, secret: str, *, name: str = "oidc") -> dict[str, Any]:
    """The provider's client for a labgate server on ``port`` of 127.0.0.1 whose section
    ``name`` signs in there: its callback, its page after logging out, refresh tokens."""
    base = f"http://127.0.0.1:{port}"
    return {
        "client_id": "labgate",
        "client_secret": secret,
        "redirect_uris": [f"{base}/api/v1/auth/providers/{name}/callback"],
        "post_logout_redirect_uris": [f"{base}/login"],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_basic",
    }


def through_provider(
    http: httpx.Client, url: str, login: str, password: str, *, cancel: bool = False
) -> str:
    """Follow ``url`` (the provider's authorization URL) through its sign-in form as a
    browser would, signing in as ``login`` (or pressing Cancel); where the provider sends
    the browser back (labgate's callback, not followed)."""
    answer = http.get(url)
    while answer.is_redirect:
        assert answer.next_request is not None
        target = answer.next_request.url
        if not str(target).startswith(_origin_of(url)):
            return str(target)
        answer = http.get(target)
        if answer.status_code == 200 and "/interaction/" in target.path:
            # The sign-in form (a consent alone is given without one).
            action = "cancel" if cancel else "login"
            answer = http.post(f"{target}/{action}", data={"login": login, "password": password})
            assert answer.is_redirect, f"the provider's form said: {answer.text}"
    raise AssertionError(f"the provider did not send the browser back: {answer.text[:500]}")


def _origin_of(url: str) -> str:
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.host}:{parsed.port}"
