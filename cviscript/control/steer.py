"""A thread-safe handle on a running conversation, for the operator.

The conversation runs on one thread (the realtime driver's in a simulation, the asyncio loop's
live); the prompt, the key reader and the control server run on others. Every operator action is
handed to the conversation's thread and awaited there, with a bound (`TIMEOUT`), so nothing ever
touches the engine from two threads. Each answer is a short line for a person to read.

What each action is, by mode:

==========  ===================================  ====================================
action      simulated (`cviscript run`)          live (`--url`, `--create`, `--live`)
==========  ===================================  ====================================
fire NAME   fires `manual: NAME` (both modes; recorded as an `operator` transcript record)
say TEXT    the simulated visitor says it         `conversation.respond` with TEXT
see TEXT    a perception analysis is reported     (not available: Tavus has no way in)
barge       the visitor cuts the replica off      `conversation.interrupt`
==========  ===================================  ====================================

Operator actions other than `fire` are recorded as `operator` records too (`say`, `see`,
`barge`), so a transcript shows what the person did; a replay fires the `fire`s again and takes
the rest from what the room answered.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from ..errors import did_you_mean
from ..language.model import Scenario
from ..language.triggers import MANUAL_NAME_PATTERN
from ..printable import printable
from ..protocol import ProtocolError

TIMEOUT = 5.0  # seconds an operator action waits for the conversation's thread
MAX_TEXT = 2000  # characters of visitor text or perception taken from the operator
MANUAL_NAME = re.compile(MANUAL_NAME_PATTERN)


def scenario_manual_names(scenario: Scenario) -> list[str]:
    """Every `manual:` name of the scenario, in file order (`any:` first)."""
    return scenario.manual_names()


class Steering:
    """The operator's actions on one running conversation. Subclasses say how to reach its
    thread (`_submit`) and what say/see/barge mean there."""

    mode = "?"

    def __init__(self, conv: Any):
        self.conv = conv
        self.names = scenario_manual_names(conv.scenario)

    # ------------------------------------------------------------------------------- actions

    def fire(self, name: str) -> tuple[bool, str]:
        """(fired, a line saying what happened)."""
        name = name.strip()
        if not MANUAL_NAME.match(name):
            return False, "not a manual name (letters, digits, '_', '-', '.'; at most 64)"
        if name not in self.names:
            known = ", ".join(self.names) or "none"
            return False, (
                f"the scenario has no manual: '{name}'{did_you_mean(name, self.names)} "
                f"(its manual names: {known})"
            )

        def on_thread() -> tuple[str | None, str | None, str | None, list[str]]:
            before = self.conv.engine.state
            fired = self.conv.fire(name)
            return fired, before, self.conv.engine.state, self.conv.engine.manual_names()

        answer = self._call(on_thread)
        if answer is None:
            return False, "the run is over"
        fired, before, after, here = answer
        if fired is None:
            where = f"in state '{before}'" if before else "now"
            names = ", ".join(here) or "none"
            return False, f"'{name}' fired nothing {where} (names it answers: {names})"
        return True, f"fired {fired}: {before} → {after}"

    def say(self, text: str) -> str:
        raise NotImplementedError

    def see(self, text: str) -> str:
        raise NotImplementedError

    def barge(self) -> str:
        raise NotImplementedError

    def status(self) -> dict[str, Any]:
        """The current state and the manual names it answers (for the control page)."""

        def on_thread() -> dict[str, Any]:
            engine = self.conv.engine
            return {
                "state": engine.state,
                "done": engine.done,
                "answers": engine.manual_names(),
            }

        found = self._call(on_thread)
        return found or {"state": None, "done": True, "answers": []}

    def stop(self, reason: str) -> None:
        """End the run at the operator's word (outcome `stopped`, with `reason`: neither
        completed nor failed; `cviscript run` exits 4), without waiting."""

        def on_thread() -> None:
            if not self.conv.done:
                self.conv.abort("stopped", reason)

        self._submit(on_thread)

    # ------------------------------------------------------------------------------ plumbing

    def _record(self, **data: Any) -> None:
        """An `operator` record in the run's trace (on the conversation's thread)."""
        self.conv.trace.emit("operator", **data)

    def _call(self, fn: Callable[[], Any]) -> Any:
        try:
            return self._submit(fn).result(timeout=TIMEOUT)
        except FutureTimeout:
            return None

    def _submit(self, fn: Callable[[], Any]) -> Future:
        raise NotImplementedError


def _clip(text: str) -> str:
    return text.strip()[:MAX_TEXT]


class SimulatedSteering(Steering):
    """A simulated run at a human pace (`sessions.realtime.RealtimeDriver`)."""

    mode = "simulated"

    def __init__(self, conv: Any, driver: Any):
        super().__init__(conv)
        self.driver = driver
        self.user = conv.session.user  # the simulated visitor

    def _submit(self, fn: Callable[[], Any]) -> Future:
        return self.driver.submit(fn)

    def say(self, text: str, *, barge_in: bool = False) -> str:
        text = _clip(text)
        if not text:
            return "nothing to say"

        def on_thread() -> None:
            self._record(say=text, barge_in=barge_in)
            self.user.say(text, barge_in=barge_in)

        self._call(on_thread)
        return "the visitor says it" + (" (barging in)" if barge_in else "")

    def see(self, text: str) -> str:
        text = _clip(text)
        if not text:
            return "nothing to see"

        def on_thread() -> None:
            self._record(see=text)
            self.user.perceive(text)

        self._call(on_thread)
        return "perception reports it"

    def barge(self) -> str:
        def on_thread() -> None:
            self._record(barge=True)
            self.user.barge()

        self._call(on_thread)
        return "the visitor cuts the replica off"


class LiveSteering(Steering):
    """A live run: actions run on its asyncio loop."""

    mode = "live"

    def __init__(self, conv: Any, loop: asyncio.AbstractEventLoop):
        super().__init__(conv)
        self.loop = loop

    def _submit(self, fn: Callable[[], Any]) -> Future:
        future: Future = Future()

        def run() -> None:
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn())
                except Exception as exc:
                    future.set_exception(exc)

        try:
            self.loop.call_soon_threadsafe(run)
        except RuntimeError:  # the loop is closed: the run is over
            future.set_result(None)
        return future

    def _send(self, message: dict[str, Any], **record: Any) -> str | None:
        def on_thread() -> str | None:
            if self.conv.done:
                return "the run is over"
            self._record(**record)
            self.conv.session.send(message)
            return None

        try:
            return self._call(on_thread)
        except Exception as exc:  # could not be sent: say why, keep the run
            return f"could not send it: {printable(str(exc), keep_newlines=False)}"

    def say(self, text: str, *, barge_in: bool = False) -> str:
        text = _clip(text)
        if not text:
            return "nothing to say"
        interactions = self.conv.engine.actions.interactions
        try:
            message = interactions.respond(text)
        except ProtocolError as exc:  # over the message limit: nothing is sent
            return f"not sent: {printable(str(exc), keep_newlines=False)}"
        if barge_in:
            self._send(interactions.interrupt(), barge=True)
        problem = self._send(message, say=text)
        return problem or "sent as conversation.respond"

    def see(self, text: str) -> str:
        return "perception cannot be injected into a live conversation (simulated runs only)"

    def barge(self) -> str:
        problem = self._send(self.conv.engine.actions.interactions.interrupt(), barge=True)
        return problem or "sent conversation.interrupt"
