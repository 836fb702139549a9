"""A stand-in for the `daily` module (daily-python 0.36), for tests and for trying things offline.

There is no local Daily server, so the live session is tested against this fake at the
`CallClient` boundary. It mirrors the SDK's *runtime* behaviour (measured on daily-python 0.36),
including the parts that bite:

* `Daily.init()` twice aborts the real process; here it raises. `CallClient()` before `init()`
  likewise raises.
* `CallClient(event_handler=H)` needs an instance of an `EventHandler` subclass, and that base class
  takes no constructor arguments (a subclass needing some must override `__new__`).
* Every callback and completion of a client arrives on ONE thread owned by the fake — never the
  caller's thread — in the order scheduled. An exception raised in a callback goes to
  `sys.unraisablehook`, as with the real SDK (pytest reports it as a warning).
* `send_app_message`: `participant_id='*'` (or any non-UUID) raises `ValueError`; a message that is
  not JSON-able raises `TypeError` synchronously; broadcasts are not delivered back to the sender.
* `release()` called from a callback raises here (the real SDK hangs); with a join still pending it
  blocks until that join has failed.

Test controls (thread-safe, callable from any thread): `replica_joins`, `replica_says`,
`other_joins`, `other_says`, `replica_leaves`, `disconnect`, `fail_join`, `hang_join`, `fail_send`,
`fail_send_completion`; and what happened: `sent`, `sent_calls`, `user_name`, `join_calls`,
`subscription_profiles`, `left`, `released`, `release_thread`, `callback_thread`.
Hooks for a scripted replica (`cviscript.sessions.fake.replica`): `on_joined()` runs on the callback
thread once the client is in the call; `on_send(message)` runs on the sender's thread for every
app-message delivered.

Virtual microphone (daily-python 0.36's shapes): ``Daily.create_microphone_device(device_name,
sample_rate=16000, channels=1, non_blocking=False)`` returns a device whose ``write_frames(frames,
completion=None) -> int`` takes 16-bit PCM bytes (a ``str`` raises TypeError) and returns the frames
written; a non-blocking device calls ``completion(frames)`` instead. Frames reach the room only
while joined with that device selected as the microphone (``client_settings["inputs"]``), and go
to the `on_mic(frames)` hook. The fake cannot recognise speech, so its device has one extra,
fake-only method: ``transcript_hint(text)`` (`on_mic_hint`) — the words the frames just spoken said.
"""

from __future__ import annotations

import enum
import heapq
import itertools
import json
import sys
import threading
import time
import types
import uuid
from collections.abc import Callable
from typing import Any

REPLICA_USER_ID = "tavus-replica-fake"
CLIENT_SETTINGS_KEYS = frozenset({"inputs", "publishing", "connection"})


class LogLevel(enum.Enum):
    Off = 0
    Error = 1
    Warn = 2
    Info = 3
    Debug = 4
    Trace = 5


class EventHandler:
    """Base class of event handlers; like the real one, its constructor takes no arguments."""

    def __new__(cls):
        return super().__new__(cls)

    def on_app_message(self, message: Any, sender: str) -> None: ...
    def on_participant_joined(self, participant: dict[str, Any]) -> None: ...
    def on_participant_left(self, participant: dict[str, Any], reason: str) -> None: ...
    def on_participant_updated(self, participant: dict[str, Any]) -> None: ...
    def on_call_state_updated(self, state: str) -> None: ...
    def on_error(self, message: str) -> None: ...


class _Worker:
    """The fake SDK's one callback thread: runs scheduled calls in (due time, order) order."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._count = itertools.count()
        self._stopped = False
        self.thread = threading.Thread(target=self._run, name="fake-daily-callbacks", daemon=True)
        self.thread.start()

    def schedule(self, fn: Callable[[], None], after: float = 0.0) -> None:
        with self._cond:
            heapq.heappush(self._queue, (time.monotonic() + after, next(self._count), fn))
            self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped:
                    now = time.monotonic()
                    if self._queue and self._queue[0][0] <= now:
                        break
                    self._cond.wait(self._queue[0][0] - now if self._queue else None)
                if self._stopped:
                    return
                _, _, fn = heapq.heappop(self._queue)
            try:
                fn()
            except BaseException as exc:  # mirror the SDK: callback errors are "unraisable"
                sys.unraisablehook(
                    types.SimpleNamespace(
                        exc_type=type(exc),
                        exc_value=exc,
                        exc_traceback=exc.__traceback__,
                        err_msg="Exception ignored in fake daily callback",
                        object=fn,
                    )
                )


class FakeDaily:
    """A module-like fake: pass it where cviscript accepts a `daily` module.

    ``fake.Daily.init()``, ``fake.CallClient(event_handler=h)``, ``fake.EventHandler`` and
    ``fake.LogLevel`` have the real module's shapes. One fake serves one client.
    """

    EventHandler = EventHandler
    LogLevel = LogLevel

    def __init__(
        self,
        *,
        replica_present: bool = False,
        replica_id: str | None = None,
        replica_name: str = "Anna",
        replica_user_id: str = REPLICA_USER_ID,
        join_delay: float = 0.0,
    ):
        self.replica_id = replica_id or str(uuid.uuid4())
        self.local_id = str(uuid.uuid4())
        self.replica_name = replica_name
        self.replica_user_id = replica_user_id
        self.join_delay = join_delay
        self.initialized = False
        self.init_kwargs: dict[str, Any] = {}
        self.log_level: Any = None
        # what happened
        self.sent: list[Any] = []
        self.sent_calls: list[tuple[Any, str | None]] = []
        self.join_calls: list[dict[str, Any]] = []
        self.user_name: str | None = None
        self.subscription_profiles: dict[str, Any] | None = None
        self.left = False
        self.released = False
        self.release_thread: threading.Thread | None = None
        # internal state, guarded by _lock
        self._lock = threading.Lock()
        self._worker = _Worker()
        self._client: FakeCallClient | None = None
        self._state = "initialized"
        self.replica_in_room = replica_present
        self._others: dict[str, dict[str, Any]] = {}
        self._join_error: str | None = None
        self._join_error_after = 0.0
        self._join_hang: float | None = None  # seconds until a hanging join fails; inf = never
        self._join_pending = False
        self._join_settled = threading.Event()
        self._send_raises: BaseException | None = None
        self._send_completion_error: str | None = None
        self.on_joined: Callable[[], None] | None = None
        self.on_send: Callable[[Any], None] | None = None
        self.microphones: dict[str, FakeVirtualMicrophoneDevice] = {}
        self.mic_frames = 0  # frames the room heard from the selected microphone
        self.on_mic: Callable[[bytes], None] | None = None
        self.on_mic_hint: Callable[[str], None] | None = None
        self.Daily = _DailyNamespace(self)

    # ------------------------------------------------------------------ the module's surface
    def init(self, worker_threads: int = 2, log_level: Any = None) -> None:
        if self.initialized:
            raise RuntimeError("Daily.init() called twice: the real SDK aborts the process here")
        self.initialized = True
        self.init_kwargs = {"worker_threads": worker_threads, "log_level": log_level}
        self.log_level = log_level

    def CallClient(self, event_handler: Any = None) -> FakeCallClient:  # noqa: N802 - mirrors daily
        if not self.initialized:
            raise RuntimeError("CallClient() before Daily.init(): the real SDK aborts the process")
        if not isinstance(event_handler, EventHandler):
            raise TypeError("event_handler must be an instance of an EventHandler subclass")
        with self._lock:
            if self._client is not None:
                raise RuntimeError("FakeDaily serves one CallClient; make another FakeDaily")
            self._client = FakeCallClient(self, event_handler)
        return self._client

    # ------------------------------------------------------------------ introspection
    @property
    def callback_thread(self) -> threading.Thread:
        """The one thread every callback and completion runs on."""
        return self._worker.thread

    @property
    def state(self) -> str:
        return self._state

    def replica_participant(self) -> dict[str, Any]:
        return {
            "id": self.replica_id,
            "info": {
                "isLocal": False,
                "userId": self.replica_user_id,
                "userName": self.replica_name,
                "joinedAt": int(time.time()),
            },
        }

    def participants(self) -> dict[str, Any]:
        with self._lock:
            out: dict[str, Any] = {
                "local": {
                    "id": self.local_id,
                    "info": {"isLocal": True, "userName": self.user_name or ""},
                }
            }
            if self.replica_in_room:
                out[self.replica_id] = self.replica_participant()
            for pid, p in self._others.items():
                out[pid] = p
            return out

    def selected_microphone(self) -> str | None:
        """The device name the client joined with as its enabled microphone, if any."""
        settings = (self.join_calls[-1]["client_settings"] or {}) if self.join_calls else {}
        mic = (settings.get("inputs") or {}).get("microphone") or {}
        if not mic.get("isEnabled"):
            return None
        return (mic.get("settings") or {}).get("deviceId")

    # ------------------------------------------------------------------ test controls
    def fail_join(self, error: str = "RoomInfoFetchFailed", after: float = 0.0) -> None:
        """The next join completes with this error string."""
        self._join_error, self._join_error_after = error, after

    def hang_join(self, fail_after: float = float("inf")) -> None:
        """The next join never completes (until it fails after `fail_after` seconds, if finite)."""
        self._join_hang = fail_after

    def fail_send(self, exc: BaseException) -> None:
        """`send_app_message` raises `exc` synchronously (None: stop)."""
        self._send_raises = exc

    def fail_send_completion(self, error: str | None) -> None:
        """`send_app_message` completions report this error string (None: stop)."""
        self._send_completion_error = error

    def replica_joins(self, after: float = 0.0, *, announce: bool = False) -> None:
        """The replica enters the room; with `announce`, it then sends `system.replica_joined`."""

        def go() -> None:
            with self._lock:
                self.replica_in_room = True
                joined = self._state == "joined"
            if joined:
                self._handler().on_participant_joined(self.replica_participant())
                if announce:
                    self.deliver(
                        {"message_type": "system", "event_type": "system.replica_joined"},
                        self.replica_id,
                    )

        self.schedule(go, after)

    def other_joins(self, user_name: str, user_id: str | None = None, after: float = 0.0) -> str:
        """Another participant (a visitor, a spoofer) enters; returns its participant id."""
        pid = str(uuid.uuid4())
        participant = {"id": pid, "info": {"isLocal": False, "userId": user_id or pid,
                                           "userName": user_name}}  # fmt: skip

        def go() -> None:
            with self._lock:
                self._others[pid] = participant
            if self._state == "joined":
                self._handler().on_participant_joined(participant)

        self.schedule(go, after)
        return pid

    def replica_says(self, message: Any, after: float = 0.0) -> None:
        """An app-message from the replica's participant id."""
        self.schedule(lambda: self.deliver(message, self.replica_id), after)

    def other_says(self, message: Any, sender: str | None = None, after: float = 0.0) -> str:
        """An app-message from another participant (a spoofer); returns its participant id."""
        sender = sender or str(uuid.uuid4())
        self.schedule(lambda: self.deliver(message, sender), after)
        return sender

    def replica_leaves(self, reason: str = "leftCall", after: float = 0.0) -> None:
        def go() -> None:
            with self._lock:
                present, self.replica_in_room = self.replica_in_room, False
            if present and self._state == "joined":
                self._handler().on_participant_left(self.replica_participant(), reason)

        self.schedule(go, after)

    def disconnect(self, error: str | None = None, after: float = 0.0) -> None:
        """The network goes: optional `on_error(error)`, then call state `left`."""

        def go() -> None:
            if self._state != "joined":
                return
            if error is not None:
                self._handler().on_error(error)
            self._set_state("left")

        self.schedule(go, after)

    def shutdown(self) -> None:
        """Stop the callback thread (release() does it; tests may call it to clean up)."""
        self._worker.stop()

    # ------------------------------------- for the fake replica (`fake.replica`), and internals
    def schedule(self, fn: Callable[[], None], after: float = 0.0) -> None:
        """Run `fn` on the room's callback thread `after` seconds from now (never once released)."""
        self._worker.schedule(lambda: None if self.released else fn(), after)

    def _handler(self) -> EventHandler:
        assert self._client is not None
        return self._client._handler

    def _set_state(self, state: str) -> None:
        self._state = state
        self._handler().on_call_state_updated(state)

    def deliver(self, message: Any, sender: str) -> None:
        """An app message from `sender` to the client, as Daily delivers it (a JSON copy)."""
        if self._state == "joined":  # Daily delivers nothing to a client outside the call
            self._handler().on_app_message(json.loads(json.dumps(message)), sender)


class _DailyNamespace:
    """`daily.Daily`: the SDK's static entry points."""

    def __init__(self, fake: FakeDaily):
        self._fake = fake

    def init(self, worker_threads: int = 2, log_level: Any = None) -> None:
        self._fake.init(worker_threads=worker_threads, log_level=log_level)

    def set_log_level(self, log_level: Any) -> None:
        self._fake.log_level = log_level

    def deinit(self) -> None:
        raise RuntimeError("Daily.deinit() with a live client aborts the real SDK; never deinit")

    def create_microphone_device(
        self,
        device_name: str,
        sample_rate: int = 16000,
        channels: int = 1,
        non_blocking: bool = False,
    ) -> FakeVirtualMicrophoneDevice:
        device = FakeVirtualMicrophoneDevice(
            self._fake, device_name, sample_rate, channels, non_blocking
        )
        self._fake.microphones[device_name] = device
        return device


class FakeVirtualMicrophoneDevice:
    """`daily.VirtualMicrophoneDevice`: what is written is heard in the room when selected."""

    def __init__(
        self, fake: FakeDaily, name: str, sample_rate: int, channels: int, non_blocking: bool
    ):
        self._fake = fake
        self._name, self._rate, self._channels = name, sample_rate, channels
        self._non_blocking = non_blocking

    @property
    def name(self) -> str:
        return self._name

    @property
    def sample_rate(self) -> int:
        return self._rate

    @property
    def channels(self) -> int:
        return self._channels

    def write_frames(self, frames: bytes, completion: Callable[[int], None] | None = None) -> int:
        if not isinstance(frames, bytes):
            raise TypeError(f"'{type(frames).__name__}' object is not an instance of 'bytes'")
        fake = self._fake
        count = len(frames) // (2 * self._channels)
        if fake._state == "joined" and fake.selected_microphone() == self._name:
            fake.mic_frames += count
            if fake.on_mic is not None:
                fake.on_mic(frames)
        if self._non_blocking:
            if completion is not None:
                fake.schedule(lambda: completion(count))
            return 0
        return count

    def transcript_hint(self, text: str) -> None:
        """Fake only: the words the frames just written said (the fake hears no words)."""
        fake = self._fake
        heard = fake._state == "joined" and fake.selected_microphone() == self._name
        if heard and fake.on_mic_hint is not None:
            fake.on_mic_hint(text)


class FakeCallClient:
    """`daily.CallClient` with the runtime signatures of daily-python 0.36."""

    def __init__(self, fake: FakeDaily, handler: EventHandler):
        self._fake = fake
        self._handler = handler

    def set_user_name(self, user_name: str) -> None:
        self._fake.user_name = user_name

    def participants(self) -> dict[str, Any]:
        return self._fake.participants()

    def update_subscription_profiles(
        self, profile_settings: dict[str, Any], completion: Callable[[Any], None] | None = None
    ) -> None:
        self._fake.subscription_profiles = json.loads(json.dumps(profile_settings))
        if completion:
            self._fake.schedule(lambda: completion(None))

    def join(
        self,
        meeting_url: str,
        meeting_token: str | None = None,
        client_settings: dict[str, Any] | None = None,
        completion: Callable[[Any, Any], None] | None = None,
    ) -> None:
        fake = self._fake
        fake.join_calls.append(
            {"url": meeting_url, "meeting_token": meeting_token, "client_settings": client_settings}
        )

        def finish(data: Any, error: Any) -> None:
            fake._join_pending = False
            fake._join_settled.set()
            if error is not None:
                fake._handler().on_error(f"Error handling join: {error}")
            elif fake._state == "joining":
                fake._set_state("joined")
            if completion:
                completion(data, error)
            if error is None and fake.on_joined is not None:
                fake.on_joined()

        bad_keys = set(client_settings or {}) - CLIENT_SETTINGS_KEYS
        if bad_keys:
            err = f"Invalid client settings: unknown keys {sorted(bad_keys)}"
            fake.schedule(lambda: finish(None, err))
            return
        if not (meeting_url.startswith("https://") or meeting_url.startswith("http://")):
            err = f'Failed to parse url: InvalidUrl("{meeting_url}", RelativeUrlWithoutBase)'
            fake.schedule(lambda: finish(None, err))
            return
        fake._join_pending = True
        fake._join_settled.clear()
        fake.schedule(lambda: fake._set_state("joining"))
        if fake._join_hang is not None:
            if fake._join_hang != float("inf"):
                fake.schedule(lambda: finish(None, "RoomInfoFetchFailed"), fake._join_hang)
            return
        if fake._join_error is not None:
            err = fake._join_error
            fake.schedule(lambda: finish(None, err), fake._join_error_after)
            return
        fake.schedule(lambda: finish({"participants": fake.participants()}, None), fake.join_delay)

    def send_app_message(
        self,
        message: Any,
        participant_id: str | None = None,
        completion: Callable[[Any], None] | None = None,
    ) -> None:
        fake = self._fake
        if participant_id is not None:
            try:
                uuid.UUID(participant_id)
            except (ValueError, TypeError, AttributeError):
                raise ValueError(f"invalid participant ID '{participant_id}'") from None
        if fake._send_raises is not None:
            raise fake._send_raises
        try:
            wire = json.loads(json.dumps(message, allow_nan=False))
        except (TypeError, ValueError) as exc:
            raise TypeError(f"unsupported type: {exc}") from None
        error = fake._send_completion_error
        if fake._state != "joined":
            error = error or "Not joined"
        if error is None:
            fake.sent.append(wire)
            fake.sent_calls.append((wire, participant_id))
        if completion:
            fake.schedule(lambda: completion(error))
        if error is None and fake.on_send is not None:
            fake.on_send(wire)

    def leave(self, completion: Callable[[Any], None] | None = None) -> None:
        fake = self._fake

        def go() -> None:
            if fake._state in ("joining", "joined"):
                fake._set_state("leaving")
                fake._set_state("left")
            fake.left = True
            if completion:
                completion(None)

        fake.schedule(go)

    def release(self) -> None:
        fake = self._fake
        if threading.current_thread() is fake._worker.thread:
            raise RuntimeError("release() called from a Daily callback: the real SDK hangs here")
        fake.release_thread = threading.current_thread()
        if fake._join_pending:  # a pending join cannot be cancelled: wait for it to fail
            fake._join_settled.wait()
        fake.released = True
        fake.shutdown()
