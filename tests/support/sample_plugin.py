"""The sample plug-in (tests/sample_plugin), installed as a third party's plug-in is: by
pip, into a directory of its own that only the servers started with
:func:`plugin_environment` have on their ``PYTHONPATH``. labgate finds it through its
``labgate`` entry point; the project's .venv (and ``make run``) stay without it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "sample_plugin"
PIP_TIMEOUT_SECONDS = 300


def install_sample_plugin(workdir: Path) -> Path:
    """``pip install --no-deps --target`` of the sample into ``workdir``/site; that
    directory. A copy of the source is built (setuptools writes build/ and egg-info
    beside the source). pip builds it in an isolated environment (setuptools and wheel
    from the package index; the project's .venv has no ``wheel``)."""
    source = workdir / "source"
    target = workdir / "site"
    shutil.copytree(SOURCE, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--quiet",
            "--disable-pip-version-check",
            "--target",
            str(target),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=PIP_TIMEOUT_SECONDS,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"pip could not install the sample plug-in:\n{done.stdout}\n{done.stderr}"
        )
    return target


def plugin_environment(site: Path) -> dict[str, str]:
    """The ``PYTHONPATH`` that lets a ``labgate`` process find what is installed in ``site``
    (before what this process has on its path, labgate's source among it)."""
    inherited = os.environ.get("PYTHONPATH", "")
    return {"PYTHONPATH": os.pathsep.join(p for p in (str(site), inherited) if p)}
