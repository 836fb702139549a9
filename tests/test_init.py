"""`cviscript init`: every starter validates clean, rehearses green and passes the JSON Schema."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from jsonschema import Draft202012Validator

from cviscript.cli.init import TEMPLATES, starter_path
from cviscript.cli.main import cli
from cviscript.language.loader import compose
from cviscript.language.schema import SCHEMA_PATH, build_schema
from cviscript.language.validate import check_file, load_scenario
from cviscript.rehearsal import collect, run_case


def init(*args: str):
    return CliRunner().invoke(cli, ["init", *args], catch_exceptions=False)


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("template", TEMPLATES)
def test_starter_validates_clean_and_rehearses_green(here, template):
    res = init("my-demo", "--template", template)
    assert res.exit_code == 0, res.output
    path = here / "my-demo.yaml"
    assert check_file(path) == []  # no errors, no warnings
    sc = load_scenario(path)
    assert sc.name == "my-demo"
    assert sc.conversation.create["conversation_name"].source == "my-demo"
    cases = collect([str(path)]).cases
    assert len(cases) >= 2
    for case in cases:
        run = run_case(case.file, case.case)
        assert run.passed, (case.case, [f.message for f in run.failures])
    assert "__" not in path.read_text().replace("__init__", "")  # every placeholder replaced


@pytest.mark.parametrize("template", TEMPLATES)
def test_starter_passes_the_json_schema_and_points_editors_at_it(here, template):
    init("sub/dir/s", "-t", template)
    path = here / "sub" / "dir" / "s.yaml"
    text = path.read_text()
    node, _ = compose(text, str(path))
    assert list(Draft202012Validator(build_schema()).iter_errors(node.plain())) == []
    m = re.match(r"# yaml-language-server: \$schema=(\S+)\n", text)
    assert m and m.group(1) == "../../schemas/scenario.schema.json"
    assert (path.parent / m.group(1)).read_text() == SCHEMA_PATH.read_text()


def test_the_schema_reference_is_project_relative_not_this_machines_path(here):
    """A modeline naming the installed package's absolute path differs on every machine and is
    committed into every scenario: it names the project's own copy, relative to the file."""
    (here / "proj" / "sub").mkdir(parents=True)
    (here / "proj" / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    init("proj/sub/scenarios/demo")
    text = (here / "proj" / "sub" / "scenarios" / "demo.yaml").read_text()
    m = re.match(r"# yaml-language-server: \$schema=(\S+)\n", text)
    ref = m.group(1)
    assert ref == "../../schemas/scenario.schema.json"  # the project's top: pyproject.toml
    assert str(here) not in text and "file:" not in ref
    copy = here / "proj" / "schemas" / "scenario.schema.json"
    assert copy.read_text() == SCHEMA_PATH.read_text()
    init("proj/other")  # a second scenario refers to the same copy
    assert "$schema=schemas/scenario.schema.json" in (here / "proj" / "other.yaml").read_text()


def test_starters_ship_with_the_package():
    for template in TEMPLATES:
        assert starter_path(template).is_file()


def test_default_template_and_yaml_suffix(here):
    assert init("scenarios/demo.yaml").exit_code == 0
    assert "echo mode" in (here / "scenarios" / "demo.yaml").read_text()
    assert load_scenario(here / "scenarios" / "demo.yaml").name == "demo"


def test_refuses_to_overwrite_unless_forced(here):
    (here / "keep.yaml").write_text("mine\n")
    res = init("keep", "-t", "kiosk")
    assert res.exit_code == 2 and "already exists" in res.output and "--force" in res.output
    assert (here / "keep.yaml").read_text() == "mine\n"
    assert init("keep", "-t", "kiosk", "--force").exit_code == 0
    assert load_scenario(here / "keep.yaml").initial == "welcome"


def test_rejects_names_that_are_not_plain_words(here):
    res = init("two words")
    assert res.exit_code == 2 and "not a usable scenario name" in res.output
    assert not list(here.iterdir())


def test_unknown_template_is_a_usage_error(here):
    res = CliRunner().invoke(cli, ["init", "x", "--template", "kiosque"])
    assert res.exit_code == 2 and "kiosk" in res.output
