"""A run's timeline as inline SVG: who spoke when, what was sent, which state the script was in.

Made from the run's trace records only (the same records as the JSONL transcript), on the run's
own clock — virtual seconds in a rehearsal:

* replica speech: a bar from ``replica.started_speaking`` to ``replica.stopped_speaking`` (or a
  legacy ``replica.interrupted``); an interrupted turn is drawn cut off, in red. The replica's
  utterance that arrives during the turn is its text;
* user speech: a bar from ``user.started_speaking`` to ``user.stopped_speaking``, with the user's
  utterance (it arrives at the end of the turn). An utterance with no speaking events around it
  (some servers, some fault settings) still gets a thin bar at its time;
* interactions sent: a marker each, coloured by kind; tool calls and perception analyses
  received: diamonds on the replica and user lanes;
* states: a band of the states the script was in, with a dashed line across the lanes at every
  change, and the outcome at the end.

Every mark has a `<title>` tooltip (exact time and text), so the page needs no script to explain
itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from typing import Any

from ..trace import TraceRecord
from ..trace_lines import describe_sent

WIDTH = 1000.0
GUTTER = 78.0  # lane labels
RIGHT = 14.0
BAND_Y, BAND_H = 6.0, 22.0
LANE_H = 30.0
SENT_H = 26.0
SANS_CHAR_W = 6.1  # px per character of the 11px sans-serif speech text (an estimate)


@dataclass(slots=True)
class Bar:
    role: str  # "replica" | "user"
    start: float
    end: float | None = None  # None: still speaking when the run ended
    text: str = ""
    interrupted: bool = False


@dataclass(slots=True)
class Mark:
    t: float
    kind: str  # a CSS class: the interaction's short name, "tool_call", "perception", "dropped"
    text: str


@dataclass(slots=True)
class StateSpan:
    state: str
    start: float
    via: str


@dataclass(slots=True)
class Timeline:
    bars: list[Bar] = field(default_factory=list)
    sent: list[Mark] = field(default_factory=list)
    received: list[Mark] = field(default_factory=list)  # tool calls, perception, drops
    states: list[StateSpan] = field(default_factory=list)
    outcome: str | None = None
    reason: str = ""
    duration: float = 0.0


SENT_KINDS = {
    "conversation.echo": "echo",
    "conversation.respond": "respond",
    "conversation.interrupt": "interrupt",
    "conversation.overwrite_llm_context": "context",
    "conversation.append_llm_context": "context",
    "conversation.overwrite_context": "context",
    "conversation.append_context": "context",
    "conversation.sensitivity": "sensitivity",
    "conversation.tool_result": "tool_result",
}


def timeline_from_records(records: list[TraceRecord], duration: float | None = None) -> Timeline:
    """The timeline of one run; `received` records must carry their normalised events (see
    `rehearsal.excerpt.records_from_json`)."""
    tl = Timeline()
    open_bar: dict[str, Bar | None] = {"replica": None, "user": None}
    last_bar: dict[str, Bar | None] = {"replica": None, "user": None}

    def start(role: str, t: float) -> None:
        if open_bar[role] is None:
            bar = Bar(role, t)
            tl.bars.append(bar)
            open_bar[role] = last_bar[role] = bar

    def stop(role: str, t: float, interrupted: bool = False) -> None:
        bar = open_bar[role]
        if bar is not None:
            bar.end = t
            open_bar[role] = None
        else:
            bar = last_bar[role]
        if bar is not None and interrupted:
            bar.interrupted = True

    for rec in records:
        t = rec.t
        if rec.kind == "state":
            tl.states.append(StateSpan(str(rec.data.get("state")), t, str(rec.data.get("via"))))
        elif rec.kind == "sent":
            msg = rec.data.get("message") or {}
            et = str(msg.get("event_type", "?"))
            kind = SENT_KINDS.get(et, "other")
            tl.sent.append(Mark(t, kind, f"{_clock(t)} sent {describe_sent(msg)}"))
        elif rec.kind == "dropped":
            tl.received.append(Mark(t, "dropped", f"{_clock(t)} dropped: {rec.data.get('reason')}"))
        elif rec.kind == "outcome":
            tl.outcome = str(rec.data.get("outcome"))
            tl.reason = str(rec.data.get("reason", ""))
            tl.duration = max(tl.duration, float(rec.data.get("duration") or t))
        elif rec.kind == "received" and rec.event is not None:
            _received(tl, rec, t, start, stop, last_bar)
        tl.duration = max(tl.duration, t)
    if duration is not None:
        tl.duration = max(tl.duration, duration)
    return tl


def _received(tl: Timeline, rec: TraceRecord, t: float, start: Any, stop: Any, last: Any) -> None:
    ev = rec.event
    typ = ev.type
    if typ == "replica.started_speaking":
        start("replica", t)
    elif typ == "replica.stopped_speaking":
        stop("replica", t, ev.interrupted)
    elif typ == "replica.interrupted":
        stop("replica", t, True)
    elif typ == "user.started_speaking":
        start("user", t)
    elif typ == "user.stopped_speaking":
        stop("user", t)
    elif typ == "utterance" and ev.role in ("replica", "user"):
        text = " ".join((ev.text or "").split())
        # the turn it belongs to: the latest one of that speaker without words yet
        bar = next(
            (b for b in reversed(tl.bars) if b.role == ev.role and not b.text and b.start <= t),
            None,
        )
        if bar is None or (bar.end is not None and t - bar.end > 2.0):
            bar = Bar(ev.role, t, t, text)
            tl.bars.append(bar)
        else:
            bar.text = text
    elif typ in ("tool_call", "perception_tool_call"):
        tl.received.append(Mark(t, "tool_call", f"{_clock(t)} tool call {ev.name}({ev.arguments})"))
    elif typ == "perception_analysis":
        tl.received.append(Mark(t, "perception", f"{_clock(t)} perception: {ev.text or ''}"))


# ---------------------------------------------------------------------------------------- drawing


def _clock(t: float) -> str:
    return f"{t:.2f}s"


def _f(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def _step(duration: float) -> float:
    for step in (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600):
        if duration / step <= 12:
            return step
    return 7200.0


def _tick_label(v: float) -> str:
    if v >= 120 and v % 60 == 0:
        return f"{int(v // 60)}m"
    if v >= 60:
        return f"{int(v // 60)}m{int(v % 60):02d}s"
    return f"{v:g}s"


def _fit(text: str, width: float) -> str:
    n = int((width - 8) / SANS_CHAR_W)
    if n < 3:
        return ""
    return text if len(text) <= n else text[: n - 1] + "…"


def _fit_name(name: str, width: float) -> str:
    """A state's name whole, or nothing when it does not fit (its tooltip and the case's path
    have it): a shortened name ("les…") reads as another state."""
    return name if len(name) <= int((width - 8) / SANS_CHAR_W) else ""


LANES = (("replica", "replica"), ("user", "user"))


def render_timeline(tl: Timeline, *, failed: bool = False) -> str:
    """The timeline as an ``<svg>`` element, 1000 units wide (it scales to the page)."""
    span = max(tl.duration, 0.5)
    inner = WIDTH - GUTTER - RIGHT

    def x(t: float) -> float:
        return GUTTER + inner * min(max(t, 0.0), span) / span

    lane_y = {}
    y = BAND_Y + BAND_H + 8
    for role, _ in LANES:
        lane_y[role] = y
        y += LANE_H + 6
    sent_y = y
    axis_y = sent_y + SENT_H + 4
    height = axis_y + 22

    out = [
        f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_f(WIDTH)} '
        f'{_f(height)}" preserveAspectRatio="xMinYMin meet" role="img" aria-label="timeline">'
    ]
    # lane backgrounds and labels
    out.append(
        f'<text class="lane-label" x="{_f(GUTTER - 8)}" y="{_f(BAND_Y + BAND_H / 2 + 4)}">'
        "state</text>"
    )
    for role, label in LANES:
        ly = lane_y[role]
        out.append(
            f'<rect class="lane {role}" x="{_f(GUTTER)}" y="{_f(ly)}" width="{_f(inner)}" '
            f'height="{_f(LANE_H)}"/><text class="lane-label" x="{_f(GUTTER - 8)}" '
            f'y="{_f(ly + LANE_H / 2 + 4)}">{label}</text>'
        )
    out.append(
        f'<rect class="lane sent" x="{_f(GUTTER)}" y="{_f(sent_y)}" width="{_f(inner)}" '
        f'height="{_f(SENT_H)}"/><text class="lane-label" x="{_f(GUTTER - 8)}" '
        f'y="{_f(sent_y + SENT_H / 2 + 4)}">sent</text>'
    )
    # the time axis
    step = _step(span)
    out.append(
        f'<line class="axis" x1="{_f(GUTTER)}" y1="{_f(axis_y)}" x2="{_f(WIDTH - RIGHT)}" '
        f'y2="{_f(axis_y)}"/>'
    )
    v = 0.0
    while v <= span + 1e-9:
        xv = x(v)
        out.append(
            f'<line class="tick" x1="{_f(xv)}" y1="{_f(axis_y)}" x2="{_f(xv)}" '
            f'y2="{_f(axis_y + 4)}"/><line class="grid" x1="{_f(xv)}" y1="{_f(BAND_Y + BAND_H)}" '
            f'x2="{_f(xv)}" y2="{_f(axis_y)}"/><text class="tick-label" x="{_f(xv)}" '
            f'y="{_f(axis_y + 15)}">{_tick_label(v)}</text>'
        )
        v += step
    # states: a band, and a dashed line at every change
    for i, s in enumerate(tl.states):
        end = tl.states[i + 1].start if i + 1 < len(tl.states) else span
        x0, x1 = x(s.start), x(end)
        how = "initial state" if s.via == "initial" else f"via {s.via}"
        title = escape(f"{_clock(s.start)} entered {s.state} ({how})")
        out.append(
            f'<g class="state-span" data-state="{escape(s.state)}"><rect class="band{i % 2}" '
            f'x="{_f(x0)}" y="{_f(BAND_Y)}" width="{_f(max(x1 - x0, 0.0))}" height="{_f(BAND_H)}"/>'
            f'<text x="{_f(x0 + 4)}" y="{_f(BAND_Y + BAND_H / 2 + 4)}">'
            f"{escape(_fit_name(s.state, x1 - x0 + 2))}</text><title>{title}</title></g>"
        )
        out.append(
            f'<line class="state-change" x1="{_f(x0)}" y1="{_f(BAND_Y)}" x2="{_f(x0)}" '
            f'y2="{_f(axis_y)}"><title>{title}</title></line>'
        )
    # speech bars
    for bar in tl.bars:
        ly = lane_y[bar.role]
        end = bar.end if bar.end is not None else span
        x0, x1 = x(bar.start), x(end)
        w = max(x1 - x0, 3.0)
        cls = f"speech {bar.role}" + (" interrupted" if bar.interrupted else "")
        if bar.end is None:
            cls += " open"
        how = ""
        if bar.interrupted:
            how = " (interrupted)"
        elif bar.end is None:
            how = " (still speaking when the run ended)"
        who = "replica" if bar.role == "replica" else "user"
        title = f"{_clock(bar.start)}–{_clock(end)} {who}{how}: " + (
            f"“{bar.text}”" if bar.text else "(no words received)"
        )
        parts = [
            f'<g class="{cls}"><rect x="{_f(x0)}" y="{_f(ly + 4)}" width="{_f(w)}" '
            f'height="{_f(LANE_H - 8)}" rx="4"/>'
        ]
        label = _fit(bar.text, w)
        if label:
            parts.append(
                f'<text x="{_f(x0 + 4)}" y="{_f(ly + LANE_H / 2 + 4)}">{escape(label)}</text>'
            )
        if bar.interrupted:
            parts.append(
                f'<path class="cut" d="M{_f(x0 + w)},{_f(ly + 1)} V{_f(ly + LANE_H - 1)}"/>'
            )
        parts.append(f"<title>{escape(title)}</title></g>")
        out.append("".join(parts))
    # interactions sent: markers, nudged apart when they fall on the same spot
    last_x = -100.0
    for m in tl.sent:
        mx = max(x(m.t), last_x + 7)
        last_x = mx
        top = sent_y + 5
        out.append(
            f'<g class="sent-marker {m.kind}"><path d="M{_f(mx - 5)},{_f(top)} h10 '
            f'l-5,{_f(SENT_H - 12)} z"/><line x1="{_f(mx)}" y1="{_f(top + SENT_H - 12)}" '
            f'x2="{_f(mx)}" y2="{_f(sent_y + SENT_H - 2)}"/>'
            f"<title>{escape(m.text)}</title></g>"
        )
    # tool calls / perception / drops received
    for m in tl.received:
        mx = x(m.t)
        role = "user" if m.kind == "perception" else "replica"
        cy = lane_y[role] + 4
        if m.kind == "dropped":
            out.append(
                f'<g class="received-marker dropped"><path d="M{_f(mx - 4)},{_f(cy - 4)} '
                f'l8,8 m0,-8 l-8,8"/><title>{escape(m.text)}</title></g>'
            )
        else:
            out.append(
                f'<g class="received-marker {m.kind}"><path d="M{_f(mx)},{_f(cy - 5)} l5,5 '
                f'l-5,5 l-5,-5 z"/><title>{escape(m.text)}</title></g>'
            )
    # the outcome
    if tl.outcome is not None:
        xe = x(tl.duration)
        cls = "outcome " + ("ok" if tl.outcome == "completed" and not failed else "bad")
        out.append(
            f'<g class="{cls}"><line x1="{_f(xe)}" y1="{_f(BAND_Y)}" x2="{_f(xe)}" '
            f'y2="{_f(axis_y)}"/><circle cx="{_f(xe)}" cy="{_f(axis_y)}" r="4"/>'
            f"<title>{escape(f'{_clock(tl.duration)} {tl.outcome}: {tl.reason}')}</title></g>"
        )
    out.append("</svg>")
    return "\n".join(out)
