"""The tests' apps environment: JupyterLab and TensorBoard for the resource side.

In the tests the resource is this machine, reached over SSH as the local account
``labgate-test`` with Debian's ``/usr/bin/python3``. The apps it runs come from one
virtualenv, built by ``scripts/install-test-apps.sh`` (which ``make test`` runs through
``scripts/install-test-deps.sh``) with the versions labgate pins for its users' apps
environment (``src/labgate/launching/apps-environment.txt``, so what the tests run is what
users get)::

    /opt/labgate-test-apps/<12 hex digits of the requirements' SHA-256>/
        bin/jupyter-lab  bin/tensorboard  bin/python  labgate-test-apps.txt (the stamp)
    /opt/labgate-test-apps/<the same>-wheels/
        a wheel of every pin, for ``app_setup_wheel_directory`` (``AppsEnv.wheels``)

Every account can read and run it; only root writes it. ``$LABGATE_TEST_APPS_ROOT``
replaces ``/opt/labgate-test-apps``. Each version of the requirements has its own
directory, so work trees with different pins do not disturb each other.

From a test: ask for the session fixture ``apps_env`` (``tests/conftest.py``; skipped when
not root), which is ``ensure_apps_env()``: an ``AppsEnv`` with ``jupyter_lab``,
``tensorboard`` and ``python``. It builds the environment if it is missing (a few minutes
once per machine), so a test run outside ``make test`` works too.
``write_scalars(env, logdir, user)`` writes a TensorBoard log directory of scalars as the
account, with TensorBoard's own ``tensorboard.summary.Writer`` (no TensorFlow needed).
``tests/support/processes.py`` starts the apps as the account and stops them by PID.

JupyterLab can listen on a Unix socket (``--ServerApp.sock=PATH``, mode
``--ServerApp.sock_mode``, 0600 by default: only its user can connect);
``tests/test_support_apps.py`` shows both that and TCP, with a base URL and a token.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import run_as
from tests.support.sshd import TestUser

__all__ = [
    "DEFAULT_ROOT",
    "INSTALL_SCRIPT",
    "REQUIREMENTS",
    "ROOT_VARIABLE",
    "AppsEnv",
    "AppsNotAvailable",
    "apps_env_path",
    "ensure_apps_env",
    "find_apps_env",
    "write_scalars",
]

REPO = Path(__file__).resolve().parents[2]
REQUIREMENTS = REPO / "src" / "labgate" / "launching" / "apps-environment.txt"
INSTALL_SCRIPT = REPO / "scripts" / "install-test-apps.sh"
ROOT_VARIABLE = "LABGATE_TEST_APPS_ROOT"
DEFAULT_ROOT = Path("/opt/labgate-test-apps")
STAMP_NAME = "labgate-test-apps.txt"
BUILD_TIMEOUT = 900.0


class AppsNotAvailable(RuntimeError):
    """The apps environment is missing and could not be built."""


@dataclass(frozen=True)
class AppsEnv:
    """A complete apps environment (its stamp matches the pins) and its wheel directory."""

    path: Path

    @property
    def bin(self) -> Path:
        return self.path / "bin"

    @property
    def wheels(self) -> Path:
        """A wheel of every pin: a wheel directory for the apps environment's setup."""
        return self.path.with_name(self.path.name + "-wheels")

    @property
    def python(self) -> Path:
        """The environment's interpreter (Debian's python3 underneath)."""
        return self.bin / "python"

    @property
    def jupyter_lab(self) -> Path:
        return self.bin / "jupyter-lab"

    @property
    def tensorboard(self) -> Path:
        return self.bin / "tensorboard"

    def version(self, distribution: str) -> str:
        """The installed version of ``distribution`` (e.g. ``"jupyterlab"``)."""
        result = subprocess.run(
            [
                str(self.python),
                "-c",
                "import importlib.metadata, sys; print(importlib.metadata.version(sys.argv[1]))",
                distribution,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return result.stdout.strip()


def apps_env_path() -> Path:
    """Where the environment for the current pins lives (the
    same rule as ``scripts/install-test-apps.sh``)."""
    root = Path(os.environ.get(ROOT_VARIABLE) or DEFAULT_ROOT)
    return root / hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:12]


def find_apps_env() -> AppsEnv | None:
    """The environment if it (and its wheel directory) is complete, else None. Never
    builds anything."""
    path = apps_env_path()
    wheels = AppsEnv(path).wheels
    try:
        complete = all(
            (where / STAMP_NAME).read_bytes() == REQUIREMENTS.read_bytes()
            for where in (path, wheels)
        )
    except FileNotFoundError:
        return None
    return AppsEnv(path) if complete else None


def ensure_apps_env() -> AppsEnv:
    """The environment, built first by ``scripts/install-test-apps.sh`` if missing."""
    found = find_apps_env()
    if found is not None:
        return found
    result = subprocess.run(
        [str(INSTALL_SCRIPT)], capture_output=True, text=True, check=False, timeout=BUILD_TIMEOUT
    )
    found = find_apps_env()
    if result.returncode != 0 or found is None:
        raise AppsNotAvailable(
            f"{INSTALL_SCRIPT.name} failed (exit {result.returncode}):\n"
            f"{result.stderr.strip()[-4000:]}"
        )
    return found


_WRITE_SCALARS = """
import json, sys
from tensorboard.summary import Writer

logdir, tag, points = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
writer = Writer(logdir)
for step, value in points:
    writer.add_scalar(tag, value, step, wall_time=1_700_000_000.0 + step)
writer.close()
"""


def write_scalars(
    env: AppsEnv,
    logdir: Path,
    user: TestUser,
    *,
    tag: str = "loss",
    values: Sequence[float] = (1.0, 0.5, 0.25),
) -> list[tuple[int, float]]:
    """Write scalars ``tag`` (steps 0, 1, ...) as an event file in ``logdir``, as
    ``user``, so that the files belong to the account; return the (step, value) points.

    ``logdir`` is created (with parents) as ``user``: give a path in a directory the
    account owns, e.g. ``processes.user_directory(user) / "runs" / "run1"``; TensorBoard
    then lists the run as ``run1``.
    """
    points = [(step, float(value)) for step, value in enumerate(values)]
    result = run_as(
        user,
        [str(env.python), "-c", _WRITE_SCALARS, str(logdir), tag, json.dumps(points)],
    )
    if result.returncode != 0:
        raise AppsNotAvailable(f"writing scalars to {logdir} failed:\n{result.stderr.strip()}")
    return points
