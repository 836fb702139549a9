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

The class is split by job: sending lives in `daily_send` and recognising the replica in
`daily_replica` (mixins); this module keeps the SDK's process state, joining, the SDK-thread
bridge, delivery to the sink, and teardown.

Every sink call happens on the loop thread (the `Session` contract). Exceptions raised by the
sink go to the loop's exception handler.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

from ... import errors
from ...engine.session import Session, SessionSink
from .daily_replica import ReplicaTrackingMixin
from .daily_send import SendingMixin
from .mic import client_settings_with_microphone, create_microphone
from .options import LiveOptions
from .outbox import Outbox
from .replica_id import ReplicaRecognizer, Roster
from .target import public_url
from .tavus_api import conversation_id_from_url

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


class DailySession(SendingMixin, ReplicaTrackingMixin, Session):
    """One Tavus conversation joined over Daily.

    Typical use, on the asyncio loop::

        session = DailySession(options, loop=loop)  # options.connection.target: a URL
        try:
            await session.connect()          # ConnectError if Daily or the replica is unreachable
            session.start(conversation)      # the sink; held-back messages are delivered first
            ...                              # session.send(interaction)
        finally:
            await session.aclose()           # leave + release in a worker thread, bounded

    It reads the connection (the URL, id and token of `options.connection.target`, the
    timeouts), the identity, the send limits and the microphone from `options`.
    `options.connection.daily` is the daily module to use (default: ``import daily``; tests pass a
    `cviscript.sessions.fake.FakeDaily`); its `Daily.init()` is called once per process unless
    `mark_daily_initialized` says the host did it. `call_client_factory(handler)` overrides how
    the `CallClient` is made (`handler` is an instance of that module's `EventHandler`).

    It reports presence (`reports_presence`): `sink.on_present()` is called once, after the
    messages held back while the replica was unknown, so the scenario starts only when what it
    sends reaches the replica (Daily keeps nothing for a late joiner).
    """

    reports_presence = True

    def __init__(
        self,
        options: LiveOptions,
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        call_client_factory: Callable[[Any], Any] | None = None,
        on_ignored: Ignored | None = None,
        logger: logging.Logger | None = None,
    ):
        connection, identity = options.connection, options.identity
        target = connection.target
        if not target.url:
            raise errors.UsageError("a Daily session needs the conversation's URL")
        self.url = target.url  # joined as given: it may carry a meeting token as ?t=
        self.public_url = public_url(self.url)  # what logs, errors and reprs show
        self.conversation_id = target.conversation_id or conversation_id_from_url(self.url)
        self._token = target.token
        self._loop = loop
        self.join_timeout = connection.join_timeout
        self.replica_timeout = connection.replica_timeout
        self.user_name = identity.user_name
        self._factory = call_client_factory
        self._daily = connection.daily
        self._on_ignored = on_ignored
        self.log = logger or _log
        self.microphone_name = options.audio.microphone  # a virtual microphone to speak through
        self.microphone: Any = None  # the device, once created

        self._state = "new"  # new -> connecting -> connected -> closed
        self._client: Any = None
        self._handler: Any = None
        self.call_state: str | None = None
        self.last_error: str | None = None
        self.replica_id: str | None = None
        self.arrived: set[str] = set()  # participants Daily announced as joining after us
        self.recognizer = ReplicaRecognizer(
            user_id=identity.replica_user_id,
            name=identity.replica_name,
            persona_names=identity.persona_names,
        )
        self.roster = Roster()
        self.name_grace = (
            identity.name_grace
        )  # a name-only match waits this long (None: NAME_GRACE)
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
        self._outbox = Outbox(self._now, options.limits.max_rate, options.limits.burst)
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
    def replica_first(self) -> bool | None:
        """Whether the replica was in the room before this client joined (None: not known yet):
        Daily announces (``on_participant_joined``) only those who join after us. Read it a
        moment after the replica was identified: its announcement may still be on its way."""
        if self.replica_id is None:
            return None
        return self.replica_id not in self.arrived

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
        settings = CLIENT_SETTINGS
        try:
            if self.microphone_name is not None:
                self.microphone = create_microphone(daily, self.microphone_name)
                settings = client_settings_with_microphone(CLIENT_SETTINGS, self.microphone_name)
            self._client = client = factory(handler)
            client.set_user_name(self.user_name)
            client.update_subscription_profiles(SUBSCRIPTION_PROFILES)
            self._join_started = True
            client.join(
                self.url,
                meeting_token=self._token,
                client_settings=settings,
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

        found = await self._wait(self._replica_done, self.replica_timeout)
        if not found and self._provisional is not None:  # a name match beats nothing by now
            self._confirm_provisional(self._provisional, "the persona's name")
        if not self._replica_done.is_set():
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
            self._on_loop(self.provisional_left, self._provisional or "")
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
        pid = participant.get("id") if isinstance(participant, dict) else None
        if isinstance(pid, str) and len(self.arrived) < MAX_HELD_MESSAGES:
            self.arrived.add(pid)
        self._consider_participant(participant)

    def _on_participant_left(self, participant: Any, reason: Any = None) -> None:
        pid = participant.get("id") if isinstance(participant, dict) else None
        if pid is not None:
            self.roster.gone(str(pid))
            self.provisional_left(str(pid))
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
        elif kind == "present":
            present = getattr(sink, "on_present", None)  # a bare sink (a test's) may lack it
            if present is not None:
                present()
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
