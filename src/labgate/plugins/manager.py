"""Loading plug-ins and asking what they provide.

:meth:`Plugins.load` registers labgate's own plug-ins (``BUILTIN_PLUGINS``, modules of
labgate marked like any other plug-in) and then those installed under the ``labgate``
entry-point group::

    [project.entry-points.labgate]
    my_plugin = "my_package.labgate_plugin"

Each kind of part is collected once, by name, so that two plug-ins giving the same name
stop the server at start-up with both named, rather than one silently winning.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pluggy

from labgate import __version__
from labgate.errors import ConfigurationError
from labgate.plugins import hookspecs
from labgate.plugins.markers import PROJECT
from labgate.settings import Settings

if TYPE_CHECKING:
    from fastapi import APIRouter

    from labgate.experiments.sources import ExperimentSource
    from labgate.launching.launcher import Launcher
    from labgate.launching.probes import ActivityProbe, ReadinessCheck
    from labgate.launching.template import AppTemplate
    from labgate.plugins.front_end import FileViewer, Pane
    from labgate.resources.transports import TransportKind

ENTRY_POINT_GROUP = "labgate"

#: labgate's own plug-ins, registered before any other, in this order.
BUILTIN_PLUGINS: tuple[str, ...] = (
    "labgate.auth.local",
    "labgate.auth.oidc",
    "labgate.auth.ldap",
    "labgate.auth.pam",
    "labgate.launchers.direct",
    "labgate.launchers.slurm",
    "labgate.launchers.terminal",
    "labgate.sessions.templates",
    "labgate.sessions.probes",
    "labgate.resources.transports",
    "labgate.api.routers",
    "labgate.web.viewers",
    "labgate.web.panes",
    "labgate.experiments.sources",
)

#: The hooks whose parts are collected by name (:meth:`Plugins.named`), with the
#: attribute that names each part.
NAMED_HOOKS: dict[str, str] = {
    "register_auth_providers": "name",
    "register_launchers": "name",
    "register_app_templates": "id",
    "register_activity_probes": "name",
    "register_readiness_checks": "name",
    "register_transports": "name",
    "register_file_viewers": "id",
    "register_panes": "kind",
    "register_frontend_bundles": "name",
    "register_experiment_sources": "name",
}


@dataclass(frozen=True)
class PluginInfo:
    """A loaded plug-in, for ``labgate plugins`` and ``/api/v1/info``."""

    name: str
    version: str
    builtin: bool
    #: The hooks it implements, by name.
    hooks: tuple[str, ...]

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "builtin": self.builtin,
            "hooks": list(self.hooks),
        }


class Plugins:
    """The loaded plug-ins of one server (or one command)."""

    def __init__(self, settings: Settings, manager: pluggy.PluginManager) -> None:
        self.settings = settings
        self.manager = manager
        # What each hook gave, by name: asked once, so every caller sees the same objects.
        self._named: dict[str, dict[str, Any]] = {}
        # And which plug-in gave each.
        self._owners: dict[str, dict[str, str]] = {}
        self._info: tuple[PluginInfo, ...] | None = None

    @classmethod
    def load(
        cls, settings: Settings, *, extra: Iterable[object] = (), entry_points: bool = True
    ) -> Plugins:
        """The built-ins, then (with ``entry_points``) the installed plug-ins, then
        ``extra`` (modules or objects; tests use it). A hook implementation no hook
        specification knows (a misspelt name) is an error."""
        manager = pluggy.PluginManager(PROJECT)
        manager.add_hookspecs(hookspecs)
        for name in BUILTIN_PLUGINS:
            manager.register(importlib.import_module(name), name=name)
        if entry_points:
            # One entry point at a time, so that a plug-in that cannot be imported (a
            # module missing, an error in it) is named with where it was installed from.
            for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
                try:
                    manager.load_setuptools_entrypoints(ENTRY_POINT_GROUP, name=entry.name)
                except Exception as exc:
                    source = f", installed by {entry.dist.name}" if entry.dist else ""
                    raise ConfigurationError(
                        f"The labgate plug-in {entry.name!r} ({entry.value}{source}) could not "
                        f"be loaded: {type(exc).__name__}: {exc}. Install what it needs, or "
                        "uninstall it."
                    ) from exc
        for plugin in extra:
            manager.register(plugin)
        try:
            manager.check_pending()
        except pluggy.PluginValidationError as exc:
            raise ConfigurationError(f"A labgate plug-in does not fit: {exc}") from exc
        return cls(settings, manager)

    # -- what they provide

    def contributions(self, hook: str) -> Iterator[tuple[str, Any]]:
        """(plug-in name, item) for every item every plug-in returns from ``hook``, the
        built-ins first, then the others in the order they were registered."""
        caller = getattr(self.manager.hook, hook)
        arguments = {"settings": self.settings}
        for impl in caller.get_hookimpls():  # pluggy keeps them oldest first
            produced = impl.function(**{name: arguments[name] for name in impl.argnames})
            for item in produced or ():
                yield impl.plugin_name, item

    def named(self, hook: str) -> dict[str, Any]:
        """What ``hook`` (one of :data:`NAMED_HOOKS`) gives, by each item's name; a name
        given twice is a configuration error naming both plug-ins. Asked of the plug-ins
        once."""
        if hook in self._named:
            return self._named[hook]
        key = NAMED_HOOKS[hook]
        found: dict[str, Any] = {}
        owners: dict[str, str] = {}
        for plugin, item in self.contributions(hook):
            name = getattr(item, key)
            if name in found:
                what = hook.removeprefix("register_")
                raise ConfigurationError(
                    f"Plug-ins {owners[name]} and {plugin} both provide {what} {name!r}; "
                    "uninstall one of them."
                )
            found[name] = item
            owners[name] = plugin
        self._named[hook] = found
        self._owners[hook] = owners
        return found

    def owners(self, hook: str) -> dict[str, str]:
        """Which plug-in gave each of :meth:`named`'s parts, by name."""
        self.named(hook)
        return self._owners[hook]

    def auth_providers(self) -> dict[str, type[Any]]:
        return self.named("register_auth_providers")

    def launchers(self) -> dict[str, Launcher]:
        return self.named("register_launchers")

    def app_templates(self) -> dict[str, AppTemplate]:
        """The plug-ins' templates (the administrator's files come on top: see
        ``AppState.templates``)."""
        return self.named("register_app_templates")

    def activity_probes(self) -> dict[str, ActivityProbe]:
        return self.named("register_activity_probes")

    def readiness_checks(self) -> dict[str, ReadinessCheck]:
        return self.named("register_readiness_checks")

    def transports(self) -> dict[str, TransportKind]:
        return self.named("register_transports")

    def file_viewers(self) -> dict[str, FileViewer]:
        return self.named("register_file_viewers")

    def panes(self) -> dict[str, Pane]:
        return self.named("register_panes")

    def experiment_sources(self) -> dict[str, ExperimentSource]:
        return self.named("register_experiment_sources")

    def check(self) -> None:
        """Collect every kind of named part now, so that a name two plug-ins give stops
        the start (or ``labgate config check``) rather than the first request that needs
        that kind of part."""
        for hook in NAMED_HOOKS:
            self.named(hook)

    def routers(self) -> list[APIRouter]:
        """Every plug-in's routers, labgate's own first, in the order they are mounted."""
        return [router for _, router in self.contributions("register_routers")]

    # -- what is loaded

    def info(self) -> tuple[PluginInfo, ...]:
        """Every loaded plug-in with its version and the hooks it implements. Found once
        (a version is read from the distribution's metadata on disk): what is loaded
        does not change after :meth:`load`, and ``/api/v1/info`` asks on every page."""
        if self._info is not None:
            return self._info
        versions = {
            self.manager.get_name(plugin): dist.version
            for plugin, dist in self.manager.list_plugin_distinfo()
        }
        found: list[PluginInfo] = []
        for name, plugin in self.manager.list_name_plugin():
            if plugin is None:  # blocked
                continue
            hooks = tuple(
                sorted(caller.name for caller in self.manager.get_hookcallers(plugin) or ())
            )
            builtin = name in BUILTIN_PLUGINS
            version = __version__ if builtin else versions.get(name, "")
            found.append(PluginInfo(name, version, builtin, hooks))
        self._info = tuple(found)
        return self._info
