"""A live Tavus conversation over daily-python: the one module that imports `daily`.

A Tavus conversation is a Daily room; Tavus's events and our interactions travel as Daily
app-messages (see docs/protocol.md). This module joins the room as a silent participant,
waits for the replica, hands the replica's messages to the session sink and broadcasts
interactions. What it must honour (measured facts about daily-python 0.36):

* `daily` is imported lazily, inside functions, so importing cviscript never loads the SDK.
* `Daily.init()` runs once per process behind a flag — a second call aborts the process — and
  `deinit()` is never called. `LogLevel.Off` keeps libwebrtc chatter off stdout (the SDK still
  writes JSON ERROR lines to fd 2 at every level; only an fd-level redirect hides those).
* Every callback and completion arrives on one SDK thread. They are bridged to the asyncio loop
  with `call_soon_threadsafe` (a closed loop is tolerated) and the bridge catches its own errors,
  which would otherwise vanish into `sys.unraisablehook`.
* `release()` may block (a pending join cannot be cancelled and holds it ~19 s), and hangs if
  called from a callback: `leave()` then `release()` run in a worker thread, waited on with a bound.
* Only Tavus steers: app-messages count only when they come from the replica's participant, which
  is recognised from Daily's participant data alone (`replica_id.ReplicaRecognizer`: user id marks,
  the persona's name, or what the command line names) — never from what a message says, so a
  stranger's ``system.replica_joined`` is ignored and counted, and cannot lock the replica out.
  Before the replica is identified, messages from unknown senders are held back (bounded); those
  from participants known not to be the replica are ignored at once. Anything from anyone else is
  reported to ``on_ignored`` and never reaches the engine.
* Broadcast is `participant_id=None` (``'*'`` raises); there is no client-side size limit, so
  `cviscript.protocol.check_size` enforces the 4096-character limit before sending.
* Pacing and bounds: interactions leave through `outbox.Outbox` (a token bucket, 20/s with bursts
  of 10; audio echo chunks exempt but never overtaking). At most 10 s of paced messages wait: a
  message beyond that is refused, recorded as dropped (the sink's ``on_ignored``, sender None) and
  warned about once per overflow. What is still queued when the session closes is sent before leaving.

Every sink call happens on the loop thread (the `Session` contract). Exceptions raised by the
sink go to the loop's exception handler.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

from ... import errors
from ...protocol import check_size
from ..base import Session, SessionSink
from .outbox import BURST, MAX_RATE, Outbox
from .replica_id import STRONG, ReplicaRecognizer, Roster, participant_fields
from .target import public_url

REPLICA_ANNOUNCEMENTS = frozenset(
    {"system.replica_joined", "system.pal_joined", "system.replica_present", "system.pal_present"}
)
# Join as a silent, blind participant: no camera, no microphone, publish nothing.
CLIENT_SETTINGS: dict[str, Any] = {
    "inputs": {"camera": {"isEnabled": False}, "microphone": {"isEnabled": False}},
    "publishing": {"camera": {"isPublishing": False}, "microphone": {"isPublishing": False}},
}
# ... and receive no media: the replica's video and audio are never downloaded.
SUBSCRIPTION_PROFILES: dict[str, Any] = {
    "base": {"camera": "unsubscribed", "microphone": "unsubscribed"}
}
MAX_HELD_MESSAGES = 256  # held back while the replica is not yet identified
LEAVE_TIMEOUT = 5.0  # worker's wait for leave()'s completion before release() anyway

Ignored = Callable[[Any, "str | None", str], None]

_log = logging.getLogger("cviscript.sessions.live.daily")

# ------------------------------------------------------------------------------ SDK process state

_init_lock = threading.Lock()
_initialized: weakref.WeakSet[Any] = weakref.WeakSet()  # daily modules (or fakes) already init'ed


def load_daily() -> Any:
    """Import daily-python, or explain how to get it."""
    try:
        import daily
    except ImportError as exc:
        raise errors.ConnectError(
            "live runs need daily-python: pip install 'cviscript[live]'"
            f" (importing daily failed: {exc})"
        ) from None
    return daily


def ensure_daily_init(daily: Any) -> None:
    """`Daily.init()` once per process (a second call aborts it), with logging off if supported."""
    with _init_lock:
        if daily in _initialized:
            return
        level = getattr(getattr(daily, "LogLevel", None), "Off", None)
        if level is None:
            daily.Daily.init()
        else:
            try:
                daily.Daily.init(log_level=level)
            except TypeError:  # an SDK without the keyword: argument parsing fails before init
                daily.Daily.init()
                set_level = getattr(daily.Daily, "set_log_level", None)
                if set_level is not None:
                    set_level(level)
        _initialized.add(daily)


def mark_daily_initialized(daily: Any = None) -> None:
    """Tell cviscript that the host application already called `Daily.init()` itself."""
    with _init_lock:
        _initialized.add(daily if daily is not None else load_daily())


_handler_classes: dict[type, type] = {}


def _bridge_class(base: type) -> type:
    """An `EventHandler` subclass of `base` (the module's own) forwarding callbacks to a session."""
    cls = _handler_classes.get(base)
    if cls is not None:
        return cls

    class _Bridge(base):  # type: ignore[misc, valid-type]
        # daily's EventHandler is a native class whose __new__ takes no arguments.
        def __new__(klass, session: DailySession):
            return super().__new__(klass)

        def __init__(self, session: DailySession):
            self._cvs_session = session

        def on_app_message(self, message: Any, sender: Any) -> None:
            self._cvs_session._post("_on_app_message", message, sender)

        def on_participant_joined(self, participant: Any) -> None:
            self._cvs_session._post("_on_participant_joined", participant)

        def on_participant_left(self, participant: Any, reason: Any) -> None:
            self._cvs_session._post("_on_participant_left", participant, reason)

        def on_call_state_updated(self, state: Any) -> None:
            self._cvs_session._post("_on_call_state", state)

        def on_error(self, message: Any) -> None:
            self._cvs_session._post("_on_error", message)

    _Bridge.__name__ = _Bridge.__qualname__ = "CviscriptEventHandler"
    _handler_classes[base] = _Bridge
    return _Bridge


# ------------------------------------------------------------------------------------- session


class DailySession(Session):
    """One Tavus conversation joined over Daily.

    Typical use, on the asyncio loop::

        session = DailySession(url, conversation_id=cid, token=token, loop=loop)
        try:
            await session.connect()          # ConnectError if Daily or the replica is unreachable
            session.start(conversation)      # the sink; held-back messages are delivered first
            ...                              # session.send(interaction)
        finally:
            await session.aclose()           # leave + release in a worker thread, bounded

    `daily` is the daily module to use (default: ``import daily``; tests pass a
    `cviscript.sessions.live.fake_daily.FakeDaily`); its `Daily.init()` is called once per process unless
    `mark_daily_initialized` says the host did it. `call_client_factory(handler)` overrides how
    the `CallClient` is made (`handler` is an instance of that module's `EventHandler`).
    """

    def __init__(
        self,
        url: str,
        *,
        conversation_id: str,
        token: str | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
        join_timeout: float = 30.0,
        replica_timeout: float = 60.0,
        user_name: str = "cviscript",
        call_client_factory: Callable[[Any], Any] | None = None,
        daily: Any = None,
        on_ignored: Ignored | None = None,
        logger: logging.Logger | None = None,
        max_rate: float | None = MAX_RATE,
        burst: int = BURST,
        replica_user_id: str | None = None,
        replica_name: str | None = None,
        persona_names: tuple[str, ...] = (),
    ):
        self.url = url  # joined as given: it may carry a meeting token as ?t=
        self.public_url = public_url(url)  # what logs, errors and reprs show
        self.conversation_id = conversation_id
        self._token = token
        self._loop = loop
        self.join_timeout = join_timeout
        self.replica_timeout = replica_timeout
        self.user_name = user_name
        self._factory = call_client_factory
        self._daily = daily
        self._on_ignored = on_ignored
        self.log = logger or _log

        self._state = "new"  # new -> connecting -> connected -> closed
        self._client: Any = None
        self._handler: Any = None
        self.call_state: str | None = None
        self.last_error: str | None = None
        self.replica_id: str | None = None
        self.recognizer = ReplicaRecognizer(
            user_id=replica_user_id, name=replica_name, persona_names=persona_names
        )
        self.roster = Roster()
        self._replica_strength = 0
        self.spoofed_announcements = 0  # replica announcements from other participants
        self._not_replica: set[str] = set()  # participants seen that are not the replica
        self._replica_ready = False
        self._joined = False
        self._join_error: str | None = None
        self._join_done = asyncio.Event()
        self._join_started = False
        self._join_completed = False  # the join's completion arrived (unlike _join_done, which
        # an abort sets too)
        self._replica_done = asyncio.Event()
        self._abort_reason: str | None = None  # ends a pending connect()
        self._held: deque[tuple[Any, Any]] = deque()  # before the replica is identified
        self._sink: SessionSink | None = None
        self._backlog: deque[tuple[Any, ...]] = deque()  # waiting for start() or a flush
        self._flush_scheduled = False
        self._ended = False  # on_closed delivered (or queued): nothing more goes to the sink
        self._callback_threads: set[int] = set()
        self._teardown_started = False
        self._released = threading.Event()
        # pacing (loop thread only)
        self._outbox = Outbox(self._now, max_rate, burst)
        self.max_rate, self.burst = self._outbox.max_rate, self._outbox.burst
        self._overflowing = False  # an overflow was warned about and the queue has not drained
        self._drain_handle: asyncio.TimerHandle | None = None
        self._inflight = 0  # sent, completion not yet received
        self.send_errors: list[str] = []  # failures reported after send() returned

    def __repr__(self) -> str:  # never shows the meeting token
        return (
            f"<DailySession {self.public_url} conversation={self.conversation_id}"
            f" state={self._state} replica={self.replica_id}>"
        )

    @property
    def state(self) -> str:
        return self._state

    @property
    def join_pending(self) -> bool:
        """A join was started and has not completed: the SDK will not release the client
        before it fails (~19 s offline), so waiting for the release is pointless."""
        return self._join_started and not self._join_completed

    @property
    def released(self) -> bool:
        """True once the Daily client is released (or there never was one)."""
        return self._released.is_set()

    # ------------------------------------------------------------------------------ connect
    async def connect(self) -> None:
        """Join the room and wait for the replica. Raises `errors.ConnectError`.

        On failure (or cancellation) the session closes itself; `close`/`aclose` remain safe.
        """
        if self._state != "new":
            raise errors.UsageError(f"connect() called on a session that is {self._state}")
        self._loop = self._loop or asyncio.get_running_loop()
        self._state = "connecting"
        try:
            await self._connect()
        except BaseException:
            self.close()
            raise
        self._state = "connected"
        self.log.info("connected to %s; replica participant %s", self.public_url, self.replica_id)

    async def _connect(self) -> None:
        daily = self._daily if self._daily is not None else load_daily()
        ensure_daily_init(daily)  # CallClient() before init aborts the process
        factory = self._factory
        if factory is None:

            def factory(handler: Any) -> Any:
                return daily.CallClient(event_handler=handler)

        self._handler = handler = _bridge_class(daily.EventHandler)(self)  # the SDK may not keep it
        try:
            self._client = client = factory(handler)
            client.set_user_name(self.user_name)
            client.update_subscription_profiles(SUBSCRIPTION_PROFILES)
            self._join_started = True
            client.join(
                self.url,
                meeting_token=self._token,
                client_settings=CLIENT_SETTINGS,
                completion=self._completion("_on_join_done"),
            )
        except Exception as exc:  # bad argument types and the like raise synchronously
            raise errors.ConnectError(f"could not reach Daily: {exc}") from exc

        if not await self._wait(self._join_done, self.join_timeout):
            raise errors.ConnectError(
                f"could not reach Daily: no answer joining {self.public_url} within {self.join_timeout:g} s"
            )
        if self._join_error is not None:
            raise errors.ConnectError(f"could not reach Daily: {self._join_error}")
        self._check_aborted()
        self._joined = True
        try:
            self._scan_participants(client.participants())
        except Exception as exc:  # never fatal: on_participant_joined still identifies it
            self.log.warning("could not list participants: %s", exc)

        if not await self._wait(self._replica_done, self.replica_timeout):
            spoofed = (
                f"; {self.spoofed_announcements} replica announcement(s) from participants not"
                " recognised as the replica were ignored"
                if self.spoofed_announcements
                else ""
            )
            raise errors.ConnectError(
                f"the replica did not join within {self.replica_timeout:g} s"
                f" (conversation {self.conversation_id}: has it ended? a test_mode"
                f" conversation never gets a replica). Looked for {self.recognizer.describe()};"
                f" {self.roster.describe()}{spoofed}. If one of them is the replica, name it"
                " with --replica-user-id or --replica-name"
            )
        self._check_aborted()

    async def _wait(self, event: asyncio.Event, timeout: float) -> bool:
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def _check_aborted(self) -> None:
        if self._abort_reason is not None:
            raise errors.ConnectError(self._abort_reason)

    def _abort_connect(self, reason: str) -> None:
        if self._abort_reason is None:
            self._abort_reason = reason
        self._join_done.set()
        self._replica_done.set()

    # -------------------------------------------------------------------------- start / send
    def start(self, sink: SessionSink) -> None:
        if self._sink is not None:
            raise errors.UsageError("start() called twice")
        self._sink = sink
        if self._backlog:
            self._schedule_flush()

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

    # --------------------------------------------------------------------------------- close
    def close(self, timeout: float = 0.0) -> bool:
        """Stop delivering; leave and release the client in a worker thread. Idempotent.

        Waits up to `timeout` seconds (default: not at all, so it is safe on the loop thread and
        never blocks a Daily callback) and returns whether the client has been released.
        """
        if not self._teardown_started:
            self._teardown_started = True
            if self._outbox or self._drain_handle is not None:
                self._flush_outbox_now()
            self._state = "closed"
            self._on_loop(self._abort_connect, "the session was closed while connecting")
            client, self._client = self._client, None
            if client is None:
                self._released.set()
            else:
                threading.Thread(
                    target=self._teardown, args=(client,), name="cviscript-daily-close", daemon=True
                ).start()
        if threading.get_ident() in self._callback_threads:
            return self._released.is_set()  # waiting here would deadlock the SDK
        return self._released.wait(timeout)

    def _on_loop(self, fn: Callable[..., None], *args: Any) -> None:
        """Run `fn` now if on the loop's thread (or without a loop), else hand it to the loop."""
        loop = self._loop
        try:
            here = asyncio.get_running_loop() is loop
        except RuntimeError:
            here = False
        if loop is None or here or not loop.is_running():
            fn(*args)
            return
        try:
            loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # closed meanwhile
            fn(*args)

    async def aclose(self, timeout: float = 10.0) -> bool:
        """`close()` and wait, without blocking the loop, up to `timeout` s for the release.

        False means the SDK is still releasing (a join was pending): a process about to exit
        should then leave with `os._exit` after its own cleanup, or the SDK aborts it later.
        """
        self.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self._released.is_set() and loop.time() < deadline:
            await asyncio.sleep(0.01)
        return self._released.is_set()

    def _teardown(self, client: Any) -> None:
        left = threading.Event()
        try:
            client.leave(completion=lambda *_: left.set())
            if not left.wait(LEAVE_TIMEOUT):
                self.log.warning("Daily did not confirm leaving within %g s", LEAVE_TIMEOUT)
        except Exception as exc:
            self.log.warning("leaving the Daily call failed: %s", exc)
        try:
            client.release()
        except Exception as exc:
            self.log.warning("releasing the Daily client failed: %s", exc)
        finally:
            self._released.set()
            self.log.debug("Daily client released")

    # ------------------------------------------------------------------ SDK thread -> loop
    def _post(self, name: str, *args: Any) -> None:
        """Runs on the SDK's thread: hand a callback over to the loop. Never raises."""
        try:
            self._callback_threads.add(threading.get_ident())
            loop = self._loop
            if loop is not None and not loop.is_closed():
                loop.call_soon_threadsafe(self._dispatch, name, args)
        except RuntimeError:  # the loop closed between the check and the call
            pass
        except Exception as exc:  # logging handles its own failures
            self.log.error("Daily callback %s could not be forwarded: %r", name, exc)

    def _completion(self, name: str) -> Callable[..., None]:
        return lambda *args: self._post(name, *args)

    def _dispatch(self, name: str, args: tuple[Any, ...]) -> None:
        getattr(self, name)(*args)

    # ------------------------------------------------------------------- on the loop thread
    def _on_join_done(self, data: Any, error: Any = None) -> None:
        self._join_completed = True
        if error is not None:
            self._join_error = str(error)  # connect() raises it: no need to warn twice
            self.log.info("joining %s failed: %s", self.public_url, error)
        elif isinstance(data, dict) and isinstance(data.get("participants"), dict):
            self._scan_participants(data["participants"])
        self._join_done.set()

    def _on_send_done(self, error: Any = None) -> None:
        self._inflight = max(0, self._inflight - 1)
        if error is not None:
            self.send_errors.append(f"Daily could not deliver an app-message: {error}")
            self.log.error("Daily could not deliver an app-message: %s", error)

    def _on_call_state(self, state: Any) -> None:
        self.call_state = str(state)
        self.log.debug("Daily call state: %s", state)
        # While joining, the join completion carries the better error message.
        if self._joined and self.call_state in ("left", "error"):
            why = f": {self.last_error}" if self.last_error else ""
            self._remote_closed(f"disconnected from the Daily call ({self.call_state}){why}")

    def _on_error(self, message: Any) -> None:
        # Not necessarily fatal (join errors arrive here too); a following "left" ends the call.
        self.last_error = str(message)
        # while joining, connect() reports the failure itself
        level = logging.WARNING if self._joined else logging.INFO
        self.log.log(level, "Daily error: %s", message)

    def _on_participant_joined(self, participant: Any) -> None:
        self._consider_participant(participant)

    def _on_participant_left(self, participant: Any, reason: Any = None) -> None:
        pid = participant.get("id") if isinstance(participant, dict) else None
        if pid is not None:
            self.roster.gone(str(pid))
        if pid is not None and pid == self.replica_id:
            self._remote_closed(f"the replica left the call ({reason})")

    def _on_app_message(self, message: Any, sender: Any) -> None:
        if self._state == "closed" or self._ended:
            return
        if sender == self.replica_id and sender is not None:
            self._emit("message", message, sender)
            return
        if _is_announcement(message):
            self.spoofed_announcements += 1  # only Daily's participant data says who is who
        if self.replica_id is None and sender not in self._not_replica:
            if len(self._held) >= MAX_HELD_MESSAGES:
                old, old_sender = self._held.popleft()
                self._emit("ignored", old, old_sender, "arrived before the replica joined")
            self._held.append((message, sender))
            return
        self._emit("ignored", message, sender, "not from the replica")

    # ---------------------------------------------------------------------- replica tracking
    def _scan_participants(self, participants: Any) -> None:
        if isinstance(participants, dict):
            for key, p in participants.items():
                if key != "local":
                    self._consider_participant(p)

    def add_persona_name(self, name: str) -> None:
        """The persona's name became known (a lookup that finished after joining): participants
        already in the room are looked at again."""
        if self.recognizer.add_persona_name(name) and self._state in ("connecting", "connected"):
            for pid, (user_id, user_name) in list(self.roster.seen.items()):
                if pid not in self.roster.left:
                    self._judge(pid, user_id, user_name)

    def _consider_participant(self, participant: Any) -> None:
        pid, user_id, user_name, local = participant_fields(participant)
        if pid is None or local:
            return
        self.roster.saw(pid, user_id, user_name)
        self._judge(pid, user_id, user_name)

    def _judge(self, pid: str, user_id: str, user_name: str) -> None:
        match = self.recognizer.match(user_id, user_name)
        if match is None:
            if pid != self.replica_id:
                self._not_replica.add(pid)
            return
        self._not_replica.discard(pid)
        if self.replica_id is None:
            self._identify(pid, match.why, match.strength)
            self._replica_ready_now()
        elif pid != self.replica_id:
            if match.strength > self._replica_strength:
                self.log.warning(
                    "participant %s (%s) is the replica, not %s, recognised by its name only",
                    pid,
                    match.why,
                    self.replica_id,
                )
                self._not_replica.add(self.replica_id)
                self._identify(pid, match.why, match.strength)
            else:
                self.log.warning("a second replica participant %s joined; ignoring it", pid)

    def _identify(self, pid: str, how: str, strength: int = STRONG) -> None:
        self.replica_id = pid
        self._replica_strength = strength
        self.log.info("the replica is participant %s (%s)", pid, how)
        held, self._held = self._held, deque()
        for message, sender in held:
            if sender == pid:
                self._emit("message", message, sender)
            else:
                self._emit("ignored", message, sender, "not from the replica")

    def _replica_ready_now(self) -> None:
        self._replica_ready = True
        self._replica_done.set()

    def _remote_closed(self, reason: str) -> None:
        if self._state == "closed" or self._ended:
            return
        self.log.warning("%s", reason)
        if self._state == "connecting":
            self._abort_connect(f"could not reach the replica: {reason}")
            return
        self._emit("closed", reason)
        self._ended = True

    # ------------------------------------------------------------------------- delivery
    def _emit(self, kind: str, *args: Any) -> None:
        """Deliver to the sink in arrival order; held in the backlog until start()."""
        if self._sink is None or self._backlog:
            self._backlog.append((kind, *args))
        else:
            self._deliver(kind, *args)

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled and self._loop is not None:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        while self._backlog and self._state != "closed":
            self._deliver(*self._backlog.popleft())
        self._backlog.clear()

    def _deliver(self, kind: str, *args: Any) -> None:
        sink = self._sink
        if sink is None or self._state == "closed":
            return
        if kind == "message":
            sink.on_message(args[0], args[1])
        elif kind == "closed":
            sink.on_closed(args[0])
        else:
            message, sender, reason = args
            report = self._on_ignored or getattr(sink, "on_ignored", None)
            if report is not None:
                report(message, sender, reason)
            else:
                self.log.info("ignored a message from %s: %s", sender, reason)


def _is_announcement(message: Any) -> bool:
    return isinstance(message, dict) and message.get("event_type") in REPLICA_ANNOUNCEMENTS


def _event_type(message: Any) -> str:
    if isinstance(message, dict) and isinstance(message.get("event_type"), str):
        return message["event_type"]
    return "message"
