"""Why an app did not start, in words a user can act on, from what it printed."""

from __future__ import annotations

import re

from labgate.launching.apps_environment import MODULES, OFFER, PROGRAMS
from labgate.launching.decisive import decisive_lines
from labgate.launching.template import AppTemplate

_NOT_FOUND = re.compile(r"(?:^|\s|:)([\w./-]+): (?:command )?not found", re.MULTILINE)
_MODULE = re.compile(r"ModuleNotFoundError: No module named '([^']+)'")


# Added to an app's log by its launcher (launchers/direct.py) when the app runs but its
# endpoint cannot be opened: the sentence after the prefix is for the user.
UNREACHABLE_PREFIX = "labgate: "
_UNREACHABLE = re.compile(
    "^" + re.escape(UNREACHABLE_PREFIX) + r"(The app is running but labgate cannot reach .*)$",
    re.MULTILINE,
)


# Starts the line in which a start program of labgate's (the desktop's,
# sessions/desktop_program.py) says why the app cannot start: the rest of the line is
# the cause, for the user ("Xvnc was not found on node1: install ...").
CANNOT_START_PREFIX = "labgate: cannot start: "
_CANNOT_START = re.compile("^" + re.escape(CANNOT_START_PREFIX) + r"(.+)$", re.MULTILINE)


def unreachable_note(where: str, reason: str) -> str:
    """The line a launcher adds to the log of an app that runs where labgate cannot
    reach it (another network namespace or container, another address)."""
    return (
        f"{UNREACHABLE_PREFIX}The app is running but labgate cannot reach it at {where} from "
        f"this host's network ({reason}): it may listen in another network namespace or "
        "container than the one labgate's SSH connection arrives in, or on another address."
    )


def with_decisive_lines(summary: str, log: str) -> str:
    """``summary``, then on lines of their own the decisive lines of ``log`` (see
    :func:`~labgate.launching.decisive.decisive_lines`), or that it printed nothing."""
    lines = decisive_lines(log)
    if not lines:
        return f"{summary} It printed nothing."
    return "\n".join([summary, *lines])


def program_of(template: AppTemplate) -> str:
    """The program the template's command starts (its first word)."""
    return template.command.split(" ", 1)[0].strip("{}")


def missing_program(template: AppTemplate, log: str) -> str | None:
    """The program the log says was not found on the resource, or None."""
    program = program_of(template)
    missing = _NOT_FOUND.search(log)
    if missing:
        return missing.group(1)
    if "No such file or directory" in log and program in log:
        return program
    return None


def missing_module(log: str) -> str | None:
    """The Python module the log says is missing, or None."""
    module = _MODULE.search(log)
    return module.group(1) if module else None


def explain(template: AppTemplate, log: str, fallback: str) -> str:
    """For the user: the cause when the log shows a known one, else ``fallback``
    followed by the app's decisive lines (:func:`with_decisive_lines`), each on a line
    of its own."""
    unreachable = _UNREACHABLE.search(log)
    if unreachable:
        return unreachable.group(1)
    cannot = _CANNOT_START.findall(log)
    if cannot:
        return f"{template.title} cannot start: {cannot[-1].strip()}"
    if "Address already in use" in log or "EADDRINUSE" in log:
        return (
            f"{template.title} could not listen: the port or socket is in use by another "
            "program. Launch again to get another one."
        )
    name = missing_program(template, log)
    if name is not None:
        if any(f.shell_code for f in template.fields):
            fix = "Check the command"
        elif offers_apps_setup(template, log):
            fix = (
                f"labgate can set it up for you (\u201c{OFFER}\u201d); or install "
                f"{template.title} there yourself"
            )
        else:
            fix = f"Install {template.title} there"
        return (
            f"{name} was not found on the resource. {fix}, or add the lines that make it "
            "available to the environment of the launch form (for example "
            "`source ~/venv/bin/activate` or `module load ...`)."
        )
    module = missing_module(log)
    if module is not None:
        return (
            f"{template.title} needs the Python module {module!r}, which the "
            "environment does not have."
        )
    if "Permission denied" in log:
        return with_decisive_lines(
            f"{template.title} was refused access to a file or folder it needs.", log
        )
    return with_decisive_lines(fallback, log)


def offers_apps_setup(template: AppTemplate, log: str) -> bool:
    """Whether a launch of ``template`` that printed ``log`` failed because the program
    the apps environment provides (JupyterLab, TensorBoard) is missing, so that setting
    it up would help."""
    if program_of(template) not in PROGRAMS:
        return False
    return missing_program(template, log) in PROGRAMS or missing_module(log) in MODULES
