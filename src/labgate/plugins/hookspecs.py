"""What a plug-in may provide: one hook per kind of part.

Every hook is called with ``settings`` (the server's :class:`~labgate.settings.Settings`);
an implementation may leave the argument out (pluggy passes only the arguments an
implementation names). Every hook returns a list of what the plug-in adds (or nothing);
labgate collects the lists of all plug-ins. Names (of launchers, templates, probes,
viewers, panes, bundles) must be unique across plug-ins: a clash stops the server at
start-up, naming both plug-ins.

``docs/plugins.md`` documents each hook with an example; a test checks that every hook
here is documented there and exercised by a test.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from labgate.plugins.markers import hookspec

if TYPE_CHECKING:
    from labgate.plugins.front_end import FileViewer, FrontendBundle, Pane
    from labgate.settings import Settings


@hookspec
def register_auth_providers(settings: Settings) -> Iterable[type[Any]] | None:
    """Sign-in methods: classes following ``labgate.auth.providers`` (a
    ``PasswordProvider`` or a ``RedirectProvider``, maybe ``Rechecking``), each with a
    unique ``name``; ``settings.auth_providers`` chooses which are active, in order. A
    class is made as ``cls(settings, config)`` with its ``Config`` read from its
    ``auth.<name>`` section, or ``cls(settings)`` when it has none."""


@hookspec
def register_launchers(settings: Settings) -> Iterable[Any] | None:
    """Launchers (``labgate.launching.launcher.Launcher``): where a session's app runs, such
    as ``direct`` (on the resource) or ``slurm`` (as a batch job). The ``name`` is stored
    with each session: never rename a released one."""


@hookspec
def register_app_templates(settings: Settings) -> Iterable[Any] | None:
    """App templates (``labgate.launching.template.AppTemplate``): what a session runs
    (JupyterLab, TensorBoard, a desktop), how it starts, where it listens and its launch
    form. Templates an administrator writes as files come on top of these and may replace
    one by its id."""


@hookspec
def register_activity_probes(settings: Settings) -> Iterable[Any] | None:
    """Activity probes (``labgate.launching.probes.ActivityProbe``): how labgate asks a
    running app whether it is busy (a Jupyter kernel running counts as use), for idle
    clean-up. A template names its probe by ``name`` in its ``activity`` field."""


@hookspec
def register_readiness_checks(settings: Settings) -> Iterable[Any] | None:
    """Readiness checks (``labgate.launching.probes.ReadinessCheck``): how labgate knows a
    started app is ready to be opened. A template names its check by ``name`` in its
    ``readiness`` field; the default, ``http``, asks its ``ready_path``."""


@hookspec
def register_transports(settings: Settings) -> Iterable[Any] | None:
    """Transport kinds (``labgate.resources.transports.TransportKind``): how labgate
    reaches a resource (``local``: a subprocess on the server's own machine; ``ssh``:
    through jump hosts). A resource's kind names its transport."""


@hookspec
def register_file_viewers(settings: Settings) -> Iterable[FileViewer] | None:
    """File viewers: which files a viewer opens (by extension or name) and which
    front-end component shows them (built in, or from a plug-in's front-end bundle)."""


@hookspec
def register_panes(settings: Settings) -> Iterable[Pane] | None:
    """Panes of the workspace (file browser, terminal, a plug-in's own): the front end
    offers only the panes listed here."""


@hookspec
def register_routers(settings: Settings) -> Iterable[Any] | None:
    """FastAPI ``APIRouter`` objects mounted below ``/api/v1``. Every route must call
    ``labgate.auth.policy.authorize`` and needs its row in the authorisation matrix."""


@hookspec
def register_frontend_bundles(settings: Settings) -> Iterable[FrontendBundle] | None:
    """Built front-end assets of a plug-in (a directory with ``manifest.json``), served
    below ``/plugins/<name>/`` and loaded by the browser at start: their panes and viewers
    register themselves in the front end, with no change to labgate's own."""


@hookspec
def register_experiment_sources(settings: Settings) -> Iterable[Any] | None:
    """Experiment sources (``labgate.experiments.sources.ExperimentSource``), each with a
    unique ``name``: where experiments (proposals) come from. ``read(data)`` yields
    experiment records (or bad records saying where and what is wrong); the built-ins
    ``csv`` and ``json`` read a file's text, a proposal system's source may ask its
    service. ``labgate experiments import --format NAME`` applies what one yields."""
