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
from typing import Any, Literal

Vintage = Literal["2026", "2024"]
VINTAGES: tuple[str, ...] = ("2026", "2024")
DEFAULT_VINTAGE: Vintage = "2026"
MIN_SPEECH = 0.4  # seconds: the shortest utterance (also the length of a wordless interruption)
DEFAULT_HEARTBEAT = 10.0  # seconds between system.replica_present heartbeats


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
    tool_error_reply: str = "Sorry, that did not work."  # said after a tool_result with error

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
