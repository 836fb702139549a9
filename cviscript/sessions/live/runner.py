"""Running a scenario against a live Tavus conversation: reach it, run it, always clean up.

The order (docs/protocol.md, and daily-python's threading rules):

1. Reach the conversation: join an existing one (a URL; the id is given or the URL's last path
   segment), or create one through the Tavus REST API (`TavusClient.create_conversation`, in a
   worker thread; a create is never abandoned half-way — if the run is stopped meanwhile, the
   answer is awaited so that what it created can be ended).
2. `DailySession.connect()`: join the room and wait for the replica (bounded by `join_timeout`
   and `replica_timeout`; either failing is a `ConnectError`, exit code 3 on the command line).
3. Run the engine through `Conversation(mode="live")` on an `AsyncioClock` until it is done: the
   scenario ends, its timeout passes, the connection is lost (outcome ``error``), or the run is
   stopped (`interrupt`, e.g. Ctrl-C: outcome ``failed``, reason ``interrupted by SIGINT``).
4. On every exit path — success, failure, an exception, a signal — close the conversation (the
   transcript writer flushes each line as it goes), leave the room and release the Daily client
   in a worker thread (`aclose`), and end the conversation if this run created it: Tavus bills
   it until it is ended.

Exceptions that escape a callback on the loop (a sink or subscriber bug: Daily callbacks reach the
engine through `call_soon_threadsafe`) land in the loop's exception handler; the run installs one
that ends the run as ``error`` instead of letting asyncio print and carry on.

`released` is False when the SDK still holds the client because a join is pending (it cannot be
cancelled). A process that then exits normally would linger ~19 s and abort: callers about to exit
should leave with `os._exit` once their own cleanup is done (the command line does).

A conversation created with ``test_mode`` never gets a replica, so nothing can be run in it: the
run creates it (which checks the API key and the create fields), ends it, and returns None.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from typing import Any, TypeVar

from ... import errors
from ...clock import AsyncioClock
from ...engine.conversation import Conversation
from ...language.model import Scenario
from ...trace import Trace, TraceRecord
from .daily_session import DailySession
from .loop import (
    EXIT_LEFT_RUNNING,
    Stopped,
    exit_now,
    run_with_signals,
    signal_exit_status,
    until_stopped,
)
from .options import LiveOptions
from .replica_id import clean
from .target import LiveTarget, public_url, resolve_target, tune_audio
from .tavus_api import (
    API_KEY_ENV,
    DEFAULT_BASE_URL,
    TavusClient,
    TavusError,
    TavusIncompleteCreate,
    conversation_id_from_url,
)

API_URL_ENV = "TAVUS_API_URL"
LOOKUP_TIMEOUT = 5.0  # seconds for each call looking up the persona's name
JOIN_ORDER_DELAY = 0.2  # real seconds after the start before the join order is read
PENDING_JOIN_WAIT = 0.2  # ... when a join is still pending (the release waits for it to fail)

T = TypeVar("T")
Status = Callable[[str], None]

log = logging.getLogger("cviscript.sessions.live.runner")


__all__ = [
    "Interrupted",
    "LiveRun",
    "LiveTarget",
    "public_url",
    "resolve_target",
    "run_live",
    "run_live_sync",
    "tune_audio",
]


class Interrupted(errors.CviscriptError):
    """The run was stopped by a signal before the conversation started."""

    def __init__(self, signame: str, during: str):
        super().__init__(f"interrupted by {signame} while {during}")
        self.signame = signame
        self.exit_status = signal_exit_status(signame)


# --------------------------------------------------------------------------------- the run


def _with_persona_name(scenario: Scenario, options: LiveOptions) -> LiveOptions:
    """The persona file's name (``persona_name`` / ``pal_name``) is the replica's Daily user
    name: one more way to recognise it in the room, without asking Tavus."""
    persona_for = getattr(scenario, "persona_for", None)
    persona = persona_for(None) if persona_for is not None else None
    name = getattr(persona, "name", None)
    identity = options.identity
    if not name or name in identity.persona_names:
        return options
    return replace(
        options, identity=replace(identity, persona_names=(*identity.persona_names, name))
    )


class LiveRun:
    """One live run. `run()` on a loop, or `run_sync()` owning the loop and the signals.

    After it returns (or raises): `conversation` (None if it never started), `conversation_id`,
    `url`, `created` (the create answer, or None), `ended` (a created conversation was ended),
    `end_error`, `released` (see the module docstring), `interrupted` (the signal's name).
    """

    def __init__(
        self,
        scenario: Scenario,
        options: LiveOptions,
        *,
        subscribers: Iterable[Callable[[TraceRecord], None]] = (),
        vars_override: dict[str, Any] | None = None,
        on_conversation: Callable[[Conversation], None] | None = None,
        keep_trace: bool = True,
        fidelity: Any = None,
        rehearsal: str | None = None,
    ):
        """`options` says where and how (see `cviscript.sessions.live.options`); its target is a
        URL to join or a create body. `subscribers` hear every trace record; `on_conversation`
        sees the conversation just before it starts; `fidelity` (a `cviscript.fidelity.Monitor`)
        checks the conversation against the replica model as it goes: each finding becomes a
        ``fidelity`` trace record (nothing else changes)."""
        target = options.connection.target
        if (target.url is None) == (target.create is None):
            raise errors.UsageError("a live run needs either a conversation URL or a create body")
        self.scenario = scenario
        options = _with_persona_name(scenario, options)
        self.options = options
        self.url = target.url
        self.conversation_id = target.conversation_id
        self._token = target.token
        self.create = target.create
        self.client: TavusClient | None = options.connection.client
        self.vars_override = vars_override
        self.subscribers = list(subscribers)
        self._status = options.on_status or (lambda text: log.info("%s", text))
        self.keep_trace = keep_trace
        self.on_conversation = on_conversation
        self.max_duration = options.limits.max_duration
        self.fidelity = fidelity
        self.rehearsal = rehearsal  # the case a live rehearsal runs (named in the header)
        self.hit_max_duration = False
        self.started_at: float | None = None  # monotonic time the conversation was created/joined
        self.ended_at: float | None = None  # ... and ended (or left)
        self._lookup: asyncio.Future[None] | None = None

        self.conversation: Conversation | None = None
        self.session: DailySession | None = None
        self.created: dict[str, Any] | None = None
        self.ended = False
        self.end_error: str | None = None
        self.released = True
        self.interrupted: str | None = None
        self.test_mode = False  # created with test_mode: nothing was run
        self.fatal: BaseException | None = None
        self.subscriber_errors: list[str] = []  # trace subscribers that failed and were dropped
        self.phase = "starting"  # creating, connecting, running, cleaning up, done
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._finished: asyncio.Event | None = None
        self._creating = False  # the create request is on its way
        self._ending = False  # the end call is on its way

    def __repr__(self) -> str:
        return f"<LiveRun {self.scenario.name} {self.url or 'create'} phase={self.phase}>"

    # ------------------------------------------------------------------------------ control
    def interrupt(self, signame: str = "SIGINT") -> None:
        """Stop the run (from the loop's thread): the conversation ends as failed, then cleanup.
        Once the run is cleaning up there is nothing left to stop: cleanup goes on."""
        if self.phase in ("cleaning up", "done"):
            return
        if self.interrupted is None:
            self.interrupted = signame
        conv = self.conversation
        if conv is not None and not conv.done:
            conv.abort("failed", f"interrupted by {signame}")
        if self._stop is not None:
            self._stop.set()
        if self._finished is not None:
            self._finished.set()

    def in_flight(self) -> bool:
        """A create request or an end call is on its way: leaving now would leave a conversation
        running (or one created and never ended)."""
        return self._creating or self._ending

    def left_running(self) -> str | None:
        """What leaving the process now would leave running, in words; None for nothing."""
        if self.created is not None and not self.ended:
            return f"conversation {self.conversation_id}"
        if self._creating:
            return "the conversation being created (its id is not known yet)"
        return None

    def run_sync(self, *, hard_exit: bool = True) -> Conversation | None:
        """Run on a loop of its own with SIGINT/SIGTERM handled (`loop.SignalBursts`): the first
        one stops the run (cleanup included) and copies of it are ignored; a later one exits the
        process at once when `hard_exit` — unless it is the second and a create or end call is in
        flight, which goes on; leaving a conversation running exits 3, naming it."""
        again = "send it again after 2 s to exit at once"

        def on_signal(name: str) -> None:
            if self.phase in ("cleaning up", "done"):
                self._status(f"{name}: already cleaning up ({again})")
                return
            self._status(f"{name}: stopping and cleaning up ({again})")
            self.interrupt(name)

        def on_held(name: str) -> None:
            what = "creating the conversation, to end it" if self._creating else "ending it"
            self._status(
                f"{name} again: still {what} (send it once more to exit at once, without ending it)"
            )

        def on_again(name: str) -> None:
            left = self.left_running()
            if left is None:
                exit_now(name, f"cviscript: {name} again: exiting now")
            exit_now(
                name,
                f"cviscript: {name} again: exiting now; NOT ENDED: {left} is billed until it is"
                " ended: end it in the Tavus dashboard",
                status=EXIT_LEFT_RUNNING,
            )

        return run_with_signals(
            self.run(),
            on_signal,
            on_again if hard_exit else lambda _n: None,
            busy=self.in_flight,
            on_held=on_held,
        )

    # -------------------------------------------------------------------------------- run
    async def run(self) -> Conversation | None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._stop = asyncio.Event()
        self._finished = asyncio.Event()
        if self.interrupted is not None:  # interrupted before the loop ran
            self._stop.set()
        previous_handler = loop.get_exception_handler()
        loop.set_exception_handler(self._on_loop_exception)
        try:
            try:
                self._check_stop()  # stopped before it began: nothing is created
                if self.create is not None:
                    await self._create()
                    self._check_stop()
                    if self.test_mode:
                        return None
                await self._connect()
                self._check_stop()
                return await self._converse()
            finally:
                self.phase = "cleaning up"
                await self._cleanup()
                self.phase = "done"
        finally:
            loop.set_exception_handler(previous_handler)

    async def _create(self) -> None:
        self.phase = "creating"
        body = dict(self.create or {})
        client = self.client
        if client is None:
            self.client = client = TavusClient(
                base_url=self._api_base()
            )  # TavusAuthError without a key
        self._status(
            "creating a Tavus conversation" + (" in test mode" if body.get("test_mode") else "")
        )
        # Never abandoned: whatever it creates must be ended, even if the run is stopped now.
        future = asyncio.ensure_future(asyncio.to_thread(client.create_conversation, body))
        self._creating = True  # until what it created is known (so a hard exit can say so)
        try:
            try:
                created = await asyncio.shield(future)
            except asyncio.CancelledError:
                try:
                    self._take_created(await future)
                except TavusIncompleteCreate as exc:
                    self._take_incomplete(exc)
                except Exception as exc:  # the stop is what gets reported
                    log.info("the create failed after the run was stopped: %s", exc)
                raise
            except TavusIncompleteCreate as exc:
                self._take_incomplete(exc)
                raise
            self._take_created(created)
        finally:
            self._creating = False
        if body.get("test_mode") is True:
            self.test_mode = True
            self._status(
                f"test mode: created conversation {self.conversation_id}; a test_mode"
                " conversation gets no replica, so the scenario is not run"
            )

    def _api_base(self) -> str:
        api_url = self.options.connection.api_url
        return api_url or os.environ.get(API_URL_ENV) or DEFAULT_BASE_URL

    def _take_incomplete(self, exc: TavusIncompleteCreate) -> None:
        """A create answered without a usable URL still created a conversation when it gave an
        id: remember it, so that cleanup ends it."""
        if exc.conversation_id:
            self.created = {"conversation_id": exc.conversation_id}
            self.conversation_id = exc.conversation_id

    def _take_created(self, created: dict[str, Any]) -> None:
        self.created = created
        self.started_at = time.monotonic()
        self.url = str(created["conversation_url"])
        self.conversation_id = str(created["conversation_id"])
        token = created.get("meeting_token")
        if token and not self._token:
            self._token = str(token)
        self._status(f"created conversation {self.conversation_id}: {public_url(self.url)}")

    async def _connect(self) -> None:
        self.phase = "connecting"
        assert self.url is not None and self._loop is not None
        cid = self.conversation_id or conversation_id_from_url(self.url)
        self.conversation_id = cid
        joined = LiveTarget(url=self.url, conversation_id=cid, token=self._token)
        options = replace(self.options, connection=replace(self.options.connection, target=joined))
        self.session = DailySession(options, loop=self._loop)
        identity = self.options.identity
        if not (identity.replica_user_id or identity.replica_name or identity.persona_names):
            self._lookup = asyncio.ensure_future(self._learn_persona_name(self.session))
        self._status(f"joining {public_url(self.url)} and waiting for the replica")
        await self._unless_stopped(self.session.connect(), "connecting")

    async def _learn_persona_name(self, session: DailySession) -> None:
        """The persona's name is the replica's Daily user name (pipecat recognises it so):
        looked up while joining, best effort — with the API key (a --url run without one, or
        any failure, only loses this one signal)."""
        client = self.client
        try:
            if client is None:
                if not os.environ.get(API_KEY_ENV, "").strip():
                    return
                client = TavusClient(base_url=self._api_base(), retries=0, timeout=LOOKUP_TIMEOUT)
            persona_id = (self.created or {}).get("persona_id") or (self.create or {}).get(
                "persona_id"
            )
            if not persona_id and self.conversation_id:
                answer = await asyncio.to_thread(client.get_conversation, self.conversation_id)
                persona_id = answer.get("persona_id")
            if not isinstance(persona_id, str) or not persona_id:
                return
            persona = await asyncio.to_thread(client.get_persona, persona_id)
        except (TavusError, errors.UsageError) as exc:
            log.info(
                "the persona's name is unknown (%s): the replica is recognised without it", exc
            )
            return
        name = persona.get("persona_name")
        if isinstance(name, str) and name.strip():
            log.info("the persona is %s", clean(name))
            session.add_persona_name(name)

    async def _converse(self) -> Conversation:
        self.phase = "running"
        assert self._loop is not None and self.session is not None and self._finished is not None
        scale = self.options.connection.time_scale
        clock = AsyncioClock(self._loop) if scale == 1 else ScaledClock(self._loop, scale)
        trace = Trace(clock, keep=self.keep_trace)
        for fn in self.subscribers:
            trace.subscribe(_Guarded(fn, self._subscriber_failed))
        header = {"url": public_url(self.url or ""), "created": self.created is not None}
        if self.fidelity is not None:  # after the outputs: a finding is written after its cause
            self.fidelity.on_finding = lambda f: trace.emit("fidelity", **f.to_json())
            trace.subscribe(self.fidelity)
        conv = Conversation(
            self.scenario,
            self.session,
            clock,
            trace=trace,
            vars_override=self.vars_override,
            context_spelling=self.options.context_spelling,
            mode="live",
            rehearsal=self.rehearsal,
            header=header,
        )
        # Which side of our join the replica came in on: read once Daily's announcement of a
        # replica that joined with us has had time to arrive (it is queued behind the join).
        self._loop.call_later(JOIN_ORDER_DELAY, self._join_order, trace)
        tune_audio(conv, self.options.audio.chunk_ms, self.options.audio.speed)
        self.conversation = conv
        finished = self._finished
        conv.on_done(lambda _result: finished.set())
        self._status(f"the replica joined (participant {self.session.replica_id}); running")
        if self.on_conversation is not None:
            self.on_conversation(conv)
        if self.max_duration is not None:
            clock.call_later(self.max_duration, self._out_of_time)
        conv.start()
        if not conv.done:
            await finished.wait()
        if not conv.done:  # only a fatal loop error gets here
            conv.abort("error", f"internal error: {self.fatal!r}")
        return conv

    def _join_order(self, trace: Trace) -> None:
        conv, session = self.conversation, self.session
        if conv is None or conv.done or session is None or session.replica_first is None:
            return
        first = session.replica_first
        where = "was already in the room when" if first else "came in after"
        trace.emit("log", text=f"the replica {where} this client joined", level="info",
                   replica_first=first)  # fmt: skip
        if self.fidelity is not None:
            self.fidelity.joined(first)

    def _out_of_time(self) -> None:
        conv = self.conversation
        if conv is not None and not conv.done:
            self.hit_max_duration = True
            conv.abort("failed", f"stopped at --max-duration {self.max_duration:g}s")

    async def _unless_stopped(self, aw: Awaitable[T], during: str) -> T:
        assert self._stop is not None
        try:
            return await until_stopped(aw, self._stop)
        except Stopped:
            self._raise_stop(during)
            raise  # unreachable: _raise_stop raises

    def _check_stop(self) -> None:
        if self._stop is not None and self._stop.is_set():
            during = {"creating": "creating the conversation", "connecting": "connecting"}
            self._raise_stop(during.get(self.phase, "starting"))

    def _raise_stop(self, during: str) -> None:
        if self.fatal is not None:
            raise errors.CviscriptError(
                f"internal error while {during}: {self.fatal!r}"
            ) from self.fatal
        raise Interrupted(self.interrupted or "SIGINT", during)

    # ------------------------------------------------------------------------------ cleanup
    async def _cleanup(self) -> None:
        """Close the conversation, leave the room, end what was created. The end call depends
        on nothing else succeeding: it is started first, and a failure of any other step is
        logged and re-raised only once it has finished."""
        ending = asyncio.ensure_future(self._end())
        if self._lookup is not None:
            self._lookup.cancel()
        failures: list[BaseException] = []
        conv = self.conversation
        if conv is not None:
            try:
                if not conv.done:
                    conv.abort("error", "the run stopped before the scenario ended")
            except Exception as exc:
                failures.append(exc)
            try:
                conv.close()
            except Exception as exc:
                failures.append(exc)
        results = await asyncio.gather(self._release(), ending, return_exceptions=True)
        failures += [r for r in results if isinstance(r, BaseException)]
        for exc in failures[1:]:
            log.error("cleanup: %s: %s", type(exc).__name__, exc)
        if failures:
            raise failures[0]

    def _subscriber_failed(self, fn: Callable[[TraceRecord], None], exc: Exception) -> None:
        """A trace subscriber raised (a full disk under the transcript, a closed stdout): it is
        dropped and the run ends as ``error`` — soon, not from inside the record being emitted."""
        reason = _subscriber_error(fn, exc)
        self.subscriber_errors.append(reason)
        log.error("%s", reason)
        if self._loop is not None:
            self._loop.call_soon(self._abort_run, f"stopped: {reason}")

    def _abort_run(self, reason: str) -> None:
        conv = self.conversation
        if conv is not None and not conv.done:
            conv.abort("error", reason)
        if self._finished is not None:
            self._finished.set()

    async def _release(self) -> None:
        if self.session is None:
            return
        # With a join still pending the SDK holds the client until the join fails (~19 s
        # offline): a short look is enough, the caller then exits with os._exit.
        pending = self.session.join_pending
        timeout = self.options.connection.release_timeout
        if pending:
            timeout = min(timeout, PENDING_JOIN_WAIT)
        self.released = await self.session.aclose(timeout=timeout)
        if not self.released:
            log.info("the Daily client is still being released (a join was pending)")

    async def _end(self) -> None:
        if self.created is None or self.ended or self.client is None:
            return
        cid = str(self.created["conversation_id"])
        try:
            self._status(f"ending conversation {cid}")
        except Exception as exc:  # a broken stderr must not keep the conversation running
            log.debug("status line failed: %r", exc)
        self._ending = True
        try:
            await asyncio.to_thread(self.client.end_conversation, cid)
        except Exception as exc:  # whatever it is, the conversation is still billed: say so
            self.end_error = (
                f"could not end conversation {cid}: {exc}; Tavus bills it until it ends:"
                " end it in the Tavus dashboard"
            )
            log.error("%s", self.end_error)
            return
        finally:
            self._ending = False
        self.ended = True
        self.ended_at = time.monotonic()
        with contextlib.suppress(Exception):
            self._status(f"conversation {cid} ended")

    # ------------------------------------------------------------------ loop exception handler
    def _on_loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if exc is None:  # asyncio's own notices (slow callbacks in debug mode ...)
            log.warning("%s", context.get("message"))
            return
        log.error(
            "internal error: %s",
            context.get("message"),
            exc_info=(type(exc), exc, exc.__traceback__),
        )
        if self.fatal is None:
            self.fatal = exc
        conv = self.conversation
        if conv is not None and not conv.done:
            try:
                conv.abort("error", f"internal error: {type(exc).__name__}: {exc}")
            except Exception as again:  # a subscriber failing again must not hide the first
                log.error("internal error while ending the run: %r", again)
        if self._stop is not None:
            self._stop.set()
        if self._finished is not None:
            self._finished.set()


class ScaledClock(AsyncioClock):
    """The loop's time run `speed` times faster (a live rehearsal in the fake room)."""

    def __init__(self, loop: Any, speed: float):
        super().__init__(loop)
        self.speed = speed
        self._origin = loop.time()

    def now(self) -> float:
        return self._origin + (self._loop.time() - self._origin) * self.speed

    def wall(self) -> float:
        return self._offset + self.now()

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> Any:
        return self._loop.call_later(max(0.0, delay) / self.speed, callback, *args)


class _Guarded:
    """A trace subscriber that never raises into the engine: its first failure is reported
    (once) and it is silent afterwards."""

    def __init__(
        self,
        fn: Callable[[TraceRecord], None],
        on_failure: Callable[[Callable[[TraceRecord], None], Exception], None],
    ):
        self.fn = fn
        self._on_failure = on_failure
        self.failed = False

    def __call__(self, record: TraceRecord) -> None:
        if self.failed:
            return
        try:
            self.fn(record)
        except Exception as exc:
            self.failed = True
            self._on_failure(self.fn, exc)


def _subscriber_error(fn: Any, exc: Exception) -> str:
    path = getattr(fn, "path", None)
    if isinstance(exc, OSError) and path is not None:
        return f"cannot write the transcript {path}: {exc.strerror or exc}"
    name = getattr(fn, "__qualname__", None) or type(fn).__name__
    return f"trace subscriber {name} failed: {type(exc).__name__}: {exc}"


async def run_live(scenario: Scenario, options: LiveOptions, **kwargs: Any) -> Conversation | None:
    """Run `scenario` against a live conversation (see `LiveRun` for the arguments).
    Returns the finished Conversation, or None for a test-mode creation. Raises `ConnectError`
    (cannot reach Tavus, Daily or the replica), `Interrupted`, `UsageError`."""
    return await LiveRun(scenario, options, **kwargs).run()


def run_live_sync(scenario: Scenario, options: LiveOptions, **kwargs: Any) -> Conversation | None:
    """`run_live` on a loop of its own, SIGINT/SIGTERM stopping it cleanly (a second one exits
    at once). Use `LiveRun(...).run_sync()` to see `released` afterwards."""
    return LiveRun(scenario, options, **kwargs).run_sync()
