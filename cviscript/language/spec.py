"""The shape of a scenario file, declared once: which keys each mapping takes, which are required,
their types, the enumerations, action / trigger / event names, and the shorthand forms.

Two readers, so the rules can never drift apart:

* `cviscript.language.validate` walks a file against these definitions (allowed and required keys, "exactly
  one trigger", enumerations, scalar types) and adds what a schema cannot say: references between
  states, regexes and templates that must compile, files that must exist, helpful messages;
* `cviscript.language.schema` turns them into a JSON Schema (draft 2020-12) for editors and other tools.

The schema is therefore never stricter than the validator on a shape the validator accepts, and
every unknown key is rejected by both (``additionalProperties: false``). The types are small
frozen dataclasses (`spec_types`); `DEFS` names the definitions the schema emits under ``$defs``.
The triggers' keys are not written here: each trigger kind declares its own
(`cviscript.language.triggers`), and the transition and the user rule's `on:` gather them.
"""

from __future__ import annotations

from typing import Any

from ..protocol import EVENT_NAMES as EVENT_NAMES

# The vocabulary these definitions are written in (`spec_types`), named here for every reader.
from .spec_types import (
    AnyValue,
    Bool,
    Duration,
    Enum,
    EventName,
    Field,
    Int,
    ListOf,
    MapOf,
    Number,
    Obj,
    OneOf,
    Ref,
    Spec,
    Str,
    TemplateOr,
    Text,
    f,
)
from .triggers import KINDS, TRANSITION_KINDS, USER_KINDS
from .triggers.manual import MANUAL_NAME_PATTERN as MANUAL_NAME_PATTERN
from .triggers.utterance import ROLES as ROLES

# ------------------------------------------------------------------------------- enumerations

VERSIONS: tuple[Any, ...] = (1, "1")
LEVELS = ("low", "medium", "high")
OUTCOMES = ("completed", "failed", "timed_out", "error")
PIPELINES = ("full", "echo")
VINTAGES = (2026, 2024, "2026", "2024")  # YAML reads `vintage: 2024` as a number
CONTEXT_SPELLINGS = ("llm_context", "context")
TOOL_RESULT_STATUSES = ("success", "error")
RAW_EVENT_PREFIXES = ("conversation.", "system.")

# ------------------------------------------------------------------------------------------ values

ANY_MAP = MapOf(AnyValue())
STATE_NAME = Text("The name of a state of this scenario.", nonempty=True)

# --------------------------------------------------------------------------------------- triggers
# Each trigger kind declares its own keys (`cviscript.language.triggers`); they are gathered here.

TRIGGER_SPECS: dict[str, Spec] = {k: kind.spec for k, kind in TRANSITION_KINDS.items()}
TRIGGERS = tuple(TRIGGER_SPECS)
USER_TRIGGER_SPECS: dict[str, Spec] = {
    k: kind.user_spec for k, kind in USER_KINDS.items() if kind.user_spec is not None
}
USER_TRIGGERS = tuple(USER_TRIGGER_SPECS)
# Keys that stand beside one kind of trigger only (`where:` beside `event:`) -> that kind.
TRIGGER_EXTRA_KEYS: dict[str, tuple[str, Field]] = {
    key: (kind.key, spec) for kind in KINDS.values() for key, spec in kind.extra_keys.items()
}
TRIGGER_DEFS: dict[str, Spec] = {
    name: d for kind in KINDS.values() for name, d in kind.defs.items()
}
UTTERANCE = TRIGGER_DEFS["utterance"]
TOOL_CALL = TRIGGER_DEFS["tool_call"]
PERCEPTION = TRIGGER_DEFS["perception"]
WHERE = TRIGGER_EXTRA_KEYS["where"][1]

# ---------------------------------------------------------------------------------------- actions

ECHO = Obj(
    {
        "text": f(Text("Text the replica says word for word.")),
        "audio": f(Text("A 16-bit mono PCM WAV file, relative to the scenario.", nonempty=True)),
    },
    "echo: either {text: TEXT} or {audio: PATH}.",
    exactly_one=("text", "audio"),
)
SENSITIVITY = Obj(
    {
        "pause": f(Enum(LEVELS, "Pause sensitivity.")),
        "interrupt": f(Enum(LEVELS, "Interrupt sensitivity.")),
    },
    "conversation.sensitivity, one message per key given.",
    min_properties=1,
)
TOOL_RESULT = Obj(
    {
        "output": f(AnyValue("The result; strings are templates."), required=True),
        "status": f(TemplateOr(TOOL_RESULT_STATUSES, "success (default) or error."), nullable=True),
    },
    "conversation.tool_result answering the tool call that fired the transition.",
)
CALL = Obj(
    {
        "function": f(
            Str(
                "module:function — a module importable from the scenario's folder or an "
                "installed package.",
                nonempty=True,
            ),
            required=True,
        ),
        "save": f(Text("Save the result into this variable.", nonempty=True)),
        "answer": f(Bool("Send the result as the tool_result of the tool call that fired.")),
        "then": Field(
            ListOf(Ref("action"), "Actions run once the result is in.", single=True),
            nullable=True,
        ),
        "timeout": f(Duration("How long the hook may take (default 10s).", positive=True)),
    },
    "A Python hook called with (event, vars) in a worker thread, without blocking the "
    "conversation: the result is saved (save), answers the tool call (answer), then the then: "
    "actions run.",
)
SEND = Obj(
    {
        "event_type": f(
            Text(
                "The interaction's event_type ('conversation.' is added when no dot).",
                nonempty=True,
            ),
            required=True,
        ),
        "properties": f(MapOf(AnyValue(), "The interaction's properties."), nullable=True),
    },
    "Any other interaction (envelope and conversation_id filled in).",
)
ACTION_SPECS: dict[str, Spec] = {
    "echo": OneOf(
        (Text("Text the replica says word for word (conversation.echo)."), ECHO),
        "conversation.echo: text, or {audio: PATH}.",
    ),
    "respond": Text("conversation.respond: text the LLM answers as if the user said it."),
    "interrupt": Enum((None, True), "conversation.interrupt (written just '- interrupt')."),
    "overwrite_context": Text("conversation.overwrite_llm_context."),
    "append_context": Text("conversation.append_llm_context."),
    "sensitivity": SENSITIVITY,
    "tool_result": OneOf((Text("The output (status success)."), TOOL_RESULT), TOOL_RESULT.doc),
    "set": MapOf(
        AnyValue(),
        "Assign variables; template values are rendered, then parsed back to numbers/booleans.",
        min_properties=1,
    ),
    "log": Text("A line in the run's log and transcript."),
    "send": SEND,
    "end": Enum((None, True), "End the run as completed."),
    "fail": Text("End the run as failed, with this reason."),
    "call": OneOf(
        (Str("module:function", nonempty=True), Ref("call")),
        "Call a Python hook: module:function, or {function, save, answer, then, timeout}.",
    ),
}
ACTIONS = tuple(ACTION_SPECS)
HOOK_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$"
BARE_ACTIONS = ("interrupt", "end", "fail")  # written as a bare word, no value
NULLABLE_ACTIONS = ("fail",)  # `fail:` with no value fails with "failed"
ACTION = OneOf(
    (
        Enum(BARE_ACTIONS, "An action without a value."),
        Obj(
            {k: Field(v, nullable=k in NULLABLE_ACTIONS) for k, v in ACTION_SPECS.items()},
            "An action: a one-key mapping.",
            min_properties=1,
            max_properties=1,
        ),
    ),
    "An action: a bare word (interrupt, end, fail) or a one-key mapping like 'echo: TEXT'.",
)
ACTIONS_FIELD = Field(
    ListOf(
        Ref("action"),
        "Actions run in order (one action may be written without a list).",
        single=True,
    ),
    nullable=True,
)

# ------------------------------------------------------------------------------ states, scenario

TRANSITION = Obj(
    {
        **{k: f(v) for k, v in TRIGGER_SPECS.items()},
        **{k: spec for k, (_, spec) in TRIGGER_EXTRA_KEYS.items()},
        "when": f(
            Text("A guard: a Jinja2 expression over vars, event, state, visits.", nonempty=True)
        ),
        "do": ACTIONS_FIELD,
        "goto": f(STATE_NAME, nullable=True),
        "resume": f(
            Text(
                "Instead of goto: a compound state, entered in the child it was last in (its "
                "initial child the first time).",
                nonempty=True,
            )
        ),
    },
    "A transition: exactly one trigger, an optional guard (when), actions (do) and a target "
    "(goto or resume; absent: stay in the state without re-entering it).",
    exactly_one=TRIGGERS,
    requires={k: kind for k, (kind, _) in TRIGGER_EXTRA_KEYS.items()},
    exclusive=(("goto", "resume"),),
)
STATE = Obj(
    {
        "enter": ACTIONS_FIELD,
        "exit": ACTIONS_FIELD,
        "on": f(
            ListOf(Ref("transition"), "Checked in order: the first that matches fires."),
            nullable=True,
        ),
        "final": f(Bool("Entering this state ends the run as completed.")),
        "description": f(Text("Free text."), nullable=True),
        "states": f(
            MapOf(
                Ref("state"),
                "A compound state: the states inside it (named tour.scale from outside, by "
                "their short name from a sibling). Its on: applies in every one of them.",
                min_properties=1,
                nullable=True,
            )
        ),
        "initial": f(Text("A compound state's first child (its short name).", nonempty=True)),
    },
    "A state: actions on entry and exit, and its transitions; with states: and initial:, a "
    "compound state.",
    requires={"initial": "states"},
)
CREATE = Obj(
    {
        **{
            k: f(Text(), nullable=True)
            for k in (
                "persona_id",
                "pal_id",
                "replica_id",
                "face_id",
                "conversation_name",
                "conversational_context",
                "custom_greeting",
                "callback_url",
            )
        },
        "test_mode": f(Bool(), nullable=True),
        "require_auth": f(Bool(), nullable=True),
        "properties": f(MapOf(AnyValue(), "Create Conversation properties."), nullable=True),
    },
    "Create Conversation fields: the runner starts a conversation and ends it on every exit path.",
)
CONVERSATION = Obj(
    {
        "url": f(Text("Join this existing conversation."), nullable=True),
        "id": f(Text("The conversation's id."), nullable=True),
        "token": f(Text("A meeting token for the room."), nullable=True),
        "create": f(Ref("create"), nullable=True),
        "context_spelling": f(
            Enum(CONTEXT_SPELLINGS, "conversation.*_llm_context (default) or the older *_context.")
        ),
        "persona_file": f(
            Str(
                "The persona as Tavus's API returns it (a JSON file relative to the scenario, "
                "written by `cviscript persona pull`): configures the simulated replica and is "
                "checked against the scenario at load.",
                nonempty=True,
            ),
            nullable=True,
        ),
        "replica_profile": f(
            Str(
                "Replica settings (a YAML file of replica: keys, relative to the scenario, "
                "written by `cviscript calibrate`) every rehearsal starts from.",
                nonempty=True,
            ),
            nullable=True,
        ),
    },
    "How to reach a live conversation: url to join one, or create to start one.",
    exclusive=(("url", "create"),),
)

# ------------------------------------------------------------------------------------- rehearsals

SIM_TOOL_CALL = OneOf((Str("The tool's name."), Ref("tool_call")), "A tool call to make.")
USER_ON = Obj(
    {
        **{k: f(v) for k, v in USER_TRIGGER_SPECS.items()},
        **{k: spec for k, (_, spec) in TRIGGER_EXTRA_KEYS.items()},
    },
    "When the rule fires: a transition trigger, {state: NAME} or {at: DURATION}.",
    exactly_one=USER_TRIGGERS,
    requires={k: kind for k, (kind, _) in TRIGGER_EXTRA_KEYS.items()},
)
USER_RULE = Obj(
    {
        "on": f(OneOf((Str("Shorthand for {state: NAME}.", nonempty=True), Ref("user_on")))),
        "at": f(Duration("Shorthand for on: {at: DURATION}: this long after the run started.")),
        "say": f(Text("Words the simulated user says.")),
        "perceive": f(
            Text(
                "What the replica's perception sees, reported in the call (a vision "
                "perception_tool_call): it fires perception: triggers."
            )
        ),
        "interrupt": f(Bool("The user cuts the replica off, without words.")),
        "tool_call": f(SIM_TOOL_CALL),
        "barge_in": f(Bool("Say it without waiting for the replica to be silent.")),
        "voice": f(
            OneOf(
                (
                    Bool("true: in a live rehearsal, speak `say` through the microphone (TTS)."),
                    Str("A WAV file (relative to the scenario) spoken for `say`.", nonempty=True),
                ),
                "How `say` reaches a live replica: spoken through a virtual microphone.",
            )
        ),
        "times": f(Int("How many times the rule may fire; 0 = unlimited.", minimum=0)),
        "delay": f(Duration("Thinking time before acting.")),
    },
    "A simulated user rule: when `on` happens (or `at` a time), do one of say, perceive, "
    "interrupt, tool_call.",
    exactly_one=("say", "perceive", "interrupt", "tool_call"),
    counts_if_true=("interrupt",),
    at_least_one=("on", "at"),
    exclusive=(("on", "at"),),
    requires={"voice": "say"},
)
USER_DOES = USER_RULE.exactly_one
OPERATOR_RULE = Obj(
    {
        "on": f(OneOf((Str("Shorthand for {state: NAME}.", nonempty=True), Ref("user_on")))),
        "at": f(Duration("Shorthand for on: {at: DURATION}: this long after the run started.")),
        "fire": f(
            Text("The manual: name to fire (a manual trigger of this scenario).", nonempty=True),
            required=True,
        ),
        "times": f(Int("How many times the rule may fire; 0 = unlimited.", minimum=0)),
        "delay": f(Duration("Waiting time before firing.")),
    },
    "A rehearsed operator rule: when `on` happens (or `at` a time), fire a manual: transition.",
    at_least_one=("on", "at"),
    exclusive=(("on", "at"),),
)
PERSONA_RULE = Obj(
    {
        "match": f(
            Text(
                "A regular expression the user speech or respond text must match; without it the "
                "rule answers anything (the fallback, after the rules above it)."
            )
        ),
        "say": f(Text("The reply; may use {{ groups.x }} and, after a tool call, {{ result }}.")),
        "tool_call": f(SIM_TOOL_CALL),
        "complete_objective": f(Ref("complete_objective")),
    },
    "The stand-in LLM: the first matching rule (or rule without match) answers.",
    at_least_one=("say", "tool_call", "complete_objective"),
)
COMPLETE_OBJECTIVE = Obj(
    {
        "name": f(Str("The objective's name (objective_name).", nonempty=True), required=True),
        "output_variables": f(
            MapOf(AnyValue(), "Its output variables; text values are templates like say:."),
            nullable=True,
        ),
    },
    "The simulated replica reports this objective completed (conversation.objective.completed) "
    "as the rule answers, or once its tool's result is in.",
)
REPLICA = Obj(
    {
        "words_per_minute": f(Number("Replica speaking rate.", positive=True)),
        "user_words_per_minute": f(Number("Simulated user speaking rate.", positive=True)),
        "echo_latency": f(Duration("Echo received to replica.started_speaking.")),
        "reply_latency": f(Duration("User speech or respond to the persona's reply.")),
        "join_delay": f(Duration("Run start to system.replica_joined.")),
        "pipeline": f(Enum(PIPELINES, "echo: user speech gets no persona reply.")),
        "default_reply": f(
            Text("Said when no persona rule matches.", nonempty=True), nullable=True
        ),
        "vintage": f(
            Enum(
                VINTAGES,
                "The server's event stream: 2026 (today's: pal/replica copies, streaming,"
                " heartbeats) or 2024 (older: replica_interrupted, no copies).",
            )
        ),
        "greeting": f(
            Text("Spoken as the replica joins (default: conversation.create's custom_greeting)."),
            nullable=True,
        ),
        "heartbeat": f(Duration("Between system.replica_present heartbeats (2026); 0: none.")),
        "respond_echo": f(
            Bool(
                "A conversation.respond comes back as a user utterance (default true, as Tavus's "
                "own template expects; unconfirmed)."
            )
        ),
        "follow_up_window": f(
            Duration(
                "A tool result arriving later than this after the call is no longer spoken "
                "(default 15s; unconfirmed)."
            )
        ),
        "filler": f(
            Text(
                "What a tool with on_call: generate_filler says while it runs (default: "
                '"One moment, let me check that."; `cviscript calibrate` can measure yours).',
                nonempty=True,
            )
        ),
        "persona_file": f(
            Str("This case's persona file (overrides conversation.persona_file).", nonempty=True)
        ),
        "profile": f(
            Str(
                "This case's replica settings file (overrides conversation.replica_profile); "
                "keys written here win over it.",
                nonempty=True,
            )
        ),
    },
    "Simulated replica timing and server vintage.",
)
FAULTS = Obj(
    {
        "delay": f(Duration("Added to every event.")),
        "jitter": f(Duration("Plus a random 0..jitter.")),
        "duplicate": f(
            Number("Probability an event is delivered twice.", maximum=1.0, noun="a probability")
        ),
        "reorder": f(
            Number(
                "Probability an event is held back behind the next.",
                maximum=1.0,
                noun="a probability",
            )
        ),
        "drop": f(Number("Probability an event is lost.", maximum=1.0, noun="a probability")),
        "only": f(ListOf(EventName(), "Restrict faults to these events.", single=True)),
        "disconnect": f(Duration("The connection drops this long after the start.")),
    },
    "Seeded network misbehaviour.",
)
DURATION_MAX = Obj({"max": f(Duration("At most this much virtual time."), required=True)})
EXPECT = Obj(
    {
        "path": f(ListOf(STATE_NAME, "The exact list of states entered.", single=True)),
        "final": f(Text("The state the run ends in.", nonempty=True)),
        "outcome": f(Enum(OUTCOMES, "How the run ends.")),
        "said": f(
            ListOf(
                Text(nonempty=True),
                "Replica speech containing these, in order; only what the replica got through "
                "counts (not the words an interruption cut off).",
                single=True,
            )
        ),
        "not_said": f(
            ListOf(
                Text(nonempty=True),
                "Replica speech must never contain any of these (case-insensitive).",
                single=True,
            )
        ),
        "sent": f(ListOf(Text(nonempty=True), "Interaction types sent, in order.", single=True)),
        "not_sent": f(ListOf(Text(nonempty=True), "Interaction types never sent.", single=True)),
        "vars": f(MapOf(AnyValue(), "Variable values at the end."), nullable=True),
        "duration": f(OneOf((Duration("Shorthand for {max: DURATION}."), DURATION_MAX))),
    },
    "What must hold when the rehearsal ends.",
)
REHEARSAL = Obj(
    {
        "name": f(Text("The case's name.", nonempty=True), required=True),
        "description": f(Text("Free text."), nullable=True),
        "user": f(ListOf(Ref("user_rule"), "The simulated user."), nullable=True),
        "operator": f(
            ListOf(Ref("operator_rule"), "The rehearsed operator: fires manual: transitions."),
            nullable=True,
        ),
        "persona": f(ListOf(Ref("persona_rule"), "The stand-in LLM."), nullable=True),
        "replica": f(Ref("replica"), nullable=True),
        "faults": f(Ref("faults"), nullable=True),
        "seed": f(Int("The seed for anything random.")),
        "vars": f(MapOf(AnyValue(), "Overrides of the scenario's vars."), nullable=True),
        "hooks": f(
            MapOf(
                AnyValue(),
                "Python hooks (module:function) replaced by a canned result in this case; "
                "hooks not listed run for real.",
            ),
            nullable=True,
        ),
        "replay": f(Text("A recorded transcript to replay instead of simulating.", nonempty=True)),
        "expect": f(Ref("expect"), nullable=True),
    },
    "A rehearsal: the scenario against the simulated replica on a virtual clock.",
)
INCLUDE_LIST = ListOf(
    Text(nonempty=True),
    "Shared fragments whose vars, any and states are merged into this file (paths relative to "
    "it); a name defined twice is an error.",
    single=True,
)
SCENARIO = Obj(
    {
        "cviscript": f(Enum(VERSIONS, "The format version: 1."), required=True),
        "name": f(Text("The scenario's name.", nonempty=True), required=True),
        "description": f(Text("Free text."), nullable=True),
        "conversation": f(Ref("conversation"), nullable=True),
        "vars": f(MapOf(AnyValue(), "Initial variables."), nullable=True),
        "initial": f(Text("The first state.", nonempty=True), required=True),
        "any": f(
            ListOf(Ref("transition"), "Transitions checked in every state, before its own."),
            nullable=True,
        ),
        "states": f(
            MapOf(
                Ref("state"),
                "State name to state (a state with nothing to do may be left empty).",
                min_properties=1,
                nullable=True,
            ),
            required=True,
        ),
        "timeout": f(Duration("Deadline for the whole run (default 10m).", positive=True)),
        "final_wait": f(Duration("How long a final state waits for the replica to stop speaking.")),
        "rehearsals": f(ListOf(Ref("rehearsal"), "Rehearsal cases for CI."), nullable=True),
        "include": f(INCLUDE_LIST),
    },
    "A cviscript scenario: a state machine that drives one Tavus conversation.",
)
FRAGMENT = Obj(
    {
        "description": f(Text("Free text."), nullable=True),
        "include": f(INCLUDE_LIST),
        "vars": SCENARIO.fields["vars"],
        "any": SCENARIO.fields["any"],
        "states": f(SCENARIO.fields["states"].spec, nullable=True),
    },
    "A shared fragment (include:): vars, any and states merged into the including scenario.",
)

DEFS: dict[str, Spec] = {
    "state": STATE,
    "transition": TRANSITION,
    "action": ACTION,
    **TRIGGER_DEFS,
    "conversation": CONVERSATION,
    "create": CREATE,
    "rehearsal": REHEARSAL,
    "user_rule": USER_RULE,
    "user_on": USER_ON,
    "operator_rule": OPERATOR_RULE,
    "persona_rule": PERSONA_RULE,
    "complete_objective": COMPLETE_OBJECTIVE,
    "replica": REPLICA,
    "faults": FAULTS,
    "expect": EXPECT,
    "call": CALL,
}
ROOT = SCENARIO
