"""Tests for labgate.launching.apps_environment and the setup program it runs on the
resource (apps_setup_program.py): the pins and their digest, the line that puts the
environment on PATH, the progress read from what the setup printed, when a failed launch
offers the setup, and the program's own steps (a lock, the stamp, a missing venv module).
The setup through labgate, on a real resource, is tests/e2e/test_app_setup.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from labgate.launching import apps_environment, apps_setup_program
from labgate.launching.apps_environment import read_progress
from labgate.launching.diagnosis import offers_apps_setup
from labgate.launching.template import Placeholders, command_of
from labgate.sessions.templates import JUPYTERLAB, TENSORBOARD, WEBAPP
from tests.support.apps import REQUIREMENTS

PROGRAM = Path(apps_setup_program.__file__)

# What a setup from a wheel directory prints, shortened to three pins.
HEAD = (
    "[labgate] Creating a Python virtual environment in /home/u/.local/share/labgate/apps/x\n"
    "[labgate] Installing 3 packages from the wheel directory /w\n"
    "Looking in links: /w\n"
)
COLLECTED = (
    "Processing /w/jupyterlab-4.6.6-py3-none-any.whl\n"
    "Processing /w/tensorboard-2.21.0-py3-none-any.whl\n"
    "Requirement already satisfied: setuptools==66.1.1 in /x (66.1.1)\n"
)
INSTALLED = (
    "Installing collected packages: jupyterlab, tensorboard\n"
    "Successfully installed jupyterlab-4.6.6 tensorboard-2.21.0\n"
    "[labgate] Checking that JupyterLab and TensorBoard can start\n"
)
DONE = "[labgate] Done: JupyterLab and TensorBoard are set up in /home/u/x\n"
PIP_FAILED = (
    "ERROR: Could not find a version that satisfies the requirement six==1.17.0 (from -r p)\n"
    "ERROR: No matching distribution found for six==1.17.0\n"
    "[labgate] Failed: pip could not install the apps (status 1): A wheel may be missing.\n"
)


def test_the_tests_apps_environment_is_built_from_the_users_pins() -> None:
    assert REQUIREMENTS.read_bytes() == apps_environment.pins()
    lines = apps_environment.pin_lines()
    assert {"jupyterlab==4.6.6", "tensorboard==2.21.0"} <= set(lines)
    assert all("==" in line for line in lines), "every dependency is pinned"


def test_the_directory_is_named_by_the_pins_not_by_comments() -> None:
    pins = apps_environment.pins()
    assert apps_environment.pin_lines(b"# another comment\n" + pins) == apps_environment.pin_lines()
    assert len(apps_environment.digest()) == 12
    assert apps_environment.directory().endswith("/" + apps_environment.digest())


def test_the_path_line_appends_a_complete_environment_only(tmp_path: Path) -> None:
    environment = tmp_path / apps_environment.ENVIRONMENTS_DIR / apps_environment.digest()
    (environment / "bin").mkdir(parents=True)

    def path_after() -> str:
        shell = f'{apps_environment.path_line()}\nprintf %s "$PATH"'
        env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
        return subprocess.run(
            ["/bin/sh", "-c", shell], env=env, capture_output=True, text=True, check=True
        ).stdout

    assert path_after() == "/usr/bin:/bin"  # not complete: not on PATH
    (environment / apps_environment.STAMP_NAME).write_bytes(apps_environment.pins())
    # At the end: a program the user's own PATH finds first still wins.
    assert path_after() == f"/usr/bin:/bin:{environment}/bin"


def test_progress_moves_from_the_venv_through_each_pin_to_the_end() -> None:
    steps = [
        "",
        HEAD.splitlines(keepends=True)[0],
        HEAD,
        HEAD + COLLECTED.splitlines(keepends=True)[0],
        HEAD + COLLECTED,
        HEAD + COLLECTED + INSTALLED.splitlines(keepends=True)[0],
        HEAD + COLLECTED + INSTALLED,
    ]
    seen = [read_progress(output, running=True, exit_status=None) for output in steps]
    fractions = [progress.fraction for progress in seen]
    assert fractions == sorted(fractions)
    assert len(set(fractions)) == len(fractions), "every step moves the bar"
    assert all(0 < f < 1 for f in fractions)
    assert {progress.outcome for progress in seen} == {"running"}
    assert seen[2].step == "Installing 3 packages from the wheel directory /w"
    done = read_progress(HEAD + COLLECTED + INSTALLED + DONE, running=False, exit_status=0)
    assert (done.outcome, done.fraction) == ("succeeded", 1.0)
    assert done.message == "JupyterLab and TensorBoard are set up in /home/u/x"


def test_a_failure_says_why_with_pips_decisive_lines() -> None:
    failed = read_progress(HEAD + PIP_FAILED, running=False, exit_status=1)
    assert failed.outcome == "failed"
    assert failed.message.startswith("pip could not install the apps")
    assert failed.errors == tuple(PIP_FAILED.splitlines()[:2])
    killed = read_progress(HEAD, running=False, exit_status=None)
    assert (killed.outcome, killed.message) == (
        "failed",
        "The setup was stopped before it finished; start it again.",
    )


@pytest.mark.parametrize(
    ("template", "log", "offered"),
    [
        (JUPYTERLAB, "sh: 1: jupyter-lab: not found\n", True),
        (JUPYTERLAB, "bash: line 3: jupyter-lab: command not found\n", True),
        (TENSORBOARD, "/bin/sh: 1: tensorboard: not found\n", True),
        (JUPYTERLAB, "ModuleNotFoundError: No module named 'jupyterlab'\n", True),
        (JUPYTERLAB, "Running as root is not recommended. Use --allow-root to bypass.\n", False),
        (JUPYTERLAB, "ModuleNotFoundError: No module named 'pandas'\n", False),
        (WEBAPP, "sh: 1: jupyter-lab: not found\n", False),  # the user's own command
    ],
)
def test_the_setup_is_offered_when_the_apps_program_is_missing(
    template: object, log: str, offered: bool
) -> None:
    assert offers_apps_setup(template, log) is offered  # type: ignore[arg-type]


def test_jupyterlab_gets_allow_root_when_its_account_is_root() -> None:
    where = Placeholders("/s/x/", "token", socket="/tmp/x.sock")
    command, _env = command_of(JUPYTERLAB, {"workdir": "~"}, where)
    printed = subprocess.run(
        ["/bin/sh", "-c", f"printf '%s\\n' {command.split(' ', 1)[1]}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert ("--allow-root" in printed) is (subprocess.check_output(["id", "-u"]).strip() == b"0")
    # Decided by the account's uid on the resource, not written in for everybody.
    assert command.endswith('$([ "$(id -u)" = 0 ] && echo --allow-root)')
    tensorboard, _ = command_of(TENSORBOARD, {"logdir": "~"}, Placeholders("/s/x/", "t", port=1))
    assert "allow-root" not in tensorboard


def run_program(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(PROGRAM), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=env,
    )


def test_a_complete_environment_is_left_as_it_is(tmp_path: Path) -> None:
    pins = tmp_path / "pins.txt"
    pins.write_bytes(apps_environment.pins())
    target = tmp_path / "env"
    target.mkdir()
    (target / apps_environment.STAMP_NAME).write_bytes(apps_environment.pins())
    (target / "mine").write_text("kept")
    result = run_program(str(target), str(pins), "--wheels", str(tmp_path / "absent"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == f"[labgate] Done: JupyterLab and TensorBoard are set up in {target}\n"
    assert (target / "mine").read_text() == "kept"


def test_a_missing_wheel_directory_is_named(tmp_path: Path) -> None:
    pins = tmp_path / "pins.txt"
    pins.write_bytes(apps_environment.pins())
    result = run_program(str(tmp_path / "env"), str(pins), "--wheels", str(tmp_path / "absent"))
    assert result.returncode == 1
    last = result.stdout.splitlines()[-1]
    assert last == (
        f"[labgate] Failed: The wheel directory {tmp_path / 'absent'} (app_setup_wheel_directory)"
        " does not exist on this resource. Ask your administrator to fill it, or to unset the"
        " setting."
    )
    assert not (tmp_path / "env" / apps_environment.STAMP_NAME).exists()


def test_a_python_without_venv_names_the_package_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    said = (
        "The virtual environment was not created successfully because ensurepip is not\n"
        "available.  On Debian/Ubuntu systems, you need to install the python3-venv package\n"
    )

    def venv_without_ensurepip(argv: list[str], **_: object) -> subprocess.CompletedProcess[bytes]:
        return subprocess.CompletedProcess(argv, 1, said.encode())

    monkeypatch.setattr(apps_setup_program.subprocess, "run", venv_without_ensurepip)
    version = "{}.{}".format(*sys.version_info[:2])
    package = f"apt-get install python{version}-venv"
    with pytest.raises(apps_setup_program.SetupFailed, match=package):
        apps_setup_program.create_venv(str(tmp_path / "env"))
