import pytest

from cviscript.errors import TemplateRenderError
from cviscript.language.model import Location, Text
from cviscript.language.templates import (
    CONTEXT_NAMES,
    ENV,
    MAX_OUTPUT,
    TemplateCompileError,
    compile_expr,
    compile_text,
    evaluate,
    parse_scalar,
    render,
    render_value,
)

LOC = Location("s.yaml", 12, 15)


def ctx(**vars_):
    return {
        "vars": {"product": "Acme Cloud", "asked": 2, **vars_},
        "event": {"type": "tool_call", "arguments": {"location": "Paris"}, "text": "hi"},
        "state": "ask",
        "visits": 1,
    }


def test_plain_text_is_not_compiled_and_renders_to_itself():
    t = compile_text("Hello there, no markup {here}", LOC)
    assert t.compiled is None and not t.is_template
    assert t.loc == LOC
    assert render(t, {}) == "Hello there, no markup {here}"


@pytest.mark.parametrize("source", ["{{ x }}", "{% if 1 %}y{% endif %}", "a {# note #} b"])
def test_markup_is_compiled(source):
    assert compile_text(source, LOC).compiled is not None


def test_render_sees_vars_event_state_visits():
    t = compile_text(
        "{{ vars.product }} in {{ event.arguments.location }} / {{ state }} #{{ visits }}", LOC
    )
    assert render(t, ctx()) == "Acme Cloud in Paris / ask #1"


def test_one_shared_environment_is_sandboxed_and_strict():
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    assert isinstance(ENV, SandboxedEnvironment)
    assert issubclass(ENV.undefined, StrictUndefined)
    assert ENV.autoescape is False
    assert compile_text("{{ a }}").compiled.environment is ENV
    assert set(ENV.globals) <= {"range", "dict", "namespace", "cycler", "joiner"}


def test_no_autoescape():
    assert render(compile_text("{{ vars.s }}"), ctx(s="<b>&</b>")) == "<b>&</b>"


def test_undefined_attribute_raises_with_path_location_and_state():
    t = compile_text("Hi {{ vars.prodcut }}!", LOC)
    with pytest.raises(TemplateRenderError) as e:
        render(t, ctx(), state="greet")
    err = e.value
    assert err.loc == LOC
    assert err.state == "greet"
    assert "undefined variable 'vars.prodcut'" in str(err)
    assert 'did you mean "vars.product"' in str(err)
    assert str(err).startswith("s.yaml:12:15: ")
    assert "(in state 'greet')" in str(err)


def test_undefined_nested_and_item_access():
    with pytest.raises(TemplateRenderError, match=r"undefined variable 'event.arguments.city'"):
        render(compile_text("{{ event.arguments.city }}"), ctx())
    with pytest.raises(TemplateRenderError, match=r"undefined variable 'vars.nope'"):
        render(compile_text("{{ vars['nope'] }}"), ctx())


def test_undefined_top_level_name():
    with pytest.raises(TemplateRenderError, match=r"undefined variable 'foo'"):
        render(compile_text("{{ foo }}"), ctx())


def test_undefined_never_renders_empty_even_in_filters_or_conditions():
    for source in ["{{ vars.x | upper }}", "{% if vars.x %}y{% endif %}", "{{ vars.x ~ 'a' }}"]:
        with pytest.raises(TemplateRenderError):
            render(compile_text(source), ctx())


def test_runtime_error_line_in_multiline_template():
    t = compile_text("line one\nline two {{ vars.x }}\n", Location("s.yaml", 5, 7))
    with pytest.raises(TemplateRenderError) as e:
        render(t, ctx())
    assert e.value.loc == Location("s.yaml", 6, 7)


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ joiner.__init__.__globals__.os }}",
        "{{ namespace.__init__.__globals__ }}",
        "{{ vars.__class__ }}",
        "{{ (1).__class__.__base__ }}",
    ],
)
def test_sandbox_blocks_dunder_access(source):
    with pytest.raises(TemplateRenderError, match="unsafe"):
        render(compile_text(source), ctx())


def test_templates_cannot_mutate_the_context():
    c = ctx()
    with pytest.raises(TemplateRenderError, match="unsafe"):
        render(compile_text("{{ vars.update({'asked': 99}) }}"), c)
    assert c["vars"]["asked"] == 2


def test_no_secrets_or_environment_reachable():
    for name in ("os", "environ", "config", "lipsum", "request", "settings"):
        with pytest.raises(TemplateRenderError):
            render(compile_text("{{ " + name + " }}"), ctx())


def test_output_size_is_bounded():
    t = compile_text("{% for i in range(60000) %}abc{% endfor %}")
    with pytest.raises(TemplateRenderError, match="template output too long"):
        render(t, ctx())
    with pytest.raises(TemplateRenderError, match="too long"):
        render(compile_text("{{ 'x' * 1000000 }}"), ctx())
    with pytest.raises(TemplateRenderError, match="too large"):
        render(compile_text("{{ 10 ** 10000000 }}"), ctx())
    assert len(render(compile_text("{{ 'x' * 100 }}"), ctx())) == 100
    assert render(compile_text("{{ 2 ** 10 }}"), ctx()) == "1024"
    assert MAX_OUTPUT == 100_000


def test_python_errors_become_template_render_errors():
    with pytest.raises(TemplateRenderError, match="ZeroDivisionError"):
        render(compile_text("{{ 1 / 0 }}", LOC), ctx(), "s")
    with pytest.raises(TemplateRenderError, match="TypeError"):
        render(compile_text("{{ vars.product + 1 }}", LOC), ctx(), "s")


def test_syntax_error_is_a_compile_error_with_location():
    with pytest.raises(TemplateCompileError) as e:
        compile_text("Hello {{ vars.product ", LOC)
    assert e.value.loc == LOC
    assert "template syntax error" in e.value.message
    assert isinstance(e.value, ValueError)


def test_syntax_error_on_a_later_line_moves_the_location():
    with pytest.raises(TemplateCompileError) as e:
        compile_text("one\ntwo\n{% if %}\n", Location("s.yaml", 10, 7))
    assert e.value.loc == Location("s.yaml", 12, 7)


def test_names_are_checked_when_asked():
    with pytest.raises(TemplateCompileError, match=r"unknown name 'var'.*did you mean \"vars\""):
        compile_text("{{ var.product }}", LOC, names=CONTEXT_NAMES)
    compile_text("{{ var.product }}", LOC)  # not checked without names
    compile_text(
        "{% set x = 1 %}{{ x }}{% for i in range(2) %}{{ i }}{% endfor %}", LOC, names=CONTEXT_NAMES
    )


def test_include_and_random_are_not_available():
    with pytest.raises(TemplateCompileError, match="include"):
        compile_text("{% include 'x.txt' %}", LOC)
    with pytest.raises(TemplateCompileError, match="random"):
        compile_text("{{ [1, 2] | random }}", LOC)


# ------------------------------------------------------------------------------------ expressions


def test_expression_evaluates():
    e = compile_expr("vars.asked < 3 and state == 'ask'", LOC)
    assert evaluate(e, ctx()) is True
    assert evaluate(compile_expr("vars.asked + 1"), ctx()) == 3


def test_expression_undefined_is_an_error_not_none():
    e = compile_expr("vars.askd", LOC)
    with pytest.raises(TemplateRenderError) as err:
        evaluate(e, ctx(), state="ask")
    assert "undefined variable 'vars.askd'" in str(err.value)
    assert err.value.loc == LOC and err.value.state == "ask"
    with pytest.raises(TemplateRenderError):
        evaluate(compile_expr("vars.askd < 3"), ctx())
    with pytest.raises(TemplateRenderError):
        evaluate(compile_expr("not vars.askd"), ctx())


def test_expression_sandboxed():
    with pytest.raises(TemplateRenderError, match="unsafe"):
        evaluate(compile_expr("cycler.__init__.__globals__"), ctx())


@pytest.mark.parametrize(
    ("source", "match"),
    [
        ("vars.asked <", "syntax"),
        ("vars.asked 3", "syntax"),
        ("", "empty"),
        ("{{ vars.asked }}", "without"),
    ],
)
def test_bad_expressions(source, match):
    with pytest.raises(TemplateCompileError, match=match):
        compile_expr(source, LOC)


def test_expression_names_checked():
    with pytest.raises(TemplateCompileError, match="unknown name 'visit' in expression"):
        compile_expr("visit > 2", LOC, names=CONTEXT_NAMES)


# ------------------------------------------------------------------------------ values and scalars


def test_render_value_recurses_and_passes_scalars_through():
    value = {
        "a": compile_text("{{ vars.product }}"),
        "b": [compile_text("x"), 3, None, True],
        "c": {"d": compile_text("{{ vars.asked * 2 }}")},
    }
    assert render_value(value, ctx()) == {
        "a": "Acme Cloud",
        "b": ["x", 3, None, True],
        "c": {"d": "4"},
    }


def test_render_value_parse_scalars_only_for_templates():
    value = {
        "n": compile_text("{{ vars.asked + 1 }}"),
        "s": Text("3"),
        "b": compile_text("{{ 1 > 0 }}"),
    }
    assert render_value(value, ctx(), parse_scalars=True) == {"n": 3, "s": "3", "b": True}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("3", 3),
        ("-4", -4),
        ("2.5", 2.5),
        (".5", 0.5),
        ("1e3", 1000.0),
        ("true", True),
        ("True", True),
        ("FALSE", False),
        ("null", None),
        ("None", None),
        (" 7 ", 7),
        ("007", "007"),
        ("1_000", "1_000"),
        ("nan", "nan"),
        ("hello", "hello"),
        ("", ""),
        ("[1, 2]", "[1, 2]"),
        ("yes", "yes"),
    ],
)
def test_parse_scalar(text, value):
    result = parse_scalar(text)
    assert result == value and type(result) is type(value)


def test_a_constant_that_is_undefined_fails_the_render_not_the_load():
    # jinja2's constant folding used to evaluate `'' | min` while compiling and raise out of it
    text = compile_text("{{ 1 if ('' | min) else 2 }}")
    with pytest.raises(TemplateRenderError, match="No aggregated item"):
        render(text, ctx())


def test_one_source_is_compiled_once_and_errors_keep_their_own_location():
    from cviscript.errors import Location
    from cviscript.language.templates import TemplateCompileError, compile_expr, compile_text

    a = compile_text("Hi {{ vars.x }}", Location("a.yaml", 3, 5), names=("vars",))
    b = compile_text("Hi {{ vars.x }}", Location("b.yaml", 9, 1), names=("vars",))
    assert a.compiled is b.compiled and (a.loc.file, b.loc.file) == ("a.yaml", "b.yaml")
    assert compile_expr("visits > 1").compiled is compile_expr("visits > 1").compiled
    for where in (Location("a.yaml", 1, 1), Location("b.yaml", 2, 2)):
        with pytest.raises(TemplateCompileError) as err:
            compile_text("{{ nope.x }}", where, names=("vars",))
        assert err.value.loc == where
