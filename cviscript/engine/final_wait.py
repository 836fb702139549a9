"""How a final state ends the run: once the replica is silent and no speech the run asked for can
still be expected to start, bounded by the scenario's `final_wait`.

`Speech` is what the engine knows of the replica's speech (it updates it from the events and the
messages it sends); `FinalWait` reads it, and owns the waits of a final state (the bound, and
the grace for requested speech to start).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from typing import Any

from ..clock import Clock
from ..language.durations import fmt_seconds

# A final state waits for speech it asked for only this long to *start* (a text echo starts in
# well under a second, an LLM reply to `respond` in a few): a persona or LLM that never answers
# must not hold the run for the whole `final_wait`, which bounds speech that did start.
REPLY_GRACE = 5.0


class Speech:
    """The replica's speech as the engine sees it.

    The replica also speaks unasked (the LLM's reply to the visitor, a tool's filler line), so a
    text echo counts as started when a replica utterance with its text arrives (Tavus sends it as
    speaking starts); a respond or an audio echo, whose words are not known, when any speech
    starts. A speech that ends with no utterance at all, on a server that has sent none (closed
    captions off), counts for the oldest text echo."""

    __slots__ = (
        "_echoes",
        "_other",
        "_unheard",
        "_utterances",
        "asked_at",
        "pending",
        "speaking",
    )

    def __init__(self) -> None:
        self.speaking = False
        self.pending = 0  # speech requested and not yet started
        self.asked_at = 0.0  # clock time of the last speech request
        self._echoes: deque[str] = deque(maxlen=64)  # text echoes asked for, not yet started
        self._other = 0  # responds and audio echoes asked for, not yet started
        self._utterances = False  # a replica utterance has arrived
        self._unheard = False  # the speech going on has had no utterance yet

    def asked(self, now: float, echo_text: str | None = None) -> None:
        """Speech was asked for: a text echo (`echo_text`), or a respond / audio echo."""
        if echo_text and echo_text.strip():
            self._echoes.append(words(echo_text))
        else:
            self._other += 1
        self.asked_at = now
        self._count()

    def started(self) -> None:
        self.speaking = True
        if self._other:
            self._other -= 1
        else:
            self._unheard = True
        self._count()

    def stopped(self) -> None:
        self.speaking = False
        if self._unheard and not self._utterances and self._echoes:
            self._echoes.popleft()  # no utterances on this server: a speech is a speech
        self._unheard = False
        self._count()

    def said(self, text: str | None) -> None:
        """A replica utterance arrived (as its speech started)."""
        self._utterances = True
        self._unheard = False
        said = words(text or "")
        if said in self._echoes:
            self._echoes.remove(said)
        self._count()

    def cancelled(self) -> None:
        """An interrupt: nothing asked for will start any more."""
        self._other = 0
        self._echoes.clear()
        self._count()

    def _count(self) -> None:
        self.pending = self._other + len(self._echoes)


_NOT_WORD = re.compile(r"[\W_]+")


def words(text: str) -> str:
    """A text as its words, for telling one speech from another: lower case, punctuation and
    spacing dropped (a server may render either differently from what it was sent)."""
    return " ".join(_NOT_WORD.sub(" ", text).split()).lower()


class FinalWait:
    def __init__(
        self,
        clock: Clock,
        seconds: float,
        speech: Speech,
        *,
        hooks_running: Callable[[], bool],
        finish: Callable[[str, str], None],
    ):
        """`seconds`: the scenario's `final_wait`; `hooks_running()`: a `call:` hook is still
        running (its failure must still end the run as an error); `finish(outcome, reason)`
        ends the run."""
        self.clock = clock
        self.seconds = seconds
        self.speech = speech
        self._hooks_running = hooks_running
        self._finish = finish
        self.state: str | None = None  # the final state entered
        self.handle: Any = None  # set in a final state: the run only waits to end
        self.grace: Any = None  # waits for requested speech to start
        self.expired = False  # `final_wait` is over, but a hook was still running
        self.over = False  # the run ended

    @property
    def active(self) -> bool:
        """In a final state: events and operator fires are no longer matched."""
        return self.handle is not None

    def enter(self, state: str) -> None:
        self.state = state
        self.handle = self.clock.call_later(self.seconds, self._timeout)
        self.check()

    def stop(self) -> None:
        self.over = True
        for handle in (self.handle, self.grace):
            if handle is not None:
                handle.cancel()

    def check(self) -> None:
        """End the run once the replica is silent and no speech it was asked for can still be
        expected to start (see `REPLY_GRACE`)."""
        speech = self.speech
        if self.over or speech.speaking:
            return  # stopped_speaking calls again; `final_wait` bounds it
        if self._hooks_running():
            return  # a hook's failure still ends the run as an error: its delivery calls again
        if self.expired:
            self._timeout()
            return
        if speech.pending == 0:
            self._finish("completed", f"reached final state {self.state!r}")
            return
        grace = min(REPLY_GRACE, self.seconds)
        left = speech.asked_at + grace - self.clock.now()
        if left <= 1e-9:
            self._finish(
                "completed",
                f"reached final state {self.state!r} (the replica did not start speaking within "
                f"{fmt_seconds(grace)} of the last echo/respond; not waiting for it)",
            )
        elif self.grace is None:
            self.grace = self.clock.call_later(left, self._grace_over)

    def _grace_over(self) -> None:
        self.grace = None
        self.check()

    def _timeout(self) -> None:
        if self._hooks_running():  # bounded by the hooks' own `timeout:`
            self.expired = True
            return
        self._finish(
            "completed",
            f"reached final state {self.state!r} (stopped waiting for the replica to finish "
            f"speaking after {fmt_seconds(self.seconds)})",
        )
