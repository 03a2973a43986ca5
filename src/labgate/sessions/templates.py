"""The built-in app templates, a plug-in of labgate: JupyterLab, TensorBoard, any web
app, a remote desktop (:mod:`labgate.sessions.desktop`) and a shared terminal
(:mod:`labgate.sessions.terminal_share`: not launched, made by sharing a terminal).

What a template holds and how its form and command are filled in is
:mod:`labgate.launching.template`; the probe and the check the templates name are
:mod:`labgate.sessions.probes`.
"""

from __future__ import annotations

from labgate.launching.template import AppTemplate, FormField
from labgate.plugins import hookimpl
from labgate.sessions.desktop import DESKTOP
from labgate.sessions.terminal_share import TERMINAL

# -- the built-in templates ------------------------------------------------------------------

_JUPYTERLAB_QUIET = (
    " --LabApp.news_url=None --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"
)

JUPYTERLAB = AppTemplate(
    id="jupyterlab",
    title="JupyterLab",
    description="Notebooks, consoles, a file browser and terminals, in your environment.",
    icon="jupyter",
    # The token comes through the environment, so it is not on the command line for
    # `ps` to show; the proxy adds it to every request. No news feed and no update check:
    # compute nodes often have no way out to the internet (older JupyterLabs ignore both
    # options).
    command=(
        "jupyter-lab --no-browser --ServerApp.sock={socket} --ServerApp.sock_mode=0600"
        " --ServerApp.base_url={base_url} --ServerApp.allow_remote_access=True"
        f"{_JUPYTERLAB_QUIET}"
    ),
    listen="socket",
    env={"JUPYTER_TOKEN": "{token}"},
    ready_path="api/status",
    keeps_base_path=True,
    auth_header=("Authorization", "token {token}"),
    activity="jupyter",
    open_path="lab",
    field_help={
        "workdir": "The folder JupyterLab starts in: the root of its file browser.",
        "environment": (
            "Shell lines run before JupyterLab, after the resource's own set-up lines: "
            "the ones that make jupyter-lab available, e.g. `source ~/venv/bin/activate`, "
            "`conda activate analysis`, `module load jupyter`."
        ),
    },
    # Run as root only where an administrator mapped the account to root: JupyterLab
    # refuses that without it.
    root_arguments="--allow-root",
)

TENSORBOARD = AppTemplate(
    id="tensorboard",
    title="TensorBoard",
    description="Charts of the scalars, images and histograms your training runs log.",
    icon="chart",
    command=(
        "tensorboard --logdir {logdir} --host {host} --port {port}"
        " --path_prefix {base_path} --reload_interval 5"
    ),
    listen="port",
    ready_path="",
    keeps_base_path=True,
    # Its index page has the Roboto fonts' URLs written as /font-roboto/..., which
    # --path_prefix does not change (tensorflow/tensorboard#1885): the proxy puts them
    # into the prefix, where TensorBoard serves the fonts.
    page_rewrites={"url(/font-roboto/": "url({base_url}font-roboto/"},
    # It changes nothing through HTTP, so a GUEST may view it; but its pages fetch the
    # charts' data with POST (a form or JSON that only says what to read), on these
    # paths. (Its ?tensorboardColab=true would make it use GET, but that is a query on
    # the page's own address, which labgate does not choose for each viewer.)
    guest_view=True,
    # Its pages ask for them below experiment/<id>/ too (TensorBoard strips that).
    guest_post_paths=tuple(
        prefix + path
        for path in (
            "data/plugin/timeseries/timeSeries",
            "data/plugin/scalars/scalars_multirun",
            "data/plugin/hparams/experiment",
            "data/plugin/hparams/session_groups",
            "data/plugin/hparams/metric_evals",
        )
        for prefix in ("", "experiment/*/")
    ),
    fields=(
        FormField(
            "logdir",
            "Log directory",
            "path",
            default="~",
            required=True,
            help="The folder your runs write their event files to (searched recursively).",
        ),
    ),
    field_help={
        "workdir": "The folder TensorBoard starts in (a relative log directory is below it).",
        "environment": (
            "Shell lines run before TensorBoard, after the resource's own set-up lines: "
            "the ones that make tensorboard available, e.g. `source ~/venv/bin/activate`, "
            "`conda activate training`, `module load tensorflow`."
        ),
    },
)

WEBAPP = AppTemplate(
    id="webapp",
    title="Web app",
    description=(
        "Any program that serves HTTP: a dashboard, a Streamlit or Dash app, a Voila notebook."
    ),
    icon="globe",
    command="{app_command}",
    listen="port",
    ready_path="",
    keeps_base_path=False,
    fields=(
        FormField(
            "app_command",
            "Command",
            "text",
            required=True,
            shell_code=True,
            help=(
                "Started in the working directory. It must listen on 127.0.0.1 at the port "
                "labgate gives it in $PORT (or {port}); the app sees paths without "
                "labgate's prefix."
            ),
        ),
    ),
    env={"PORT": "{port}", "LABGATE_BASE_URL": "{base_url}"},
    # A GUEST gets its pages (GET) and nothing else: enough for a report or a static
    # dashboard; an app that needs POST or a WebSocket to show anything is better shared
    # in the user role (the user guide says so).
    guest_view=True,
)


@hookimpl
def register_app_templates() -> list[AppTemplate]:
    return [JUPYTERLAB, TENSORBOARD, WEBAPP, DESKTOP, TERMINAL]
