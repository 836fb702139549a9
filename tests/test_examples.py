"""The Python examples run and print what their docstrings promise."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )


def test_embed_example_runs_every_rehearsal_of_a_scenario():
    proc = run("examples/embed/run_from_python.py", "scenarios/kiosk.yaml")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("outcome: completed") == 3
    assert "entered checked_in" in proc.stdout


def test_embed_example_reports_an_invalid_scenario_with_its_location(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("cviscript: 1\nname: x\ninitial: a\nstates:\n  a: {enter: [{ecko: hi}]}\n")
    proc = run("examples/embed/run_from_python.py", str(bad))
    assert proc.returncode == 2
    assert f"{bad}:5:" in proc.stderr


def test_custom_session_example_drives_the_scenario():
    proc = run("examples/extend/custom_session.py")
    assert proc.returncode == 0, proc.stderr
    assert (
        "-> conversation.echo Thanks, please leave it by the door. Ada will be told." in proc.stdout
    )
    assert "outcome: completed, path: ask -> parcel -> bye" in proc.stdout
