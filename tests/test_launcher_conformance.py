"""labgate's own launchers against the launcher conformance suite
(``tests/launcher_conformance.py``): ``direct`` on the test account of a private sshd,
``slurm`` there too with a real single-node SLURM (its controller stopped for the
scheduler outage). One sshd per module, one SLURM per test run.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest

from labgate.launchers.direct import DirectLauncher
from labgate.launchers.slurm import SlurmLauncher
from labgate.launching.launcher import Launcher, ResourceAccess, launchable
from labgate.launching.usable import Usable, usable_launchers
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
    """Every launcher sessions can be launched with, by name (the loaded plug-ins', as a
    server loads them): each must pass the suite. A factory makes a new instance, as a
    restarted server has. (``terminal`` starts no app, so it is not launchable: it is
    tested with terminal sharing, tests/test_terminal_sharing.py.)"""
    launchers = Plugins.load(Settings()).launchers()
    return {
        name: type(launcher) for name, launcher in sorted(launchers.items()) if launchable(launcher)
    }


def launch_form_launchers() -> dict[str, Launcher]:
    return {n: x for n, x in Plugins.load(Settings()).launchers().items() if launchable(x)}


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


async def test_slurm_is_unusable_where_sbatch_does_not_run(
    ssh_resource: SshResource, slurm_resource: SshResource
) -> None:
    """The SSH test host without SLURM's set-up lines is no SLURM login node (sbatch is
    installed there, but finds no configuration; without it on the PATH, it is not
    found); with them it is. ``direct`` can be used on both."""
    without_path = ["export PATH=/nonexistent"]
    async with ssh_resource.connected() as access:
        answers = await usable_launchers(launch_form_launchers(), access, ())
        assert [a.name for a in answers if a.usable] == ["direct"], answers
        (slurm,) = [a for a in answers if a.name == "slurm"]
        assert slurm.reason is not None
        assert slurm.reason.startswith("SLURM is not set up on this resource (sbatch"), slurm.reason
        missing = await SlurmLauncher().unusable(access, without_path)
        assert missing is not None
        assert "sbatch is not on this resource's PATH" in missing
    async with slurm_resource.connected() as access:
        answers = await usable_launchers(
            launch_form_launchers(), access, slurm_resource.setup_lines
        )
        assert all(a.usable for a in answers), answers


async def test_the_answers_are_kept_per_connection(ssh_resource: SshResource) -> None:
    """Asked again on the same connection, a launcher's check is not run again; a new
    connection asks again."""
    asked: list[object] = []

    class Counting(DirectLauncher):
        async def unusable(self, resource: ResourceAccess, setup_lines: Sequence[str]) -> str:
            asked.append(resource)
            return "counted"

    launchers: dict[str, Launcher] = {"counting": Counting()}
    async with ssh_resource.connected() as access:
        first = await usable_launchers(launchers, access, ())
        again = await usable_launchers(launchers, access, ())
        assert first == again == [Usable("counting", "counted")]
        assert len(asked) == 1
    async with ssh_resource.connected() as access:
        await usable_launchers(launchers, access, ())
    assert len(asked) == 2


def test_every_launcher_goes_by_its_own_name() -> None:
    for name, factory in launchers_under_test().items():
        launcher: Launcher = factory()
        assert launcher.name == name
