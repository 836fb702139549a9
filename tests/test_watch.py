"""`--watch`: a save runs the check again (bounded iterations, no real waiting)."""

from __future__ import annotations

import os
from pathlib import Path

from click.testing import CliRunner

from cviscript.cli import watch as watch_mod
from cviscript.cli.validate import command as validate

GOOD = "cviscript: 1\nname: w\ninitial: a\nstates:\n  a: {final: true}\n"


def test_watch_reruns_after_a_save(tmp_path: Path):
    path = tmp_path / "s.yaml"
    path.write_text(GOOD)
    runs: list[int] = []
    sleeps = {"n": 0}

    def run_once():
        runs.append(1)

    def sleep(_seconds):  # the "editor" saves the file on the second poll of each wait
        sleeps["n"] += 1
        if sleeps["n"] % 2 == 0:
            path.write_text(path.read_text() + "# edit\n")
            os.utime(path, ns=(0, sleeps["n"] * 1_000_000_000))

    lines: list[str] = []
    n = watch_mod.watch([tmp_path], run_once, iterations=3, sleep=sleep, echo=lines.append)
    assert n == 3 and len(runs) == 3
    assert any(line.startswith("-- changed: ") and "s.yaml" in line for line in lines)


def test_validate_watch_shows_the_new_problem_after_a_save(tmp_path: Path, monkeypatch):
    path = tmp_path / "s.yaml"
    path.write_text(GOOD)
    calls = {"n": 0}

    def sleep(_seconds):
        calls["n"] += 1
        if calls["n"] == 1:  # the author breaks the file
            path.write_text(GOOD.replace("initial: a", "initial: b"))
            os.utime(path, ns=(0, 5_000_000_000))

    monkeypatch.setattr(watch_mod.time, "sleep", sleep)
    result = CliRunner().invoke(validate, [str(path), "--watch", "--watch-iterations", "2"])
    assert result.exit_code == 0, result.output
    assert result.output.count("ok") >= 1
    assert "unknown state 'b'" in result.output


def test_rehearse_watch_reruns_the_cases(tmp_path: Path, monkeypatch):
    from cviscript.cli.rehearse import command as rehearse

    path = tmp_path / "s.yaml"
    path.write_text(GOOD + "rehearsals:\n  - name: one\n    expect: {path: [a]}\n")
    calls = {"n": 0}

    def sleep(_seconds):
        calls["n"] += 1
        if calls["n"] == 1:  # the author changes the expectation
            path.write_text(path.read_text().replace("path: [a]", "path: [a, a]"))
            os.utime(path, ns=(0, 7_000_000_000))

    monkeypatch.setattr(watch_mod.time, "sleep", sleep)
    result = CliRunner().invoke(
        rehearse, [str(path), "--watch", "--watch-iterations", "2", "--no-color", "-j", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "-- exit code 0" in result.output and "-- exit code 1" in result.output


def test_rehearse_watch_refuses_live(tmp_path: Path):
    from cviscript.cli.rehearse import command as rehearse

    path = tmp_path / "s.yaml"
    path.write_text(GOOD)
    result = CliRunner().invoke(rehearse, [str(path), "--watch", "--live"])
    assert result.exit_code == 2 and "costs money" in result.output
