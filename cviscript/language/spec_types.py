"""The vocabulary `spec` declares a scenario file's shape in: small frozen dataclasses for a text,
a duration, an enumeration, a mapping with fixed keys, alternatives, a named reference.

Kept apart from `spec` (which uses them to declare every key) so that the trigger kinds
(`cviscript.language.triggers`) can declare their own keys with it, and `spec` assemble the
transition from them, without an import cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# ------------------------------------------------------------------------------------- leaf types


@dataclass(frozen=True, slots=True)
class Text:
    """A string (a template where the scenario renders it). A number or boolean is taken as
    written, as YAML authors expect (``echo: 42`` says "42")."""

    doc: str = ""
    nonempty: bool = False


@dataclass(frozen=True, slots=True)
class Str:
    """A string and nothing else (shorthand forms, where a mapping is the alternative)."""

    doc: str = ""
    nonempty: bool = False


@dataclass(frozen=True, slots=True)
class Bool:
    doc: str = ""


@dataclass(frozen=True, slots=True)
class Int:
    doc: str = ""
    minimum: int | None = None


@dataclass(frozen=True, slots=True)
class Number:
    doc: str = ""
    minimum: float = 0.0
    maximum: float | None = None
    positive: bool = False  # strictly above 0
    noun: str = ""  # what the number is, for messages ("a probability")


@dataclass(frozen=True, slots=True)
class Duration:
    """``250ms``, ``2s``, ``1.5s``, ``3m``, ``1h``, chained (``1m30s``), or a number of seconds.
    With `template`, also a template rendering to one (``"{{ vars.wait }}"``)."""

    doc: str = ""
    positive: bool = False
    template: bool = False


@dataclass(frozen=True, slots=True)
class Enum:
    values: tuple[Any, ...]
    doc: str = ""


@dataclass(frozen=True, slots=True)
class EventName:
    """One of `EVENT_NAMES`, or a raw event_type starting with one of `RAW_EVENT_PREFIXES`."""

    doc: str = ""


@dataclass(frozen=True, slots=True)
class AnyValue:
    doc: str = ""


@dataclass(frozen=True, slots=True)
class TemplateOr:
    """One of `values`, or a string that is a template choosing one at run time."""

    values: tuple[str, ...]
    doc: str = ""


# -------------------------------------------------------------------------------- composite types


@dataclass(frozen=True, slots=True)
class ListOf:
    item: Spec
    doc: str = ""
    single: bool = False  # one item may be written without the list
    min_items: int = 0


@dataclass(frozen=True, slots=True)
class MapOf:
    """A mapping with keys of the author's choosing (vars, states, event fields)."""

    value: Spec
    doc: str = ""
    min_properties: int = 0
    nullable: bool = False  # a value may be left empty (null)


@dataclass(frozen=True, slots=True)
class Field:
    spec: Spec
    required: bool = False
    nullable: bool = False  # `key:` with no value (null) means "not given"


@dataclass(frozen=True, slots=True)
class Obj:
    """A mapping with a fixed set of keys; any other key is an error."""

    fields: dict[str, Field]
    doc: str = ""
    exactly_one: tuple[str, ...] = ()  # exactly one of these keys (triggers, what a user does)
    counts_if_true: tuple[str, ...] = ()  # ... where these keys count only when `true`
    at_least_one: tuple[str, ...] = ()
    exclusive: tuple[tuple[str, str], ...] = ()  # pairs that must not both be given
    requires: dict[str, str] = field(default_factory=dict)  # key -> key it needs
    min_properties: int = 0
    max_properties: int | None = None

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(self.fields)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(k for k, f in self.fields.items() if f.required)


@dataclass(frozen=True, slots=True)
class OneOf:
    """Alternative forms (a shorthand and the full mapping)."""

    options: tuple[Spec, ...]
    doc: str = ""


@dataclass(frozen=True, slots=True)
class Ref:
    """A named definition of `DEFS` (emitted once in the schema's ``$defs``)."""

    name: str


Spec = (
    Text
    | Str
    | Bool
    | Int
    | Number
    | Duration
    | Enum
    | EventName
    | AnyValue
    | TemplateOr
    | ListOf
    | MapOf
    | Obj
    | OneOf
    | Ref
)


def f(spec: Spec, *, required: bool = False, nullable: bool = False) -> Field:
    return Field(spec, required=required, nullable=nullable)
