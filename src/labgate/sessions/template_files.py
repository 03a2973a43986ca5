"""App templates an administrator adds: one TOML file each in ``app_templates_dir``.

A file describes what :class:`~labgate.launching.template.AppTemplate` holds, for
example code-server::

    id = "code-server"
    title = "VS Code"
    description = "code-server, the VS Code editor in the browser."
    icon = "fileCode"
    command = "code-server --bind-addr 127.0.0.1:{port} --auth none {workdir}"
    listen = "port"
    ready_path = "healthz"
    keeps_base_path = false
    # readiness = "http" and activity (none) are the defaults: plug-ins add others.
    # root_arguments = "--allow-root": added to the command when the account is root.
    # guest_view = true: may be shared view-only (GET pages only, and POST to the
    # guest_post_paths = ["api/query"] that only read).

    [[fields]]
    name = "extensions_dir"
    label = "Extensions folder"
    kind = "path"
    default = "~/.local/share/code-server/extensions"

A remote desktop (shown in the desktop pane) is a file with ``desktop_session``, the shell
lines that start its programs on the X server labgate starts (``DISPLAY`` is set), instead
of a command; ``desktop_needs`` lists the programs to look for first, so that a missing
one is reported as such (:mod:`labgate.sessions.desktop`)::

    id = "xfce"
    title = "Xfce desktop"
    desktop_session = "exec startxfce4"
    desktop_needs = ["startxfce4"]

A file with a command of its own may say ``view = "desktop"`` too, for a VNC server that
labgate does not start (its readiness check is then ``rfb``).

Everything is checked when the server starts; a file with a mistake is left out, logged
with the file's name and what is wrong, and listed in the administration console's App
templates pane (``labgate config check`` refuses it, so a mistake is found before a start). A file
whose ``id`` is a built-in template's replaces it (a site's own JupyterLab command).
The activity probe and readiness check a template names (``activity``, ``readiness``;
files and plug-ins' templates alike) must be provided by a loaded plug-in.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from labgate.errors import ConfigurationError, FieldProblem
from labgate.launching.template import (
    BATCH_FIELDS,
    COMMON_FIELDS,
    GIVEN_PLACEHOLDERS,
    PLACEHOLDER,
    AppTemplate,
    FieldKind,
    FormField,
)
from labgate.sessions.desktop import RESOLUTION, desktop_template

if TYPE_CHECKING:
    from labgate.plugins.manager import Plugins

# Icons the launcher draws (frontend/src/ui/icons.ts).
ICONS = frozenset(
    {"apps", "jupyter", "chart", "globe", "terminal", "fileCode", "rocket", "server", "monitor"}
)
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_PROGRAM = re.compile(r"^[A-Za-z0-9_.+-]{1,100}$")
# What a desktop's file leaves to labgate (desktop_template writes it).
_DESKTOP_WRITES = (
    "command",
    "tcp_command",
    "root_arguments",
    "listen",
    "ready_path",
    "keeps_base_path",
    "auth_header",
    "page_rewrites",
    "env",
    "open_path",
    "activity",
    "readiness",
)
_ID = re.compile(r"^[a-z][a-z0-9-]{0,39}$")


_SEGMENT = re.compile(r"^(?:\*|[A-Za-z0-9_.~-]+)$")


class _Field(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=_NAME.pattern)
    label: str = Field(min_length=1, max_length=80)
    kind: FieldKind
    default: str | int | bool | None = None
    help: str = Field("", max_length=500)
    required: bool = False
    minimum: int | None = None
    maximum: int | None = None
    choices: list[str] = Field(default_factory=list)
    max_length: int = Field(4096, ge=1, le=65536)
    shell_code: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> _Field:
        if self.kind == "choice" and not self.choices:
            raise ValueError(f"field {self.name!r}: a choice needs `choices`")
        if self.kind == "choice" and self.default is not None and self.default not in self.choices:
            raise ValueError(f"field {self.name!r}: the default is not one of its choices")
        if self.kind == "integer" and (isinstance(self.default, bool | str)):
            raise ValueError(f"field {self.name!r}: an integer's default must be a number")
        return self


# What a page rewrite's replacement may name: where the app is on labgate's side.
_PAGE_PLACEHOLDERS = frozenset({"base_url", "base_path"})


class _TemplateFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=_ID.pattern)
    title: str = Field(min_length=1, max_length=60)
    description: str = Field("", max_length=400)
    icon: str = "apps"
    command: str | None = Field(None, min_length=1, max_length=4000)
    # Not "terminal": labgate makes those sessions itself, for a terminal that runs.
    view: Literal["web", "desktop"] | None = None
    desktop_session: str | None = Field(None, min_length=1, max_length=4000)
    desktop_needs: list[str] = Field(default_factory=list, max_length=20)
    tcp_command: str | None = Field(None, max_length=4000)
    root_arguments: str = Field("", max_length=400, pattern=r"^[A-Za-z0-9_=./:, -]*$")
    listen: Literal["socket", "port"] = "port"
    ready_path: str = Field("", max_length=200)
    keeps_base_path: bool = False
    auth_header: list[str] | None = None
    page_rewrites: dict[str, str] = Field(default_factory=dict, max_length=20)
    env: dict[str, str] = Field(default_factory=dict)
    open_path: str = Field("", max_length=200)
    start_timeout_seconds: int = Field(120, ge=5, le=3600)
    activity: str | None = Field(None, max_length=60)
    readiness: str | None = Field(None, max_length=60)
    fields: list[_Field] = Field(default_factory=list)
    field_help: dict[str, str] = Field(default_factory=dict)
    guest_view: bool = False
    #: Whole paths below the session's base URL: segments of letters, digits and
    #: ``_.~-``, or ``*`` for any one segment; never empty, ``.`` or ``..`` (an empty one
    #: would let a guest POST to the app's root).
    guest_post_paths: list[str] = Field(default_factory=list, max_length=50)

    @field_validator("guest_post_paths")
    @classmethod
    def _whole_paths(cls, paths: list[str]) -> list[str]:
        for path in paths:
            segments = path.strip("/").split("/")
            if len(path) > 300 or not all(
                _SEGMENT.match(part) and part not in (".", "..") for part in segments
            ):
                raise ValueError(
                    f"guest_post_paths: {path!r} is not a path below the app's base URL "
                    "(segments of letters, digits and _.~-, or * for any one segment)"
                )
        return paths

    def _desktop_consistent(self) -> None:
        if self.desktop_session is None:
            if self.desktop_needs:
                raise ValueError("desktop_needs goes with desktop_session")
            if self.command is None:
                raise ValueError("a command is needed (or desktop_session, for a desktop)")
            return
        if self.view == "web":
            raise ValueError('a desktop_session is shown as a desktop: view = "web" does not fit')
        given = [name for name in _DESKTOP_WRITES if name in self.model_fields_set]
        if given:
            raise ValueError(
                "with desktop_session labgate writes the command and how it is reached: "
                "leave out " + ", ".join(given)
            )
        for program in self.desktop_needs:
            if not _PROGRAM.match(program):
                raise ValueError(f"desktop_needs: {program!r} is not a program's name")

    @model_validator(mode="after")
    def _consistent(self) -> _TemplateFile:
        self._desktop_consistent()
        if self.icon not in ICONS:
            raise ValueError(f"icon must be one of {', '.join(sorted(ICONS))}")
        reserved = {f.name for f in (*COMMON_FIELDS, *BATCH_FIELDS)}
        own_reserved = {RESOLUTION.name} if self.desktop_session is not None else set()
        for name, text in self.field_help.items():
            if name not in reserved:
                raise ValueError(
                    f"field_help: {name!r} is not one of labgate's own fields ("
                    + ", ".join(sorted(reserved))
                    + "); a template's own fields have their help with them"
                )
            if len(text) > 500:
                raise ValueError(f"field_help: {name!r}'s help is over 500 characters")
        names = [f.name for f in self.fields]
        for name in names:
            if name in reserved or name in GIVEN_PLACEHOLDERS or name in own_reserved:
                raise ValueError(f"field {name!r}: the name is labgate's own")
        if len(set(names)) != len(names):
            raise ValueError("two fields have the same name")
        known = GIVEN_PLACEHOLDERS | reserved | set(names) | own_reserved
        texts = [self.command or "", self.tcp_command or "", *self.env.values()]
        texts.append(self.desktop_session or "")
        if self.auth_header is not None:
            if len(self.auth_header) != 2 or "{token}" not in self.auth_header[1]:
                raise ValueError('auth_header is ["Header-Name", "value with {token}"]')
            texts.append(self.auth_header[1])
        for text, replacement in self.page_rewrites.items():
            if not text:
                raise ValueError("page_rewrites: the text to replace must not be empty")
            for placeholder in PLACEHOLDER.findall(replacement):
                if placeholder not in _PAGE_PLACEHOLDERS:
                    raise ValueError(
                        f"page_rewrites: {{{placeholder}}} is not filled in there (known: "
                        + ", ".join(sorted(_PAGE_PLACEHOLDERS))
                        + ")"
                    )
        for text in texts:
            for placeholder in PLACEHOLDER.findall(text):
                if placeholder not in known:
                    raise ValueError(
                        f"{{{placeholder}}} is not a placeholder labgate fills in (known: "
                        + ", ".join(sorted(known))
                        + ")"
                    )
        if self.command is None:
            return self
        if self.listen == "socket" and "{socket}" not in self.command:
            raise ValueError('listen = "socket" needs {socket} in the command')
        if self.listen == "port" and "{port}" not in self.command + str(self.env):
            raise ValueError('listen = "port" needs {port} in the command or env')
        return self

    def template(self) -> AppTemplate:
        fields = tuple(
            FormField(**f.model_dump(exclude={"choices"}), choices=tuple(f.choices))
            for f in self.fields
        )
        if self.desktop_session is not None:
            return desktop_template(
                id=self.id,
                title=self.title,
                description=self.description,
                session=self.desktop_session,
                needs=self.desktop_needs,
                icon=self.icon if "icon" in self.model_fields_set else "monitor",
                fields=fields,
                field_help=self.field_help,
                start_timeout_seconds=self.start_timeout_seconds,
            )
        assert self.command is not None  # _consistent saw to it
        view = self.view or "web"
        readiness = self.readiness
        if readiness is None:
            readiness = "rfb" if view == "desktop" else "http"
        values = self.model_dump(
            exclude={
                "fields",
                "auth_header",
                "ready_path",
                "open_path",
                "command",
                "view",
                "readiness",
                "desktop_session",
                "desktop_needs",
                "guest_post_paths",
            }
        )
        return AppTemplate(
            **values,
            command=self.command,
            view=view,
            readiness=readiness,
            guest_post_paths=tuple(p.strip("/") for p in self.guest_post_paths),
            ready_path=self.ready_path.lstrip("/"),
            open_path=self.open_path.lstrip("/"),
            auth_header=(self.auth_header[0], self.auth_header[1]) if self.auth_header else None,
            fields=fields,
        )


def load_template(path: Path) -> AppTemplate:
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"App template {path}: {exc}") from None
    try:
        return _TemplateFile.model_validate(data).template()
    except ValidationError as exc:
        problems = "; ".join(str(FieldProblem.of(e)) for e in exc.errors())
        raise ConfigurationError(f"App template {path}: {problems}") from None


def _check_probes(
    template: AppTemplate, activity_probes: Collection[str], readiness_checks: Collection[str]
) -> str | None:
    """What is wrong with the probe and check ``template`` names, or None."""
    if template.activity is not None and template.activity not in activity_probes:
        known = ", ".join(sorted(activity_probes)) or "none"
        return (
            f"activity = {template.activity!r} names no activity probe a plug-in provides "
            f"(known: {known})"
        )
    if template.readiness not in readiness_checks:
        known = ", ".join(sorted(readiness_checks)) or "none"
        return (
            f"readiness = {template.readiness!r} names no readiness check a plug-in provides "
            f"(known: {known})"
        )
    return None


@dataclass(frozen=True)
class RefusedFile:
    """A template file left out, and why (the administration console lists them)."""

    path: Path
    message: str


@dataclass(frozen=True)
class TemplateCatalog:
    """What can be launched, where each template came from, and the files refused."""

    templates: dict[str, AppTemplate]
    #: The file each of the directory's templates was read from, by template id.
    files: dict[str, Path] = field(default_factory=dict)
    refused: list[RefusedFile] = field(default_factory=list)


def load_catalog(
    directory: Path | None,
    builtin: Mapping[str, AppTemplate],
    *,
    activity_probes: Collection[str],
    readiness_checks: Collection[str],
) -> TemplateCatalog:
    """The plug-ins' templates (``builtin``), with the directory's added (or replacing
    theirs). A plug-in's template naming an activity probe or readiness check that is
    not among ``activity_probes`` and ``readiness_checks`` is refused (the start stops:
    a plug-in is code); a file with any mistake, or a second file with an id already
    read, is left out and kept in ``refused`` with what is wrong."""
    templates = dict(builtin)
    for template in templates.values():
        problem = _check_probes(template, activity_probes, readiness_checks)
        if problem is not None:
            raise ConfigurationError(f"App template {template.id!r} of a plug-in: {problem}")
    if directory is None:
        return TemplateCatalog(templates)
    if not directory.is_dir():
        raise ConfigurationError(f"app_templates_dir {directory} is not a directory")
    catalog = TemplateCatalog(templates)
    for path in sorted(directory.glob("*.toml")):
        try:
            template = load_template(path)
        except ConfigurationError as exc:
            catalog.refused.append(RefusedFile(path, exc.message))
            continue
        problem = _check_probes(template, activity_probes, readiness_checks)
        if problem is not None:
            catalog.refused.append(RefusedFile(path, f"App template {path}: {problem}"))
        elif template.id in catalog.files:
            message = (
                f"App templates {catalog.files[template.id]} and {path} have the same id "
                f"{template.id!r}"
            )
            catalog.refused.append(RefusedFile(path, message))
        else:
            catalog.files[template.id] = path
            templates[template.id] = template
    return catalog


def load_templates(
    directory: Path | None,
    builtin: Mapping[str, AppTemplate],
    *,
    activity_probes: Collection[str],
    readiness_checks: Collection[str],
) -> dict[str, AppTemplate]:
    """As :func:`load_catalog`, strictly: the first refused file is a ``ConfigurationError``
    (``labgate config check`` says so)."""
    catalog = load_catalog(
        directory, builtin, activity_probes=activity_probes, readiness_checks=readiness_checks
    )
    if catalog.refused:
        raise ConfigurationError(catalog.refused[0].message)
    return catalog.templates


def catalog_of(plugins: Plugins, directory: Path | None) -> TemplateCatalog:
    """What the server offers: the loaded plug-ins' templates and the directory's, its
    refused files left out (and kept, for the console)."""
    return load_catalog(
        directory,
        plugins.app_templates(),
        activity_probes=plugins.activity_probes().keys(),
        readiness_checks=plugins.readiness_checks().keys(),
    )


def templates_of(plugins: Plugins, directory: Path | None) -> dict[str, AppTemplate]:
    """What can be launched: the loaded plug-ins' templates and the directory's."""
    return load_templates(
        directory,
        plugins.app_templates(),
        activity_probes=plugins.activity_probes().keys(),
        readiness_checks=plugins.readiness_checks().keys(),
    )
