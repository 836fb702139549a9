"""`manual: NAME` — fired only by an operator (a key or the control interface of a live run, the
interactive prompt's /fire, a rehearsal's `operator:` rule); no event from the room can."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ...errors import Location
from ..loader import Node
from ..spec_types import Text
from .base import Reader, TriggerKind

# Typed at a prompt and sent in a control URL's path, so kept to safe characters.
MANUAL_NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
_MANUAL_NAME = re.compile(MANUAL_NAME_PATTERN)


@dataclass(slots=True)
class ManualTrigger:
    """`manual: NAME` — fires only when an operator fires NAME (a key, the control interface,
    the interactive prompt, or a rehearsal's `operator:` rule); no event from the room can."""

    name: str
    loc: Location | None = None


class Manual(TriggerKind):
    key = "manual"
    model = ManualTrigger
    spec = Text(
        "Fires only when an operator fires this name: a key or the control interface of a "
        "live run, the interactive prompt's /fire, or a rehearsal's operator: rule. Letters, "
        "digits, '_', '-' and '.'.",
        nonempty=True,
    )
    summary = "An operator fired this name (a key, the control interface, /fire, `operator:`)."
    in_user_rules = False
    operator = True
    matches_events = False

    def parse(
        self, r: Reader, node: Node, what: str, loc: Location, parent: Node, *, templates: bool
    ) -> ManualTrigger | None:
        label = f"{what} manual"
        name = r.string(node, label)
        if name is None:
            return None
        name = name.strip()
        if not _MANUAL_NAME.match(name):
            r.error(
                node.loc,
                "bad-value",
                f"{label}: {name[:80]!r} is not a manual name: use 1 to 64 letters, digits, '_', "
                "'-' or '.' (an operator types it, and it travels in a control URL)",
            )
            return None
        r.manual_names.add(name)
        return ManualTrigger(name=name, loc=loc)

    def describe(self, trigger: ManualTrigger) -> str:
        return f"manual {trigger.name}"

    def word(self, trigger: Any) -> str:
        return "an operator (manual:)"

    def covers(self, a: ManualTrigger, b: ManualTrigger) -> bool:
        return a.name == b.name
