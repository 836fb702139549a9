"""What templates and `when:` guards see: `vars`, `event`, `state`, `visits`.

Nothing else is reachable: no environment, no API key, no engine internals. `event` is a plain dict
built from the normalised event that fired the transition (empty before the first event), so a
template that reads a field the event does not have fails loudly under strict undefined instead of
speaking an empty string. `Engine.template_context` puts the four names together (caching the
event view, since a guard, a `do` and an `enter` often render for the same event).
"""

from __future__ import annotations

from typing import Any

from ..protocol import OBJECTIVE_EVENTS, Event


def event_view(event: Event | None, groups: dict[str, Any] | None = None) -> dict[str, Any]:
    if event is None:
        return {}
    view: dict[str, Any] = {
        "type": event.type,
        "event_type": event.event_type,
        "properties": event.properties,
        "groups": dict(groups) if groups else {},
    }
    # The optional fields, each when set, in this order (read one by one: a loop of `getattr`
    # cost twice as much on the engine's path).
    if (value := event.role) is not None:
        view["role"] = value
    if (value := event.text) is not None:
        view["text"] = value
    if (value := event.name) is not None:
        view["name"] = value
    if (value := event.arguments) is not None:
        view["arguments"] = value
    if (value := event.tool_call_id) is not None:
        view["tool_call_id"] = value
    if (value := event.inference_id) is not None:
        view["inference_id"] = value
    if (value := event.seq) is not None:
        view["seq"] = value
    if (value := event.turn_idx) is not None:
        view["turn_idx"] = value
    if event.type == "replica.stopped_speaking":
        view["interrupted"] = event.interrupted
        view["duration"] = event.duration
    elif (status := OBJECTIVE_EVENTS.get(event.type)) is not None:
        props = event.properties
        name = props.get("objective_name")
        variables = props.get("output_variables")
        view["objective_name"] = name if isinstance(name, str) else None
        view["status"] = status
        view["output_variables"] = variables if isinstance(variables, dict) else {}
    return view
