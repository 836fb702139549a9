"""The pytest plugin: every rehearsal case of a scenario file is a test item.

Registered through the ``pytest11`` entry point, so installing cviscript is enough::

    pytest scenarios/                 # each rehearsal case is a test
    pytest scenarios/ -n 4            # spread over cores with pytest-xdist
    pytest scenarios/kiosk.yaml -k courier

Only cviscript scenarios are collected — ``*.yaml`` / ``*.yml`` files with a top-level
``cviscript:`` key — and only when asked, so a project's other YAML (and YAML fixtures under
``tests/``) never become tests by accident:

* a scenario file named on the command line, or under a folder named on the command line
  (``pytest scenarios/``); folders reached only through `testpaths` do not count;
* with the ini option ``cviscript_paths`` (folders, relative to the ini file), scenario files under
  them are collected whenever pytest walks them (through `testpaths` too), and folders named on the
  command line no longer collect scenarios outside them — explicitly named files still do.

``-p no:cviscript`` turns the plugin off.

The failure report of an item is the one `cviscript rehearse` prints (`rehearsal.text`): each
unmet expectation with its code, what was expected, what happened, and the transcript around it.
A scenario that does not load is a collection error listing every diagnostic.

Each case gets the wall-clock limit ``cviscript rehearse --case-timeout`` gives it (60 s unless the
ini option ``cviscript_case_timeout`` or ``--cviscript-case-timeout SECONDS`` says otherwise; 0: no
limit): past it the item fails with ``case-timeout`` and the session goes on. Here the case runs in
pytest's own process, which cannot be killed as `rehearse` kills a worker, so the limit is a
``SIGALRM`` timer that interrupts the run (the engine runs Python code throughout; regex searches
and templates are bounded). Where there is no ``SIGALRM`` (Windows), off the main thread, or when
another plugin's alarm is already armed (pytest-timeout), the case runs without the limit.

pytest-xdist: cases are plain (file, case name) pairs run by `rehearsal.suite.run_case`, so xdist's
workers — local processes or remote machines (``--tx ssh=...``) — run them with no distribution
code here. The one thing a worker cannot know is which paths were named on the controller's
command line (a worker sees the arguments, not where they came from); the controller passes them
along in `workerinput`, relative to the rootdir so they also hold on a remote machine.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

INI_PATHS = "cviscript_paths"
INI_TIMEOUT = "cviscript_case_timeout"
_EXPLICIT = pytest.StashKey[list[Path]]()
_TIMEOUT = pytest.StashKey[float | None]()
_WORKER_KEY = "cviscript_explicit"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        INI_PATHS,
        type="paths",
        default=[],
        help="cviscript: folders whose scenario files (*.yaml with a top-level `cviscript:` key) "
        "are collected as rehearsal tests; when set, other folders' scenarios are collected only "
        "when a file is named on the command line",
    )
    parser.addini(
        INI_TIMEOUT,
        default="60",
        help="cviscript: wall-clock seconds one rehearsal case may run before it fails with "
        "case-timeout (as `cviscript rehearse --case-timeout`); 0: no limit",
    )
    parser.getgroup("cviscript").addoption(
        "--cviscript-case-timeout",
        metavar="SECONDS",
        type=float,
        default=None,
        help=f"wall-clock limit for one rehearsal case (overrides the {INI_TIMEOUT} ini option)",
    )


def case_timeout(config: pytest.Config) -> float | None:
    """The per-case wall-clock limit in seconds, None for none."""
    value = config.getoption("--cviscript-case-timeout")
    if value is None:
        raw = str(config.getini(INI_TIMEOUT)).strip()
        try:
            value = float(raw)
        except ValueError:
            raise pytest.UsageError(
                f"{INI_TIMEOUT} = {raw!r}: expected a number of seconds (0: no limit)"
            ) from None
    return value if value > 0 else None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "rehearsal: a cviscript rehearsal case")
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and _WORKER_KEY in workerinput:
        explicit = [(config.rootpath / p).resolve() for p in workerinput[_WORKER_KEY]]
    elif config.args_source == pytest.Config.ArgsSource.ARGS:
        base = config.invocation_params.dir
        explicit = [(base / a.split("::")[0]).resolve() for a in config.args]
    else:
        explicit = []
    config.stash[_EXPLICIT] = explicit
    config.stash[_TIMEOUT] = case_timeout(config)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: tell each worker which paths the command line named."""
    config = node.config
    node.workerinput[_WORKER_KEY] = [
        os.path.relpath(p, config.rootpath) for p in config.stash.get(_EXPLICIT, [])
    ]


def _under(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _wanted(config: pytest.Config, path: Path) -> bool:
    path = path.resolve()
    explicit = config.stash.get(_EXPLICIT, [])
    if any(path == p for p in explicit):
        return True
    roots = [Path(p).resolve() for p in config.getini(INI_PATHS)]
    if roots:
        return any(_under(path, r) for r in roots)
    return any(p.is_dir() and _under(path, p) for p in explicit)


def _shown(path: Path, base: Path) -> str:
    """`path` as the user would type it from where pytest was started (reports, locations)."""
    return os.path.relpath(path, base) if _under(path.resolve(), base.resolve()) else str(path)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix.lower() not in (".yaml", ".yml"):
        return None
    if not _wanted(parent.config, file_path):
        return None
    from ..language.files import is_scenario_file

    if not is_scenario_file(file_path):
        return None
    return ScenarioFile.from_parent(parent, path=file_path)


class ScenarioFile(pytest.File):
    """One scenario file: its rehearsal cases are the items."""

    def collect(self):
        from .suite import listing

        _, cases = listing(str(self.path))  # from the scenario cache when it knows the file
        for case in cases:
            yield RehearsalItem.from_parent(self, name=case.name, case=case.name, line=case.line)

    def repr_failure(self, excinfo, style=None):  # type: ignore[override]
        from ..errors import ScenarioError

        if excinfo.errisinstance(ScenarioError):
            diags = excinfo.value.diagnostics
            n = sum(1 for d in diags if d.severity == "error")
            lines = [str(d) for d in diags if d.severity == "error"]
            return "\n".join([*lines, f"invalid scenario: {n} error{'s' if n != 1 else ''}"])
        return super().repr_failure(excinfo, style=style)


class RehearsalFailed(Exception):
    """A rehearsal case did not pass; carries its `CaseResult` for the report."""

    def __init__(self, case: Any):
        super().__init__(case.id)
        self.case = case


class RehearsalItem(pytest.Item):
    def __init__(self, *, case: str, line: int | None, **kwargs: Any):
        super().__init__(**kwargs)
        self.case = case
        self.line = line
        self.add_marker(pytest.mark.rehearsal)

    def runtest(self) -> None:
        from .results import CaseResult
        from .suite import load, run_case

        file = _shown(self.path, self.config.invocation_params.dir)
        scenario = load(file)
        limit = self.config.stash[_TIMEOUT]
        run, wall = _run_limited(lambda: run_case(file, self.case, scenario=scenario), limit)
        if run is None:
            run = _timed_out(scenario, self.case, limit, wall)
        self.user_properties += [
            ("virtual_duration", f"{run.duration:.3f}"),
            ("seed", run.seed),
            ("outcome", run.outcome),
        ]
        if not run.passed:
            case = CaseResult(file, scenario.name, self.case, self.line, None, [run])
            raise RehearsalFailed(case)

    def repr_failure(self, excinfo, style=None):  # type: ignore[override]
        if isinstance(excinfo.value, RehearsalFailed):
            from .text import failure_report

            case = excinfo.value.case
            run = case.runs[0]
            head = (
                f"rehearsal {case.case!r} failed: the run ended {run.outcome} "
                f"({run.reason}) after {run.duration:.1f}s virtual"
            )
            return "\n".join([head, *failure_report(case)])
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        line = self.line - 1 if self.line else None
        return self.path, line, f"rehearsal: {self.case}"


class _CaseTimeout(BaseException):
    """Raised by the alarm inside a run that passed its limit (a BaseException, so that the
    run's own `except Exception` — which reports cviscript crashes — lets it through)."""


_UNSET = object()


def _run_limited(fn: Any, limit: float | None) -> tuple[Any, float]:
    """(fn(), wall seconds), or (None, wall) when fn ran past `limit` seconds and was stopped
    (see the module docstring for when no limit can be set)."""
    armed = False

    def alarm(_signum: int, _frame: Any) -> None:
        if armed:  # a signal already on its way when the timer was disarmed is ignored
            raise _CaseTimeout

    old_handler: Any = _UNSET
    if (
        limit is not None
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    ):
        old_handler = signal.signal(signal.SIGALRM, alarm)
        if signal.getitimer(signal.ITIMER_REAL)[0] > 0:  # another plugin's alarm: leave it be
            signal.signal(signal.SIGALRM, old_handler)
            old_handler = _UNSET
        else:
            armed = True
            # and again every 0.25 s: a signal handler can run inside a finaliser (a __del__ or
            # a garbage-collection callback), where Python swallows what it raises
            signal.setitimer(signal.ITIMER_REAL, limit, 0.25)
    started = time.perf_counter()
    try:
        try:
            return fn(), time.perf_counter() - started
        finally:
            if armed:
                armed = False
                signal.setitimer(signal.ITIMER_REAL, 0)
    except _CaseTimeout:
        return None, time.perf_counter() - started
    finally:
        if old_handler is not _UNSET:
            signal.signal(signal.SIGALRM, old_handler)


def _timed_out(scenario: Any, case: str, limit: float | None, wall: float) -> Any:
    """The failed run of a case stopped at its wall-clock limit, as `rehearse` reports it."""
    from .results import Failure
    from .suite import failed_run

    reason = (
        f"the case ran longer than its {limit:g} s wall-clock limit "
        f"({INI_TIMEOUT} / --cviscript-case-timeout)"
    )
    reh = scenario.rehearsal(case)
    seed = reh.seed if reh is not None else 0
    return failed_run(
        seed, Failure(code="case-timeout", expectation="run", message=reason), wall=wall
    )
