"""Validating states and transitions: entry/exit actions, `final`, and each transition's one
trigger (utterance, event, tool_call, perception, after, manual; for user rules also state and at), its
`when` guard, `do` actions and `goto` target."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from ..errors import did_you_mean
from ..protocol import event_fields
from . import model as m
from . import spec as S
from .loader import Node
from .templates import CONTEXT_NAMES, TemplateCompileError, compile_expr, has_markup
from .validate_base import Checks

# What may answer a tool call: the tool_call trigger, and an event trigger on the tool call event.
_TOOL_CALL_EVENTS = ("tool_call", "conversation.tool_call")
_MANUAL_NAME = re.compile(S.MANUAL_NAME_PATTERN)


def answers_tool_calls(trigger: m.UserTrigger) -> bool:
    if isinstance(trigger, m.ToolCallTrigger):
        return True
    return isinstance(trigger, m.EventTrigger) and trigger.name in _TOOL_CALL_EVENTS


def trigger_word(trigger: m.UserTrigger) -> str:
    """How a message names the kind of trigger: "an after: timer", "an utterance" ..."""
    return {
        m.UtteranceTrigger: "an utterance",
        m.EventTrigger: f"a '{getattr(trigger, 'name', '')}' event",
        m.PerceptionTrigger: "a perception",
        m.AfterTrigger: "an after: timer",
        m.ManualTrigger: "an operator (manual:)",
    }.get(type(trigger), "a trigger other than a tool call")


TRIGGERS = S.TRIGGERS
TRANSITION_KEYS = S.TRANSITION.keys


def state_names(states: Node, prefix: str = "") -> dict[str, m.Location]:
    """Every state's full dotted name (compound states' children included), with where it is
    written; a name already taken keeps its first place (the clash is reported by `states`)."""
    out: dict[str, m.Location] = {}
    if not states.is_map:
        return out
    for key, body in states.value.items():
        full = prefix + key
        out.setdefault(full, states.key_loc(key))
        inner = body.get("states") if body.is_map else None
        if inner is not None:
            for name, loc in state_names(inner, full + ".").items():
                out.setdefault(name, loc)
    return out


class StateChecks(Checks):
    def states_into(
        self, states: Node, into: dict[str, m.State], parent: str | None = None
    ) -> list[str]:
        """Validate the states of mapping `states` (the top level, or a compound state's) into
        `into` under their full names, parents before their children; their full names."""
        names = []
        for key, body in states.value.items():
            full = key if parent is None else f"{parent}.{key}"
            if full in into:
                self.error(
                    states.key_loc(key),
                    "duplicate-state",
                    f"state '{full}' is defined twice (first at {into[full].loc})",
                )
                continue
            state = self.state(full, body, states.key_loc(key), parent=parent, into=into)
            if state is not None:
                names.append(full)
        return names

    def state(
        self,
        name: str,
        node: Node,
        key_loc: m.Location,
        *,
        parent: str | None = None,
        into: dict[str, m.State] | None = None,
    ) -> m.State | None:
        state = m.State(name=name, loc=key_loc, parent=parent)
        what = f"state '{name}'"
        short = name.rsplit(".", 1)[-1] if parent else name
        if not short.strip():
            self.error(key_loc, "bad-value", "a state name must not be empty")
        if into is not None:
            into[name] = state  # parents before children, so file order is kept
        if node.is_null:
            return state
        if not self.shape(node, what, S.STATE):
            if into is not None:
                del into[name]
            return None
        self.scope = name
        if (n := node.get("states")) is not None and not n.is_null and into is not None:
            if not n.is_map or not n.value:
                self.error(
                    n.loc, "bad-value", f"{what} states must be a mapping of at least one state"
                )
            else:
                state.children = self.states_into(n, into, parent=name)
                state.initial = self.child_initial(node, state, what)
                if (f := node.get("final")) is not None and f.value is True:
                    self.error(
                        node.key_loc("final"),
                        "bad-value",
                        f"{what} is compound (it has states:): it cannot be final; make one of "
                        "its states final",
                    )
        self.scope = name
        if (n := node.get("enter")) is not None:
            state.enter = self.actions(n, f"{what} enter")
            self.tool_result_misplaced(state.enter, f"{what} enter")
        if (n := node.get("exit")) is not None:
            state.exit = self.actions(n, f"{what} exit")
            self.tool_result_misplaced(state.exit, f"{what} exit")
        if (n := node.get("final")) is not None:
            state.final = bool(self.boolean(n, f"{what} final"))
        if (n := node.get("description")) is not None and not n.is_null:
            self.string(n, f"{what} description", empty_ok=True)
        state.on = self.each(
            node.get("on"), f"{what} on", lambda t, i: self.transition(t, f"{name}.on[{i}]")
        )
        self.scope = None
        return state

    def child_initial(self, node: Node, state: m.State, what: str) -> str | None:
        """A compound state's `initial:` (a child's short or full name); required."""
        n = node.get("initial")
        if n is None:
            self.error(
                node.key_loc("states"),
                "missing-key",
                f"{what} has states: but no initial: (which of them comes first: "
                f"{', '.join(c.rsplit('.', 1)[-1] for c in state.children)})",
            )
            return None
        short = self.string(n, f"{what} initial")
        if short is None:
            return None
        for candidate in (f"{state.name}.{short}", short):
            if candidate in state.children:
                return candidate
        shorts = [c.rsplit(".", 1)[-1] for c in state.children]
        self.error(
            n.loc,
            "unknown-state",
            f"{what} initial names '{short}', which is not one of its states"
            f"{did_you_mean(short, shorts)}",
        )
        return None

    def target_ref(self, node: Node, what: str) -> str | None:
        """A `goto:`/`resume:` target: a sibling (or, from a compound state, a child) by its
        short name, any state by its full dotted name. Names resolve from the innermost
        enclosing state outwards."""
        name = self.string(node, what)
        if name is None:
            return None
        scope = getattr(self, "scope", None)
        while scope:
            if f"{scope}.{name}" in self.states:
                return f"{scope}.{name}"
            scope = scope.rpartition(".")[0]
        if name in self.states or not self.states:
            return name
        known = set(self.states)
        scope = getattr(self, "scope", None)
        while scope:  # the short names visible from here, too
            known |= {s[len(scope) + 1 :] for s in self.states if s.startswith(scope + ".")}
            scope = scope.rpartition(".")[0]
        self.error(
            node.loc,
            "unknown-state",
            f"{what} names an unknown state '{name}'{did_you_mean(name, sorted(known))}",
        )
        return None

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
            if trigger is not None and not answers_tool_calls(trigger):
                self.tool_result_misplaced(t.do, f"{what}, which {trigger_word(trigger)} fires")
        if (n := node.get("goto")) is not None and not n.is_null:
            t.goto = self.target_ref(n, f"{what} goto")
        elif (
            trigger is not None
            and not t.do
            and "do" not in node.value
            and "goto" not in node.value
            and "resume" not in node.value
        ):
            self.warn(node.loc, "no-effect", f"{what} has neither goto nor do: it does nothing")
        if (n := node.get("resume")) is not None:
            if "goto" in node.value:
                self.error(
                    node.key_loc("resume"),
                    "bad-value",
                    f"{what} has both goto and resume: give one target",
                )
            else:
                t.resume = self.target_ref(n, f"{what} resume")
        return t if trigger is not None else None

    def tool_result_misplaced(self, actions: list[m.Action], where: str) -> None:
        """`tool_result` answers the tool call that fired the transition: anywhere no tool call
        can have fired it, it could only fail at run time, so it is an error now."""
        for action in actions:
            if isinstance(action, m.Call):
                self.tool_result_misplaced(action.then, where)
                if not action.answer:
                    continue
                self.error(
                    action.loc,
                    "tool-result-without-tool-call",
                    f"call with answer: true in {where}: no tool call can be waiting for its "
                    "result here; use it in the `do:` of a transition with a `tool_call:` trigger",
                )
            if isinstance(action, m.ToolResult):
                self.error(
                    action.loc,
                    "tool-result-without-tool-call",
                    f"tool_result in {where}: no tool call can be waiting for it here; answer a "
                    "tool call in the `do:` of a transition with a `tool_call:` trigger (or "
                    "`event: tool_call`)",
                )

    def trigger(
        self,
        node: Node,
        what: str,
        keys: tuple[str, ...],
        *,
        quiet_if_none: bool = False,
        templates: bool = True,
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
                if name is not None and where.is_map:
                    self.where_keys(where, name, f"{what} where")
            return None if name is None else m.EventTrigger(name=name, where=fields, loc=loc)
        if key == "tool_call":
            spec = self.tool_call(value, label, names=())
            if spec is None:
                return None
            return m.ToolCallTrigger(name=spec.name, arguments=spec.arguments, loc=loc)
        if key == "perception":
            return self.perception(value, label, loc)
        if key == "after":
            if (
                templates
                and value.is_scalar
                and isinstance(value.value, str)
                and has_markup(value.value)
            ):
                text = self.text(value, label)
                return None if text is None else m.AfterTrigger(0.0, loc=loc, template=text)
            seconds = self.duration(value, label)
            return None if seconds is None else m.AfterTrigger(seconds=seconds, loc=loc)
        if key == "manual":
            return self.manual(value, label, loc)
        if key == "state":
            state = self.state_ref(value, label)
            return None if state is None else m.StateTrigger(state=state, loc=loc)
        seconds = self.duration(value, label)  # "at"
        return None if seconds is None else m.AtTrigger(seconds=seconds, loc=loc)

    def manual(self, node: Node, what: str, loc: m.Location) -> m.ManualTrigger | None:
        name = self.string(node, what)
        if name is None:
            return None
        name = name.strip()
        if not _MANUAL_NAME.match(name):
            self.error(
                node.loc,
                "bad-value",
                f"{what}: {name[:80]!r} is not a manual name: use 1 to 64 letters, digits, '_', "
                "'-' or '.' (an operator types it, and it travels in a control URL)",
            )
            return None
        self.manual_names.add(name)
        return m.ManualTrigger(name=name, loc=loc)

    def where_keys(self, where: Node, event: str, what: str) -> None:
        """Each `where:` key must be a field that event has: a misspelt one never matches, and
        the transition would silently never fire."""
        allowed = event_fields(event)
        if allowed is None:  # an event cviscript does not know: its fields are not known either
            return
        for key in where.value:
            if key in allowed:
                continue
            hint = (
                did_you_mean(key, sorted(allowed))
                or f"; its fields are: {', '.join(sorted(allowed))}"
            )
            self.error(
                where.key_loc(key),
                "unknown-field",
                f"{what}: event '{event}' has no field '{key}', so this transition could never "
                f"fire{hint}",
            )

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
