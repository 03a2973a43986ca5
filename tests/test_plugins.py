"""The plug-in core: loading, collecting by name, clashes, and what is reported.

Each hook's own behaviour is tested where its part lives; a test here named
``test_hook_<hook name>...`` (or anywhere under tests/) shows each hook is exercised
(see test_every_hook_is_documented_and_tested).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from labgate.app import create_app
from labgate.auth.ldap import LdapProvider
from labgate.auth.local import LocalProvider
from labgate.auth.oidc import OidcProvider
from labgate.auth.pam import PamProvider
from labgate.auth.providers import load_providers
from labgate.db.engine import Database
from labgate.errors import ConfigurationError
from labgate.launchers.direct import DirectLauncher
from labgate.plugins import hookimpl, hookspecs
from labgate.plugins.manager import BUILTIN_PLUGINS, NAMED_HOOKS, Plugins
from labgate.resources.transports import LOCAL
from labgate.settings import Settings
from labgate.web.panes import PANES
from labgate.web.viewers import VIEWERS
from tests.support.cli import Labgate

ROOT = Path(__file__).resolve().parents[1]


class TicketProvider:
    """A login method of a plug-in: accepts one fixed ticket for one existing user."""

    name = "ticket"
    label = "Workshop ticket"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def authenticate(self, database: Database, username: str, password: str) -> int | None:
        return 1 if (username, password) == ("admin", "ticket-1234") else None


class TicketPlugin:
    @hookimpl
    def register_auth_providers(self) -> list[type[Any]]:
        return [TicketProvider]


def test_the_builtins_are_registered_through_the_hooks(settings: Settings) -> None:
    plugins = Plugins.load(settings, entry_points=False)
    names = [p.name for p in plugins.info()]
    assert names[: len(BUILTIN_PLUGINS)] == list(BUILTIN_PLUGINS)
    assert plugins.info() is plugins.info()  # found once, not on every /api/v1/info
    providers = plugins.auth_providers()
    assert providers["local"] is LocalProvider
    assert providers["pam"] is PamProvider
    assert providers["oidc"] is OidcProvider
    assert providers["ldap"] is LdapProvider


def test_hook_register_auth_providers_adds_a_login_method(settings: Settings) -> None:
    plugins = Plugins.load(settings, extra=[TicketPlugin()], entry_points=False)
    providers = load_providers(
        settings.model_copy(update={"auth_providers": ["ticket", "local"]}), plugins
    )
    assert [p.name for p in providers] == ["ticket", "local"]
    assert isinstance(providers[0], TicketProvider)


def test_an_unknown_provider_names_what_is_installed(settings: Settings) -> None:
    plugins = Plugins.load(settings, entry_points=False)
    with pytest.raises(
        ConfigurationError, match=r"Unknown authentication provider 'kerberos'.*local"
    ):
        load_providers(settings.model_copy(update={"auth_providers": ["kerberos"]}), plugins)


def test_two_plugins_giving_one_name_stop_the_start_naming_both(settings: Settings) -> None:
    class Again:
        @hookimpl
        def register_auth_providers(self) -> list[type[Any]]:
            return [LocalProvider]

    plugins = Plugins.load(settings, extra=[Again()], entry_points=False)
    with pytest.raises(ConfigurationError, match=r"labgate\.auth\.local and .*'local'"):
        plugins.auth_providers()


class SecondCopies:
    """labgate's own launcher, transport, viewer and pane again, under their own names:
    parts nothing asks for while the server starts."""

    @hookimpl
    def register_launchers(self) -> list[Any]:
        return [DirectLauncher()]

    @hookimpl
    def register_transports(self) -> list[Any]:
        return [LOCAL]

    @hookimpl
    def register_file_viewers(self) -> list[Any]:
        return [VIEWERS[0]]

    @hookimpl
    def register_panes(self) -> list[Any]:
        return [PANES[0]]


@pytest.mark.parametrize(
    ("hook", "says"),
    [
        ("register_launchers", "launchers 'direct'"),
        ("register_transports", "transports 'local'"),
        ("register_file_viewers", "file_viewers 'image'"),
        ("register_panes", "panes 'welcome'"),
    ],
)
async def test_a_name_given_twice_stops_the_start_not_the_first_request(
    settings: Settings, database: Database, hook: str, says: str
) -> None:
    only = type("Again", (), {hook: getattr(SecondCopies, hook)})()
    plugins = Plugins.load(settings, extra=[only], entry_points=False)
    with pytest.raises(ConfigurationError) as refused:
        create_app(settings, database=database, bootstrap=False, plugins=plugins)
    assert "both provide " + says in refused.value.message


def test_a_misspelt_hook_is_refused(settings: Settings) -> None:
    class Misspelt:
        @hookimpl
        def register_launcher(self) -> list[Any]:  # the hook is register_launchers
            return []

    with pytest.raises(ConfigurationError, match="register_launcher"):
        Plugins.load(settings, extra=[Misspelt()], entry_points=False)


def test_a_hook_may_take_the_settings(settings: Settings) -> None:
    seen: list[Settings] = []

    class Configured:
        @hookimpl
        def register_auth_providers(self, settings: Settings) -> list[type[Any]]:
            seen.append(settings)
            return []

    Plugins.load(settings, extra=[Configured()], entry_points=False).auth_providers()
    assert seen == [settings]


def test_labgate_plugins_lists_what_is_loaded(tmp_path: Path) -> None:
    labgate = Labgate(tmp_path / "data")
    table = labgate.ok("plugins")
    assert re.search(r"^labgate\.auth\.local\s+\S+\s+True\s+register_auth_providers", table, re.M)
    assert '"name": "labgate.auth.local"' in labgate.ok("plugins", "--json")


def test_a_plugin_that_cannot_be_imported_is_named_by_labgate_plugins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An installed distribution whose entry point names a module that is not there."""
    site = tmp_path / "site"
    metadata = site / "broken_plugin-0.1.dist-info"
    metadata.mkdir(parents=True)
    (metadata / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 0.1\n")
    (metadata / "entry_points.txt").write_text("[labgate]\nbroken = labgate_no_such_module\n")
    monkeypatch.syspath_prepend(str(site))

    with pytest.raises(ConfigurationError) as refused:
        Plugins.load(Settings(data_dir=tmp_path / "data"))
    assert refused.value.message == (
        "The labgate plug-in 'broken' (labgate_no_such_module, installed by broken-plugin) "
        "could not be loaded: ModuleNotFoundError: No module named 'labgate_no_such_module'. "
        "Install what it needs, or uninstall it."
    )
    error = Labgate(tmp_path / "data").fails("plugins")
    assert "The labgate plug-in 'broken' (labgate_no_such_module" in error


async def test_info_says_which_plugins_are_active(settings: Settings, database: Database) -> None:
    plugins = Plugins.load(settings, extra=[SimpleNamespace()], entry_points=False)
    app = create_app(settings, database=database, bootstrap=False, plugins=plugins)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            info = (await http.get("/api/v1/info")).json()
    names = [p["name"] for p in info["plugins"]]
    assert names[: len(BUILTIN_PLUGINS)] == list(BUILTIN_PLUGINS)
    assert len(names) == len(BUILTIN_PLUGINS) + 1  # the extra one, under pluggy's name


def hook_names() -> list[str]:
    return [name for name in vars(hookspecs) if name.startswith("register_")]


def test_every_hook_but_the_routers_gives_named_parts_checked_at_start() -> None:
    assert {*NAMED_HOOKS, "register_routers"} == set(hook_names())


def test_every_hook_is_documented_and_tested() -> None:
    """As Datasette does it: each hook has a section in docs/plugins.md, and a test
    named after it somewhere in tests/."""
    guide = (ROOT / "docs" / "plugins.md").read_text()
    documented = set(re.findall(r"^### `(\w+)`", guide, re.M))
    tested: set[str] = set()
    for path in (ROOT / "tests").rglob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                tested.update(h for h in hook_names() if node.name.startswith(f"test_hook_{h}"))
    assert hook_names(), "no hooks found: hookspecs changed shape?"
    assert sorted(set(hook_names()) - documented) == [], "hooks missing from docs/plugins.md"
    assert sorted(documented - set(hook_names())) == [], "docs/plugins.md names unknown hooks"
    assert sorted(set(hook_names()) - tested) == [], "hooks without a test"
