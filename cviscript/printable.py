"""Text that did not come from cviscript, made safe to print or write.

A visitor's words, a scenario's strings and a server's replies end up on the terminal, in
transcripts and in reports. Left raw, a visitor could set the window title (``ESC ] 0;…``), clear
the screen (``ESC [2J``), print a fake green "✔ completed", hide text behind a carriage return, or
reorder a line with a bidi override; and a lone surrogate (``"\\ud800"``, which JSON allows) makes
every UTF-8 write raise ``UnicodeEncodeError``. So at every place such text is printed:

* `printable` shows control characters instead of obeying them: C0 controls (except tab and, when
  asked, newline) and DEL as their Unicode "control pictures" (``␛``, ``␇``, ``␍``), C1 controls
  and bidi embedding/override/isolate characters as ``\\x9b`` / ``\\u202e`` escapes; and replaces
  lone surrogates with U+FFFD;
* `well_formed` only replaces lone surrogates (for HTML, XML and files, where control characters
  are escaped by the writer's own rules).

cviscript's own colours are added after `printable` has run, so they are the only escapes printed.
"""

from __future__ import annotations

import re

_BIDI = range(0x202A, 0x202F), range(0x2066, 0x206A)  # LRE RLE PDF LRO RLO, LRI RLI FSI PDI
_SURROGATES = range(0xD800, 0xE000)

_UNSAFE = "\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_UNSAFE_LINE = re.compile(f"[\x00-\x08\x0a{_UNSAFE}]")  # newline included
_UNSAFE_LINES = re.compile(f"[\x00-\x08{_UNSAFE}]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _table(keep_newlines: bool) -> dict[int, str]:
    table: dict[int, str] = {c: chr(0x2400 + c) for c in range(0x20) if c != 0x09}
    table[0x7F] = "\u2421"  # ␡
    table.update({c: f"\\x{c:02x}" for c in range(0x80, 0xA0)})
    for block in _BIDI:
        table.update({c: f"\\u{c:04x}" for c in block})
    table.update({c: "\ufffd" for c in _SURROGATES})
    if keep_newlines:
        del table[0x0A]
    return table


_ONE_LINE = _table(keep_newlines=False)
_LINES = _table(keep_newlines=True)


def printable(text: object, *, keep_newlines: bool = True) -> str:
    """`text` (anything, as ``str``) safe to print on a terminal: see the module docstring.

    `keep_newlines=False` also shows newlines as ``␊``, for one-line output."""
    s = text if isinstance(text, str) else str(text)
    if keep_newlines:
        return s.translate(_LINES) if _UNSAFE_LINES.search(s) else s
    return s.translate(_ONE_LINE) if _UNSAFE_LINE.search(s) else s


def well_formed(text: str) -> str:
    """`text` with every lone surrogate replaced by U+FFFD, so it can be encoded as UTF-8."""
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


# A secret's shape: a run of 12+ key-like characters holding a digit with one unbroken stretch of
# 10+ letters and digits holding a digit (API keys, tokens, hashes, base64 of a private key), or
# the value of a `NAME=value` / `NAME: value` line of a .env file. Names and paths a person wrote
# (`step_2_intro`, `common/v2/bye.yaml`, `release-2026-12`) break into short words: shown.
_SECRETISH = re.compile(r"[A-Za-z0-9+/_\-.~]*\d[A-Za-z0-9+/_\-.~]*")
_RANDOM_STRETCH = re.compile(r"(?=[A-Za-z]*\d)[A-Za-z0-9]{10,}")
_ASSIGNED = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)(\s*[=:]\s*)(\S+)")
EXCERPT_CHARS = 40


def excerpt(text: object, limit: int = EXCERPT_CHARS) -> str:
    """A short, redacted, one-line excerpt of text that came from a file or the wire, for an error
    message: whitespace runs become one space, `NAME=value` values and key-like runs (12+
    characters with a stretch of 10+ letters and digits holding a digit) become ``***``, and the result is cut to `limit` characters with
    ``…``. An error never echoes a file: a `.env`, a private key or ``/etc/passwd`` named where a
    scenario fragment was expected shows at most this much."""
    s = " ".join((text if isinstance(text, str) else str(text))[: limit * 8].split())
    s = _ASSIGNED.sub(lambda m: f"{m[1]}{m[2]}***", s)
    s = _SECRETISH.sub(lambda m: "***" if _secret_like(m[0]) else m[0], s)
    if len(s) > limit:
        s = s[: limit - 1].rstrip() + "…"
    return printable(s, keep_newlines=False)


def _secret_like(run: str) -> bool:
    return len(run) >= 12 and _RANDOM_STRETCH.search(run) is not None
