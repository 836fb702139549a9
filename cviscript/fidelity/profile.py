"""A `Calibration` written as a replica profile: the YAML file of replica settings a rehearsal
loads (``replica: {profile: FILE}`` or ``conversation.replica_profile``).

Only keys the rehearsal's ``replica:`` block knows are written as settings, so the file always
loads; every other figure (the copy pattern, the folding window, tool behaviour, which belongs in
the persona file) is written as a comment beside them, as are the figures refused for lack of
evidence. Each setting's comment says what it rests on.
"""

from __future__ import annotations

import json
from typing import Any

from .calibrate import Calibration, Figure

_PERSONA_HINTS = {
    "tool_filler": "persona file: each tool's on_call (generate_filler / static_filler / none)",
    "tool_result_spoken": "persona file: each tool's on_resolve (generate_response / "
    "fire_and_forget)",
    "copy_window": "normaliser, which folds within 8 messages and 2 s (no setting yet)",
}


def replica_keys() -> frozenset[str]:
    """The keys a rehearsal's ``replica:`` block accepts (read from the language spec)."""
    from ..language.spec import REPLICA

    return frozenset(REPLICA.fields) - {"profile", "persona_file"}


def profile_yaml(cal: Calibration, keys: frozenset[str] | None = None) -> str:
    keys = replica_keys() if keys is None else keys
    lines = [
        "# Replica settings measured by `cviscript calibrate` from "
        f"{len(cal.transcripts)} live transcript(s):",
        *(f"#   {_comment(name)}" for name in cal.transcripts),
        "# Load it with `replica: {profile: FILE}` or `conversation.replica_profile: FILE`;",
        "# re-calibrate when the persona changes.",
    ]
    for fig in cal.figures:
        if fig.known and fig.key in keys:
            lines.append("")
            lines.append(f"# {_comment(_about(fig))}")
            lines.append(f"{fig.key}: {_yaml_value(fig.value)}")
    others = [f for f in cal.figures if not (f.known and f.key in keys)]
    if others:
        lines.append("")
        lines.append("# Measured or refused, with no replica setting of its own here:")
        for fig in others:
            value = "" if not fig.known else f" {_yaml_value(fig.value)}"
            hint = _PERSONA_HINTS.get(fig.key)
            lines.append(f"#   {fig.key}:{value} — {_comment(_about(fig))}")
            if hint and fig.known:
                lines.append(f"#     (it belongs in the {_comment(hint)})")
    return "\n".join(lines) + "\n"


def _about(fig: Figure) -> str:
    parts = [fig.note]
    if fig.known:
        parts.append(f"rests on {fig.samples} (needs {fig.needed})")
    if fig.spread:
        parts.append(fig.spread)
    return "; ".join(p for p in parts if p)


def _comment(text: str) -> str:
    return " ".join(str(text).split())


def _yaml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)  # a JSON string or object is valid YAML
