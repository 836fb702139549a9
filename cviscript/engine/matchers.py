"""What the engine feeds itself besides events: a timer's `Tick` and an operator's `Manual`, and
`match`, which asks a trigger's kind whether it matches an event.

The matching rules themselves live with each trigger kind (`cviscript.language.triggers`), used
by the engine for transitions and by the simulated user for its `on:` rules, so a rule that
passes rehearsal matches the same way live. Matching returns the regular expression's named
groups (`NO_GROUPS` when there are none) or ``None`` for no match; the groups become
``event.groups``. `after:` and `manual:` triggers match no event: an expired timer is a `Tick`
for exactly one transition, an operator's fire a `Manual` by name.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..language.triggers import NO_GROUPS, match

__all__ = ["NO_GROUPS", "Manual", "Tick", "match"]


@dataclass(slots=True, frozen=True)
class Tick:
    """A state timer expired: fires transition `transition_id` if the state entry `epoch` is current."""

    transition_id: str
    epoch: int


@dataclass(slots=True)
class Manual:
    """An operator fired `manual: name`; `fired` is set to the id of the transition it fired."""

    name: str
    fired: str | None = None
    processed: bool = False
