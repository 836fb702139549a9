"""What a trigger kind is: the one object that knows everything about one key of a transition
(`utterance:`, `event:`, `objective:` ...).

A kind owns

* its **keys**: the value's schema fragment (`spec`), named mapping forms (`defs`, one section of
  docs/reference/keys.md each), keys that may stand beside it in a transition (`extra_keys`,
  like `where:` beside `event:`) and whether user rules may use it (`user_spec`);
* its **validation**: `parse` turns the located YAML node into the kind's model dataclass, or
  reports what is wrong through the validator (`Reader`);
* its **matching**: `fires_on` names the events it can fire on, `match` says whether one does
  (the named groups of a regex, `NO_GROUPS`, or None), `view` what templates see of it;
* its **words**: `describe` for transcripts, diagrams and coverage, `word` for messages, and
  `covers` for the shadowed-transition lint;
* the **template fields** its events offer (`template_fields`), so the validator can refuse
  ``{{ event.text }}`` under a trigger whose events have no text.

The language (spec, validate, lint), the engine, steering and docs/generate.py ask the kind
(`cviscript.language.triggers.kind_of`), never ``isinstance``. Matching reads only the
protocol's `Event`, so the engine and the simulated user share it without the language ever
importing the engine.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

from ...errors import Location
from ...protocol import Event, view_fields
from ...protocol.events import ATTRIBUTE_FIELDS
from ..loader import Node
from ..spec_types import Field, Spec

Groups = dict[str, Any]
# A match without named groups; shared by every such match, so never to be modified.
NO_GROUPS: Groups = {}


class Reader(Protocol):
    """What a kind's `parse` uses of the validator (`validate_base.Checks` and its mixins)."""

    manual_names: set[str]

    def error(self, loc: Location | None, code: str, message: str) -> None: ...

    def shape(self, node: Node, what: str, obj: Any) -> bool: ...

    def string(self, node: Node, what: str, *, empty_ok: bool = False) -> str | None: ...

    def text(self, node: Node, what: str) -> Any: ...

    def regex(self, node: Node, what: str) -> Any: ...

    def string_list(self, node: Node, what: str) -> list[str] | None: ...

    def choice(self, node: Node, what: str, options: Any) -> str | None: ...

    def duration(self, node: Node, what: str, *, positive: bool = False) -> float | None: ...

    def state_ref(self, node: Node, what: str) -> str | None: ...

    def event_name(self, node: Node, what: str) -> str | None: ...

    def plain_map(self, node: Node, what: str) -> dict[str, Any] | None: ...

    def tool_call(self, node: Node, what: str, names: Any) -> Any: ...


class TriggerKind:
    """One trigger kind. Subclasses set the class attributes and override what differs."""

    key: ClassVar[str]  # the key in a transition
    model: ClassVar[type]  # the dataclass `parse` makes (one per kind)
    spec: ClassVar[Spec]  # the value's schema fragment
    defs: ClassVar[dict[str, Spec]] = {}  # named mapping forms (JSON Schema $defs)
    titles: ClassVar[dict[str, str]] = {}  # keys.md section titles of `defs` (default: derived)
    extra_keys: ClassVar[dict[str, Field]] = {}  # keys that may stand beside this trigger only
    in_transitions: ClassVar[bool] = True
    in_user_rules: ClassVar[bool] = True  # a rehearsal's user/operator `on:` may use it
    summary: ClassVar[str] = ""  # one line for docs/reference/events.md
    events: ClassVar[tuple[str, ...]] = ()  # the canonical events its triggers may fire on
    matches_events: ClassVar[bool] = True  # False: `match` never matches (timers, operators)
    timed: ClassVar[bool] = False  # armed as a timer when its state is entered (`after:`)
    operator: ClassVar[bool] = False  # fired by an operator, by name (`manual:`)
    adapts: ClassVar[bool] = False  # `view` changes what templates see of the event

    @property
    def user_spec(self) -> Spec | None:
        """The value's schema fragment in a user rule's `on:` (None: not allowed there)."""
        return self.spec if self.in_user_rules else None

    # ---------------------------------------------------------------------------- validation

    def parse(
        self, r: Reader, node: Node, what: str, loc: Location, parent: Node, *, templates: bool
    ) -> Any | None:
        """The trigger written as `node` (the value of this key in mapping `parent`), or None
        after reporting what is wrong. `templates`: a value may be a template (transitions,
        not user rules)."""
        raise NotImplementedError

    # ------------------------------------------------------------------------------ matching

    def fires_on(self, trigger: Any) -> tuple[str, ...] | None:
        """The canonical events `trigger` may fire on: () for none (a timer, an operator),
        None when that cannot be known (a raw event type cviscript has never seen)."""
        return self.events

    def match(self, trigger: Any, event: Event) -> Groups | None:
        """`NO_GROUPS` or the regex's named groups when `trigger` matches `event`, else None."""
        return None

    def view(self, event: Event) -> Event:
        """The event as the fired transition's templates see it (when `adapts`)."""
        return event

    def template_fields(self, trigger: Any) -> frozenset[str] | None:
        """The `event.*` names a template under `trigger` may read; None: not known (any)."""
        return self.fields_of(self.fires_on(trigger))

    def fields_of(self, names: tuple[str, ...] | None) -> frozenset[str] | None:
        """The `event.*` names templates see on events `names` (None: not known)."""
        if not names:
            return None
        out: set[str] = set()
        for name in names:
            found = view_fields(name)
            if found is None:
                return None
            out |= found
        return frozenset(out)

    def answers_tool_calls(self, trigger: Any) -> bool:
        """Can a `tool_result` under this trigger answer the tool call that fired it?"""
        return False

    # --------------------------------------------------------------------------------- words

    def describe(self, trigger: Any) -> str:
        """One short line for transcripts, diagrams and coverage."""
        raise NotImplementedError

    def word(self, trigger: Any) -> str:
        """How a message names what fires it: "an utterance", "an after: timer"."""
        return f"a {self.key}: trigger"

    def covers(self, a: Any, b: Any) -> bool:
        """Does `a` match every event `b` (of this same kind) matches?"""
        return False

    def covers_events(self, a: Any, names: tuple[str, ...] | None) -> bool:
        """Does `a` match every event a trigger of another kind, firing on `names`, matches?"""
        return False


# ------------------------------------------------------------------------------ shared matching


def same(expected: Any, actual: Any) -> bool:
    """Equal, or equal as trimmed lower-case text: YAML authors write ``where: {interrupted:
    "true"}`` or ``turn_idx: "2"`` as often as the typed form."""
    if expected == actual:
        return True
    return actual is not None and str(expected).strip().lower() == str(actual).strip().lower()


def match_text(pattern: Any, text: str) -> Groups | None:
    found = pattern.search(text)
    if found is None:
        return None
    groups = found.groupdict()
    return groups if groups else NO_GROUPS


def field_value(event: Event, name: str) -> Any:
    """A field for `where:`: the normalised attribute when set, else the raw property."""
    value = getattr(event, name, None) if name in ATTRIBUTE_FIELDS else None
    if value is None:
        value = event.properties.get(name)
    return value


def same_pattern(a: Any, b: Any) -> bool:
    return b is not None and a.pattern == b.pattern  # flags are written inline: (?i)


def subset(small: dict[str, Any], big: dict[str, Any]) -> bool:
    return all(k in big and big[k] == v for k, v in small.items())
