"""CI's guards on optional tools can fail: `.ci/run` installs every tool the suite uses and turns
the requirement on unconditionally, and every test that needs a tool goes through tests/tools.py,
which fails (not skips) a test whose tool is missing when the requirement is on."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import tools

REPO = Path(__file__).resolve().parent.parent
CI_RUN = (REPO / ".ci" / "run").read_text()


def test_a_missing_tool_fails_in_ci_and_skips_elsewhere(monkeypatch):
    for name in ("CI", tools.REQUIRE_ENV, "CVISCRIPT_REQUIRE_BROWSER"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(pytest.skip.Exception):
        tools.program("cviscript-no-such-program", install="nothing")
    with pytest.raises(pytest.skip.Exception):
        tools.module("cviscript_no_such_module", install="nothing")
    monkeypatch.setenv(tools.REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="required in CI"):
        tools.program("cviscript-no-such-program", install="nothing")
    with pytest.raises(pytest.fail.Exception, match="required in CI"):
        tools.module("cviscript_no_such_module", install="nothing")
    monkeypatch.delenv(tools.REQUIRE_ENV)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception):
        tools.missing("espeak-ng is not installed")


def test_ci_run_requires_the_tools_unconditionally_and_installs_each():
    exports = re.findall(r"^export (.*)$", CI_RUN, re.M)  # top level: not inside an `if`
    assert any("CVISCRIPT_REQUIRE_TOOLS=1" in e and "CI=true" in e for e in exports)
    for package in ("chromium", "graphviz", "tmux", "espeak-ng"):
        assert re.search(rf'need="\$need {package}"', CI_RUN), package
    assert "exit 1" in CI_RUN  # a tool that cannot be installed stops CI, with a message
    assert "will be skipped" not in CI_RUN


TOOLS = re.compile(r"chromium|tmux|espeak|graphviz|\bdot\b|daily|mkdocs", re.I)


def test_no_test_skips_for_a_tool_on_its_own():
    """A bare `pytest.skip`/`importorskip`/`skipif` for a tool would skip in CI too."""
    offenders = []
    for path in sorted((REPO / "tests").glob("test_*.py")):
        text = path.read_text()
        for m in re.finditer(r"(pytest\.skip\(|importorskip\(|skipif\()(.{0,160})", text, re.S):
            if TOOLS.search(m.group(2)) and "CVISCRIPT_SLOW" not in m.group(2):
                offenders.append(f"{path.name}: {m.group(0)[:60]!r}")
    assert offenders == []
