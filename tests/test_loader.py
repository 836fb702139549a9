import pytest

from cviscript.language import loader
from cviscript.language.loader import MAX_BYTES, compose, read_source
from cviscript.language.model import Location


def load(text):
    return compose(text, "s.yaml")


def only(diags):
    assert len(diags) == 1, diags
    return diags[0]


def test_locations_are_one_based_and_keys_keep_theirs():
    node, diags = load("name: x\nstates:\n  greet:\n    final: true\n")
    assert diags == []
    assert node.loc == Location("s.yaml", 1, 1)
    assert node.key_loc("states") == Location("s.yaml", 2, 1)
    greet = node.get("states").get("greet")
    assert greet.loc == Location("s.yaml", 4, 5)
    assert node.get("states").key_loc("greet") == Location("s.yaml", 3, 3)
    assert greet.get("final").loc == Location("s.yaml", 4, 12)


def test_plain_values_and_types():
    node, diags = load(
        "a: 3\nb: 2.5\nc: yes\nd: ~\ne: hello\nf: [1, x]\ng: 0x10\nh: 2024-01-01\ni: '3'\n"
    )
    assert diags == []
    assert node.plain() == {
        "a": 3,
        "b": 2.5,
        "c": "yes",  # YAML 1.2: a word, not a boolean
        "d": None,
        "e": "hello",
        "f": [1, "x"],
        "g": 16,
        "h": "2024-01-01",  # timestamps stay strings
        "i": "3",
    }


def test_on_key_stays_the_string_on():
    # YAML 1.1 would make the key `on` the boolean True; the scenario language needs the word.
    node, _ = load("on: [1]\nyes: 2\n")
    assert set(node.value) == {"on", "yes"}


def test_duplicate_key_is_an_error_with_both_locations():
    node, diags = load("name: a\nstates: {}\nname: b\n")
    d = only(diags)
    assert d.code == "duplicate-key"
    assert d.loc == Location("s.yaml", 3, 1)
    assert "first defined at line 1, column 1" in d.message
    assert node.get("name").value == "a"


def test_every_duplicate_key_is_reported():
    _, diags = load("a:\n  x: 1\n  x: 2\nb:\n  - y: 1\n    y: 2\n")
    assert [(d.code, d.loc.line) for d in diags] == [("duplicate-key", 3), ("duplicate-key", 6)]


def test_yaml_syntax_error_has_line_and_column():
    node, diags = load("name: x\nstates: [a, b\ninitial: a\n")
    d = only(diags)
    assert node is None
    assert d.code == "yaml-syntax"
    assert d.loc.file == "s.yaml"
    assert d.loc.line == 3
    assert str(d).startswith("s.yaml:3:")


def test_bad_indentation_reports_the_line():
    _, diags = load("states:\n  a:\n    final: true\n   b: 1\n")
    d = only(diags)
    assert d.code == "yaml-syntax"
    assert d.loc.line == 4


def test_tab_indentation_gets_a_clear_message():
    _, diags = load("states:\n\tgreet: {}\n")
    d = only(diags)
    assert d.code == "yaml-syntax"
    assert "tab" in d.message
    assert d.loc.line == 2


@pytest.mark.parametrize("text", ["", "   \n", "# just a comment\n", "~\n", "---\n"])
def test_empty_file(text):
    node, diags = load(text)
    assert node is None
    assert only(diags).code == "empty"
    assert diags[0].message == "the scenario file is empty"


def test_two_documents_are_refused():
    _, diags = load("a: 1\n---\nb: 2\n")
    d = only(diags)
    assert "more than one YAML document" in d.message
    assert d.loc.line == 2


def test_alias_bomb_is_refused():
    lines = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    prev = "a"
    for name in "bcdefghi":
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]")
        prev = name
    text = "\n".join(lines) + "\n"
    assert len(text) < 1000
    node, diags = load(text)
    assert node is None
    d = diags[-1]
    assert d.code == "too-large"
    assert "aliases" in d.message
    assert d.loc.file == "s.yaml"


def test_a_few_aliases_are_fine():
    node, diags = load("base: &b {x: 1}\none: *b\ntwo: *b\n")
    assert diags == []
    assert node.plain() == {"base": {"x": 1}, "one": {"x": 1}, "two": {"x": 1}}


def test_too_deep_nesting():
    node, diags = load("a: " + "[" * 150 + "]" * 150 + "\n")
    d = only(diags)
    assert node is None
    assert d.code == "too-deep"
    assert d.loc.line == 1
    assert "deeper than 100" in d.message


def test_very_deep_nesting_does_not_crash():
    node, diags = load("[" * 5000 + "]" * 5000)
    assert node is None
    assert only(diags).code == "too-deep"


def test_recursive_alias_is_refused():
    node, diags = load("a: &a [*a]\n")
    assert node is None
    assert diags[-1].code in ("too-deep", "too-large")


def test_nesting_up_to_the_limit_is_fine():
    node, diags = load("[" * 50 + "]" * 50)
    assert diags == []
    assert node is not None


def test_too_large_text():
    node, diags = load("a: " + "x" * (MAX_BYTES + 10))
    assert node is None
    assert only(diags).code == "too-large"
    assert "2 MiB" in diags[0].message


def test_too_large_file(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_bytes(b"# " + b"x" * MAX_BYTES)
    text, diags = read_source(str(path))
    assert text is None
    assert only(diags).code == "too-large"


def test_missing_file(tmp_path):
    text, diags = read_source(str(tmp_path / "nope.yaml"))
    assert text is None
    assert only(diags).code == "io-error"


def test_not_utf8(tmp_path):
    path = tmp_path / "latin.yaml"
    path.write_bytes(b"name: ok\ndescription: caf\xe9\n")
    text, diags = read_source(str(path))
    assert text is None
    d = only(diags)
    assert d.code == "encoding"
    assert d.loc.line == 2


def test_bom_is_ignored(tmp_path):
    path = tmp_path / "bom.yaml"
    path.write_bytes("\ufeffname: ok\n".encode())
    text, diags = read_source(str(path))
    node, diags = compose(text, "bom.yaml")
    assert diags == [] and node.plain() == {"name": "ok"}


def test_merge_keys_work_and_explicit_keys_win():
    node, diags = load("defaults: &d {a: 1, b: 2}\nx:\n  <<: *d\n  b: 3\n")
    assert diags == []
    assert node.get("x").plain() == {"a": 1, "b": 3}


def test_application_tags_are_refused():
    _, diags = load("a: !!python/object:os.system x\nb: !custom 3\n")
    assert [d.code for d in diags] == ["yaml-tag", "yaml-tag"]
    assert [d.loc.line for d in diags] == [1, 2]


def test_complex_keys_are_refused():
    _, diags = load("? [a, b]\n: 1\n")
    assert only(diags).code == "bad-key"


def test_block_scalar_location_points_at_its_text():
    node, _ = load("a:\n  echo: |\n    hello\n    world\n")
    echo = node.get("a").get("echo")
    assert echo.value == "hello\nworld\n"
    assert echo.loc == Location("s.yaml", 3, 5)


def test_scalar_text_keeps_what_was_written():
    node, _ = load("a: TRUE\nb: 1.50\n")
    assert node.get("a").value is True and node.get("a").text == "TRUE"
    assert node.get("b").value == 1.5 and node.get("b").text == "1.50"
    assert node.get("a").describe() == "the boolean TRUE"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        # YAML 1.1 (PyYAML's default) reads each of these differently; YAML 1.2 core, like
        # editors and the JSON Schema, reads them as below.
        ("yes", "yes"),
        ("No", "No"),
        ("NO", "NO"),
        ("on", "on"),
        ("off", "off"),
        ("y", "y"),
        ("19:30", "19:30"),  # no base-60
        ("1:30", "1:30"),
        ("1_000", "1_000"),
        ("012", 12),  # not octal
        ("0o12", 10),
        ("0x1F", 31),
        ("true", True),
        ("True", True),
        ("FALSE", False),
        ("tRuE", "tRuE"),
        ("1e3", 1000.0),
        ("-.5", -0.5),
        ("Null", None),
        ("2024-01-01", "2024-01-01"),
    ],
)
def test_yaml_1_2_core_schema(text, value):
    for source in (f"a: {text}\n", f'a: {text}\nb: "tab\\there\t"\n'):  # fast and reference parsers
        node, diags = load(source)
        assert diags == []
        got = node.get("a").value
        assert got == value and type(got) is type(value)


def test_explicit_tag_that_does_not_fit_is_an_error():
    _node, diags = load("a: !!int twelve\n")
    assert only(diags).code == "wrong-type"


def test_control_characters_are_a_diagnostic():
    node, diags = load("a: 1\nb: \x07\n")
    assert node is None
    d = only(diags)
    assert d.code == "yaml-syntax"
    assert d.loc == Location("s.yaml", 2, 4)
    assert "#x0007" in d.message


def test_limits_are_module_constants():
    assert loader.MAX_DEPTH == 100
    assert loader.MAX_NODES == 100_000


@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        # a dedented goto: PyYAML says "expected <block end>, but found ..."
        (
            "states:\n  a:\n    on:\n      - utterance: hi\n       goto: b\n",
            (5, 8),
            ["bad indentation", "'goto:' at column 8", "column 1, 3, 5, 9"],
        ),
        # indented too far: PyYAML says "mapping values are not allowed here"
        (
            "states:\n  a:\n    on:\n      - utterance: hi\n          goto: b\n",
            (5, 15),
            ["unexpected ':' after 'goto'", "indented deeper", "quotes"],
        ),
        ("a: b: c\n", (1, 5), ["after 'b'", "quotes"]),
        ('a: "abc\nb: 1\n', (1, 4), ["quoted text", "never closed"]),
        ("a:\n  b: 1\n  - c\n", (3, 3), ["list item", "not both"]),
        # a regex unquoted in {...} or [...]: libyaml reads the '?' as text, PyYAML refuses it;
        # the fast path accepted this file until it handed such texts to the reference loader
        (
            "a:\n  b: {(?P<interrupted: false}\n",
            (2, 8),
            ["question mark", "unquoted text in {...}", "quotes"],
        ),
        ("a: [x, b?c]\n", (1, 9), ["question mark", "unquoted text in [...]", "quotes"]),
        ("a:\n  - {x: [1, 2?]}\n", (2, 14), ["question mark", "[...]"]),
    ],
)
def test_yaml_syntax_errors_say_what_is_probably_wrong_and_where(text, where, words):
    _node, diags = load(text)
    d = only(diags)
    assert d.code == "yaml-syntax" and (d.loc.line, d.loc.column) == where
    assert "<block end>" not in d.message and "'?'" not in d.message
    for word in words:
        assert word in d.message


def test_an_escape_past_the_last_unicode_character_is_a_diagnostic_not_a_traceback():
    # PyYAML's scanner calls chr() on it and raised ValueError, out of compose and the CLI
    _node, diags = load('a: 1\nb: "ok \\U00110000"\n')
    d = only(diags)
    assert d.code == "yaml-syntax" and (d.loc.line, d.loc.column) == (2, 8)
    assert "past the last Unicode character" in d.message


@pytest.mark.parametrize(
    "text", ['a: "\\ud800"\n', 'a: ["x \\uDC00"]\n', '{"\\ud83d\\ude00": 1}\n']
)
def test_an_escaped_surrogate_is_an_error_and_never_reaches_a_value(text):
    # half a surrogate pair cannot be encoded (JSON output, a UTF-8 terminal): validate
    # --format json raised UnicodeEncodeError on it
    node, diags = load(text)
    assert [d.code for d in diags] == ["yaml-syntax"] and "surrogate" in diags[0].message
    plain = repr(node.plain())
    assert "\\ud" not in plain.lower() and "\ufffd" in str(node.plain())
    str(node.plain()).encode("utf-8")


def test_escapes_of_real_characters_load_through_the_fast_path():
    text = 'a: "\\u00e9 \\U0001F600 \\uD7FF \\uE000 \\x41"\n'
    assert loader._build_fast(text, "s.yaml") is not loader._FALLBACK
    node, diags = load(text)
    assert diags == [] and node.plain() == {"a": "\u00e9 \U0001f600 \ud7ff \ue000 A"}
