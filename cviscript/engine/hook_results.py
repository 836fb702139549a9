"""What a finished `call:` hook does to the run: its failure ends the run as an error; its value
is saved (`save:`), answers the tool call that fired the transition (`answer: true`) and runs its
`then:` actions, in the state, event and match groups of the transition that called it.

The engine delivers the result between transitions, like an event (hooks.py says how a call runs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .hooks import Pending, failure

if TYPE_CHECKING:
    from .engine import Engine


def apply_hook_result(engine: Engine, call: Pending) -> None:
    problem = failure(call)
    if problem is not None:
        engine.finish("error", problem)
        return
    action, value = call.action, call.outcome[0][1]
    if action.save is not None:
        engine.vars[action.save] = value
    saved = engine.event, engine.groups
    engine.event, engine.groups = call.event, call.groups
    try:
        if action.answer:
            engine.actions.answer_tool_call(value, call.state, action.loc)
        if action.then:
            engine.actions.run(action.then, call.state)
    finally:
        engine.event, engine.groups = saved
