"""What the one replica model needs to know: its timing, the server vintage, the conversation's limits.

The model serves two callers with different units: a rehearsal's `replica:` block (speaking rates in
words per minute, latencies of a real replica) and the fake Daily room's settings (tens of
milliseconds, for fast tests). Both are turned into one `ModelSettings`, so the model has one
vocabulary and no caller's knobs leak into it.

Vintages: ``2026`` is what a server sends today (pal/replica duplicate pairs, role-agnostic
copies, streaming utterances, presence heartbeats); ``2024`` is an older server (role ``replica``
only, no copies, no streaming, ``conversation.replica_interrupted`` on a cut-off, no heartbeats).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from ...language.persona_file import PersonaFile

Vintage = Literal["2026", "2024"]
VINTAGES: tuple[str, ...] = ("2026", "2024")
DEFAULT_VINTAGE: Vintage = "2026"
MIN_SPEECH = 0.4  # seconds: the shortest utterance (also the length of a wordless interruption)
DEFAULT_HEARTBEAT = 10.0  # seconds between system.replica_present heartbeats
# Unconfirmed: Tavus documents no timeout ("the dispatch eventually drops out of context"), and
# tavus-cli says a late result "usually lands after CVI synthesized one".
DEFAULT_FOLLOW_UP_WINDOW = 15.0
DEFAULT_FILLER = "One moment, let me check that."  # stands in for a generate_filler line


@dataclass(slots=True)
class ModelSettings:
    words_per_minute: float = 160.0  # replica speaking rate
    user_words_per_minute: float = 150.0  # simulated visitor speaking rate
    echo_latency: float = 0.3  # echo received -> replica starts speaking
    reply_latency: float = 0.9  # user speech / respond -> the persona's reply starts
    join_delay: float = 0.0  # start -> the replica joins
    min_speech: float = MIN_SPEECH
    audio_speed: float = 1.0  # an audio echo plays this many times faster than its duration
    pipeline: Literal["full", "echo"] = "full"
    default_reply: str | None = None
    vintage: Vintage = DEFAULT_VINTAGE
    greeting: str | None = None  # the conversation's custom_greeting, spoken as the replica joins
    heartbeat: float = DEFAULT_HEARTBEAT  # 0: no system.replica_present heartbeats
    announce: bool = True  # send system.replica_joined on joining
    max_call_duration: float | None = None  # from joining; then system.shutdown
    tool_error_reply: str = "Sorry, that did not work."  # the acknowledgement of a tool error
    persona_file: PersonaFile | None = None  # the user's persona: tools, objectives, perception
    # a conversation.respond comes back as a user-role utterance (Tavus's own template expects it)
    respond_echo: bool = True
    follow_up_window: float = DEFAULT_FOLLOW_UP_WINDOW  # a later tool result is not spoken
    filler: str = DEFAULT_FILLER  # what an on_call generate_filler tool says while it runs

    @property
    def modern(self) -> bool:
        return self.vintage != "2024"


def speaking_time(text: str, words_per_minute: float, min_speech: float = MIN_SPEECH) -> float:
    words = len(text.split())
    return max(min_speech, words * 60.0 / words_per_minute) if words_per_minute > 0 else min_speech


def conversation_limits(create: dict[str, Any] | None) -> dict[str, Any]:
    """`greeting` and `max_call_duration` from a rendered Create Conversation body (may be None)."""
    out: dict[str, Any] = {}
    if not isinstance(create, dict):
        return out
    greeting = create.get("custom_greeting")
    if isinstance(greeting, str) and greeting.strip():
        out["greeting"] = greeting
    props = create.get("properties")
    if isinstance(props, dict):
        limit = props.get("max_call_duration")
        if isinstance(limit, int | float) and not isinstance(limit, bool) and limit > 0:
            out["max_call_duration"] = float(limit)
    return out
