"""An experiment's data in a session: what is added to the launch on the chosen resource,
the same for every launcher and every template (it is shell set-up lines, which every
launcher runs before the app).

- Environment variables: ``LABGATE_EXPERIMENT`` (the code) and, for each kind of
  location on that resource, ``LABGATE_EXPERIMENT_RAW``, ``..._PROCESSED``,
  ``..._SCRATCH``: the path, or the paths joined by ``:`` when there are several.
- Links in the working directory named by kind (``raw``, then ``raw-2``...) to each
  location; an existing file of that name that is not a link is left alone.
- The working directory: the (first) processed area, when the launch form leaves it at
  its default (``~``).

Raw data is read-only because the filesystem says so (its permissions on the resource):
labgate does not make it so.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from labgate.db.models import LocationKind

#: The working directories a launch form leaves "at its default".
DEFAULT_WORKDIRS = frozenset({"", "~", "~/"})


@dataclass(frozen=True)
class Attached:
    """What a launch for an experiment gets on one resource."""

    #: The working directory to use (the form's, or the processed area).
    workdir: str
    setup_lines: tuple[str, ...]


def variable(kind: str) -> str:
    return f"LABGATE_EXPERIMENT_{kind.upper()}"


def link_names(locations: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """(link name, path) for each location (kind, path): ``raw``, ``raw-2``..."""
    seen: dict[str, int] = {}
    named = []
    for kind, path in locations:
        seen[kind] = seen.get(kind, 0) + 1
        named.append((kind if seen[kind] == 1 else f"{kind}-{seen[kind]}", path))
    return named


def _shell_dir(workdir: str) -> str:
    """``workdir`` as a shell word, ``~`` expanded by the shell."""
    if workdir in DEFAULT_WORKDIRS:
        return '"$HOME"'
    if workdir.startswith("~/"):
        return '"$HOME"/' + shlex.quote(workdir[2:])
    return shlex.quote(workdir)


def attach(code: str, locations: Sequence[tuple[str, str]], workdir: str) -> Attached:
    """The data of experiment ``code`` (its locations on the resource, as (kind, path) in
    their order) for a launch whose form names ``workdir``."""
    processed = [path for kind, path in locations if kind == LocationKind.PROCESSED.value]
    if workdir.strip() in DEFAULT_WORKDIRS and processed:
        workdir = processed[0]
    lines = [f"export LABGATE_EXPERIMENT={shlex.quote(code)}"]
    for kind in LocationKind:
        paths = [path for k, path in locations if k == kind.value]
        if paths:
            lines.append(f"export {variable(kind.value)}={shlex.quote(':'.join(paths))}")
    links = []
    for name, path in link_names(locations):
        if path == workdir:
            continue  # the working directory itself
        # Replaces a link of that name (an earlier launch's), never a file or directory.
        links.append(
            f"{{ [ -L {name} ] || [ ! -e {name} ]; }} && ln -sfn {shlex.quote(path)} {name}"
        )
    if links:
        # In a subshell of its own: launchers differ in when they change to the working
        # directory, and a link that cannot be made must not stop the app.
        body = "; ".join(links)
        lines.append(f"( cd {_shell_dir(workdir)} 2>/dev/null && {{ {body}; }} ) || true")
    return Attached(workdir=workdir, setup_lines=tuple(lines))
