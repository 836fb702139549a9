"""What the replica model would do: the yardstick a live conversation is checked against.

The self-check never runs the model beside a live conversation (a live replica's timing differs
anyway); it compares what arrives with the model's *rules*, gathered here from the replica
settings and the persona the rehearsal would use: whether a ``conversation.respond`` comes back as
a user utterance, what a tool call makes the replica say (``on_call``) and whether it speaks the
result (``on_resolve``), which shutdown reasons exist, which side of the client's join the replica
arrives on. `source` says where they came from, so a finding can name the file to change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# What a tool does in a model that has no persona settings (silent while the tool runs, then it
# speaks the persona's reply to the result); with a persona file, the persona's tools decide,
# and a tool it lacks has Tavus's documented defaults (generate_filler, fire_and_forget).
SILENT = "none"  # on_call: nothing spoken while the tool runs
SPOKEN_ON_RESOLVE = "generate_response"  # on_resolve: the result is spoken
FIRE_AND_FORGET = "fire_and_forget"  # on_resolve: nothing spoken after the result
TAVUS_DEFAULT_ON_CALL = "generate_filler"


@dataclass(frozen=True, slots=True)
class ToolRule:
    on_call: str = SILENT
    on_resolve: str = SPOKEN_ON_RESOLVE
    static_filler: str | None = None

    @property
    def filler(self) -> bool:
        return self.on_call == "generate_filler" or (
            self.on_call == "static_filler" and bool(self.static_filler)
        )

    @property
    def speaks_result(self) -> bool:
        return self.on_resolve != FIRE_AND_FORGET


@dataclass(slots=True)
class Assumptions:
    source: str = "the replica model's defaults"
    respond_echo: bool = False
    utterances: bool = True  # the model sends conversation.utterance for every speaking turn
    replica_first: bool = False  # the replica is in the room before the client joins
    tools: dict[str, ToolRule] = field(default_factory=dict)
    default_tool: ToolRule = ToolRule()
    shutdown_reasons: frozenset[str] = frozenset()
    result_wait: float = 5.0  # seconds after a tool_result within which the model speaks it
    follow_up_window: float = float("inf")  # a result later than this after its call: unspoken
    reply_latency: float = 0.9
    no_utterance_turns: int = 2  # replica turns without any utterance before saying so

    def tool(self, name: str | None) -> ToolRule:
        return self.tools.get(name or "", self.default_tool)

    @classmethod
    def from_settings(
        cls,
        settings: Any = None,
        *,
        source: str | None = None,
        tools: Mapping[str, ToolRule] | None = None,
        default_tool: ToolRule | None = None,
    ) -> Assumptions:
        """From a `ModelSettings` (or a rehearsal's `ReplicaSettings`): any attribute it lacks
        keeps the shipped model's behaviour, so this reads older and newer settings alike."""
        from ..sessions.replica_model import presence

        reasons = frozenset(getattr(presence, "SHUTDOWN_REASONS", ()))
        out = cls(shutdown_reasons=reasons)
        if source:
            out.source = source
        if settings is not None:
            out.respond_echo = bool(getattr(settings, "respond_echo", False))
            out.utterances = bool(getattr(settings, "utterances", True))
            out.replica_first = bool(getattr(settings, "replica_first", False))
            latency = getattr(settings, "reply_latency", None)
            if isinstance(latency, int | float) and latency >= 0:
                out.reply_latency = float(latency)
            out.result_wait = max(out.result_wait, 3 * out.reply_latency)
            window = getattr(settings, "follow_up_window", None)
            if isinstance(window, int | float) and window > 0:
                out.follow_up_window = float(window)
            if hasattr(settings, "persona_file"):  # a model that reads the persona's tools
                out.default_tool = ToolRule(TAVUS_DEFAULT_ON_CALL, FIRE_AND_FORGET)
                persona = settings.persona_file
                for name, tool in (getattr(persona, "tools", None) or {}).items():
                    out.tools[name] = ToolRule(
                        str(getattr(tool, "on_call", None) or SILENT),
                        str(getattr(tool, "on_resolve", FIRE_AND_FORGET)),
                        getattr(tool, "static_filler", None),
                    )
        if tools:
            out.tools.update(tools)
        if default_tool is not None:
            out.default_tool = default_tool
        return out


def for_scenario(scenario: Any, rehearsal: Any = None) -> Assumptions:
    """The rules a live run of `scenario` is checked against: those of `rehearsal` (a live
    rehearsal's case), else the scenario's first rehearsal (what `cviscript run` rehearses by
    default), else the model's defaults."""
    from ..sessions.simulated.replica import model_settings

    if rehearsal is None:
        rehearsals = getattr(scenario, "rehearsals", None) or []
        rehearsal = rehearsals[0] if rehearsals else None
    if rehearsal is None or getattr(rehearsal, "replay", None):
        from ..sessions.replica_model import ModelSettings

        persona = getattr(scenario, "personas", {}).get(
            getattr(getattr(scenario, "conversation", None), "persona_file", None) or ""
        )
        return Assumptions.from_settings(ModelSettings(persona_file=persona))
    name = getattr(rehearsal, "name", "")
    persona_for = getattr(scenario, "persona_for", None)
    persona = persona_for(rehearsal) if persona_for is not None else None
    source = f"the replica: settings of rehearsal {name!r}"
    if persona is not None:
        source += f" and the persona file {persona.path}"
    return Assumptions.from_settings(model_settings(rehearsal, persona), source=source)
