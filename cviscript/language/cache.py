"""The scenario cache: what loading a file concluded, kept on disk so the next command skips it.

Measured on the shipped scenarios, loading a file costs ~5 ms: YAML composition ~1.5 ms, building
and checking the model ~2.5 ms (most of it jinja2 compiling templates), the lint rules ~1 ms
(more when a hook module has to be found and parsed). Compiled templates are Python code and are
never written to disk. What is cached is the *outcome* of a load, as plain JSON:

* every diagnostic (errors and warnings): a warm `cviscript validate` prints them without
  loading anything (nor importing the validator);
* for a valid file, its name and its rehearsal cases (name, line, seed, replay): `rehearse`
  plans its cases and the pytest plugin collects its items without building a scenario;
* the files the load read, each with the SHA-256 of its content (the file itself, its
  `include:` fragments, the hook modules `call:` names, `echo` audio and `replay` transcripts),
  and the paths it looked at and found nothing (a hook module that would now be found, a
  fragment that now exists): a change to any of them invalidates exactly the scenarios that
  depend on it.

A scenario that runs is always built again from its YAML by the validator (only the lint rules,
which add warnings and never change the model, are skipped on a hit), so the cache can never
make cviscript run anything its files do not say. An entry is checked before use — its format,
every field's type, and a SHA-256 of its content — and one that fails is ignored and rewritten;
so is one whose listed cases differ from the scenario the validator builds.

An entry's slot is named by the file's real path, the path as shown, cviscript's version and a
fingerprint of the modules that decide diagnostics, and Python's version: an upgrade (or an
edit of cviscript itself) misses. Where: ``$CVISCRIPT_CACHE_DIR``, else the platform's cache
folder (``$XDG_CACHE_HOME/cviscript`` or ``~/.cache/cviscript``; ``~/Library/Caches/cviscript`` on
macOS; ``%LOCALAPPDATA%\\cviscript\\Cache`` on Windows). ``CVISCRIPT_NO_CACHE=1`` or the commands'
``--no-cache`` turn it off. Writes are atomic (a temporary file renamed), a folder that cannot be
written is simply not used. Entries not written for 30 days are removed now and then (`prune`).
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import os
import stat
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ..errors import Diagnostic, Location

FORMAT = 1
ENV_DIR = "CVISCRIPT_CACHE_DIR"
ENV_OFF = "CVISCRIPT_NO_CACHE"
MAX_ENTRY_BYTES = 4 * 1024 * 1024
MAX_HASHED_BYTES = 512 * 1024 * 1024  # larger files (refused anyway) are known by size and time
_SEVERITIES = ("error", "warning")


def disable() -> None:
    """Turn the cache off for this process and the processes it starts (`--no-cache`)."""
    os.environ[ENV_OFF] = "1"


def cache_dir() -> str | None:
    """The folder entries live in, or None when the cache is off."""
    if os.environ.get(ENV_OFF, "").strip().lower() not in ("", "0", "false", "no"):
        return None
    if chosen := os.environ.get(ENV_DIR, "").strip():
        return os.path.abspath(os.path.expanduser(chosen))
    home = os.path.expanduser("~")
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or os.path.join(home, "AppData", "Local")
        return os.path.join(base, "cviscript", "Cache")
    if sys.platform == "darwin":
        return os.path.join(home, "Library", "Caches", "cviscript")
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = xdg if os.path.isabs(xdg) else os.path.join(home, ".cache")  # the XDG spec: absolute
    return os.path.join(base, "cviscript")


# ------------------------------------------------------------------------ what a load depends on

_recording: contextvars.ContextVar[dict[str, str | None] | None] = contextvars.ContextVar(
    "cviscript_cache_recording", default=None
)


@contextmanager
def recording() -> Iterator[dict[str, str | None]]:
    """Collect every file a load reads (path -> SHA-256) or looks for in vain (path -> None)."""
    deps: dict[str, str | None] = {}
    token = _recording.set(deps)
    try:
        yield deps
    finally:
        _recording.reset(token)


def note_read(path: str | os.PathLike[str], data: bytes | None) -> None:
    """The loader read `data` from `path` (None: there was no file there)."""
    deps = _recording.get()
    if deps is not None:
        deps[os.path.abspath(path)] = None if data is None else _sha(data)


def note_path(path: str | os.PathLike[str]) -> None:
    """The loader depends on the file at `path` (or on there being none)."""
    deps = _recording.get()
    if deps is not None:
        deps[os.path.abspath(path)] = _file_sha(os.fspath(path))


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_sha(path: str) -> str | None:
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):  # a FIFO would block, /dev/zero never end
            return f"special {stat.S_IFMT(info.st_mode)}"
        if info.st_size > MAX_HASHED_BYTES:  # refused by its size: the size is what counts
            return f"size {info.st_size} {info.st_mtime_ns}"
        with open(path, "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except OSError:  # missing, a folder, unreadable: "nothing usable there"
        return None


# ------------------------------------------------------------------------------------ the entries


@dataclass(frozen=True, slots=True)
class Case:
    """A rehearsal case as listed: enough to plan and name it without loading the scenario."""

    name: str
    line: int | None
    seed: int
    replay: str | None


@dataclass(frozen=True, slots=True)
class Entry:
    """A file's cached load: its diagnostics, and for a valid file its name and cases."""

    diagnostics: list[Diagnostic]
    valid: bool
    name: str
    cases: list[Case]
    source: bytes  # the file's content as read for the check (what the entry describes)
    signature: str  # changes whenever the file or anything it depends on changes
    dependencies: tuple[str, ...] = ()  # every other path the load read or looked for


def listing(scenario: Any) -> tuple[str, list[Case]]:
    """A scenario's name and cases, as an entry stores them."""
    return scenario.name, [
        Case(r.name, r.loc.line if r.loc else None, r.seed, r.replay) for r in scenario.rehearsals
    ]


# In one process, an entry already checked is trusted again while the file and everything it
# depends on keep their size, modification time and inode — as git trusts its index — unless a
# modification is so recent that a second write within the file system's timestamp resolution
# could hide (git's "racy" rule): then the contents are hashed again.
_CHECKED: dict[tuple[str, str], tuple[tuple[Any, ...], Entry]] = {}
_RACY_NS = 2_000_000_000


def _stats(paths: list[str]) -> tuple[Any, ...] | None:
    """(size, mtime, inode) of each path (None for a missing one); None when one is too recent
    to be trusted."""
    out: list[Any] = []
    now = time.time_ns()
    for p in paths:
        try:
            st = os.stat(p)
        except OSError:
            out.append(None)
            continue
        if now - st.st_mtime_ns < _RACY_NS:
            return None
        out.append((st.st_size, st.st_mtime_ns, st.st_ino))
    return tuple(out)


def lookup(path: str | os.PathLike[str]) -> Entry | None:
    """The entry for `path` when the cache is on, the entry checks out and nothing it depends on
    changed; otherwise None (the caller loads the file afresh and `store`s the result)."""
    folder = cache_dir()
    if folder is None:
        return None
    shown = os.fspath(path)
    memo_key = (folder, shown)
    if (memo := _CHECKED.get(memo_key)) is not None:
        paths = [shown, *memo[1].dependencies]
        if _stats(paths) == memo[0]:
            return memo[1]
        del _CHECKED[memo_key]
    entry = _lookup(folder, shown)
    if entry is not None:
        stats = _stats([shown, *entry.dependencies])
        if stats is not None:
            _CHECKED[memo_key] = (stats, entry)
    return entry


def _lookup(folder: str, shown: str) -> Entry | None:
    try:
        with open(shown, "rb") as f:
            source = f.read()
        with open(_slot_file(folder, shown), "rb") as f:
            raw = f.read(MAX_ENTRY_BYTES + 1)
    except OSError:
        return None
    if len(raw) > MAX_ENTRY_BYTES:
        return None
    doc = _parse(raw, shown)
    if doc is None:
        return None
    deps = doc["deps"]
    me = os.path.abspath(shown)
    if deps.get(me, "") != _sha(source):
        return None
    if any(_file_sha(p) != sha for p, sha in deps.items() if p != me):
        return None
    diagnostics = [_diagnostic_from(d) for d in doc["diagnostics"]]
    sc = doc["scenario"]
    cases = [
        Case(c["name"], c["line"], c["seed"], c["replay"]) for c in (sc or {}).get("cases", [])
    ]
    name = (sc or {}).get("name", "")
    others = tuple(p for p in deps if p != me)
    return Entry(diagnostics, sc is not None, name, cases, source, doc["digest"], others)


def store(
    path: str | os.PathLike[str],
    diagnostics: list[Diagnostic],
    scenario: Any,
    deps: dict[str, str | None],
) -> None:
    """Record a fresh load of `path` (`scenario` None when it is not valid). Never raises."""
    folder = cache_dir()
    if folder is None:
        return
    shown = os.fspath(path)
    me = os.path.abspath(shown)
    if me not in deps:  # loaded from a text given in memory: nothing to key it by
        return
    sc = None
    if scenario is not None:
        name, cases = listing(scenario)
        sc = {"name": name, "cases": [_case_json(c) for c in cases]}
    body = {
        "format": FORMAT,
        "slot": _slot(shown),
        "deps": deps,
        "diagnostics": [_diagnostic_json(d) for d in diagnostics],
        "scenario": sc,
    }
    body["digest"] = _digest(body)
    target = _slot_file(folder, shown)
    try:
        os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target), prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(body, f, ensure_ascii=False, separators=(",", ":"))
            os.replace(tmp, target)
        except BaseException:
            os.unlink(tmp)
            raise
    except (OSError, ValueError):  # read-only, full, or a value JSON cannot hold: no cache
        return
    if int.from_bytes(os.urandom(1), "big") < 256 // PRUNE_EVERY:
        prune(folder)


PRUNE_EVERY = 64  # stores, on average, between two looks for stale entries
MAX_AGE_DAYS = 30


def prune(folder: str, max_age_days: float = MAX_AGE_DAYS) -> int:
    """Remove entries not written for `max_age_days` (a file renamed or deleted, an older
    cviscript or Python leave theirs behind); returns how many. Never raises."""
    cutoff = time.time() - max_age_days * 86400
    removed = 0
    root = os.path.join(folder, f"scenarios-v{FORMAT}")
    try:
        shards = os.listdir(root)
    except OSError:
        return 0
    for shard in shards:
        try:
            names = os.listdir(os.path.join(root, shard))
        except OSError:
            continue
        for name in names:
            path = os.path.join(root, shard, name)
            try:
                if os.stat(path).st_mtime < cutoff:
                    os.unlink(path)
                    removed += 1
            except OSError:
                continue
    return removed


# --------------------------------------------------------------------------------- the key, the file


def _code_fingerprint() -> str:
    """cviscript's version and the state of the modules that decide what a load concludes (so an
    edit of an editable install misses as an upgrade does)."""
    from .. import __version__

    here = os.path.dirname(os.path.abspath(__file__))
    package = os.path.dirname(here)
    parts = [__version__]
    # the language, its trigger kinds, the protocol's event tables, the package's top level
    folders = (here, os.path.join(here, "triggers"), package, os.path.join(package, "protocol"))
    for folder in folders:
        try:
            names = sorted(n for n in os.listdir(folder) if n.endswith((".py", ".json")))
        except OSError:
            continue
        for name in names:
            try:
                st = os.stat(os.path.join(folder, name))
            except OSError:
                continue
            parts.append(f"{name}:{st.st_mtime_ns}:{st.st_size}")
    return _sha("\n".join(parts).encode())


_FINGERPRINT: str | None = None


def _slot(shown: str) -> str:
    global _FINGERPRINT
    if _FINGERPRINT is None:
        _FINGERPRINT = _code_fingerprint()
    key = [
        f"format {FORMAT}",
        f"cviscript {_FINGERPRINT}",
        f"python {sys.implementation.name} {sys.version}",
        f"file {os.path.realpath(shown)}",
        f"shown {shown}",
        # where include: fragments may come from decides what a load concludes
        f"include-root {os.environ.get('CVISCRIPT_INCLUDE_ROOT', '')}",
    ]
    return _sha("\n".join(key).encode("utf-8", "surrogatepass"))


def _slot_file(folder: str, shown: str) -> str:
    slot = _slot(shown)
    return os.path.join(folder, f"scenarios-v{FORMAT}", slot[:2], slot + ".json")


def _digest(body: dict[str, Any]) -> str:
    canonical = json.dumps(
        {k: v for k, v in body.items() if k != "digest"},
        sort_keys=True,
        ensure_ascii=True,
        separators=(",", ":"),
    )
    return _sha(canonical.encode())


def _parse(raw: bytes, shown: str) -> dict[str, Any] | None:
    """The entry's document when it is one this version wrote for `shown`, intact; else None."""
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(doc, dict) or set(doc) != {
        "format",
        "slot",
        "deps",
        "diagnostics",
        "scenario",
        "digest",
    }:
        return None
    if doc["format"] != FORMAT or doc["slot"] != _slot(shown) or doc["digest"] != _digest(doc):
        return None
    deps, diags, sc = doc["deps"], doc["diagnostics"], doc["scenario"]
    if not isinstance(deps, dict) or not all(
        isinstance(k, str) and (v is None or _is_sha(v)) for k, v in deps.items()
    ):
        return None
    if not isinstance(diags, list) or not all(_diagnostic_ok(d) for d in diags):
        return None
    if sc is not None and not _scenario_ok(sc):
        return None
    if sc is not None and any(d["severity"] == "error" for d in diags):
        return None  # a valid scenario has no errors
    return doc


def _is_sha(v: Any) -> bool:
    return isinstance(v, str) and len(v) == 64 and all(c in "0123456789abcdef" for c in v)


def _opt(v: Any, kind: type) -> bool:
    return v is None or (isinstance(v, kind) and not isinstance(v, bool))


def _diagnostic_ok(d: Any) -> bool:
    return (
        isinstance(d, dict)
        and set(d) == {"message", "file", "line", "column", "severity", "code"}
        and isinstance(d["message"], str)
        and isinstance(d["code"], str)
        and d["severity"] in _SEVERITIES
        and _opt(d["file"], str)
        and _opt(d["line"], int)
        and _opt(d["column"], int)
        and (d["file"] is None) == (d["line"] is None) == (d["column"] is None)
    )


def _scenario_ok(sc: Any) -> bool:
    if not isinstance(sc, dict) or set(sc) != {"name", "cases"} or not isinstance(sc["name"], str):
        return False
    cases = sc["cases"]
    return isinstance(cases, list) and all(
        isinstance(c, dict)
        and set(c) == {"name", "line", "seed", "replay"}
        and isinstance(c["name"], str)
        and _opt(c["line"], int)
        and isinstance(c["seed"], int)
        and not isinstance(c["seed"], bool)
        and _opt(c["replay"], str)
        for c in cases
    )


def _diagnostic_json(d: Diagnostic) -> dict[str, Any]:
    loc = d.loc
    return {
        "message": d.message,
        "file": loc.file if loc else None,
        "line": loc.line if loc else None,
        "column": loc.column if loc else None,
        "severity": d.severity,
        "code": d.code,
    }


def _diagnostic_from(d: dict[str, Any]) -> Diagnostic:
    loc = Location(d["file"], d["line"], d["column"]) if d["file"] is not None else None
    return Diagnostic(d["message"], loc, d["severity"], d["code"])


def _case_json(c: Case) -> dict[str, Any]:
    return {"name": c.name, "line": c.line, "seed": c.seed, "replay": c.replay}
