"""Plug-ins: how labgate is extended, and how its own parts are put together.

labgate uses pluggy, the library behind pytest and Datasette. ``hookspecs`` declares what
a plug-in may provide (login methods, launchers, app templates, activity probes and
readiness checks, transports, file viewers, panes, API routers, front-end bundles);
``manager`` loads labgate's own built-in plug-ins and those installed under the
``labgate`` entry-point group, and answers what they provide. A plug-in is a module
with functions marked ``@hookimpl``::

    from labgate.plugins import hookimpl

    @hookimpl
    def register_launchers():
        return [MyLauncher()]

The built-ins are written exactly so, so they are the examples; ``docs/plugins.md``
documents every hook.
"""

from labgate.plugins.markers import hookimpl, hookspec

__all__ = ["hookimpl", "hookspec"]
