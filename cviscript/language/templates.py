"""Jinja2 templates and `when:` expressions: compiled once at load time, rendered sandboxed and strict.

Every string an action sends is a template; a mistake in one must never reach a customer as an empty
or half-rendered sentence. So:

* One shared `ImmutableSandboxedEnvironment` (a `SandboxedEnvironment` that also refuses to mutate
  lists and dicts): no ``__class__`` / ``__globals__`` / underscore attributes, no ``vars.update()``,
  `range` capped by the sandbox. Its globals are only ``range, dict, namespace, cycler, joiner``:
  nothing reaches the process environment, files or the API key. The non-deterministic
  ``random`` filter and ``lipsum`` are removed so a rehearsal is the same every run.
* `StrictUndefined`: an undefined name or key raises, with a message naming the path
  (``undefined variable 'vars.prodcut' (did you mean "vars.product"?)``), the file:line and the state.
* Names are checked at load time when the caller says which ones exist (`CONTEXT_NAMES` for the
  scenario's own templates), so ``{{ var.x }}`` fails before anything is sent.
* Output is bounded (`MAX_OUTPUT` characters, streamed so it stops early), and so is every value a
  template builds on the way: operators, `~`, string methods and filters that pad, repeat, join or
  format are checked (`template_bounds`). Templates come from the scenario author, never from event
  data, so these bounds guard against mistakes rather than an attacker (a template can still burn
  CPU in loops).
* Rendering builds jinja2's `Context` directly (`_fresh_context`), without the two copies
  `Template.generate` makes. (A second evaluator for simple templates, closures built from the
  AST, was measured and removed: without it the engine handled ~13% fewer events per second on
  its hot path and rehearsals and live reaction latency did not change measurably.)
* Plain text (no ``{{``, ``{%`` or ``{#``) is not compiled at all: `Text.compiled` is None and it
  renders to itself.
* A compiled template is kept per source text (`_COMPILED`, bounded): jinja2's code generation
  and Python's `compile` were most of the time a large scenario took to validate, and generated
  or included scenarios repeat the same guard (``visits > 1``) and texts in many states. A jinja2
  template is immutable once compiled and each render builds its own context, so sharing one is
  safe; errors are never cached (their message names the location).

Context names templates see (built by the engine): `vars`, `event`, `state`, `visits`.
"""

from __future__ import annotations

import contextvars
import math
import operator
import re
from collections.abc import Collection, Mapping
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined, meta, nodes
from jinja2.compiler import CodeGenerator
from jinja2.environment import TemplateExpression
from jinja2.exceptions import TemplateError
from jinja2.parser import Parser
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import missing

from ..errors import Location, TemplateRenderError, did_you_mean
from .template_bounds import (
    MAX_INT_DIGITS,
    MAX_OUTPUT,
    bounded,
    bounded_filters,
    check_binop,
    check_str_call,
)
from .texts import Expr, Text

CONTEXT_NAMES: tuple[str, ...] = ("vars", "event", "state", "visits")
_BINOPS = {"*": operator.mul, "**": operator.pow, "+": operator.add, "%": operator.mod}

_MARKUP = ("{{", "{%", "{#")
_SCALARS = (str, int, float, bool, type(None))

# id(container) -> its path from the context ("vars", "event.arguments"), for error messages.
_paths: contextvars.ContextVar[dict[int, str] | None] = contextvars.ContextVar(
    "_paths", default=None
)


class TemplateCompileError(ValueError):
    """A template or expression that cannot be compiled. The validator turns it into a Diagnostic."""

    def __init__(self, message: str, loc: Location | None = None):
        super().__init__(f"{loc}: {message}" if loc else message)
        self.message = message
        self.loc = loc


class _Undefined(StrictUndefined):
    """StrictUndefined that says "undefined variable 'x'" instead of "'x' is undefined"."""

    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        if self._undefined_hint is None and self._undefined_obj is missing:
            return f"undefined variable {self._undefined_name!r}"
        return super()._undefined_message


class _CodeGenerator(CodeGenerator):
    """jinja2's code generator, with `~` (Concat) results checked by `template_bounds.bounded`."""

    def visit_Concat(self, node: nodes.Concat, frame: Any) -> None:
        self.write("environment.bounded(")
        super().visit_Concat(node, frame)
        self.write(")")


class _Environment(ImmutableSandboxedEnvironment):
    code_generator_class = _CodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def call_binop(self, context: Any, op: str, left: Any, right: Any) -> Any:
        check_binop(op, left, right)
        return bounded(_BINOPS[op](left, right))

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        args, kwargs = check_str_call(__obj, args, kwargs)
        return bounded(super().call(__context, __obj, *args, **kwargs))

    bounded = staticmethod(bounded)

    def getattr(self, obj: Any, attribute: str) -> Any:
        return _track(self, obj, attribute, super().getattr(obj, attribute))

    def getitem(self, obj: Any, argument: Any) -> Any:
        return _track(self, obj, argument, super().getitem(obj, argument))


def _track(env: _Environment, obj: Any, key: Any, rv: Any) -> Any:
    """Remember where containers come from, so an undefined key names its full path."""
    paths = _paths.get()
    if not paths:
        return rv
    parent = paths.get(id(obj))
    if parent is None:
        return rv
    if isinstance(key, str) and key.isidentifier():
        path = f"{parent}.{key}"
    else:
        path = f"{parent}[{key!r}]"
    if isinstance(rv, Undefined):
        if rv._undefined_hint is not None:  # a sandbox refusal keeps its own message
            return rv
        hint = f"undefined variable {path!r}"
        if isinstance(obj, Mapping):
            choices = [f"{parent}.{k}" for k in obj if isinstance(k, str)]
            hint += did_you_mean(path, choices)
        return env.undefined(hint=hint, obj=obj, name=key)
    if isinstance(rv, Mapping | list | tuple):
        paths[id(rv)] = path
    return rv


def _make_environment() -> _Environment:
    env = _Environment(undefined=_Undefined, autoescape=False, keep_trailing_newline=True)
    # No constant folding: jinja2's optimizer runs filters at compile time, and one that yields
    # an undefined (``'' | min``) raised out of `compile_text` instead of failing the render.
    env.optimized = False
    env.globals = {
        name: env.globals[name] for name in ("range", "dict", "namespace", "cycler", "joiner")
    }
    for name in ("random",):
        env.filters.pop(name, None)
    env.filters = bounded_filters(env.filters)
    return env


ENV = _make_environment()
_GLOBALS = frozenset(ENV.globals)
_GLOBAL_VALUES = dict(ENV.globals)
_FORBIDDEN = (nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)


def has_markup(source: str) -> bool:
    return any(m in source for m in _MARKUP)


def _where(loc: Location | None, lineno: int | None) -> Location | None:
    """`loc` moved down to line `lineno` (1-based) of a multi-line template."""
    if loc is None or not lineno or lineno <= 1:
        return loc
    return Location(loc.file, loc.line + lineno - 1, loc.column)


def _check_names(
    ast: nodes.Template, names: Collection[str] | None, loc: Location | None, kind: str = "template"
) -> None:
    loaded = set()
    for node in ast.find_all((*_FORBIDDEN, nodes.Name)):
        if isinstance(node, nodes.Name):
            if node.ctx == "load":
                loaded.add(node.name)
            continue
        tag = type(node).__name__.lower()
        raise TemplateCompileError(
            f"'{tag}' is not supported in scenario templates", _where(loc, node.lineno)
        )
    if names is None:
        return
    allowed = set(names) | _GLOBALS
    if loaded <= allowed:
        # Every undeclared name is a name read, so none can be unknown. This skips jinja2's
        # `find_undeclared_variables`, a whole code generation pass (most of the time a large
        # template took to load).
        return
    # jinja2 resolves `self` (the template's own blocks) without calling it undeclared: it is no
    # name a scenario template has, so it is refused like any other unknown name.
    undeclared = meta.find_undeclared_variables(ast) | ({"self"} & loaded)
    for name in sorted(undeclared):
        if name not in allowed:
            raise TemplateCompileError(
                f"unknown name {name!r} in {kind}{did_you_mean(name, allowed)}; "
                f"{kind}s see {', '.join(names)}",
                loc,
            )


_COMPILED: dict[tuple[str, str, tuple[str, ...] | None], Any] = {}
_COMPILED_MAX = 4_096  # sources (a compiled template is a few KB); past it the memo starts afresh


def _remember(key: tuple[str, str, tuple[str, ...] | None], compiled: Any) -> Any:
    if len(_COMPILED) >= _COMPILED_MAX:
        _COMPILED.clear()
    _COMPILED[key] = compiled
    return compiled


def compile_text(
    source: str, loc: Location | None = None, *, names: Collection[str] | None = None
) -> Text:
    """A `Text`; compiled only when `source` has template markup.

    `names`: when given, the template may only use these names (plus the safe globals) — pass
    `CONTEXT_NAMES` for scenario templates. Raises `TemplateCompileError` with the location.
    """
    _check_well_formed(source, loc)
    if not has_markup(source):
        return Text(source, loc)
    key = ("text", source, None if names is None else tuple(names))
    if (compiled := _COMPILED.get(key)) is not None:
        return Text(source, loc, compiled)
    try:
        ast = ENV.parse(source)
        _check_names(ast, names, loc)
        compiled = _remember(key, ENV.from_string(ast))
    except TemplateSyntaxError as e:
        raise TemplateCompileError(
            f"template syntax error: {e.message}", _where(loc, e.lineno)
        ) from None
    except RecursionError:  # jinja2 parses and compiles recursively
        raise TemplateCompileError(_TOO_DEEP, loc) from None
    return Text(source, loc, compiled)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_well_formed(source: str, loc: Location | None) -> None:
    """Refuse a lone surrogate (YAML's ``"\\ud800"``): no text holding one can be sent or printed."""
    found = _SURROGATE.search(source)
    if found:
        raise TemplateCompileError(
            f"text contains a lone surrogate \\u{ord(found.group()):04x} at character "
            f"{found.start() + 1} (half of a UTF-16 pair, not a character): write the character "
            "itself, or \\U and eight hex digits (\\U0001F600) for one past \\uFFFF",
            loc,
        )


_TOO_DEEP = "template is nested too deeply (or is too long a chain of operators) to compile"


def compile_expr(
    source: str, loc: Location | None = None, *, names: Collection[str] | None = None
) -> Expr:
    """An `Expr` (a `when:` guard). Undefined names raise at evaluation, they never become None."""
    if not source.strip():
        raise TemplateCompileError("empty expression", loc)
    if has_markup(source):
        raise TemplateCompileError(
            "an expression is written without {{ }}: write `vars.x > 1`, not `{{ vars.x > 1 }}`",
            loc,
        )
    key = ("expr", source, None if names is None else tuple(names))
    if (compiled := _COMPILED.get(key)) is not None:
        return Expr(source, loc, compiled)
    try:
        parser = Parser(ENV, source, state="variable")
        expr = parser.parse_expression()
        if not parser.stream.eos:
            raise TemplateSyntaxError(
                "unexpected text after the expression", parser.stream.current.lineno
            )
        body = [nodes.Assign(nodes.Name("result", "store"), expr, lineno=1)]
        ast = nodes.Template(body, lineno=1)
        ast.set_environment(ENV)
        _check_names(ast, names, loc, "expression")
        compiled = _remember(key, TemplateExpression(ENV.from_string(ast), undefined_to_none=False))
    except TemplateSyntaxError as e:
        raise TemplateCompileError(f"expression syntax error: {e.message}", loc) from None
    except RecursionError:
        raise TemplateCompileError(_TOO_DEEP, loc) from None
    return Expr(source, loc, compiled)


def _template_line(exc: BaseException) -> int | None:
    """The template line an exception was raised at (jinja2 rewrites tracebacks to show it)."""
    line, tb = None, exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _message(exc: BaseException) -> str:
    if isinstance(exc, TemplateError):
        return str(exc.message if getattr(exc, "message", None) else exc).rstrip(".")
    return f"{type(exc).__name__}: {exc}"


def _tracked_paths(context: Mapping[str, Any]) -> dict[int, str]:
    return {id(v): k for k, v in context.items() if not isinstance(v, _SCALARS)}


def _fresh_context(template: Any, context: Mapping[str, Any]) -> Context:
    """A jinja2 `Context` built directly: what `Template.generate` makes, minus its copies.

    `Template.generate`/`TemplateExpression` copy the context twice and take a set of the globals
    on every call; on the engine's hot path that was half the cost of a small template."""
    parent = dict(_GLOBAL_VALUES)
    parent.update(context)
    return Context(ENV, parent, template.name, template.blocks)


def _render_fast(template: Any, context: Mapping[str, Any]) -> str | None:
    """The output, or None when it is longer than `MAX_OUTPUT` (streamed, so it stops early)."""
    parts: list[str] = []
    size = 0
    for chunk in template.root_render_func(_fresh_context(template, context)):
        size += len(chunk)
        if size > MAX_OUTPUT:
            return None
        parts.append(chunk)
    return "".join(parts)


def render(text: Text, context: Mapping[str, Any], state: str | None = None) -> str:
    """The rendered string. Any failure raises `TemplateRenderError(message, loc, state)`.

    Rendering is pure (the sandbox is immutable), so it runs twice only when it fails: first
    untracked and fast, then again with paths tracked and jinja2's traceback rewriting, which
    give the error message its full name (``vars.prodcut``) and the template line."""
    if text.compiled is None:
        return text.source
    try:
        out = _render_fast(text.compiled, context)
    except Exception:
        return _render_tracked(text, context, state)
    if out is None:
        raise TemplateRenderError(
            f"template output too long (over {MAX_OUTPUT} characters)", text.loc, state
        )
    return out


def _render_tracked(text: Text, context: Mapping[str, Any], state: str | None) -> str:
    token = _paths.set(_tracked_paths(context))
    parts: list[str] = []
    size = 0
    try:
        for chunk in text.compiled.generate(context):
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise TemplateRenderError(
                    f"template output too long (over {MAX_OUTPUT} characters)", text.loc, state
                )
            parts.append(chunk)
    except TemplateRenderError:
        raise
    except Exception as e:  # undefined, sandbox refusal, TypeError, ZeroDivisionError ...
        raise TemplateRenderError(_message(e), _where(text.loc, _template_line(e)), state) from None
    finally:
        _paths.reset(token)
    return "".join(parts)


def evaluate(expr: Expr, context: Mapping[str, Any], state: str | None = None) -> Any:
    """The expression's value. An undefined result or any failure raises `TemplateRenderError`
    (fast first, tracked on failure, as in `render`)."""
    template = getattr(expr.compiled, "_template", None)
    if template is not None:
        try:
            ctx = _fresh_context(template, context)
            for _ in template.root_render_func(ctx):
                pass
            result = ctx.vars["result"]
            if not isinstance(result, Undefined):
                return result
        except Exception:
            pass
    token = _paths.set(_tracked_paths(context))
    try:
        result = expr.compiled(context)
        if isinstance(result, Undefined):
            result._fail_with_undefined_error()
        return result
    except Exception as e:
        raise TemplateRenderError(_message(e), expr.loc, state) from None
    finally:
        _paths.reset(token)


def render_value(
    value: Any, context: Mapping[str, Any], state: str | None = None, *, parse_scalars: bool = False
) -> Any:
    """`value` with every `Text` leaf rendered (dicts and lists recursively; other values as is).

    `parse_scalars=True` (``set:``) turns the output of *templates* back into numbers, booleans
    and None via `parse_scalar`; plain strings stay strings.
    """
    if isinstance(value, Text):
        out = render(value, context, state)
        return parse_scalar(out) if parse_scalars and value.is_template else out
    if isinstance(value, dict):
        return {
            k: render_value(v, context, state, parse_scalars=parse_scalars)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [render_value(v, context, state, parse_scalars=parse_scalars) for v in value]
    return value


_INT = re.compile(r"[+-]?(0|[1-9][0-9]*)")
_FLOAT = re.compile(
    r"[+-]?(0|[1-9][0-9]*)?(\.[0-9]+)([eE][+-]?[0-9]+)?|[+-]?(0|[1-9][0-9]*)[eE][+-]?[0-9]+"
)


def parse_scalar(s: str) -> Any:
    """A rendered string back to a value: ``"3"`` -> 3, ``"2.5"`` -> 2.5, ``"true"``/``"False"`` ->
    bool, ``"null"``/``"None"`` -> None (case-insensitive; surrounding spaces ignored).

    Everything else stays the original string, including numbers with leading zeros (``"007"``, an
    id, not seven), ``"1_000"``, ``"nan"``/``"inf"``, rendered lists like ``"[1, 2]"``, integers
    over `MAX_INT_DIGITS` digits (a card or order number read out in speech is an id, and Python
    refuses to convert such strings) and decimals too large for a float (they are not ``inf``).
    """
    t = s.strip()
    low = t.lower()
    if low == "true":
        return True
    if low == "false":
        return False
    if low in ("null", "none"):
        return None
    if len(t) > MAX_INT_DIGITS + 1:  # a sign and MAX_INT_DIGITS digits at most
        return s
    if _INT.fullmatch(t):
        return int(t)
    if _FLOAT.fullmatch(t):
        value = float(t)
        return value if math.isfinite(value) else s
    return s
