"""The persona: a stand-in for the LLM behind a full-pipeline Tavus replica (`persona:` rules).

In full pipeline mode a Tavus replica answers what the user says and what a client sends with
`conversation.respond` (protocol.md: "treated as if the user said it; goes through the LLM"). The
rehearsal replaces the LLM with rules: the first rule whose `match` is found in the input (or that has no `match`) answers,
either by saying something (`say`, which may use the regex's named groups as ``{{ groups.x }}``) or
by calling a tool (`tool_call`) and saying its `say` once the client's `tool_result` comes back,
with the output as ``{{ result }}``. No rule matches: `replica.default_reply` if set, else silence.

This module only decides; the replica model (`cviscript.sessions.replica_model`) times and emits.
"""

from __future__ import annotations

from typing import Any

from ...language.model import PersonaRule
from ..replica_model.persona import Answer
from . import render

__all__ = ["Answer", "Persona"]


class Persona:
    def __init__(self, rules: list[PersonaRule], default_reply: str | None = None):
        self.rules = list(rules)
        self.default_reply = default_reply

    def answer(self, text: str, event: dict[str, Any] | None = None) -> Answer | None:
        """The first matching rule's answer to `text` (user speech or a `respond`), or None."""
        for rule in self.rules:
            if rule.match is None:  # no `match:`: the fallback answer, it answers anything
                groups: dict[str, Any] = {}
            else:
                m = rule.match.search(text)
                if m is None:
                    continue
                groups = m.groupdict()
            ans = Answer(rule, groups, dict(event or {}))
            ctx = render.context(groups, ans.event)
            if rule.tool_call is not None:
                ans.tool_name = rule.tool_call.name
                ans.tool_arguments = render.render_value(rule.tool_call.arguments, ctx)
            elif rule.say is not None:
                ans.say = render.render_text(rule.say, ctx)
            if rule.complete_objective is not None:
                ans.objective = rule.complete_objective.name
                if rule.tool_call is None:
                    ans.objective_variables = render.render_value(
                        rule.complete_objective.output_variables, ctx
                    )
            return ans
        if self.default_reply:
            return Answer(None, {}, dict(event or {}), say=self.default_reply)
        return None

    def after_tool(self, answer: Answer, result: Any) -> str | None:
        """The reply once the tool's `output` is known (None: the rule says nothing)."""
        if answer.rule is None or answer.rule.say is None:
            return None
        ctx = render.context(answer.groups, answer.event, result=result)
        return render.render_text(answer.rule.say, ctx)

    def objective_after_tool(self, answer: Answer, result: Any) -> dict[str, Any]:
        """A tool rule's objective output variables, rendered once the result is known."""
        rule = answer.rule
        if rule is None or rule.complete_objective is None:
            return {}
        ctx = render.context(answer.groups, answer.event, result=result)
        return render.render_value(rule.complete_objective.output_variables, ctx)
