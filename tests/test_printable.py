"""Hostile text on the way out: terminal escapes are shown, never obeyed; a lone surrogate never
crashes a command and every report is still written.

What a visitor says (and what a scenario's strings hold) reaches the terminal, transcripts, JUnit
and HTML. The commands are run in subprocesses with real UTF-8 pipes, as a user runs them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import xml.dom.minidom
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import REPO
from helpers import run_script, scenario_from, user_says

from cviscript.cli.main import cli
from cviscript.printable import printable, well_formed
from cviscript.report.console import ConsolePrinter
from cviscript.transcript import TranscriptWriter, read_transcript

# A window title, a clear screen, a fake green "completed" line, a carriage return that hides
# what came before, a C1 CSI and a right-to-left override.
HOSTILE = (
    "hi \x1b]0;pwned\x07\x1b[2J\n\x1b[32m✔ completed\x1b[0m\rX \x9b31m \u202eevil\u202c \ud800"
)
RAW = ("\x1b", "\x07", "\x9b", "\r", "\u202e", "\ud800")


def _clean(text: str) -> bool:
    return not any(c in text for c in RAW)


# ------------------------------------------------------------------------------ the function


def test_printable_shows_controls_instead_of_obeying_them():
    out = printable(HOSTILE)
    assert _clean(out)
    assert "␛]0;pwned␇␛[2J" in out and "␍X" in out
    assert "\\x9b31m" in out and "\\u202eevil\\u202c" in out and out.endswith("\ufffd")
    assert "\n" in out  # kept unless asked
    assert "\n" not in printable(HOSTILE, keep_newlines=False)
    assert "␊" in printable(HOSTILE, keep_newlines=False)
    assert printable(out) == out  # showing is idempotent


@pytest.mark.parametrize("text", ["plain", "café ✔ → 日本語", "tab\tand\nnewline", ""])
def test_ordinary_text_is_left_alone(text):
    assert printable(text) == text
    assert well_formed(text) == text


def test_well_formed_only_replaces_lone_surrogates():
    assert well_formed("a\ud800b\udfff\x1b") == "a\ufffdb\ufffd\x1b"
    assert well_formed("😀") == "😀"


# --------------------------------------------------------------------- speech, in the engine

ECHO = """
cviscript: 1
name: parrot
initial: listen
states:
  listen:
    on:
      - utterance: {match: "(?P<said>.+)"}
        do: [{log: "heard {{ event.groups.said }}"}]
        goto: answer
  answer:
    enter: [{echo: "You said {{ event.text }}"}]
    final: true
"""


def test_hostile_speech_is_matched_printed_and_recorded_without_a_crash(tmp_path):
    conv, session = run_script(scenario_from(ECHO), [(1, user_says(HOSTILE))])
    assert conv.result.outcome == "completed", conv.result.reason
    assert session.sent[-1]["properties"]["text"] == "You said " + HOSTILE
    printed: list[str] = []
    show = ConsolePrinter(printed.append)
    path = tmp_path / "t.jsonl"
    with TranscriptWriter(path) as write:
        for record in conv.trace.records:
            show(record)
            write(record)
    heard = [line for line in printed if "user:" in line or "echo" in line or "log" in line]
    assert len(heard) == 3 and all(_clean(line) and "\n" not in line for line in heard)
    # the transcript is valid UTF-8 JSON lines and reads back exactly
    path.read_bytes().decode("utf-8")
    _, records = read_transcript(path)
    sent = [r for r in records if r["kind"] == "sent"]
    assert sent[-1]["message"]["properties"]["text"] == "You said " + HOSTILE


# -------------------------------------------------------------------------- the commands


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "cviscript", *args], cwd=cwd, capture_output=True, timeout=120
    )


SURROGATE_SCENARIO = r"""cviscript: 1
name: surrogate
initial: a
states:
  a:
    enter:
      - echo: "fine"
      - log: "broken \ud800 escape"
    final: true
rehearsals:
  - name: r
    expect: {path: [a]}
"""


@pytest.mark.parametrize(
    "args",
    [
        ["run", "s.yaml"],
        ["run", "s.yaml", "--transcript", "out.jsonl"],
        ["validate", "s.yaml"],
    ],
)
def test_a_lone_surrogate_in_a_scenario_is_an_error_with_its_location(tmp_path, args):
    (tmp_path / "s.yaml").write_text(SURROGATE_SCENARIO, encoding="utf-8")
    done = _cli(*args, cwd=tmp_path)
    err = done.stderr.decode("utf-8")
    assert done.returncode == 2, err
    # (the loader now says what an escaped surrogate is: half of a UTF-16 surrogate pair)
    assert "s.yaml:8:" in err and "half of a UTF-16 surrogate pair" in err
    assert "Traceback" not in err


def test_rehearse_reports_a_scenario_with_a_lone_surrogate_as_invalid_and_writes_reports(
    tmp_path,
):
    (tmp_path / "s.yaml").write_text(SURROGATE_SCENARIO, encoding="utf-8")
    done = _cli("rehearse", "s.yaml", "--junit", "j.xml", "--html", "r.html", cwd=tmp_path)
    err = done.stderr.decode("utf-8")
    assert done.returncode != 0 and "Traceback" not in err
    assert "surrogate pair" in err
    xml.dom.minidom.parse(str(tmp_path / "j.xml"))
    assert "surrogate pair" in (tmp_path / "r.html").read_text(encoding="utf-8")


@pytest.fixture
def hostile_recording(tmp_path: Path) -> Path:
    """The shipped replay example, its recorded visitor saying `HOSTILE`."""
    src = REPO / "examples" / "replay"
    (tmp_path / "recordings").mkdir()
    (tmp_path / "greeter.yaml").write_text(
        (src / "greeter.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    shutil.copy(src / "greeter.persona.json", tmp_path)  # its persona file
    lines = []
    for line in (src / "recordings" / "visitor-asks-hours.jsonl").read_text().splitlines():
        record = json.loads(line)
        props = record.get("message", {}).get("properties", {})
        if record["kind"] == "received" and props.get("role") == "user" and "speech" in props:
            props["speech"] += " " + HOSTILE
        lines.append(json.dumps(record))  # ensure_ascii: the surrogate is a JSON escape
    (tmp_path / "recordings" / "visitor-asks-hours.jsonl").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_rehearse_with_hostile_recorded_speech_prints_nothing_raw_and_writes_reports(
    hostile_recording,
):
    done = _cli(
        "rehearse", "greeter.yaml", "--junit", "j.xml", "--html", "r.html", cwd=hostile_recording
    )
    out, err = done.stdout.decode("utf-8"), done.stderr.decode("utf-8")
    assert "Traceback" not in err
    assert done.returncode == 1  # the replayed case diverges: the visitor said more
    assert "replay-diverged" in out and _clean(out) and _clean(err)
    assert "␛]0;pwned" in out  # shown, for the author to see
    xml.dom.minidom.parse(str(hostile_recording / "j.xml"))
    html = (hostile_recording / "r.html").read_text(encoding="utf-8")
    assert "␛]0;pwned" in html and _clean(html)


def test_replay_of_hostile_recorded_speech_prints_nothing_raw_and_records_it(hostile_recording):
    done = _cli(
        "replay",
        "recordings/visitor-asks-hours.jsonl",
        "greeter.yaml",
        "--transcript",
        "again.jsonl",
        cwd=hostile_recording,
    )
    out, err = done.stdout.decode("utf-8"), done.stderr.decode("utf-8")
    assert done.returncode == 1 and "Traceback" not in err, err
    assert "FAIL interaction #2 differs" in out and _clean(out) and _clean(err)
    _, records = read_transcript(hostile_recording / "again.jsonl")
    speech = [r["message"]["properties"].get("speech", "") for r in records if "message" in r]
    assert any(s.endswith(" " + HOSTILE) for s in speech)


ESCAPING_SCENARIO = r"""cviscript: 1
name: escapes
initial: a
states:
  a:
    enter:
      - log: "title \e]0;pwned\a clear \e[2J"
      - echo: "line one\r\e[32m✔ completed\e[0m"
      - fail: "reason \e[2J\u202eevil"
"""


def test_run_shows_scenario_escapes_in_its_transcript_and_result(tmp_path):
    (tmp_path / "s.yaml").write_text(ESCAPING_SCENARIO, encoding="utf-8")
    done = _cli("run", "s.yaml", "--color", cwd=tmp_path)
    out = done.stdout.decode("utf-8")
    assert done.returncode == 1, done.stderr
    assert "title ␛]0;pwned␇ clear ␛[2J" in out and "line one ␛[32m✔ completed" in out
    assert "reason ␛[2J\\u202eevil" in out
    # cviscript's own colours are the only escapes: none is followed by a visitor's sequence
    assert "\x1b]" not in out and "\x1b[2J" not in out and "\r" not in out


def test_validation_messages_quoting_the_scenario_are_shown_not_obeyed(tmp_path):
    # in process, with colour on: click strips escape sequences only from output that is not a
    # terminal, and only some of them
    (tmp_path / "s.yaml").write_text(
        'cviscript: 1\nname: x\ninitial: a\nstates:\n  a: {final: true, "\\e]0;t\\a\\e[2Jx": 1}\n',
        encoding="utf-8",
    )
    for command in (["validate"], ["run"]):
        done = CliRunner().invoke(cli, [*command, str(tmp_path / "s.yaml")], color=True)
        assert done.exit_code == 2, done.output
        assert "unknown key '␛]0;t␇␛[2Jx'" in done.output and "\x1b" not in done.output


@pytest.mark.parametrize(
    "yaml_text, shown",
    [
        # a misspelt key, a duplicate key and a wrong value are the author's own words: an error
        # that hid them as '***' (any 12+ character run with a digit) gave nothing to fix
        ("  b:\n    final: true\n    enter_step2_text: x\n", "unknown key 'enter_step2_text'"),
        ("  b:\n    final: 'release-2026-12'\n", "got the string 'release-2026-12'"),
    ],
)
def test_validation_messages_show_the_authors_names_with_digits(tmp_path, yaml_text, shown):
    from cviscript.language.validate import check_file

    path = tmp_path / "s.yaml"
    path.write_text(
        "cviscript: 1\nname: s\ninitial: a\nstates:\n"
        "  a:\n    on:\n      - after: 1s\n        goto: b\n" + yaml_text
    )
    assert shown in "\n".join(str(d) for d in check_file(str(path)))


def test_excerpt_still_hides_keys_and_key_files():
    from cviscript.printable import excerpt

    for secret in (
        "tvs_0123456789abcdef0123456789abcdef",
        "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAA1234",
        "sk-live-4eC39HqLyjWDarjtT1zdp7dc",
    ):
        assert secret not in excerpt(f"x {secret} y", 200)
    assert excerpt("common/v2/bye2.yaml step_2_intro") == "common/v2/bye2.yaml step_2_intro"
