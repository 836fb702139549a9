"""`objective: NAME` or `{name, status}` — a persona objective changed status.

Tavus reports a persona's objectives (its `/v2/objectives`) with
``conversation.objective.activated`` / ``.completed`` / ``.pending``, carrying
``properties.objective_name`` and ``properties.output_variables``; the normaliser names them
`objective.activated` / `objective.completed` / `objective.pending`. Templates under this trigger
read `event.objective_name`, `event.status` and `event.output_variables`
(``set: {budget: "{{ event.output_variables.budget }}"}``). `Scenario.objective_names()` lists
the names a scenario uses, so a persona can be checked for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...errors import Location
from ...protocol import OBJECTIVE_EVENTS, Event
from ..loader import Node
from ..spec_types import Enum, Obj, OneOf, Ref, Str, Text, f
from .base import NO_GROUPS, Groups, Reader, TriggerKind

STATUSES = tuple(OBJECTIVE_EVENTS.values())  # activated, completed, pending
_EVENT_OF = {status: name for name, status in OBJECTIVE_EVENTS.items()}


@dataclass(slots=True)
class ObjectiveTrigger:
    """`objective: NAME` (fires when it completes) or `{name, status}`."""

    name: str
    status: str = "completed"
    loc: Location | None = None


OBJECTIVE = Obj(
    {
        "name": f(Text("The objective's name (objective_name).", nonempty=True), required=True),
        "status": f(
            Enum(STATUSES, "Which change fires it: activated, completed (default), pending.")
        ),
    },
    "A persona objective by name, and the status change that fires the transition.",
)


def objective_name(event: Event) -> str | None:
    """The objective an `objective.*` event is about (``properties.objective_name``)."""
    name = event.properties.get("objective_name")
    return name.strip() if isinstance(name, str) else None


class Objective(TriggerKind):
    key = "objective"
    model = ObjectiveTrigger
    spec = OneOf(
        (Str("Shorthand: the objective's name; fires when it completes."), Ref("objective")),
        "Fires when a persona objective is activated, completed or pending "
        "(conversation.objective.*).",
    )
    defs = {"objective": OBJECTIVE}
    summary = (
        "A persona objective changed status (completed by default); the event has "
        "`objective_name`, `status`, `output_variables`."
    )
    events = tuple(OBJECTIVE_EVENTS)

    def parse(
        self, r: Reader, node: Node, what: str, loc: Location, parent: Node, *, templates: bool
    ) -> ObjectiveTrigger | None:
        what = f"{what} objective"
        if node.is_scalar and isinstance(node.value, str):
            name = r.string(node, what)
            if name is None:
                return None
            if not name.strip():
                r.error(node.loc, "bad-value", f"{what} must name an objective")
                return None
            return ObjectiveTrigger(name=name.strip(), loc=loc)
        if not node.is_map:
            r.error(
                node.loc,
                "wrong-type",
                f"{what} must be an objective's name or a mapping {{name, status}}, got "
                f"{node.describe()}",
            )
            return None
        if not r.shape(node, what, OBJECTIVE):
            return None
        n = node.get("name")
        name = None if n is None else r.string(n, f"{what} name")
        status = "completed"
        if (s := node.get("status")) is not None:
            status = r.choice(s, f"{what} status", STATUSES) or ""
        if not name or not name.strip() or not status:
            return None
        return ObjectiveTrigger(name=name.strip(), status=status, loc=loc)

    def fires_on(self, trigger: ObjectiveTrigger) -> tuple[str, ...]:
        return (_EVENT_OF[trigger.status],)

    def match(self, trigger: ObjectiveTrigger, event: Event) -> Groups | None:
        if OBJECTIVE_EVENTS.get(event.type) != trigger.status:
            return None
        return NO_GROUPS if objective_name(event) == trigger.name else None

    def describe(self, trigger: ObjectiveTrigger) -> str:
        status = "" if trigger.status == "completed" else f" {trigger.status}"
        return f"objective {trigger.name}{status}"

    def word(self, trigger: Any) -> str:
        return "an objective"

    def covers(self, a: ObjectiveTrigger, b: ObjectiveTrigger) -> bool:
        return a.name == b.name and a.status == b.status
