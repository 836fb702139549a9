"""`--watch`: run a check again every time one of its files is saved.

Polls modification times (no extra dependency, works on every file system, including the
network and container mounts where change notifications are unreliable). What is watched is what
the check reads, not everything under a folder:

* the scenario files: the files given, and the ``.yaml``/``.yml`` files under the folders given,
  found by the walk `rehearse` and `validate` use (`language.files`: dot-folders such as
  ``.git``, ``node_modules``, ``__pycache__``, ``site-packages`` and virtualenvs are skipped),
  at most `MAX_FILES`;
* what each scenario depends on: its ``include:`` fragments, the hook modules its ``call:``
  actions name, its audio and ``replay:`` files — the files loading it read, and the places it
  looked for one in vain (a hook module created there later is a change). They are found by
  loading the scenarios (`language.cache.recording`) at the start and after every change.

Every `interval` seconds the scenario folders are walked again (a new scenario is a change) and
the watched files are looked at; any new, removed or changed file runs the check again.
`iterations` bounds the number of runs (tests, and the hidden ``--watch-iterations``); Ctrl-C
ends the watch with exit status 130, as it ends every other command.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable

import click

from ..language.files import SUFFIXES, yaml_files_under

INTERVAL = 0.5
MAX_FILES = 10_000
EXIT_INTERRUPTED = 130

Snapshot = dict[str, tuple[int, int] | None]


def scenario_files(paths: Iterable[str | os.PathLike[str]]) -> list[str]:
    """The files given, and the YAML files under the folders given (pruned walk, bounded)."""
    found: list[str] = []
    for root in paths:
        root = os.fspath(root)
        if not os.path.isdir(root):
            found.append(root)
            continue
        for path in yaml_files_under(root):
            found.append(path)
            if len(found) >= MAX_FILES:
                return found
    return found


def dependencies(files: Iterable[str]) -> set[str]:
    """Every file loading `files` read or looked for (fragments, hook modules, audio, replays)."""
    from ..language import cache
    from ..language.validate import check_file

    deps: set[str] = set()
    for file in files:
        try:
            with cache.recording() as read:
                check_file(file, cache=False)
        except Exception:  # a file that cannot even be loaded: the check will say why
            continue
        deps.update(read)
        if len(deps) >= MAX_FILES:
            break
    return deps


def snapshot(paths: Iterable[str]) -> Snapshot:
    """path -> (mtime_ns, size), or None for a path with no file."""
    found: Snapshot = {}
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            found[path] = None
            continue
        found[path] = (st.st_mtime_ns, st.st_size)
    return found


class Watched:
    """The scenario files under the given paths and what they depend on."""

    def __init__(self, paths: Iterable[str | os.PathLike[str]]):
        self.paths = list(paths)
        self.files: list[str] = []
        self.deps: set[str] = set()
        self.refresh()

    def refresh(self) -> None:
        """Find the scenario files and load them for their dependencies (after a change)."""
        self.files = scenario_files(self.paths)
        self.deps = dependencies(f for f in self.files if f.lower().endswith(SUFFIXES))

    def look(self) -> Snapshot:
        """One poll: the scenario files found now, and the known dependencies."""
        files = scenario_files(self.paths)
        own = {os.path.abspath(f) for f in files}
        return snapshot([*files, *sorted(d for d in self.deps if d not in own)])


def watch(
    paths: Iterable[str | os.PathLike[str]],
    run_once: Callable[[], object],
    *,
    interval: float = INTERVAL,
    iterations: int | None = None,
    sleep: Callable[[float], None] | None = None,
    echo: Callable[[str], None] = click.echo,
) -> int:
    """Run `run_once` now and again after every change; returns how many times it ran.
    Ctrl-C (KeyboardInterrupt) is left to the caller."""
    sleep = sleep or time.sleep
    watched = Watched(paths)
    runs = 0
    seen = watched.look()
    while True:
        run_once()
        runs += 1
        if iterations is not None and runs >= iterations:
            return runs
        echo(
            f"-- watching {sum(1 for v in seen.values() if v)} file(s) for changes (Ctrl-C to stop)"
        )
        while True:
            sleep(interval)
            now = watched.look()
            if now != seen:
                changed = sorted(k for k in now.keys() | seen.keys() if now.get(k) != seen.get(k))
                echo(f"-- changed: {', '.join(changed[:5])}{' ...' if len(changed) > 5 else ''}")
                watched.refresh()  # a new include or hook module is watched from now on
                seen = watched.look()
                break


def watch_command(paths, ctx: click.Context, iterations: int | None, *, live: bool = False) -> None:
    """`--watch` for a click command: run it again (without --watch) on every save; its exit
    code is printed, not obeyed. Ctrl-C exits 130. A live rehearsal is never re-run on save:
    each run costs."""
    from .common import EXIT_INVALID, fail

    if live:
        fail(
            "--watch is for simulated rehearsals: a live one costs money on every save",
            EXIT_INVALID,
        )
    params = {**ctx.params, "watch": False}

    def once() -> None:
        try:
            ctx.invoke(ctx.command.callback, **params)
        except SystemExit as done:
            click.echo(f"-- exit code {done.code}")

    watch_until_stopped(paths, once, iterations=iterations)


def watch_until_stopped(
    paths: Iterable[str | os.PathLike[str]],
    run_once: Callable[[], object],
    *,
    iterations: int | None = None,
) -> None:
    """`watch`, with Ctrl-C ending the process as it ends every command: exit status 130."""
    try:
        watch(paths, run_once, iterations=iterations)
    except KeyboardInterrupt:
        click.echo("-- stopped (Ctrl-C)", err=True)
        sys.exit(EXIT_INTERRUPTED)
