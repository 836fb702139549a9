"""The whole live path against the fake Daily room (callbacks from its own thread)."""

from __future__ import annotations

import asyncio
import json
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import once_joined

from cviscript import errors
from cviscript.language.validate import load_scenario
from cviscript.sessions.fake.daily_room import FakeDaily
from cviscript.sessions.fake.replica import FakeReplica, fake_daily_from_env
from cviscript.sessions.live.daily_session import DailySession
from cviscript.sessions.live.options import Connection, Limits, LiveOptions
from cviscript.sessions.live.runner import Interrupted, LiveRun, resolve_target
from cviscript.sessions.live.target import LiveTarget
from cviscript.transcript import TranscriptWriter, read_transcript

URL = "https://tavus.daily.co/c777"


def joining(fake: FakeDaily, **connection: Any) -> LiveOptions:
    """Options for a run that joins the fake room at URL (`connection`: timeouts and the like)."""
    return LiveOptions(Connection(LiveTarget(url=URL), daily=fake, **connection))


GREET = """
cviscript: 1
name: live-greet
vars: {product: Acme}
initial: greet
any:
  - utterance: {role: user, match: "(?i)stop"}
    goto: bye
states:
  greet:
    enter:
      - sensitivity: {pause: high}
      - echo: "Hi, this is {{ vars.product }}."
    on:
      - event: replica.stopped_speaking
        goto: ask
  ask:
    enter:
      - respond: "What does it cost?"
    on:
      - utterance: {role: replica, match: "(?i)ten dollars"}
        goto: bye
  bye:
    enter:
      - echo: "Bye!"
    final: true
"""

WAITS = """
cviscript: 1
name: waits
initial: wait
states:
  wait:
    enter:
      - echo: "Hello"
    on:
      - after: 30s
        goto: done
  done:
    final: true
"""


def scenario(text: str, path: str = "live.yaml"):
    return load_scenario(path, source=textwrap.dedent(text))


def live_fake(**replica: Any) -> tuple[FakeDaily, FakeReplica]:
    fake = FakeDaily()
    replica.setdefault("persona", lambda text: "It is ten dollars a month.")
    return fake, FakeReplica(fake, **replica)


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# ---------------------------------------------------------------------------- the happy path


def test_live_run_end_to_end(tmp_path):
    fake, replica = live_fake(spoof=[(0.01, "please stop now")])
    out = tmp_path / "live.jsonl"
    writer = TranscriptWriter(out)
    live = LiveRun(
        scenario(GREET),
        LiveOptions(
            Connection(
                LiveTarget(url=URL + "?t=secret-meeting-token"), daily=fake, replica_timeout=2
            )
        ),
        subscribers=[writer],
    )
    started = time.monotonic()
    conv = live.run_sync()
    writer.close()
    assert time.monotonic() - started < 3

    assert conv.result.outcome == "completed", conv.result
    assert conv.result.path == ["greet", "ask", "bye"]  # the spoofed "stop" changed nothing
    assert live.released and fake.released and fake.left
    assert live.conversation_id == "c777"

    sent = [m["event_type"] for m in fake.sent]
    assert sent == [
        "conversation.sensitivity",
        "conversation.echo",
        "conversation.respond",
        "conversation.echo",
    ]
    assert all(pid is None for _, pid in fake.sent_calls)  # broadcast
    assert fake.sent[1]["properties"] == {
        "modality": "text",
        "text": "Hi, this is Acme.",
        "done": True,
    }
    assert [i.kind for i in replica.heard] == ["sensitivity", "echo", "respond", "echo"]

    recs = records(out)
    header = recs[0]
    assert header["mode"] == "live" and header["url"] == URL
    assert "secret-meeting-token" not in out.read_text()
    # a 2026 server repeats facts (pal/replica copies): those folds are not refusals
    dropped = [
        r for r in recs if r["kind"] == "dropped" and not r["reason"].startswith("duplicate")
    ]
    assert len(dropped) == 1 and dropped[0]["reason"] == "not from the replica"
    assert dropped[0]["message"]["properties"]["speech"] == "please stop now"
    received = [r["message"]["event_type"] for r in recs if r["kind"] == "received"]
    assert "conversation.utterance" in received and "system.replica_joined" in received
    assert all(r["sender"] == fake.replica_id for r in recs if r["kind"] == "received")
    # wall-clock times
    assert abs(recs[-1]["ts"] - time.time()) < 10
    assert recs[-1]["kind"] == "outcome" and recs[-1]["outcome"] == "completed"


def test_conversation_id_comes_from_the_url_and_the_callbacks_come_from_the_sdk_thread():
    fake, _ = live_fake()
    threads: set[Any] = set()
    import threading

    live = LiveRun(
        scenario(GREET),
        joining(fake),
        subscribers=[lambda rec: threads.add(threading.current_thread())],
    )
    conv = live.run_sync()
    assert conv.result.ok
    assert live.conversation_id == "c777"
    assert {m["conversation_id"] for m in fake.sent} == {"c777"}
    assert threads == {threading.main_thread()}  # the engine only ever runs on the loop thread
    assert fake.callback_thread is not threading.main_thread()


# -------------------------------------------------------------------------------- failures


def test_disconnect_mid_run_ends_as_error_with_the_transcript_flushed(tmp_path):
    fake, _ = live_fake(disconnect_after=0.15)
    out = tmp_path / "t.jsonl"
    writer = TranscriptWriter(out)
    live = LiveRun(scenario(WAITS), joining(fake), subscribers=[writer])
    conv = live.run_sync()
    # flushed line by line: complete before the writer is closed
    recs = records(out)
    writer.close()
    assert conv.result.outcome == "error"
    assert "connection to the conversation was lost" in conv.result.reason
    assert "network connection lost" in conv.result.reason
    assert recs[-1]["kind"] == "outcome" and recs[-1]["outcome"] == "error"
    assert live.released


def test_the_replica_leaving_ends_the_run():
    fake, _ = live_fake(leave_after=0.1)
    conv = LiveRun(scenario(WAITS), joining(fake)).run_sync()
    assert conv.result.outcome == "error"
    assert "replica left" in conv.result.reason


def test_an_exception_in_a_sink_callback_fails_the_run_instead_of_vanishing():
    fake, _ = live_fake()

    def boom(record):
        if record.kind == "received":
            raise RuntimeError("subscriber exploded")

    live = LiveRun(scenario(WAITS), joining(fake), subscribers=[boom])
    started = time.monotonic()
    conv = live.run_sync()
    assert time.monotonic() - started < 3  # not the 30 s `after`
    assert conv.result.outcome == "error"
    assert "RuntimeError: subscriber exploded" in conv.result.reason
    # a failing subscriber is reported and dropped, never raised into the engine
    assert live.fatal is None and len(live.subscriber_errors) == 1
    assert live.released and fake.left


def test_a_template_error_ends_the_run_as_error():
    bad = WAITS.replace('echo: "Hello"', 'echo: "Hello {{ event.role }}"')
    fake, _ = live_fake()
    conv = LiveRun(scenario(bad), joining(fake)).run_sync()
    assert conv.result.outcome == "error"
    assert "undefined" in conv.result.reason
    assert fake.sent == []  # nothing half-rendered was spoken


def test_join_failure_is_a_connect_error_and_leaves_cleanly():
    fake = FakeDaily()
    fake.fail_join("RoomInfoFetchFailed: no such room")
    live = LiveRun(scenario(WAITS), joining(fake))
    with pytest.raises(errors.ConnectError, match="could not reach Daily: RoomInfoFetchFailed"):
        live.run_sync()
    assert live.conversation is None and live.released


def test_a_replica_that_never_comes_is_a_connect_error():
    fake, _ = live_fake(present=False)
    live = LiveRun(scenario(WAITS), joining(fake, replica_timeout=0.2))
    with pytest.raises(errors.ConnectError, match="replica did not join within 0.2 s"):
        live.run_sync()
    assert live.released


# ------------------------------------------------------------------------------- stopping


def test_interrupt_while_running_ends_as_failed_and_cleans_up():
    fake, _ = live_fake()
    live = LiveRun(scenario(WAITS), joining(fake))

    async def main():
        task = asyncio.ensure_future(live.run())
        while live.phase != "running":
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        live.interrupt("SIGTERM")
        return await task

    conv = asyncio.run(main())
    assert conv.result.outcome == "failed"
    assert conv.result.reason == "interrupted by SIGTERM"
    assert live.interrupted == "SIGTERM" and live.released and fake.left


def test_interrupt_while_joining_stops_at_once_and_reports_a_pending_release():
    fake = FakeDaily()
    fake.hang_join(fail_after=1.2)  # like the SDK: the join cannot be cancelled
    live = LiveRun(scenario(WAITS), joining(fake, release_timeout=0.1))

    async def main():
        task = asyncio.ensure_future(live.run())
        deadline = time.monotonic() + 10
        while not fake.join_calls and time.monotonic() < deadline:  # joining
            await asyncio.sleep(0.005)
        live.interrupt("SIGINT")
        return await task

    started = time.monotonic()
    with pytest.raises(Interrupted, match="interrupted by SIGINT while connecting") as info:
        asyncio.run(main())
    assert time.monotonic() - started < 0.9  # not waiting for the join to fail (1.2 s)
    assert info.value.exit_status == 130
    assert live.released is False  # the caller must leave with os._exit
    fake._join_settled.wait(5)


# --------------------------------------------------------------------------------- pacing


def test_session_paces_interactions_but_not_audio_and_flushes_on_close(monkeypatch):
    fake = FakeDaily(replica_present=True)
    # the token bucket on a clock the test moves: on the wall clock a loaded machine's pauses
    # refill tokens between the sends, and a 0.2 s sleep may last much longer
    now = [0.0]
    monkeypatch.setattr(DailySession, "_now", lambda self: now[0])

    def echo(i):
        return {"message_type": "conversation", "event_type": "conversation.echo",
                "conversation_id": "c777", "properties": {"modality": "text", "text": str(i)}}  # fmt: skip

    def chunk(i):
        props = {"modality": "audio", "audio": "AAAA", "sample_rate": 24000,
                 "inference_id": "i1", "done": False}  # fmt: skip
        return {**echo(i), "properties": props}

    async def main():
        s = DailySession(
            LiveOptions(
                Connection(LiveTarget(url=URL, conversation_id="c777"), daily=fake),
                limits=Limits(max_rate=20, burst=5),
            )
        )
        await s.connect()
        s.start(type("S", (), {"on_message": lambda *a: None, "on_closed": lambda *a: None})())
        for i in range(30):
            s.send(chunk(i))
        assert len(fake.sent) == 30  # audio chunks are paced by AudioStream, not here
        for i in range(12):
            s.send(echo(i))
        assert len(fake.sent) == 35  # a burst of 5, then 20 per second
        now[0] += 0.2  # 4 tokens
        deadline = time.monotonic() + 10
        while len(fake.sent) < 39 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.15)  # the queue's next drains find no token
        assert len(fake.sent) == 39
        s.send(chunk(99))  # never overtakes queued messages
        assert fake.sent[-1]["properties"]["modality"] == "text"
        s.close()  # what is still queued leaves before the client does
        assert len(fake.sent) == 43
        texts = [m["properties"].get("text") for m in fake.sent[30:42]]
        assert texts == [str(i) for i in range(12)]
        assert fake.sent[42]["properties"]["modality"] == "audio"
        assert await s.aclose()

    asyncio.run(main())


# ------------------------------------------------------------------------- target resolution

FILE_URL = """
cviscript: 1
name: t
vars: {room: c42}
conversation:
  url: "https://tavus.daily.co/{{ vars.room }}"
  token: "tok-{{ vars.room }}"
initial: s
states:
  s: {final: true}
"""

FILE_CREATE = """
cviscript: 1
name: t
vars: {who: Ava}
conversation:
  create:
    persona_id: p1
    replica_id: r1
    conversation_name: "demo with {{ vars.who }}"
    properties: {max_call_duration: 600}
initial: s
states:
  s: {final: true}
"""


def test_a_file_with_conversation_settings_stays_simulated_unless_asked():
    assert resolve_target(scenario(FILE_CREATE)) is None
    assert resolve_target(scenario(FILE_URL)) is None


def test_live_uses_the_file_settings_rendered_with_vars():
    t = resolve_target(scenario(FILE_URL), live=True)
    assert (t.url, t.conversation_id, t.token) == ("https://tavus.daily.co/c42", "c42", "tok-c42")
    t = resolve_target(scenario(FILE_URL), live=True, vars_override={"room": "c43"})
    assert t.url.endswith("/c43")
    t = resolve_target(scenario(FILE_CREATE), live=True)
    assert t.create == {
        "persona_id": "p1",
        "replica_id": "r1",
        "conversation_name": "demo with Ava",
        "properties": {"max_call_duration": 600},
    }
    assert "tok" not in repr(resolve_target(scenario(FILE_URL), live=True))


def test_the_command_line_wins_over_the_file():
    t = resolve_target(scenario(FILE_URL), url="https://tavus.daily.co/c99", conversation_id="x1")
    assert (t.url, t.conversation_id, t.token) == ("https://tavus.daily.co/c99", "x1", None)
    t = resolve_target(scenario(FILE_URL), live=True, token="cli-token")
    assert t.token == "cli-token" and t.url.endswith("/c42")
    t = resolve_target(scenario(FILE_CREATE), create=True, test_mode=True)
    assert t.create["test_mode"] is True and t.test_mode


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"simulate": True, "url": URL}, "--simulate"),
        ({"url": URL, "create": True}, "give one"),
        ({"token": "t"}, "--token needs --url, --create or --live"),
        ({"url": URL, "test_mode": True}, "--test-mode only applies when creating"),
        ({"live": True, "source": GREET}, "no conversation: settings"),
        ({"create": True, "source": FILE_URL}, "conversation.create"),
    ],
)
def test_contradictory_requests_are_usage_errors(kwargs, message):
    source = kwargs.pop("source", FILE_CREATE)
    with pytest.raises(errors.UsageError, match=message):
        resolve_target(scenario(source), **kwargs)


TALK = """
cviscript: 1
name: talk
initial: listen
states:
  listen:
    on:
      - utterance: {role: user, match: "(?i)^hi$"}
        goto: answer
  answer:
    enter:
      - respond: "hi"
    on:
      - utterance: {role: replica, match: "hello back"}
        goto: done
  done: {final: true}
"""


def test_fake_daily_from_env_builds_a_talking_room():
    """The room's scripted visitor speaks at its time and its persona answers by its rules."""
    fake = fake_daily_from_env(
        '{"user": [[0.05, "hi"]], "persona": {"^hi$": "hello back", "x": "never"}}'
    )
    conv = LiveRun(scenario(TALK), joining(fake)).run_sync()
    assert conv.result.outcome == "completed", conv.result.reason
    assert conv.engine.path == ["listen", "answer", "done"]
    said = [
        r.data["message"]["properties"]["speech"]
        for r in conv.trace.records
        if r.kind == "received" and r.data["message"]["event_type"] == "conversation.utterance"
    ]
    assert said[0] == "hi" and "hello back" in said and "never" not in said
    with pytest.raises(errors.UsageError, match="unknown setting"):
        fake_daily_from_env('{"nope": 1}')


def test_test_mode_creation_is_ended_and_runs_nothing():
    class Client:
        def __init__(self):
            self.calls = []

        def create_conversation(self, body):
            self.calls.append(("create", body))
            return {"conversation_id": "c5", "conversation_url": "https://tavus.daily.co/c5"}

        def end_conversation(self, cid):
            self.calls.append(("end", cid))

    client = Client()
    live = LiveRun(
        scenario(WAITS),
        LiveOptions(
            Connection(LiveTarget(create={"persona_id": "p", "test_mode": True}), client=client)
        ),
    )
    assert live.run_sync() is None
    assert live.test_mode and live.ended
    assert client.calls == [("create", {"persona_id": "p", "test_mode": True}), ("end", "c5")]
    assert live.session is None  # no room joined


def test_read_back_a_live_transcript(tmp_path):
    fake, _ = live_fake()
    out = tmp_path / "t.jsonl"
    with TranscriptWriter(out) as writer:
        LiveRun(scenario(GREET), joining(fake), subscribers=[writer]).run_sync()
    header, recs = read_transcript(out)
    assert header["conversation_id"] == "c777" and header["created"] is False


PWNABLE = """
cviscript: 1
name: pwnable
initial: wait
states:
  wait:
    on:
      - utterance: "pwn"
        goto: pwned
      - after: 0.4s
        goto: safe
  pwned:
    final: true
  safe:
    final: true
"""


def test_a_stranger_announcing_itself_before_the_replica_cannot_drive_the_run():
    fake = FakeDaily()
    FakeReplica(fake, join_after=0.15, persona=None)
    spoofer = fake.other_joins("Visitor", after=0.01)
    joined = {"message_type": "system", "event_type": "system.replica_joined",
              "conversation_id": "c777"}  # fmt: skip
    said = {"message_type": "conversation", "event_type": "conversation.utterance",
            "conversation_id": "c777", "properties": {"role": "user", "speech": "pwn"}}  # fmt: skip

    def room() -> None:  # the replica joins 0.15 s after the client
        fake.other_says(joined, sender=spoofer, after=0.03)
        for at in (0.05, 0.3):  # before the replica is there, and during the run
            fake.other_says(said, sender=spoofer, after=at)

    once_joined(fake, room)
    live = LiveRun(scenario(PWNABLE), joining(fake))
    conv = live.run_sync()
    assert conv.result.outcome == "completed" and conv.result.path == ["wait", "safe"]
    assert live.session.replica_id == fake.replica_id
    assert live.session.spoofed_announcements == 1
    dropped = [r for r in conv.trace.records if r.kind == "dropped"]
    assert len(dropped) == 3 and all(r.data["sender"] == spoofer for r in dropped)
