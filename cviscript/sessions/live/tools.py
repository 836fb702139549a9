"""Two small live tools around `DailySession`: watch a conversation, poke it once.

* `Listener` joins a conversation (as a silent participant, like a run) and reports every message
  as it arrives — normalised into trace records (``received`` / ``dropped``, the same records a
  run's transcript holds, so the console formatting is shared) and, for ``--json``, raw — until the
  conversation ends (``system.shutdown``, the replica leaving, the connection dropping) or it is
  stopped. Messages from anyone but the replica are shown as dropped, never as Tavus events.
* `Sender` joins, waits for the replica (bounded), sends interactions built by
  `cviscript.protocol.Interactions` (so the envelope, the context spelling and the 4 KB limit are
  the run's own), waits until Daily confirms them (bounded), and leaves.

Both leave the room and release the client on every exit path; `released` says whether the SDK
let go (see `cviscript.sessions.live.runner`: if not, exit with `os._exit`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

from ... import errors
from ...clock import AsyncioClock
from ...protocol import Interactions, Normalizer
from ...trace import Trace, TraceRecord
from .daily_session import DailySession
from .loop import Stopped, run_with_signals, until_stopped
from .options import LiveOptions
from .tavus_api import conversation_id_from_url

log = logging.getLogger("cviscript.sessions.live.tools")

Raw = Callable[[dict[str, Any]], None]


class _Tool:
    """What both tools share: joining, the stop event, the signal that set it, the release."""

    def __init__(self, options: LiveOptions) -> None:
        target = options.connection.target
        if not target.url:
            raise errors.UsageError("listen and send need the conversation's URL")
        self.url = target.url
        self.conversation_id = target.conversation_id or conversation_id_from_url(target.url)
        self.options = options
        self._status = options.on_status or (lambda text: log.info("%s", text))
        self.released = True
        self.stopped_by: str | None = None
        self._stop: asyncio.Event | None = None

    def _session(self, loop: asyncio.AbstractEventLoop) -> DailySession:
        """A session for this conversation; starts the stop event (a signal may already be in)."""
        self._stop = asyncio.Event()
        if self.stopped_by:
            self._stop.set()
        return DailySession(self.options, loop=loop)

    async def _join(self, session: DailySession) -> None:
        """Join and wait for the replica; raises `Stopped` when stopped meanwhile."""
        self._status(f"joining {self.url} and waiting for the replica")
        assert self._stop is not None
        await until_stopped(session.connect(), self._stop)

    def stop(self, signame: str = "SIGINT") -> None:
        self.stopped_by = self.stopped_by or signame
        if self._stop is not None:
            self._stop.set()


class Listener(_Tool):
    """Print a conversation's events; `run()` returns why it ended."""

    def __init__(
        self,
        options: LiveOptions,
        *,
        subscribers: Iterable[Callable[[TraceRecord], None]] = (),
        on_raw: Raw | None = None,
    ):
        super().__init__(options)
        self.subscribers = list(subscribers)
        self.on_raw = on_raw
        self.ended: str | None = None
        self.received = 0
        self._trace: Trace | None = None
        self._normalizer = Normalizer(self.conversation_id)

    async def run(self) -> str:
        loop = asyncio.get_running_loop()
        self._trace = Trace(AsyncioClock(loop), keep=False)
        for fn in self.subscribers:
            self._trace.subscribe(fn)
        session = self._session(loop)
        try:
            try:
                await self._join(session)
            except Stopped:
                return f"stopped by {self.stopped_by} while connecting"
            self._status("listening (Ctrl-C to stop)")
            session.start(self)
            await self._stop.wait()
            return self.ended or f"stopped by {self.stopped_by}"
        finally:
            self.released = await session.aclose()

    def run_sync(self) -> str:
        return run_with_signals(self.run(), self.stop)

    # sink (loop thread)
    def on_message(self, message: Any, sender: str | None = None) -> None:
        self.received += 1
        self._raw(message, sender)
        event, reason = self._normalizer.feed(message)
        assert self._trace is not None
        if event is None:
            self._trace.emit("dropped", message=message, sender=sender, reason=reason)
            return
        self._trace.emit("received", event=event, message=message, sender=sender)
        if event.type == "shutdown":
            self._end(f"the conversation was shut down: {event.text or 'no reason given'}")

    def on_ignored(self, message: Any, sender: str | None, reason: str) -> None:
        self._raw(message, sender, ignored=reason)
        assert self._trace is not None
        self._trace.emit("dropped", message=message, sender=sender, reason=reason)

    def on_closed(self, reason: str) -> None:
        self._end(reason)

    def _end(self, reason: str) -> None:
        if self.ended is None:
            self.ended = reason
        if self._stop is not None:
            self._stop.set()

    def _raw(self, message: Any, sender: str | None, **extra: Any) -> None:
        if self.on_raw is not None and self._trace is not None:
            record = {"ts": round(self._trace.clock.wall(), 6), "sender": sender, **extra}
            self.on_raw({**record, "message": message})


class _Ignore:
    def on_message(self, message: Any, sender: str | None = None) -> None:
        pass

    def on_closed(self, reason: str) -> None:
        pass

    def on_ignored(self, message: Any, sender: str | None, reason: str) -> None:
        pass


class Sender(_Tool):
    """Send interactions once the replica is there; `run()` returns the messages sent.

    `build(interactions)` makes the messages; it runs before joining, so a message that could not
    travel (too long, bad level) fails before anything else happens.
    """

    def __init__(
        self,
        options: LiveOptions,
        build: Callable[[Interactions], list[dict[str, Any]]],
        *,
        confirm_timeout: float = 5.0,
    ):
        super().__init__(options)
        spelling = options.context_spelling or "llm_context"
        self.messages = build(Interactions(self.conversation_id, spelling))
        self.confirm_timeout = confirm_timeout

    async def run(self) -> list[dict[str, Any]]:
        session = self._session(asyncio.get_running_loop())
        try:
            try:
                await self._join(session)
            except Stopped:
                raise errors.CviscriptError(
                    f"stopped by {self.stopped_by} before anything was sent"
                ) from None
            session.start(_Ignore())
            for message in self.messages:
                session.send(message)
            confirmed = await session.flush(self.confirm_timeout)
            if session.send_errors:
                raise errors.CviscriptError("; ".join(session.send_errors))
            if not confirmed:
                raise errors.CviscriptError(
                    f"Daily did not confirm sending within {self.confirm_timeout:g} s"
                )
            return self.messages
        finally:
            self.released = await session.aclose()

    def run_sync(self) -> list[dict[str, Any]]:
        return run_with_signals(self.run(), self.stop)
