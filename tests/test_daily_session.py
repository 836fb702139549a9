"""DailySession against the fake daily module (threading included), plus the real SDK offline."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
import tools
from helpers import once_joined

from cviscript import errors
from cviscript.sessions.fake.daily_room import FakeDaily, LogLevel
from cviscript.sessions.live.daily_session import (
    CLIENT_SETTINGS,
    SUBSCRIPTION_PROFILES,
    DailySession,
    ensure_daily_init,
)
from cviscript.sessions.live.options import Connection, Identity, LiveOptions
from cviscript.sessions.live.target import LiveTarget

URL = "https://tavus.daily.co/c123"
CID = "c123"
JOINED = {"message_type": "system", "event_type": "system.replica_joined", "conversation_id": CID}


def utterance(text: str, role: str = "user") -> dict[str, Any]:
    return {
        "message_type": "conversation",
        "event_type": "conversation.utterance",
        "conversation_id": CID,
        "properties": {"role": role, "speech": text},
    }


class Sink:
    def __init__(self, on_closed: Callable[[str], None] | None = None):
        self.messages: list[tuple[Any, str | None]] = []
        self.ignored: list[tuple[Any, str | None, str]] = []
        self.closed: list[str] = []
        self.threads: set[int] = set()
        self._on_closed = on_closed

    def on_message(self, message: Any, sender: str | None = None) -> None:
        self.threads.add(threading.get_ident())
        self.messages.append((message, sender))

    def on_ignored(self, message: Any, sender: str | None, reason: str) -> None:
        self.threads.add(threading.get_ident())
        self.ignored.append((message, sender, reason))

    def on_closed(self, reason: str) -> None:
        self.threads.add(threading.get_ident())
        self.closed.append(reason)
        if self._on_closed:
            self._on_closed(reason)


def session(
    fake: FakeDaily,
    *,
    join_timeout: float = 1.0,
    replica_timeout: float = 1.0,
    identity: Identity | None = None,
    name_grace: float = 0.2,
    token: str | None = None,
    **kw: Any,
) -> DailySession:
    target = LiveTarget(url=URL, conversation_id=CID, token=token)
    connection = Connection(
        target, daily=fake, join_timeout=join_timeout, replica_timeout=replica_timeout
    )
    identity = replace(identity or Identity(), name_grace=name_grace)
    return DailySession(LiveOptions(connection, identity), **kw)


async def until(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.002)


async def connected(fake: FakeDaily, sink: Sink | None = None, **kw: Any) -> DailySession:
    s = session(fake, **kw)
    await s.connect()
    if sink is not None:
        s.start(sink)
    return s


@pytest.fixture
def fake():
    f = FakeDaily(replica_present=True)
    yield f
    f.shutdown()


# -------------------------------------------------------------------------------- connecting


def test_connect_with_the_replica_already_in_the_room(fake):
    async def main():
        s = await connected(fake, token="meeting-token")
        assert s.state == "connected"
        assert s.replica_id == fake.replica_id
        assert await s.aclose()

    asyncio.run(main())
    assert fake.initialized and fake.log_level is LogLevel.Off
    assert fake.user_name == "cviscript"
    (join,) = fake.join_calls
    assert join == {
        "url": URL,
        "meeting_token": "meeting-token",
        "client_settings": CLIENT_SETTINGS,
    }
    assert fake.subscription_profiles == SUBSCRIPTION_PROFILES  # no media downloaded


def test_connect_waits_for_the_replica_participant():
    fake = FakeDaily()

    async def main():
        started = time.monotonic()
        fake.replica_joins(after=0.1)
        s = await connected(fake)
        assert time.monotonic() - started >= 0.08
        assert s.replica_id == fake.replica_id
        await s.aclose()

    asyncio.run(main())


def test_an_announcement_never_identifies_the_replica_and_the_error_lists_the_room():
    fake = FakeDaily(replica_user_id="not-recognisable", replica_name="Ann\x1b[2Ja")

    def room() -> None:
        fake.replica_joins(after=0.02)
        fake.replica_says(JOINED, after=0.05)
        fake.other_joins("Visitor", after=0.01)

    once_joined(fake, room)

    async def main():
        s = session(fake, replica_timeout=0.3)
        with pytest.raises(errors.ConnectError) as info:
            await s.connect()
        return str(info.value), s

    message, s = asyncio.run(main())
    assert "did not join within 0.3 s" in message
    assert "'Visitor' (user id" in message
    assert "'Ann\\u001b[2Ja' (user id 'not-recognisable')" in message  # escaped, never raw
    assert "\x1b" not in message
    assert "containing 'tavus-replica' or 'tavus-pal'" in message
    assert "1 replica announcement(s)" in message and "--replica-user-id" in message


@pytest.mark.parametrize("option", [{"replica_user_id": "not-recog"}, {"replica_name": "anna"}])
def test_the_replica_can_be_named_explicitly(option):
    fake = FakeDaily(replica_user_id="not-recognisable", replica_name="Anna")
    fake.other_joins("Visitor", user_id="tavus-replica-impostor")  # explicit names win
    fake.replica_joins(after=0.03)

    async def main():
        s = await connected(fake, identity=Identity(**option))
        await s.aclose()
        return s

    assert asyncio.run(main()).replica_id == fake.replica_id


def test_the_persona_name_recognises_the_replica_even_when_learnt_late():
    fake = FakeDaily(replica_user_id="pal-unknown-form", replica_name="Anna")
    fake.replica_joins()

    async def main():
        s = session(fake, replica_timeout=2.0)
        task = asyncio.ensure_future(s.connect())
        await until(lambda: s.roster.seen)
        assert s.replica_id is None
        s.add_persona_name("Anna")
        await task
        await s.aclose()
        return s

    assert asyncio.run(main()).replica_id == fake.replica_id


def test_a_name_alone_gives_way_to_a_tavus_user_id():
    fake = FakeDaily(replica_name="Anna")  # the real replica: tavus-replica-fake
    impostor = fake.other_joins("Anna")  # a visitor who took the persona's name, joins first

    def room() -> None:
        fake.other_says(JOINED, sender=impostor, after=0.02)
        fake.other_says(utterance("from the impostor, before"), sender=impostor, after=0.03)
        fake.replica_joins(after=0.1)
        fake.other_says(utterance("from the impostor, after"), sender=impostor, after=0.15)
        fake.replica_says(utterance("from the replica"), after=0.17)

    once_joined(fake, room)
    ignored: list[Any] = []
    sink = Sink()

    async def main():
        s = await connected(
            fake,
            identity=Identity(persona_names=("Anna",)),
            on_ignored=lambda *a: ignored.append(a),
            name_grace=2,
        )
        # the name match was provisional: connect waited for the Tavus user id
        assert s.replica_id == fake.replica_id
        s.start(sink)
        await until(lambda: sink.messages and len(ignored) == 3)
        await s.aclose()
        return s

    asyncio.run(main())
    assert sink.messages == [(utterance("from the replica"), fake.replica_id)]
    assert [who for _m, who, _why in ignored] == [impostor] * 3


def test_a_name_match_is_taken_when_no_tavus_user_id_comes():
    fake = FakeDaily(replica_user_id="pal-unknown-form", replica_name="Anna")
    fake.replica_joins()
    once_joined(fake, lambda: fake.replica_says(utterance("hello"), after=0.05))
    sink = Sink()

    async def main():
        started = time.monotonic()
        s = await connected(fake, identity=Identity(persona_names=("Anna",)), name_grace=0.3)
        waited = time.monotonic() - started
        s.start(sink)
        await until(lambda: sink.messages)
        await s.aclose()
        return s, waited

    s, waited = asyncio.run(main())
    assert s.replica_id == fake.replica_id and waited >= 0.3
    assert sink.messages == [(utterance("hello"), fake.replica_id)]  # held, then delivered


def test_a_spoofed_announcement_before_the_replica_never_locks_it_out():
    fake = FakeDaily()
    spoofer = fake.other_joins("Visitor")

    def room() -> None:
        fake.other_says(JOINED, sender=spoofer, after=0.02)
        fake.other_says(utterance("pwned"), sender=spoofer, after=0.03)
        fake.replica_joins(after=0.08, announce=True)

    once_joined(fake, room)
    ignored: list[Any] = []
    sink = Sink()

    async def main():
        s = await connected(fake, on_ignored=lambda m, who, why: ignored.append((m, who)))
        s.start(sink)
        await until(lambda: sink.messages and len(ignored) == 2)
        await s.aclose()
        return s

    s = asyncio.run(main())
    assert s.replica_id == fake.replica_id and s.spoofed_announcements == 1
    assert [who for _, who in ignored] == [spoofer, spoofer]
    assert [m["event_type"] for m, _ in sink.messages] == ["system.replica_joined"]
    assert all(who == fake.replica_id for _, who in sink.messages)


def test_announcement_for_another_conversation_does_not_identify_anyone():
    fake = FakeDaily(replica_user_id="not-recognisable")
    fake.replica_joins()
    fake.other_says({**JOINED, "conversation_id": "other"}, after=0.05)

    async def main():
        s = session(fake, replica_timeout=0.2)
        with pytest.raises(errors.ConnectError, match="did not join"):
            await s.connect()

    asyncio.run(main())


def test_join_error_is_a_connect_error():
    fake = FakeDaily(replica_present=True)
    fake.fail_join("RoomInfoFetchFailed: room not found")

    async def main():
        s = session(fake)
        with pytest.raises(errors.ConnectError, match="could not reach Daily: RoomInfoFetchFailed"):
            await s.connect()
        assert s.state == "closed"
        assert await s.aclose(timeout=1)

    asyncio.run(main())
    assert fake.released


def test_bad_url_fails_at_once():
    fake = FakeDaily()

    async def main():
        s = DailySession(
            LiveOptions(
                Connection(
                    LiveTarget(url="not a url", conversation_id=CID), daily=fake, join_timeout=5
                )
            )
        )
        with pytest.raises(errors.ConnectError, match="Failed to parse url"):
            await s.connect()
        await s.aclose()

    started = time.monotonic()
    asyncio.run(main())
    assert time.monotonic() - started < 2.5  # not the 5 s join timeout


def test_join_timeout_then_bounded_close_while_the_join_is_pending():
    fake = FakeDaily(replica_present=True)
    fake.hang_join(fail_after=1.5)  # like the SDK offline: the join fails much later

    async def main():
        s = session(fake, join_timeout=0.1)
        started = time.monotonic()
        with pytest.raises(errors.ConnectError, match=r"no answer joining .* within 0.1 s"):
            await s.connect()
        assert time.monotonic() - started < 1.0  # the join timeout, not the join's failure
        assert await s.aclose(timeout=0.05) is False  # release() waits for the join to fail
        assert await s.aclose(timeout=5.0) is True

    asyncio.run(main())
    assert fake.released
    assert fake.release_thread is not threading.main_thread()
    assert fake.release_thread is not fake.callback_thread


def test_replica_never_joins():
    fake = FakeDaily()

    async def main():
        s = session(fake, replica_timeout=0.1)
        with pytest.raises(errors.ConnectError, match="the replica did not join within 0.1 s"):
            await s.connect()
        assert await s.aclose(timeout=1)

    asyncio.run(main())
    assert fake.left and fake.released


def test_close_while_connecting_ends_connect():
    fake = FakeDaily()
    fake.hang_join(fail_after=0.6)  # closed long before the join fails, on a loaded machine too

    async def main():
        s = session(fake, join_timeout=5)
        task = asyncio.create_task(s.connect())
        await until(lambda: fake.join_calls)  # connecting
        s.close()
        with pytest.raises(errors.ConnectError, match="closed while connecting"):
            await task
        assert await s.aclose(timeout=2)

    asyncio.run(main())


def test_connect_twice_is_a_usage_error(fake):
    async def main():
        s = await connected(fake)
        with pytest.raises(errors.UsageError):
            await s.connect()
        await s.aclose()

    asyncio.run(main())


# -------------------------------------------------------------------------------- receiving


def test_replica_messages_reach_the_sink_on_the_loop_thread(fake):
    sink = Sink()

    async def main():
        s = await connected(fake, sink)
        fake.replica_says(utterance("hello"))
        fake.replica_says(utterance("I am Anna", role="replica"))
        await until(lambda: len(sink.messages) == 2)
        await s.aclose()

    asyncio.run(main())
    assert [m["properties"]["speech"] for m, _ in sink.messages] == ["hello", "I am Anna"]
    assert {sender for _, sender in sink.messages} == {fake.replica_id}
    assert sink.threads == {threading.main_thread().ident}  # not the SDK's callback thread
    assert fake.callback_thread.ident not in sink.threads


def test_messages_before_start_are_delivered_in_order(fake):
    sink = Sink()

    async def main():
        s = await connected(fake)
        for i in range(3):
            fake.replica_says(utterance(f"m{i}"))
        await asyncio.sleep(0.05)
        s.start(sink)
        fake.replica_says(utterance("m3"))
        await until(lambda: len(sink.messages) == 4)
        await s.aclose()

    asyncio.run(main())
    assert [m["properties"]["speech"] for m, _ in sink.messages] == ["m0", "m1", "m2", "m3"]


def test_messages_from_anyone_else_are_ignored(fake):
    sink = Sink()

    async def main():
        s = await connected(fake, sink)
        spoofer = fake.other_says(utterance("goodbye"))
        fake.other_says(JOINED, sender=spoofer)
        fake.replica_says(utterance("real"))
        await until(lambda: sink.messages and len(sink.ignored) == 2)
        await s.aclose()
        return spoofer

    spoofer = asyncio.run(main())
    assert sink.messages == [(utterance("real"), fake.replica_id)]
    assert [(m, who, why) for m, who, why in sink.ignored] == [
        (utterance("goodbye"), spoofer, "not from the replica"),
        (JOINED, spoofer, "not from the replica"),
    ]


def test_messages_held_until_the_replica_is_identified():
    fake = FakeDaily()

    def room() -> None:
        fake.replica_says(utterance("early"), after=0.02)  # before Daily says who sent it
        fake.other_says(utterance("spoof"), sender="spoofer-id", after=0.03)
        fake.replica_joins(after=0.06)
        fake.replica_says(JOINED, after=0.08)

    once_joined(fake, room)
    ignored: list[tuple[Any, Any, str]] = []
    sink = Sink()

    async def main():
        s = await connected(fake, on_ignored=lambda m, who, why: ignored.append((m, who, why)))
        s.start(sink)
        await until(lambda: len(sink.messages) == 2 and ignored)
        await s.aclose()

    asyncio.run(main())
    assert sink.messages == [(utterance("early"), fake.replica_id), (JOINED, fake.replica_id)]
    assert ignored == [(utterance("spoof"), "spoofer-id", "not from the replica")]
    assert sink.ignored == []  # the explicit on_ignored callback wins over the sink's


# ---------------------------------------------------------------------------------- sending


def test_the_send_queue_is_bounded_and_says_what_it_drops(fake, caplog, monkeypatch):
    caplog.set_level(logging.WARNING)
    ignored: list[tuple[Any, Any, str]] = []
    # the token bucket on a clock that stands still: on the wall clock, a loaded machine that
    # pauses the loop 50 ms refills a token, so one more message leaves and one fewer is dropped
    monkeypatch.setattr(DailySession, "_now", lambda self: 100.0)

    def echo(i: int) -> dict[str, Any]:
        return {"message_type": "conversation", "event_type": "conversation.echo",
                "conversation_id": CID, "properties": {"modality": "text", "text": f"#{i}"}}  # fmt: skip

    async def main():
        s = await connected(fake, on_ignored=lambda m, who, why: ignored.append((m, who, why)))
        s.start(Sink())
        for i in range(2012):  # a 2 ms `after:` loop, as the review measured it
            s.send(echo(i))
        queued = len(s._outbox)
        await until(lambda: len(ignored) == 2012 - 10 - 200)
        assert len(s._outbox) == queued  # no token came back: nothing left the queue
        await s.aclose()
        return s, queued

    s, queued = asyncio.run(main())
    assert queued == 200  # 10 s at 20/s; 10 left at once (the burst)
    assert s.dropped_sends == 1802 and len(fake.sent) <= 210  # not 2,012 flushed at close
    assert [m["properties"]["text"] for m in fake.sent[:3]] == ["#0", "#1", "#2"]
    message, sender, why = ignored[0]
    assert message["properties"]["text"] == "#210" and sender is None
    assert "not sent: the send queue is full (200 messages, about 10 s behind at 20/s)" in why
    warnings = [r for r in caplog.records if "send queue is full" in r.getMessage()]
    assert len(warnings) == 1  # once per overflow, not once per message


def test_audio_chunks_do_not_count_against_the_paced_bound():
    from cviscript.sessions.live.outbox import Outbox

    box = Outbox(lambda: 0.0, max_rate=20, burst=1, max_backlog_seconds=1, max_queued=50)
    chunk = {"event_type": "conversation.echo", "properties": {"modality": "audio"}}
    text = {"event_type": "conversation.echo", "properties": {"modality": "text"}}
    assert box.offer(text) == "send"
    assert [box.offer(text) for _ in range(21)] == ["queued"] * 20 + ["refused"]
    assert [box.offer(chunk) for _ in range(31)] == ["queued"] * 30 + ["refused"]  # 50 in all


def test_send_broadcasts(fake):
    msg = {
        "message_type": "conversation",
        "event_type": "conversation.echo",
        "conversation_id": CID,
        "properties": {"modality": "text", "text": "Hi"},
    }

    async def main():
        s = await connected(fake, Sink())
        s.send(msg)
        await until(lambda: fake.sent)
        await s.aclose()

    asyncio.run(main())
    assert fake.sent_calls == [(msg, None)]  # participant_id=None is Daily's broadcast


def test_oversize_message_is_refused_before_sending(fake):
    msg = {"event_type": "conversation.echo", "properties": {"text": "x" * 5000}}

    async def main():
        s = await connected(fake, Sink())
        with pytest.raises(errors.CviscriptError, match=r"conversation\.echo.*50\d\d characters"):
            s.send(msg)
        await s.aclose()

    asyncio.run(main())
    assert fake.sent == []


@pytest.mark.parametrize("exc", [ValueError("bad"), TypeError("bad"), Exception("bad")])
def test_sdk_raising_on_send_becomes_a_cviscript_error(fake, exc):
    async def main():
        s = await connected(fake, Sink())
        fake.fail_send(exc)
        with pytest.raises(
            errors.CviscriptError, match="Daily refused to send conversation.interrupt"
        ):
            s.send({"event_type": "conversation.interrupt"})
        await s.aclose()

    asyncio.run(main())


def test_unserialisable_message_is_refused(fake):
    async def main():
        s = await connected(fake, Sink())
        with pytest.raises(errors.CviscriptError, match="not JSON-serialisable"):
            s.send({"event_type": "conversation.respond", "properties": {"text": object()}})
        await s.aclose()

    asyncio.run(main())
    assert fake.sent == []


def test_send_completion_error_is_logged(fake, caplog):
    async def main():
        s = await connected(fake, Sink())
        fake.fail_send_completion("send failed: not connected")
        with caplog.at_level(logging.ERROR, logger="cviscript.sessions.live.daily"):
            s.send({"event_type": "conversation.interrupt"})
            await until(lambda: "send failed: not connected" in caplog.text)
        await s.aclose()

    asyncio.run(main())


def test_send_before_connect_or_after_close(fake):
    async def main():
        s = session(fake)
        with pytest.raises(errors.CviscriptError, match="is new"):
            s.send({"event_type": "conversation.interrupt"})
        await s.connect()
        await s.aclose()
        with pytest.raises(errors.CviscriptError, match="is closed"):
            s.send({"event_type": "conversation.interrupt"})

    asyncio.run(main())
    assert fake.sent == []


# ------------------------------------------------------------------------- ending and closing


def test_disconnect_reports_closed_once(fake):
    sink = Sink()

    async def main():
        s = await connected(fake, sink)
        fake.disconnect(error="network lost")
        await until(lambda: sink.closed)
        fake.replica_says(utterance("too late"))
        await asyncio.sleep(0.05)
        with pytest.raises(errors.CviscriptError, match="gone"):
            s.send({"event_type": "conversation.interrupt"})
        await s.aclose()

    asyncio.run(main())
    (reason,) = sink.closed
    assert "disconnected" in reason and "network lost" in reason
    assert sink.messages == []


def test_replica_leaving_reports_closed(fake):
    sink = Sink()

    async def main():
        s = await connected(fake, sink)
        fake.replica_says(utterance("bye"))
        fake.replica_leaves()
        await until(lambda: sink.closed)
        await s.aclose()

    asyncio.run(main())
    assert len(sink.messages) == 1  # what came before the departure is still delivered
    assert sink.closed == ["the replica left the call (leftCall)"]


def test_close_is_idempotent_and_releases_off_the_callback_thread(fake):
    async def main():
        s = await connected(fake, Sink())
        s.close()
        s.close()
        assert await s.aclose(timeout=1)
        assert await s.aclose(timeout=1)
        assert s.close() is True
        assert s.released

    asyncio.run(main())
    assert fake.left and fake.released
    assert fake.release_thread not in (threading.main_thread(), fake.callback_thread)


def test_closing_from_the_sink_does_not_deadlock(fake):
    box: dict[str, DailySession] = {}
    sink = Sink(on_closed=lambda _reason: box["s"].close())  # what Conversation does

    async def main():
        box["s"] = s = await connected(fake, sink)
        fake.replica_leaves()
        await until(lambda: s.released)

    asyncio.run(main())
    assert sink.closed and fake.released


def test_callbacks_after_the_loop_closed_are_harmless(fake, monkeypatch):
    unraisable: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    sink = Sink()

    async def main():
        return await connected(fake, sink)

    s = asyncio.run(main())  # the loop is closed from here on
    fake.replica_says(utterance("into the void"))
    fake.disconnect()
    time.sleep(0.05)
    assert s.close(timeout=1.0) is True
    assert unraisable == []
    assert sink.messages == []


def test_call_client_factory_is_used(fake):
    made: list[Any] = []

    def factory(handler: Any) -> Any:
        assert isinstance(handler, fake.EventHandler)
        made.append(fake.CallClient(event_handler=handler))
        return made[-1]

    async def main():
        s = await connected(fake, call_client_factory=factory)
        await s.aclose()

    asyncio.run(main())
    assert len(made) == 1 and fake.initialized and fake.released


def test_close_before_connect_is_harmless(fake):
    s = session(fake)
    assert s.close() is True
    with pytest.raises(errors.UsageError):
        asyncio.run(s.connect())


def test_daily_init_happens_once_with_logging_off():
    fake = FakeDaily()
    ensure_daily_init(fake)
    ensure_daily_init(fake)  # the fake raises on a second init, like the SDK aborts
    assert fake.init_kwargs["log_level"] is LogLevel.Off
    fake.shutdown()


def test_importing_the_live_modules_does_not_import_daily():
    code = (
        "import sys, cviscript, cviscript.sessions.live, cviscript.sessions.live.daily_session,"
        " cviscript.sessions.live.tavus_api, cviscript.sessions.fake.daily_room; print('daily' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------------- the real SDK, offline


def test_real_daily_bad_url_fails_fast():
    tools.module("daily", install="daily-python")

    async def main():
        s = DailySession(
            LiveOptions(
                Connection(LiveTarget(url="not a url", conversation_id=CID), join_timeout=5)
            )
        )
        with pytest.raises(errors.ConnectError, match="Failed to parse url"):
            await s.connect()
        assert await s.aclose(timeout=5)

    started = time.monotonic()
    asyncio.run(main())
    assert time.monotonic() - started < 3


@pytest.mark.skipif(
    os.environ.get("CVISCRIPT_SLOW") != "1", reason="~20-50 s offline; set CVISCRIPT_SLOW=1"
)
def test_real_daily_unreachable_room():
    tools.module("daily", install="daily-python")

    async def main():
        s = DailySession(
            LiveOptions(
                Connection(
                    LiveTarget(
                        url="https://cviscript-offline-test.daily.co/room", conversation_id=CID
                    ),
                    join_timeout=1,
                )
            )
        )
        with pytest.raises(errors.ConnectError, match="no answer joining"):
            await s.connect()
        # release() waits for the pending join to fail (~19 s offline, ~49 s without DNS)
        assert await s.aclose(timeout=0.1) is False
        assert await s.aclose(timeout=90) is True

        s2 = DailySession(
            LiveOptions(
                Connection(
                    LiveTarget(
                        url="https://cviscript-offline-test.daily.co/room", conversation_id=CID
                    ),
                    join_timeout=90,
                )
            )
        )
        with pytest.raises(errors.ConnectError, match="could not reach Daily"):
            await s2.connect()
        assert await s2.aclose(timeout=10)

    asyncio.run(main())


def test_a_meeting_token_in_the_url_never_reaches_logs_errors_or_repr(caplog):
    fake = FakeDaily(replica_present=True)
    fake.hang_join(fail_after=0.3)
    url = "https://tavus.daily.co/c123?t=SECRET-MEETING-TOKEN"

    async def main():
        s = DailySession(
            LiveOptions(
                Connection(LiveTarget(url=url, conversation_id=CID), daily=fake, join_timeout=0.05)
            )
        )
        assert "SECRET" not in repr(s)
        with pytest.raises(errors.ConnectError) as info:
            await s.connect()
        assert "SECRET" not in str(info.value)
        assert await s.aclose(timeout=2.0)

    with caplog.at_level("DEBUG"):
        asyncio.run(main())
    assert fake.join_calls and "SECRET-MEETING-TOKEN" in str(fake.join_calls[0])  # joined as given
    assert "SECRET" not in caplog.text
