"""The simulated visitor: triggers, waiting for silence, barge-in, times, perceive, tool calls."""

from __future__ import annotations

import json
import re

import pytest

from cviscript.clock import VirtualClock
from cviscript.language.model import (
    AfterTrigger,
    AtTrigger,
    EventTrigger,
    PersonaRule,
    Rehearsal,
    ReplicaSettings,
    StateTrigger,
    Text,
    ToolCallSpec,
    ToolCallTrigger,
    UserRule,
    UtteranceTrigger,
)
from cviscript.language.templates import compile_text
from cviscript.protocol import Interactions
from cviscript.sessions.simulated import SimulatedReplica
from cviscript.trace import TraceRecord

IA = Interactions("c-sim")
R_START = "conversation.replica.started_speaking"
R_STOP = "conversation.replica.stopped_speaking"
U_START = "conversation.user.started_speaking"
U_STOP = "conversation.user.stopped_speaking"
UTTER = "conversation.utterance"
LONG = "one two three four five six seven eight"  # 3 s at 160 wpm


class Sink:
    def __init__(self, clock: VirtualClock):
        self.clock = clock
        self.got: list[tuple[float, dict]] = []
        self.closed: list[str] = []

    def on_message(self, message, sender=None):
        self.got.append((self.clock.now(), message))

    def on_closed(self, reason):
        self.closed.append(reason)

    def on_present(self):
        self.present = True

    def of(self, event_type: str) -> list[tuple[float, dict]]:
        return [(t, m) for t, m in self.got if m["event_type"] == event_type]

    def types(self) -> list[str]:
        return [m["event_type"] for _, m in self.got if m["event_type"] != "system.replica_joined"]

    def said(self, role: str) -> list[str]:
        return [
            m["properties"]["speech"] for _, m in self.of(UTTER) if m["properties"]["role"] == role
        ]


def make(*rules: UserRule, persona: list[PersonaRule] | None = None, **settings):
    settings.setdefault("vintage", "2024")  # each fact said once (test_replica_model has 2026)
    rehearsal = Rehearsal(
        "r", user=list(rules), persona=persona or [], replica=ReplicaSettings(**settings)
    )
    clock = VirtualClock()
    replica = SimulatedReplica(clock, rehearsal)
    sink = Sink(clock)
    replica.start(sink)
    return clock, replica, sink


def entered(replica: SimulatedReplica, name: str) -> None:
    replica.observe(TraceRecord(0.0, 0.0, "state", {"state": name}))


# ---------------------------------------------------------------------------------- triggers


def test_state_trigger_speaks_and_the_persona_answers():
    rule = UserRule(StateTrigger("ask"), say=Text("How much does it cost?"))  # 5 words: 2 s
    persona = [PersonaRule(re.compile("(?i)cost"), say=Text("Ten dollars."))]
    clock, replica, sink = make(rule, persona=persona, join_delay=1.0)
    clock.run()
    entered(replica, "greet")
    clock.run()
    assert sink.types() == []
    entered(replica, "ask")
    clock.run()
    assert sink.types() == [U_START, U_STOP, UTTER, R_START, UTTER, R_STOP]
    (t0, start), (t1, _stop) = sink.of(U_START)[0], sink.of(U_STOP)[0]
    assert t0 == pytest.approx(1.0) and t1 == pytest.approx(3.0)
    (t_user, user_utt), (t_reply, _) = sink.of(UTTER)
    assert t_user == pytest.approx(3.0)
    assert user_utt["properties"] == {"role": "user", "speech": "How much does it cost?"}
    assert user_utt["turn_idx"] == start["turn_idx"]
    assert t_reply == pytest.approx(3.0 + 0.9)
    assert sink.said("replica") == ["Ten dollars."]
    entered(replica, "ask")  # fires once by default
    clock.run()
    assert sink.said("user") == ["How much does it cost?"]


def test_at_trigger_fires_that_long_after_start():
    clock, _replica, sink = make(UserRule(AtTrigger(5.0), say=Text("Hello?")))
    clock.run()
    [(t, _)] = sink.of(U_START)
    assert t == pytest.approx(5.0)


def test_delay_adds_thinking_time():
    clock, replica, sink = make(UserRule(StateTrigger("s"), say=Text("hm"), delay=2.0))
    entered(replica, "s")
    clock.run()
    [(t, _)] = sink.of(U_START)
    assert t == pytest.approx(2.0)


def test_say_waits_until_the_replica_is_silent():
    clock, replica, sink = make(UserRule(AtTrigger(1.0), say=Text("my turn")))
    replica.send(IA.echo(LONG))  # speaks 0.3 .. 3.3
    clock.run(until=0.9)
    replica.send(IA.echo("and more"))  # queued: 3.3 .. 3.75
    clock.run()
    [(t, _)] = sink.of(U_START)
    assert t == pytest.approx(3.3 + 0.75)
    assert all(not m["properties"]["interrupted"] for _, m in sink.of(R_STOP))


def test_say_waits_for_a_persona_reply_still_in_its_latency():
    persona = [PersonaRule(re.compile("."), say=Text("Answer."))]
    rules = [
        UserRule(AtTrigger(0.0), say=Text("question")),
        UserRule(AtTrigger(0.5), say=Text("next")),
    ]
    clock, _replica, sink = make(*rules, persona=persona)
    clock.run()
    # question 0..0.4, reply pending 0.4..1.3 then speaks 1.3..1.7, then "next"
    assert sink.said("user") == ["question", "next"]
    t_next = sink.of(U_START)[1][0]
    assert t_next == pytest.approx(1.7)


def test_barge_in_cuts_the_replica_off():
    clock, replica, sink = make(UserRule(AtTrigger(1.0), say=Text("wait a second"), barge_in=True))
    replica.send(IA.echo(LONG))
    replica.send(IA.echo("queued, dropped by the barge-in"))
    clock.run()
    [(t_user, _)] = sink.of(U_START)
    [(t_stop, stop)] = sink.of(R_STOP)
    assert t_user == pytest.approx(1.0) and t_stop == pytest.approx(1.0)
    assert stop["properties"] == {"interrupted": True, "duration": 0.7}
    cut = "conversation.replica_interrupted"  # a 2024 server says it; 2026 ones do not
    assert sink.types()[:7] == [R_START, UTTER, U_START, cut, R_STOP, U_STOP, UTTER]
    assert sink.said("replica") == [LONG]


def test_interrupt_rule_cuts_off_without_words():
    clock, replica, sink = make(UserRule(AtTrigger(1.0), interrupt=True))
    replica.send(IA.echo(LONG))
    clock.run()
    cut = "conversation.replica_interrupted"
    assert sink.types() == [R_START, UTTER, U_START, cut, R_STOP, U_STOP]
    assert sink.of(R_STOP)[0][1]["properties"]["interrupted"] is True
    assert sink.said("user") == []


def test_utterance_trigger_on_replica_speech_with_groups():
    rule = UserRule(
        UtteranceTrigger(role="replica", match=re.compile(r"name is (?P<name>\w+)")),
        say=compile_text("Nice to meet you, {{ groups.name }}."),
    )
    clock, replica, sink = make(rule)
    replica.send(IA.echo("Hi, my name is Ada"))
    clock.run()
    assert sink.said("user") == ["Nice to meet you, Ada."]
    # it waited for the replica to finish
    assert sink.of(U_START)[0][0] >= sink.of(R_STOP)[0][0]


def test_utterance_contains_and_equals_follow_the_contract():
    rules = [
        UserRule(
            UtteranceTrigger(role="replica", contains=("pricing", "cost")),
            perceive=Text("contains"),
        ),
        UserRule(UtteranceTrigger(role="replica", equals="all done."), perceive=Text("equals")),
        UserRule(UtteranceTrigger(role="user"), perceive=Text("wrong role")),
    ]
    clock, replica, sink = make(*rules)
    replica.send(IA.echo("Our PRICING is simple"))
    replica.send(IA.echo("  All Done.  "))
    clock.run()
    analyses = perceived(sink)
    assert analyses == ["contains", "equals"]


def test_event_trigger_with_where_and_times():
    rules = [
        UserRule(
            EventTrigger("replica.stopped_speaking", {"interrupted": False}),
            perceive=Text("a"),
            times=2,
        ),
        UserRule(
            EventTrigger("conversation.replica.started_speaking"), perceive=Text("b"), times=0
        ),
        UserRule(EventTrigger("replica.interrupted"), perceive=Text("c")),
    ]
    clock, replica, sink = make(*rules)
    for text in ("one", "two", "three"):
        replica.send(IA.echo(text))
    clock.run()
    analyses = perceived(sink)
    assert analyses.count("a") == 2
    assert analyses.count("b") == 3
    assert "c" not in analyses


def test_replica_interrupted_alias_fires_a_rule():
    rule = UserRule(EventTrigger("replica.interrupted"), perceive=Text("cut"))
    clock, replica, sink = make(rule)
    replica.send(IA.echo(LONG))
    clock.run(until=1.0)
    replica.send(IA.interrupt())
    clock.run()
    assert perceived(sink) == ["cut"]


def test_perceive_alone_is_an_in_call_vision_perception_tool_call():
    rules = [UserRule(AtTrigger(2.0), perceive=Text("The visitor is holding a red mug."))]
    clock, _replica, sink = make(*rules)
    clock.run()
    [(t, msg)] = sink.of("conversation.perception_tool_call")
    assert t == pytest.approx(2.0)
    props = msg["properties"]
    assert props["modality"] == "vision" and props["name"]
    assert json.loads(props["arguments"]) == {"analysis": "The visitor is holding a red mug."}
    assert props["frames"][0]["mime_type"] == "image/jpeg"
    assert sink.of("conversation.perception_analysis") == []  # only after the call ends


def test_perceive_with_say_rides_on_the_utterance_as_visual_analysis():
    rules = [UserRule(AtTrigger(1.0), say=Text("hello"), perceive=Text("waving"))]
    clock, _replica, sink = make(*rules)
    clock.run()
    [(_, utterance)] = sink.of(UTTER)
    assert utterance["properties"] == {
        "role": "user",
        "speech": "hello",
        "user_visual_analysis": "waving",
    }
    assert sink.of("conversation.perception_tool_call") == []


def perceived(sink) -> list[str]:
    """What the visitor's `perceive` rules reported, in order."""
    return [
        json.loads(m["properties"]["arguments"])["analysis"]
        for _, m in sink.of("conversation.perception_tool_call")
    ]


def test_user_tool_call_and_tool_call_trigger():
    rules = [
        UserRule(AtTrigger(1.0), tool_call=ToolCallSpec("get_weather", {"location": Text("Oslo")})),
        UserRule(
            ToolCallTrigger("get_weather", {"location": "Oslo"}),
            perceive=compile_text("saw {{ event.name }}"),
        ),
    ]
    clock, replica, sink = make(*rules)
    clock.run()
    [(t, call)] = sink.of("conversation.tool_call")
    assert t == pytest.approx(1.0)
    assert json.loads(call["properties"]["arguments"]) == {"location": "Oslo"}
    assert call["properties"]["tool_call_id"] and call["inference_id"]
    assert perceived(sink) == ["saw get_weather"]
    # the scenario's answer to it is accepted (no persona reply was waiting on it)
    replica.send(IA.tool_result(call["properties"]["tool_call_id"], "Sunny"))
    clock.run()
    assert replica.tool_results[-1]["tool_call_id"] == call["properties"]["tool_call_id"]


def test_after_trigger_fires_when_the_conversation_has_been_quiet():
    rule = UserRule(AfterTrigger(4.0), say=Text("Hello? Anyone there?"), times=2)
    clock, replica, sink = make(rule)
    replica.send(IA.echo(LONG))  # last event at 3.3 (stopped)
    clock.run()
    starts = [t for t, _ in sink.of(U_START)]
    # quiet from 3.3 -> fires at 7.3; the user's 3 words end with an utterance at 7.3 + 1.2 = 8.5
    assert starts == [pytest.approx(7.3), pytest.approx(8.5 + 4.0)]
    assert clock.pending() == 0


def test_echo_pipeline_does_not_hear_the_visitor():
    # "Microphone is disabled in the Transport layer" (Tavus's echo-mode page): no user events
    persona = [PersonaRule(re.compile("."), say=Text("I would answer"))]
    clock, replica, sink = make(
        UserRule(AtTrigger(0.0), say=Text("hello")), persona=persona, pipeline="echo"
    )
    clock.run()
    assert sink.said("user") == [] and sink.said("replica") == []
    assert not [m for _, m in sink.got if "user" in m["event_type"]]
    assert [what for what, _ in replica.model.notes] == ["visitor-not-heard"]


def test_user_words_per_minute_sets_the_visitor_speaking_time():
    rule = UserRule(AtTrigger(0.0), say=Text("one two three four five six"))
    clock, _replica, sink = make(rule, user_words_per_minute=60)
    clock.run()
    [(t, _)] = sink.of(U_STOP)
    assert t == pytest.approx(6.0)


CHAINED = """\
cviscript: 1
name: chained
initial: a
states:
  a:
    enter: [{echo: "Welcome to the tour, let me show you around."}]
    on:
      - event: replica.stopped_speaking
        goto: b
  b:
    enter: [{echo: "It scales to a thousand rooms."}]
    on:
      - event: replica.stopped_speaking
        goto: c
  c:
    enter: [{echo: "Goodbye!"}]
    final: true
rehearsals:
  - name: polite visitor
    user:
      - on: a
        say: "My budget is five thousand"
"""


def test_words_a_polite_visitor_never_got_to_say_are_in_the_transcript():
    # the scenario chains its speech, so the replica is never silent and the visitor (no
    # barge_in) never speaks: the rehearsal passed and `run --interactive` dropped a typed line
    # with no word about it
    from helpers import scenario_from

    from cviscript.sessions.simulated.runner import run_simulated

    conv = run_simulated(scenario_from(CHAINED), rehearsal="polite visitor")
    notes = [r.data for r in conv.trace.records if r.kind == "model"]
    assert conv.result.outcome == "completed"
    assert [n["note"] for n in notes] == ["visitor-words-never-said"]
    assert '"My budget is five thousand"' in notes[0]["why"] and "barge_in" in notes[0]["why"]
    said = run_simulated(scenario_from(CHAINED.replace("say:", "barge_in: true\n        say:")))
    assert not [r for r in said.trace.records if r.kind == "model"]


def test_a_user_rule_reading_a_field_its_trigger_never_has_is_refused_at_load():
    # event.text under `on: {state: a}` validated clean, then `run` crashed with a traceback
    from helpers import scenario_from

    from cviscript.errors import ScenarioError

    broken = CHAINED.replace('say: "My budget is five thousand"', 'say: "{{ event.text }}"')
    with pytest.raises(ScenarioError, match="event.text is not a field.*its events have: state"):
        scenario_from(broken)
    broken = broken.replace("on: a", "on: {at: 1s}")
    with pytest.raises(ScenarioError, match="event.text is not a field.*no event fires it"):
        scenario_from(broken)
    scenario_from(broken.replace("event.text", "event.state | default('')"))


def test_a_rehearsal_text_that_fails_at_run_time_ends_the_run_in_error():
    # it escaped the virtual clock: a traceback from `run`, an internal error in `rehearse`
    from helpers import scenario_from

    from cviscript.sessions.simulated.runner import run_simulated

    sc = scenario_from(
        CHAINED.replace("on: a", "on: {utterance: {role: replica, contains: welcome}}").replace(
            '"My budget is five thousand"', '"{{ groups.name }}"'
        )
    )
    conv = run_simulated(sc)
    assert conv.result.outcome == "error"
    assert "undefined variable 'groups.name'" in conv.result.reason and ":" in conv.result.reason
