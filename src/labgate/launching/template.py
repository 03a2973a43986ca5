"""App templates: what a session runs.

A template says how to start the app (a command with placeholders, its environment),
where it listens (a Unix socket, which only the user can open, or a loopback port), how
the proxy talks to it (whether it expects its base path kept, how it authenticates: the
proxy adds the app's token, so users never see or need it), how labgate knows it is
ready, and how to ask it whether it is busy. Its form says what the user chooses when
launching (validated here, before anything is started).

Placeholders in ``command`` and ``env`` values: ``{port}``, ``{socket}``, ``{host}``
(the address to listen on: loopback, also on a batch job's node, where the job's relay
reaches the app),
``{base_url}`` (``/s/<session>/``), ``{base_path}`` (without the last slash),
``{token}``, ``{app_password}`` (a password derived from the token, for apps that want
one of their own, such as a VNC server: :func:`app_password`; put it in ``env``, never in
the command, where ``ps`` would show it), ``{workdir}`` and every form field by name. Form
values are shell-quoted where they go into the command.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from labgate.errors import FieldProblem, ValidationFailed

FieldKind = Literal["text", "path", "integer", "choice", "lines", "boolean"]
Listen = Literal["socket", "port"]
#: How the browser shows the app: ``web``, its pages in a frame through the proxy;
#: ``desktop``, a remote desktop (the app speaks RFB, the VNC protocol), in labgate's
#: desktop pane through the RFB bridge; ``terminal``, a terminal that runs already, shared
#: by its owner (:mod:`labgate.sessions.terminal_share`), in a terminal pane.
View = Literal["web", "desktop", "terminal"]


def app_password(token: str) -> str:
    """The password of a session's app, for apps that need one of their own (a VNC
    server): derived from the session's token, so labgate can always give it again and
    the user never needs to see it. Eight characters, since VNC uses no more."""
    mac = hmac.new(token.encode(), b"labgate app password", hashlib.sha256).hexdigest()
    return mac[:8]


@dataclass(frozen=True)
class FormField:
    """One input of a template's launch form."""

    name: str
    label: str
    kind: FieldKind
    default: Any = None
    help: str = ""
    required: bool = False
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] = ()
    max_length: int = 4096
    #: Only shown (and only taken) when the launcher schedules batch jobs.
    batch_only: bool = False
    #: The value is shell code (a command the user gives), not quoted into the command.
    shell_code: bool = False

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "kind": self.kind,
            "default": self.default,
            "help": self.help,
            "required": self.required,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "choices": list(self.choices),
            "batch_only": self.batch_only,
        }


@dataclass(frozen=True)
class AppTemplate:
    id: str
    title: str
    description: str
    command: str
    listen: Listen
    #: Path (below the base URL) that answers 2xx or 3xx once the app is ready.
    ready_path: str
    #: True: the app is told its base URL and gets ``/s/<id>/...`` as is;
    #: False: the proxy strips the prefix and the app sees ``/...``.
    keeps_base_path: bool
    #: A header the proxy adds to every request (``{token}`` filled in), or None.
    auth_header: tuple[str, str] | None = None
    #: Text the proxy replaces in the app's HTML and CSS answers (``{base_url}`` and
    #: ``{base_path}`` filled in in the replacements), for what the app cannot be told,
    #: such as TensorBoard's font URLs (:mod:`labgate.proxy.pages`).
    page_rewrites: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    #: The activity probe asked whether the app is busy, by name (``jupyter``: a kernel
    #: running code); None: only requests through labgate count as activity.
    activity: str | None = None
    #: The readiness check telling when the app can be opened, by name (``http``: its
    #: ``ready_path`` answers 2xx or 3xx).
    readiness: str = "http"
    fields: tuple[FormField, ...] = ()
    #: The page to open in the browser, below the base URL.
    open_path: str = ""
    icon: str = "app"
    #: Seconds the app may take from start to ready.
    start_timeout_seconds: int = 120
    #: The command used instead of ``command`` when labgate gives the app a port rather
    #: than a socket (``listen = "port"``). Both launchers give a ``listen = "socket"``
    #: template its socket (a batch job's relay reaches it on the node).
    tcp_command: str | None = None
    #: This app's own help for labgate's fields (``workdir``, ``environment``, the batch
    #: ones), by name, instead of their general help.
    field_help: Mapping[str, str] = field(default_factory=dict)
    #: Words added to the command when the app runs as root on the resource (JupyterLab
    #: refuses root without ``--allow-root``). Decided on the resource when the app
    #: starts (its account's uid), so every launcher gets it alike.
    root_arguments: str = ""
    #: How the browser shows the app (see :data:`View`).
    view: View = "web"
    #: Whether the app can be shared view-only (with a GUEST): its pages work with safe
    #: methods (GET, HEAD, OPTIONS) and no WebSocket, but for ``guest_post_paths``; a
    #: desktop's bridge drops a GUEST's input. False (JupyterLab: its pages need
    #: kernels' WebSockets): the API refuses GUEST for it.
    guest_view: bool = False
    #: Paths below the base URL (the whole path below ``/s/<id>/``, without the query; a
    #: ``*`` segment stands for any one segment) that the app answers to POST without
    #: changing anything, let through for a GUEST (TensorBoard fetches its charts' data so).
    guest_post_paths: tuple[str, ...] = ()
    #: Offered in the launcher and accepted by ``POST /sessions``. False: labgate makes
    #: its sessions itself for something that runs already (a shared terminal).
    launchable: bool = True

    def guest_may_post(self, path: str, base_path: str) -> bool:
        """Whether a GUEST's POST to ``path`` (the request's path as sent) only reads: the
        path below the session's ``base_path`` (``/s/<id>``) is one listed, exactly. Not
        a suffix: an app that routes by prefix would otherwise get the POST at any
        handler whose path ends so."""
        prefix = base_path + "/"
        if not path.startswith(prefix):
            return False
        below = path[len(prefix) :].split("/")
        return any(_same_path(allowed.split("/"), below) for allowed in self.guest_post_paths)

    def describe(self) -> dict[str, Any]:
        own = [f.describe() for f in (*COMMON_FIELDS, *self.fields, *BATCH_FIELDS)]
        for described in own:
            described["help"] = self.field_help.get(described["name"], described["help"])
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "icon": self.icon,
            "view": self.view,
            "guest_view": self.guest_view,
            "fields": own,
        }


# -- the form ---------------------------------------------------------------------------

COMMON_FIELDS = (
    FormField(
        "workdir",
        "Working directory",
        "path",
        default="~",
        help="The folder the app starts in.",
    ),
    FormField(
        "environment",
        "Environment",
        "lines",
        default="",
        help=(
            "Shell lines run before the app, after the resource's own set-up lines, "
            "e.g. `source ~/venv/bin/activate`, `conda activate analysis`, `module load cuda`."
        ),
        max_length=8192,
    ),
)

BATCH_FIELDS = (
    FormField("cpus", "CPUs", "integer", default=1, minimum=1, maximum=512, batch_only=True),
    FormField(
        "memory_gb", "Memory (GB)", "integer", default=4, minimum=1, maximum=4096, batch_only=True
    ),
    FormField("gpus", "GPUs", "integer", default=0, minimum=0, maximum=16, batch_only=True),
    FormField(
        "walltime_minutes",
        "Time limit (minutes)",
        "integer",
        default=60,
        minimum=1,
        maximum=14 * 24 * 60,
        batch_only=True,
        help="The scheduler ends the session after this; the partition may allow less.",
    ),
    FormField(
        "partition",
        "Partition",
        "text",
        default="",
        batch_only=True,
        help="Empty: the cluster's default partition.",
        max_length=64,
    ),
)


def _same_path(listed: list[str], asked: list[str]) -> bool:
    """Whether the segments ``asked`` are those ``listed``, a ``*`` matching any one
    segment but an empty one, ``.`` or ``..``."""
    return len(listed) == len(asked) and all(
        want == got or (want == "*" and got not in ("", ".", ".."))
        for want, got in zip(listed, asked, strict=True)
    )


_PARTITION = re.compile(r"^[A-Za-z0-9_.-]*$")


def _problem(name: str, message: str) -> FieldProblem:
    return FieldProblem(f"body.form.{name}", message)


def _check(field_: FormField, value: Any) -> Any:
    """The value as the app gets it, or a ValueError with a sentence for the user."""
    if field_.kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("must be a whole number")
        if field_.minimum is not None and value < field_.minimum:
            raise ValueError(f"must be at least {field_.minimum}")
        if field_.maximum is not None and value > field_.maximum:
            raise ValueError(f"must be at most {field_.maximum}")
        return value
    if field_.kind == "boolean":
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value
    if not isinstance(value, str):
        raise ValueError("must be text")
    if len(value) > field_.max_length:
        raise ValueError(f"must be at most {field_.max_length} characters")
    if "\0" in value:
        raise ValueError("must not contain NUL characters")
    if field_.kind == "choice" and value not in field_.choices:
        raise ValueError(f"must be one of {', '.join(field_.choices)}")
    if field_.kind in ("path", "text") and "\n" in value:
        raise ValueError("must be one line")
    if field_.required and not value.strip():
        raise ValueError("is needed")
    if field_.name == "partition" and not _PARTITION.match(value):
        raise ValueError("may hold letters, digits, dots, dashes and underscores only")
    return value


def validate_form(
    template: AppTemplate, values: Mapping[str, Any], *, batch: bool
) -> dict[str, Any]:
    """Every field's value (defaults filled in); unknown fields and bad values are
    refused together, each with its field, so a form can show them all at once."""
    fields = [*COMMON_FIELDS, *template.fields, *(BATCH_FIELDS if batch else ())]
    known = {f.name for f in fields}
    problems = [
        _problem(
            name,
            f"{name!r} is not a field of {template.title}"
            + ("" if batch else " here (it is for batch resources)"),
        )
        for name in values
        if name not in known
    ]
    checked: dict[str, Any] = {}
    for field_ in fields:
        value = values.get(field_.name, field_.default)
        try:
            checked[field_.name] = _check(field_, value)
        except ValueError as exc:
            problems.append(_problem(field_.name, f"{field_.label} {exc}."))
    if problems:
        raise ValidationFailed(problems[0].message, details=problems)
    return checked


# -- filling in the command ----------------------------------------------------------------


@dataclass(frozen=True)
class Placeholders:
    base_url: str
    token: str
    port: int | None = None
    socket: str | None = None
    host: str = "127.0.0.1"
    #: A shell expression for the port, chosen when the app starts (batch jobs).
    port_expression: str | None = None
    #: A shell expression for the socket's path, chosen when the app starts (batch jobs).
    socket_expression: str | None = None

    @property
    def base_path(self) -> str:
        return self.base_url.rstrip("/")


PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
#: What labgate fills in itself (command_of), beside the form's fields by name.
GIVEN_PLACEHOLDERS = frozenset(
    {"port", "socket", "host", "base_url", "base_path", "token", "app_password", "workdir"}
)


def shell_word(value: str) -> str:
    """``value`` as one shell word; a leading ``~`` still means the home directory."""
    if value == "~":
        return '"$HOME"'
    if value.startswith("~/"):
        return '"$HOME"/' + shlex.quote(value[2:])
    return shlex.quote(value)


def _fill(
    text: str, values: Mapping[str, str], *, quote: bool, raw: frozenset[str] = frozenset()
) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            return match.group(0)  # not a placeholder of ours: leave it as written
        return shell_word(values[name]) if quote and name not in raw else values[name]

    return PLACEHOLDER.sub(replace, text)


def command_of(
    template: AppTemplate, form: Mapping[str, Any], where: Placeholders
) -> tuple[str, dict[str, str]]:
    """The shell command and the environment that start the app."""
    values: dict[str, str] = {
        "base_url": where.base_url,
        "base_path": where.base_path,
        "token": where.token,
        "app_password": app_password(where.token),
        "workdir": str(form.get("workdir", "~")),
        "host": where.host,
    }
    raw = frozenset(f.name for f in template.fields if f.shell_code)
    if where.port_expression is not None:
        values["port"] = where.port_expression
        raw = raw | {"port"}
    elif where.port is not None:
        values["port"] = str(where.port)
    if where.socket_expression is not None:
        values["socket"] = where.socket_expression
        raw = raw | {"socket"}
    elif where.socket is not None:
        values["socket"] = where.socket
    # The user's own shell code may use the placeholders labgate chose (never the token).
    own = {
        k: v for k, v in values.items() if k in ("port", "socket", "host", "base_url", "base_path")
    }
    for name, value in form.items():
        if name in values or isinstance(value, bool) or not isinstance(value, str | int):
            continue
        values[name] = _fill(str(value), own, quote=False) if name in raw else str(value)
    text = template.command
    if "socket" not in values and template.tcp_command is not None:
        text = template.tcp_command
    command = _fill(text, values, quote=True, raw=raw)
    if template.root_arguments:
        command += f' $([ "$(id -u)" = 0 ] && echo {shlex.quote(template.root_arguments)})'
    env = {key: _fill(value, values, quote=False) for key, value in template.env.items()}
    return command, env
