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


# --------------------------------------- what is watched (hardening round three, issue 20.7)

INCLUDING = (
    "cviscript: 1\nname: w\ninclude: [shared/bye.yaml]\ninitial: a\nstates:\n"
    "  a:\n    enter:\n      - call: {function: hooks:answer, save: x}\n    on:\n"
    "      - after: 1s\n        goto: bye\n"
)


def _saves(target: Path, when: int):
    calls = {"n": 0}

    def sleep(_seconds):
        calls["n"] += 1
        assert calls["n"] < when + 20, f"the save of {target.name} was never seen"
        if calls["n"] == when:
            target.write_text(target.read_text() + "\n# edit\n")
            os.utime(target, ns=(0, 9_000_000_000))

    return sleep


def _project(tmp_path: Path) -> Path:
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "bye.yaml").write_text("states:\n  bye: {final: true}\n")
    (tmp_path / "hooks.py").write_text("def answer(event, vars):\n    return 1\n")
    path = tmp_path / "demo.yaml"
    path.write_text(INCLUDING)
    return path


def test_a_saved_fragment_or_hook_module_of_a_watched_file_runs_the_check_again(tmp_path):
    path = _project(tmp_path)
    for changed in (tmp_path / "shared" / "bye.yaml", tmp_path / "hooks.py"):
        runs: list[int] = []
        lines: list[str] = []
        n = watch_mod.watch(
            [path], lambda r=runs: r.append(1), iterations=2,
            sleep=_saves(changed, 2), echo=lines.append,
        )  # fmt: skip
        assert n == 2 and len(runs) == 2
        assert any(line.startswith("-- changed: ") and changed.name in line for line in lines)


def test_vcs_and_virtualenv_folders_are_not_walked(tmp_path, monkeypatch):
    path = _project(tmp_path)
    for folder in (".git/objects/ab", "venv-x/lib", "node_modules/pkg"):
        (tmp_path / folder).mkdir(parents=True)
        for i in range(50):
            (tmp_path / folder / f"f{i}.yaml").write_text("x: 1\n")
    (tmp_path / "venv-x" / "pyvenv.cfg").write_text("home = /usr\n")
    walked: list[str] = []
    real_walk = os.walk

    def spy(top, *a, **kw):
        for folder, dirs, files in real_walk(top, *a, **kw):
            walked.append(folder)
            yield folder, dirs, files

    monkeypatch.setattr(watch_mod.os, "walk", spy)
    watched = watch_mod.Watched([tmp_path])
    looked = watched.look()
    assert sorted(Path(p).name for p in looked) == ["bye.yaml", "demo.yaml", "hooks.py"]
    assert not any(part in w for w in walked for part in (".git", "venv-x", "node_modules"))
    assert str(path) in looked


def test_ctrl_c_ends_a_watch_with_130(tmp_path, monkeypatch):
    path = tmp_path / "s.yaml"
    path.write_text(GOOD)

    def sleep(_seconds):
        raise KeyboardInterrupt

    monkeypatch.setattr(watch_mod.time, "sleep", sleep)
    result = CliRunner().invoke(validate, [str(path), "--watch"])
    assert result.exit_code == 130, result.output
