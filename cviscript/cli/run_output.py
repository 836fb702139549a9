"""What `cviscript run` prints and writes: the console transcript, the JSONL transcript, the result.

`RunOutput` is the output flags (``--transcript``, ``--quiet``, ``--json``, ``--color``) as one
object, shared by the simulated and the live path. A transcript that cannot be written is refused
before anything runs (or is created); one that fails later is reported at the end, not raised
into the engine.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import click

from .common import EXIT_INVALID, fail, resolve_color


@dataclass(frozen=True, slots=True)
class RunOutput:
    transcript: str | None
    quiet: bool
    as_json: bool
    color: bool

    @classmethod
    def from_flags(
        cls, transcript: str | None, quiet: bool, as_json: bool, color: bool | None
    ) -> RunOutput:
        """`color` None: colour when stdout is a terminal."""
        use_color = resolve_color(color)
        return cls(transcript, quiet, as_json, use_color)

    def subscribers(self, headline: str, echo: Any = None) -> tuple[list[Any], Any]:
        """(trace subscribers, transcript writer or None): the console transcript unless quiet or
        --json (printing `headline` first), and the JSONL file when asked. Close the writer."""
        from ..report.console import ConsolePrinter
        from ..transcript import TranscriptWriter

        writer = None
        if self.transcript:
            check_transcript(self.transcript)
            try:
                writer = TranscriptWriter(self.transcript)
            except OSError as err:
                fail(
                    f"cannot write the transcript {self.transcript}: {err.strerror or err}",
                    EXIT_INVALID,
                )
        subscribers: list[Any] = []
        if not self.quiet and not self.as_json:
            click.echo(headline)
            printer = ConsolePrinter(color=self.color)
            if echo is not None:
                printer.echo = echo
            subscribers.append(printer)
        if writer:
            subscribers.append(writer)
        return subscribers, writer

    def print_result(self, scenario: Any, result: Any, **extra: Any) -> None:
        """The outcome: one JSON object with --json (plus `extra`), else the result lines."""
        from ..report.console import format_result

        if self.as_json:
            click.echo(json.dumps(result_json(scenario, result, **extra), default=str))
            return
        click.echo(format_result(result, color=self.color))
        if extra.get("fidelity") is not None:
            from ..report.console import format_fidelity

            click.echo(format_fidelity(extra["fidelity"], color=self.color))
        if self.transcript:
            click.echo(f"  transcript: {self.transcript}")


def check_transcript(path: str) -> None:
    """Refuse, before anything runs (or is created), a transcript that cannot be written: a
    missing permission, a read-only or full file system. A regular file gets a one-byte probe
    (then emptied); a device or pipe is only opened, since a probe would show in it."""
    from pathlib import Path

    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("w", encoding="utf-8") as fh:
            if target.is_file():
                fh.write("\n")
                fh.flush()
                os.fsync(fh.fileno())
                fh.seek(0)
                fh.truncate()
    except OSError as err:
        fail(f"cannot write the transcript {path}: {err.strerror or err}", EXIT_INVALID)


def close_quietly(writer: Any) -> str | None:
    """Close the transcript; a failure (the last line could not be flushed) is returned."""
    try:
        writer.close()
    except OSError as err:
        return f"cannot write the transcript {writer.path}: {err.strerror or err}"
    return None


class SafeTranscript:
    """The transcript writer for simulated runs: a write failure is kept, not raised into the
    engine; the run reports it at the end."""

    def __init__(self, writer: Any):
        self.writer = writer
        self.path = writer.path
        self.error: str | None = None

    def __call__(self, record: Any) -> None:
        if self.error is None:
            try:
                self.writer(record)
            except OSError as err:
                self.error = f"cannot write the transcript {self.path}: {err.strerror or err}"


def result_json(scenario: Any, result: Any, **extra: Any) -> dict[str, Any]:
    return {
        "scenario": scenario.name,
        "outcome": result.outcome,
        "reason": result.reason,
        "state": result.state,
        "path": result.path,
        "vars": result.vars,
        "duration": round(result.duration, 6),
        "sent": result.sent,
        **extra,
    }
