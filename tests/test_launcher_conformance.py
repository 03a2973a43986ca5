"""labgate's own launchers against the launcher conformance suite
(``tests/launcher_conformance.py``): ``direct`` on the test account of a private sshd,
``slurm`` there too with a real single-node SLURM (its controller stopped for the
scheduler outage). One sshd per module, one SLURM per test run.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from labgate.launching.launcher import Launcher
from labgate.plugins.manager import Plugins
from labgate.settings import Settings
from tests.launcher_conformance import (
    LauncherConformance,
    LauncherFactory,
    SshResource,
    private_daemons,
)
from tests.support.daemons import daemon_runtime_dir
from tests.support.slurm import SlurmCluster
from tests.support.sshd import SshServer


def launchers_under_test() -> dict[str, LauncherFactory]:
    """Every launcher sessions can use, by name (the loaded plug-ins', as a server loads
    them): each must pass the suite. A factory makes a new instance, as a restarted
    server has."""
    launchers = Plugins.load(Settings()).launchers()
    return {name: type(launcher) for name, launcher in sorted(launchers.items())}


# The resource fixture each launcher is tested on: a launcher added without one fails.
RESOURCES = {"direct": "ssh_resource", "slurm": "slurm_resource"}


@pytest.fixture(scope="module")
def runtime_dir() -> Iterator[str]:
    """The test account's labgate daemon for this module; it and its apps ended after."""
    with daemon_runtime_dir("lg-") as path, private_daemons(path):
        yield path


@pytest.fixture(scope="module")
def ssh_resource(
    sshd: SshServer, runtime_dir: str, tmp_path_factory: pytest.TempPathFactory
) -> SshResource:
    return SshResource(sshd, runtime_dir, tmp_path_factory.mktemp("unreachable"))


@pytest.fixture(scope="module")
def slurm_resource(
    sshd: SshServer,
    runtime_dir: str,
    tmp_path_factory: pytest.TempPathFactory,
    slurm: SlurmCluster,
) -> SshResource:
    return SshResource(
        sshd,
        runtime_dir,
        tmp_path_factory.mktemp("unreachable"),
        setup_lines=[slurm.setup_lines],
        scheduler=slurm.controller_stopped,
    )


class TestBuiltinLaunchers(LauncherConformance):
    @pytest.fixture(params=sorted(launchers_under_test()))
    def launcher_name(self, request: pytest.FixtureRequest) -> str:
        name: str = request.param
        return name

    @pytest.fixture
    def launcher(self, launcher_name: str) -> LauncherFactory:
        return launchers_under_test()[launcher_name]

    @pytest.fixture
    def resource(self, launcher_name: str, request: pytest.FixtureRequest) -> SshResource:
        assert launcher_name in RESOURCES, f"say which resource {launcher_name} is tested on"
        found: SshResource = request.getfixturevalue(RESOURCES[launcher_name])
        return found


def test_every_launcher_goes_by_its_own_name() -> None:
    for name, factory in launchers_under_test().items():
        launcher: Launcher = factory()
        assert launcher.name == name
