"""The documentation cannot rot: every scenario in docs/ validates and passes its rehearsals, the
generated reference pages match the code, and no project file points outside the project.

A ```yaml block with `cviscript: 1` is a complete scenario. A multi-file example (`include:`, an
audio file's neighbours) gives its other files as ```yaml blocks on the same page whose first line
is `# file: PATH`; they are written next to the scenario before it is checked.

The site itself is built with `mkdocs build --strict` by .ci/run (a broken link or a page missing
from the navigation fails there); `test_site_builds_strictly` does the same here when mkdocs is
installed (`pip install -e '.[docs]'`).
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tools

from cviscript.language.lint import RULES
from cviscript.language.validate import check_file
from cviscript.rehearsal.results import CaseResult
from cviscript.rehearsal.suite import collect, run_case
from cviscript.rehearsal.text import failure_report

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
FENCE = re.compile(r"^```yaml\n(.*?)^```$", re.M | re.S)


def _generator():
    spec = importlib.util.spec_from_file_location("docs_generate", DOCS / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FILE_LINE = re.compile(r"\A# file: (\S+)\n")


def _scenario_blocks() -> list[tuple[str, int, str]]:
    """(page, line, source) of every ```yaml block in docs/ and README.md that is a scenario."""
    out = []
    for page in [*sorted(DOCS.rglob("*.md")), REPO / "README.md"]:
        text = page.read_text(encoding="utf-8")
        for m in FENCE.finditer(text):
            if re.search(r"^cviscript:\s*['\"]?1\b", m.group(1), re.M):
                line = text.count("\n", 0, m.start(1)) + 1
                out.append((str(page.relative_to(REPO)), line, m.group(1)))
    return out


def _page_files(page: str) -> dict[str, str]:
    """The `# file: PATH` blocks of a page: the other files of its multi-file examples."""
    text = (REPO / page).read_text(encoding="utf-8")
    files = {}
    for m in FENCE.finditer(text):
        named = FILE_LINE.match(m.group(1))
        if named:
            files[named.group(1)] = m.group(1)
    return files


BLOCKS = _scenario_blocks()


def test_the_docs_have_scenarios():
    pages = {page for page, _, _ in BLOCKS}
    assert {"docs/cookbook.md", "docs/getting-started.md", "docs/language.md"} <= pages
    assert len(BLOCKS) >= 9


def test_finds_a_broken_scenario(tmp_path):
    """The extraction and checks below really fail on a bad example."""
    page = tmp_path / "bad.md"
    page.write_text("```yaml\ncviscript: 1\nname: x\ninitial: a\nstates: {a: {fnal: true}}\n```\n")
    source = FENCE.search(page.read_text()).group(1)
    problems = [d for d in check_file("bad.yaml", source=source) if d.severity == "error"]
    assert any("fnal" in d.message for d in problems)


@pytest.mark.parametrize(("page", "line", "source"), BLOCKS, ids=[f"{p}:{n}" for p, n, _ in BLOCKS])
def test_doc_scenario_is_valid_and_rehearses(page, line, source, tmp_path):
    for name, text in _page_files(page).items():
        path = (tmp_path / name).resolve()
        assert path.is_relative_to(tmp_path), f"{page}: # file: {name} leaves the example's folder"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    named = FILE_LINE.match(source)
    file = tmp_path / (named.group(1) if named else "example.yaml")
    file.write_text(source, encoding="utf-8")
    problems = check_file(file)
    assert not problems, (
        f"{page}:{line}: the example has problems (a ```yaml block with `cviscript: 1` must be a "
        "complete scenario; give the files it includes as blocks starting `# file: PATH`):\n"
        + "\n".join(str(d) for d in problems)
    )
    collection = collect([file])
    assert not collection.invalid
    for ref in collection.cases:
        run = run_case(ref.file, ref.case)
        if not run.passed:
            case = CaseResult(ref.file, ref.scenario, ref.case, ref.line, ref.replay, [run])
            pytest.fail(
                f"{page}:{line}: rehearsal {ref.case!r} fails:\n" + "\n".join(failure_report(case)),
                pytrace=False,
            )


def test_multi_file_examples_are_written_next_to_the_scenario(tmp_path, monkeypatch):
    page = tmp_path / "page.md"
    page.write_text(
        "```yaml\n# file: common/bye.yaml\nstates:\n  bye: {final: true}\n```\n\n"
        "```yaml\ncviscript: 1\nname: x\ninclude: [common/bye.yaml]\ninitial: bye\n"
        "states: {}\n```\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    assert _page_files("page.md") == {
        "common/bye.yaml": "# file: common/bye.yaml\nstates:\n  bye: {final: true}\n"
    }


def test_generated_reference_pages_are_up_to_date():
    stale = _generator().stale()
    assert not stale, f"run `python docs/generate.py`: out of date: {stale}"


def test_generated_pages_cover_every_key_event_and_command():
    gen = _generator()
    keys, events, cli = gen.keys_page(), gen.events_page(), gen.cli_page()
    from cviscript.cli.main import COMMANDS
    from cviscript.language import spec
    from cviscript.protocol import EVENT_NAMES, event_fields

    for name in spec.ACTION_SPECS:
        assert f"| `{name}` |" in keys
    for name in spec.REPLICA.fields:
        assert f"| `{name}` |" in keys
    assert "| `times` | integer ≥ 0 |  | `1` (fires once) |" in keys
    for name in EVENT_NAMES:
        row = next(line for line in events.splitlines() if line.startswith(f"| `{name}` |"))
        for key in event_fields(name):
            assert f"`{key}`" in row
    for name in COMMANDS:
        assert f"## cviscript {name}\n" in cli


def test_every_lint_rule_is_documented():
    guide = (DOCS / "language.md").read_text(encoding="utf-8")
    for rule in RULES:
        assert f"| `{rule.code}` |" in guide, rule.code


# Paths of the material this project was built from; none of it ships with the project.
OUTSIDE = re.compile(r"\.\./shared|shared/(?:protocol|scenario-language|daily-python|architecture)")
OUTSIDE_NAMES = re.compile(r"scenario-language\.md|daily-python\.md|architecture\.md|/work/")


def _project_files() -> list[Path]:
    files = [REPO / "README.md", REPO / "mkdocs.yml"]
    for folder in ("docs", "cviscript", "bench", "examples", "scenarios"):
        for path in sorted((REPO / folder).rglob("*")):
            if path.suffix in {".md", ".py", ".yaml", ".yml", ".txt"} and path.is_file():
                files.append(path)
    return files


def test_no_file_cites_a_path_outside_the_project():
    offenders = []
    for path in _project_files():
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if OUTSIDE.search(line) or OUTSIDE_NAMES.search(line):
                offenders.append(f"{path.relative_to(REPO)}:{n}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_outside_path_check_catches_citations():
    assert OUTSIDE.search("see ../shared/protocol.md")
    assert OUTSIDE.search("(shared/protocol.md)")
    assert OUTSIDE_NAMES.search("specified in scenario-language.md")
    assert not OUTSIDE.search("see docs/protocol.md")


def test_site_builds_strictly(tmp_path):
    tools.program("mkdocs", install="the `docs` extra: pip install -e '.[docs]'")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": str(Path(sys.executable).parent)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "reference" / "keys" / "index.html").is_file()


def test_every_public_name_is_documented():
    import cviscript

    page = (DOCS / "python-api.md").read_text(encoding="utf-8")
    for name in cviscript.__all__:
        if name != "__version__":
            assert f"`{name}" in page, f"docs/python-api.md does not describe cviscript.{name}"
