"""Run rehearsal cases on worker processes that can be killed: `rehearse -j N`.

Why not `concurrent.futures.ProcessPoolExecutor`: one task per case made `-j 2` barely faster than
`-j 1` (each case pickled, queued and loaded its scenario again), a stuck case could not be
stopped (a future cannot be cancelled once running), and a worker killed by the OOM killer broke
the whole pool (`BrokenProcessPool`) and lost every finished result.

Here each worker owns a pipe. It is handed a batch of cases of one file at a time (so it loads
that scenario once) and sends each result back as soon as it has it; it runs its batch back to
back, so a case starts when the one before it reported (or when the batch was handed over), and
the parent needs no "started" message (half the messages: a 5,000-run sweep spent a second of
the parent's CPU, on a machine whose two cores the workers want). Workers outlive one batch list
(`WorkerPool.run` may be called again): `rehearse` first has them load and list the files the
scenario cache does not know, then gives each worker the cases of the files it loaded, so no file
is loaded twice and no worker waits for another. The parent watches every worker's current case:
past `case_timeout` seconds the worker is killed, the case fails with `case-timeout`, and a fresh worker takes the rest of
the batch; a worker that dies (its pipe closes) costs only the case it was running
(`worker-lost`). Workers ignore SIGINT: Ctrl-C reaches the parent, which kills them and returns
what finished (`interrupted`).
"""

from __future__ import annotations

import multiprocessing
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any

Task = tuple[str, str, Any, Any]  # (file, case, seed, keep_traces): what run_case needs
Runner = Callable[[Task], Any]  # runs one task in a worker
Lost = Callable[[Task, str, str, float], Any]  # (task, code, reason, wall) -> a failed result


def _context() -> Any:
    # fork: a worker starts in milliseconds with cviscript already imported
    if sys.platform == "linux":
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _worker(conn: Connection, runner: Runner) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    while True:
        batch = conn.recv()
        if batch is None:
            return
        for index, task in batch:
            conn.send((index, runner(task)))


class _Worker:
    def __init__(self, ctx: Any, runner: Runner):
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker, args=(child, runner), daemon=True)
        self.process.start()
        child.close()
        self.pending: deque[tuple[int, Task]] = deque()  # handed over, not finished
        self.files: set[str] = set()  # of every task it was given: the scenarios it has loaded
        self.current: int | None = None
        self.started = 0.0

    def give(self, batch: list[tuple[int, Task]]) -> None:
        if not self.pending:  # idle: it starts on the batch's first case now
            self.current, self.started = batch[0][0], time.monotonic()
        self.pending.extend(batch)
        self.files.update(task[0] for _, task in batch)
        self.conn.send(batch)

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()


def batches(
    tasks: Sequence[Task], workers: int, *, by_file: bool = True
) -> deque[list[tuple[int, Task]]]:
    """Consecutive runs of tasks (of one file, `by_file`), a few per worker so the load stays
    balanced."""
    size = max(1, min(32, len(tasks) // (workers * 4)))
    out: deque[list[tuple[int, Task]]] = deque()
    for index, task in enumerate(tasks):
        if out and len(out[-1]) < size and (not by_file or out[-1][-1][1][0] == task[0]):
            out[-1].append((index, task))
        else:
            out.append([(index, task)])
    return out


# A worker is handed its next batch while it still has this many tasks to run, so it never waits
# for the parent (a busy machine can leave the parent unscheduled for milliseconds at a time).
PREFETCH = 1


def _next_batch(w: _Worker, pool: list[_Worker], todo: deque[list[tuple[int, Task]]]) -> Any:
    """The batch `w` should take: one of a file it has already loaded, else one of a file no
    other worker has, else the first (it then loads that file itself: no worker ever waits
    for another's files)."""
    others = set().union(*(o.files for o in pool if o is not w))
    fallback = None
    for i, batch in enumerate(todo):
        file = batch[0][1][0]
        if file in w.files:
            break
        if fallback is None and file not in others:
            fallback = i
    else:
        i = 0 if fallback is None else fallback
    batch = todo[i]
    del todo[i]
    return batch


class WorkerPool:
    """Worker processes that stay up between `run` calls (each keeps the scenarios it loaded):
    `rehearse` lists the files the scenario cache does not know on them, then runs the cases,
    each file's preferably on the worker that loaded it."""

    def __init__(self, size: int, runner: Runner, lost: Lost):
        self.ctx = _context()
        self.size, self.runner, self.lost = max(1, size), runner, lost
        self.workers: list[_Worker] = []

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for w in self.workers:
            w.kill()
        self.workers = []

    def run(
        self,
        tasks: Sequence[Task],
        on_result: Callable[[int, Any], None],
        case_timeout: Callable[[Task], float | None],
        *,
        per_worker: int = 1,
        by_file: bool = True,
    ) -> bool:
        """Run `tasks`, calling `on_result(index, result)` as each finishes (in completion
        order). False when interrupted by Ctrl-C (finished results were delivered; the rest were
        not run, and the workers are gone). A new worker is started only for at least
        `per_worker` tasks: on a tiny suite, forking one and loading a scenario into it costs
        more than the cases it would take. `by_file`: a batch holds one file's tasks (cases,
        so the file is loaded once); without it, several files' (listing them)."""
        todo = batches(tasks, self.size, by_file=by_file)
        wanted = min(self.size, len(todo), max(1, len(tasks) // max(1, per_worker)))
        try:
            while len(self.workers) < wanted:
                self.workers.append(_Worker(self.ctx, self.runner))
            for _ in range(1 + PREFETCH):
                for w in self.workers:
                    if todo:
                        w.give(_next_batch(w, self.workers, todo))
            self._drive(tasks, todo, on_result, case_timeout)
            return True
        except KeyboardInterrupt:
            self.close()
            return False

    def _drive(self, tasks, todo, on_result, case_timeout) -> None:
        pool, remaining = self.workers, len(tasks)
        while remaining:
            now = time.monotonic()
            deadline = None
            for w in pool:
                limit = case_timeout(tasks[w.current]) if w.current is not None else None
                if limit is not None:
                    left = w.started + limit - now
                    deadline = left if deadline is None else min(deadline, left)
            ready = wait(
                [w.conn for w in pool],
                timeout=max(0.0, deadline or 0.0) if deadline is not None else None,
            )
            for w in list(pool):
                if w.conn in ready:
                    try:
                        message = w.conn.recv()
                    except (EOFError, OSError):
                        remaining -= self._replace(w, on_result, tasks, "worker-lost", todo)
                        continue
                    w.pending.popleft()
                    # the next case of its batch started as this one finished
                    w.current = w.pending[0][0] if w.pending else None
                    w.started = time.monotonic()
                    on_result(*message)
                    remaining -= 1
                    if len(w.pending) <= PREFETCH and todo:
                        w.give(_next_batch(w, pool, todo))
                elif w.current is not None:
                    limit = case_timeout(tasks[w.current])
                    if limit is not None and time.monotonic() - w.started >= limit:
                        remaining -= self._replace(w, on_result, tasks, "case-timeout", todo)

    def _replace(self, w, on_result, tasks, code, todo) -> int:
        return _replace(
            w, self.workers, self.ctx, self.runner, self.lost, on_result, tasks, code, todo
        )


def _replace(
    w: _Worker,
    pool: list[_Worker],
    ctx: Any,
    runner: Runner,
    lost: Lost,
    on_result: Callable[[int, Any], None],
    tasks: Sequence[Task],
    code: str,
    todo: deque[list[tuple[int, Task]]],
) -> int:
    """Kill `w`, report its current case as `code`, and start a worker for the rest of its batch.
    Returns how many tasks were settled (1, or 0 when it died between cases)."""
    wall = time.monotonic() - w.started if w.current is not None else 0.0
    w.kill()
    pool.remove(w)
    settled = 0
    rest = list(w.pending)  # rest[0] is the case it was running (or about to start)
    if rest:
        index, task = rest.pop(0)
        if code == "case-timeout":
            reason = f"the case ran longer than its {wall:.0f} s wall-clock limit (--case-timeout)"
        else:
            reason = f"the worker process running this case died (pid {w.process.pid}, exit code {w.process.exitcode}); killed by the OOM killer or a signal?"
        on_result(index, lost(task, code, reason, wall))
        settled = 1
    if rest or todo:
        fresh = _Worker(ctx, runner)
        fresh.give(rest or todo.popleft())
        pool.append(fresh)
    return settled
