"""The apps environment's setup as it runs on the resource (Python 3.8 or newer, the
standard library only): labgate writes this file and the pins beside the environments and
the user's daemon runs it (:mod:`labgate.launching.apps_setup`), so it goes on when the
browser is closed.

    python3 apps_setup_program.py TARGET PINS [--wheels DIR | --index-url URL]

It builds a virtual environment in TARGET with the Python that runs it (the resource's),
then pip installs PINS into it. TARGET is never changed once complete: its stamp, a copy
of PINS written last, marks it so, and a setup that finds it stops at once. A lock beside
it (TARGET.lock) makes two setups at once build it once. Lines starting with ``[labgate]``
are for labgate (``apps_environment.read_progress``): the steps, and the end (``Done:`` or
``Failed:``, with a sentence for the user); everything else is what venv and pip print.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import subprocess
import sys

MARK = "[labgate] "
STAMP_NAME = "labgate-apps.txt"
# What must be importable and runnable in a complete environment.
MODULES = ("jupyterlab", "tensorboard")
PROGRAMS = ("jupyter-lab", "tensorboard")


# JupyterLab's defaults in this environment (its settings overrides): no prompt about
# Jupyter's news feed or new versions, which would ask a user of a pinned environment
# something only an administrator can act on, and reach a website they did not ask for.
LAB_OVERRIDES = {
    "@jupyterlab/apputils-extension:notification": {
        "fetchNews": "false",
        "checkForUpdates": False,
    }
}


class SetupFailed(Exception):
    """The setup cannot go on; the message is for the user."""


def say(text: str) -> None:
    print(MARK + text, flush=True)


def complete(target: str, pins: bytes) -> bool:
    try:
        with open(os.path.join(target, STAMP_NAME), "rb") as stamp:
            return stamp.read() == pins
    except OSError:
        return False


def pin_count(pins: bytes) -> int:
    lines = pins.decode("utf-8", "replace").splitlines()
    return sum(1 for line in lines if line.strip() and not line.lstrip().startswith("#"))


def create_venv(target: str) -> None:
    say(f"Creating a Python virtual environment in {target}")
    shutil.rmtree(target, ignore_errors=True)  # an interrupted setup's
    result = subprocess.run(
        [sys.executable, "-m", "venv", target],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        check=False,
    )
    output = result.stdout.decode("utf-8", "replace")
    print(output, end="", flush=True)
    if result.returncode == 0:
        return
    shutil.rmtree(target, ignore_errors=True)
    version = "{}.{}".format(*sys.version_info[:2])
    if "ensurepip" in output or "No module named venv" in output:
        raise SetupFailed(
            f"This resource's Python ({sys.executable}, {version}) cannot create virtual "
            "environments: its venv/ensurepip part is not installed. An administrator of the "
            f"resource can add it (on Debian and Ubuntu: apt-get install python{version}-venv), "
            "or set the resource's Python to one that has it."
        )
    raise SetupFailed(f"python -m venv failed with status {result.returncode} (see the log).")


def pip_install(target: str, pins_path: str, count: int, wheels: str, index_url: str) -> None:
    command = [
        os.path.join(target, "bin", "python"),
        "-m",
        "pip",
        "install",
        "--no-input",
        "--disable-pip-version-check",
        "--progress-bar",
        "off",
        "-r",
        pins_path,
    ]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if wheels:
        if not os.path.isdir(wheels):
            raise SetupFailed(
                f"The wheel directory {wheels} (app_setup_wheel_directory) does not exist on "
                "this resource. Ask your administrator to fill it, or to unset the setting."
            )
        # The administrator's directory alone: no index, and no pip configuration that
        # adds other sources (PIP_CONFIG_FILE=/dev/null loads none, --isolated ignores PIP_*).
        command += ["--isolated", "--no-index", "--find-links", wheels]
        env["PIP_CONFIG_FILE"] = os.devnull
        source = f"the wheel directory {wheels}"
    elif index_url:
        command += ["--index-url", index_url]
        source = index_url
    else:
        source = "the package index"
    say(f"Installing {count} packages from {source}")
    status = subprocess.call(command, env=env, stderr=subprocess.STDOUT)
    if status != 0:
        hint = (
            f"A wheel may be missing from {wheels}."
            if wheels
            else "Can this resource reach the package index?"
        )
        raise SetupFailed(f"pip could not install the apps (status {status}): {hint}")


def check(target: str) -> None:
    say("Checking that JupyterLab and TensorBoard can start")
    for program in PROGRAMS:
        if not os.access(os.path.join(target, "bin", program), os.X_OK):
            raise SetupFailed(f"{program} was not installed in {target}.")
    python = os.path.join(target, "bin", "python")
    code = "import " + ", ".join(MODULES)
    if subprocess.call([python, "-c", code], stderr=subprocess.STDOUT) != 0:
        raise SetupFailed("The installed apps cannot be imported (see the log).")


def write_lab_overrides(target: str) -> None:
    directory = os.path.join(target, "share", "jupyter", "lab", "settings")
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "overrides.json"), "w") as handle:
        json.dump(LAB_OVERRIDES, handle, indent=2)


def set_up(target: str, pins_path: str, wheels: str, index_url: str) -> None:
    with open(pins_path, "rb") as handle:
        pins = handle.read()
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target + ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say("Waiting for another setup of this environment to finish")
            fcntl.flock(lock, fcntl.LOCK_EX)
        if complete(target, pins):
            say(f"Done: JupyterLab and TensorBoard are set up in {target}")
            return
        create_venv(target)
        pip_install(target, pins_path, pin_count(pins), wheels, index_url)
        check(target)
        write_lab_overrides(target)
        partial = os.path.join(target, STAMP_NAME + ".partial")
        with open(partial, "wb") as stamp:
            stamp.write(pins)
        os.replace(partial, os.path.join(target, STAMP_NAME))
    say(f"Done: JupyterLab and TensorBoard are set up in {target}")


def main() -> int:
    parser = argparse.ArgumentParser(description="Set up labgate's apps environment.")
    parser.add_argument("target")
    parser.add_argument("pins")
    parser.add_argument("--wheels", default="")
    parser.add_argument("--index-url", default="")
    args = parser.parse_args()
    try:
        set_up(args.target, args.pins, args.wheels, args.index_url)
    except SetupFailed as exc:
        say(f"Failed: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
