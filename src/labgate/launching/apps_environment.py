"""The apps environment: JupyterLab and TensorBoard that labgate sets up for a user on a
resource when a template's program is missing there ("Set up JupyterLab and TensorBoard
for me").

It is a Python virtual environment in the user's home on the resource,
``~/.local/share/labgate/apps/<digest>/``, with the versions pinned in
``apps-environment.txt`` beside this module (every dependency pinned). The digest is of
the pins, so a labgate with other pins makes a new environment beside the old one and
never changes one in place; a stamp written last marks an environment complete.
Launches on the resource find its programs by themselves: :func:`path_line` adds its
``bin`` to the END of ``PATH`` once it is complete, so a user's own jupyter still wins.

How the setup runs is :mod:`labgate.launching.apps_setup`; what it prints is read into a
progress bar here (:func:`read_progress`).
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from typing import Literal

PINS_FILE = "apps-environment.txt"
#: Below the user's home on the resource.
ENVIRONMENTS_DIR = ".local/share/labgate/apps"
#: Written last into a complete environment: a copy of the pins.
STAMP_NAME = "labgate-apps.txt"
#: The programs it provides: a template whose program is one of these and is missing is
#: offered the setup.
PROGRAMS = frozenset({"jupyter-lab", "jupyter", "tensorboard"})
#: The Python modules behind them (a program found whose module is missing: the same).
MODULES = frozenset({"jupyterlab", "jupyter_server", "notebook", "tensorboard"})
#: What the offer says (the front end shows it as the button's label).
OFFER = "Set up JupyterLab and TensorBoard for me"


@functools.cache
def pins() -> bytes:
    """The pins file as shipped in the package."""
    return resources.files("labgate.launching").joinpath(PINS_FILE).read_bytes()


def pin_lines(text: bytes | None = None) -> list[str]:
    """The requirement lines of the pins (comments and blank lines left out)."""
    lines = (pins() if text is None else text).decode().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


@functools.cache
def digest() -> str:
    """Names the environment: 12 hex digits of the SHA-256 of the requirement lines (a
    changed comment makes no new environment)."""
    return hashlib.sha256("\n".join(pin_lines()).encode()).hexdigest()[:12]


def directory() -> str:
    """The environment's directory on the resource, below ``~``."""
    return f"~/{ENVIRONMENTS_DIR}/{digest()}"


def path_line() -> str:
    """A shell line for a launch's set-up: the environment's ``bin`` at the end of
    ``PATH``, if the environment is complete."""
    where = f'"$HOME"/{ENVIRONMENTS_DIR}/{digest()}'
    return (
        f"if [ -f {where}/{STAMP_NAME} ]; then "
        f'PATH="${{PATH:+$PATH:}}$HOME/{ENVIRONMENTS_DIR}/{digest()}/bin"; export PATH; fi'
    )


# -- progress ---------------------------------------------------------------------------

Outcome = Literal["running", "succeeded", "failed"]

# Printed by the setup program (apps_setup_program.py) and by pip.
_MARK = "[labgate] "
_INSTALLING = re.compile(r"^\[labgate\] Installing (\d+) packages", re.MULTILINE)
_COLLECTING = re.compile(
    r"^(?:Collecting|Processing|Requirement already satisfied:) ", re.MULTILINE
)
_PIP_ERROR = re.compile(r"^(?:ERROR|error): .*$", re.MULTILINE)

# The fraction done at each milestone; collecting the pins fills the stretch between
# the venv and pip's install.
_VENV, _COLLECTED, _INSTALLED = 0.1, 0.7, 0.95


@dataclass(frozen=True)
class SetupProgress:
    """Where a setup is, read from what it printed."""

    outcome: Outcome
    #: From 0 to 1.
    fraction: float
    #: The current step in words ("Installing 96 packages from the package index").
    step: str
    #: At the end: the sentence for the user (success, or why it failed).
    message: str = ""
    #: At a failure: pip's decisive error lines.
    errors: tuple[str, ...] = ()


def read_progress(output: str, *, running: bool, exit_status: int | None) -> SetupProgress:
    """The progress of a setup that printed ``output``; ``running``: its process has not
    ended (else ``exit_status`` is how it ended, None when killed by a signal)."""
    marks = [line[len(_MARK) :] for line in output.splitlines() if line.startswith(_MARK)]
    step = marks[-1] if marks else "Starting the setup"
    errors = tuple(_PIP_ERROR.findall(output)[-6:])
    if marks and marks[-1].startswith("Done: "):
        return SetupProgress("succeeded", 1.0, "Done", marks[-1][len("Done: ") :])
    if not running or (marks and marks[-1].startswith("Failed: ")):
        if marks and marks[-1].startswith("Failed: "):
            message = marks[-1][len("Failed: ") :]
        elif exit_status is None:
            message = "The setup was stopped before it finished; start it again."
        else:
            message = f"The setup ended with status {exit_status} (see its log)."
        return SetupProgress("failed", _fraction(output), "Failed", message, errors)
    return SetupProgress("running", _fraction(output), step)


def _fraction(output: str) -> float:
    installing = _INSTALLING.search(output)
    if installing is None:
        return 0.02 if _MARK + "Creating" not in output else 0.05
    if "Successfully installed" in output or _MARK + "Checking" in output:
        return _INSTALLED
    if "Installing collected packages" in output:
        return _COLLECTED + 0.05
    total = max(1, int(installing.group(1)))
    collected = len(_COLLECTING.findall(output, installing.end()))
    return _VENV + (_COLLECTED - _VENV) * min(1.0, collected / total)
