"""The template sandbox under attack: Python internals, the environment, the API key, unbounded
output — refused with a clear error, through the templates module and through a running engine.

test_templates.py covers the basic refusals (dunder attributes, mutation, a few missing names,
output size); this file throws a corpus of known server-side template injection payloads at the
scenario's templates with a secret planted in the environment, checks that what the room sends is
data and never template code, and that YAML cannot construct Python objects.
"""

from __future__ import annotations

import os

import pytest
from helpers import ScriptedSession, scenario_from, user_says

from cviscript.clock import VirtualClock
from cviscript.engine.conversation import Conversation
from cviscript.errors import TemplateRenderError
from cviscript.language.templates import (
    CONTEXT_NAMES,
    MAX_OUTPUT,
    TemplateCompileError,
    compile_expr,
    compile_text,
    evaluate,
    render,
)
from cviscript.language.validate import check_file

SECRET = "tvs-sk-3f9c0ffee-do-not-leak"


@pytest.fixture(autouse=True)
def planted_secret(monkeypatch):
    monkeypatch.setenv("TAVUS_API_KEY", SECRET)
    monkeypatch.setenv("CVISCRIPT_API_KEY", SECRET)


def ctx():
    return {
        "vars": {"product": "Acme", "n": 2, "items": [1, 2], "nested": {"k": "v"}},
        "event": {"type": "utterance", "text": "hi", "properties": {"speech": "hi"}, "groups": {}},
        "state": "ask",
        "visits": 1,
    }


# Known SSTI payloads (Jinja2 / Python sandbox escapes, environment and file access).
ESCAPES = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ''.__class__.__base__.__subclasses__()[104].__init__.__globals__['sys'] }}",
    "{{ ().__class__.__bases__[0].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.environ }}",
    "{{ joiner.__init__.__globals__.os.popen('id').read() }}",
    "{{ namespace.__init__.__globals__.os.environ['TAVUS_API_KEY'] }}",
    "{{ cycler(1).__init__.__globals__ }}",
    "{{ range.__globals__ }}",
    "{{ dict.__base__.__subclasses__() }}",
    "{{ dict.mro() }}",
    "{{ vars.__class__.__init__.__globals__ }}",
    "{{ vars.get.__self__.__class__ }}",
    "{{ vars.items().__class__.__mro__ }}",
    "{{ vars|attr('__class__') }}",
    "{{ vars|attr('\\x5f\\x5fclass\\x5f\\x5f') }}",
    "{{ vars['__class__'] }}",
    "{{ event.text.__class__.__mro__ }}",
    "{{ event.properties.__class__ }}",
    "{{ '{0.__class__.__mro__}'.format(vars) }}",
    "{{ '{0.__init__.__globals__}'.format(cycler) }}",
    "{{ '%s'|format(vars.__class__) }}",
    "{{ (1).__class__.__base__.__subclasses__() }}",
    "{{ visits.__class__ }}",
    "{{ state.__class__.__mro__ }}",
    "{{ self.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ lipsum.__globals__ }}",
    "{{ config.items() }}",
    "{{ request.application.__globals__ }}",
    "{{ url_for.__globals__ }}",
    "{{ __builtins__ }}",
    "{{ __import__('os').environ }}",
    "{{ globals() }}",
    "{{ open('/etc/passwd').read() }}",
    "{{ environ }}",
    "{{ os.environ }}",
    "{{ getenv('TAVUS_API_KEY') }}",
    "{% set x = namespace() %}{{ x.__class__.__init__.__globals__ }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{{ vars.update({'product': 1}) }}",
    "{{ vars.items.__self__.update(product=1) }}",
    "{{ event.properties.setdefault('x', 1) }}",
    "{{ vars.items.append(3) }}",
    "{{ [].append.__self__ }}",
    "{% include '/etc/passwd' %}",
    "{% import 'os' as os %}",
    "{% extends '/etc/passwd' %}",
    "{% from 'x' import y %}",
]


@pytest.mark.parametrize("payload", ESCAPES)
def test_known_template_injection_payloads_are_refused(payload):
    with pytest.raises((TemplateCompileError, TemplateRenderError)) as err:
        render(compile_text(payload, names=CONTEXT_NAMES), ctx(), "ask")
    message = str(err.value)
    assert message and SECRET not in message
    if isinstance(err.value, TemplateRenderError):
        assert "(in state 'ask')" in message  # the error says where it happened


@pytest.mark.parametrize("payload", ESCAPES)
def test_payloads_refused_even_without_the_load_time_name_check(payload):
    """Defence in depth: if a template skipped the name check, the sandbox still refuses."""
    try:
        text = compile_text(payload)
    except TemplateCompileError:
        return  # include/import/extends are refused at compile time regardless
    with pytest.raises(TemplateRenderError) as err:
        render(text, ctx(), "ask")
    assert SECRET not in str(err.value)


@pytest.mark.parametrize(
    "source",
    [
        "vars.__class__",
        "cycler.__init__.__globals__",
        "vars.update({'n': 3})",
        "(vars|attr('__class__')) != 1",
        "'{0.__class__}'.format(vars)",
    ],
)
def test_guards_are_sandboxed_too(source):
    c = ctx()
    with pytest.raises((TemplateCompileError, TemplateRenderError)):
        evaluate(compile_expr(source, names=CONTEXT_NAMES), c, "ask")
    assert c["vars"]["n"] == 2


def test_a_refused_attribute_is_simply_not_defined_to_a_test():
    c = ctx()
    assert evaluate(compile_expr("event.text.__class__ is defined"), c, "ask") is False


def test_nothing_reachable_from_a_template_holds_the_secret():
    """Walk everything the context offers (attributes the sandbox allows, items, globals)."""
    seen: set[int] = set()
    found: list[str] = []

    def walk(value, path, depth):
        if id(value) in seen or depth > 6:
            return
        seen.add(id(value))
        if isinstance(value, str):
            if SECRET in value:
                found.append(path)
            return
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{path}[{k!r}]", depth + 1)
        elif isinstance(value, list | tuple):
            for i, v in enumerate(value):
                walk(v, f"{path}[{i}]", depth + 1)
        from cviscript.language.templates import ENV

        for name in dir(value):
            try:
                attr = getattr(value, name)
            except Exception:
                continue
            if ENV.is_safe_attribute(value, name, attr):
                walk(attr, f"{path}.{name}", depth + 1)

    from cviscript.language.templates import ENV

    for name, value in {**ENV.globals, **ctx()}.items():
        walk(value, name, 0)
    assert found == []


# ---------------------------------------------------------------------------- unbounded output


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ("{{ 'x' * 1000000000 }}", "too long"),
        ("{{ [1] * 1000000000 }}", "too long"),
        ("{{ 'ab' * (10 ** 9) }}", "too long"),
        ("{{ 9 ** (9 ** 9) }}", "too large"),
        ("{{ 10 ** 100000000 }}", "too large"),
        ("{{ range(10 ** 9) | list }}", "range too big"),
        ("{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}", ""),
        ("{{ range(99999) | join(',') }}", "too long"),
        ("{% for i in range(200000) %}.{% endfor %}", ""),
        ("{{ ('%0' ~ 200000 ~ 'd') | format(1) }}", "too long"),
        ("{{ '{:>1000000}'.format('x') }}", "too long"),
        ("{{ 'x' | center(1000000000) }}", "too long"),
        ("{{ 'x' | indent(1000000000, true) }}", "too long"),
        ("{{ 'x\ny' | indent('    ' * 20000, true) }}", "too long"),
        ("{{ 'x'.center(1000000000) }}", "too long"),
        ("{{ 'x'.ljust(1000000000) }}", "too long"),
        ("{{ 'x'.zfill(1000000000) }}", "too long"),
        ("{{ 'a\tb'.expandtabs(1000000000) }}", "too long"),
        ("{{ ('x' * 1000).replace('', 'y' * 1000) }}", "too long"),
        ("{{ ('x' * 1000) | replace('x', 'y' * 1000) }}", "too long"),
        ("{{ ('y' * 1000) | wordwrap(1, true, 'z' * 1000) }}", "too long"),
        ("{{ (['x'] * 50000) | join('y' * 100) }}", "too long"),
        ("{{ ('y' * 100).join(['x'] * 50000) }}", "too long"),
        ("{{ [1] | batch(1000000000, 'x') | list }}", "too long"),
        ("{{ [1] | slice(1000000000) | list }}", "too long"),
        ("{{ '%.1000000000f' % 1.0 }}", "too long"),
        ("{{ '%1000000000d' | format(1) }}", "too long"),
        ("{{ '%*d' % (1000000000, 1) }}", "'*' widths"),
        ("{{ '{0:{1}}'.format('x', 1000000000) }}", "computed format specs"),
        ("{{ '{:.1000000000f}'.format(1.0) }}", "too long"),
        ("{{ (range(99999) | list) + (range(99999) | list) }}", "too long"),
        ("{{ ('x' * 60000) ~ ('y' * 60000) }}", "too long"),
        ("{% set s = 'x' * 1000 %}" + "{% set s = s ~ s %}" * 40 + "{{ s | length }}", "too long"),
        ("{% set s = 'x' * 1000 %}" + "{% set s = s + s %}" * 40 + "{{ s | length }}", "too long"),
        (
            "{% set ns = namespace(s='x' * 1000) %}"
            "{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}",
            "too long",
        ),
        ("{{ (('x' * 99999), ('x' * 99999)) | string }}", "too long"),
    ],
)
def test_unbounded_output_is_refused(payload, fragment):
    with pytest.raises(TemplateRenderError) as err:
        render(compile_text(payload), ctx(), "ask")
    assert fragment.lower() in str(err.value).lower()


def test_output_just_under_the_limit_is_fine():
    out = render(compile_text("{{ 'x' * " + str(MAX_OUTPUT) + " }}"), ctx())
    assert len(out) == MAX_OUTPUT


# ------------------------------------------------------------------------- the room is only data

PARROT = """
cviscript: 1
name: parrot
initial: listen
states:
  listen:
    on:
      - utterance: {match: "(?P<said>.+)"}
        when: "event.text != ''"
        do:
          - log: "heard {{ event.groups.said }}"
          - set: {last: "{{ event.text }}"}
        goto: answer
  answer:
    enter:
      - echo: "You said: {{ event.text }} / {{ event.groups.said }} / {{ event.properties.speech }}"
    final: true
"""


@pytest.mark.parametrize(
    "speech",
    [
        "{{ 7 * 7 }}",
        "{{ cycler.__init__.__globals__.os.environ }}",
        "{% for i in range(10) %}x{% endfor %}",
        "{{ vars }} {{ config }} ${TAVUS_API_KEY} $(id) `id`",
    ],
)
def test_what_the_room_says_is_spoken_verbatim_never_evaluated(speech):
    clock = VirtualClock()
    session = ScriptedSession(clock)
    conv = Conversation(scenario_from(PARROT), session, clock)
    conv.start()
    session.push(1.0, user_says(speech))
    clock.run(stop=lambda: conv.done)
    assert conv.result.outcome == "completed", conv.result.reason
    assert session.sent[0]["properties"]["text"] == f"You said: {speech} / {speech} / {speech}"
    assert conv.engine.vars["last"] == speech  # `set` parses numbers, never templates
    assert SECRET not in repr(session.sent)


def test_event_properties_from_the_room_cannot_smuggle_attributes():
    sc = scenario_from(
        """
        cviscript: 1
        name: props
        initial: a
        states:
          a:
            on:
              - event: conversation.custom
                goto: b
          b:
            enter:
              - echo: "{{ event.properties.payload }}"
            final: true
        """
    )
    clock = VirtualClock()
    session = ScriptedSession(clock)
    conv = Conversation(sc, session, clock)
    conv.start()
    hostile = {"payload": {"__class__": "x", "__init__": {"__globals__": SECRET}}}
    session.push(1.0, {"event_type": "conversation.custom", "properties": hostile})
    clock.run(stop=lambda: conv.done)
    # the value is rendered as data (a dict's text), never followed as attributes
    assert conv.result.outcome == "completed"
    assert session.sent[0]["properties"]["text"].startswith("{'__class__': 'x'")


# ------------------------------------------------------------------------------- YAML objects


@pytest.mark.parametrize(
    "tagged",
    [
        "!!python/object/apply:os.system ['touch /tmp/cviscript-pwned']",
        "!!python/object/new:os.system ['touch /tmp/cviscript-pwned']",
        "!!python/name:os.system",
        "!!python/module:os",
        "!!binary aGVsbG8=",
        "!custom {a: 1}",
    ],
)
def test_yaml_cannot_construct_python_objects(tagged, tmp_path):
    source = (
        f"cviscript: 1\nname: t\nvars:\n  x: {tagged}\ninitial: a\nstates:\n  a: {{final: true}}\n"
    )
    diagnostics = check_file("tags.yaml", source=source)
    assert any(d.code == "yaml-tag" and d.loc.line == 4 for d in diagnostics), diagnostics
    assert not os.path.exists("/tmp/cviscript-pwned")
