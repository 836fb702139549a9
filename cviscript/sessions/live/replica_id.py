"""Which participant of a Daily room is the Tavus replica.

Only the replica speaks for Tavus: its app-messages drive the scenario, everyone else's are ignored.
So the replica is recognised from Daily's own participant data (``userId``, ``userName``), never
from what a message says about itself — a stranger in the room can send ``system.replica_joined``
as easily as the replica can. The signals, strongest first:

* **named on the command line** (``--replica-user-id``: the Daily user id, or its start;
  ``--replica-name``: the user name). When given, they are the only signals used.
* **the user id** contains a Tavus mark: ``tavus-replica`` (Tavus's own examples and UI kit filter
  participants this way) or ``tavus-pal`` (the same mark after Tavus renamed replicas to PALs;
  UNCONFIRMED — no Tavus page shows it, it follows the ``system.pal_*`` renames). A Daily user id
  is set by the meeting token the room's owner (Tavus) issued; a visitor cannot choose it.
* **the user name** equals the persona's name (``GET /v2/personas/{id}`` → ``persona_name``;
  pipecat's Tavus transport recognises the replica this way). Weaker: anyone joining picks their
  own user name. So a name never outranks a Tavus user id, and a name match is provisional: its
  messages are held, not acted on, while a participant with a Tavus user id may still come
  (`daily_replica.NAME_GRACE`, 5 s); only then is the name match taken. A participant with a Tavus
  user id that arrives later still replaces it.

When nothing matches in time, the error lists who was in the room (names cleaned of control
characters and cut short: they come from strangers) and what was looked for.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

USER_ID_MARKS = ("tavus-replica", "tavus-pal")
STRONG, WEAK = 2, 1
MAX_ROSTER = 64  # participants remembered for the error message
MAX_LISTED = 10  # ... and shown in it
MAX_SHOWN = 40  # characters of a user id or name shown


@dataclass(frozen=True, slots=True)
class Match:
    strength: int  # STRONG or WEAK
    why: str


def participant_fields(participant: Any) -> tuple[str | None, str, str, bool]:
    """(participant id, user id, user name, is local) of a Daily participant dict."""
    if not isinstance(participant, dict):
        return None, "", "", False
    info = participant.get("info")
    info = info if isinstance(info, dict) else {}
    pid = participant.get("id")
    user_id = info.get("userId") or participant.get("user_id") or ""
    user_name = info.get("userName") or participant.get("user_name") or ""
    return (
        str(pid) if pid else None,
        user_id if isinstance(user_id, str) else "",
        user_name if isinstance(user_name, str) else "",
        bool(info.get("isLocal") or participant.get("local")),
    )


class ReplicaRecognizer:
    """Decides, from a participant's user id and name, whether it is the replica."""

    def __init__(
        self,
        *,
        user_id: str | None = None,
        name: str | None = None,
        persona_names: tuple[str, ...] = (),
    ):
        self.user_id = (user_id or "").strip() or None
        self.name = (name or "").strip() or None
        self.persona_names: list[str] = []
        for persona_name in persona_names:
            self.add_persona_name(persona_name)

    @property
    def explicit(self) -> bool:
        return self.user_id is not None or self.name is not None

    def add_persona_name(self, name: str) -> bool:
        """Learn the persona's name (a lookup finishing late); True if it is new."""
        name = name.strip() if isinstance(name, str) else ""
        if not name or name.casefold() in (n.casefold() for n in self.persona_names):
            return False
        self.persona_names.append(name)
        return True

    def match(self, user_id: str, user_name: str) -> Match | None:
        if self.explicit:
            if self.user_id is not None and user_id.startswith(self.user_id):
                return Match(STRONG, f"user id {clean(user_id)} (--replica-user-id)")
            if self.name is not None and user_name.strip().casefold() == self.name.casefold():
                return Match(STRONG, f"user name {clean(user_name)} (--replica-name)")
            return None
        lowered = user_id.casefold()
        for mark in USER_ID_MARKS:
            if mark in lowered:
                return Match(STRONG, f"user id {clean(user_id)}")
        name = user_name.strip().casefold()
        if name and any(name == n.casefold() for n in self.persona_names):
            return Match(WEAK, f"user name {clean(user_name)}, the persona's name")
        return None

    def describe(self) -> str:
        """What is looked for, for the error message."""
        if self.explicit:
            wanted = []
            if self.user_id is not None:
                wanted.append(f"a user id starting with {clean(self.user_id)}")
            if self.name is not None:
                wanted.append(f"the user name {clean(self.name)}")
            return " or ".join(wanted)
        marks = " or ".join(repr(m) for m in USER_ID_MARKS)
        wanted = f"a user id containing {marks}"
        if self.persona_names:
            names = ", ".join(clean(n) for n in self.persona_names)
            wanted += f", or the persona's name ({names}) as user name"
        return wanted


class Roster:
    """Who was seen in the room (bounded), for the message when the replica never shows."""

    def __init__(self) -> None:
        self.seen: dict[str, tuple[str, str]] = {}
        self.left: set[str] = set()
        self.overflow = 0

    def saw(self, pid: str, user_id: str, user_name: str) -> None:
        if pid in self.seen or len(self.seen) < MAX_ROSTER:
            self.seen[pid] = (user_id, user_name)
            self.left.discard(pid)
        else:
            self.overflow += 1

    def gone(self, pid: str) -> None:
        if pid in self.seen:
            self.left.add(pid)

    def describe(self) -> str:
        if not self.seen:
            return "nobody else was in the room"
        shown = []
        for pid, (user_id, user_name) in list(self.seen.items())[:MAX_LISTED]:
            entry = f"{clean(user_name) if user_name else '(no name)'} (user id {clean(user_id)})"
            shown.append(entry + (", left" if pid in self.left else ""))
        more = len(self.seen) - len(shown) + self.overflow
        tail = f" and {more} more" if more else ""
        return "in the room: " + "; ".join(shown) + tail


def clean(text: str, limit: int = MAX_SHOWN) -> str:
    """A stranger's text made safe to print: quoted, control and format characters escaped,
    cut to `limit` characters."""
    text = str(text)
    cut = len(text) > limit
    out = []
    for ch in text[:limit]:
        if unicodedata.category(ch)[0] in "CZ" and ch != " ":
            out.append(f"\\u{ord(ch):04x}" if ord(ch) < 0x10000 else f"\\U{ord(ch):08x}")
        else:
            out.append(ch)
    return "'" + "".join(out) + ("…" if cut else "") + "'"
