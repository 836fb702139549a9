"""Wire fuzzing: whatever arrives from the room, the normaliser and the engine neither raise nor hang,
and the run's state stays consistent.

Property-based (hypothesis): arbitrary JSON values, the right shapes with wrong types, huge
strings, missing fields, duplicated and out-of-order `seq`, all thrown at `protocol.Normalizer` and
at a whole `Conversation` (normaliser, reorder buffer, engine, templates, actions) on a virtual
clock. Anything in the room can send app-messages (protocol.md), so none of this may crash a run.
"""

from __future__ import annotations

import copy
import json

import pytest
from helpers import CID, ScriptedSession, scenario_from
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cviscript.clock import VirtualClock
from cviscript.engine.conversation import REORDER_WINDOW, Conversation
from cviscript.protocol import CANONICAL, MAX_MESSAGE_CHARS, ROLE_AGNOSTIC, Event, Normalizer

SETTINGS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

EVENT_TYPES = [*CANONICAL, *ROLE_AGNOSTIC, "conversation.custom_thing", "", "system.", "x" * 300]
HUGE = "ü" * 300_000  # far over any message limit, and not ASCII

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | st.sampled_from(["", " ", "user", "replica", "pal", "true", "1", "5", HUGE])
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=25,
)
wrong_or_right = json_values | st.sampled_from([None, 0, -1, 2**63, 1.5, "12", [], {}])

properties = st.fixed_dictionaries(
    {},
    optional={
        "role": st.sampled_from(["user", "replica", "pal", "USER ", "other"]) | json_values,
        "speech": st.text(max_size=80) | st.just(HUGE) | json_values,
        "content": st.text(max_size=20) | json_values,
        "text": json_values,
        "name": st.sampled_from(["lookup", "other"]) | json_values,
        "tool_name": json_values,
        "arguments": st.sampled_from(['{"host": "ada"}', "{", "[]", ""]) | json_values,
        "tool_call_id": json_values,
        "interrupted": wrong_or_right,
        "duration": wrong_or_right,
        "inference_id": wrong_or_right,
        "analysis": st.text(max_size=20) | json_values,
        "shutdown_reason": json_values,
        "final": wrong_or_right,
        "content_index": wrong_or_right,
        "is_interrupted": wrong_or_right,
    },
)
shaped = st.fixed_dictionaries(
    {},
    optional={
        "message_type": st.sampled_from(["conversation", "system"]) | json_values,
        "event_type": st.sampled_from(EVENT_TYPES) | json_values,
        "conversation_id": st.sampled_from([CID, "someone-else"]) | json_values,
        "properties": properties | json_values,
        "seq": wrong_or_right,
        "turn_idx": wrong_or_right,
        "inference_id": wrong_or_right,
        "timestamp": wrong_or_right,
    },
)
messages = shaped | json_values


# ----------------------------------------------------------------------------------- normaliser


@SETTINGS
@given(st.lists(messages, max_size=30))
def test_the_normaliser_accepts_or_explains_never_raises_never_mutates(batch):
    n = Normalizer(CID)
    for message in batch:
        before = copy.deepcopy(message)
        event, reason = n.feed(message)
        assert (event is None) != (reason is None)
        if event is None:
            assert isinstance(reason, str) and reason
        else:
            assert isinstance(event, Event)
            assert isinstance(event.type, str) and event.type
            assert isinstance(event.properties, dict)
            assert event.seq is None or type(event.seq) is int
            assert event.text is None or isinstance(event.text, str)
            assert event.role is None or isinstance(event.role, str)
        # a received message is recorded and shared as it came: nobody may change it
        assert _same(message, before)


def _same(a, b) -> bool:
    return json.dumps(a, sort_keys=True, default=repr) == json.dumps(
        b, sort_keys=True, default=repr
    )


# --------------------------------------------------------------------------------------- engine

FUZZ = scenario_from(
    """
    cviscript: 1
    name: fuzz
    timeout: 2m
    vars: {n: 0}
    initial: a
    any:
      - utterance: "(?i)\\\\bbye\\\\b"
        goto: end
    states:
      a:
        enter:
          - echo: "A {{ vars.n }} {{ visits }}"
        on:
          - utterance: {match: "(?P<w>\\\\w+)"}
            when: "vars.n < 40"
            do:
              - set: {n: "{{ vars.n + 1 }}"}
              - log: "heard {{ event.groups.w }}"
            goto: b
          - tool_call: lookup
            do:
              - tool_result: {output: "{{ event.arguments }}"}
          - event: replica.stopped_speaking
            where: {interrupted: true}
            goto: b
          - after: 2s
            goto: b
      b:
        enter:
          - respond: "B {{ state }} {{ visits }}"
        on:
          - event: user.started_speaking
            goto: a
          - perception: {match: "(?i)x"}
            goto: a
          - event: conversation.custom_thing
            goto: end
          - after: 3s
            goto: a
      end:
        enter:
          - echo: "bye"
        final: true
    """
)


def _check_consistent(conv: Conversation, session: ScriptedSession) -> None:
    eng = conv.engine
    states = set(FUZZ.states)
    assert eng.state is None or eng.state in states
    assert all(s in states for s in eng.path)
    assert len(eng.path) == sum(eng.visits.values())
    assert eng.sent == [m["event_type"] for m in session.sent]
    for m in session.sent:
        assert m["conversation_id"] == CID and m["message_type"] == "conversation"
        assert len(json.dumps(m, separators=(",", ":"), ensure_ascii=False)) <= MAX_MESSAGE_CHARS


@SETTINGS
@given(
    st.lists(
        st.tuples(st.floats(min_value=0, max_value=30, allow_nan=False), messages), max_size=25
    )
)
def test_the_engine_survives_anything_from_the_room(script):
    clock = VirtualClock()
    session = ScriptedSession(clock)
    conv = Conversation(FUZZ, session, clock)
    conv.start()
    for at, message in sorted(script, key=lambda x: x[0]):
        clock.call_later(at, _deliver, conv, session, message)
    clock.run(stop=lambda: conv.done)  # the run's own deadline bounds it: it always ends
    assert conv.done
    result = conv.result
    assert result.outcome in ("completed", "failed", "timed_out", "error")
    assert result.duration <= FUZZ.timeout + FUZZ.final_wait + REORDER_WINDOW
    _check_consistent(conv, session)
    kinds = [r.kind for r in conv.trace.records]
    assert kinds[0] == "header" and kinds[-1] == "outcome" and kinds.count("outcome") == 1


def _deliver(conv: Conversation, session: ScriptedSession, message) -> None:
    conv.on_message(message)
    _check_consistent(conv, session)  # after every single message, not only at the end


# ------------------------------------------------------------------------------- out of order

ORDERED = scenario_from(
    """
    cviscript: 1
    name: ordered
    vars: {log: ""}
    initial: listen
    states:
      listen:
        on:
          - utterance: {match: "(?P<w>\\\\w+)"}
            do:
              - set: {log: "{{ vars.log }}{{ event.groups.w }} "}
            goto: listen
          - event: replica.stopped_speaking
            goto: other
      other:
        on:
          - event: replica.started_speaking
            goto: listen
    """
)

WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]


def _stream(kinds: list[int]) -> list[dict]:
    out = []
    for seq, k in enumerate(kinds, start=1):
        if k == 0:
            props = {"role": "user", "speech": WORDS[seq % len(WORDS)]}
            event_type = "conversation.utterance"
        elif k == 1:
            props, event_type = {"interrupted": False}, "conversation.replica.stopped_speaking"
        else:
            props, event_type = {}, "conversation.replica.started_speaking"
        out.append(
            {
                "message_type": "conversation",
                "event_type": event_type,
                "conversation_id": CID,
                "properties": props,
                "seq": seq,
            }
        )
    return out


def _run_ordered(deliveries: list[dict]):
    clock = VirtualClock()
    session = ScriptedSession(clock)
    conv = Conversation(ORDERED, session, clock)
    conv.start()
    for message in deliveries:
        clock.call_later(1.0, conv.on_message, json.loads(json.dumps(message)))
    clock.run(until=5.0)
    return conv.engine.path, conv.engine.vars["log"]


@settings(max_examples=80, deadline=None)
@given(st.data())
def test_out_of_order_and_duplicated_seq_is_put_back_in_order(data):
    kinds = data.draw(st.lists(st.integers(0, 2), min_size=2, max_size=14))
    stream = _stream(kinds)
    in_order = _run_ordered(stream)
    # The first event sets where the sequence starts; the rest arrive shuffled, some twice, all
    # within the reorder window.
    rest = data.draw(st.permutations(stream[1:]))
    dupes = data.draw(st.lists(st.sampled_from(stream), max_size=4))
    shuffled = [stream[0], *rest]
    for d in dupes:
        shuffled.insert(data.draw(st.integers(1, len(shuffled))), d)
    assert _run_ordered(shuffled) == in_order


@pytest.mark.parametrize(
    ("speech", "reason"),
    [("ö" * 5000, "over the 4096-character limit"), (HUGE, "template output too long")],
)
def test_a_huge_utterance_ends_the_run_cleanly_when_it_would_be_spoken(speech, reason):
    sc = scenario_from(
        """
        cviscript: 1
        name: parrot
        initial: a
        states:
          a:
            on:
              - utterance: {role: user}
                goto: b
          b:
            enter:
              - echo: "You said: {{ event.text }}"
            final: true
        """
    )
    clock = VirtualClock()
    session = ScriptedSession(clock)
    conv = Conversation(sc, session, clock)
    conv.start()
    session.push(
        1.0,
        {"event_type": "conversation.utterance", "properties": {"role": "user", "speech": speech}},
    )
    clock.run(stop=lambda: conv.done)
    assert conv.result.outcome == "error"
    assert reason in conv.result.reason and conv.result.state == "b"
    assert session.sent == []  # nothing half-built was sent


def test_a_burst_of_events_at_one_instant_is_not_mistaken_for_a_loop():
    clock = VirtualClock()
    session = ScriptedSession(clock)
    conv = Conversation(ORDERED, session, clock)
    conv.start()
    for i in range(3000):
        conv.on_message(
            {
                "event_type": "conversation.utterance",
                "conversation_id": CID,
                "properties": {"role": "user", "speech": "w"},
                "seq": i + 1,
            }
        )
    assert not conv.done
    assert len(conv.engine.path) == 3001 and clock.now() == 0.0  # the initial entry + 3000


def test_an_event_delivered_during_a_transition_waits_for_it_to_finish():
    """A session may deliver synchronously from inside `send`: the event is matched after the
    running transition is done, in the state it entered (never half-way through it)."""
    sc = scenario_from(
        """
        cviscript: 1
        name: reentrant
        initial: a
        states:
          a:
            on:
              - utterance: {role: user}
                goto: b
          b:
            enter:
              - echo: "one"
              - echo: "two"
            on:
              - event: replica.started_speaking
                goto: c
          c:
            enter:
              - echo: "three"
            final: true
        """
    )
    clock = VirtualClock()
    session = ScriptedSession(clock)
    conv = Conversation(sc, session, clock)
    order: list[str] = []

    def on_send(message):
        order.append(message["properties"]["text"])
        if message["properties"]["text"] == "one":  # the replica answers at once, mid-`enter`
            conv.on_message({"event_type": "conversation.replica.started_speaking", "seq": 2})

    session.on_send = on_send
    conv.start()
    session.push(1.0, {"event_type": "conversation.utterance", "seq": 1,
                       "properties": {"role": "user", "speech": "hi"}})  # fmt: skip
    clock.run(stop=lambda: conv.done)
    assert order == ["one", "two", "three"]  # `b` finished its enter before `c` was entered
    assert conv.engine.path == ["a", "b", "c"]


# -- odd numbers: the normaliser never raises (issue: seq "²", 5,000-digit numbers)

odd_numbers = (
    st.sampled_from(["²", "٣", "12", " 7 ", "-3", "1e3", "9" * 5000, "1" * 19, "NaN", "inf"])
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.builds(lambda sign: sign * 10**5000, st.sampled_from([1, -1]))  # no repr: too long
    | st.sampled_from([2**63, True, False, None, [], {}, {"a": [1]}])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(["2025-07-11T06:48:37.564961Z", "2026-03-02T21:51:47", "2026-13-45T99:99"])
)


@SETTINGS
@given(seq=odd_numbers, turn_idx=odd_numbers, content_index=odd_numbers, timestamp=odd_numbers)
def test_odd_numbers_never_raise_and_read_as_bounded_or_none(
    seq, turn_idx, content_index, timestamp
):
    message = {
        "event_type": "conversation.utterance.streaming",
        "conversation_id": CID,
        "seq": seq,
        "turn_idx": turn_idx,
        "timestamp": timestamp,
        "properties": {"role": "pal", "speech": "hi", "content_index": content_index},
    }
    normalizer = Normalizer(CID)
    for _ in range(2):
        event, _reason = normalizer.feed(message)
        if event is not None:
            for value in (event.seq, event.turn_idx):
                assert value is None or (type(value) is int and abs(value) < 10**18)
            assert event.timestamp is None or abs(event.timestamp) < 10**18


@pytest.mark.parametrize(
    "make",
    [lambda: "²", lambda: "9" * 5000, lambda: 10**5000, lambda: float("nan"), lambda: "1" * 19],
    ids=["unicode-digit", "5000-digit-string", "5000-digit-int", "nan", "19-digits"],
)
def test_unicode_digits_and_huge_numbers_read_as_none(make):
    value = make()
    message = {
        "event_type": "conversation.utterance.streaming",
        "conversation_id": CID,
        "seq": value,
        "turn_idx": value,
        "timestamp": value,
        "properties": {"role": "replica", "speech": "x", "content_index": value},
    }
    event, reason = Normalizer(CID).feed(message)
    assert reason is None
    assert (event.seq, event.turn_idx, event.timestamp) == (None, None, None)


def test_iso_timestamps_are_read_as_unix_seconds():
    message = {"event_type": "system.shutdown", "timestamp": "2025-07-11T06:48:37.564961Z"}
    event, _ = Normalizer().feed(message)
    assert event.timestamp == pytest.approx(1752216517.564961)


# -- copies never delay (issue: a user utterance that arrived at 5.60 s fired at 5.85 s)

COPIES = """
cviscript: 1
name: copies
initial: listen
timeout: 60s
states:
  listen:
    on:
      - utterance: "(?i)price"
        goto: answer
  answer:
    enter: [{echo: "Ten dollars."}]
    final: true
"""


def _today_stream(at: float, first_seq: int, shared_seq: bool) -> list[tuple[float, dict]]:
    """A 2026-style replica turn then a user utterance: every replica event in two or three
    spellings, each with its own seq (or the copies sharing one)."""

    def ev(event_type, seq, **props):
        return {"event_type": event_type, "conversation_id": CID, "seq": seq, "properties": props}

    seq = first_seq
    out = []
    for spellings in (
        [
            ("conversation.replica.started_speaking", {}),
            ("conversation.started_speaking", {"role": "pal"}),
            ("conversation.started_speaking", {"role": "replica"}),
        ],  # fmt: skip
        [
            ("conversation.utterance", {"role": "pal", "speech": "Hello"}),
            ("conversation.utterance", {"role": "replica", "speech": "Hello"}),
        ],  # fmt: skip
        [
            ("conversation.replica.stopped_speaking", {"duration": 1.0}),
            ("conversation.stopped_speaking", {"role": "pal", "duration": 1.0}),
            ("conversation.stopped_speaking", {"role": "replica", "duration": 1.0}),
        ],  # fmt: skip
    ):
        for i, (event_type, props) in enumerate(spellings):
            out.append((at, ev(event_type, seq, **props)))
            if not shared_seq or i == len(spellings) - 1:
                seq += 1
        at += 0.5
    out.append((5.60, ev("conversation.utterance", seq, role="user", speech="What's the price?")))
    return out


@pytest.mark.parametrize("shared_seq", [False, True])
def test_each_event_is_seen_when_it_arrived_however_many_copies_came_with_it(shared_seq):
    clock = VirtualClock()
    session = ScriptedSession(clock)
    conv = Conversation(scenario_from(COPIES), session, clock)
    conv.start()
    seen: list[tuple[float, str]] = []
    handle = conv.engine.handle
    conv.engine.handle = lambda event: (seen.append((clock.now(), event.type)), handle(event))
    stream = _today_stream(4.0, 1, shared_seq)
    for at, message in stream:
        session.push(at, message)
    clock.run(until=10.0)
    # one of each, each at its arrival time: the added delay is 0
    assert [t for t, _ in seen] == [4.0, 4.5, 5.0, 5.6]
    assert [kind for _, kind in seen] == [
        "replica.started_speaking",
        "utterance",
        "replica.stopped_speaking",
        "utterance",
    ]
    [transition] = conv.trace.of_kind("transition")
    assert transition.t == pytest.approx(5.60)


# -- presence: the scenario starts once the replica is in the room


class _PresenceSession(ScriptedSession):
    reports_presence = True


GREETER = """
cviscript: 1
name: greeter
initial: greet
timeout: 30s
states:
  greet:
    enter: [{echo: "Hello!"}]
    on: [{event: replica.stopped_speaking, goto: bye}]
  bye: {final: true}
"""


def test_a_session_reporting_presence_holds_the_start_until_the_replica_is_present():
    clock = VirtualClock()
    session = _PresenceSession(clock)
    conv = Conversation(scenario_from(GREETER), session, clock)
    conv.start()
    clock.run(until=2.9)
    assert session.sent == [] and conv.waiting_for_replica  # anything sent now would be lost
    clock.call_later(3.0 - clock.now(), conv.on_present)
    clock.run(until=3.5)
    assert session.types() == ["conversation.echo"]
    assert conv.trace.of_kind("sent")[0].t == pytest.approx(3.0)


def test_a_join_message_also_counts_as_presence_and_the_start_happens_once():
    clock = VirtualClock()
    session = _PresenceSession(clock)
    conv = Conversation(scenario_from(GREETER), session, clock)
    conv.start()
    session.push(1.0, {"event_type": "system.replica_joined", "conversation_id": CID})
    clock.run(until=1.5)
    conv.on_present()  # late: the scenario already started
    assert session.types() == ["conversation.echo"]


def test_a_replica_that_never_comes_ends_the_run_at_its_timeout():
    clock = VirtualClock()
    session = _PresenceSession(clock)
    conv = Conversation(scenario_from(GREETER), session, clock)
    conv.start()
    clock.run(until=60)
    assert conv.result.outcome == "timed_out" and "never joined" in conv.result.reason
    assert session.sent == []


def test_sessions_without_presence_reports_start_at_once():
    clock = VirtualClock()
    session = ScriptedSession(clock)
    Conversation(scenario_from(GREETER), session, clock).start()
    assert session.types() == ["conversation.echo"]


# -- a stranger's flood keeps memory flat


def test_a_flood_of_junk_keeps_the_trace_bounded_and_counts_what_it_dropped():
    clock = VirtualClock()
    session = ScriptedSession(clock)
    conv = Conversation(scenario_from(GREETER), session, clock)
    conv.start()
    for i in range(50_000):
        conv.on_ignored(
            {"event_type": "system.replica_joined", "n": i}, "stranger", "not from the replica"
        )
        conv.on_message({"junk": i})
    assert len(conv.trace.records) < 300
    conv.abort("failed", "enough")
    summary = conv.trace.records[-1]
    assert summary.kind == "dropped" and summary.data["summary"] is True
    assert summary.data["counts"] == {"not from the replica": 50_000, "malformed": 50_000}


def test_presence_reported_while_the_session_starts_starts_the_scenario_once():
    clock = VirtualClock()

    class AlreadyThere(_PresenceSession):
        def start(self, sink) -> None:
            super().start(sink)
            sink.on_present()  # the replica was in the room before the run

    session = AlreadyThere(clock)
    conv = Conversation(scenario_from(GREETER), session, clock)
    conv.start()
    assert session.types() == ["conversation.echo"]
    assert [r.data["state"] for r in conv.trace.of_kind("state")] == ["greet"]
