"""The live session's outgoing queue: paced, ordered and bounded.

Older Tavus clients kept to at most 20 app-messages per second, so interactions leave through a
token bucket (`max_rate` per second, bursts of `burst`): a scenario that loops through states cannot
flood the data channel, while a state's few `enter` messages leave at once. Audio echo chunks take
no token — `cviscript.engine.actions.AudioStream` paces them itself, faster than real time, which a
20/s cap would starve — but never overtake queued messages.

The queue is bounded by time: at most `MAX_BACKLOG_SECONDS` of paced messages (200 at 20/s) wait.
A message that would wait longer is stale for a conversation — the moment it was meant for has
passed — and a scenario producing them faster than they can leave is looping: keeping them all
only delays the damage (a 2 ms `after:` loop once queued 2,012 messages, all flushed at close). So
the queue refuses the newest message, which the caller reports as dropped. `MAX_QUEUED` bounds the
whole queue, audio included (4 KB each: at most ~4 MB).

Single-threaded: everything runs on the session's loop thread.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

MAX_RATE = 20.0  # app-messages per second (older clients paced at <= 20/s)
BURST = 10  # messages that may leave at once before pacing applies
MAX_BACKLOG_SECONDS = 10.0  # the longest a paced message may be expected to wait
MAX_QUEUED = 1000  # messages of any kind waiting


def is_audio_chunk(message: Any) -> bool:
    props = message.get("properties") if isinstance(message, dict) else None
    return (
        message.get("event_type") == "conversation.echo"
        and isinstance(props, dict)
        and props.get("modality") == "audio"
    )


class Outbox:
    """A token bucket in front of a FIFO. `offer` says whether a message may leave now (the
    caller sends it), is queued (a drain is due after `wait()`), or is refused (the queue is
    full: the caller reports it)."""

    def __init__(
        self,
        now: Callable[[], float],
        max_rate: float | None = MAX_RATE,
        burst: int = BURST,
        max_backlog_seconds: float = MAX_BACKLOG_SECONDS,
        max_queued: int = MAX_QUEUED,
    ):
        self._now = now
        self.max_rate = max_rate if max_rate and max_rate > 0 else None
        self.burst = max(1, int(burst))
        self.max_paced = (
            max(self.burst, int(self.max_rate * max_backlog_seconds)) if self.max_rate else 0
        )
        self.max_queued = max(1, max_queued)
        self._tokens = float(self.burst)
        self._tokens_at: float | None = None
        self.queue: deque[dict[str, Any]] = deque()
        self._paced = 0  # queued messages that need a token
        self.dropped = 0  # refused since the start

    def __len__(self) -> int:
        return len(self.queue)

    def offer(self, message: dict[str, Any]) -> str:
        """ "send", "queued" or "refused"."""
        if not self.queue and self._take(message):
            return "send"
        paced = not is_audio_chunk(message) and self.max_rate is not None
        if len(self.queue) >= self.max_queued or (paced and self._paced >= self.max_paced):
            self.dropped += 1
            return "refused"
        self.queue.append(message)
        self._paced += paced
        return "queued"

    def refusal(self) -> str:
        return (
            f"the send queue is full ({len(self.queue)} messages, about"
            f" {self._paced / self.max_rate if self.max_rate else 0:.0f} s behind at"
            f" {self.max_rate or 0:g}/s): the scenario sends faster than Tavus takes messages"
        )

    def ready(self) -> dict[str, Any] | None:
        """The next queued message if it may leave now (removed from the queue), else None."""
        if not self.queue or not self._take(self.queue[0]):
            return None
        message = self.queue.popleft()
        self._paced -= not is_audio_chunk(message) and self.max_rate is not None
        return message

    def take_all(self) -> list[dict[str, Any]]:
        """Empty the queue (closing: what is left leaves now, unpaced, or is discarded)."""
        out = list(self.queue)
        self.queue.clear()
        self._paced = 0
        return out

    def wait(self) -> float:
        """Seconds until the head of the queue may leave."""
        return 0.0 if self.max_rate is None else max(0.0, (1.0 - self._tokens) / self.max_rate)

    def _take(self, message: dict[str, Any]) -> bool:
        if self.max_rate is None or is_audio_chunk(message):
            return True
        now = self._now()
        if self._tokens_at is not None:
            elapsed = max(0.0, now - self._tokens_at)
            self._tokens = min(float(self.burst), self._tokens + elapsed * self.max_rate)
        self._tokens_at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False
