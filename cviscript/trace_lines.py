"""How a trace record reads as one line of text.

The console transcript (`cviscript.report.console`) and a failed rehearsal's excerpt
(`cviscript.rehearsal.excerpt`) print the same lines, so this sits on the ground floor beside the
trace itself: one line per thing a person watching a demo cares about — state changes,
interactions sent (→), what was heard (←: speech, speaking turns, tool calls, perception), drops
that are news (not the copies a 2026 server sends of every event), what the operator did (⚑: a
`manual:` name fired, by a person or a rehearsal's `operator:` rules) and log lines.

Everything in a line that came from outside (speech, scenario text, state names, reasons) goes
through `cviscript.printable` first, newlines included: one record is one line, and only
cviscript's own colours reach the terminal.
"""

from __future__ import annotations

import json
from typing import Any

import click

from .printable import printable
from .protocol import OBJECTIVE_EVENTS
from .trace import TraceRecord, reason_kind

_MAX_TEXT = 160


def _json_or_text(value: Any) -> str:
    """A dict or list as the wire carries it (JSON), not as Python prints it."""
    if isinstance(value, (dict, list)):
        try:
            return json.dumps(value, ensure_ascii=False, default=str)
        except ValueError:  # a circular value: only from Python, never from the wire
            return str(value)
    return str(value)


def _quote(text: Any) -> str:
    text = " ".join(_json_or_text(text).split())
    if len(text) > _MAX_TEXT:
        text = text[: _MAX_TEXT - 1] + "…"
    return f'"{text}"'


def describe_sent(message: dict[str, Any]) -> str:
    et = str(message.get("event_type", "?"))
    props = message.get("properties") or {}
    short = et.removeprefix("conversation.")
    if et == "conversation.echo" and props.get("modality") == "audio":
        done = " (done)" if props.get("done") is True else ""
        return f"echo audio chunk {len(props.get('audio', ''))} chars{done}"
    if "text" in props:
        return f"{short} {_quote(props['text'])}"
    if "context" in props:
        return f"{short} {_quote(props['context'])}"
    if et == "conversation.tool_result":
        output = props.get("output", "")
        shown = _quote(output) if isinstance(output, str) else _quote(output)[1:-1]
        return f"tool_result {props.get('status', '')} {shown}"
    if props:
        return short + " " + " ".join(f"{k}={v}" for k, v in props.items())
    return short


def _received(record: TraceRecord) -> str | None:
    ev = record.event
    if ev is None:
        return None  # dropped: its own record says why
    t = ev.type
    if t == "utterance":
        return f"{ev.role or '?'}: {_quote(ev.text or '')}"
    if t == "utterance.streaming":
        return None  # too chatty; the final utterance says it all
    if t == "replica.stopped_speaking":
        extra = []
        if ev.duration is not None:
            extra.append(f"{ev.duration:.1f}s")
        if ev.interrupted:
            extra.append("interrupted")
        return "replica stopped speaking" + (f" ({', '.join(extra)})" if extra else "")
    if t in ("replica.started_speaking", "user.started_speaking", "user.stopped_speaking"):
        return t.replace(".", " ").replace("_", " ")
    if t == "tool_call":
        return f"tool call {ev.name}({_json_or_text(ev.arguments)})"
    if t == "perception_analysis":
        return f"perception: {_quote(ev.text or '')}"
    if t == "replica.joined":
        return "replica joined"
    if t == "replica.present":
        return None  # a heartbeat every few seconds: the transcript file keeps it
    if t == "shutdown":
        return f"conversation shut down: {ev.text or ''}"
    if t in OBJECTIVE_EVENTS:
        name = ev.properties.get("objective_name")
        variables = ev.properties.get("output_variables")
        line = f"objective {name if isinstance(name, str) else '?'} {OBJECTIVE_EVENTS[t]}"
        if isinstance(variables, dict) and variables:
            line += " " + ", ".join(f"{k}={_quote(v)}" for k, v in list(variables.items())[:8])
        return line
    return f"event {ev.event_type}"


def format_record(record: TraceRecord, *, color: bool = False) -> str | None:
    """One transcript line for a record, or None for records not worth a line."""

    def style(text: str, **kw: Any) -> str:
        return click.style(text, **kw) if color else text

    def safe(text: Any) -> str:
        return printable(text, keep_newlines=False)

    k, d = record.kind, record.data
    stamp = style(f"{record.t:8.3f}s", dim=True)
    if k == "state":
        via = d.get("via")
        how = "initial" if via == "initial" else f"via {via}"
        return f"{stamp}  {style('── ' + safe(d['state']), bold=True, fg='cyan')}  ({safe(how)})"
    if k == "sent":
        return f"{stamp}  {style('→', fg='green')} {safe(describe_sent(d['message']))}"
    if k == "received":
        line = _received(record)
        return None if line is None else f"{stamp}  {style('←', fg='blue')} {safe(line)}"
    if k == "dropped":
        if reason_kind(d.get("reason") or "") == "duplicate":
            return None  # a 2026 server repeats most events in other spellings: normal, not news
        return f"{stamp}  {style('✗ dropped', fg='yellow')}: {safe(d.get('reason'))}"
    if k == "log":
        return f"{stamp}  {style('log', fg='magenta')}: {safe(d.get('text'))}"
    if k == "operator":
        return f"{stamp}  {style('⚑ operator', fg='yellow', bold=True)} {safe(_operator(d))}"
    if k == "fidelity":
        return f"{stamp}  {style('⚠ fidelity', fg='yellow', bold=True)} {safe(fidelity_line(d))}"
    if k == "model":
        return f"{stamp}  {style('◆ simulated replica', fg='magenta')}: {safe(_model_note(d))}"
    if k == "outcome":
        return None  # summarised by format_result
    return None


def fidelity_line(d: dict[str, Any]) -> str:
    """A ``fidelity`` record (a `cviscript.fidelity.Finding`) as one line."""
    return (
        f"{d.get('code')}: live, {d.get('live')}; rehearsal assumed {d.get('assumed')}; "
        f"to make rehearsal match: {d.get('fix')}"
    )


def _model_note(d: dict[str, Any]) -> str:
    """What the simulated replica chose not to do (or did instead), and why."""
    what = str(d.get("note", "")).replace("-", " ")
    parts = [what]
    if d.get("tool"):
        parts.append(f"tool {d['tool']}")
    if d.get("text"):
        parts.append(_quote(d["text"]))
    line = f"{', '.join(parts)}: {d.get('why', '')}"
    if d.get("field"):
        line += f" [persona field: {d['field']}]"
    return line


def _operator(d: dict[str, Any]) -> str:
    """What the operator did: fired a `manual:` name (the engine's record), or, from the
    interactive prompt, spoke, reported a perception or barged in for the visitor."""
    if "name" in d:
        name = d.get("name")
        if d.get("fired"):
            return f"fired {name} ({d['fired']})"
        where = f" in {d['state']}" if d.get("state") else ""
        return f"fired {name}: nothing fired{where}"
    if "say" in d:
        return f"visitor says {_quote(d['say'])}" + (" (barging in)" if d.get("barge_in") else "")
    if "see" in d:
        return f"perception {_quote(d['see'])}"
    if d.get("barge"):
        return "visitor barges in"
    return "acted"
