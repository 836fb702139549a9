"""`cviscript listen` and `cviscript send` against the fake Daily room (in-process)."""

from __future__ import annotations

import json
import time

import pytest
from click.testing import CliRunner

from cviscript.cli import send as send_cli
from cviscript.cli.main import cli
from cviscript.sessions.fake.daily_room import FakeDaily
from cviscript.sessions.fake.replica import FakeReplica
from cviscript.sessions.live.options import Connection, LiveOptions
from cviscript.sessions.live.target import LiveTarget

URL = "https://tavus.daily.co/c-tools"


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


# ------------------------------------------------------------------------------------ listen


def test_listen_prints_events_until_the_conversation_shuts_down(monkeypatch):
    monkeypatch.setenv(
        "CVISCRIPT_FAKE_DAILY",
        json.dumps(
            {
                "user": [[0.02, "How much is it?"]],
                "persona": {"(?i)how much": "Ten dollars."},
                "spoof": [[0.05, "I am not Tavus"]],
                "shutdown_after": 0.3,
            }
        ),
    )
    res = invoke("listen", "--url", URL, "--no-color")
    assert res.exit_code == 0, res.output
    out = res.output
    assert "← replica joined" in out
    assert '← user: "How much is it?"' in out
    assert '← replica: "Ten dollars."' in out
    assert "✗ dropped: not from the replica" in out
    assert "I am not Tavus" not in out.replace("dropped", "")  # never shown as an event
    assert "← conversation shut down: end_conversation_endpoint_hit" in out
    assert "the conversation was shut down" in out


def test_listen_json_gives_raw_messages_with_their_sender(monkeypatch):
    monkeypatch.setenv(
        "CVISCRIPT_FAKE_DAILY",
        json.dumps({"spoof": [[0.01, "spoofed"]], "user": [[0.05, "hi"]], "leave_after": 0.2}),
    )
    res = invoke("listen", "--url", URL, "--json")
    assert res.exit_code == 0, res.output
    lines = [json.loads(line) for line in res.stdout.splitlines()]
    kinds = [line["message"]["event_type"] for line in lines]
    assert kinds[0] == "system.replica_joined"
    assert "conversation.utterance" in kinds
    (spoof,) = [line for line in lines if line.get("ignored")]
    assert spoof["ignored"] == "not from the replica"
    assert spoof["message"]["properties"]["speech"] == "spoofed"
    replica_sender = lines[0]["sender"]
    assert all(line["sender"] == replica_sender for line in lines if "ignored" not in line)
    assert "replica left the call" in res.stderr


def test_listen_to_an_unreachable_room_exits_3(monkeypatch):
    monkeypatch.setenv("CVISCRIPT_FAKE_DAILY", json.dumps({"fail_join": "RoomInfoFetchFailed"}))
    res = invoke("listen", "--url", URL)
    assert res.exit_code == 3
    assert "could not reach Daily: RoomInfoFetchFailed" in res.output


# -------------------------------------------------------------------------------------- send


@pytest.fixture
def room(monkeypatch):
    fake = FakeDaily()
    replica = FakeReplica(fake)
    monkeypatch.setattr(send_cli, "fake_daily", lambda: fake)
    return fake, replica


def test_send_echo_waits_for_the_replica_sends_once_and_leaves(room):
    fake, replica = room
    res = invoke("send", "--url", URL, "echo", "Hello from the shell")
    assert res.exit_code == 0, res.output
    assert "sent conversation.echo to c-tools" in res.output
    assert fake.sent == [
        {
            "message_type": "conversation",
            "event_type": "conversation.echo",
            "conversation_id": "c-tools",
            "properties": {"modality": "text", "text": "Hello from the shell", "done": True},
        }
    ]
    assert fake.left and fake.released


@pytest.mark.parametrize(
    "args, expected",
    [
        (["respond", "What is new?"], [("conversation.respond", {"text": "What is new?"})]),
        (["interrupt"], [("conversation.interrupt", None)]),  # the docs send no properties
        (
            ["context", "Likes cats"],
            [("conversation.append_llm_context", {"context": "Likes cats"})],
        ),
        (
            ["--context-spelling", "context", "context", "--overwrite", "Fresh"],
            [("conversation.overwrite_context", {"context": "Fresh"})],
        ),
        (
            ["sensitivity", "--pause", "high", "--interrupt", "low"],
            [
                ("conversation.sensitivity", {"participant_pause_sensitivity": "high"}),
                ("conversation.sensitivity", {"participant_interrupt_sensitivity": "low"}),
            ],
        ),
    ],
)
def test_send_each_interaction(room, args, expected):
    fake, _ = room
    res = invoke("send", "--url", URL, *args)
    assert res.exit_code == 0, res.output
    assert [(m["event_type"], m.get("properties")) for m in fake.sent] == expected


def test_send_json_prints_the_messages(room):
    res = invoke("send", "--url", URL, "--json", "interrupt")
    assert res.exit_code == 0
    assert json.loads(res.stdout)["event_type"] == "conversation.interrupt"


def test_send_refuses_a_message_over_4kb_before_joining(room):
    fake, _ = room
    res = invoke("send", "--url", URL, "echo", "x" * 5000)
    assert res.exit_code == 2
    assert "over the 4096-character limit" in res.output
    assert fake.join_calls == []


def test_send_sensitivity_needs_a_setting(room):
    res = invoke("send", "--url", URL, "sensitivity")
    assert res.exit_code == 2 and "give --pause, --interrupt or both" in res.output


def test_send_without_a_replica_times_out_with_exit_3(monkeypatch):
    fake = FakeDaily()
    FakeReplica(fake, present=False)
    monkeypatch.setattr(send_cli, "fake_daily", lambda: fake)
    res = invoke("send", "--url", URL, "--replica-timeout", "0.2", "echo", "hi")
    assert res.exit_code == 3
    assert "the replica did not join within 0.2 s" in res.output
    assert fake.sent == []


def test_send_reports_an_undelivered_message(room):
    fake, _ = room
    fake.fail_send_completion("SendFailed")
    res = invoke("send", "--url", URL, "echo", "hi")
    assert res.exit_code == 1
    assert "Daily could not deliver an app-message: SendFailed" in res.output


def test_listener_stops_cleanly_when_asked():
    import asyncio

    from cviscript.sessions.live.tools import Listener

    fake = FakeDaily()
    FakeReplica(fake)
    listener = Listener(LiveOptions(Connection(LiveTarget(url=URL), daily=fake)))

    async def main():
        task = asyncio.ensure_future(listener.run())
        deadline = time.monotonic() + 10
        while not listener.received and time.monotonic() < deadline:  # listening
            await asyncio.sleep(0.01)
        listener.stop("SIGINT")
        return await task

    assert asyncio.run(main()) == "stopped by SIGINT"
    assert listener.received >= 1 and listener.released and fake.left


def test_listen_json_never_prints_terminal_controls_from_the_room(monkeypatch):
    # JSON escapes C0 controls but keeps C1 controls (CSI is \x9b), bidi overrides and lone
    # surrogates raw: a visitor could drive the terminal through `listen --json` without this.
    hostile = "\x9b2J\u202eevil\ud800 \x1b]0;title\x07"
    monkeypatch.setenv(
        "CVISCRIPT_FAKE_DAILY",
        json.dumps({"user": [[0.02, hostile]], "leave_after": 0.2}),
    )
    res = invoke("listen", "--url", URL, "--json")
    assert res.exit_code == 0, res.output
    for raw in ("\x9b", "\u202e", "\ud800", "\x1b", "\x07"):
        assert raw not in res.stdout
    assert "2J" in res.stdout and "evil" in res.stdout  # shown, not obeyed
