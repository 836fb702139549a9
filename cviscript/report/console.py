"""The readable transcript printed while a scenario runs, and its closing verdict.

Each trace record becomes the line `cviscript.trace_lines.format_record` gives it (the same lines a
failed rehearsal's excerpt shows); `format_result` adds the outcome and the path. Built from trace
records only, so it shows exactly what the JSONL transcript holds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from ..printable import printable
from ..trace import TraceRecord
from ..trace_lines import fidelity_line, format_record


def format_result(result: Any, *, color: bool = False) -> str:
    mark, fg = {"completed": ("✔", "green"), "stopped": ("■", "yellow")}.get(
        result.outcome, ("✘", "red")
    )
    reason = printable(result.reason, keep_newlines=False)
    head = f"{mark} {result.outcome}: {reason} ({result.duration:.1f}s)"
    lines = [click.style(head, fg=fg, bold=True) if color else head]
    if result.path:
        path = " → ".join(result.path)
        lines.append("  path: " + printable(path, keep_newlines=False))
    return "\n".join(lines)


def format_fidelity(findings: list[dict[str, Any]], *, color: bool = False) -> str:
    """The end summary of the live self-check (`cviscript.fidelity`): one line per difference
    between this live run and the replica model, or one line saying there was none."""
    if not findings:
        return "  fidelity: live matched the replica model (no differences seen)"
    head = f"  fidelity: {len(findings)} difference(s) from the replica model rehearsals use:"
    lines = [click.style(head, fg="yellow") if color else head]
    for d in findings:
        count = d.get("count") or 1
        times = f" (seen {count} times)" if count > 1 else ""
        lines.append("    ⚠ " + printable(fidelity_line(d), keep_newlines=False) + times)
    return "\n".join(lines)


class ConsolePrinter:
    """A trace subscriber printing readable lines as the run goes."""

    def __init__(self, echo: Callable[[str], None] = click.echo, *, color: bool = False):
        self.echo = echo
        self.color = color

    def __call__(self, record: TraceRecord) -> None:
        line = format_record(record, color=self.color)
        if line is not None:
            self.echo(line)
