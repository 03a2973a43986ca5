"""Why an app did not start, in words a user can act on, from what it printed."""

from __future__ import annotations

import re

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


def explain(template: AppTemplate, log: str, fallback: str) -> str:
    """For the user: the cause when the log shows a known one, else ``fallback``
    followed by the app's decisive lines (:func:`with_decisive_lines`), each on a line
    of its own."""
    unreachable = _UNREACHABLE.search(log)
    if unreachable:
        return unreachable.group(1)
    program = template.command.split(" ", 1)[0].strip("{}")
    if "Address already in use" in log or "EADDRINUSE" in log:
        return (
            f"{template.title} could not listen: the port or socket is in use by another "
            "program. Launch again to get another one."
        )
    missing = _NOT_FOUND.search(log)
    if missing or ("No such file or directory" in log and program in log):
        name = missing.group(1) if missing else program
        fix = (
            "Check the command"
            if any(f.shell_code for f in template.fields)
            else f"Install {template.title} there"
        )
        return (
            f"{name} was not found on the resource. {fix}, or add the lines that make it "
            "available to the environment of the launch form (for example "
            "`source ~/venv/bin/activate` or `module load ...`)."
        )
    module = _MODULE.search(log)
    if module:
        return (
            f"{template.title} needs the Python module {module.group(1)!r}, which the "
            "environment does not have."
        )
    if "Permission denied" in log:
        return with_decisive_lines(
            f"{template.title} was refused access to a file or folder it needs.", log
        )
    return with_decisive_lines(fallback, log)
