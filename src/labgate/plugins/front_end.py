"""What plug-ins give the browser: file viewers, panes and the bundles that hold them.

These are plain descriptions: the server lists them in ``/api/v1/info`` and serves the
bundles; the components themselves are front-end code (labgate's own, or a plug-in's
bundle, whose ``manifest.json`` names the module to load).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9.-]*$")


def _check_name(what: str, name: str) -> None:
    if not NAME_PATTERN.match(name):
        raise ValueError(f"{what} name {name!r} must match {NAME_PATTERN.pattern}")


@dataclass(frozen=True)
class FileViewer:
    """A viewer for some files. ``extensions`` (lower case, no dot) and ``names`` (whole
    file names, lower case) choose the files; among viewers claiming the same file the
    highest ``priority`` wins (built-ins have 0). ``component`` is the front end's name
    for the component that shows them."""

    id: str
    title: str
    component: str
    extensions: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    priority: int = 0
    #: The front-end bundle holding the component ("" for labgate's own).
    bundle: str = ""

    def __post_init__(self) -> None:
        _check_name("viewer", self.id)

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "component": self.component,
            "extensions": list(self.extensions),
            "names": list(self.names),
            "priority": self.priority,
            "bundle": self.bundle,
        }


@dataclass(frozen=True)
class Pane:
    """A kind of pane. ``kind`` is stored in users' saved layouts: never rename it.
    ``in_menu``: listed in a menu (panes opened only from elsewhere say False).
    ``admin_only``: offered to administrators only, in the top bar's Administration menu
    rather than the Panes menu (what it shows must still be refused to others by the
    API it reads)."""

    kind: str
    title: str
    in_menu: bool = True
    #: The front-end bundle holding the component ("" for labgate's own).
    bundle: str = ""
    admin_only: bool = False

    def __post_init__(self) -> None:
        _check_name("pane", self.kind)

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "title": self.title,
            "in_menu": self.in_menu,
            "bundle": self.bundle,
            "admin_only": self.admin_only,
        }


@dataclass(frozen=True)
class FrontendBundle:
    """A plug-in's built front-end assets: ``directory`` holds ``manifest.json`` and the
    files it names; they are served below ``/plugins/<name>/``."""

    name: str
    directory: Path

    def __post_init__(self) -> None:
        _check_name("bundle", self.name)
