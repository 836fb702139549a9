"""Validating rehearsals: the simulated user's rules, the persona (stand-in LLM), replica and
fault settings, and the expectations — plus the warning for `expect.sent` names that nothing in
the file sends (checked once every `send:` is known)."""

from __future__ import annotations

from typing import Any

from ..errors import CviscriptError, did_you_mean
from . import model as m
from . import spec as S
from .loader import Node
from .validate_base import Checks, full_event_type

USER_TRIGGERS = S.USER_TRIGGERS
USER_DOES = S.USER_DOES
OUTCOMES = S.OUTCOMES

# What a simulated visitor's or persona's text can name (see sessions/simulated/render.py): the
# groups of the regex that matched, the event or input it answers, and an empty `vars`.
SIMULATED_NAMES = ("groups", "event", "vars")


class RehearsalChecks(Checks):
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
        r.operator = self.each(
            node.get("operator"),
            f"{what} operator",
            lambda o, i: self.operator_rule(o, f"{what} operator[{i}]"),
        )
        r.persona = self.each(
            node.get("persona"),
            f"{what} persona",
            lambda p, i: self.persona_rule(p, f"{what} persona[{i}]"),
        )
        self.after_fallback(r.persona, f"{what} persona")
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
        if (n := node.get("hooks")) is not None:
            r.hooks = self.canned_hooks(n, f"{what} hooks")  # validate_actions
        if (n := node.get("replay")) is not None:
            r.replay = self.path(n, f"{what} replay")
        if (n := node.get("expect")) is not None and not n.is_null:
            r.expect = self.expect(n, f"{what} expect")
        return r if name is not None else None

    def rule_trigger(self, node: Node, what: str, spec: S.Obj) -> m.UserTrigger | None:
        """A user or operator rule's `on:` (or `at:` shorthand)."""
        on_node = node.get("on")
        trigger: m.UserTrigger | None = None
        if (at_node := node.get("at")) is not None:  # `at: 5s` is short for `on: {at: 5s}`
            if on_node is not None:
                self.error(
                    node.key_loc("at"),
                    "trigger-count",
                    f"{what} has both on and at; `at: DURATION` is short for `on: {{at: DURATION}}`"
                    " — keep one",
                )
                return None
            seconds = self.duration(at_node, f"{what} at")
            trigger = None if seconds is None else m.AtTrigger(seconds, loc=node.key_loc("at"))
        elif on_node is None:
            if all(k in spec.fields for k in node.value):  # else a misspelling was reported
                self.error(
                    node.loc,
                    "missing-key",
                    f"{what} needs `on:` (when it happens) or `at: DURATION` (time since the start)",
                )
        else:
            if on_node.is_scalar and isinstance(on_node.value, str):
                state = self.state_ref(on_node, f"{what} on")
                trigger = None if state is None else m.StateTrigger(state=state, loc=on_node.loc)
            elif self.shape(on_node, f"{what} on", S.USER_ON):
                unknown = any(k not in S.USER_ON.fields for k in on_node.value)
                trigger = self.trigger(
                    on_node, f"{what} on", USER_TRIGGERS, quiet_if_none=unknown, templates=False
                )
        return trigger

    def operator_rule(self, node: Node, what: str) -> m.OperatorRule | None:
        if not self.shape(node, what, S.OPERATOR_RULE):
            return None
        trigger = self.rule_trigger(node, what, S.OPERATOR_RULE)
        name = self.string(n, f"{what} fire") if (n := node.get("fire")) is not None else None
        if name is not None and n is not None:
            name = name.strip()
            if name not in self.manual_names:
                known = sorted(self.manual_names)
                hint = did_you_mean(name, known) or (
                    f"; its manual: names are {', '.join(known)}"
                    if known
                    else "; it has no manual: transition"
                )
                self.error(
                    n.loc,
                    "unknown-manual",
                    f"{what} fires '{name[:80]}', which no manual: trigger of this scenario "
                    f"names{hint}",
                )
                name = None
        if trigger is None or name is None:
            return None
        rule = m.OperatorRule(on=trigger, fire=name, loc=node.loc)
        if (n := node.get("times")) is not None:
            times = self.integer(n, f"{what} times (0 = unlimited)", minimum=0)
            rule.times = 1 if times is None else times
        if (n := node.get("delay")) is not None:
            rule.delay = self.duration(n, f"{what} delay") or 0.0
        return rule

    def user_rule(self, node: Node, what: str) -> m.UserRule | None:
        if not self.shape(node, what, S.USER_RULE):
            return None
        trigger = self.rule_trigger(node, what, S.USER_RULE)
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
            rule.say = self.text(n, f"{what} say", names=SIMULATED_NAMES)
            if rule.say is not None and "\x00" in rule.say.source:
                # a NUL cannot be spoken (a synthesiser's command line cannot even carry it)
                self.error(n.loc, "bad-value", f"{what} say: contains a NUL character (\\0)")
                ok = False
            ok &= rule.say is not None
        if (n := node.get("perceive")) is not None:
            rule.perceive = self.text(n, f"{what} perceive", names=SIMULATED_NAMES)
            ok &= rule.perceive is not None
        if (n := node.get("interrupt")) is not None:
            rule.interrupt = bool(self.boolean(n, f"{what} interrupt"))
        if (n := node.get("tool_call")) is not None:
            rule.tool_call = self.tool_call(n, f"{what} tool_call", names=SIMULATED_NAMES)
            ok &= rule.tool_call is not None
        if (n := node.get("barge_in")) is not None:
            rule.barge_in = bool(self.boolean(n, f"{what} barge_in"))
        if (n := node.get("voice")) is not None:
            if rule.say is None:
                self.error(n.loc, "bad-value", f"{what} voice: needs say: (the words it speaks)")
                ok = False
            elif isinstance(n.value, str):
                rule.voice = n.value
                ok &= self.voice_file(n, what)
            else:
                rule.voice = bool(self.boolean(n, f"{what} voice (true or a WAV file)"))
        if (n := node.get("times")) is not None:
            times = self.integer(n, f"{what} times (0 = unlimited)", minimum=0)
            rule.times = 1 if times is None else times
        if (n := node.get("delay")) is not None:
            rule.delay = self.duration(n, f"{what} delay") or 0.0
        if trigger is not None:
            arguments = None if rule.tool_call is None else rule.tool_call.arguments
            self.event_fields_read(trigger, [rule.say, rule.perceive, arguments], what)
        return rule if ok else None

    def voice_file(self, node: Node, what: str) -> bool:
        """``voice: FILE``: the WAV must exist and be playable (`audio.inspect_wav`: the header
        checked against the file's size and sane bounds) — now, not after a conversation was
        created."""
        from ..audio import inspect_wav

        path = self.path(node, f"{what} voice")
        if path is None:
            return False
        try:
            inspect_wav(path, target_rate=16000)  # the microphone's rate (for the hint)
        except CviscriptError as e:
            self.error(node.loc, "bad-value", f"{what} voice: {e}")
            return False
        return True

    def persona_rule(self, node: Node, what: str) -> m.PersonaRule | None:
        if not self.shape(node, what, S.PERSONA_RULE):
            return None
        if not any(k in node.value for k in S.PERSONA_RULE.at_least_one):
            self.error(
                node.loc, "missing-key", f"{what} needs say, tool_call or complete_objective"
            )
            return None
        # no `match:` at all: the fallback answer, used when no earlier rule matched
        pattern = self.regex(n, f"{what} match") if (n := node.get("match")) else None
        rule = m.PersonaRule(match=pattern, loc=node.loc)
        ok = pattern is not None or "match" not in node.value
        if (n := node.get("say")) is not None:
            # `result` is the tool's output: there is one only when this rule calls a tool
            names = SIMULATED_NAMES + (("result",) if "tool_call" in node.value else ())
            rule.say = self.text(n, f"{what} say", names=names)
            ok &= rule.say is not None
        if (n := node.get("tool_call")) is not None:
            rule.tool_call = self.tool_call(n, f"{what} tool_call", names=SIMULATED_NAMES)
            ok &= rule.tool_call is not None
        if (n := node.get("complete_objective")) is not None:
            rule.complete_objective = self.complete_objective(
                n, f"{what} complete_objective", "tool_call" in node.value
            )
            ok &= rule.complete_objective is not None
        return rule if ok else None

    def complete_objective(
        self, node: Node, what: str, after_tool: bool
    ) -> m.CompleteObjective | None:
        if not self.shape(node, what, S.COMPLETE_OBJECTIVE):
            return None
        name = self.string(n, f"{what} name") if (n := node.get("name")) else None
        if name is None:
            return None
        obj = m.CompleteObjective(name.strip(), loc=node.loc)
        n = node.get("output_variables")
        if n is not None and not n.is_null:
            if not n.is_map:
                self.error(n.loc, "wrong-type", f"{what} output_variables must be a mapping")
                return None
            names = SIMULATED_NAMES + (("result",) if after_tool else ())
            obj.output_variables = {str(k): self.tree(v, names) for k, v in n.value.items()}
        return obj

    def after_fallback(self, rules: list[m.PersonaRule], what: str) -> None:
        """A persona rule without `match:` answers everything: the rules after it never do."""
        fallback = next((i for i, r in enumerate(rules) if r.match is None), None)
        if fallback is None:
            return
        for rule in rules[fallback + 1 :]:
            first = rules[fallback].loc
            self.warn(
                rule.loc,
                "shadowed-persona-rule",
                f"{what}: this rule never answers — the rule without match: before it (line "
                f"{first.line if first else '?'}) answers everything; move the fallback last",
            )

    def replica(self, node: Node, what: str, *, profile: bool = False) -> m.ReplicaSettings:
        rs = m.ReplicaSettings(loc=node.loc)
        if not self.shape(node, what, S.REPLICA):
            return rs
        given = set()
        for key, n in node.value.items():
            field = S.REPLICA.fields.get(key)
            if field is None or (field.nullable and n.is_null):
                continue
            given.add(key)
            if key in ("persona_file", "profile"):
                if profile:
                    self.error(
                        n.loc, "bad-value", f"{what}: a profile holds replica settings, not {key}"
                    )
                else:
                    setattr(rs, key, self.path(n, f"{what} {key}"))
                    self.file_keys[key, getattr(rs, key)] = n.loc
                continue
            if key == "vintage":  # `vintage: 2024` is a number in YAML, "2024" a string
                value = n.value if n.is_scalar and not isinstance(n.value, bool) else None
                if str(value) in S.VINTAGES:
                    rs.vintage = str(value)  # type: ignore[assignment]
                else:
                    self.error(
                        n.loc,
                        "bad-value",
                        f"{what} vintage must be 2026 or 2024; got {n.describe()}",
                    )
                continue
            value = self.leaf(n, f"{what} {key}", field.spec)
            if value is not None:
                setattr(rs, key, value)
        rs.given = frozenset(given)
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
            elif key in ("said", "not_said"):
                setattr(e, key, self.string_list(n, label))
            elif key in ("sent", "not_sent"):
                names = self.string_list(n, label)
                if names is not None:
                    types = [full_event_type(s.strip()) for s in names]
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
