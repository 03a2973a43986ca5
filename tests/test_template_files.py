"""Administrators' app templates (app_templates_dir): a good file becomes a template in
the launcher (or replaces a built-in one), and every mistake stops the server with the
file and the problem; `labgate config check` says the same."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from click.testing import CliRunner

from labgate.cli.main import cli
from labgate.errors import ConfigurationError
from labgate.launching.template import Placeholders, app_password, command_of
from labgate.plugins.manager import Plugins
from labgate.sessions.template_files import catalog_of, load_templates, templates_of
from labgate.settings import Settings

CODE_SERVER = """
id = "code-server"
title = "VS Code"
description = "code-server, the VS Code editor in the browser."
icon = "fileCode"
command = "code-server --bind-addr 127.0.0.1:{port} --auth none {workdir} --user-data-dir {data}"
ready_path = "/healthz"
keeps_base_path = false
env = { CS_DISABLE_GETTING_STARTED_OVERRIDE = "1" }

[[fields]]
name = "data"
label = "Settings folder"
kind = "path"
default = "~/.local/share/code-server"

[[fields]]
name = "theme"
label = "Theme"
kind = "choice"
choices = ["light", "dark"]
default = "dark"
"""


@pytest.fixture
def plugins(settings: Settings) -> Plugins:
    """labgate's own plug-ins: the built-in templates, probes and checks."""
    return Plugins.load(settings, entry_points=False)


def write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(exist_ok=True)
    path = directory / name
    path.write_text(text)
    return path


def test_a_template_of_ones_own(tmp_path: Path, plugins: Plugins) -> None:
    write(tmp_path, "code-server.toml", CODE_SERVER)
    templates = templates_of(plugins, tmp_path)
    assert set(plugins.app_templates()) < set(templates)
    code = templates["code-server"]
    assert (code.title, code.icon, code.listen, code.ready_path) == (
        "VS Code",
        "fileCode",
        "port",
        "healthz",
    )
    described = code.describe()
    names = [f["name"] for f in described["fields"]]
    assert names[:2] == ["workdir", "environment"]  # labgate's own fields come first
    assert {"data", "theme"} <= set(names)
    where = Placeholders(base_url="/s/abc/", token="t", host="127.0.0.1", port=8123)
    command, env = command_of(code, {"workdir": "~/my project", "data": "~/cs"}, where)
    assert "--bind-addr 127.0.0.1:8123" in command
    assert "\"$HOME\"/'my project'" in command  # ~ expanded, the rest quoted
    assert env["CS_DISABLE_GETTING_STARTED_OVERRIDE"] == "1"


def test_a_template_mends_its_pages(tmp_path: Path, plugins: Plugins) -> None:
    write(
        tmp_path,
        "dash.toml",
        'id = "dash"\ntitle = "Dash"\ncommand = "serve {port}"\n'
        'page_rewrites = { "src=\\"/assets/" = "src=\\"{base_url}assets/" }\n',
    )
    assert templates_of(plugins, tmp_path)["dash"].page_rewrites == {
        'src="/assets/': 'src="{base_url}assets/'
    }


def test_a_template_says_whether_guests_may_view_it(tmp_path: Path, plugins: Plugins) -> None:
    write(
        tmp_path,
        "report.toml",
        'id = "report"\ntitle = "Report"\ncommand = "serve {port}"\n'
        'guest_view = true\nguest_post_paths = ["/api/query/"]\n',
    )
    templates = templates_of(plugins, tmp_path)
    report = templates["report"]
    assert report.guest_view
    assert report.describe()["guest_view"] is True
    assert report.guest_may_post("/s/abc/api/query", "/s/abc")
    assert not report.guest_may_post("/s/abc/api/run", "/s/abc")
    assert not templates["jupyterlab"].guest_view
    board = templates["tensorboard"]
    assert board.guest_may_post("/s/x/data/plugin/timeseries/timeSeries", "/s/x")
    assert board.guest_may_post("/s/x/experiment/e1/data/plugin/timeseries/timeSeries", "/s/x")


@pytest.mark.parametrize(
    "path",
    [
        # The whole path below the session's base, not a path that ends like a listed one
        # (an app routing by prefix would get it at /admin/...).
        "/s/x/admin/drop-all/data/plugin/scalars/scalars_multirun",
        "/s/x/data/plugin/other/data/plugin/scalars/scalars_multirun",
        "/s/y/data/plugin/scalars/scalars_multirun",  # another session's base
        "/data/plugin/scalars/scalars_multirun",
        "/s/x/data/plugin/scalars/scalars_multirun/",
        "/s/x//data/plugin/scalars/scalars_multirun",
        "/s/x/data%2Fplugin/scalars/scalars_multirun",
        # "*" is one segment, never none, two, or a step up.
        "/s/x/experiment/data/plugin/scalars/scalars_multirun",
        "/s/x/experiment/a/b/data/plugin/scalars/scalars_multirun",
        "/s/x/experiment/../data/plugin/scalars/scalars_multirun",
        "/s/x/experiment//data/plugin/scalars/scalars_multirun",
    ],
)
def test_a_guest_may_post_only_to_a_listed_path_below_the_base(
    tmp_path: Path, plugins: Plugins, path: str
) -> None:
    board = templates_of(plugins, tmp_path)["tensorboard"]
    assert board.guest_may_post("/s/x/data/plugin/scalars/scalars_multirun", "/s/x")
    assert not board.guest_may_post(path, "/s/x")


def test_a_built_in_template_replaced(tmp_path: Path, plugins: Plugins) -> None:
    write(
        tmp_path,
        "jupyterlab.toml",
        'id = "jupyterlab"\ntitle = "JupyterLab (site)"\n'
        'command = "module load jupyter && jupyter-lab --ServerApp.port={port}"\n',
    )
    templates = templates_of(plugins, tmp_path)
    assert templates["jupyterlab"].title == "JupyterLab (site)"
    assert templates["jupyterlab"].root_arguments == ""  # not the built-in one's
    assert plugins.app_templates()["jupyterlab"].title == "JupyterLab"  # the built-in one is kept
    assert plugins.app_templates()["jupyterlab"].root_arguments == "--allow-root"
    write(
        tmp_path,
        "jupyterlab.toml",
        'id = "jupyterlab"\ntitle = "JupyterLab (site)"\nroot_arguments = "--allow-root"\n'
        'command = "jupyter-lab --ServerApp.port={port}"\n',
    )
    site = templates_of(plugins, tmp_path)["jupyterlab"]
    command, _ = command_of(site, {}, Placeholders(base_url="/s/a/", token="t", port=1))
    assert command.endswith('$([ "$(id -u)" = 0 ] && echo --allow-root)')


def test_a_file_names_the_probe_and_check_of_a_plugin(tmp_path: Path, plugins: Plugins) -> None:
    write(
        tmp_path,
        "lab.toml",
        'id = "lab"\ntitle = "Lab"\ncommand = "serve {port}"\nactivity = "jupyter"\n'
        'readiness = "http"\n',
    )
    lab = templates_of(plugins, tmp_path)["lab"]
    assert (lab.activity, lab.readiness) == ("jupyter", "http")
    assert templates_of(plugins, None)["tensorboard"].activity is None  # none by default


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('id = "x"\ntitle = "X"\ncommand = "serve {prot}"\n', "{prot} is not a placeholder"),
        ('id = "x"\ntitle = "X"\ncommand = "serve"\n', 'listen = "port" needs {port}'),
        (
            'id = "x"\ntitle = "X"\nlisten = "socket"\ncommand = "serve {port}"\n',
            'listen = "socket" needs {socket}',
        ),
        ('id = "X Y"\ntitle = "X"\ncommand = "serve {port}"\n', "id"),
        ('id = "x"\ntitle = "X"\ncommand = "serve {port}"\ncolour = "red"\n', "colour"),
        ('id = "x"\ntitle = "X"\ncommand = "serve {port}"\nicon = "skull"\n', "icon must be"),
        (
            'id = "x"\ntitle = "X"\ncommand = "serve {port}"\n[[fields]]\nname = "cpus"\n'
            'label = "C"\nkind = "integer"\n',
            "the name is labgate's own",
        ),
        (
            'id = "x"\ntitle = "X"\ncommand = "serve {port}"\n[[fields]]\nname = "m"\n'
            'label = "M"\nkind = "choice"\n',
            "a choice needs `choices`",
        ),
        (
            'id = "x"\ntitle = "X"\ncommand = "serve {port}"\nauth_header = ["X-Key", "k"]\n',
            "auth_header",
        ),
        (
            'id = "x"\ntitle = "X"\ncommand = "serve {port}"\npage_rewrites = { "" = "y" }\n',
            "page_rewrites: the text to replace must not be empty",
        ),
        (
            'id = "x"\ntitle = "X"\ncommand = "serve {port}"\n'
            'page_rewrites = { "/a" = "{token}/a" }\n',
            "page_rewrites: {token} is not filled in there (known: base_path, base_url)",
        ),
        ('id = "x"\ntitle = "X"\ncommand = "serve {port}\n', "toml"),  # unterminated string
        (
            'id = "x"\ntitle = "X"\ncommand = "serve {port}"\nroot_arguments = "--a; rm -r ~"\n',
            "root_arguments: String should match pattern",
        ),
        (
            'id = "x"\ntitle = "X"\ncommand = "serve {port}"\nactivity = "kernels"\n',
            "activity = 'kernels' names no activity probe a plug-in provides (known: jupyter)",
        ),
        (
            'id = "x"\ntitle = "X"\ncommand = "serve {port}"\nreadiness = "tcp"\n',
            "readiness = 'tcp' names no readiness check a plug-in provides (known: http, rfb)",
        ),
        (
            'id = "x"\ntitle = "X"\ncommand = "serve {port}"\nactivity = ""\n',
            "activity = '' names no activity probe a plug-in provides (known: jupyter)",
        ),
        (
            'id = "x"\ntitle = "X"\ncommand = "serve {port}"\nreadiness = ""\n',
            "readiness = '' names no readiness check a plug-in provides (known: http, rfb)",
        ),
        (
            'id = "x"\ntitle = "X"\ncommand = "serve {port}"\nactivity = 3\n',
            "activity: Input should be a valid string",
        ),
        (
            'id = "x"\ntitle = "X"\ncommand = "serve {port}"\nreadiness = ["http"]\n',
            "readiness: Input should be a valid string",
        ),
        (
            'id = "x"\ntitle = "X"\ncommand = "serve {port}"\nfield_help = { logdir = "L" }\n',
            "field_help: 'logdir' is not one of labgate's own fields",
        ),
        ('id = "x"\ntitle = "X"\n', "a command is needed (or desktop_session, for a desktop)"),
        (
            'id = "x"\ntitle = "X"\ncommand = "serve {port}"\nguest_post_paths = ["/"]\n',
            "guest_post_paths: '/' is not a path below the app's base URL",
        ),
        (
            'id = "x"\ntitle = "X"\ncommand = "serve {port}"\nguest_post_paths = ["a/../b"]\n',
            "guest_post_paths: 'a/../b' is not a path",
        ),
        (
            'id = "x"\ntitle = "X"\ncommand = "serve {port}"\nguest_post_paths = ["q?x=1"]\n',
            "guest_post_paths: 'q?x=1' is not a path",
        ),
        (
            'id = "x"\ntitle = "X"\ndesktop_session = "exec openbox"\ncommand = "serve {port}"\n',
            "with desktop_session labgate writes the command and how it is reached: "
            "leave out command",
        ),
        (
            'id = "x"\ntitle = "X"\ndesktop_session = "exec openbox"\nview = "web"\n',
            'view = "web" does not fit',
        ),
        (
            'id = "x"\ntitle = "X"\ndesktop_session = "exec openbox"\n'
            'desktop_needs = ["openbox; rm -r ~"]\n',
            "desktop_needs: 'openbox; rm -r ~' is not a program's name",
        ),
        (
            'id = "x"\ntitle = "X"\ncommand = "serve {port}"\ndesktop_needs = ["openbox"]\n',
            "desktop_needs goes with desktop_session",
        ),
        (
            'id = "x"\ntitle = "X"\ndesktop_session = "exec openbox"\n[[fields]]\n'
            'name = "resolution"\nlabel = "R"\nkind = "text"\n',
            "the name is labgate's own",
        ),
        (
            'id = "x"\ntitle = "X"\ndesktop_session = "exec {program}"\n',
            "{program} is not a placeholder",
        ),
    ],
)
def test_mistakes_are_said_with_the_file(
    tmp_path: Path, plugins: Plugins, text: str, says: str
) -> None:
    path = write(tmp_path, "bad.toml", text)
    with pytest.raises(ConfigurationError) as refused:
        templates_of(plugins, tmp_path)
    assert str(path) in refused.value.message
    assert says.lower() in refused.value.message.lower()


def test_a_plugins_template_naming_an_unknown_check_is_refused(plugins: Plugins) -> None:
    hello = dataclasses.replace(plugins.app_templates()["webapp"], id="hello", readiness="tcp")
    with pytest.raises(ConfigurationError) as refused:
        load_templates(
            None,
            {"hello": hello},
            activity_probes=plugins.activity_probes().keys(),
            readiness_checks=plugins.readiness_checks().keys(),
        )
    assert refused.value.message == (
        "App template 'hello' of a plug-in: readiness = 'tcp' names no readiness check a "
        "plug-in provides (known: http, rfb)"
    )


def test_help_texts_are_each_templates_own(tmp_path: Path, plugins: Plugins) -> None:
    """No template's form talks about another app (TensorBoard's working directory once
    spoke of JupyterLab's file browser); a file may give labgate's fields its own help."""
    own = CODE_SERVER.replace(
        "env =", 'field_help = { workdir = "The folder VS Code opens." }\nenv ='
    )
    write(tmp_path, "code-server.toml", own)
    templates = templates_of(plugins, tmp_path)
    titles = {template.id: template.title for template in templates.values()}
    for template in templates.values():
        helps = " ".join(f["help"] for f in template.describe()["fields"])
        others = [title for id_, title in titles.items() if id_ != template.id]
        assert not [title for title in others if title in helps], (template.id, helps)
    workdir = next(
        f for f in templates["code-server"].describe()["fields"] if f["name"] == "workdir"
    )
    assert workdir["help"] == "The folder VS Code opens."


def test_two_files_with_one_id_and_a_missing_directory(tmp_path: Path, plugins: Plugins) -> None:
    write(tmp_path, "a.toml", 'id = "x"\ntitle = "X"\ncommand = "serve {port}"\n')
    write(tmp_path, "b.toml", 'id = "x"\ntitle = "Y"\ncommand = "serve {port}"\n')
    with pytest.raises(ConfigurationError, match="the same id 'x'"):
        templates_of(plugins, tmp_path)
    with pytest.raises(ConfigurationError, match="is not a directory"):
        templates_of(plugins, tmp_path / "nowhere")


def test_config_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    templates = tmp_path / "templates"
    write(templates, "code-server.toml", CODE_SERVER)
    monkeypatch.setenv("LABGATE_APP_TEMPLATES_DIR", str(templates))
    runner = CliRunner()
    good = runner.invoke(cli, ["--data-dir", str(tmp_path / "data"), "config", "check"])
    assert good.exit_code == 0, good.output
    assert "code-server" in good.output
    write(templates, "bad.toml", 'id = "x"\ntitle = "X"\ncommand = "serve {prot}"\n')
    bad = runner.invoke(cli, ["--data-dir", str(tmp_path / "data"), "config", "check"])
    assert bad.exit_code == 1
    assert "bad.toml" in bad.output


def test_an_app_gets_its_password_in_its_environment_only(tmp_path: Path, plugins: Plugins) -> None:
    write(
        tmp_path,
        "vnc.toml",
        'id = "vnc"\ntitle = "VNC"\ncommand = "serve {socket}"\nlisten = "socket"\n'
        'env = { VNC_PASSWORD = "{app_password}" }\n',
    )
    vnc = templates_of(plugins, tmp_path)["vnc"]
    command, env = command_of(vnc, {}, Placeholders(base_url="/s/a/", token="t1", socket="/x"))
    other = command_of(vnc, {}, Placeholders(base_url="/s/a/", token="t2", socket="/x"))[1]
    assert env["VNC_PASSWORD"] == app_password("t1") != other["VNC_PASSWORD"]
    assert len(env["VNC_PASSWORD"]) == 8
    assert env["VNC_PASSWORD"] not in command


# An administrator's desktop: the site's analysis programs, one chosen in the form and
# started with the window manager, which shows the site's menu (XDG_CONFIG_DIRS).
SITE_DESKTOP = """
id = "analysis-desktop"
title = "Analysis desktop"
description = "openbox with the facility's analysis programs on its menu."
desktop_session = '''
export XDG_CONFIG_DIRS=/opt/site/xdg:/etc/xdg
{program} &
exec openbox
'''
desktop_needs = ["openbox"]

[[fields]]
name = "program"
label = "Start with"
kind = "choice"
choices = ["xterm", "pcmanfm"]
default = "xterm"
"""


def test_a_desktop_of_ones_own(tmp_path: Path, plugins: Plugins) -> None:
    write(tmp_path, "analysis.toml", SITE_DESKTOP)
    site = templates_of(plugins, tmp_path)["analysis-desktop"]
    assert (site.view, site.readiness, site.listen, site.icon) == (
        "desktop",
        "rfb",
        "socket",
        "monitor",
    )
    assert [f["name"] for f in site.describe()["fields"]][2:4] == ["resolution", "program"]
    where = Placeholders(base_url="/s/a/", token="t1", socket="/run/a.sock")
    command, env = command_of(site, {"program": "pcmanfm", "resolution": "1920x1080"}, where)
    assert command.startswith("python3 -c ")
    assert "--socket /run/a.sock --resolution 1920x1080 --name 'Analysis desktop'" in command
    assert command.endswith("--needs openbox")
    assert env["LABGATE_DESKTOP_SESSION"].splitlines() == [
        "export XDG_CONFIG_DIRS=/opt/site/xdg:/etc/xdg",
        "pcmanfm &",
        "exec openbox",
    ]
    assert env["LABGATE_DESKTOP_PASSWORD"] == app_password("t1")
    assert (
        env["LABGATE_DESKTOP_PROGRAM"]
        == plugins.app_templates()["desktop"].env["LABGATE_DESKTOP_PROGRAM"]
    )


def test_a_vnc_server_of_ones_own_is_shown_as_a_desktop(tmp_path: Path, plugins: Plugins) -> None:
    write(
        tmp_path,
        "x11vnc.toml",
        'id = "x11vnc"\ntitle = "Shared screen"\nview = "desktop"\nlisten = "port"\n'
        'command = "x11vnc -localhost -rfbport {port} -display :0"\n',
    )
    shared = templates_of(plugins, tmp_path)["x11vnc"]
    assert (shared.view, shared.readiness) == ("desktop", "rfb")
    assert templates_of(plugins, tmp_path)["webapp"].readiness == "http"


def test_the_server_leaves_out_a_refused_file_and_keeps_why(
    tmp_path: Path, plugins: Plugins
) -> None:
    """The catalog the server runs with: good files in, bad ones and a second file with
    an id already read left out, each kept with what is wrong (the console lists them)."""
    write(tmp_path, "a.toml", 'id = "x"\ntitle = "X"\ncommand = "serve {port}"\n')
    write(tmp_path, "b.toml", 'id = "x"\ntitle = "Y"\ncommand = "serve {port}"\n')
    write(tmp_path, "c.toml", 'id = "y"\ntitle = "Y"\ncommand = "serve {port} {what}"\n')
    catalog = catalog_of(plugins, tmp_path)
    assert catalog.templates["x"].title == "X"
    assert "y" not in catalog.templates
    assert "jupyterlab" in catalog.templates
    assert catalog.files == {"x": tmp_path / "a.toml"}
    assert [r.path.name for r in catalog.refused] == ["b.toml", "c.toml"]
    a, b = tmp_path / "a.toml", tmp_path / "b.toml"
    assert catalog.refused[0].message == f"App templates {a} and {b} have the same id 'x'"
    assert "{what} is not a placeholder" in catalog.refused[1].message
