"""The JSONL transcript: every record of a run, one JSON object per line, versioned.

The first line is the `header` record (``{"kind": "header", "format": "cviscript-transcript",
"version": 1, ...}``); every following line is a trace record (see `cviscript.trace` for the kinds
and fields). `received` records hold the raw wire message exactly as it arrived, which is what lets
`cviscript replay` feed a recorded live session back to a scenario.

The writer flushes every line: a crash, Ctrl-C or SIGTERM loses nothing that was already recorded.
A lone surrogate (``"\ud800"``: JSON allows it, UTF-8 cannot encode it) is written as the JSON escape
``\ud800`` — it can only occur inside a JSON string, whose backslashes are already escaped — so
the line stays valid JSON and reads back to exactly what was recorded.

Reading (`read_transcript`) trusts nothing in the file, which may come from anywhere (an issue
attachment, a colleague's run): a FIFO or device (``/dev/zero``) is refused before it is opened
for reading, a file over `MAX_BYTES` by its size, a line over `MAX_LINE` before it is parsed;
JSON nested deeper than `MAX_DEPTH` (a 100,000-deep line, or vars nested so deep that rendering
them would overflow the stack) and a time `t` that is not a finite number of seconds are errors
naming the line. A 30-minute live session is a few megabytes, far under the limits.
"""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path
from typing import IO, Any

from .errors import CviscriptError
from .trace import TRANSCRIPT_FORMAT, TRANSCRIPT_VERSION, TraceRecord

MAX_BYTES = 32 * 1024 * 1024  # a transcript read back (replay); live sessions are a few MB
MAX_LINE = 1024 * 1024  # one record (a wire message is at most 4,096 characters)
MAX_DEPTH = 64  # nesting of one record (messages nest a handful of levels)
_TOO_DEEP = object()


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
    """(header, records) of a transcript file; raises CviscriptError on a file that is not one
    (or is too large, too deep, or has a time that is not a number)."""
    path = Path(path)
    records: list[dict[str, Any]] = []
    for number, line in _lines(path):
        if not line.strip():
            continue
        try:
            # a number too long for int() (a hostile seq) stays its digits; the normaliser
            # reads those as no number, as it did live
            record = json.loads(line, parse_int=_int_or_digits)
        except json.JSONDecodeError as err:
            raise CviscriptError(f"{path}:{number}: not a JSON line: {err.msg}") from None
        except RecursionError:
            record = _TOO_DEEP
        if record is _TOO_DEEP or _too_deep(record):
            raise CviscriptError(f"{path}:{number}: JSON nested deeper than {MAX_DEPTH} levels")
        if not isinstance(record, dict) or "kind" not in record:
            raise CviscriptError(f"{path}:{number}: not a transcript record")
        t = record.get("t", 0.0)
        if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t) or t < 0:
            shown = json.dumps(t)[:40] if not isinstance(t, str) else repr(t[:40])
            raise CviscriptError(
                f"{path}:{number}: the time t must be a number of seconds, got {shown}"
            )
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


def _lines(path: Path) -> Any:
    """(number, line) of a regular file under MAX_BYTES, read lazily."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as err:
        raise CviscriptError(f"cannot read transcript {path}: {err.strerror}") from None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise CviscriptError(f"cannot read transcript {path}: not a regular file")
        if info.st_size > MAX_BYTES:
            raise CviscriptError(
                f"transcript {path} is {info.st_size / 2**20:,.0f} MiB, over the "
                f"{MAX_BYTES // 2**20} MiB a replay reads"
            )
        for number, raw in enumerate(iter(lambda: fh.readline(MAX_LINE + 1), b""), 1):
            if len(raw.rstrip(b"\r\n")) > MAX_LINE:
                raise CviscriptError(
                    f"{path}:{number}: a line over {MAX_LINE // 1024} KiB: not read"
                )
            try:
                yield number, raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError:
                raise CviscriptError(f"{path}:{number}: not UTF-8 text") from None


def _too_deep(value: Any) -> bool:
    """Whether `value` nests deeper than MAX_DEPTH (iteratively: no recursion to overflow)."""
    todo = [(value, 1)]
    while todo:
        item, depth = todo.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > MAX_DEPTH:
            return True
        todo.extend((child, depth + 1) for child in children)
    return False
