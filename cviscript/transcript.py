"""The JSONL transcript: every record of a run, one JSON object per line, versioned.

The first line is the `header` record (``{"kind": "header", "format": "cviscript-transcript",
"version": 1, ...}``); every following line is a trace record (see `cviscript.trace` for the kinds
and fields). `received` records hold the raw wire message exactly as it arrived, which is what lets
`cviscript replay` feed a recorded live session back to a scenario.

The writer flushes every line: a crash, Ctrl-C or SIGTERM loses nothing that was already recorded.
A lone surrogate (``"\ud800"``: JSON allows it, UTF-8 cannot encode it) is written as the JSON escape
``\ud800`` — it can only occur inside a JSON string, whose backslashes are already escaped — so
the line stays valid JSON and reads back to exactly what was recorded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

from .errors import CviscriptError
from .trace import TRANSCRIPT_FORMAT, TRANSCRIPT_VERSION, TraceRecord


class TranscriptWriter:
    """A trace subscriber writing JSONL. Use as a context manager or call `close()`."""

    def __init__(self, path: str | Path, *, flush_every_line: bool = True):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # backslashreplace: a lone surrogate becomes its JSON escape (see the module docstring)
        self._fh: IO[str] | None = self.path.open("w", encoding="utf-8", errors="backslashreplace")
        self._flush = flush_every_line

    def __call__(self, record: TraceRecord) -> None:
        if self._fh is None:
            return
        self._fh.write(json.dumps(record.to_json(), ensure_ascii=False, default=str) + "\n")
        if self._flush:
            self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> TranscriptWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def dumps(records: list[TraceRecord]) -> str:
    return "".join(json.dumps(r.to_json(), ensure_ascii=False, default=str) + "\n" for r in records)


def _int_or_digits(digits: str) -> int | str:
    return int(digits) if len(digits) <= 4000 else digits


def read_transcript(path: str | Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(header, records) of a transcript file; raises CviscriptError on a file that is not one."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise CviscriptError(f"cannot read transcript {path}: {err.strerror}") from err
    records: list[dict[str, Any]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            # a number too long for int() (a hostile seq) stays its digits; the normaliser
            # reads those as no number, as it did live
            record = json.loads(line, parse_int=_int_or_digits)
        except json.JSONDecodeError as err:
            raise CviscriptError(f"{path}:{number}: not a JSON line: {err.msg}") from err
        if not isinstance(record, dict) or "kind" not in record:
            raise CviscriptError(f"{path}:{number}: not a transcript record")
        records.append(record)
    if not records or records[0].get("kind") != "header":
        raise CviscriptError(f"{path}: not a cviscript transcript (no header line)")
    header = records[0]
    if header.get("format") != TRANSCRIPT_FORMAT:
        raise CviscriptError(
            f"{path}: not a cviscript transcript (format {header.get('format')!r})"
        )
    if header.get("version") != TRANSCRIPT_VERSION:
        raise CviscriptError(
            f"{path}: transcript version {header.get('version')!r} is not supported "
            f"(this cviscript reads version {TRANSCRIPT_VERSION})"
        )
    return header, records[1:]
