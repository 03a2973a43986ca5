"""Why an app did not start (``labgate.launching.diagnosis``) and the decisive lines of
what it printed (``labgate.launching.decisive``), on what real apps print: JupyterLab
run as root, TensorBoard without a log directory and with one that is not a folder, a
Python traceback, a shell's "command not found" (``tests/data/app_output/``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from labgate.launching.decisive import LINE_CHARS, MAX_LINES, decisive_lines
from labgate.launching.diagnosis import explain
from labgate.sessions.templates import JUPYTERLAB, TENSORBOARD, WEBAPP

OUTPUTS = Path(__file__).parent / "data" / "app_output"


def printed(name: str) -> str:
    return (OUTPUTS / f"{name}.txt").read_text()


@pytest.mark.parametrize(
    ("output", "lines"),
    [
        (
            "jupyterlab-as-root",
            ["Running as root is not recommended. Use --allow-root to bypass."],
        ),
        (
            "tensorboard-no-logdir",
            [
                "Error: A logdir or db must be specified. For example `tensorboard --logdir "
                "mylogdir` or `tensorboard --db sqlite:~/.tensorboard.db`. Run `tensorboard "
                "--helpfull` for details and examples."
            ],
        ),
        (
            # Printed again every few seconds with a new time: quoted once.
            "tensorboard-logdir-not-a-directory",
            [
                "While walking log directory: IO error for operation on afile/sub: "
                "Not a directory (os error 20)"
            ],
        ),
        (
            "python-traceback",
            ["FileNotFoundError: [Errno 2] No such file or directory: '/nonexistent/config.json'"],
        ),
        ("command-not-found", ["bash: line 1: jupyter-lab: command not found"]),
    ],
)
def test_the_decisive_lines_of_real_outputs(output: str, lines: list[str]) -> None:
    assert decisive_lines(printed(output)) == lines


def test_ansi_codes_and_redrawn_lines_are_plain_text() -> None:
    output = (
        "\x1b[32mstarting\x1b[0m\n"
        "loading 10%\rloading 50%\rloading 100%\n"
        "\x1b[1;31mERROR\x1b[0m: cannot open \x1b]8;;file:///x\x07/data/x\x1b]8;;\x07\n"
    )
    assert decisive_lines(output) == ["ERROR: cannot open /data/x"]


def test_without_an_error_line_the_last_line_is_quoted_and_nothing_for_no_output() -> None:
    assert decisive_lines("starting\nno such thing here\n") == ["no such thing here"]
    assert decisive_lines("build finished with 0 errors\nbye\n") == ["bye"]
    assert decisive_lines("") == []
    assert decisive_lines("\n \n") == []


def test_only_the_last_few_lines_each_cut_to_a_sane_length() -> None:
    output = "".join(f"error: problem {n}\n" for n in range(10)) + "x" * 5000 + " failed\n"
    lines = decisive_lines(output)
    assert len(lines) == MAX_LINES
    assert lines[:2] == ["error: problem 8", "error: problem 9"]
    assert len(lines[2]) == LINE_CHARS
    assert lines[2].endswith("…")


def test_a_traceback_quotes_its_exception_not_its_code() -> None:
    output = (
        "Traceback (most recent call last):\n"
        '  File "app.py", line 3, in <module>\n'
        "    raise RuntimeError('not this one')\n"
        "RuntimeError: the port is taken\n"
    )
    assert decisive_lines(output) == ["RuntimeError: the port is taken"]


def test_an_unknown_cause_is_summed_up_with_the_apps_own_words() -> None:
    message = explain(JUPYTERLAB, printed("jupyterlab-as-root"), "JupyterLab exited with status 1.")
    assert message.splitlines() == [
        "JupyterLab exited with status 1.",
        "Running as root is not recommended. Use --allow-root to bypass.",
    ]
    message = explain(TENSORBOARD, printed("tensorboard-no-logdir"), "TensorBoard exited with 1.")
    assert message.startswith(
        "TensorBoard exited with 1.\nError: A logdir or db must be specified."
    )
    message = explain(WEBAPP, printed("python-traceback"), "Web app exited with status 1.")
    assert message.endswith(
        "\nFileNotFoundError: [Errno 2] No such file or directory: '/nonexistent/config.json'"
    )
    assert explain(WEBAPP, "", "Web app exited with status 1.") == (
        "Web app exited with status 1. It printed nothing."
    )


def test_a_known_cause_is_said_in_words_to_act_on() -> None:
    message = explain(JUPYTERLAB, printed("command-not-found"), "JupyterLab exited with 127.")
    assert message.startswith(
        "jupyter-lab was not found on the resource. labgate can set it up for you"
    )
