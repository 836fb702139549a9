"""One difference between a live conversation and the replica model: a `Finding`.

Every finding answers three questions in words a demo author can act on: what rehearsal assumed
(`assumed`), what the live conversation did (`live`), and what would make rehearsal match
(`fix`: a replica setting, a persona field, or a conversation property). `t` is when it was
noticed (seconds on the run's clock); `count` grows when the same difference happens again (it
is reported once, as it first happens, and counted after that).

A finding becomes a ``fidelity`` trace record (and so a line of the JSONL transcript), a console
line, and an entry of ``--json``'s ``fidelity`` list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..printable import printable


@dataclass(slots=True)
class Finding:
    code: str
    t: float
    assumed: str
    live: str
    fix: str
    count: int = 1
    key: str = ""  # what makes two findings of one code the same difference (an event name ...)
    detail: dict[str, Any] = field(default_factory=dict)  # numbers behind it (gaps, seconds)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "code": self.code,
            "t": round(self.t, 3),
            "assumed": self.assumed,
            "live": self.live,
            "fix": self.fix,
            "count": self.count,
        }
        if self.detail:
            data["detail"] = self.detail
        return data

    def line(self) -> str:
        """One printable line: code, live, assumed, fix."""
        text = (
            f"{self.code}: live, {self.live}; rehearsal assumed {self.assumed}; "
            f"to make rehearsal match: {self.fix}"
        )
        if self.count > 1:
            text += f" (seen {self.count} times)"
        return printable(text, keep_newlines=False)
