"""Plug-ins' front-end bundles: their ``manifest.json``, read and checked at start-up.

A bundle is a directory of built files (plain ES modules, styles, images) with a
``manifest.json`` naming its entry module, the panes and viewer components it registers
and the version of the front-end API it was written for. labgate serves the directory
below ``/plugins/<name>/`` and the browser imports the entry and calls its
``register(api)``. Everything that can be checked without a browser is checked here, so
that a broken bundle stops the start with a message rather than failing in each browser.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from labgate.errors import ConfigurationError
from labgate.plugins.front_end import NAME_PATTERN, FrontendBundle
from labgate.plugins.manager import Plugins

#: The version of the ``register(api)`` API the browser gives bundles (frontend/src/
#: plugins/api.ts says the same; a test compares them). A change that breaks a bundle
#: written for the old API raises it.
FRONTEND_API_VERSION = 1
SUPPORTED_FRONTEND_APIS = frozenset({FRONTEND_API_VERSION})

MANIFEST = "manifest.json"
#: Where bundles are served: ``/plugins/<name>/<file>``.
URL_PREFIX = "/plugins"
#: Vue component names as a bundle registers them (``SampleViewer``, ``sample-viewer``).
COMPONENT_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")
_FIELDS = {"name", "version", "entry", "frontend_api", "panes", "viewers"}


@dataclass(frozen=True)
class Manifest:
    """What ``manifest.json`` says."""

    name: str
    version: str
    #: The entry module, relative to the bundle's directory (``index.js``).
    entry: str
    frontend_api: int
    #: Pane kinds the bundle registers.
    panes: tuple[str, ...]
    #: Viewer component names the bundle registers.
    viewers: tuple[str, ...]


@dataclass(frozen=True)
class LoadedBundle:
    """A bundle whose manifest has been checked: where its files are, what it holds."""

    bundle: FrontendBundle
    manifest: Manifest
    #: The plug-in that provided it.
    plugin: str

    @property
    def name(self) -> str:
        return self.bundle.name

    @property
    def directory(self) -> Path:
        return self.bundle.directory

    @property
    def entry_url(self) -> str:
        return f"{URL_PREFIX}/{self.name}/{self.manifest.entry}"

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.manifest.version, "entry": self.entry_url}


def read_manifest(bundle: FrontendBundle) -> Manifest:
    """``bundle``'s manifest, checked; a ConfigurationError says what is wrong and where."""
    path = bundle.directory / MANIFEST
    where = f"The front-end bundle {bundle.name!r} ({path})"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(f"{where} has no {MANIFEST}.") from None
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"{where}: {MANIFEST} cannot be read: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigurationError(f"{where}: {MANIFEST} must hold a JSON object.")

    def fail(problem: str) -> ConfigurationError:
        return ConfigurationError(f"{where}: {problem}")

    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise fail(f"unknown fields {unknown}; the fields are {sorted(_FIELDS)}.")
    if data.get("name") != bundle.name:
        raise fail(f'"name" is {data.get("name")!r}, but the plug-in calls it {bundle.name!r}.')
    version = data.get("version")
    if not isinstance(version, str) or not version:
        raise fail('"version" must be a non-empty string, e.g. "1.0.0".')
    api = data.get("frontend_api")
    if type(api) is not int or api not in SUPPORTED_FRONTEND_APIS:
        raise fail(
            f'"frontend_api" is {api!r}; this labgate gives bundles front-end API '
            f"{sorted(SUPPORTED_FRONTEND_APIS)}. Install a version of the plug-in made for it."
        )
    entry = _entry(data.get("entry"), bundle.directory, fail)
    panes = _names(data.get("panes", []), "panes", NAME_PATTERN, fail)
    viewers = _names(data.get("viewers", []), "viewers", COMPONENT_PATTERN, fail)
    return Manifest(bundle.name, version, entry, api, panes, viewers)


def _entry(value: object, directory: Path, fail: Any) -> str:
    if not isinstance(value, str) or not value.endswith((".js", ".mjs")):
        raise fail('"entry" must name the JavaScript module to load, e.g. "index.js".')
    relative = PurePosixPath(value)
    if relative.is_absolute() or ".." in relative.parts or "\\" in value:
        raise fail(f'"entry" {value!r} must be a path inside the bundle\'s directory.')
    path = directory / relative
    if not path.is_file():
        raise fail(f'"entry" names {value!r}, which is not a file in {directory}.')
    if not path.resolve().is_relative_to(directory.resolve()):
        # It would be refused when served, as every file that leads out is.
        raise fail(f'"entry" {value!r} leads out of the bundle\'s directory (a symlink).')
    return relative.as_posix()


def _names(value: object, field: str, pattern: re.Pattern[str], fail: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise fail(f'"{field}" must be a list of names.')
    for name in value:
        if not pattern.match(name):
            raise fail(f'"{field}" names {name!r}, which must match {pattern.pattern}.')
    if len(set(value)) != len(value):
        raise fail(f'"{field}" names one twice.')
    return tuple(value)


def load_bundles(plugins: Plugins) -> dict[str, LoadedBundle]:
    """Every plug-in's bundle, by name, each manifest checked; and every viewer and pane a
    plug-in says comes from a bundle is one that bundle's manifest declares."""
    owners = plugins.owners("register_frontend_bundles")
    loaded = {
        name: LoadedBundle(bundle, read_manifest(bundle), owners[name])
        for name, bundle in plugins.named("register_frontend_bundles").items()
    }
    owners = plugins.owners("register_file_viewers")
    for id_, viewer in plugins.file_viewers().items():
        _check_declared(
            loaded, owners[id_], f"viewer {id_!r}", viewer.bundle, "viewers", viewer.component
        )
    owners = plugins.owners("register_panes")
    for kind, pane in plugins.panes().items():
        _check_declared(loaded, owners[kind], f"pane {kind!r}", pane.bundle, "panes", kind)
    return loaded


def _check_declared(
    loaded: dict[str, LoadedBundle], plugin: str, what: str, bundle: str, field: str, name: str
) -> None:
    if not bundle:  # labgate's own front end
        return
    if bundle not in loaded:
        raise ConfigurationError(
            f"The plug-in {plugin}'s {what} comes from the front-end bundle {bundle!r}, "
            "which no plug-in provides."
        )
    declared: tuple[str, ...] = getattr(loaded[bundle].manifest, field)
    if name not in declared:
        raise ConfigurationError(
            f"The plug-in {plugin}'s {what} needs {name!r} from the front-end bundle "
            f"{bundle!r}, whose {MANIFEST} does not list it under {field!r} ({list(declared)})."
        )
