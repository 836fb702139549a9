"""The scenario cache: a hit loads nothing, any change to what a scenario depends on misses,
and an entry that was tampered with or is malformed is refused (a fresh load replaces it)."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

import cviscript
from cviscript.language import cache
from cviscript.language import validate as V
from cviscript.rehearsal.suite import listing

MAIN = """\
cviscript: 1
name: main
include: [common.yaml]
initial: hello
states:
  hello:
    enter: [{echo: "Hi"}, {call: "hooks:greet"}]
    on:
      - after: 1s
        goto: bye
rehearsals:
  - name: says hi
    expect: {said: "Hi"}
"""
COMMON = """\
states:
  bye:
    enter: [{echo: "Bye"}]
    final: true
"""
OTHER = """\
cviscript: 1
name: other
initial: only
states:
  only:
    enter: [{echo: "Alone"}]
    final: true
rehearsals:
  - name: alone
"""
HOOKS = "def greet(vars, event):\n    return None\n"


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv(cache.ENV_DIR, str(folder))
    monkeypatch.delenv(cache.ENV_OFF, raising=False)
    return folder


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "project"
    root.mkdir()
    for name, text in {
        "main.yaml": MAIN,
        "common.yaml": COMMON,
        "other.yaml": OTHER,
        "hooks.py": HOOKS,
    }.items():
        (root / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return root


@pytest.fixture
def loads(monkeypatch):
    """How many times a file was really loaded (composed and validated)."""
    seen: list[str] = []
    real = V._load_unguarded

    def counting(path, source, **kw):
        seen.append(Path(path).name)
        return real(path, source, **kw)

    monkeypatch.setattr(V, "_load_unguarded", counting)
    return seen


def _entries(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.json"))


def test_a_second_check_is_answered_by_the_cache_without_loading(cache_dir, project, loads):
    first = V.check_file(project / "main.yaml")
    assert loads == ["main.yaml"] and len(_entries(cache_dir)) == 1
    assert V.check_file(project / "main.yaml") == first
    assert loads == ["main.yaml"]  # nothing loaded the second time
    name, cases = listing(str(project / "main.yaml"))
    assert (name, [c.name for c in cases]) == ("main", ["says hi"])
    assert loads == ["main.yaml"]


def test_an_edited_fragment_invalidates_exactly_the_scenarios_that_include_it(
    cache_dir, project, loads
):
    V.check_file(project / "main.yaml")
    V.check_file(project / "other.yaml")
    (project / "common.yaml").write_text(COMMON.replace("final: true", "final: maybe"))
    assert cache.lookup(project / "other.yaml") is not None  # it does not include common.yaml
    assert cache.lookup(project / "main.yaml") is None
    problems = V.check_file(project / "main.yaml")
    assert any(d.loc.file.endswith("common.yaml") for d in problems if d.severity == "error")
    assert loads == ["main.yaml", "other.yaml", "main.yaml"]


def test_a_hook_module_that_changes_or_appears_invalidates_the_scenario(cache_dir, project):
    assert not [d for d in V.check_file(project / "main.yaml") if d.code == "hook-not-found"]
    (project / "hooks.py").write_text("def other(vars, event):\n    return None\n")
    assert cache.lookup(project / "main.yaml") is None
    assert [d.code for d in V.check_file(project / "main.yaml")].count("hook-not-found") == 1
    # a hook that was nowhere, then written where the scenario looks first
    (project / "hooks.py").unlink()
    assert [d.code for d in V.check_file(project / "main.yaml")].count("hook-not-found") == 1
    (project / "hooks.py").write_text(HOOKS)
    assert cache.lookup(project / "main.yaml") is None
    assert not [d for d in V.check_file(project / "main.yaml") if d.code == "hook-not-found"]


def test_an_upgrade_of_cviscript_misses(cache_dir, project, monkeypatch):
    V.check_file(project / "other.yaml")
    assert cache.lookup(project / "other.yaml") is not None
    monkeypatch.setattr(cviscript, "__version__", "99.0")
    monkeypatch.setattr(cache, "_FINGERPRINT", None)
    assert cache.lookup(project / "other.yaml") is None


def test_an_edit_of_a_trigger_kind_or_the_event_tables_misses(cache_dir, project, monkeypatch):
    """The trigger kinds (language/triggers/) and the protocol's event tables decide what a load
    concludes too (which `where:` fields exist, what a template may read)."""
    from cviscript.language import triggers
    from cviscript.protocol import events

    V.check_file(project / "other.yaml")
    before = cache._code_fingerprint()
    for module in (triggers.base, events):
        path = Path(module.__file__)
        stat = path.stat()
        try:
            os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
            assert cache._code_fingerprint() != before, module.__name__
        finally:
            os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def _tamper(folder: Path, change) -> None:
    (entry,) = _entries(folder)
    doc = json.loads(entry.read_text())
    change(doc)
    entry.write_text(json.dumps(doc))


def _redigest(doc):
    doc["digest"] = cache._digest(doc)


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["diagnostics"].append(  # a fake warning, digest not updated
            {"message": "x", "file": None, "line": None, "column": None}
            | {"severity": "warning", "code": "x"}
        ),
        lambda d: (d.__setitem__("nodes", {"call": "os:system"}), _redigest(d)),  # an extra field
        lambda d: (d["scenario"]["cases"][0].__setitem__("seed", "7"), _redigest(d)),  # wrong type
        lambda d: (d["deps"].__setitem__("/etc/passwd", "nothex"), _redigest(d)),
        lambda d: (d.__setitem__("format", 0), _redigest(d)),
    ],
    ids=["digest", "extra-field", "wrong-type", "bad-dependency", "old-format"],
)
def test_a_tampered_or_malformed_entry_is_refused_and_rewritten(cache_dir, project, change, loads):
    V.check_file(project / "other.yaml")
    _tamper(cache_dir, change)
    assert cache.lookup(project / "other.yaml") is None
    assert V.check_file(project / "other.yaml") == []
    assert cache.lookup(project / "other.yaml") is not None  # rewritten by the fresh load
    assert loads == ["other.yaml", "other.yaml"]


def test_an_entry_that_is_not_json_is_refused(cache_dir, project):
    V.check_file(project / "other.yaml")
    (entry,) = _entries(cache_dir)
    entry.write_bytes(b"\x80\x04\x95 pickle? no")
    assert cache.lookup(project / "other.yaml") is None
    assert V.load_scenario(project / "other.yaml").name == "other"


def test_listed_cases_that_differ_from_the_scenario_built_are_not_trusted(cache_dir, project):
    """Even with a consistent digest, a hit is checked against the model built from the YAML."""
    V.check_file(project / "other.yaml")
    _tamper(cache_dir, lambda d: (d["scenario"]["cases"][0].update(name="forged"), _redigest(d)))
    assert [c.name for c in cache.lookup(project / "other.yaml").cases] == ["forged"]
    sc = V.load_scenario(project / "other.yaml")
    assert [r.name for r in sc.rehearsals] == ["alone"]
    assert [c.name for c in cache.lookup(project / "other.yaml").cases] == ["alone"]


def test_an_invalid_file_is_cached_with_its_errors(cache_dir, project, loads):
    (project / "other.yaml").write_text(OTHER.replace("initial: only", "initial: nowhere"))
    first = V.check_file(project / "other.yaml")
    assert any(d.severity == "error" for d in first)
    assert V.check_file(project / "other.yaml") == first and loads == ["other.yaml"]
    with pytest.raises(cviscript.ScenarioError):
        V.load_scenario(project / "other.yaml")


def test_off_by_environment_or_flag_writes_nothing(cache_dir, project, monkeypatch):
    monkeypatch.setenv(cache.ENV_OFF, "1")
    V.check_file(project / "other.yaml")
    assert not cache_dir.exists() and cache.cache_dir() is None
    monkeypatch.delenv(cache.ENV_OFF)
    V.check_file(project / "other.yaml", cache=False)
    assert not cache_dir.exists()


def test_the_validate_command_uses_it_and_no_cache_skips_it(cache_dir, project):
    from click.testing import CliRunner

    from cviscript.cli.main import cli

    runner = CliRunner()
    env = {cache.ENV_OFF: None}  # what --no-cache sets is undone after each command
    out = runner.invoke(cli, ["validate", "--no-cache", str(project / "other.yaml")], env=env)
    assert out.exit_code == 0 and not cache_dir.exists()
    out = runner.invoke(cli, ["validate", str(project / "other.yaml")], env=env)
    assert out.exit_code == 0, out.output
    assert len(_entries(cache_dir)) == 1


def test_the_folder_follows_the_platform_conventions(monkeypatch, tmp_path):
    monkeypatch.delenv(cache.ENV_DIR, raising=False)
    monkeypatch.delenv(cache.ENV_OFF, raising=False)
    monkeypatch.setattr(cache.sys, "platform", "linux")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_dir() == str(tmp_path / "xdg" / "cviscript")
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    assert cache.cache_dir() == str(Path("~/.cache/cviscript").expanduser())
    monkeypatch.setattr(cache.sys, "platform", "darwin")
    assert cache.cache_dir() == str(Path("~/Library/Caches/cviscript").expanduser())
    monkeypatch.setenv(cache.ENV_DIR, str(tmp_path / "mine"))
    assert cache.cache_dir() == str(tmp_path / "mine")


def test_a_long_lived_process_reloads_when_only_a_fragment_changed(cache_dir, project):
    """`--watch` runs in one process: its in-memory scenarios follow the cache's dependencies."""
    from cviscript.rehearsal.suite import load

    assert list(load(str(project / "main.yaml")).states) == ["hello", "bye"]
    (project / "common.yaml").write_text(COMMON + "  later:\n    final: true\n")
    assert list(load(str(project / "main.yaml")).states) == ["hello", "bye", "later"]


def test_in_one_process_an_unchanged_entry_is_not_hashed_again(cache_dir, project, monkeypatch):
    old = 1_600_000_000
    for p in project.iterdir():
        os.utime(p, (old, old))
    V.check_file(project / "main.yaml")
    checks = []
    real = cache._lookup
    monkeypatch.setattr(cache, "_lookup", lambda *a: checks.append(a) or real(*a))
    assert cache.lookup(project / "main.yaml") is not None
    assert len(checks) == 1
    assert cache.lookup(project / "main.yaml") is not None
    assert len(checks) == 1  # size, time and inode of the file and its dependencies vouched
    (project / "common.yaml").write_text(COMMON + "\n")  # changed (and recent): hashed again
    assert cache.lookup(project / "main.yaml") is None and len(checks) == 2


def test_entries_not_written_for_a_month_are_pruned(cache_dir, project):
    V.check_file(project / "main.yaml")
    V.check_file(project / "other.yaml")
    old, new = _entries(cache_dir)
    long_ago = 1_600_000_000
    os.utime(old, (long_ago, long_ago))
    assert cache.prune(str(cache_dir)) == 1
    assert _entries(cache_dir) == [new]
