"""Starting the agent on a resource with nothing installed: a one-line loader run by the
resource's python reads the agent's source from standard input and executes it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from labgate.agent import program

PROGRAM_SOURCE = Path(program.__file__).read_bytes()

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
    "scope = {{'__name__': 'labgate_agent'}}\n"
    "exec(compile(source, '<labgate-agent>', 'exec'), scope)\n"
    "scope['main']()\n"
).format(
    minimum=tuple(program.MIN_PYTHON),
    wanted=".".join(str(n) for n in program.MIN_PYTHON),
    too_old=PYTHON_TOO_OLD,
)


def agent_command(python: str = "python3", agent_args: Sequence[str] = ()) -> list[str]:
    """The command that starts the loader on the resource; ``agent_args`` reach the
    agent as its ``sys.argv[1:]`` (see ``program.Options``)."""
    return [python, "-u", "-c", _LOADER, *agent_args]


def agent_payload() -> bytes:
    """What to write to the loader's standard input: the source's length, then it."""
    return b"%d\n" % len(PROGRAM_SOURCE) + PROGRAM_SOURCE
