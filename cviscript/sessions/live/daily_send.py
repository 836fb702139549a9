"""Sending from a `DailySession`: checked, paced and bounded broadcasts of interactions.

A mixin of `cviscript.sessions.live.daily_session.DailySession`, split out because sending is a
job of its own: every interaction is checked (4096 characters, JSON-able) before it travels,
leaves through `outbox.Outbox` (a token bucket, 20/s with bursts of 10; audio echo chunks exempt
but never overtaking), and at most 10 s of paced messages wait. A message beyond that is refused,
recorded as dropped (the sink's ``on_ignored``, sender None) and warned about once per overflow.
What is still queued when the session closes is sent before leaving. Broadcast is
``participant_id=None`` (daily-python raises for ``'*'``). Runs on the loop thread only.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ... import errors
from ...protocol import check_size


class SendingMixin:
    """The send half of `DailySession` (it owns the attributes used here)."""

    _state: str
    _ended: bool
    _client: Any
    _loop: asyncio.AbstractEventLoop | None
    _outbox: Any
    _overflowing: bool
    _drain_handle: asyncio.TimerHandle | None
    _inflight: int
    send_errors: list[str]
    log: Any
    _emit: Any  # DailySession._emit
    _completion: Any  # DailySession._completion

    def send(self, message: dict[str, Any]) -> None:
        """Broadcast one interaction, now or — when over the rate — as soon as pacing allows.

        Raises `errors.CviscriptError` for a message that cannot travel (closed session, over
        4 KB, not JSON-able, refused by the SDK); a queued message that the SDK later refuses is
        logged and kept in `send_errors`.
        """
        if self._state != "connected":
            raise errors.CviscriptError(
                f"cannot send {_event_type(message)}: the Daily session is {self._state}"
            )
        if self._ended:
            raise errors.CviscriptError(
                f"cannot send {_event_type(message)}: the conversation connection is gone"
            )
        try:
            check_size(message)
        except (TypeError, ValueError) as exc:
            raise errors.CviscriptError(
                f"cannot send {_event_type(message)}: not JSON-serialisable ({exc})"
            ) from None
        verdict = self._outbox.offer(message)
        if verdict == "send":
            self._transmit(message)
        elif verdict == "queued":
            self._schedule_drain()
        else:
            self._refused(message)

    @property
    def dropped_sends(self) -> int:
        """Messages refused because the send queue was full."""
        return self._outbox.dropped

    def _refused(self, message: dict[str, Any]) -> None:
        reason = f"not sent: {self._outbox.refusal()}"
        if not self._overflowing:
            self._overflowing = True
            self.log.warning("%s; dropping what does not fit", reason)
        self._emit("ignored", message, None, reason)

    async def flush(self, timeout: float = 5.0) -> bool:
        """Wait (up to `timeout` s) until every message is sent and Daily confirmed it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (self._outbox or self._inflight) and loop.time() < deadline:
            if self._state != "connected" or self._ended:
                break
            await asyncio.sleep(0.01)
        return not self._outbox and not self._inflight

    def _transmit(self, message: dict[str, Any]) -> None:
        try:
            # participant_id=None is Daily's broadcast ('*' raises in daily-python)
            self._client.send_app_message(
                message, participant_id=None, completion=self._completion("_on_send_done")
            )
        except Exception as exc:  # ValueError, TypeError or a bare Exception from the SDK
            raise errors.CviscriptError(
                f"Daily refused to send {_event_type(message)}: {exc}"
            ) from exc
        self._inflight += 1

    def _now(self) -> float:
        return self._loop.time() if self._loop is not None else time.monotonic()

    def _schedule_drain(self) -> None:
        if self._drain_handle is not None or self._loop is None:
            return
        self._drain_handle = self._loop.call_later(self._outbox.wait(), self._drain)

    def _drain(self) -> None:
        self._drain_handle = None
        while self._outbox and self._state == "connected" and not self._ended:
            message = self._outbox.ready()
            if message is None:
                self._schedule_drain()
                return
            self._send_queued(message)
        self._overflowing = False

    def _send_queued(self, message: dict[str, Any]) -> None:
        try:
            self._transmit(message)
        except errors.CviscriptError as exc:
            self.send_errors.append(str(exc))
            self.log.error("%s", exc)

    def _flush_outbox_now(self) -> None:
        """Closing: what is still queued leaves now, unpaced (it is the last chance)."""
        if self._drain_handle is not None:
            self._drain_handle.cancel()
            self._drain_handle = None
        left = self._outbox.take_all()
        if self._client is None or self._state != "connected" or self._ended:
            if left:
                self.log.warning("%d queued message(s) not sent: the call ended", len(left))
            return
        for message in left:
            self._send_queued(message)

    def _on_send_done(self, error: Any = None) -> None:
        self._inflight = max(0, self._inflight - 1)
        if error is not None:
            self.send_errors.append(f"Daily could not deliver an app-message: {error}")
            self.log.error("Daily could not deliver an app-message: %s", error)


def _event_type(message: Any) -> str:
    if isinstance(message, dict) and isinstance(message.get("event_type"), str):
        return message["event_type"]
    return "message"
