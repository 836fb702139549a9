"""Scenario file -> `model.Scenario`, or every problem in it at once.

`load_scenario` reads (or takes) the text, composes it with `cviscript.language.loader` (locations, duplicate
keys, size limits), then walks the located nodes key by key against the v1 contract
(``scenario-language.md``). Each problem becomes a `Diagnostic` with file:line:col, a stable `code`
and, for misspelt keys / states / actions / events, a "did you mean"; nothing stops at the first
problem, and unknown keys are never ignored. Templates and regexes are compiled here, once.

Decisions beyond the contract (author-friendly, never ambiguous):

* ``utterance: {role: user}`` with no ``match``/``contains``/``equals`` fires on any utterance of
  that role; when several are given, all must hold.
* ``perception: {}`` fires on any perception analysis; ``perception: "regex"`` is ``{match: regex}``.
* ``enter:`` / ``exit:`` / ``do:`` may be one action instead of a list; ``interrupt`` / ``end`` may be
  written ``interrupt: true``; ``fail`` alone fails with the reason "failed"; ``echo: {text: T}`` is
  ``echo: T``; ``tool_result: T`` is ``tool_result: {output: T}``.
* ``send.event_type``, ``expect.sent`` and ``expect.not_sent`` names without a dot get
  ``conversation.`` in front (``echo`` -> ``conversation.echo``).
* In ``user:`` rules, ``on: NAME`` is ``on: {state: NAME}``; ``expect: {duration: 2m}`` is
  ``{duration: {max: 2m}}``; ``said`` / ``sent`` / ``path`` may be a single string.
* A scalar where text is expected is taken as written (``echo: 42`` says "42").
* ``set:`` values: template output is parsed back to numbers/booleans (`templates.parse_scalar`),
  plain strings stay strings.
* Scenario templates may only use ``vars``, ``event``, ``state``, ``visits`` (checked at load time);
  rehearsal texts (``say``, ``perceive``, tool arguments) are not name-checked, the simulator
  decides their context.
* ``echo: {audio: PATH}`` and ``replay: PATH`` are resolved against the scenario file's folder and
  must exist; the audio must be a 16-bit PCM WAV file (`audio.inspect_wav`; other rates and
  stereo are converted when it is streamed).

Which keys each mapping takes, which are required, the scalar types and the enumerations come from
`cviscript.language.spec`, the one declarative definition the JSON Schema (`cviscript.language.schema`) is generated
from too; this module adds what a schema cannot say (references, compiling, files, messages).

Warnings (do not fail loading; `check_file` returns them): transitions that do nothing,
``expect.sent`` names nothing sends and regexes that can backtrack exponentially (the lint rule
`slow-regex`, applied here where each regex is compiled and located) are found here; once a file
has no errors, the graph and template rules of `cviscript.language.lint` run on the model (unreachable
states, dead ends, transitions and timers that never fire, undefined variables, unknown raw event
types).
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Iterable
from typing import Any

from ..errors import CviscriptError, Diagnostic, ScenarioError, did_you_mean
from ..protocol import EVENT_NAMES
from . import model as m
from . import spec as S
from .durations import parse_duration
from .lint import lint, slow_regex
from .loader import Node, compose, read_source
from .templates import CONTEXT_NAMES, TemplateCompileError, compile_expr, compile_text, has_markup

SUPPORTED_VERSION = 1

# The tables come from the one declarative spec the JSON Schema is generated from as well.
TRIGGERS = S.TRIGGERS
USER_TRIGGERS = S.USER_TRIGGERS
USER_DOES = S.USER_DOES
ACTIONS = S.ACTIONS
BARE_ACTIONS = S.BARE_ACTIONS
TRANSITION_KEYS = S.TRANSITION.keys
LEVELS = S.LEVELS
OUTCOMES = S.OUTCOMES
SENT_BY_ACTIONS = frozenset(
    "conversation." + t
    for t in (
        "echo",
        "respond",
        "interrupt",
        "overwrite_llm_context",
        "append_llm_context",
        "overwrite_context",
        "append_context",
        "sensitivity",
        "tool_result",
    )
)


def load_scenario(
    path: str | os.PathLike[str],
    *,
    source: str | None = None,
    warnings: list[Diagnostic] | None = None,
) -> m.Scenario:
    """The validated scenario. Raises `ScenarioError` carrying every diagnostic (errors and
    warnings) when there is at least one error. With `source`, `path` is only the displayed name
    and the folder relative paths are resolved against. Warnings of a valid file are appended to
    `warnings` when a list is given."""
    scenario, diagnostics = _load(path, source)
    if scenario is None or any(d.severity == "error" for d in diagnostics):
        raise ScenarioError(diagnostics)
    if warnings is not None:
        warnings.extend(diagnostics)
    return scenario


def check_file(path: str | os.PathLike[str], *, source: str | None = None) -> list[Diagnostic]:
    """Every problem (errors and warnings) in one file; never raises for a scenario problem."""
    return _load(path, source)[1]


def _load(
    path: str | os.PathLike[str], source: str | None
) -> tuple[m.Scenario | None, list[Diagnostic]]:
    filename = os.fspath(path)
    if source is None:
        source, problems = read_source(filename)
        if source is None:
            return None, problems
    root, diagnostics = compose(source, filename)
    scenario = None
    if root is not None:
        v = _Validator(filename)
        scenario = v.scenario(root)
        diagnostics += v.diagnostics
    if scenario is not None and not any(d.severity == "error" for d in diagnostics):
        # graph and template rules need a whole, valid model: on a broken one they only add noise
        diagnostics += lint(scenario)
    diagnostics.sort(key=lambda d: (d.loc.line, d.loc.column) if d.loc else (0, 0))
    return scenario, diagnostics


def _event_type(name: str) -> str:
    return name if "." in name else f"conversation.{name}"


class _Validator:
    def __init__(self, filename: str):
        self.file = filename
        self.base_dir = os.path.dirname(os.path.abspath(filename))
        self.diagnostics: list[Diagnostic] = []
        self.states: set[str] = set()
        self.sent_types: set[str] = set(SENT_BY_ACTIONS)
        # (where, event_type, label) of expect.sent names, checked once every `send` is known
        self.expected_sent: list[tuple[m.Location, str, str]] = []

    # ------------------------------------------------------------------------------- reporting

    def error(self, loc: m.Location | None, code: str, message: str) -> None:
        self.diagnostics.append(Diagnostic(message, loc, "error", code))

    def warn(self, loc: m.Location | None, code: str, message: str) -> None:
        self.diagnostics.append(Diagnostic(message, loc, "warning", code))

    # -------------------------------------------------------------------------- shape helpers

    def fields(
        self, node: Node, what: str, allowed: Iterable[str], required: Iterable[str] = ()
    ) -> bool:
        """Is `node` a mapping with only `allowed` keys and every `required` one? Reports if not.
        Returns False only when it is not a mapping at all."""
        if not node.is_map:
            self.error(node.loc, "wrong-type", f"{what} must be a mapping, got {node.describe()}")
            return False
        allowed = tuple(allowed)
        unknown = [key for key in node.value if key not in allowed]
        for key in unknown:
            self.unknown_key(node, key, what, allowed)
        for key in required:
            # a misspelling of it was just reported: saying it is missing too would be noise
            if key not in node.value and not difflib.get_close_matches(key, unknown, cutoff=0.6):
                self.error(node.loc, "missing-key", f"{what} is missing the required key '{key}'")
        return True

    def shape(self, node: Node, what: str, obj: S.Obj) -> bool:
        """`fields` with the keys and required keys of a spec mapping."""
        return self.fields(node, what, obj.keys, obj.required)

    def unknown_key(self, node: Node, key: str, what: str, allowed: Iterable[str]) -> None:
        allowed = tuple(allowed)
        hint = did_you_mean(key, allowed) or f"; expected one of: {', '.join(allowed)}"
        self.error(node.key_loc(key), "unknown-key", f"unknown key '{key}' in {what}{hint}")

    def string(self, node: Node, what: str, *, empty_ok: bool = False) -> str | None:
        """A scalar as a string: strings as is, numbers and booleans as written."""
        if not node.is_scalar or node.value is None:
            self.error(node.loc, "wrong-type", f"{what} must be a string, got {node.describe()}")
            return None
        value = node.value if isinstance(node.value, str) else str(node.text)
        if not empty_ok and not value.strip():
            self.error(node.loc, "bad-value", f"{what} must not be empty")
            return None
        return value

    def text(
        self, node: Node, what: str, names: Iterable[str] | None = CONTEXT_NAMES
    ) -> m.Text | None:
        source = self.string(node, what, empty_ok=True)
        return None if source is None else self.compile(source, node.loc, names)

    def compile(self, source: str, loc: m.Location, names: Iterable[str] | None) -> m.Text | None:
        try:
            return compile_text(source, loc, names=None if names is None else tuple(names))
        except TemplateCompileError as e:
            self.error(e.loc or loc, "bad-template", e.message)
            return None

    def tree(self, node: Node, names: Iterable[str] | None = CONTEXT_NAMES) -> Any:
        """A JSON-like value whose string leaves are `Text` templates."""
        if node.is_map:
            return {k: self.tree(v, names) for k, v in node.value.items()}
        if node.is_seq:
            return [self.tree(v, names) for v in node.value]
        if isinstance(node.value, str):
            return self.compile(node.value, node.loc, names)
        return node.value

    def boolean(self, node: Node, what: str) -> bool | None:
        if node.is_scalar and isinstance(node.value, bool):
            return node.value
        self.error(node.loc, "wrong-type", f"{what} must be true or false, got {node.describe()}")
        return None

    def integer(self, node: Node, what: str, minimum: int | None = None) -> int | None:
        value = node.value if node.is_scalar else None
        if not isinstance(value, int) or isinstance(value, bool):
            self.error(
                node.loc, "wrong-type", f"{what} must be a whole number, got {node.describe()}"
            )
            return None
        if minimum is not None and value < minimum:
            self.error(node.loc, "bad-value", f"{what} must be at least {minimum}, got {value}")
            return None
        return value

    def number(
        self,
        node: Node,
        what: str,
        *,
        low: float = 0.0,
        high: float | None = None,
        positive: bool = False,
    ) -> float | None:
        value = node.value if node.is_scalar else None
        if not isinstance(value, int | float) or isinstance(value, bool) or value != value:
            self.error(node.loc, "wrong-type", f"{what} must be a number, got {node.describe()}")
            return None
        if (positive and value <= 0) or value < low or (high is not None and value > high):
            bound = (
                "above 0"
                if positive
                else f"between {low:g} and {high:g}"
                if high is not None
                else f"at least {low:g}"
            )
            self.error(node.loc, "bad-value", f"{what} must be {bound}, got {node.text}")
            return None
        return float(value)

    def duration(self, node: Node, what: str, *, positive: bool = False) -> float | None:
        if not node.is_scalar:
            self.error(
                node.loc,
                "bad-duration",
                f"{what}: expected a duration like 250ms, 2s, 1.5s or 3m, got {node.describe()}",
            )
            return None
        try:
            seconds = parse_duration(node.value)
        except ValueError as e:
            self.error(node.loc, "bad-duration", f"{what}: {e}")
            return None
        if positive and seconds <= 0:
            self.error(node.loc, "bad-duration", f"{what} must be longer than 0")
            return None
        return seconds

    def leaf(self, node: Node, what: str, spec: Any) -> Any:
        """A scalar checked against its spec type (see `cviscript.language.spec`); None when invalid."""
        if isinstance(spec, S.Text):
            return self.string(node, what, empty_ok=not spec.nonempty)
        if isinstance(spec, S.Bool):
            return self.boolean(node, what)
        if isinstance(spec, S.Int):
            return self.integer(node, what, minimum=spec.minimum)
        if isinstance(spec, S.Number):
            label = f"{what} ({spec.noun})" if spec.noun else what
            return self.number(
                node, label, low=spec.minimum, high=spec.maximum, positive=spec.positive
            )
        if isinstance(spec, S.Duration):
            return self.duration(node, what, positive=spec.positive)
        if isinstance(spec, S.Enum):
            return self.choice(node, what, spec.values)
        raise TypeError(f"not a scalar spec: {spec!r}")  # a bug in the caller, not in the file

    def choice(self, node: Node, what: str, options: Iterable[str]) -> str | None:
        options = tuple(options)
        value = node.value if node.is_scalar else None
        if not isinstance(value, str) or value not in options:
            shown = repr(value) if isinstance(value, str) else node.describe()
            hint = did_you_mean(value, options) if isinstance(value, str) else ""
            self.error(
                node.loc,
                "bad-value",
                f"{what} must be one of {', '.join(options)}; got {shown}{hint}",
            )
            return None
        return value

    def regex(self, node: Node, what: str) -> re.Pattern[str] | None:
        source = self.string(node, what, empty_ok=True)
        if source is None:
            return None
        try:
            pattern = re.compile(source)
        except re.error as e:
            where = f" at position {e.pos}" if e.pos is not None else ""
            self.error(
                node.loc, "bad-regex", f"invalid regular expression in {what}: {e.msg}{where}"
            )
            return None
        # it runs on untrusted speech: warn about exponential backtracking (a lint rule)
        if (slow := slow_regex(source, node.loc)) is not None:
            self.diagnostics.append(slow)
        return pattern

    def string_list(self, node: Node, what: str) -> list[str] | None:
        items = [node] if node.is_scalar else node.value if node.is_seq else None
        if items is None:
            self.error(
                node.loc, "wrong-type", f"{what} must be a list of strings, got {node.describe()}"
            )
            return None
        out = [self.string(item, f"each entry of {what}") for item in items]
        return None if any(s is None for s in out) else out  # type: ignore[return-value]

    def state_ref(self, node: Node, what: str) -> str | None:
        name = self.string(node, what)
        if name is None:
            return None
        if name not in self.states and self.states:  # no states at all is reported once, elsewhere
            self.error(
                node.loc,
                "unknown-state",
                f"{what} names an unknown state '{name}'{did_you_mean(name, sorted(self.states))}",
            )
            return None
        return name

    def event_name(self, node: Node, what: str) -> str | None:
        name = self.string(node, what)
        if name is None:
            return None
        name = name.strip()
        if name in EVENT_NAMES or name.startswith(S.RAW_EVENT_PREFIXES):
            return name
        hint = did_you_mean(name, EVENT_NAMES) or (
            f"; use one of {', '.join(EVENT_NAMES)}, "
            "or a raw event_type starting with 'conversation.' or 'system.'"
        )
        self.error(node.loc, "unknown-event", f"unknown event '{name}'{hint}")
        return None

    def path(self, node: Node, what: str) -> str | None:
        """A file path relative to the scenario's folder, which must exist."""
        raw = self.string(node, what)
        if raw is None:
            return None
        resolved = os.path.normpath(os.path.join(self.base_dir, os.path.expanduser(raw)))
        if not os.path.isfile(resolved):
            self.error(
                node.loc,
                "missing-file",
                f"{what}: file not found: {resolved} (relative paths start at the scenario's folder)",
            )
            return None
        return resolved

    def each(self, node: Node | None, what: str, parse: Callable[[Node, int], Any]) -> list[Any]:
        """Parse every item of a list (None for an absent or null node); drops failed items."""
        if node is None or node.is_null:
            return []
        if not node.is_seq:
            self.error(node.loc, "wrong-type", f"{what} must be a list, got {node.describe()}")
            return []
        return [r for r in (parse(item, i) for i, item in enumerate(node.value)) if r is not None]

    # --------------------------------------------------------------------------------- top level

    def scenario(self, root: Node) -> m.Scenario | None:
        if not root.is_map:
            self.error(
                root.loc,
                "wrong-type",
                f"the top level of a scenario must be a mapping (cviscript: 1, name:, states: ...), got {root.describe()}",
            )
            return None
        self.shape(root, "the scenario", S.SCENARIO)
        get = root.get
        self.version(get("cviscript"))
        name = self.string(n, "name") if (n := get("name")) else None

        states_node = get("states")
        if states_node is not None:
            if states_node.is_map and states_node.value:
                self.states = set(states_node.value)
            elif states_node.is_map or states_node.is_null:
                self.error(states_node.loc, "bad-value", "states must list at least one state")
            else:
                self.error(
                    states_node.loc,
                    "wrong-type",
                    f"states must be a mapping of state name to state, got {states_node.describe()}",
                )
        initial = self.state_ref(n, "initial") if (n := get("initial")) else None

        sc = m.Scenario(
            name=name or "", initial=initial or "", states={}, path=self.file, loc=root.loc
        )
        if (n := get("description")) is not None and not n.is_null:
            sc.description = self.string(n, "description", empty_ok=True)
        if (n := get("conversation")) is not None:
            sc.conversation = self.conversation(n)
        if (n := get("vars")) is not None:
            sc.vars = self.plain_map(n, "vars") or {}
        if (n := get("timeout")) is not None:
            sc.timeout = self.duration(n, "timeout", positive=True) or m.DEFAULT_RUN_TIMEOUT
        if (n := get("final_wait")) is not None:
            final_wait = self.duration(n, "final_wait")
            sc.final_wait = m.DEFAULT_FINAL_WAIT if final_wait is None else final_wait
        sc.any = self.each(get("any"), "any", lambda t, i: self.transition(t, f"any[{i}]"))
        if states_node is not None and states_node.is_map:
            for state_name, body in states_node.value.items():
                state = self.state(state_name, body, states_node.key_loc(state_name))
                if state is not None:
                    sc.states[state_name] = state
        sc.rehearsals = self.rehearsals(get("rehearsals"))
        self.sent_warnings()
        return sc

    def version(self, node: Node | None) -> None:
        if node is None:
            return
        if node.is_scalar and node.value in (1, "1") and not isinstance(node.value, bool):
            return
        self.error(
            node.loc,
            "bad-value",
            f"unsupported format version {node.text if node.is_scalar else node.describe()}: "
            f"this cviscript reads 'cviscript: {SUPPORTED_VERSION}'",
        )

    def plain_map(self, node: Node, what: str) -> dict[str, Any] | None:
        if node.is_null:
            return {}
        if not node.is_map:
            self.error(node.loc, "wrong-type", f"{what} must be a mapping, got {node.describe()}")
            return None
        return node.plain()

    def conversation(self, node: Node) -> m.ConversationSettings:
        cs = m.ConversationSettings(loc=node.loc)
        if node.is_null or not self.shape(node, "conversation", S.CONVERSATION):
            return cs
        for key in ("url", "id", "token"):
            if (n := node.get(key)) is not None and not n.is_null:
                setattr(cs, key, self.text(n, f"conversation.{key}"))
        if (n := node.get("create")) is not None and not n.is_null:
            cs.create = self.create(n)
        if (n := node.get("context_spelling")) is not None:
            cs.context_spelling = (
                self.choice(n, "conversation.context_spelling", S.CONTEXT_SPELLINGS)
                or "llm_context"
            )
        for first, second in S.CONVERSATION.exclusive:
            if first not in node.value or second not in node.value:
                continue
            self.error(
                node.key_loc(second),
                "bad-value",
                "conversation: give either url (join an existing conversation) or create (start one), not both",
            )
        return cs

    def create(self, node: Node) -> dict[str, Any] | None:
        if not self.shape(node, "conversation.create", S.CREATE):
            return None
        out: dict[str, Any] = {}
        for key, n in node.value.items():
            if key not in S.CREATE.fields or n.is_null:
                continue
            what = f"conversation.create.{key}"
            field = S.CREATE.fields[key].spec
            if isinstance(field, S.Bool):
                out[key] = self.leaf(n, what, field)
            elif key == "properties":
                if n.is_map:
                    out[key] = self.tree(n)
                else:
                    self.error(n.loc, "wrong-type", f"{what} must be a mapping, got {n.describe()}")
            else:
                out[key] = self.text(n, what)
        return out

    # ------------------------------------------------------------------------------------ states

    def state(self, name: str, node: Node, key_loc: m.Location) -> m.State | None:
        state = m.State(name=name, loc=key_loc)
        what = f"state '{name}'"
        if not name.strip():
            self.error(key_loc, "bad-value", "a state name must not be empty")
        if node.is_null:
            return state
        if not self.shape(node, what, S.STATE):
            return None
        if (n := node.get("enter")) is not None:
            state.enter = self.actions(n, f"{what} enter")
        if (n := node.get("exit")) is not None:
            state.exit = self.actions(n, f"{what} exit")
        if (n := node.get("final")) is not None:
            state.final = bool(self.boolean(n, f"{what} final"))
        if (n := node.get("description")) is not None and not n.is_null:
            self.string(n, f"{what} description", empty_ok=True)
        state.on = self.each(
            node.get("on"), f"{what} on", lambda t, i: self.transition(t, f"{name}.on[{i}]")
        )
        return state

    def transition(self, node: Node, tid: str) -> m.Transition | None:
        what = f"transition {tid}"
        if not self.shape(node, what, S.TRANSITION):
            return None
        unknown = any(k not in TRANSITION_KEYS for k in node.value)
        trigger = self.trigger(node, what, TRIGGERS, quiet_if_none=unknown)
        t = m.Transition(id=tid, trigger=trigger, loc=node.loc)  # type: ignore[arg-type]
        if (n := node.get("when")) is not None:
            source = self.string(n, f"{what} when")
            if source is not None:
                try:
                    t.when = compile_expr(source, n.loc, names=CONTEXT_NAMES)
                except TemplateCompileError as e:
                    self.error(e.loc or n.loc, "bad-template", f"{what} when: {e.message}")
        if (n := node.get("do")) is not None:
            t.do = self.actions(n, f"{what} do")
        if (n := node.get("goto")) is not None and not n.is_null:
            t.goto = self.state_ref(n, f"{what} goto")
        elif (
            trigger is not None and not t.do and "do" not in node.value and "goto" not in node.value
        ):
            self.warn(node.loc, "no-effect", f"{what} has neither goto nor do: it does nothing")
        return t if trigger is not None else None

    def trigger(
        self, node: Node, what: str, keys: tuple[str, ...], *, quiet_if_none: bool = False
    ) -> m.UserTrigger | None:
        """The one trigger among `keys` in mapping `node` (a transition, or a user rule's `on`)."""
        found = [k for k in keys if k in node.value]
        if len(found) != 1:
            names = ", ".join(keys[:-1]) + f" or {keys[-1]}"
            if found:
                self.error(
                    node.key_loc(found[1]),
                    "trigger-count",
                    f"{what} has {len(found)} triggers ({', '.join(found)}); it takes exactly one of "
                    f"{names} — split it into separate transitions",
                )
            elif not quiet_if_none:
                self.error(node.loc, "trigger-count", f"{what} needs a trigger: one of {names}")
            return None
        key = found[0]
        value = node.value[key]
        where = node.get("where")
        if where is not None and key != "event":
            self.error(
                node.key_loc("where"),
                "bad-value",
                f"{what}: 'where' only applies to an 'event' trigger",
            )
        loc = node.key_loc(key)
        label = f"{what} {key}"
        if key == "utterance":
            return self.utterance(value, label, loc)
        if key == "event":
            name = self.event_name(value, label)
            fields: dict[str, Any] = {}
            if where is not None and not where.is_null:
                fields = self.plain_map(where, f"{what} where") or {}
            return None if name is None else m.EventTrigger(name=name, where=fields, loc=loc)
        if key == "tool_call":
            spec = self.tool_call(value, label, names=())
            if spec is None:
                return None
            return m.ToolCallTrigger(name=spec.name, arguments=spec.arguments, loc=loc)
        if key == "perception":
            return self.perception(value, label, loc)
        if key == "after":
            seconds = self.duration(value, label)
            return None if seconds is None else m.AfterTrigger(seconds=seconds, loc=loc)
        if key == "state":
            state = self.state_ref(value, label)
            return None if state is None else m.StateTrigger(state=state, loc=loc)
        seconds = self.duration(value, label)  # "at"
        return None if seconds is None else m.AtTrigger(seconds=seconds, loc=loc)

    def utterance(self, node: Node, what: str, loc: m.Location) -> m.UtteranceTrigger | None:
        if node.is_scalar and isinstance(node.value, str):
            pattern = self.regex(node, what)
            return None if pattern is None else m.UtteranceTrigger(match=pattern, loc=loc)
        if node.is_null or not node.is_map:
            self.error(
                node.loc,
                "wrong-type",
                f"{what} must be a regex string or a mapping {{role, match, contains, equals}}, got {node.describe()}",
            )
            return None
        self.shape(node, what, S.UTTERANCE)
        trig = m.UtteranceTrigger(loc=loc)
        ok = True
        if (n := node.get("role")) is not None:
            role = self.choice(n, f"{what} role", S.ROLES)
            ok &= role is not None
            trig.role = role or "user"  # type: ignore[assignment]
        if (n := node.get("match")) is not None:
            trig.match = self.regex(n, f"{what} match")
            ok &= trig.match is not None
        if (n := node.get("contains")) is not None:
            words = self.string_list(n, f"{what} contains")
            if words is not None and not words:
                self.error(n.loc, "bad-value", f"{what} contains must list at least one string")
            ok &= bool(words)
            trig.contains = tuple(w.lower() for w in words or ())
        if (n := node.get("equals")) is not None:
            equals = self.string(n, f"{what} equals", empty_ok=True)
            ok &= equals is not None
            trig.equals = None if equals is None else equals.strip().lower()
        return trig if ok else None

    def perception(self, node: Node, what: str, loc: m.Location) -> m.PerceptionTrigger | None:
        if node.is_scalar and isinstance(node.value, str):
            pattern = self.regex(node, what)
            return None if pattern is None else m.PerceptionTrigger(match=pattern, loc=loc)
        if not node.is_map:
            self.error(
                node.loc,
                "wrong-type",
                f"{what} must be a regex string or a mapping {{match}}, got {node.describe()}",
            )
            return None
        self.shape(node, what, S.PERCEPTION)
        trig = m.PerceptionTrigger(loc=loc)
        if (n := node.get("match")) is not None:
            trig.match = self.regex(n, f"{what} match")
            if trig.match is None:
                return None
        return trig

    def tool_call(
        self, node: Node, what: str, names: Iterable[str] | None
    ) -> m.ToolCallSpec | None:
        """`NAME` or `{name, arguments}`. `names=()`: arguments are plain values (trigger matching);
        otherwise string arguments become templates (the simulator renders them)."""
        if node.is_scalar and isinstance(node.value, str):
            name = self.string(node, f"{what} name")
            return None if name is None else m.ToolCallSpec(name=name.strip(), loc=node.loc)
        if not self.shape(node, what, S.TOOL_CALL):
            return None
        name = self.string(n, f"{what} name") if (n := node.get("name")) else None
        arguments: dict[str, Any] = {}
        if (n := node.get("arguments")) is not None and not n.is_null:
            if not n.is_map:
                self.error(
                    n.loc, "wrong-type", f"{what} arguments must be a mapping, got {n.describe()}"
                )
                return None
            arguments = n.plain() if names == () else self.tree(n, names)
        return (
            None
            if name is None
            else m.ToolCallSpec(name=name.strip(), arguments=arguments, loc=node.loc)
        )

    # ----------------------------------------------------------------------------------- actions

    def actions(self, node: Node, what: str) -> list[m.Action]:
        if node.is_null:
            return []
        items = node.value if node.is_seq else [node]  # one action instead of a list is fine
        out = []
        for i, item in enumerate(items):
            action = self.action(item, f"{what}[{i}]" if node.is_seq else what)
            if action is not None:
                out.append(action)
        return out

    def action(self, node: Node, what: str) -> m.Action | None:
        if node.is_scalar and isinstance(node.value, str):
            word = node.value.strip()
            if word in BARE_ACTIONS:
                return self.bare(word, None, node.loc, what)
            if word in ACTIONS:
                self.error(node.loc, "bad-value", f"action '{word}' needs a value ({word}: ...)")
            else:
                self.unknown_action(word, node.loc)
            return None
        if not node.is_map:
            self.error(
                node.loc,
                "wrong-type",
                f"{what}: an action is a word or a one-key mapping like 'echo: TEXT', got {node.describe()}",
            )
            return None
        if len(node.value) != 1:
            keys = list(node.value)
            if not keys:
                self.error(node.loc, "bad-value", f"{what}: empty action")
                return None
            stray = [k for k in keys if k in TRANSITION_KEYS and k not in ACTIONS]
            hint = (
                f" ('{stray[0]}' belongs to the transition, not to an action: un-indent it)"
                if stray
                else "; write each action as its own list item"
            )
            self.error(
                node.key_loc(keys[1]),
                "bad-value",
                f"{what}: an action has exactly one key, found {', '.join(keys)}{hint}",
            )
            return None
        ((key, value),) = node.value.items()
        loc = node.key_loc(key)
        if key not in ACTIONS:
            self.unknown_action(key, loc)
            return None
        label = f"{key}"
        if key in BARE_ACTIONS:
            return self.bare(key, value, loc, label)
        if key == "echo":
            return self.echo(value, loc)
        if key in ("respond", "overwrite_context", "append_context", "log"):
            text = self.text(value, label)
            cls = {
                "respond": m.Respond,
                "overwrite_context": m.OverwriteContext,
                "append_context": m.AppendContext,
                "log": m.Log,
            }[key]
            return None if text is None else cls(text=text, loc=loc)
        if key == "sensitivity":
            return self.sensitivity(value, loc)
        if key == "tool_result":
            return self.tool_result(value, loc)
        if key == "set":
            return self.set_vars(value, loc)
        return self.send(value, loc)

    def unknown_action(self, word: str, loc: m.Location) -> None:
        hint = did_you_mean(word, ACTIONS) or f"; actions are: {', '.join(ACTIONS)}"
        self.error(loc, "unknown-action", f"unknown action '{word}'{hint}")

    def bare(self, key: str, value: Node | None, loc: m.Location, what: str) -> m.Action | None:
        if key == "fail":
            if value is None or value.is_null:
                return m.Fail(reason=m.Text("failed", loc), loc=loc)
            reason = self.text(value, what)
            return None if reason is None else m.Fail(reason=reason, loc=loc)
        if value is not None and not value.is_null and value.value is not True:
            self.error(
                value.loc, "bad-value", f"action '{key}' takes no value (write just '- {key}')"
            )
            return None
        return m.Interrupt(loc=loc) if key == "interrupt" else m.End(loc=loc)

    def echo(self, node: Node, loc: m.Location) -> m.Action | None:
        if not node.is_map:
            text = self.text(node, "echo")
            return None if text is None else m.Echo(text=text, loc=loc)
        self.shape(node, "echo", S.ECHO)
        if len([k for k in S.ECHO.exactly_one if k in node.value]) != 1:
            self.error(node.loc, "bad-value", "echo takes either text or {audio: PATH}")
            return None
        if (n := node.get("text")) is not None:
            text = self.text(n, "echo text")
            return None if text is None else m.Echo(text=text, loc=loc)
        n = node.value["audio"]
        path = self.path(n, "echo audio")
        if path is not None and not self.check_wav(path, n.loc):
            return None
        return None if path is None else m.EchoAudio(path=path, loc=loc)

    def check_wav(self, path: str, loc: m.Location) -> bool:
        from ..audio import inspect_wav

        try:
            inspect_wav(path)
        except CviscriptError as e:
            self.error(loc, "bad-value", f"echo audio: {e}")
            return False
        return True

    def sensitivity(self, node: Node, loc: m.Location) -> m.Sensitivity | None:
        if not self.shape(node, "sensitivity", S.SENSITIVITY):
            return None
        if not node.value:
            self.error(node.loc, "missing-key", "sensitivity needs pause, interrupt or both")
            return None
        s = m.Sensitivity(loc=loc)
        ok = True
        for key, field in S.SENSITIVITY.fields.items():
            if (n := node.get(key)) is not None:
                level = self.leaf(n, f"sensitivity {key}", field.spec)
                ok &= level is not None
                setattr(s, key, level)
        return s if ok else None

    def tool_result(self, node: Node, loc: m.Location) -> m.ToolResult | None:
        if not node.is_map:
            output = self.text(node, "tool_result")
            return None if output is None else m.ToolResult(output=output, loc=loc)
        if not self.shape(node, "tool_result", S.TOOL_RESULT):
            return None
        result = m.ToolResult(
            output=self.tree(node.value["output"]) if "output" in node.value else None, loc=loc
        )
        if (n := node.get("status")) is not None and not n.is_null:
            source = self.string(n, "tool_result status")
            if (
                source is not None
                and not has_markup(source)
                and source not in S.TOOL_RESULT_STATUSES
            ):
                self.error(
                    n.loc,
                    "bad-value",
                    f"tool_result status must be success or error (or a template), got {source!r}{did_you_mean(source, S.TOOL_RESULT_STATUSES)}",
                )
                return None
            result.status = None if source is None else self.compile(source, n.loc, CONTEXT_NAMES)
        return result

    def set_vars(self, node: Node, loc: m.Location) -> m.SetVars | None:
        if not node.is_map or not node.value:
            self.error(
                node.loc,
                "wrong-type",
                f"set takes a mapping of variable names to values, got {node.describe()}",
            )
            return None
        return m.SetVars(values={k: self.tree(v) for k, v in node.value.items()}, loc=loc)

    def send(self, node: Node, loc: m.Location) -> m.Send | None:
        if not self.shape(node, "send", S.SEND):
            return None
        event_type = self.string(n, "send event_type") if (n := node.get("event_type")) else None
        properties: dict[str, Any] = {}
        if (n := node.get("properties")) is not None and not n.is_null:
            if not n.is_map:
                self.error(
                    n.loc, "wrong-type", f"send properties must be a mapping, got {n.describe()}"
                )
                return None
            properties = self.tree(n)
        if event_type is None:
            return None
        event_type = _event_type(event_type.strip())
        self.sent_types.add(event_type)
        return m.Send(event_type=event_type, properties=properties, loc=loc)

    # -------------------------------------------------------------------------------- rehearsals

    def rehearsals(self, node: Node | None) -> list[m.Rehearsal]:
        out = self.each(node, "rehearsals", lambda r, i: self.rehearsal(r, i))
        seen: dict[str, m.Rehearsal] = {}
        for r in out:
            if r.name in seen:
                first = seen[r.name].loc
                where = f" (first at line {first.line})" if first else ""
                self.error(r.loc, "duplicate-name", f"two rehearsals are named '{r.name}'{where}")
            seen.setdefault(r.name, r)
        return out

    def rehearsal(self, node: Node, index: int) -> m.Rehearsal | None:
        what = f"rehearsals[{index}]"
        if not self.shape(node, what, S.REHEARSAL):
            return None
        name = self.string(n, f"{what} name") if (n := node.get("name")) else None
        if name is not None:
            what = f"rehearsal '{name}'"
        r = m.Rehearsal(name=name or what, loc=node.loc)
        r.user = self.each(
            node.get("user"), f"{what} user", lambda u, i: self.user_rule(u, f"{what} user[{i}]")
        )
        r.persona = self.each(
            node.get("persona"),
            f"{what} persona",
            lambda p, i: self.persona_rule(p, f"{what} persona[{i}]"),
        )
        if (n := node.get("replica")) is not None and not n.is_null:
            r.replica = self.replica(n, f"{what} replica")
        if (n := node.get("faults")) is not None and not n.is_null:
            r.faults = self.faults(n, f"{what} faults")
        if (n := node.get("seed")) is not None:
            r.seed = self.integer(n, f"{what} seed") or 0
        if (n := node.get("description")) is not None and not n.is_null:
            self.string(n, f"{what} description", empty_ok=True)
        if (n := node.get("vars")) is not None:
            r.vars = self.plain_map(n, f"{what} vars") or {}
        if (n := node.get("replay")) is not None:
            r.replay = self.path(n, f"{what} replay")
        if (n := node.get("expect")) is not None and not n.is_null:
            r.expect = self.expect(n, f"{what} expect")
        return r if name is not None else None

    def user_rule(self, node: Node, what: str) -> m.UserRule | None:
        if not self.shape(node, what, S.USER_RULE):
            return None
        on_node = node.get("on")
        trigger: m.UserTrigger | None = None
        if on_node is not None:
            if on_node.is_scalar and isinstance(on_node.value, str):
                state = self.state_ref(on_node, f"{what} on")
                trigger = None if state is None else m.StateTrigger(state=state, loc=on_node.loc)
            elif self.shape(on_node, f"{what} on", S.USER_ON):
                unknown = any(k not in S.USER_ON.fields for k in on_node.value)
                trigger = self.trigger(on_node, f"{what} on", USER_TRIGGERS, quiet_if_none=unknown)
        rule = m.UserRule(on=trigger, loc=node.loc)  # type: ignore[arg-type]
        does = [
            k
            for k in USER_DOES
            if k in node.value
            and not (k in S.USER_RULE.counts_if_true and node.value[k].value is False)
        ]
        if len(does) != 1:
            if does:
                self.error(
                    node.key_loc(does[1]),
                    "bad-value",
                    f"{what} does {len(does)} things ({', '.join(does)}); a rule does exactly one of say, perceive, interrupt, tool_call",
                )
            elif all(
                k in S.USER_RULE.fields for k in node.value
            ):  # else a misspelt key was reported
                self.error(
                    node.loc,
                    "missing-key",
                    f"{what} needs one of say, perceive, interrupt: true, tool_call",
                )
            return None
        ok = trigger is not None
        if (n := node.get("say")) is not None:
            rule.say = self.text(n, f"{what} say", names=None)
            ok &= rule.say is not None
        if (n := node.get("perceive")) is not None:
            rule.perceive = self.text(n, f"{what} perceive", names=None)
            ok &= rule.perceive is not None
        if (n := node.get("interrupt")) is not None:
            rule.interrupt = bool(self.boolean(n, f"{what} interrupt"))
        if (n := node.get("tool_call")) is not None:
            rule.tool_call = self.tool_call(n, f"{what} tool_call", names=None)
            ok &= rule.tool_call is not None
        if (n := node.get("barge_in")) is not None:
            rule.barge_in = bool(self.boolean(n, f"{what} barge_in"))
        if (n := node.get("times")) is not None:
            times = self.integer(n, f"{what} times (0 = unlimited)", minimum=0)
            rule.times = 1 if times is None else times
        if (n := node.get("delay")) is not None:
            rule.delay = self.duration(n, f"{what} delay") or 0.0
        return rule if ok else None

    def persona_rule(self, node: Node, what: str) -> m.PersonaRule | None:
        if not self.shape(node, what, S.PERSONA_RULE):
            return None
        if not any(k in node.value for k in S.PERSONA_RULE.at_least_one):
            self.error(node.loc, "missing-key", f"{what} needs say, tool_call or both")
            return None
        pattern = self.regex(n, f"{what} match") if (n := node.get("match")) else None
        rule = m.PersonaRule(match=pattern, loc=node.loc)  # type: ignore[arg-type]
        ok = pattern is not None
        if (n := node.get("say")) is not None:
            rule.say = self.text(n, f"{what} say", names=None)
            ok &= rule.say is not None
        if (n := node.get("tool_call")) is not None:
            rule.tool_call = self.tool_call(n, f"{what} tool_call", names=None)
            ok &= rule.tool_call is not None
        return rule if ok else None

    def replica(self, node: Node, what: str) -> m.ReplicaSettings:
        rs = m.ReplicaSettings(loc=node.loc)
        if not self.shape(node, what, S.REPLICA):
            return rs
        for key, n in node.value.items():
            field = S.REPLICA.fields.get(key)
            if field is None or (field.nullable and n.is_null):
                continue
            value = self.leaf(n, f"{what} {key}", field.spec)
            if value is not None:
                setattr(rs, key, value)
        return rs

    def faults(self, node: Node, what: str) -> m.Faults:
        f = m.Faults(loc=node.loc)
        if not self.shape(node, what, S.FAULTS):
            return f
        for key, n in node.value.items():
            label = f"{what} {key}"
            field = S.FAULTS.fields.get(key)
            if field is None:
                continue
            if key != "only":
                value: Any = self.leaf(n, label, field.spec)
            else:
                items = [n] if n.is_scalar else n.value if n.is_seq else None
                if items is None:
                    self.error(
                        n.loc,
                        "wrong-type",
                        f"{label} must be a list of event names, got {n.describe()}",
                    )
                    continue
                names = [self.event_name(item, label) for item in items]
                value = None if None in names else tuple(names)
            if value is not None:
                setattr(f, key, value)
        return f

    def expect(self, node: Node, what: str) -> m.Expect:
        e = m.Expect(loc=node.loc)
        if not self.shape(node, what, S.EXPECT):
            return e
        for key, n in node.value.items():
            if key not in S.EXPECT.fields:
                continue
            e.locs[key] = node.key_loc(key)
            label = f"{what} {key}"
            if key == "path":
                names = self.string_list(n, label)
                if names is not None:
                    items = [n] if n.is_scalar else n.value
                    refs = [self.state_ref(item, label) for item in items]
                    e.path = None if None in refs else refs  # type: ignore[assignment]
            elif key == "final":
                e.final = self.state_ref(n, label)
            elif key == "outcome":
                e.outcome = self.choice(n, label, OUTCOMES)  # type: ignore[assignment]
            elif key == "said":
                e.said = self.string_list(n, label)
            elif key in ("sent", "not_sent"):
                names = self.string_list(n, label)
                if names is not None:
                    types = [_event_type(s.strip()) for s in names]
                    setattr(e, key, types)
                    self.check_sent(n, types, label)
            elif key == "vars":
                e.vars = self.plain_map(n, label)
            elif key == "duration":
                if n.is_map:
                    self.shape(n, label, S.DURATION_MAX)
                    if (mx := n.get("max")) is not None:
                        e.duration_max = self.duration(mx, f"{label} max")
                else:
                    e.duration_max = self.duration(n, label)
        return e

    def check_sent(self, node: Node, names: list[str], what: str) -> None:
        items = [node] if node.is_scalar else node.value
        self.expected_sent.extend(
            (item.loc, name, what) for item, name in zip(items, names, strict=True)
        )

    # ----------------------------------------------------------------------------------- warnings

    def sent_warnings(self) -> None:
        for loc, name, what in self.expected_sent:
            if name not in self.sent_types:
                self.warn(
                    loc,
                    "unknown-interaction",
                    f"{what}: nothing in this scenario sends '{name}'{did_you_mean(name, sorted(self.sent_types))}",
                )
