"""`after: DURATION` — the state has been active this long. Not matched against events: the
engine arms one timer per `after:` when the state is entered (`Scenario.timer_scope`), and an
expired timer fires only its own transition."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...errors import Location
from ..durations import fmt_seconds
from ..loader import Node
from ..spec_types import Duration, Spec
from ..templates import has_markup
from ..texts import Text
from .base import Reader, TriggerKind


@dataclass(slots=True)
class AfterTrigger:
    """`after: DURATION` — time since the state was (re-)entered.

    `template`: the duration written as a template (``after: "{{ vars.wait }}"``), rendered each
    time the state is entered; `seconds` is then its value with the scenario's own `vars` when
    that could be worked out at load time (else 0), for lints and diagrams."""

    seconds: float
    loc: Location | None = None
    template: Text | None = None


class After(TriggerKind):
    key = "after"
    model = AfterTrigger
    spec = Duration(
        "Fires when the state has been active this long (restarts on every entry); may be a "
        "template rendered when the state is entered ('{{ vars.wait }}').",
        template=True,
    )
    summary = "The state has been active this long (a timer armed on every entry)."
    timed = True
    matches_events = False

    @property
    def user_spec(self) -> Spec:
        return Duration("The scenario has been in its current state this long.")

    def parse(
        self, r: Reader, node: Node, what: str, loc: Location, parent: Node, *, templates: bool
    ) -> AfterTrigger | None:
        label = f"{what} after"
        if templates and node.is_scalar and isinstance(node.value, str) and has_markup(node.value):
            text = r.text(node, label)
            return None if text is None else AfterTrigger(0.0, loc=loc, template=text)
        seconds = r.duration(node, label)
        return None if seconds is None else AfterTrigger(seconds=seconds, loc=loc)

    def describe(self, trigger: AfterTrigger) -> str:
        if trigger.template is not None:
            return f"after {trigger.template.source}"
        return f"after {fmt_seconds(trigger.seconds)}"

    def word(self, trigger: Any) -> str:
        return "an after: timer"
