"""Validating states and transitions: entry/exit actions, `final`, and each transition's one
trigger (which its kind parses, `cviscript.language.triggers`), its `when` guard, `do` actions
and `goto` target."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..errors import did_you_mean
from . import model as m
from . import spec as S
from .loader import Node
from .template_reads import reads
from .templates import CONTEXT_NAMES, TemplateCompileError, compile_expr
from .triggers import KINDS, kind_of
from .validate_base import Checks


def answers_tool_calls(trigger: m.UserTrigger) -> bool:
    return kind_of(trigger).answers_tool_calls(trigger)


def trigger_word(trigger: m.UserTrigger) -> str:
    """How a message names the kind of trigger: "an after: timer", "an utterance" ..."""
    return kind_of(trigger).word(trigger)


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
            f"{what} names an unknown state '{name}'{did_you_mean(name, sorted(known))}"
            f"{self.unread_fragments_note()}",
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
        if trigger is not None:
            self.event_fields_read(trigger, [t.when, t.do], what)
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

    def event_fields_read(self, trigger: m.UserTrigger, sources: list[Any], what: str) -> None:
        """A template under `trigger` may read only the `event.*` fields its events have:
        anything else is undefined whenever it fires (an error mid-call). A read guarded with
        `| default(...)` or `is defined` is left alone: it says the field may be missing."""
        kind = kind_of(trigger)
        allowed = kind.template_fields(trigger)
        if allowed is None:  # a timer, an operator, a raw event type: the event is not known
            return
        seen: set[tuple[str, m.Location | None]] = set()
        found = reads([s for s in sources if s is not None], "event", skip_guarded=True)
        for name, loc in found:
            if name in allowed or (name, loc) in seen:
                continue
            seen.add((name, loc))
            fields = sorted(allowed)
            hint = did_you_mean(name, fields) or (
                f"; its events have: {', '.join(fields)}" if fields else "; no event fires it"
            )
            self.error(
                loc,
                "unknown-field",
                f"{what}: event.{name} is not a field of the events {kind.key}: "
                f"({kind.describe(trigger)}) fires on, so it is undefined whenever it fires"
                f"{hint}{' (the raw message is in event.properties)' if 'properties' in allowed else ''}",
            )

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
        for extra, (owner, _) in S.TRIGGER_EXTRA_KEYS.items():
            if extra in node.value and key != owner:
                self.error(
                    node.key_loc(extra),
                    "bad-value",
                    f"{what}: '{extra}' only applies to an '{owner}' trigger",
                )
        return KINDS[key].parse(
            self, node.value[key], what, node.key_loc(key), node, templates=templates
        )

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
