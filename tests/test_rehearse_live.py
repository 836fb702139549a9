"""Live rehearsal (`rehearse --live`) and the live session's presence report, in the fake room.

The fake Daily room runs the one replica model; a local HTTP server stands in for the Tavus API.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from cviscript.language.validate import load_scenario
from cviscript.sessions.live.daily_session import DailySession
from cviscript.sessions.live.fake_daily import FakeDaily
from cviscript.sessions.live.fake_replica import FakeReplica
from cviscript.sessions.live.runner import LiveRun

URL = "https://tavus.daily.co/c42"

GREETING = """\
cviscript: 1
name: greets
initial: hello
states:
  hello:
    enter:
      - echo: "Welcome to the show"
    on:
      - event: replica.stopped_speaking
        goto: bye
  bye:
    final: true
"""


# ------------------------------------------------------------------------- presence (live)


class PresenceSink:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def on_message(self, message: Any, sender: str | None = None) -> None:
        self.calls.append(f"message:{message.get('event_type')}")

    def on_closed(self, reason: str) -> None:
        self.calls.append("closed")

    def on_present(self) -> None:
        self.calls.append("present")


def test_the_daily_session_reports_presence_once_after_what_it_held_back():
    fake = FakeDaily()
    joined = {"message_type": "system", "event_type": "system.replica_joined"}

    async def main() -> PresenceSink:
        fake.replica_says(joined, after=0.02)  # held: the replica is not known yet
        fake.replica_joins(after=0.05)
        session = DailySession(
            URL, conversation_id="c42", daily=fake, join_timeout=1, replica_timeout=1
        )
        await session.connect()
        sink = PresenceSink()
        session.start(sink)
        await asyncio.sleep(0.05)
        fake.replica_joins()  # seen again (a participant update): not a second presence
        await asyncio.sleep(0.05)
        await session.aclose()
        return sink

    assert DailySession.reports_presence
    sink = asyncio.run(main())
    assert sink.calls == ["message:system.replica_joined", "present"]


def test_a_live_greeting_is_sent_only_once_the_replica_is_in_the_room():
    fake = FakeDaily()
    replica = FakeReplica(fake, join_after=0.15, announce=False)
    started = time.monotonic()
    run = LiveRun(load_scenario("greets.yaml", source=GREETING), url=URL, daily=fake)
    conv = run.run_sync(hard_exit=False)
    assert conv.result.outcome == "completed"
    assert conv.waiting_for_replica is False
    sent = [r for r in conv.trace.records if r.kind == "sent"]
    assert sent and sent[0].data["message"]["event_type"] == "conversation.echo"
    # the model only exists once the replica participant is in; it heard the greeting
    assert [i.kind for i in replica.heard][:1] == ["echo"]
    assert time.monotonic() - started >= 0.15
