"""What a launch for an experiment adds (labgate.experiments.attaching), run by a real
shell: the variables, the links by kind (numbered, not over a file of that name, not to
the working directory itself), the working directory, and quoting of odd paths."""

from __future__ import annotations

import subprocess
from pathlib import Path

from labgate.experiments.attaching import attach


def run(lines: tuple[str, ...], home: Path) -> dict[str, str]:
    script = "\n".join([*lines, "env"])
    done = subprocess.run(
        ["/bin/sh", "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env={"HOME": str(home), "PATH": "/usr/bin:/bin"},
    )
    return dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)


def test_the_processed_area_is_the_default_working_directory(tmp_path: Path) -> None:
    raw = tmp_path / "raw data; $(touch pwned)"
    raw.mkdir()
    processed = tmp_path / "processed"
    processed.mkdir()
    found = attach(
        "12-34", [("raw", str(raw)), ("processed", str(processed)), ("raw", "/nowhere")], "~"
    )
    assert found.workdir == str(processed)
    seen = run(found.setup_lines, tmp_path)
    assert seen["LABGATE_EXPERIMENT"] == "12-34"
    assert seen["LABGATE_EXPERIMENT_RAW"] == f"{raw}:/nowhere"
    assert seen["LABGATE_EXPERIMENT_PROCESSED"] == str(processed)
    assert "LABGATE_EXPERIMENT_SCRATCH" not in seen
    assert (processed / "raw").resolve() == raw
    assert (processed / "raw-2").is_symlink()
    assert not (processed / "processed").exists()
    assert not (tmp_path / "pwned").exists()


def test_a_working_directory_of_the_form_keeps_its_files(tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "raw").write_text("mine\n")
    found = attach("12-34", [("raw", "/data/raw"), ("scratch", "/scratch/x")], "~/work")
    assert found.workdir == "~/work"
    run(found.setup_lines, tmp_path)
    assert (tmp_path / "work" / "raw").read_text() == "mine\n"
    assert str((tmp_path / "work" / "scratch").readlink()) == "/scratch/x"


def test_a_working_directory_that_is_not_there_stops_nothing(tmp_path: Path) -> None:
    found = attach("12-34", [("raw", "/data/raw")], "/does/not/exist")
    assert run(found.setup_lines, tmp_path)["LABGATE_EXPERIMENT_RAW"] == "/data/raw"
