"""`include:` — shared fragments merged into a scenario, errors located in the right file."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

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


# ---------------------------------------------------------------- confinement (hardening round 3)

SECRET = "tvs_0123456789abcdef0123456789abcdef"


def _all_messages(path, **kw) -> str:
    return "\n".join(str(d) for d in check_file(path, **kw))


def test_an_include_outside_the_scenario_folder_is_refused_unread(tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / ".env").write_text(f"TAVUS_API_KEY={SECRET}\n")
    project = tmp_path / "project"
    for entry in (str(outside / ".env"), "../elsewhere/.env"):
        path = _write(project, {"main.yaml": MAIN.replace("common.yaml", entry)})
        text = _all_messages(path)
        assert "include-outside" in text or "outside the include root" in text
        assert SECRET not in text and "TAVUS_API_KEY" not in text
    # a symlink inside the folder that points out of it is outside too
    (project / "link.yaml").symlink_to(outside / ".env")
    path = _write(project, {"main.yaml": MAIN.replace("common.yaml", "link.yaml")})
    assert "outside the include root" in _all_messages(path)
    # an explicit root allows it — and then the file's text is still not echoed
    text = _all_messages(path, include_root=tmp_path)
    assert "outside the include root" not in text
    assert "holds a text of" in text and SECRET not in text and "TAVUS_API_KEY" not in text


def test_a_fragment_that_is_not_yaml_is_never_echoed(tmp_path):
    key = "-----BEGIN OPENSSH PRIVATE KEY-----\n" + "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAA1234\n" * 5
    for fragment in (key, f"API_KEY={SECRET}\n", f"vars: {{k: 1}}\nstates: 'x {SECRET}'\n"):
        path = _write(tmp_path, {"main.yaml": MAIN, "common.yaml": fragment})
        text = _all_messages(path)
        assert "common.yaml" in text
        assert SECRET not in text and "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAA1234" not in text


def test_devices_fifos_and_huge_files_are_refused_before_reading(tmp_path):
    import os
    import threading

    os.mkfifo(tmp_path / "fifo.yaml")
    with open(tmp_path / "huge.yaml", "wb") as f:
        f.truncate(3 << 30)  # sparse: 3 GB that would take seconds and gigabytes to read
    for name, expected in (("fifo.yaml", "not a regular file"), ("huge.yaml", "larger than")):
        path = _write(tmp_path, {"main.yaml": MAIN.replace("common.yaml", name)})
        out: list[str] = []
        worker = threading.Thread(
            target=lambda p=path, o=out: o.append(_all_messages(p)), daemon=True
        )
        worker.start()
        worker.join(10)
        assert not worker.is_alive(), f"reading {name} blocked"
        assert expected in out[0] and "main.yaml:3:11" in out[0]
    path = _write(tmp_path, {"main.yaml": MAIN.replace("common.yaml", "/dev/zero")})
    assert "outside the include root" in _all_messages(path)
    assert "not a regular file" in _all_messages(path, include_root="/")


def test_the_same_fragment_through_a_symlink_is_one_file(tmp_path):
    main = MAIN.replace("[common.yaml]", "[common.yaml, shared/alias.yaml]")
    path = _write(tmp_path, {"main.yaml": main, "common.yaml": COMMON})
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "alias.yaml").symlink_to(tmp_path / "common.yaml")
    assert not [d for d in check_file(path) if d.severity == "error"]
    assert load_scenario(path).vars == {"product": "Hub", "company": "Acme"}


def test_the_loader_limits_count_every_fragment_together(tmp_path):
    from cviscript.language import loader

    # four fragments of 40,000 nodes each: each under the limit alone, not together (and once
    # over it, the fragments after are not read: one error, not one per fragment)
    def fragment(i: int) -> str:
        return f"vars:\n  v{i}: [" + ", ".join(["1"] * 40_000) + "]\n"

    files = {f"f{i}.yaml": fragment(i) for i in range(4)}
    listed = "[common.yaml, f0.yaml, f1.yaml, f2.yaml, f3.yaml]"
    files["main.yaml"] = MAIN.replace("[common.yaml]", listed)
    files["common.yaml"] = COMMON
    path = _write(tmp_path, files)
    for i in range(3):
        assert not [d for d in check_file(tmp_path / f"f{i}.yaml") if d.code == "too-large"]
    (problem,) = [d for d in check_file(path) if d.code == "too-large"]
    assert str(loader.MAX_NODES) in problem.message and "together" in problem.message
    # bytes: two fragments of 1.2 MB each are each under the 2 MiB limit, not together
    pad = "# " + "x" * 1000 + "\n"
    big = {f"b{i}.yaml": "vars: {" + f"b{i}: 1" + "}\n" + pad * 1200 for i in range(2)}
    main = MAIN.replace("[common.yaml]", "[common.yaml, b0.yaml, b1.yaml]")
    path = _write(tmp_path, {"main.yaml": main, **big})
    (problem,) = [d for d in check_file(path) if d.code == "too-large"]
    assert "together" in problem.message and problem.loc.line == 3


def test_reports_and_the_include_root_option_carry_no_file_contents(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from cviscript.cli.main import cli

    # the option sets the variable for the process (and rehearse -j's workers): undone after
    monkeypatch.setenv("CVISCRIPT_INCLUDE_ROOT", "")
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "key.yaml").write_text(f"TAVUS_API_KEY={SECRET}\n")
    path = _write(
        tmp_path / "demo", {"main.yaml": MAIN.replace("common.yaml", "../secrets/key.yaml")}
    )
    out = {x: str(tmp_path / f"r.{x}") for x in ("xml", "json", "html")}
    args = ["rehearse", str(path), "--junit", out["xml"], "--json", out["json"]]
    args += ["--html", out["html"]]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and "outside the include root" in result.output
    result = CliRunner().invoke(cli, [*args[:1], "--include-root", str(tmp_path), *args[1:]])
    assert result.exit_code == 2 and "holds a text of" in result.output, result.output
    for report in [result.output, *(Path(p).read_text() for p in out.values())]:
        assert "key.yaml" in report and SECRET not in report and "TAVUS_API_KEY" not in report


# ------------------------------------------------------------------ issue 20.8: fragments as such

LOOSE = """\
vars:
  company: Acme
any:
  - utterance: "stop"
    goto: bye
states:
  bye:
    enter: [{echo: "Bye from {{ vars.company }} and {{ vars.nowhere }}"}]
    final: true
  aside:
    on:
      - after: 1s
        goto: hello
"""


def _cli(*args: str, cwd=None):
    from click.testing import CliRunner

    from cviscript.cli.main import cli

    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_validate_checks_a_fragment_as_a_fragment(tmp_path, monkeypatch):
    _write(tmp_path, {"main.yaml": MAIN, "common.yaml": COMMON})
    monkeypatch.chdir(tmp_path)
    result = _cli("validate", "common.yaml")
    assert result.exit_code == 0, result.output
    assert "missing-key" not in result.output and "common.yaml: ok" in result.output
    # its own mistakes, at its own lines; a goto to a state only the includer has is fine
    broken = COMMON.replace("    final: true", "    fnal: true").replace("goto: bye", "goto: hello")
    _write(tmp_path, {"common.yaml": broken})
    problems = _problems("common.yaml")
    assert any(p.startswith("common.yaml:10:5: unknown-key") for p in problems), problems
    assert not any("missing-key" in p or "unknown-state" in p for p in problems), problems


def test_a_fragment_is_checked_in_each_scenario_that_includes_it(tmp_path, monkeypatch):
    main = MAIN.replace("[common.yaml]", "[common/loose.yaml]")
    other = main.replace("name: main", "name: other")
    other = other.replace("  hello:", "  start:").replace("initial: hello", "initial: start")
    other = other.replace("    goto: hello\n", "    goto: start\n")
    _write(tmp_path, {"main.yaml": main, "other.yaml": other, "common/loose.yaml": LOOSE})
    monkeypatch.chdir(tmp_path)
    problems = _problems("common/loose.yaml")
    # `hello` exists in main.yaml but not in other.yaml: wrong for one includer only
    (unknown,) = [p for p in problems if "unknown-state" in p]
    assert unknown.startswith("common/loose.yaml:13:15:"), unknown
    assert unknown.endswith("(included by other.yaml)"), unknown
    (undefined,) = [p for p in problems if "undefined-var" in p]
    assert undefined.startswith("common/loose.yaml:8:") and "(included by " in undefined


def test_a_fragment_nobody_includes_is_said_so(tmp_path, monkeypatch):
    _write(tmp_path, {"alone/common.yaml": COMMON})
    monkeypatch.chdir(tmp_path)
    (d,) = check_file("alone/common.yaml")
    assert d.code == "fragment-not-included" and d.severity == "warning"


def test_warnings_from_a_fragment_name_the_scenario_that_included_it(tmp_path, monkeypatch):
    _write(tmp_path, {"main.yaml": MAIN.replace("goto: hello", "goto: bye"), "common.yaml": LOOSE})
    monkeypatch.chdir(tmp_path)
    problems = [p for p in _problems("main.yaml") if p.startswith("common.yaml")]
    assert problems and all(p.endswith("(included by main.yaml)") for p in problems), problems


def test_validate_takes_folders_and_finds_fragments_in_them(tmp_path, monkeypatch):
    _write(tmp_path, {"main.yaml": MAIN, "common.yaml": COMMON, "notes/other.yaml": "a: 1\n"})
    monkeypatch.chdir(tmp_path)
    result = _cli("validate", ".")
    assert result.exit_code == 0, result.output
    assert "main.yaml: ok" in result.output and "common.yaml: ok" in result.output
    assert "other.yaml" not in result.output  # neither a scenario nor a fragment
    empty = tmp_path / "empty"
    empty.mkdir()
    result = _cli("validate", "empty")
    assert result.exit_code == 2 and "no scenario files or fragments" in result.output


def test_a_fragment_cannot_be_run_and_says_why(tmp_path, monkeypatch):
    _write(tmp_path, {"main.yaml": MAIN, "common.yaml": COMMON})
    monkeypatch.chdir(tmp_path)
    result = _cli("run", "common.yaml")
    assert result.exit_code == 2 and "include: fragment" in result.output


def test_coverage_names_the_fragment_and_the_scenario_that_included_it(tmp_path, monkeypatch):
    from cviscript.rehearsal.coverage import format_coverage
    from cviscript.rehearsal.suite import run_suite

    main = MAIN.replace("goto: hello", "goto: bye") + (
        "rehearsals:\n  - name: r\n    expect: {final: bye}\n"
    )
    _write(
        tmp_path, {"main.yaml": main, "common.yaml": LOOSE.replace(" and {{ vars.nowhere }}", "")}
    )
    monkeypatch.chdir(tmp_path)
    suite = run_suite(["main.yaml"], coverage=True, case_timeout=None)
    text = "\n".join(format_coverage(suite.coverage))
    assert "aside (from common.yaml)" in text
    assert "any[1]: user says" in text and "(common.yaml:4, included by main.yaml)" in text


def test_include_errors_show_the_path_as_written(tmp_path):
    # the path is the author's own text, never a secret: a digit in it must not turn it into ***
    # (every path with a digit and 12+ characters read '***', e.g. ../outside/bye2.yaml)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "bye2.yaml").write_text(COMMON)
    project = tmp_path / "project"
    path = _write(project, {"main.yaml": MAIN.replace("common.yaml", "../elsewhere/bye2.yaml")})
    assert "include: '../elsewhere/bye2.yaml' is outside the include root" in _all_messages(path)
    path = _write(project, {"main.yaml": MAIN.replace("common.yaml", "common/v2/goodbye2.yaml")})
    assert "no such file 'common/v2/goodbye2.yaml'" in _all_messages(path)


def test_errors_after_a_refused_include_say_the_fragment_may_define_the_name(tmp_path):
    # a refused include: left four bare "unknown state 'goodbye'" errors that read as new mistakes
    main = MAIN.replace("common.yaml", "missing.yaml")
    text = _all_messages(_write(tmp_path, {"main.yaml": main, "common.yaml": COMMON}))
    unknown = [line for line in text.splitlines() if "unknown state" in line]
    assert unknown and all("fragment that could not be read may define it" in u for u in unknown)
    # without a failed include the note is not added
    plain = _all_messages(_write(tmp_path, {"main.yaml": MAIN.replace("goto: bye", "goto: byee")}))
    assert "unknown state" in plain and "could not be read" not in plain


def test_running_a_fragment_names_the_scenarios_that_include_it(tmp_path, monkeypatch):
    # 'include it from one' sent a user looking for a scenario that was right beside it
    from cviscript.errors import ScenarioError

    _write(tmp_path, {"main.yaml": MAIN, "common.yaml": COMMON})
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ScenarioError) as err:
        load_scenario("common.yaml")
    (problem,) = err.value.diagnostics
    assert problem.code == "fragment-not-scenario"
    assert "it is included by main.yaml: run or rehearse that" in problem.message
    (tmp_path / "lonely.yaml").write_text(COMMON)
    with pytest.raises(ScenarioError, match="include it from one"):
        load_scenario("lonely.yaml")
