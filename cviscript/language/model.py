"""The scenario as plain data.

This is what `validate` produces and what the engine, the simulated replica and the reports read.
It knows nothing of YAML (locations are plain `Location` values) and nothing of the engine.

Conventions shared by every consumer:

* Durations are floats in seconds (``"250ms"`` is ``0.25``).
* Every string that is rendered at run time is a `Text` (a Jinja2 template, compiled once at load
  time by `cviscript.language.templates`); nested values (``set``, ``send.properties``, ``tool_result.output``,
  ``conversation.create``) are plain JSON-like structures whose string leaves are `Text`.
* Regular expressions are compiled once at load time, for RE2 (`patterns.Pattern`).
* Every node that an error message may point at carries a `Location` (``loc``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import Location
from .patterns import Pattern
from .texts import Expr, Text
from .triggers import (
    AfterTrigger,
    AtTrigger,
    EventTrigger,
    ManualTrigger,
    ObjectiveTrigger,
    PerceptionTrigger,
    StateTrigger,
    ToolCallTrigger,
    UtteranceTrigger,
    kind_of,
)

__all__ = [  # the trigger models and texts are named here for every reader of the model
    "AfterTrigger",
    "AtTrigger",
    "EventTrigger",
    "Expr",
    "ManualTrigger",
    "ObjectiveTrigger",
    "PerceptionTrigger",
    "StateTrigger",
    "Text",
    "ToolCallTrigger",
    "UtteranceTrigger",
]

Role = Literal["user", "replica", "any"]
Level = Literal["low", "medium", "high"]
Outcome = Literal["completed", "failed", "timed_out", "error"]
ContextSpelling = Literal["llm_context", "context"]

DEFAULT_RUN_TIMEOUT = 600.0  # `timeout:` default, 10m
DEFAULT_FINAL_WAIT = 30.0  # bounded wait for the replica to finish speaking in a final state


# --------------------------------------------------------------------------------------- triggers
# Each trigger kind's model lives with the kind (`cviscript.language.triggers`), named here too.

Trigger = (
    UtteranceTrigger
    | EventTrigger
    | ToolCallTrigger
    | PerceptionTrigger
    | AfterTrigger
    | ManualTrigger
    | ObjectiveTrigger
)
UserTrigger = Trigger | StateTrigger | AtTrigger


# ---------------------------------------------------------------------------------------- actions


@dataclass(slots=True)
class Echo:
    text: Text
    loc: Location | None = None


@dataclass(slots=True)
class EchoAudio:
    path: str  # resolved against the scenario file's folder
    loc: Location | None = None


@dataclass(slots=True)
class Respond:
    text: Text
    loc: Location | None = None


@dataclass(slots=True)
class Interrupt:
    loc: Location | None = None


@dataclass(slots=True)
class OverwriteContext:
    text: Text
    loc: Location | None = None


@dataclass(slots=True)
class AppendContext:
    text: Text
    loc: Location | None = None


@dataclass(slots=True)
class Sensitivity:
    pause: Level | None = None
    interrupt: Level | None = None
    loc: Location | None = None


@dataclass(slots=True)
class ToolResult:
    output: Any  # Text or a JSON-like structure with Text leaves
    status: Text | None = None  # renders to "success" / "error"; None means "success"
    loc: Location | None = None


@dataclass(slots=True)
class SetVars:
    values: dict[str, Any]  # name -> value; Text leaves are rendered then parsed back to scalars
    loc: Location | None = None


@dataclass(slots=True)
class Log:
    text: Text
    loc: Location | None = None


@dataclass(slots=True)
class Send:
    event_type: str
    properties: dict[str, Any] = field(default_factory=dict)
    loc: Location | None = None


@dataclass(slots=True)
class End:
    loc: Location | None = None


@dataclass(slots=True)
class Fail:
    reason: Text
    loc: Location | None = None


@dataclass(slots=True)
class Call:
    """`call:` — a Python hook, `module:function`, called with (event, vars) in a worker thread.

    Its result is saved into `vars[save]`, sent as the answer to the tool call that fired the
    transition (`answer`), and `then` runs once it is in. `timeout` bounds the call."""

    function: str  # "module:function" as written
    save: str | None = None
    answer: bool = False
    then: list[Any] = field(default_factory=list)
    timeout: float = 10.0
    loc: Location | None = None


Action = (
    Echo
    | EchoAudio
    | Respond
    | Interrupt
    | OverwriteContext
    | AppendContext
    | Sensitivity
    | ToolResult
    | SetVars
    | Log
    | Send
    | End
    | Fail
    | Call
)


# ------------------------------------------------------------------------------ states, scenario


@dataclass(slots=True)
class Transition:
    """One entry of `on:` or `any:`. `id` is stable and readable: ``"ask.on[2]"`` or ``"any[0]"``."""

    id: str
    trigger: Trigger
    when: Expr | None = None
    do: list[Action] = field(default_factory=list)
    goto: str | None = None  # None: stay without re-entering
    resume: str | None = None  # a compound state, entered in the child it was last in
    loc: Location | None = None


@dataclass(slots=True)
class State:
    """A state. `name` is its full dotted name (``tour.scale``); a compound state has
    `children` (full names, in file order) and an `initial` child (full name)."""

    name: str
    enter: list[Action] = field(default_factory=list)
    exit: list[Action] = field(default_factory=list)
    on: list[Transition] = field(default_factory=list)
    final: bool = False
    loc: Location | None = None
    parent: str | None = None
    children: list[str] = field(default_factory=list)
    initial: str | None = None

    @property
    def compound(self) -> bool:
        return bool(self.children)


@dataclass(slots=True)
class ConversationSettings:
    """`conversation:` — how to reach a live conversation. Values may be overridden by the CLI."""

    url: Text | None = None
    id: Text | None = None
    token: Text | None = None
    create: dict[str, Any] | None = None  # Create Conversation body, Text leaves
    context_spelling: ContextSpelling = "llm_context"
    loc: Location | None = None
    persona_file: str | None = None  # the persona's JSON file (resolved path)
    replica_profile: str | None = None  # replica settings YAML (resolved path)


# ------------------------------------------------------------------------------------- rehearsals


@dataclass(slots=True)
class ToolCallSpec:
    """A tool call the simulated side makes: `{name, arguments}`."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)  # Text leaves
    loc: Location | None = None


@dataclass(slots=True)
class UserRule:
    """`user:` rule — when `on` happens, the simulated user does one thing."""

    on: UserTrigger
    say: Text | None = None
    perceive: Text | None = None  # perception sees this: a vision perception_tool_call
    interrupt: bool = False  # the user cuts the replica off (no words)
    tool_call: ToolCallSpec | None = None
    barge_in: bool = False  # `say` without waiting for the replica to be silent
    # live rehearsal: `say` spoken through a virtual microphone — True: synthesised, str: a WAV
    voice: bool | str = False
    times: int = 1  # how many times the rule may fire; 0 = unlimited
    delay: float = 0.0  # extra thinking time before acting
    loc: Location | None = None


@dataclass(slots=True)
class OperatorRule:
    """`operator:` rule — when `on` happens, the rehearsed operator fires the `manual:` name `fire`."""

    on: UserTrigger
    fire: str
    times: int = 1  # how many times the rule may fire; 0 = unlimited
    delay: float = 0.0  # before firing
    loc: Location | None = None


@dataclass(slots=True)
class CompleteObjective:
    """A persona rule's `complete_objective:` — the simulated replica reports the objective done
    (``conversation.objective.completed``); `output_variables` leaves are templates like `say:`."""

    name: str
    output_variables: dict[str, Any] = field(default_factory=dict)
    loc: Location | None = None


@dataclass(slots=True)
class PersonaRule:
    """`persona:` rule — the stand-in LLM. First matching rule answers user speech and `respond`."""

    match: Pattern | None  # None: no `match:`, the fallback that answers anything
    say: Text | None = None  # may use {{ groups.x }} and, after a tool call, {{ result }}
    tool_call: ToolCallSpec | None = None  # the reply waits for the tool_result
    loc: Location | None = None
    complete_objective: CompleteObjective | None = None


@dataclass(slots=True)
class ReplicaSettings:
    """`replica:` — the simulated replica's timing and the server vintage it speaks."""

    words_per_minute: float = 160.0  # replica speaking rate
    user_words_per_minute: float = 150.0  # simulated user speaking rate
    echo_latency: float = 0.3  # echo received -> replica.started_speaking
    reply_latency: float = 0.9  # user speech / respond -> persona reply starts speaking
    join_delay: float = 0.0  # run start -> system.replica_joined
    pipeline: Literal["full", "echo"] = "full"  # echo: user speech gets no persona reply
    default_reply: str | None = None  # said when no persona rule matches (None: stay silent)
    vintage: Literal["2026", "2024"] = "2026"  # the server's event stream: today's, or older
    greeting: str | None = None  # spoken on joining; None: the conversation's custom_greeting
    heartbeat: float = 10.0  # seconds between system.replica_present (2026); 0: none
    # a conversation.respond comes back as a user utterance (Tavus's own template expects it)
    respond_echo: bool = True
    follow_up_window: float = 15.0  # a tool result later than this after the call is not spoken
    filler: str = "One moment, let me check that."  # an on_call: generate_filler tool's line
    persona_file: str | None = None  # overrides conversation.persona_file (resolved path)
    profile: str | None = None  # overrides conversation.replica_profile (resolved path)
    loc: Location | None = None
    given: frozenset[str] = frozenset()  # the keys written in the block (the rest: defaults)


@dataclass(slots=True)
class Faults:
    """`faults:` — seeded network misbehaviour between the simulated replica and the runner."""

    delay: float = 0.0  # added to every event
    jitter: float = 0.0  # plus uniform random 0..jitter
    duplicate: float = 0.0  # probability an event is delivered twice
    reorder: float = 0.0  # probability an event is held back behind the next one
    drop: float = 0.0  # probability an event is lost
    only: tuple[str, ...] = ()  # restrict faults to these canonical event names (empty: all)
    disconnect: float | None = None  # the connection drops this long after the start
    loc: Location | None = None


@dataclass(slots=True)
class Expect:
    path: list[str] | None = None
    final: str | None = None
    outcome: Outcome | None = None
    said: list[str] | None = None  # counts only what the replica got through, not cut-off words
    not_said: list[str] | None = None  # replica speech must never contain these
    sent: list[str] | None = None  # full event_type names
    not_sent: list[str] | None = None
    vars: dict[str, Any] | None = None
    duration_max: float | None = None
    locs: dict[str, Location] = field(
        default_factory=dict
    )  # expectation key -> where it is written
    loc: Location | None = None


@dataclass(slots=True)
class Rehearsal:
    name: str
    user: list[UserRule] = field(default_factory=list)
    operator: list[OperatorRule] = field(default_factory=list)
    persona: list[PersonaRule] = field(default_factory=list)
    replica: ReplicaSettings = field(default_factory=ReplicaSettings)
    faults: Faults = field(default_factory=Faults)
    seed: int = 0
    expect: Expect = field(default_factory=Expect)
    vars: dict[str, Any] = field(default_factory=dict)  # overrides of the scenario's vars
    hooks: dict[str, Any] = field(default_factory=dict)  # "module:function" -> canned result
    replay: str | None = None  # a recorded transcript to replay instead of simulating
    loc: Location | None = None


@dataclass(slots=True)
class Scenario:
    name: str
    initial: str
    states: dict[str, State]
    version: int = 1
    description: str | None = None
    conversation: ConversationSettings = field(default_factory=ConversationSettings)
    vars: dict[str, Any] = field(default_factory=dict)  # plain values (not templates)
    any: list[Transition] = field(default_factory=list)
    timeout: float = DEFAULT_RUN_TIMEOUT
    final_wait: float = DEFAULT_FINAL_WAIT
    rehearsals: list[Rehearsal] = field(default_factory=list)
    path: str = "<string>"  # the file it was loaded from
    loc: Location | None = None
    # the persona file(s) read at load: resolved path -> language.persona_file.PersonaFile
    personas: dict[str, Any] = field(default_factory=dict)

    def persona_for(self, rehearsal: Rehearsal | None) -> Any:
        """The persona file a rehearsal runs against (its own, else the scenario's), or None."""
        path = rehearsal.replica.persona_file if rehearsal is not None else None
        path = path or self.conversation.persona_file
        return self.personas.get(path) if path else None

    def leaves(self) -> list[str]:
        """The states a run can be in (every state that is not compound), in file order."""
        return [name for name, st in self.states.items() if not st.children]

    def ancestors(self, name: str) -> list[str]:
        """The compound states enclosing `name`, outermost first."""
        out: list[str] = []
        parent = self.states[name].parent
        while parent is not None:
            out.append(parent)
            parent = self.states[parent].parent
        out.reverse()
        return out

    def entry_leaf(self, name: str) -> str:
        """The leaf a `goto: name` lands in: a compound state's initial child, down to a leaf."""
        st = self.states[name]
        while st.children:
            st = self.states[st.initial or st.children[0]]
        return st.name

    def transitions(self) -> list[Transition]:
        """Every transition, `any` first, then each state's in file order."""
        out = list(self.any)
        for state in self.states.values():
            out.extend(state.on)
        return out

    # The two rules every reader of transitions shares (the engine, lint, steering, reports).

    def chain(self, state: str) -> list[Transition]:
        """The transitions checked in `state`, in the order that decides which fires: `any:`,
        then each enclosing state's `on:` from the outermost inwards, then its own."""
        outer = [t for name in self.ancestors(state) for t in self.states[name].on]
        return [*self.any, *outer, *self.states[state].on]

    def timer_scope(self, state: str) -> list[Transition]:
        """The `after:` transitions armed when `state` is entered, in arming order: `any:`'s and
        its own; a compound state arms only its own (once, not per child entered), which run
        while any state inside it is active."""
        st = self.states[state]
        scope = [*st.on] if st.children else [*self.any, *st.on]
        return [t for t in scope if kind_of(t.trigger).timed]

    def manual_names(self) -> list[str]:
        """Every `manual:` name, in file order (`any:` first)."""
        names: list[str] = []
        for t in self.transitions():
            if kind_of(t.trigger).operator and t.trigger.name not in names:  # type: ignore[union-attr]
                names.append(t.trigger.name)  # type: ignore[union-attr]
        return names

    def objective_names(self) -> dict[str, Location | None]:
        """Each persona objective an `objective:` trigger names (transitions and rehearsal
        rules), with where it is first written: what a persona must define."""
        found: dict[str, Location | None] = {}
        triggers = [t.trigger for t in self.transitions()]
        triggers += [rule.on for r in self.rehearsals for rule in (*r.user, *r.operator)]
        for trigger in triggers:
            if isinstance(trigger, ObjectiveTrigger):
                found.setdefault(trigger.name, trigger.loc)
        return found

    def rehearsal(self, name: str) -> Rehearsal | None:
        return next((r for r in self.rehearsals if r.name == name), None)
