"""`utterance:` — a `conversation.utterance` by role, matched by regex / contains / equals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ...errors import Location
from ...protocol import Event
from ..loader import Node
from ..patterns import Pattern
from ..spec_types import Enum, ListOf, Obj, OneOf, Ref, Str, Text, f
from .base import NO_GROUPS, Groups, Reader, TriggerKind, match_text, same_pattern

ROLES = ("user", "replica", "any")


@dataclass(slots=True)
class UtteranceTrigger:
    """`utterance:` — a `conversation.utterance` by role, matched by regex / contains / equals."""

    role: Literal["user", "replica", "any"] = "user"
    match: Pattern | None = None
    contains: tuple[str, ...] = ()  # lower-cased; any of them
    equals: str | None = None  # lower-cased and trimmed
    loc: Location | None = None


UTTERANCE = Obj(
    {
        "role": f(Enum(ROLES, "Who spoke: user (default), replica or any.")),
        "match": f(
            Text("A regular expression searched in the text; named groups become event.groups.")
        ),
        "contains": f(
            ListOf(
                Text(nonempty=True),
                "A string or a list: any of them, case-insensitive.",
                single=True,
                min_items=1,
            )
        ),
        "equals": f(Text("The whole text, case-insensitive, trimmed.")),
    },
    "A conversation.utterance. With none of match/contains/equals it fires on any utterance of "
    "that role; with several, all must hold.",
)


class Utterance(TriggerKind):
    key = "utterance"
    model = UtteranceTrigger
    spec = OneOf(
        (Str("Shorthand: a regular expression a user utterance must match."), Ref("utterance")),
        "Fires on a conversation.utterance.",
    )
    defs = {"utterance": UTTERANCE}
    summary = "Something was said (by the visitor by default), matched by regex, words or text."
    events = ("utterance",)

    def parse(
        self, r: Reader, node: Node, what: str, loc: Location, parent: Node, *, templates: bool
    ) -> UtteranceTrigger | None:
        what = f"{what} utterance"
        if node.is_scalar and isinstance(node.value, str):
            pattern = r.regex(node, what)
            return None if pattern is None else UtteranceTrigger(match=pattern, loc=loc)
        if node.is_null or not node.is_map:
            r.error(
                node.loc,
                "wrong-type",
                f"{what} must be a regex string or a mapping {{role, match, contains, equals}}, "
                f"got {node.describe()}",
            )
            return None
        r.shape(node, what, UTTERANCE)
        trig = UtteranceTrigger(loc=loc)
        ok = True
        if (n := node.get("role")) is not None:
            role = r.choice(n, f"{what} role", ROLES)
            ok &= role is not None
            trig.role = role or "user"  # type: ignore[assignment]
        if (n := node.get("match")) is not None:
            trig.match = r.regex(n, f"{what} match")
            ok &= trig.match is not None
        if (n := node.get("contains")) is not None:
            words = r.string_list(n, f"{what} contains")
            if words is not None and not words:
                r.error(n.loc, "bad-value", f"{what} contains must list at least one string")
            ok &= bool(words)
            trig.contains = tuple(w.lower() for w in words or ())
        if (n := node.get("equals")) is not None:
            equals = r.string(n, f"{what} equals", empty_ok=True)
            ok &= equals is not None
            trig.equals = None if equals is None else equals.strip().lower()
        return trig if ok else None

    def match(self, trigger: UtteranceTrigger, event: Event) -> Groups | None:
        if event.type != "utterance":
            return None
        if trigger.role != "any" and event.role != trigger.role:
            return None
        text = event.text or ""
        groups = NO_GROUPS
        if trigger.match is not None:
            groups = match_text(trigger.match, text)
            if groups is None:
                return None
        if trigger.contains:
            lowered = text.lower()
            if not any(c in lowered for c in trigger.contains):
                return None
        if trigger.equals is not None and text.strip().lower() != trigger.equals:
            return None
        return groups

    def describe(self, trigger: UtteranceTrigger) -> str:
        parts = [f"{trigger.role} says"]
        if trigger.match is not None:
            parts.append(f"/{trigger.match.pattern}/")
        if trigger.contains:
            parts.append("~" + "|".join(trigger.contains))
        if trigger.equals is not None:
            parts.append(f'"{trigger.equals}"')
        return " ".join(parts)

    def word(self, trigger: Any) -> str:
        return "an utterance"

    def covers(self, a: UtteranceTrigger, b: UtteranceTrigger) -> bool:
        return (
            a.role in ("any", b.role)
            and (a.match is None or same_pattern(a.match, b.match))
            and (not a.contains or bool(b.contains) and set(b.contains) <= set(a.contains))
            and (a.equals is None or a.equals == b.equals)
        )
