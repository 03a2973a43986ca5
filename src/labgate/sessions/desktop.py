"""Remote desktops as app templates: TigerVNC's X server with a desktop session on it,
shown in labgate's desktop pane (``view = "desktop"``) through the RFB bridge.

Every desktop template runs the same start program (:mod:`labgate.sessions.desktop_program`,
given to the app in its environment) and differs only in its session, the shell lines
that start the desktop's programs once the X server is ready. The built-in one is
openbox with a terminal (xterm) and a file manager (pcmanfm); an administrator's
template file names another (``desktop_session``, :mod:`labgate.sessions.template_files`).

What the RFB bridge needs to know: the VNC server listens on the session's Unix socket
(its endpoint), asks for VNC authentication only, with the password
``app_password(token)``, and lets several viewers share the screen; the screen's size is
the form's ``resolution`` (``follow the pane``: it starts at 1600x900 and the pane sets
it with SetDesktopSize).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from importlib import resources

from labgate.launching.template import AppTemplate, FormField
from labgate.sessions import desktop_program

PROGRAM_NAME = "desktop_program.py"
#: The resolutions offered, beside following the pane's size.
RESOLUTIONS = ("1280x720", "1280x1024", "1600x900", "1920x1080", "2560x1440")
RESOLUTION = FormField(
    "resolution",
    "Screen size",
    "choice",
    default=desktop_program.FOLLOW_THE_PANE,
    choices=(desktop_program.FOLLOW_THE_PANE, *RESOLUTIONS),
    help="The desktop's size in pixels; following the pane, it changes with the pane's size.",
)
#: The built-in desktop's session: a terminal and a file manager, then the window manager
#: (which takes over the windows already open); the desktop ends when openbox does.
OPENBOX_SESSION = 'xterm & pcmanfm "$PWD" & exec openbox'
_RUN_PROGRAM = f"python3 -c 'import os; exec(os.environ[\"{desktop_program.PROGRAM_VARIABLE}\"])'"


def program_text() -> str:
    """The start program, as the app's environment carries it."""
    return resources.files("labgate.sessions").joinpath(PROGRAM_NAME).read_text()


def desktop_template(
    *,
    id: str,
    title: str,
    description: str,
    session: str,
    needs: Sequence[str] = (),
    icon: str = "monitor",
    fields: Sequence[FormField] = (),
    field_help: Mapping[str, str] | None = None,
    start_timeout_seconds: int = 120,
) -> AppTemplate:
    """A desktop running ``session`` (shell lines, with ``DISPLAY`` set) on Xvnc; the
    programs in ``needs`` are looked for before anything starts, so that a missing one
    is reported as such. Form fields named in ``session`` (``{name}``) are filled in as
    written, like those of ``env``."""
    name = shlex.quote(title.replace("{", "").replace("}", ""))  # no placeholder in it
    words = ["--socket {socket}", "--resolution {resolution}", "--name", name]
    words += [f"--needs {shlex.quote(program)}" for program in needs]
    return AppTemplate(
        id=id,
        title=title,
        description=description,
        icon=icon,
        command=" ".join([_RUN_PROGRAM, *words]),
        listen="socket",
        ready_path="",
        keeps_base_path=False,
        env={
            desktop_program.PROGRAM_VARIABLE: program_text(),
            desktop_program.PASSWORD_VARIABLE: "{app_password}",
            desktop_program.SESSION_VARIABLE: session,
        },
        readiness="rfb",
        fields=(RESOLUTION, *fields),
        start_timeout_seconds=start_timeout_seconds,
        field_help=dict(field_help or {}),
        view="desktop",
        # A guest watches: the RFB bridge drops a view-only viewer's keys, pointer,
        # clipboard and screen-size messages (labgate.desktops.rfb).
        guest_view=True,
    )


DESKTOP = desktop_template(
    id="desktop",
    title="Desktop",
    description="A Linux desktop (openbox) with a terminal and a file manager, in a pane.",
    session=OPENBOX_SESSION,
    needs=("openbox", "xterm", "pcmanfm"),
    field_help={
        "workdir": "The folder the terminal and the file manager start in.",
        "environment": (
            "Shell lines run before the desktop, after the resource's own set-up lines: "
            "the desktop's programs inherit them, e.g. `module load paraview`."
        ),
    },
)
