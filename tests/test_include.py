"""`include:` — shared fragments merged into a scenario, errors located in the right file."""

from __future__ import annotations

import textwrap

from cviscript.language.validate import check_file, load_scenario

MAIN = """\
cviscript: 1
name: main
include: [common.yaml]
vars: {product: Hub}
initial: hello
any:
  - utterance: "help"
    goto: hello
states:
  hello:
    enter: [{echo: "Hi, {{ vars.company }} here."}]
    on:
      - after: 1s
        goto: bye
"""
COMMON = """\
description: shared
vars:
  company: Acme
any:
  - utterance: "stop"
    goto: bye
states:
  bye:
    enter: [{echo: "Bye from {{ vars.company }}"}]
    final: true
"""


def _write(tmp_path, files: dict[str, str]):
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return tmp_path / "main.yaml"


def _problems(path) -> list[str]:
    return [f"{d.loc}: {d.code}: {d.message}" for d in check_file(path)]


def test_vars_any_and_states_of_a_fragment_are_merged_own_any_first(tmp_path):
    sc = load_scenario(_write(tmp_path, {"main.yaml": MAIN, "common.yaml": COMMON}))
    assert sc.vars == {"product": "Hub", "company": "Acme"}
    assert list(sc.states) == ["hello", "bye"]
    assert [t.trigger.match.pattern for t in sc.any] == ["help", "stop"]
    assert sc.states["bye"].loc.file.endswith("common.yaml")
    assert sc.states["bye"].loc.line == 8


def test_an_error_in_a_fragment_points_into_the_fragment(tmp_path):
    broken = COMMON.replace("    final: true", "    fnal: true")
    path = _write(tmp_path, {"main.yaml": MAIN, "common.yaml": broken})
    (problem,) = [p for p in _problems(path) if "unknown-key" in p]
    assert "common.yaml:10:5" in problem and "did you mean" in problem


def test_a_clash_names_both_places(tmp_path):
    clash = COMMON.replace("  company: Acme", "  product: Other")
    path = _write(tmp_path, {"main.yaml": MAIN, "common.yaml": clash})
    (problem,) = [p for p in _problems(path) if "include-clash" in p]
    assert "common.yaml:3:3" in problem and "main.yaml:4:8" in problem
    clash = COMMON.replace("  bye:", "  hello:")
    path = _write(tmp_path, {"main.yaml": MAIN, "common.yaml": clash})
    assert any("include-clash" in p and "state 'hello'" in p for p in _problems(path))


def test_missing_file_and_cycle_are_errors_at_the_include_entry(tmp_path):
    path = _write(tmp_path, {"main.yaml": MAIN.replace("common.yaml", "comon.yaml")})
    (problem,) = [p for p in _problems(path) if "include-missing" in p]
    assert "main.yaml:3:11" in problem
    cyclic = "include: [more/deeper.yaml]\n" + COMMON
    deeper = "include: [../common.yaml]\nvars: {x: 1}\n"
    path = _write(tmp_path, {"main.yaml": MAIN, "common.yaml": cyclic, "more/deeper.yaml": deeper})
    (problem,) = [p for p in _problems(path) if "include-cycle" in p]
    assert "deeper.yaml:1:11" in problem
    assert "main.yaml -> common.yaml -> deeper.yaml -> common.yaml" in problem


def test_a_fragment_reached_twice_is_merged_once(tmp_path):
    main = MAIN.replace("[common.yaml]", "[common.yaml, extra.yaml]")
    extra = "include: [common.yaml]\nvars: {extra: 1}\n"
    sc = load_scenario(
        _write(tmp_path, {"main.yaml": main, "common.yaml": COMMON, "extra.yaml": extra})
    )
    assert sc.vars == {"product": "Hub", "company": "Acme", "extra": 1}


def test_a_fragment_takes_only_vars_any_states(tmp_path):
    path = _write(tmp_path, {"main.yaml": MAIN, "common.yaml": COMMON + "initial: bye\n"})
    assert any("common.yaml:11:1" in p and "unknown-key" in p for p in _problems(path))


def test_a_file_without_include_is_unchanged(tmp_path):
    main = MAIN.replace("include: [common.yaml]\n", "").replace("{{ vars.company }}", "us")
    main += "  bye: {final: true}\n"
    sc = load_scenario(_write(tmp_path, {"main.yaml": main}))
    assert list(sc.states) == ["hello", "bye"] and len(sc.any) == 1
