"""`cviscript rehearse --live`: the rehearsal cases against real Tavus conversations.

Each run of a case gets a conversation of its own — created from the file's
`conversation.create` (rendered with the case's vars), or joined with ``--url`` (one case) — and
runs through `sessions.live.runner.LiveRun`, so the conversation is ended on every exit path
(success, failure, an exception, Ctrl-C, SIGTERM). What differs from simulated rehearsal:

* the case's `user:` rules are played from the client side (`sessions.live.visitor`): its words as
  ``conversation.respond`` text, or spoken through a virtual microphone (`voice:`, ``--visitor
  voice``); its `persona:` rules are not used — the real LLM answers; `faults:` are not applied
  (the real network has its own); `replay:` cases replay as always (they need no replica);
* expectations are checked against the real events; a case's `expect.duration` is multiplied by
  ``--time-slack`` (wall time, real latencies);
* ``--max-duration`` stops a run (``failed``) once it has lasted that long, and is sent to Tavus
  as the conversation's ``max_call_duration`` (plus a minute) unless the file sets one: the cost
  of a case is bounded even if cviscript is killed; the conversation-minutes used are summed;
* runs go ``-j N`` at a time, never more than ``--max-concurrent`` (Tavus limits concurrent
  conversations per account); every transcript is saved, replayable by ``cviscript replay``;
* a case with a `user:` rule no live participant can play (`perceive:`, `tool_call:`) is
  *skipped*, not failed: it says nothing about the scenario; ``--shard`` and ``--coverage``
  apply as in simulated rehearsal (coverage counts the live runs' states and transitions).

With ``CVISCRIPT_FAKE_DAILY`` set, every run gets a fake Daily room of its own (created through
the Tavus API when a key is set, else joined at a made-up URL), running the one
replica model with the case's `replica:` settings and `persona:` rules, and the visitor speaks
through the fake's microphone; the room and the scenario's clock run ``FAKE_SPEED`` times faster
than real time. The verdicts equal simulated rehearsal's (tested on every shipped scenario).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import CviscriptError, UsageError
from ..language.model import Expect, Rehearsal, Scenario
from ..sessions.live.options import Limits, LiveOptions
from ..sessions.live.target import LiveTarget
from .expectations import check
from .results import CaseRun, Failure, SuiteResult
from .suite import (
    CaseRef,
    case_result,
    collect,
    failed_run,
    finished_run,
    in_shard,
    run_case,
    seeds_for,
)

DEFAULT_MAX_DURATION = 300.0  # seconds a case's run may last
FAKE_SPEED = 20.0  # the fake room's clock against real time
COST_MARGIN = 60.0  # seconds added to --max-duration for the server-side max_call_duration


def _default_live() -> LiveOptions:
    return LiveOptions(limits=Limits(max_duration=DEFAULT_MAX_DURATION))


@dataclass
class LiveSuiteOptions:
    """`rehearse --live`: the live options every case's run starts from (`live`: its target's
    URL, when given, is the one conversation joined; `live.limits.max_duration` bounds each run),
    and how the suite runs them."""

    live: LiveOptions = field(default_factory=_default_live)
    jobs: int = 1
    max_concurrent: int = 2
    time_slack: float = 2.0
    visitor: str = "text"  # text | voice
    transcripts: str | None = "live-transcripts"
    fake: str | None = None  # CVISCRIPT_FAKE_DAILY's value


@dataclass
class LiveSummary:
    conversations: int = 0
    ended: int = 0
    not_ended: list[str] = field(default_factory=list)
    seconds: float = 0.0  # conversation time used (created or joined until ended or left)
    transcripts: list[str] = field(default_factory=list)
    interrupted: str | None = None  # the signal that stopped the suite

    @property
    def minutes(self) -> float:
        return self.seconds / 60.0


def run_live_suite(
    paths: list[str],
    options: LiveSuiteOptions,
    *,
    patterns: tuple[str, ...] = (),
    repeat: int = 1,
    on_case: Any = None,
    on_collected: Any = None,
    shard: tuple[int, int] | None = None,
    coverage: bool = False,
) -> tuple[SuiteResult, LiveSummary]:
    """Run every case under `paths` (those of `shard` I of N) live; Ctrl-C/SIGTERM stop every
    run (each conversation is ended) and return the finished cases with `interrupted` set."""
    from ..sessions.live.loop import EXIT_LEFT_RUNNING, exit_now, run_with_signals

    started = time.perf_counter()
    col = collect(paths, patterns)
    found = len(col.cases)
    col.cases = [ref for ref in col.cases if in_shard(ref.id, shard)]
    if on_collected is not None:
        on_collected(col)
    if options.live.connection.target.url is not None and len(col.cases) * repeat > 1:
        raise UsageError("--url joins one conversation: select a single case (-k) without --repeat")
    suite = SuiteResult(invalid=col.invalid, files=col.files, without_cases=col.without_cases)
    suite.outside_shard = found - len(col.cases)
    summary = LiveSummary()
    runner = _Runner(options, summary)

    def on_signal(name: str) -> None:
        runner.stop(name)

    def on_held(name: str) -> None:
        _say(f"cviscript: {name} again: still creating or ending conversations, to end them all"
             " (send it once more to exit at once, without ending them)")  # fmt: skip

    def on_again(name: str) -> None:
        left = runner.unended()
        if not left:
            exit_now(name, f"cviscript: {name} again: exiting now; every conversation was ended")
        exit_now(
            name,
            f"cviscript: {name} again: exiting now; NOT ENDED (billed until ended in the Tavus"
            f" dashboard): {', '.join(left)}",
            status=EXIT_LEFT_RUNNING,
        )

    async def main() -> None:
        width = max(1, min(options.jobs or os.cpu_count() or 1, options.max_concurrent))
        gate = asyncio.Semaphore(width)
        plans = [
            (ref, seeds_for(ref, repeat, None if repeat <= 1 else ref.seed)) for ref in col.cases
        ]
        tasks = [
            [
                asyncio.ensure_future(runner.run(ref, col.scenarios[ref.file], seed, gate))
                for seed in seeds
            ]
            for ref, seeds in plans
        ]
        for (ref, _), runs in zip(plans, tasks, strict=True):
            results = [await t for t in runs]
            case = case_result(ref, [r for r in results if r is not None])
            if not case.runs:  # every run was skipped: the case cannot run live
                case.skipped = skips.get(ref.id, "cannot run live")
            suite.cases.append(case)
            if on_case is not None:
                on_case(case)

    skips: dict[str, str] = {}
    for ref in col.cases:
        reason = cannot_run_live(col.scenarios[ref.file], ref.case)
        if reason is not None:
            skips[ref.id] = reason
    runner.skips = skips
    run_with_signals(main(), on_signal, on_again, busy=runner.in_flight, on_held=on_held)
    if coverage:
        from .coverage import measure

        suite.coverage = measure(col.scenarios, suite.cases)
    suite.interrupted = runner.interrupted is not None
    summary.interrupted = runner.interrupted
    suite.wall = time.perf_counter() - started
    return suite, summary


def _say(text: str) -> None:
    import sys

    try:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()
    except Exception:  # a closed stderr must not stop the run from ending its conversations
        pass


def cannot_run_live(sc: Scenario, case: str) -> str | None:
    """Why the case cannot run live (a `user:` rule no live participant can play), or None."""
    from ..sessions.live.visitor import unplayable

    reh = sc.rehearsal(case)
    if reh is None or reh.replay:
        return None
    cant = unplayable(reh)
    if not cant:
        return None
    return "skipped live: a live participant cannot play " + ", ".join(cant)


class _Runner:
    def __init__(self, options: LiveSuiteOptions, summary: LiveSummary):
        self.options = options
        self.summary = summary
        self.active: set[Any] = set()
        self.interrupted: str | None = None
        self.skips: dict[str, str] = {}  # case id -> why it cannot run live

    def stop(self, signame: str) -> None:
        self.interrupted = self.interrupted or signame
        for live in list(self.active):
            live.interrupt(signame)

    def unended(self) -> list[str]:
        """What leaving now would leave running: each conversation created and not ended, and
        each being created."""
        return [left for x in self.active if (left := x.left_running()) is not None]

    def in_flight(self) -> bool:
        """A create request or an end call of some run is on its way."""
        return any(x.in_flight() for x in self.active)

    async def run(
        self, ref: CaseRef, sc: Scenario, seed: int | None, gate: asyncio.Semaphore
    ) -> CaseRun | None:
        if ref.id in self.skips:
            return None  # no conversation for a case that cannot run live
        async with gate:
            if self.interrupted is not None:
                return _failed(
                    seed or 0, "interrupted", f"not run: interrupted by {self.interrupted}"
                )
            reh = sc.rehearsal(ref.case)
            assert reh is not None
            if reh.replay:  # a recording needs no replica
                return await asyncio.to_thread(run_case, ref.file, ref.case, scenario=sc)
            try:
                return await self._live(ref, sc, reh, seed)
            except CviscriptError as exc:
                return _failed(seed or 0, "live-error", str(exc))
            except Exception as exc:  # a bug in cviscript: this case fails, the suite goes on
                return _failed(seed or 0, "internal-error", f"{type(exc).__name__}: {exc}")

    async def _live(self, ref: CaseRef, sc: Scenario, reh: Rehearsal, seed: int | None) -> CaseRun:
        from ..language.hooks_lookup import missing_hooks
        from ..sessions.live.runner import LiveRun

        o = self.options
        started = time.perf_counter()
        if missing := missing_hooks(sc, reh.hooks):  # nothing created for a run that cannot work
            return _failed(
                seed or 0, "live-error", "a hook cannot be found: " + "; ".join(missing), started
            )
        fake, settings = None, None
        if o.fake:
            fake, settings = _fake_room(sc, reh, seed, o.fake)
        spoken = fake is not None or o.visitor == "voice" or any(r.voice for r in reh.user)
        audio = _audio_source(sc, reh, fake is not None, o.visitor == "voice") if spoken else None
        holder: dict[str, Any] = {}
        from ..fidelity import Monitor
        from ..fidelity.assumptions import for_scenario

        monitor = Monitor(for_scenario(sc, reh))
        live = LiveRun(
            sc,
            self._case_options(ref, sc, reh, fake, spoken),
            vars_override=dict(reh.vars) or None,
            on_conversation=lambda conv: holder.update(
                stage=_attach_visitor(conv, reh, settings, live.session, audio)
            ),
            fidelity=monitor,
            rehearsal=reh.name,
        )
        self.active.add(live)
        joined = time.monotonic()
        try:
            conv = await live.run()
        except CviscriptError as exc:
            self._account(live, joined)
            return _failed(seed or 0, "live-error", str(exc), started)
        finally:
            self.active.discard(live)
            if "stage" in holder:
                holder["stage"].close()
        self._account(live, joined)
        if conv is None:
            return _failed(seed or 0, "live-error", "test_mode: the conversation has no replica")
        transcript = self._save(ref, seed, conv)
        result, records = conv.result, conv.trace.records
        assert result is not None
        slack = 1.0 if fake is not None else o.time_slack
        failures = check(_slackened(reh.expect, slack), result, records)
        if live.hit_max_duration:
            failures.insert(0, Failure("max-duration", "--max-duration", result.reason))
        note = f" (transcript: {transcript})" if transcript else ""
        run_seed = seed if seed is not None else reh.seed
        run = finished_run(
            run_seed, result, records, failures, started, reason=result.reason + note
        )
        run.fidelity = [f.to_json() for f in monitor.finish()]
        return run

    def _case_options(
        self, ref: CaseRef, sc: Scenario, reh: Rehearsal, fake: Any, spoken: bool
    ) -> LiveOptions:
        """The suite's live options for one case's run: its own conversation (the suite's URL,
        a made-up one in the fake room without an API key, or created from the file), the fake
        room and its speed, the microphone when the visitor speaks."""
        base = self.options.live
        url, create = base.connection.target.url, None
        if url is None and fake is not None and not _api_key():
            url = f"https://fake.daily.invalid/{_slug(ref.case)}"  # the fake room needs no Tavus
        elif url is None:
            create = _live_create_body(sc, reh, base.limits.max_duration or DEFAULT_MAX_DURATION)
        connection = replace(
            base.connection,
            target=LiveTarget(url=url, create=create),
            daily=fake,
            time_scale=FAKE_SPEED if fake is not None else 1.0,
        )
        audio = replace(base.audio, microphone="cviscript-visitor" if spoken else None)
        return replace(base, connection=connection, audio=audio)

    def _account(self, live: Any, joined: float) -> None:
        s = self.summary
        if live.created is not None:
            s.conversations += 1
            if live.ended:
                s.ended += 1
            else:
                s.not_ended.append(str(live.conversation_id))
        begin = live.started_at or joined
        s.seconds += max(0.0, (live.ended_at or time.monotonic()) - begin)

    def _save(self, ref: CaseRef, seed: int | None, conv: Any) -> str | None:
        folder = self.options.transcripts
        if not folder:
            return None
        from ..transcript import TranscriptWriter

        path = Path(folder) / transcript_name(ref.file, ref.case, seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = TranscriptWriter(str(path))
        try:
            for record in conv.trace.records:
                writer(record)
        finally:
            writer.close()
        self.summary.transcripts.append(str(path))
        return str(path)


def transcript_name(file: str, case: str, seed: int | None = None) -> str:
    """The file name of one case's live transcript: readable (scenario stem, case name, seed)
    and unique — the slug loses characters (``price?`` and ``price!`` are both ``price``), so a
    short hash of the scenario's path and the exact case name follows it."""
    digest = hashlib.sha256(f"{os.path.abspath(file)}\0{case}".encode()).hexdigest()[:8]
    name = _slug(f"{Path(file).stem}--{case}")
    return f"{name}--{digest}{'' if seed is None else f'--seed{seed}'}.jsonl"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:100] or "case"


def _api_key() -> bool:
    from ..sessions.live.tavus_api import API_KEY_ENV

    return bool(os.environ.get(API_KEY_ENV, "").strip())


def _failed(seed: int, code: str, reason: str, started: float | None = None) -> CaseRun:
    wall = time.perf_counter() - started if started is not None else 0.0
    return failed_run(seed, Failure(code=code, expectation="live", message=reason), wall=wall)


def _slackened(expect: Expect, slack: float) -> Expect:
    if expect.duration_max is None or slack == 1.0:
        return expect
    import copy

    out = copy.copy(expect)
    out.duration_max = expect.duration_max * slack
    return out


def _live_create_body(sc: Scenario, reh: Rehearsal, max_duration: float) -> dict[str, Any]:
    from ..sessions.simulated.runner import create_body as render

    body = render(sc, dict(reh.vars))
    if not isinstance(body, dict) or not body:
        raise UsageError(
            f"{sc.path}: rehearse --live needs conversation.create in the file (or --url)"
        )
    body = dict(body)
    props = dict(body.get("properties") or {})
    props.setdefault("max_call_duration", int(max_duration + COST_MARGIN))
    body["properties"] = props
    return body


def _fake_room(sc: Scenario, reh: Rehearsal, seed: int | None, spec: str) -> tuple[Any, Any]:
    """A fake Daily room whose replica is the model with this case's settings and persona."""
    from ..sessions.fake.daily_room import FakeDaily
    from ..sessions.fake.replica import FakeReplica
    from ..sessions.replica_model.settings import conversation_limits
    from ..sessions.simulated.persona import Persona
    from ..sessions.simulated.replica import model_settings
    from ..sessions.simulated.runner import create_body as render

    settings = model_settings(
        reh, sc.persona_for(reh), **conversation_limits(render(sc, dict(reh.vars)))
    )
    fake = FakeDaily()
    FakeReplica(
        fake,
        settings=settings,
        model_persona=Persona(reh.persona, settings.default_reply),
        speed=FAKE_SPEED,
        misbehave=_misbehaviour(spec),
    )
    return fake, settings


def _misbehaviour(spec: str) -> Any:
    """The ``misbehave`` settings of a ``CVISCRIPT_FAKE_DAILY`` JSON value (None for ``1``): the
    fake rooms of a live rehearsal misbehave alike (their replica settings are each case's)."""
    import json

    from ..sessions.fake import FAKE_DAILY_ENV
    from ..sessions.fake.misbehave import Misbehaviour

    try:
        value = json.loads(spec)
    except ValueError:
        return None
    if not isinstance(value, dict) or "misbehave" not in value:
        return None
    try:
        return Misbehaviour.from_spec(value["misbehave"], f"{FAKE_DAILY_ENV}: misbehave")
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _audio_source(sc: Scenario, reh: Rehearsal, fake: bool, synthesise_all: bool) -> Any:
    """What a spoken rule's words sound like: its WAV, synthesised text, or (fake room) None."""
    from ..audio import load_wav
    from ..sessions.live import tts
    from ..sessions.live.mic import SAMPLE_RATE
    from ..sessions.live.visitor import wav_path

    needs_tts = any(r.say is not None and r.voice is True for r in reh.user) or (
        synthesise_all and not fake and any(r.say is not None and not r.voice for r in reh.user)
    )
    if needs_tts and not fake:
        tts.require()  # a clear error before anything is created
    for rule in reh.user:
        path = wav_path(rule, sc.path)
        if path is not None and not os.path.isfile(path):
            raise UsageError(f"{rule.loc}: voice: no such WAV file {path}")

    def audio(rule: Any, text: str) -> bytes | None:
        path = wav_path(rule, sc.path)
        if path is not None:
            return load_wav(path, target_rate=SAMPLE_RATE).pcm
        if fake:
            return None  # silence as long as the simulated visitor speaks
        return tts.synthesise(text, sample_rate=SAMPLE_RATE).pcm

    return audio


def _attach_visitor(conv: Any, reh: Rehearsal, settings: Any, session: Any, audio: Any) -> Any:
    from ..sessions.live.mic import Speaker
    from ..sessions.live.visitor import ClientStage, LiveVisitor
    from ..sessions.replica_model import ModelSettings

    # as in simulated rehearsal: the case's canned hook results, and its rehearsed operator
    canned = getattr(reh, "hooks", None)
    if canned and hasattr(conv.engine, "hooks"):
        conv.engine.hooks.canned = dict(canned)
    if getattr(reh, "operator", None):
        from ..sessions.simulated.operator import SimulatedOperator

        SimulatedOperator(reh.operator, conv.clock, conv.fire).attach(conv.trace)
    stage = ClientStage(conv.clock, conv.session.send, conv.engine.actions.interactions)
    if session is not None and session.microphone is not None:
        stage.speaker = Speaker(session.microphone, conv.clock)
        stage.audio = audio
    visitor = LiveVisitor(reh.user, stage, settings or ModelSettings())
    conv.trace.subscribe(stage.observe)
    visitor.start()
    return stage
