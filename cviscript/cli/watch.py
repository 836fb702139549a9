"""`--watch`: run a check again every time one of its files is saved.

Polls modification times (no extra dependency, works on every file system, including the
network and container mounts where change notifications are unreliable): every `interval`
seconds the files under the given paths (scenario folders are searched for ``.yaml``/``.yml``
files, at most `MAX_FILES`) are looked at; any new, removed or changed file runs the check again.
`iterations` bounds the number of runs (tests, and the hidden ``--watch-iterations``); Ctrl-C
ends the watch.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import click

INTERVAL = 0.5
MAX_FILES = 10_000
WATCHED = (".yaml", ".yml", ".wav", ".jsonl", ".py")


def snapshot(paths: Iterable[str | os.PathLike[str]]) -> dict[str, tuple[int, int]]:
    """path -> (mtime_ns, size) of every watched file under `paths`."""
    found: dict[str, tuple[int, int]] = {}
    for root in paths:
        p = Path(root)
        candidates = (
            [p]
            if not p.is_dir()
            else (f for f in sorted(p.rglob("*")) if f.suffix.lower() in WATCHED)
        )
        for f in candidates:
            if len(found) >= MAX_FILES:
                return found
            try:
                st = f.stat()
            except OSError:
                continue  # removed meanwhile: missing from the snapshot is a change too
            found[str(f)] = (st.st_mtime_ns, st.st_size)
    return found


def watch(
    paths: Iterable[str | os.PathLike[str]],
    run_once: Callable[[], object],
    *,
    interval: float = INTERVAL,
    iterations: int | None = None,
    sleep: Callable[[float], None] | None = None,
    echo: Callable[[str], None] = click.echo,
) -> int:
    """Run `run_once` now and again after every change; returns how many times it ran."""
    sleep = sleep or time.sleep
    paths = list(paths)
    runs = 0
    seen = snapshot(paths)
    try:
        while True:
            run_once()
            runs += 1
            if iterations is not None and runs >= iterations:
                return runs
            echo(f"-- watching {len(seen)} file(s) for changes (Ctrl-C to stop)")
            while True:
                sleep(interval)
                now = snapshot(paths)
                if now != seen:
                    changed = sorted(
                        k for k in now.keys() | seen.keys() if now.get(k) != seen.get(k)
                    )
                    seen = now
                    echo(
                        f"-- changed: {', '.join(changed[:5])}{' ...' if len(changed) > 5 else ''}"
                    )
                    break
    except KeyboardInterrupt:
        return runs


def watch_command(paths, ctx: click.Context, iterations: int | None, *, live: bool = False) -> None:
    """`--watch` for a click command: run it again (without --watch) on every save; its exit
    code is printed, not obeyed. A live rehearsal is never re-run on save: each run costs."""
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

    watch(paths, once, iterations=iterations)
