"""Python hooks: the `call:` action runs a named function (``module:function``) for real data.

A hook is code the scenario's author chose, like a Makefile's commands: running a scenario runs its
hooks. Templates still cannot reach Python (they stay sandboxed); a hook gets only copies of the
event and the variables, never the engine, and gives back one JSON-like value.

How a call runs, so the conversation never waits on it:

* the function (``def`` or ``async def``) is looked up on first use — a module file in the scenario's folder (``hooks.py``,
  ``pkg/mod.py``), loaded under a private name so two folders' ``hooks.py`` never collide, else an
  installed module — and called as ``fn(event, vars)`` in a worker thread of its own;
* live, the engine's clock thread polls the worker (every 2 ms, backing off to 20 ms) and keeps
  handling events meanwhile; when the result is in it is delivered on the clock thread, queued
  like an event so it never lands in the middle of a transition;
* on a virtual clock (rehearsal) virtual time must not pass while real code runs, or runs would
  differ from one machine to the next: the clock thread waits for the worker (bounded by the same
  time limit, in wall time) and delivers the result at the same virtual instant it was asked for;
* a hook that raises, returns something that is not JSON-like (or nested deeper than
  `MAX_RESULT_DEPTH`), or overruns its `timeout` ends the run as an error naming the hook, the
  file:line of its `call:` and, when it raised, the line inside the hook; a late result is
  dropped. It ends the run whatever state comes next: a final state waits for the hooks still
  running (each bounded by its `timeout`) before it completes;
* a hook that cannot be found is an error before the run starts (`hooks_lookup.missing_hooks`);
* a thread a hook starts and leaves running (not a daemon) would keep the process from exiting:
  such threads are noted (`stray_threads`) and the CLI exits anyway after the end calls, naming
  the hook (cli/main.py);
* a rehearsal case can replace a hook with a canned value (`hooks: {module:function: VALUE}`);
  the real function is then never imported.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import importlib
import importlib.util
import inspect
import json
import os
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..clock import VirtualClock
from ..errors import CviscriptError
from ..language.hooks_lookup import module_file
from ..language.model import Call

MAX_RESULT_CHARS = 100_000  # a result larger than this (as JSON) is refused
MAX_RESULT_DEPTH = 64  # lists/dicts nested deeper than this are refused (templates recurse)
_POLL_FIRST, _POLL_MAX = 0.002, 0.02
_lock = threading.Lock()
_cache: dict[tuple[str, str], Callable[..., Any]] = {}


class HookError(CviscriptError):
    """A hook that cannot be found, raised, timed out or returned something unusable."""


def resolve(function: str, folder: str) -> Callable[..., Any]:
    """The callable `module:function`, from `folder` first, then installed modules (cached)."""
    key = (function, folder)
    with _lock:
        found = _cache.get(key)
        if found is not None:
            return found
        module_name, _, attr = function.partition(":")
        module = _load_module(module_name, folder)
        fn = getattr(module, attr, None)
        if not callable(fn):
            raise HookError(f"module {module_name!r} has no function {attr!r}")
        _cache[key] = fn
        return fn


def _load_module(name: str, folder: str) -> Any:
    path = module_file(name, folder)
    if path is not None:
        digest = hashlib.sha1(os.path.abspath(path).encode()).hexdigest()[:12]
        private = f"_cviscript_hooks_{digest}_{name.replace('.', '_')}"
        module = sys.modules.get(private)
        if module is None:
            spec = importlib.util.spec_from_file_location(private, path)
            if spec is None or spec.loader is None:  # pragma: no cover - a .py file loads
                raise HookError(f"cannot load {path}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[private] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[private]
                raise
        return module
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name and name.startswith(e.name):
            raise HookError(
                f"no module {name!r} in the scenario's folder ({folder}) or installed"
            ) from None
        raise


def _depth_over(value: Any, limit: int) -> bool:
    """Whether `value` nests lists/dicts deeper than `limit` (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    seen = 0
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if depth > limit:
            return True
        seen += 1
        if seen > MAX_RESULT_CHARS:  # each container is at least 2 characters of JSON
            return False
        stack.extend((child, depth + 1) for child in children)
    return False


def _jsonable(value: Any, function: str) -> Any:
    if _depth_over(value, MAX_RESULT_DEPTH):
        raise HookError(
            f"hook {function} returned a value nested more than {MAX_RESULT_DEPTH} lists/dicts "
            f"deep; at most {MAX_RESULT_DEPTH} are taken"
        )
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as e:
        raise HookError(
            f"hook {function} returned a {type(value).__name__}, which is not JSON-like "
            f"(str, number, bool, None, list, dict): {e}"
        ) from None
    if len(text) > MAX_RESULT_CHARS:
        raise HookError(
            f"hook {function} returned {len(text):,} characters of JSON; at most "
            f"{MAX_RESULT_CHARS:,} are taken"
        )
    return json.loads(text)  # a plain copy the worker no longer shares


@dataclass(slots=True)
class Pending:
    """A hook call in flight, and what its result is for."""

    action: Call
    state: str | None
    event: Any  # the engine's event when called (answers go to its tool call)
    groups: dict[str, Any]
    thread: threading.Thread | None = None
    outcome: list[Any] = field(default_factory=list)  # [("ok", value)] or [("error", exc)]
    cancelled: bool = False
    handle: Any = None
    started: float = 0.0
    inside: str | None = None  # "hooks.py:12 in lookup": the line inside the hook that raised


_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def where_raised(exc: BaseException, fn: Any = None) -> str | None:
    """The line inside the hook that raised `exc`: the deepest frame in the hook's own file, else
    the deepest frame outside cviscript and the import machinery (a library the hook called);
    "file:line in function", the file relative to the current folder when it is below it."""
    if isinstance(exc, SyntaxError) and exc.filename and exc.lineno:
        return f"{_short(exc.filename)}:{exc.lineno}"
    frames = traceback.extract_tb(exc.__traceback__)
    own = getattr(getattr(fn, "__code__", None), "co_filename", None)
    chosen = None
    for frame in frames:
        name = frame.filename
        in_hook = own is not None and name == own
        outside = not name.startswith("<") and not os.path.abspath(name).startswith(_PACKAGE_DIR)
        if in_hook or (outside and (chosen is None or chosen.filename != own)):
            chosen = frame
    if chosen is None:
        return None
    return f"{_short(chosen.filename)}:{chosen.lineno} in {chosen.name}"


def _short(path: str) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return path
    return path if rel.startswith("..") else rel


# Threads a hook started and left running, by hook name: not daemons, they would keep the process
# from exiting after the run; the CLI exits anyway, naming the hook (cli/main.py).
stray_threads: dict[threading.Thread, str] = {}


def _note_threads(before: set[threading.Thread], function: str) -> None:
    for thread in threading.enumerate():
        if thread not in before and not thread.daemon and thread.is_alive():
            with _lock:
                stray_threads.setdefault(thread, function)


def threads_left() -> list[tuple[str, str]]:
    """(hook, thread name) for each non-daemon thread a hook started that is still running."""
    with _lock:
        return [(hook, t.name) for t, hook in stray_threads.items() if t.is_alive()]


class HookRunner:
    """Starts hook calls and hands their results back to the engine (`deliver`)."""

    def __init__(self, clock: Any, folder: str, deliver: Callable[[Pending], None]):
        self.clock = clock
        self.folder = folder
        self.deliver = deliver
        self.canned: dict[str, Any] = {}  # a rehearsal's `hooks:` replacements
        self.pending: list[Pending] = []

    def start(self, action: Call, state: str | None, event: Any, groups: Any, args: tuple) -> None:
        call = Pending(action, state, event, dict(groups or {}))
        if action.function in self.canned:
            call.outcome.append(("ok", copy.deepcopy(self.canned[action.function])))
            self._later(call, 0.0)
            return
        event_arg, vars_arg = copy.deepcopy(args)
        call.thread = threading.Thread(
            target=self._work,
            args=(call, event_arg, vars_arg),
            name=f"cviscript-hook {action.function}",
            daemon=True,
        )
        call.started = self.clock.now()
        call.thread.start()
        if isinstance(self.clock, VirtualClock):
            call.thread.join(action.timeout)  # virtual time stands still: deterministic
            if not call.outcome:
                call.outcome.append(("timeout", None))
            self._later(call, 0.0)
        else:
            self._later(call, _POLL_FIRST)

    def _work(self, call: Pending, event: Any, vars_: Any) -> None:
        fn = None
        before = set(threading.enumerate())
        try:
            fn = resolve(call.action.function, self.folder)
            result = fn(event, vars_)
            if inspect.iscoroutine(result):  # an `async def` hook runs on a loop of its own
                result = asyncio.run(result)
            call.outcome.append(("ok", _jsonable(result, call.action.function)))
        except BaseException as e:  # the hook's own failure, reported by the engine
            if not isinstance(e, HookError):
                call.inside = where_raised(e, fn)
            call.outcome.append(("error", e))
        finally:
            _note_threads(before, call.action.function)

    def _later(self, call: Pending, delay: float) -> None:
        self.pending.append(call)
        call.handle = self.clock.call_later(delay, self._check, call, delay)

    def _check(self, call: Pending, waited: float) -> None:
        if call.cancelled:
            return
        if not call.outcome:
            if self.clock.now() - call.started >= call.action.timeout:
                call.outcome.append(("timeout", None))
            else:
                delay = min(_POLL_MAX, max(_POLL_FIRST, waited * 2))
                call.handle = self.clock.call_later(delay, self._check, call, delay)
                return
        if call in self.pending:
            self.pending.remove(call)
        self.deliver(call)

    def stop(self) -> None:
        """The run ended: results still coming are dropped."""
        for call in self.pending:
            call.cancelled = True
            if call.handle is not None:
                call.handle.cancel()
        self.pending.clear()


def failure(call: Pending) -> str | None:
    """The error message of a failed call (None when it succeeded)."""
    kind, value = call.outcome[0]
    where = f"{call.action.loc}: " if call.action.loc else ""
    name = call.action.function
    if kind == "ok":
        return None
    if kind == "timeout":
        return f"{where}hook {name} did not return within {call.action.timeout:g}s"
    if isinstance(value, HookError):
        return f"{where}hook {name}: {value}"
    text = str(value)
    if len(text) > 300:
        text = text[:300] + "…"
    inside = f" (at {call.inside})" if call.inside else ""
    return f"{where}hook {name} raised {type(value).__name__}: {text}{inside}"
