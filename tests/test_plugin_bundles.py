"""Plug-ins' front-end bundles: manifests checked at start-up, files served below
/plugins/<name>/, listed in /api/v1/info (labgate.plugins.bundles, labgate.web.plugin_assets).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from labgate.app import create_app
from labgate.errors import ConfigurationError
from labgate.plugins import hookimpl
from labgate.plugins.bundles import FRONTEND_API_VERSION, load_bundles
from labgate.plugins.front_end import FileViewer, FrontendBundle, Pane
from labgate.plugins.manager import Plugins
from labgate.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
ENTRY = "export function register(api) { api.registerViewer('DemoViewer', {}) }\n"


def make_bundle(directory: Path, **manifest: Any) -> Path:
    """A bundle named "demo" with an entry module, a style and a manifest (``manifest``
    fields over the good ones; None removes one)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "demo.js").write_text(ENTRY)
    (directory / "parts").mkdir(exist_ok=True)
    (directory / "parts" / "style.css").write_text(".demo { color: red }\n")
    fields: dict[str, Any] = {
        "name": "demo",
        "version": "1.2.3",
        "entry": "demo.js",
        "frontend_api": FRONTEND_API_VERSION,
        "panes": ["demo"],
        "viewers": ["DemoViewer"],
    }
    fields.update(manifest)
    (directory / "manifest.json").write_text(
        json.dumps({k: v for k, v in fields.items() if v is not None})
    )
    return directory


class BundlePlugin:
    """A plug-in with a front-end bundle, a viewer and a pane from it."""

    def __init__(
        self,
        directory: Path,
        viewers: list[FileViewer] | None = None,
        panes: list[Pane] | None = None,
    ) -> None:
        self.directory = directory
        self.viewers = viewers or []
        self.panes = panes or []

    @hookimpl
    def register_frontend_bundles(self) -> list[FrontendBundle]:
        return [FrontendBundle("demo", self.directory)]

    @hookimpl
    def register_file_viewers(self) -> list[FileViewer]:
        return self.viewers

    @hookimpl
    def register_panes(self) -> list[Pane]:
        return self.panes


def plugins_with(settings: Settings, *extra: object) -> Plugins:
    return Plugins.load(settings, extra=extra, entry_points=False)


@pytest.fixture
def bundle_dir(tmp_path: Path) -> Path:
    return make_bundle(tmp_path / "bundle")


@pytest.fixture
async def http(
    settings: Settings, bundle_dir: Path, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """labgate with the demo bundle (nothing here needs the database or the lifespan)."""
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "index.html").write_text("<!doctype html><title>labgate</title>")
    app = create_app(
        settings,
        bootstrap=False,
        static_dir=tmp_path / "static",
        plugins=plugins_with(settings, BundlePlugin(bundle_dir)),
    )
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client


async def test_hook_register_frontend_bundles_serves_the_bundle_and_lists_it(
    http: httpx.AsyncClient,
) -> None:
    info = (await http.get("/api/v1/info")).json()
    assert info["bundles"] == [
        {"name": "demo", "version": "1.2.3", "entry": "/plugins/demo/demo.js"}
    ]
    entry = await http.get("/plugins/demo/demo.js")
    assert entry.status_code == 200
    assert entry.text == ENTRY
    assert entry.headers["content-type"] == "text/javascript; charset=utf-8"
    assert entry.headers["x-content-type-options"] == "nosniff"
    # Same origin: the page's policy lets it be imported as a module.
    assert "script-src 'self'" in entry.headers["content-security-policy"]
    style = await http.get("/plugins/demo/parts/style.css")
    assert style.headers["content-type"] == "text/css; charset=utf-8"


async def test_bundle_files_are_revalidated_not_cached_blindly(http: httpx.AsyncClient) -> None:
    first = await http.get("/plugins/demo/demo.js")
    assert first.headers["cache-control"] == "no-cache"
    again = await http.get(
        "/plugins/demo/demo.js", headers={"if-none-match": first.headers["etag"]}
    )
    assert again.status_code == 304
    assert again.headers["cache-control"] == "no-cache"


async def test_bundle_files_are_served_from_their_directory_only(
    http: httpx.AsyncClient, bundle_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "secret.txt").write_text("not for the browser")
    (bundle_dir / "link.txt").symlink_to(tmp_path / "secret.txt")
    for path in (
        "/plugins/demo/../secret.txt",
        "/plugins/demo/%2e%2e/secret.txt",
        "/plugins/demo/..%2fsecret.txt",
        "/plugins/demo/link.txt",
        "/plugins/demo/parts",
        "/plugins/demo/",
        "/plugins/demo",
        "/plugins/other/demo.js",
        "/plugins/",
    ):
        answer = await http.get(path)
        assert answer.status_code == 404, path
        assert "not for the browser" not in answer.text
        assert answer.headers["content-type"] == "application/json", path
    assert (await http.post("/plugins/demo/demo.js")).status_code == 405


async def test_without_bundles_info_lists_none(settings: Settings, tmp_path: Path) -> None:
    app = create_app(settings, bootstrap=False, static_dir=tmp_path, plugins=plugins_with(settings))
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        assert (await http.get("/api/v1/info")).json()["bundles"] == []
        assert (await http.get("/plugins/demo/demo.js")).status_code == 404


BAD_MANIFESTS: list[tuple[dict[str, Any], str]] = [
    ({"name": "other"}, r"\"name\" is 'other', but the plug-in calls it 'demo'"),
    ({"name": None}, r"\"name\" is None, but the plug-in calls it 'demo'"),
    ({"version": None}, r"\"version\" must be a non-empty string"),
    ({"version": ""}, r"\"version\" must be a non-empty string"),
    ({"version": 1.2}, r"\"version\" must be a non-empty string"),
    ({"frontend_api": None}, r"\"frontend_api\" is None"),
    ({"frontend_api": True}, r"\"frontend_api\" is True"),
    ({"entry": 5}, r"\"entry\" must name the JavaScript module"),
    ({"entry": "parts\\demo.js"}, r"must be a path inside the bundle's directory"),
    ({"viewers": [1]}, r"\"viewers\" must be a list of names"),
    ({"viewers": ["<Demo>"]}, r"\"viewers\" names '<Demo>', which must match"),
    (
        {"frontend_api": 99},
        r"\"frontend_api\" is 99; this labgate gives bundles front-end API \[1\]",
    ),
    ({"frontend_api": "1"}, r"\"frontend_api\" is '1'"),
    ({"entry": None}, r"\"entry\" must name the JavaScript module"),
    ({"entry": "demo.css"}, r"\"entry\" must name the JavaScript module"),
    ({"entry": "../outside.js"}, r"must be a path inside the bundle's directory"),
    ({"entry": "/etc/x.js"}, r"must be a path inside the bundle's directory"),
    ({"entry": "missing.js"}, r"names 'missing.js', which is not a file"),
    ({"panes": ["Not A Kind"]}, r"\"panes\" names 'Not A Kind', which must match"),
    ({"panes": "demo"}, r"\"panes\" must be a list of names"),
    ({"viewers": ["Demo", "Demo"]}, r"\"viewers\" names one twice"),
    ({"entrypoint": "demo.js"}, r"unknown fields \['entrypoint'\]"),
]


@pytest.mark.parametrize(("change", "message"), BAD_MANIFESTS)
def test_a_bad_manifest_stops_the_start_saying_what_is_wrong(
    settings: Settings, tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    directory = make_bundle(tmp_path / "bundle", **change)
    plugins = plugins_with(settings, BundlePlugin(directory))
    with pytest.raises(ConfigurationError, match=r"front-end bundle 'demo' \(.*manifest\.json\)"):
        load_bundles(plugins)
    with pytest.raises(ConfigurationError, match=message):
        create_app(settings, bootstrap=False, static_dir=tmp_path, plugins=plugins)


def test_an_entry_that_leads_out_of_the_bundle_stops_the_start(
    settings: Settings, bundle_dir: Path, tmp_path: Path
) -> None:
    """A symlink to a module elsewhere: served, it would be refused."""
    (tmp_path / "elsewhere.js").write_text(ENTRY)
    (bundle_dir / "link.js").symlink_to(tmp_path / "elsewhere.js")
    make_bundle(bundle_dir, entry="link.js")
    with pytest.raises(ConfigurationError, match=r"\"entry\" 'link.js' leads out of the bundle"):
        load_bundles(plugins_with(settings, BundlePlugin(bundle_dir)))


@pytest.mark.parametrize(
    "broken",
    [
        lambda d: (d / "manifest.json").unlink(),
        lambda d: (d / "manifest.json").write_text("{not json"),
        lambda d: (d / "manifest.json").write_text("[]"),
    ],
    ids=["missing", "not JSON", "not an object"],
)
def test_a_missing_or_unreadable_manifest_stops_the_start(
    settings: Settings, bundle_dir: Path, broken: Callable[[Path], object]
) -> None:
    broken(bundle_dir)
    with pytest.raises(ConfigurationError, match=r"bundle 'demo'.*manifest\.json"):
        load_bundles(plugins_with(settings, BundlePlugin(bundle_dir)))


def test_viewers_and_panes_from_a_bundle_must_be_in_its_manifest(
    settings: Settings, bundle_dir: Path
) -> None:
    declared = BundlePlugin(
        bundle_dir,
        viewers=[FileViewer("demo", "Demo", "DemoViewer", ("demo",), bundle="demo")],
        panes=[Pane("demo", "Demo", bundle="demo")],
    )
    assert list(load_bundles(plugins_with(settings, declared))) == ["demo"]

    undeclared_viewer = BundlePlugin(
        bundle_dir, viewers=[FileViewer("demo", "Demo", "OtherViewer", ("demo",), bundle="demo")]
    )
    with pytest.raises(ConfigurationError, match=r"viewer 'demo' needs 'OtherViewer'.*'viewers'"):
        load_bundles(plugins_with(settings, undeclared_viewer))
    undeclared_pane = BundlePlugin(bundle_dir, panes=[Pane("other", "Other", bundle="demo")])
    with pytest.raises(ConfigurationError, match=r"pane 'other' needs 'other'.*'panes'"):
        load_bundles(plugins_with(settings, undeclared_pane))


def test_a_viewer_from_a_bundle_nobody_provides_stops_the_start(settings: Settings) -> None:
    class Orphan:
        @hookimpl
        def register_file_viewers(self) -> list[FileViewer]:
            return [FileViewer("orphan", "Orphan", "OrphanViewer", ("orp",), bundle="gone")]

    with pytest.raises(ConfigurationError, match=r"viewer 'orphan' comes from .*'gone', which no"):
        load_bundles(plugins_with(settings, Orphan()))


def test_two_bundles_of_one_name_stop_the_start(settings: Settings, bundle_dir: Path) -> None:
    plugins = plugins_with(settings, BundlePlugin(bundle_dir), BundlePlugin(bundle_dir))
    with pytest.raises(ConfigurationError, match=r"both provide frontend_bundles 'demo'"):
        load_bundles(plugins)


def test_the_front_end_gives_bundles_the_api_version_the_server_checks() -> None:
    source = (ROOT / "frontend" / "src" / "plugins" / "api.ts").read_text()
    found = re.search(r"export const FRONTEND_API_VERSION = (\d+)", source)
    assert found, "FRONTEND_API_VERSION not found in frontend/src/plugins/api.ts"
    assert int(found.group(1)) == FRONTEND_API_VERSION
