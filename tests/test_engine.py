"""The engine: triggers, guards, `any`, timers, actions, final states and outcomes."""

from __future__ import annotations

from helpers import ev, replica_says, run_script, scenario_from, started, stopped, user_says


def test_initial_enter_actions_are_sent_in_order_one_sensitivity_message_per_key():
    sc = scenario_from(
        """
        cviscript: 1
        name: t
        initial: a
        states:
          a:
            enter:
              - sensitivity: {pause: high, interrupt: low}
              - echo: "Hi"
              - append_context: "ctx"
            final: true
        """
    )
    conv, session = run_script(sc, [])
    assert session.types() == [
        "conversation.sensitivity",
        "conversation.sensitivity",
        "conversation.echo",
        "conversation.append_llm_context",
    ]
    assert session.sent[0]["properties"] == {"participant_pause_sensitivity": "high"}
    assert session.sent[1]["properties"] == {"participant_interrupt_sensitivity": "low"}
    assert all(m["conversation_id"] == "c123" for m in session.sent)


def test_context_spelling_can_be_selected():
    sc = scenario_from(
        """
        cviscript: 1
        name: t
        initial: a
        states:
          a: {enter: [{overwrite_context: x}, end]}
        """
    )
    _, session = run_script(sc, [], context_spelling="context")
    assert session.types() == ["conversation.overwrite_context"]


SALES = """
cviscript: 1
name: sales
vars: {n: 0}
initial: greet
any:
  - utterance: "(?i)goodbye"
    goto: bye
states:
  greet:
    enter: [{echo: "Hello"}]
    on:
      - utterance: {match: "(?i)my name is (?P<name>\\\\w+)"}
        when: "vars.n < 1"
        do: [{set: {n: "{{ vars.n + 1 }}"}}, {echo: "Nice to meet you {{ event.groups.name }}"}]
      - utterance: {match: "(?i)my name is"}
        goto: bye
      - utterance: {contains: [price, cost]}
        goto: pricing
  pricing:
    enter: [{echo: "Ten dollars."}]
    exit: [{log: "leaving pricing"}]
    on:
      - event: replica.stopped_speaking
        goto: bye
  bye:
    enter: [{echo: "Bye {{ vars.n }}"}]
    final: true
"""


def test_regex_groups_guard_and_internal_transition_without_reentry():
    sc = scenario_from(SALES)
    conv, session = run_script(
        sc,
        [(1, user_says("My name is Ada")), (2, user_says("my name is Ada again"))],
    )
    texts = [m["properties"].get("text") for m in session.sent]
    # first: guarded transition fires, stays in greet without re-entering (no second "Hello")
    assert texts[:2] == ["Hello", "Nice to meet you Ada"]
    # second: guard now false (n == 1), the next matching transition fires
    assert conv.result.path == ["greet", "bye"]
    assert texts[-1] == "Bye 1"
    assert conv.engine.vars["n"] == 1  # parsed back to a number
    assert conv.result.outcome == "completed"


def test_any_transitions_come_before_the_states_own():
    sc = scenario_from(SALES)
    conv, _ = run_script(sc, [(1, user_says("goodbye, what does it cost?"))])
    assert conv.result.path == ["greet", "bye"]


def test_contains_exit_actions_and_event_trigger():
    sc = scenario_from(SALES)
    conv, session = run_script(
        sc, [(1, user_says("What's the COST?")), (2, started()), (3, stopped())]
    )
    assert conv.result.path == ["greet", "pricing", "bye"]
    logs = [r.data["text"] for r in conv.trace.of_kind("log")]
    assert logs == ["leaving pricing"]


TIMERS = """
cviscript: 1
name: timers
vars: {asked: 0}
initial: ask
states:
  ask:
    enter:
      - set: {asked: "{{ vars.asked + 1 }}"}
      - echo: "Question {{ vars.asked }}?"
    on:
      - utterance: "yes"
        goto: done
      - after: 20s
        when: "vars.asked < 3"
        goto: ask
      - after: 20s
        goto: done
  done:
    enter: [{echo: "Done after {{ vars.asked }}"}]
    final: true
"""


def test_after_timers_reenter_with_guard_then_give_up():
    sc = scenario_from(TIMERS)
    conv, session = run_script(sc, [])
    assert conv.result.path == ["ask", "ask", "ask", "done"]
    assert [m["properties"]["text"] for m in session.sent] == [
        "Question 1?",
        "Question 2?",
        "Question 3?",
        "Done after 3",
    ]
    # 3 x 20 s of silence, then the final state's bounded wait for speech that never starts
    states = conv.trace.of_kind("state")
    assert [round(r.t, 3) for r in states] == [0.0, 20.0, 40.0, 60.0]


def test_timer_restarts_on_entry_and_is_cancelled_on_exit():
    sc = scenario_from(TIMERS)
    conv, _ = run_script(sc, [(19.5, user_says("yes"))])
    assert conv.result.path == ["ask", "done"]
    # no stale timer fired after leaving `ask`
    assert [r.data["state"] for r in conv.trace.of_kind("state")] == ["ask", "done"]


def test_final_state_waits_for_the_replica_to_finish_speaking():
    sc = scenario_from(
        """
        cviscript: 1
        name: t
        initial: bye
        states:
          bye: {enter: [{echo: "Goodbye"}], final: true}
        """
    )
    conv, _ = run_script(sc, [(0.5, started()), (3.0, stopped())])
    assert conv.result.outcome == "completed"
    assert round(conv.result.duration, 3) == 3.0


def test_final_wait_is_bounded():
    sc = scenario_from(
        """
        cviscript: 1
        name: t
        final_wait: 5s
        initial: bye
        states:
          bye: {enter: [{echo: "Goodbye"}], final: true}
        """
    )
    conv, _ = run_script(sc, [(0.5, started())])
    assert conv.result.outcome == "completed"
    assert round(conv.result.duration, 3) == 5.0
    assert "stopped waiting" in conv.result.reason


FINAL_AFTER_RESPOND = """
cviscript: 1
name: t
initial: bye
states:
  bye: {enter: [{respond: "Say goodbye"}], final: true}
"""


def test_final_state_does_not_wait_for_a_reply_that_never_starts():
    # the LLM (or a persona with no matching rule) never answers the respond: the run ends
    # after the short reply grace, not after the whole 30 s final_wait
    conv, _ = run_script(scenario_from(FINAL_AFTER_RESPOND), [])
    assert conv.result.outcome == "completed"
    assert round(conv.result.duration, 3) == 5.0
    assert "did not start speaking within 5s" in conv.result.reason
    assert "stopped waiting for the replica to finish" not in conv.result.reason


def test_final_state_still_waits_for_a_reply_that_starts_within_the_grace():
    conv, _ = run_script(scenario_from(FINAL_AFTER_RESPOND), [(3.0, started()), (9.0, stopped())])
    assert conv.result.outcome == "completed"
    assert round(conv.result.duration, 3) == 9.0
    assert conv.result.reason == "reached final state 'bye'"


def test_after_can_be_a_template_rendered_on_entry():
    sc = scenario_from(
        """
        cviscript: 1
        name: t
        vars: {wait: 3s}
        initial: a
        states:
          a:
            on:
              - after: "{{ vars.wait }}"
                goto: b
          b: {final: true}
        """
    )
    conv, _ = run_script(sc, [])
    assert conv.result.path == ["a", "b"] and round(conv.result.duration, 3) == 3.0
    conv, _ = run_script(sc, [], vars_override={"wait": "7"})
    assert round(conv.result.duration, 3) == 7.0
    conv, _ = run_script(sc, [], vars_override={"wait": "soon"})
    assert conv.result.outcome == "error"
    assert "test.yaml:9" in conv.result.reason and "'soon'" in conv.result.reason


def test_end_and_fail_actions():
    end = scenario_from(
        """
        cviscript: 1
        name: t
        initial: a
        states:
          a: {enter: [{echo: one}, end, {echo: never}]}
        """
    )
    conv, session = run_script(end, [])
    assert conv.result.outcome == "completed"
    assert len(session.sent) == 1
    fail = scenario_from(
        """
        cviscript: 1
        name: t
        vars: {who: Bob}
        initial: a
        states:
          a:
            on:
              - utterance: {role: any}
                do: [{fail: "{{ vars.who }} said {{ event.text }}"}]
        """
    )
    conv, _ = run_script(fail, [(1, user_says("hi"))])
    assert conv.result.outcome == "failed"
    assert conv.result.reason == "Bob said hi"


def test_run_timeout():
    sc = scenario_from(
        """
        cviscript: 1
        name: t
        timeout: 90s
        initial: a
        states:
          a: {on: [{utterance: never, goto: b}]}
          b: {final: true}
        """
    )
    conv, _ = run_script(sc, [])
    assert conv.result.outcome == "timed_out"
    assert round(conv.result.duration) == 90
    assert "90s" in conv.result.reason


def test_undefined_template_name_fails_the_run_with_location_and_state_never_speaks():
    sc = scenario_from(
        """
        cviscript: 1
        name: t
        vars: {product: Acme}
        initial: a
        states:
          a:
            enter:
              - echo: "Welcome to {{ vars.prodcut }}"
            final: true
        """,
        path="demo.yaml",
    )
    conv, session = run_script(sc, [])
    assert conv.result.outcome == "error"
    assert "demo.yaml:9" in conv.result.reason
    assert "prodcut" in conv.result.reason
    assert "'a'" in conv.result.reason
    assert session.sent == []


def test_tool_result_answers_the_tool_call_that_fired():
    sc = scenario_from(
        """
        cviscript: 1
        name: t
        initial: a
        states:
          a:
            on:
              - tool_call: {name: get_weather, arguments: {unit: c}}
                do:
                  - tool_result: {output: "Sunny in {{ event.arguments.location }}"}
              - tool_call: get_weather
                do:
                  - tool_result: {output: {temp: 70}, status: error}
        """
    )
    call = ev(
        "conversation.tool_call",
        name="get_weather",
        arguments='{"location": "Paris", "unit": "c"}',
        tool_call_id="tc-1",
    )
    other = ev(
        "conversation.tool_call",
        tool_name="get_weather",
        arguments={"unit": "f"},
        tool_call_id="tc-2",
    )
    conv, session = run_script(sc, [(1, call), (2, other)], until=10)
    assert session.sent[0]["properties"] == {
        "tool_call_id": "tc-1",
        "output": "Sunny in Paris",
        "status": "success",
    }
    assert session.sent[1]["properties"]["tool_call_id"] == "tc-2"
    assert session.sent[1]["properties"]["status"] == "error"


def test_unhandled_shutdown_fails_the_run_and_a_handled_one_does_not():
    base = """
        cviscript: 1
        name: t
        initial: a
        states:
          a:
            on: {on}
          b: {{final: true}}
        """
    sc = scenario_from(base.format(on="[]"))
    conv, _ = run_script(
        sc, [(1, ev("system.shutdown", shutdown_reason="max_call_duration reached"))]
    )
    assert conv.result.outcome == "failed"
    assert "max_call_duration reached" in conv.result.reason
    sc = scenario_from(base.format(on="[{event: shutdown, goto: b}]"))
    conv, _ = run_script(sc, [(1, ev("system.shutdown", shutdown_reason="x"))])
    assert conv.result.outcome == "completed"


def test_malformed_messages_are_dropped_with_a_reason_and_the_run_goes_on():
    sc = scenario_from(
        """
        cviscript: 1
        name: t
        initial: a
        states:
          a: {on: [{utterance: hello, goto: b}]}
          b: {final: true}
        """
    )
    script = [
        (0.1, "not json object"),
        (0.2, {"properties": {}}),
        (0.3, ev("conversation.utterance") | {"properties": [1, 2]}),
        (1, user_says("hello")),
    ]
    conv, _ = run_script(sc, script)
    assert conv.result.path == ["a", "b"]
    dropped = conv.trace.of_kind("dropped")
    assert len(dropped) == 3
    assert all(r.data["reason"] for r in dropped)


def test_replica_interrupted_fires_once_however_the_server_says_it():
    sc = scenario_from(
        """
        cviscript: 1
        name: t
        vars: {n: 0}
        initial: a
        states:
          a:
            on:
              - event: replica.interrupted
                do: [{set: {n: "{{ vars.n + 1 }}"}}]
        """
    )
    for script in (
        [(1, stopped(interrupted=True))],
        [(1, ev("conversation.replica_interrupted"))],
        [(1, ev("conversation.replica.interrupted"))],
    ):
        conv, _ = run_script(sc, script, until=5)
        assert conv.engine.vars["n"] == 1, script


def test_events_are_reordered_by_seq():
    sc = scenario_from(
        """
        cviscript: 1
        name: t
        initial: a
        states:
          a: {on: [{utterance: one, goto: b}]}
          b: {on: [{utterance: two, goto: c}]}
          c: {final: true}
        """
    )
    conv, _ = run_script(
        sc, [(1.0, user_says("two", seq=2)), (1.1, user_says("one", seq=1)), (0.5, started(seq=0))]
    )
    assert conv.result.path == ["a", "b", "c"]


def test_where_filters_event_fields():
    sc = scenario_from(
        """
        cviscript: 1
        name: t
        initial: a
        states:
          a:
            on:
              - event: replica.stopped_speaking
                where: {interrupted: true}
                goto: b
          b: {final: true}
        """
    )
    conv, _ = run_script(sc, [(1, stopped()), (2, stopped(interrupted=True))])
    assert conv.result.path == ["a", "b"]
    assert round(conv.result.duration) == 2


def test_send_log_and_set_actions():
    sc = scenario_from(
        """
        cviscript: 1
        name: t
        vars: {n: 1, label: x}
        initial: a
        states:
          a:
            enter:
              - set: {n: "{{ vars.n * 2 }}", flag: "true", label: "v{{ vars.n }}"}
              - log: "n is {{ vars.n }}"
              - send:
                  event_type: conversation.custom_thing
                  properties: {value: "{{ vars.n }}", nested: {label: "{{ vars.label }}"}}
              - end
        """
    )
    conv, session = run_script(sc, [])
    assert conv.engine.vars == {"n": 2, "flag": True, "label": "v2"}
    assert [r.data["text"] for r in conv.trace.of_kind("log")] == ["n is 2"]
    assert session.sent == [
        {
            "message_type": "conversation",
            "event_type": "conversation.custom_thing",
            "conversation_id": "c123",
            "properties": {"value": "2", "nested": {"label": "v2"}},
        }
    ]


def test_tool_result_outside_a_tool_call_is_an_error_naming_the_place():
    # the validator refuses this in a file; a model built in Python still gets a clear error
    from cviscript.language import model as m

    sc = scenario_from("cviscript: 1\nname: t\ninitial: a\nstates:\n  a: {}\n", path="tr.yaml")
    loc = m.Location("tr.yaml", 8, 9)
    sc.states["a"].enter = [m.ToolResult(output=m.Text("x"), loc=loc)]
    conv, session = run_script(sc, [])
    assert conv.result.outcome == "error"
    assert "tr.yaml:8" in conv.result.reason and "tool call" in conv.result.reason
    assert session.sent == []


TOOL_ANSWER = """
cviscript: 1
name: t
initial: a
states:
  a:
    on:
      - tool_call: lookup
        when: "event.tool_call_id is defined"
        do: [{tool_result: "found"}]
      - tool_call: lookup
        do: [{echo: "found"}]
"""


def test_a_tool_call_without_tool_call_id_is_never_answered_with_a_malformed_tool_result():
    bare = ev("conversation.tool_call", name="lookup", arguments="{}")
    sc = scenario_from(TOOL_ANSWER.replace('        when: "event.tool_call_id is defined"\n', ""))
    conv, session = run_script(sc, [(1, bare)], until=5)
    assert conv.result.outcome == "error"
    assert "tool_call_id" in conv.result.reason and "test.yaml:9" in conv.result.reason
    assert session.types() == []
    # the documented way: guard on the id and answer id-less calls with an echo
    conv, session = run_script(scenario_from(TOOL_ANSWER), [(1, bare)], until=5)
    assert session.types() == ["conversation.echo"]


def test_a_send_that_fails_ends_the_run_as_error():
    from cviscript.errors import CviscriptError

    sc = scenario_from(
        """
        cviscript: 1
        name: t
        initial: a
        states:
          a: {enter: [{echo: hi}], final: true}
        """
    )

    def boom(_message):
        raise CviscriptError("the data channel is closed")

    from helpers import ScriptedSession

    from cviscript.clock import VirtualClock
    from cviscript.engine.conversation import Conversation

    clock = VirtualClock()
    session = ScriptedSession(clock)
    session.on_send = boom
    conv = Conversation(sc, session, clock)
    conv.start()
    clock.run(stop=lambda: conv.done)
    assert conv.result.outcome == "error"
    assert "data channel is closed" in conv.result.reason
    assert session.closed


def test_lost_connection_ends_the_run_as_error_and_closes_the_session():
    sc = scenario_from(
        """
        cviscript: 1
        name: t
        initial: a
        states:
          a: {on: [{utterance: x, goto: b}]}
          b: {final: true}
        """
    )
    from helpers import ScriptedSession

    from cviscript.clock import VirtualClock
    from cviscript.engine.conversation import Conversation

    clock = VirtualClock()
    session = ScriptedSession(clock)
    conv = Conversation(sc, session, clock)
    conv.start()
    clock.call_later(3, lambda: session.sink.on_closed("participant left"))
    clock.run(stop=lambda: conv.done)
    assert conv.result.outcome == "error"
    assert "participant left" in conv.result.reason
    assert round(conv.result.duration) == 3
    assert session.closed


def test_tool_call_arguments_show_in_the_trigger_description():
    from cviscript.engine.describe import describe_trigger

    sc = scenario_from(
        """
        cviscript: 1
        name: t
        initial: a
        states:
          a:
            on:
              - tool_call: {name: book, arguments: {room: "1"}}
                goto: b
              - tool_call: book
                goto: b
          b: {final: true}
        """
    )
    first, second = sc.states["a"].on
    assert describe_trigger(first) == "tool_call book(room=1)"
    assert describe_trigger(second) == "tool_call book"


def test_an_edited_wav_is_read_again(tmp_path):
    import os
    import wave

    from cviscript.engine.actions import _load_chunks

    path = tmp_path / "a.wav"

    def write(seconds: float, mtime: int) -> None:
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(24000)
            w.writeframes(b"\x00\x00" * int(24000 * seconds))
        os.utime(path, ns=(mtime, mtime))

    write(0.2, 1_000_000_000)
    short = _load_chunks(str(path), 40)
    write(1.0, 2_000_000_000)
    assert len(_load_chunks(str(path), 40)) > len(short)


def test_a_final_state_waits_for_its_own_echo_not_for_speech_it_did_not_ask_for():
    # the LLM (or a tool's filler) speaks unasked while the final state's echo waits its turn:
    # the run ends when the echo has been spoken, recognised by its words
    sc = scenario_from(
        """
        cviscript: 1
        name: f
        initial: a
        states:
          a:
            enter: [{echo: "Goodbye, and thanks!"}]
            final: true
        """
    )
    conv, _ = run_script(
        sc,
        [
            (0.0, started(1)),
            (0.0, replica_says("Happy to help with anything else.", 2)),
            (2.0, stopped(3)),
            (2.1, started(4)),
            (2.1, replica_says("goodbye and thanks", 5)),  # its words; punctuation may differ
            (4.0, stopped(6)),
        ],
    )
    assert conv.result.outcome == "completed"
    assert conv.result.duration == 4.0


def test_without_utterance_events_a_final_state_counts_any_speech_as_its_echo():
    # closed captions off: no conversation.utterance ever arrives
    sc = scenario_from(
        """
        cviscript: 1
        name: f
        initial: a
        states:
          a:
            enter: [{echo: "Goodbye, and thanks!"}]
            final: true
        """
    )
    conv, _ = run_script(sc, [(0.3, started(1)), (2.0, stopped(2))])
    assert conv.result.outcome == "completed" and conv.result.duration == 2.0
    assert "did not start speaking" not in conv.result.reason
