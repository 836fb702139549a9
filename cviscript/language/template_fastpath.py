"""A fast path for the common, simple templates and `when:` guards: jinja2's AST as Python closures.

Why: every event that fires a transition renders a few small templates (``Question {{ visits }}``,
``vars.reprompts < vars.max_reprompts``). jinja2 builds a `Context` (and for `render`, copies the
context twice) on every call, which cost more than the rest of the engine's work on an event. The
templates are compiled once at load time; this turns the simple ones, once, into closures that
read the context dict directly.

The rule that keeps it exact: **the fast path either returns what jinja2 would, or gives up**
(`Unsupported` at compile time, `GiveUp` at run time), and the caller then renders with jinja2.
So it only covers constructs whose jinja2 semantics are plain Python, and it goes through the very
same sandbox for everything else:

* names resolve in the context, then jinja2's globals; a missing name gives up (jinja2 then raises
  the strict-undefined error with its full message);
* ``a.b`` / ``a[b]`` call the sandbox's own `getattr` / `getitem` (unsafe attributes are refused
  there); an undefined or refused result gives up;
* ``*`` and ``**`` go through the environment's bounded `call_binop`, as jinja2 compiles them;
* filters and tests only from a list of pure ones, called as jinja2 calls them;
* output is ``str(value)``, `~` joins ``str`` of each side, ``if``/``elif``/``else`` blocks.

Calls (``x.get(...)``), loops, assignments, macros, slices and anything else are not covered: such a
template is always rendered by jinja2. Any exception on the fast path also hands over to jinja2,
which then raises (or not) exactly as before.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

from jinja2 import Undefined, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

Fn = Callable[[Mapping[str, Any]], Any]


class Unsupported(Exception):
    """The template uses something the fast path does not cover (raised at compile time)."""


class GiveUp(Exception):
    """The fast path cannot decide this render (an undefined value): let jinja2 do it."""


_FILTERS = frozenset(
    {
        "abs",
        "capitalize",
        "center",
        "count",
        "d",
        "default",
        "first",
        "float",
        "format",
        "int",
        "last",
        "length",
        "lower",
        "max",
        "min",
        "round",
        "string",
        "sum",
        "title",
        "trim",
        "truncate",
        "upper",
        "wordcount",
    }
)
_TESTS = frozenset(
    {
        "boolean",
        "divisibleby",
        "eq",
        "equalto",
        "even",
        "false",
        "float",
        "ge",
        "gt",
        "in",
        "integer",
        "le",
        "lower",
        "lt",
        "mapping",
        "ne",
        "none",
        "number",
        "odd",
        "sameas",
        "sequence",
        "string",
        "true",
        "upper",
    }
)
_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "lteq": operator.le,
    "gt": operator.gt,
    "gteq": operator.ge,
    "in": lambda a, b: a in b,
    "notin": lambda a, b: a not in b,
}
_BINOPS: dict[type, tuple[str, Callable[[Any, Any], Any]]] = {
    nodes.Add: ("+", operator.add),
    nodes.Sub: ("-", operator.sub),
    nodes.Mul: ("*", operator.mul),
    nodes.Div: ("/", operator.truediv),
    nodes.FloorDiv: ("//", operator.floordiv),
    nodes.Mod: ("%", operator.mod),
    nodes.Pow: ("**", operator.pow),
}


# Nodes whose closures never return an `Undefined` (they give up instead, or compute a plain
# value from operands already checked), so `_defined` need not wrap them: names, constants,
# `.attr` and `[key]`, comparisons, `and`/`or` (one of two checked operands), `not`, tests
# (booleans) and `~` (a string).
_NEVER_UNDEFINED = frozenset(
    {
        nodes.Name,
        nodes.Const,
        nodes.Getattr,
        nodes.Getitem,
        nodes.Compare,
        nodes.And,
        nodes.Or,
        nodes.Not,
        nodes.Test,
        nodes.Concat,
    }
)


class Compiler:
    """Builds closures for one sandboxed environment (the one `cviscript.language.templates` renders with)."""

    def __init__(self, env: ImmutableSandboxedEnvironment, max_output: int):
        self.env = env
        self.max_output = max_output
        self.globals = dict(env.globals)
        # The sandbox's own lookups, without `cviscript.language.templates`' error-path tracking layer.
        self._getattr = ImmutableSandboxedEnvironment.getattr.__get__(env)
        self._getitem = ImmutableSandboxedEnvironment.getitem.__get__(env)

    # ------------------------------------------------------------------------------- entry points

    def template(self, ast: nodes.Template) -> Callable[[Mapping[str, Any]], str]:
        """A `render(context) -> str` for a whole template; raises `Unsupported`."""
        body = self._block(ast.body)
        limit = self.max_output

        def render(ctx: Mapping[str, Any]) -> str:
            parts: list[str] = []
            body(ctx, parts)
            out = "".join(parts)
            if len(out) > limit:
                raise GiveUp  # jinja2 streams it and reports "too long" with the location
            return out

        return render

    def expression(self, node: nodes.Expr) -> Fn:
        """An `evaluate(context) -> value` for a `when:` expression; raises `Unsupported`."""
        fn = self.expr(node)
        if type(node) in _NEVER_UNDEFINED:
            return fn

        def evaluate(ctx: Mapping[str, Any]) -> Any:
            value = fn(ctx)
            if isinstance(value, Undefined):
                raise GiveUp
            return value

        return evaluate

    # ---------------------------------------------------------------------------- statements

    def _block(self, body: list[nodes.Node]) -> Callable[[Mapping[str, Any], list[str]], None]:
        steps = [self._statement(node) for node in body]
        if len(steps) == 1:  # the usual template: one `Output`
            return steps[0]

        def run(ctx: Mapping[str, Any], out: list[str]) -> None:
            for step in steps:
                step(ctx, out)

        return run

    def _statement(self, node: nodes.Node) -> Callable[[Mapping[str, Any], list[str]], None]:
        if isinstance(node, nodes.Output):
            pieces: list[str | Fn] = []
            for child in node.nodes:
                if isinstance(child, nodes.TemplateData):
                    pieces.append(child.data)
                else:
                    pieces.append(self._defined(child))

            def output(ctx: Mapping[str, Any], out: list[str]) -> None:
                for piece in pieces:
                    out.append(piece if type(piece) is str else str(piece(ctx)))

            return output
        if isinstance(node, nodes.If):
            branches = [(self.expr(node.test), self._block(node.body))]
            branches += [(self.expr(e.test), self._block(e.body)) for e in node.elif_]
            otherwise = self._block(node.else_)

            def if_(ctx: Mapping[str, Any], out: list[str]) -> None:
                for test, block in branches:
                    value = test(ctx)
                    if isinstance(value, Undefined):
                        raise GiveUp
                    if value:
                        block(ctx, out)
                        return
                otherwise(ctx, out)

            return if_
        raise Unsupported(type(node).__name__)

    # --------------------------------------------------------------------------- expressions

    def expr(self, node: nodes.Node) -> Fn:
        method = getattr(self, "_" + type(node).__name__, None)
        if method is None:
            raise Unsupported(type(node).__name__)
        return method(node)

    def _defined(self, node: nodes.Node) -> Fn:
        """`expr`, giving up on an undefined value (jinja2 would raise or treat it specially)."""
        fn = self.expr(node)
        if type(node) in _NEVER_UNDEFINED:  # the check would be a call for nothing
            return fn

        def defined(ctx: Mapping[str, Any]) -> Any:
            value = fn(ctx)
            if isinstance(value, Undefined):
                raise GiveUp
            return value

        return defined

    def _Const(self, node: nodes.Const) -> Fn:
        value = node.value
        return lambda ctx: value

    def _Name(self, node: nodes.Name) -> Fn:
        if node.ctx != "load":
            raise Unsupported("assignment")
        name = node.name
        globals_ = self.globals

        def name_(ctx: Mapping[str, Any]) -> Any:
            if name in ctx:
                value = ctx[name]
                if isinstance(value, Undefined):
                    raise GiveUp
                return value
            if name in globals_:
                return globals_[name]
            raise GiveUp

        return name_

    def _Getattr(self, node: nodes.Getattr) -> Fn:
        # A chain (`event.groups.score`) is one closure walking its names, not one per name.
        names: list[str] = []
        while isinstance(node, nodes.Getattr):
            names.append(node.attr)
            node = node.node
        names.reverse()
        obj, get = self._defined(node), self._getattr
        # The sandbox tries `getattr` first, then `obj[attr]`. A plain dict has no instance
        # attributes, so unless `attr` names a dict method its `getattr` fails: go straight to
        # the key (raising and catching AttributeError was most of the lookup's cost).
        steps = tuple((attr, not hasattr(dict, attr)) for attr in names)
        # The usual chain starts at a context name (`vars.x`): looked up here, as `_Name` would.
        base = node.name if isinstance(node, nodes.Name) and node.ctx == "load" else None
        globals_ = self.globals

        def getattr_(ctx: Mapping[str, Any]) -> Any:
            if base is None:
                value = obj(ctx)
            elif base in ctx:
                value = ctx[base]
                if isinstance(value, Undefined):
                    raise GiveUp
            elif base in globals_:
                value = globals_[base]
            else:
                raise GiveUp
            for attr, key_first in steps:
                if key_first and type(value) is dict:
                    try:
                        value = value[attr]
                    except KeyError:
                        raise GiveUp from None
                else:
                    value = get(value, attr)
                if isinstance(value, Undefined):
                    raise GiveUp
            return value

        return getattr_

    def _Getitem(self, node: nodes.Getitem) -> Fn:
        if isinstance(node.arg, nodes.Slice):
            raise Unsupported("slice")
        obj, key, get = self._defined(node.node), self._defined(node.arg), self._getitem

        def getitem(ctx: Mapping[str, Any]) -> Any:
            value = get(obj(ctx), key(ctx))
            if isinstance(value, Undefined):
                raise GiveUp
            return value

        return getitem

    def _Compare(self, node: nodes.Compare) -> Fn:
        first = self._defined(node.expr)
        ops = [(_COMPARE[op.op], self._defined(op.expr)) for op in node.ops]
        if len(ops) == 1:  # the usual `a < b`
            op, right_fn = ops[0]
            return lambda ctx: op(first(ctx), right_fn(ctx))

        def compare(ctx: Mapping[str, Any]) -> Any:
            left = first(ctx)
            result: Any = True
            for op, right_fn in ops:  # Python's chained comparison, as jinja2 compiles it
                right = right_fn(ctx)
                result = op(left, right)
                if not result:
                    return result
                left = right
            return result

        return compare

    def _binop(self, node: nodes.BinExpr) -> Fn:
        symbol, op = _BINOPS[type(node)]
        left, right = self._defined(node.left), self._defined(node.right)
        if symbol in self.env.intercepted_binops:
            call_binop = self.env.call_binop
            return lambda ctx: call_binop(None, symbol, left(ctx), right(ctx))
        return lambda ctx: op(left(ctx), right(ctx))

    _Add = _Sub = _Mul = _Div = _FloorDiv = _Mod = _Pow = _binop

    def _Concat(self, node: nodes.Concat) -> Fn:
        parts = [self._defined(n) for n in node.nodes]
        bounded = self.env.bounded  # as the environment's code generator compiles `~`
        return lambda ctx: bounded("".join([str(p(ctx)) for p in parts]))

    def _Not(self, node: nodes.Not) -> Fn:
        fn = self._defined(node.node)
        return lambda ctx: not fn(ctx)

    def _Neg(self, node: nodes.Neg) -> Fn:
        fn = self._defined(node.node)
        return lambda ctx: -fn(ctx)

    def _Pos(self, node: nodes.Pos) -> Fn:
        fn = self._defined(node.node)
        return lambda ctx: +fn(ctx)

    def _And(self, node: nodes.And) -> Fn:
        left, right = self._defined(node.left), self._defined(node.right)
        return lambda ctx: left(ctx) and right(ctx)

    def _Or(self, node: nodes.Or) -> Fn:
        left, right = self._defined(node.left), self._defined(node.right)
        return lambda ctx: left(ctx) or right(ctx)

    def _CondExpr(self, node: nodes.CondExpr) -> Fn:
        test, then = self._defined(node.test), self.expr(node.expr1)
        otherwise = self.expr(node.expr2) if node.expr2 is not None else None

        def cond(ctx: Mapping[str, Any]) -> Any:
            if test(ctx):
                return then(ctx)
            if otherwise is None:
                raise GiveUp  # jinja2 yields an undefined here
            return otherwise(ctx)

        return cond

    def _Tuple(self, node: nodes.Tuple) -> Fn:
        if node.ctx != "load":
            raise Unsupported("assignment")
        items = [self._defined(n) for n in node.items]
        return lambda ctx: tuple([i(ctx) for i in items])

    def _List(self, node: nodes.List) -> Fn:
        items = [self._defined(n) for n in node.items]
        return lambda ctx: [i(ctx) for i in items]

    def _Dict(self, node: nodes.Dict) -> Fn:
        pairs = [(self._defined(p.key), self._defined(p.value)) for p in node.items]
        return lambda ctx: {k(ctx): v(ctx) for k, v in pairs}

    def _call(self, node: nodes.Filter | nodes.Test, table: Mapping[str, Any], allowed) -> Fn:
        if node.name not in allowed or node.name not in table:
            raise Unsupported(node.name)
        if node.dyn_args is not None or node.dyn_kwargs is not None:
            raise Unsupported("*args")
        func = table[node.name]
        pass_arg = getattr(func, "jinja_pass_arg", None)
        if pass_arg is not None and pass_arg.name != "environment":
            raise Unsupported(f"{node.name} needs a context")
        lead = (self.env,) if pass_arg is not None else ()
        if node.node is None:
            raise Unsupported("filter block")
        value = self._defined(node.node)
        args = [self._defined(a) for a in node.args]
        kwargs = [(k.key, self._defined(k.value)) for k in node.kwargs]

        def call(ctx: Mapping[str, Any]) -> Any:
            return func(
                *lead, value(ctx), *[a(ctx) for a in args], **{k: v(ctx) for k, v in kwargs}
            )

        return call

    def _Filter(self, node: nodes.Filter) -> Fn:
        return self._call(node, self.env.filters, _FILTERS)

    def _Test(self, node: nodes.Test) -> Fn:
        return self._call(node, self.env.tests, _TESTS)
