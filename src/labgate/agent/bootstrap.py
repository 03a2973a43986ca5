"""Starting the agent on a resource with nothing installed: a one-line loader run by the
resource's python reads a small program from standard input and runs it; that program
(``remote/boot.py``) reads the agent's modules that follow and imports them from memory."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from labgate.agent.remote.wire import MIN_PYTHON

REMOTE = Path(__file__).with_name("remote")
BOOT_SOURCE = (REMOTE / "boot.py").read_bytes()
# The agent's modules by name (``__init__`` for the package): what the resource imports.
MODULE_SOURCES = {
    path.stem: path.read_bytes() for path in sorted(REMOTE.glob("*.py")) if path.name != "boot.py"
}

# Exit status of the loader when the interpreter is too old to run the agent.
PYTHON_TOO_OLD = 97

# Kept to syntax any Python 3 parses, so that an old interpreter gets to say it is old.
_LOADER = (
    "import sys\n"
    "if sys.version_info < {minimum}:\n"
    "    sys.stderr.write('labgate-agent: python %s is too old; {wanted} or newer is needed\\n'"
    " % sys.version.split()[0])\n"
    "    sys.exit({too_old})\n"
    "size = int(sys.stdin.buffer.readline())\n"
    "source = sys.stdin.buffer.read(size)\n"
    "scope = {{'__name__': 'labgate_agent_boot'}}\n"
    "exec(compile(source, '<labgate-agent>', 'exec'), scope)\n"
    "scope['main']()\n"
).format(
    minimum=tuple(MIN_PYTHON),
    wanted=".".join(str(n) for n in MIN_PYTHON),
    too_old=PYTHON_TOO_OLD,
)


def agent_command(python: str = "python3", agent_args: Sequence[str] = ()) -> list[str]:
    """The command that starts the loader on the resource; ``agent_args`` reach the
    agent as its ``sys.argv[1:]`` (see ``remote/runtime.py``, ``Options``)."""
    return [python, "-u", "-c", _LOADER, *agent_args]


def agent_payload() -> bytes:
    """What to write to the loader's standard input: the boot program's length and source,
    then the modules' names and sizes (a line of JSON) and their sources."""
    manifest = json.dumps([[name, len(source)] for name, source in MODULE_SOURCES.items()])
    return b"%d\n%s%s\n%s" % (
        len(BOOT_SOURCE),
        BOOT_SOURCE,
        manifest.encode(),
        b"".join(MODULE_SOURCES.values()),
    )
