"""The validator's toolbox: reporting, and checking one node against its expected shape or type.

`validate` reads a scenario in four jobs — the top level (`validate`), states and transitions
(`validate_states`), actions (`validate_actions`) and rehearsals (`validate_rehearsals`) — each a
mixin over `Checks`, which holds what they share: the diagnostics being collected, the state names
(for references) and the helpers that turn a located `loader.Node` into a checked value or an error
with file:line:col ("must be a mapping", unknown keys with "did you mean", scalar types, durations,
regexes, templates, files). Which keys and types are expected comes from `cviscript.language.spec`.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Iterable
from typing import Any

from ..errors import Diagnostic, did_you_mean
from ..printable import excerpt
from ..protocol import EVENT_NAMES
from . import model as m
from . import spec as S
from .cache import note_path
from .durations import parse_duration
from .loader import Node
from .patterns import Pattern, PatternError, compile_pattern
from .templates import CONTEXT_NAMES, TemplateCompileError, compile_text

_FRAGMENT_UNREAD = {"include-outside", "include-missing", "include-cycle"}

# Interaction types the actions themselves can send (`expect.sent` names are checked against these
# and every `send:` of the file).
SENT_BY_ACTIONS = frozenset(
    "conversation." + t
    for t in (
        "echo",
        "respond",
        "interrupt",
        "overwrite_llm_context",
        "append_llm_context",
        "overwrite_context",
        "append_context",
        "sensitivity",
        "tool_result",
    )
)


# YAML 1.1 wrote booleans as these words; YAML 1.2 (editors, the JSON Schema, cviscript) reads
# them as strings. Where a boolean is expected, the message says what to write instead.
YAML11_BOOLEANS = {
    **dict.fromkeys(("yes", "y", "on"), True),
    **dict.fromkeys(("no", "n", "off"), False),
}


def full_event_type(name: str) -> str:
    """``echo`` -> ``conversation.echo``; a name with a dot stays as written."""
    return name if "." in name else f"conversation.{name}"


class Checks:
    def __init__(self, filename: str):
        self.file = filename
        self.base_dir = os.path.dirname(os.path.abspath(filename))
        self.diagnostics: list[Diagnostic] = []
        self.states: set[str] = set()
        self.sent_types: set[str] = set(SENT_BY_ACTIONS)
        # (where, event_type, label) of expect.sent names, checked once every `send` is known
        self.expected_sent: list[tuple[m.Location, str, str]] = []
        self.manual_names: set[str] = set()  # every `manual:` trigger's name, for `operator:` rules
        # (key, resolved path) -> where a persona_file / profile key names the file
        self.file_keys: dict[tuple[str, str | None], m.Location | None] = {}

    # ------------------------------------------------------------------------------- reporting

    def error(self, loc: m.Location | None, code: str, message: str) -> None:
        self.diagnostics.append(Diagnostic(message, loc, "error", code))

    def warn(self, loc: m.Location | None, code: str, message: str) -> None:
        self.diagnostics.append(Diagnostic(message, loc, "warning", code))

    # -------------------------------------------------------------------------- shape helpers

    def fields(
        self, node: Node, what: str, allowed: Iterable[str], required: Iterable[str] = ()
    ) -> bool:
        """Is `node` a mapping with only `allowed` keys and every `required` one? Reports if not.
        Returns False only when it is not a mapping at all."""
        if not node.is_map:
            self.error(node.loc, "wrong-type", f"{what} must be a mapping, got {node.describe()}")
            return False
        allowed = tuple(allowed)
        unknown = [key for key in node.value if key not in allowed]
        for key in unknown:
            self.unknown_key(node, key, what, allowed)
        for key in required:
            # a misspelling of it was just reported: saying it is missing too would be noise
            if key not in node.value and not difflib.get_close_matches(key, unknown, cutoff=0.6):
                self.error(node.loc, "missing-key", f"{what} is missing the required key '{key}'")
        return True

    def shape(self, node: Node, what: str, obj: S.Obj) -> bool:
        """`fields` with the keys and required keys of a spec mapping."""
        return self.fields(node, what, obj.keys, obj.required)

    def unknown_key(self, node: Node, key: str, what: str, allowed: Iterable[str]) -> None:
        allowed = tuple(allowed)
        hint = did_you_mean(key, allowed) or f"; expected one of: {', '.join(allowed)}"
        self.error(
            node.key_loc(key), "unknown-key", f"unknown key '{excerpt(key)}' in {what}{hint}"
        )

    def string(self, node: Node, what: str, *, empty_ok: bool = False) -> str | None:
        """A scalar as a string: strings as is, numbers and booleans as written."""
        if not node.is_scalar or node.value is None:
            self.error(node.loc, "wrong-type", f"{what} must be a string, got {node.describe()}")
            return None
        value = node.value if isinstance(node.value, str) else str(node.text)
        if not empty_ok and not value.strip():
            self.error(node.loc, "bad-value", f"{what} must not be empty")
            return None
        return value

    def text(
        self, node: Node, what: str, names: Iterable[str] | None = CONTEXT_NAMES
    ) -> m.Text | None:
        source = self.string(node, what, empty_ok=True)
        return None if source is None else self.compile(source, node.loc, names)

    def compile(self, source: str, loc: m.Location, names: Iterable[str] | None) -> m.Text | None:
        try:
            return compile_text(source, loc, names=None if names is None else tuple(names))
        except TemplateCompileError as e:
            self.error(e.loc or loc, "bad-template", e.message)
            return None

    def tree(self, node: Node, names: Iterable[str] | None = CONTEXT_NAMES) -> Any:
        """A JSON-like value whose string leaves are `Text` templates."""
        if node.is_map:
            return {k: self.tree(v, names) for k, v in node.value.items()}
        if node.is_seq:
            return [self.tree(v, names) for v in node.value]
        if isinstance(node.value, str):
            return self.compile(node.value, node.loc, names)
        return node.value

    def boolean(self, node: Node, what: str) -> bool | None:
        if node.is_scalar and isinstance(node.value, bool):
            return node.value
        hint = ""
        if node.is_scalar and isinstance(node.value, str) and not node.style:
            meant = YAML11_BOOLEANS.get(node.value.strip().lower())
            if meant is not None:
                hint = (
                    f" ('{node.value}' is a word, not a boolean, in YAML 1.2 as editors read it:"
                    f" write {str(meant).lower()})"
                )
        self.error(
            node.loc, "wrong-type", f"{what} must be true or false, got {node.describe()}{hint}"
        )
        return None

    def integer(self, node: Node, what: str, minimum: int | None = None) -> int | None:
        value = node.value if node.is_scalar else None
        # a whole number written with a decimal point (`seed: 1.0`) is an integer, as in the JSON
        # Schema ("integer" is any number without a fractional part) and in editors
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            self.error(
                node.loc, "wrong-type", f"{what} must be a whole number, got {node.describe()}"
            )
            return None
        if minimum is not None and value < minimum:
            self.error(node.loc, "bad-value", f"{what} must be at least {minimum}, got {value}")
            return None
        return value

    def number(
        self,
        node: Node,
        what: str,
        *,
        low: float = 0.0,
        high: float | None = None,
        positive: bool = False,
    ) -> float | None:
        value = node.value if node.is_scalar else None
        if not isinstance(value, int | float) or isinstance(value, bool) or value != value:
            self.error(node.loc, "wrong-type", f"{what} must be a number, got {node.describe()}")
            return None
        if (positive and value <= 0) or value < low or (high is not None and value > high):
            bound = (
                "above 0"
                if positive
                else f"between {low:g} and {high:g}"
                if high is not None
                else f"at least {low:g}"
            )
            self.error(node.loc, "bad-value", f"{what} must be {bound}, got {node.text}")
            return None
        return float(value)

    def duration(self, node: Node, what: str, *, positive: bool = False) -> float | None:
        if not node.is_scalar:
            self.error(
                node.loc,
                "bad-duration",
                f"{what}: expected a duration like 250ms, 2s, 1.5s or 3m, got {node.describe()}",
            )
            return None
        try:
            seconds = parse_duration(node.value)
        except ValueError as e:
            self.error(node.loc, "bad-duration", f"{what}: {e}")
            return None
        if positive and seconds <= 0:
            self.error(node.loc, "bad-duration", f"{what} must be longer than 0")
            return None
        return seconds

    def leaf(self, node: Node, what: str, spec: Any) -> Any:
        """A scalar checked against its spec type (see `cviscript.language.spec`); None when invalid."""
        if isinstance(spec, S.Text):
            return self.string(node, what, empty_ok=not spec.nonempty)
        if isinstance(spec, S.Bool):
            return self.boolean(node, what)
        if isinstance(spec, S.Int):
            return self.integer(node, what, minimum=spec.minimum)
        if isinstance(spec, S.Number):
            label = f"{what} ({spec.noun})" if spec.noun else what
            return self.number(
                node, label, low=spec.minimum, high=spec.maximum, positive=spec.positive
            )
        if isinstance(spec, S.Duration):
            return self.duration(node, what, positive=spec.positive)
        if isinstance(spec, S.Enum):
            return self.choice(node, what, spec.values)
        raise TypeError(f"not a scalar spec: {spec!r}")  # a bug in the caller, not in the file

    def choice(self, node: Node, what: str, options: Iterable[str]) -> str | None:
        options = tuple(options)
        value = node.value if node.is_scalar else None
        if not isinstance(value, str) or value not in options:
            shown = repr(value) if isinstance(value, str) else node.describe()
            hint = did_you_mean(value, options) if isinstance(value, str) else ""
            self.error(
                node.loc,
                "bad-value",
                f"{what} must be one of {', '.join(options)}; got {shown}{hint}",
            )
            return None
        return value

    def regex(self, node: Node, what: str) -> Pattern | None:
        source = self.string(node, what, empty_ok=True)
        if source is None:
            return None
        try:  # RE2, linear in the text: it runs on untrusted speech
            return compile_pattern(source)
        except PatternError as e:
            self.error(node.loc, "bad-regex", f"invalid regular expression in {what}: {e}")
            return None

    def string_list(self, node: Node, what: str) -> list[str] | None:
        items = [node] if node.is_scalar else node.value if node.is_seq else None
        if items is None:
            self.error(
                node.loc, "wrong-type", f"{what} must be a list of strings, got {node.describe()}"
            )
            return None
        out = [self.string(item, f"each entry of {what}") for item in items]
        return None if any(s is None for s in out) else out  # type: ignore[return-value]

    def state_ref(self, node: Node, what: str) -> str | None:
        name = self.string(node, what)
        if name is None:
            return None
        if name not in self.states and self.states:  # no states at all is reported once, elsewhere
            self.error(
                node.loc,
                "unknown-state",
                f"{what} names an unknown state '{name}'{did_you_mean(name, sorted(self.states))}"
                f"{self.unread_fragments_note()}",
            )
            return None
        return name

    def unread_fragments_note(self) -> str:
        """For an unknown name: a fragment that could not be included may have defined it (so
        the errors after a refused `include:` read as what they are, not as new mistakes)."""
        if any(d.code in _FRAGMENT_UNREAD for d in self.diagnostics):
            return " (an include: fragment that could not be read may define it: see above)"
        return ""

    def event_name(self, node: Node, what: str) -> str | None:
        name = self.string(node, what)
        if name is None:
            return None
        name = name.strip()
        if name in EVENT_NAMES or name.startswith(S.RAW_EVENT_PREFIXES):
            return name
        hint = did_you_mean(name, EVENT_NAMES) or (
            f"; use one of {', '.join(EVENT_NAMES)}, "
            "or a raw event_type starting with 'conversation.' or 'system.'"
        )
        self.error(node.loc, "unknown-event", f"unknown event '{name}'{hint}")
        return None

    def path(self, node: Node, what: str) -> str | None:
        """A file path relative to the scenario's folder, which must exist."""
        raw = self.string(node, what)
        if raw is None:
            return None
        resolved = os.path.normpath(os.path.join(self.base_dir, os.path.expanduser(raw)))
        note_path(resolved)
        if not os.path.isfile(resolved):
            self.error(
                node.loc,
                "missing-file",
                f"{what}: file not found: {resolved} (relative paths start at the scenario's folder)",
            )
            return None
        return resolved

    def each(self, node: Node | None, what: str, parse: Callable[[Node, int], Any]) -> list[Any]:
        """Parse every item of a list (None for an absent or null node); drops failed items."""
        if node is None or node.is_null:
            return []
        if not node.is_seq:
            self.error(node.loc, "wrong-type", f"{what} must be a list, got {node.describe()}")
            return []
        return [r for r in (parse(item, i) for i, item in enumerate(node.value)) if r is not None]

    def plain_map(self, node: Node, what: str) -> dict[str, Any] | None:
        if node.is_null:
            return {}
        if not node.is_map:
            self.error(node.loc, "wrong-type", f"{what} must be a mapping, got {node.describe()}")
            return None
        return node.plain()
