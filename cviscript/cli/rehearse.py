"""`cviscript rehearse PATH...` — run every rehearsal case, report like a test runner, for CI."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from ..errors import UsageError
from ..rehearsal.text import case_line, failure_report, fidelity_report, summary
from .common import (
    EXIT_FAILED,
    EXIT_INVALID,
    EXIT_OK,
    conversation_url,
    fail,
    include_root_option,
    no_cache_option,
    resolve_color,
)

EXIT_NOT_ENDED = 3  # --live: a conversation the run created could not be ended (still billed)
EXIT_INTERRUPTED = 130  # as a shell reports a command ended by Ctrl-C


@click.command(
    "rehearse",
    epilog="""\b
Examples:
  cviscript rehearse scenarios/
  cviscript rehearse scenarios/ examples/ -j 0 --junit out/rehearsal.xml
  cviscript rehearse scenarios/kiosk.yaml -k courier
  cviscript rehearse scenarios/ --repeat 50 --seed-from 1      # hunt races under faults
  cviscript rehearse scenarios/ --repeat 100 -j 0 --min-pass-rate 0.95
  cviscript rehearse scenarios/ --coverage --fail-under 90
  cviscript rehearse scenarios/ --html out/rehearsal.html

\b
-k PATTERN selects cases whose id (FILE::CASE) contains PATTERN (case-insensitive; a glob
when it has * ? [; "not PATTERN" deselects; repeatable, any positive pattern selects).

\b
Exit codes: 0 every case passed, 1 a case failed (or coverage is under --fail-under, or a
pass rate under --min-pass-rate), 2 an invalid scenario file, or wrong usage (a missing path,
no case selected), 3 a live conversation could not be ended, 130 interrupted.""",
)
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option(
    "-k", "patterns", multiple=True, metavar="PATTERN", help="Run only the matching cases."
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=0),
    default=1,
    metavar="N",
    help="Run cases in N processes (0: one per core; default 1).",
)
@click.option(
    "--case-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help="Wall-clock limit for one run of one case; past it the case fails (case-timeout), "
    "its worker is killed and the suite goes on.",
)
@click.option(
    "--shard",
    callback=lambda ctx, param, value: _shard(value),
    metavar="I/N",
    help="Run only shard I of N (1-based), a stable split by case id: N CI machines, one "
    "shard each, together run every case exactly once. Merge their JUnit files afterwards.",
)
@click.option(
    "--repeat",
    type=click.IntRange(min=1),
    default=1,
    metavar="N",
    help="Run each case N times with consecutive seeds and report its pass rate.",
)
@click.option(
    "--seed-from",
    type=int,
    metavar="S",
    help="First seed of the repeats (default: each case's own `seed`).",
)
@click.option(
    "--min-pass-rate",
    callback=lambda ctx, param, value: _rate(value),
    metavar="R",
    help="A case passes when at least R of its runs pass (0.95 or 95%); with --repeat and "
    "faults: a robustness sweep. Each case's pass rate is reported with its 95% confidence "
    "interval (Wilson).",
)
@click.option(
    "--junit",
    "junit_file",
    type=click.Path(dir_okay=False, writable=True),
    metavar="FILE.xml",
    help="Write a JUnit XML report (what CI servers read).",
)
@click.option(
    "--json",
    "json_file",
    type=click.Path(dir_okay=False, writable=True),
    metavar="FILE.json",
    help="Write every result as JSON (with the transcripts of failing runs; of every run with "
    "--html).",
)
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False, writable=True),
    metavar="FILE.html",
    help="Write a self-contained HTML report: per case a timeline, the state diagram and the "
    "failures with their transcripts.",
)
@click.option(
    "--coverage",
    is_flag=True,
    help="Report the states and transitions each scenario's rehearsals never exercised.",
)
@click.option(
    "--fail-under",
    type=click.FloatRange(0, 100),
    metavar="PCT",
    help="Fail when the total coverage is under PCT percent (implies --coverage).",
)
@click.option(
    "--live",
    is_flag=True,
    help="Run the cases against real Tavus conversations (created from conversation.create, "
    "always ended; TAVUS_API_KEY): the real LLM answers, the user rules are played in.",
)
@click.option(
    "--url",
    "live_url",
    metavar="URL",
    callback=conversation_url,
    help="--live: join this conversation (one case).",
)
@click.option(
    "--api-url", metavar="URL", help="--live: the Tavus API (default: TAVUS_API_URL or Tavus's)."
)
@click.option(
    "--max-concurrent",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    metavar="N",
    help="--live: never more conversations at once than this (-j N asks for N).",
)
@click.option(
    "--max-duration",
    type=click.FloatRange(min=1),
    default=300.0,
    show_default=True,
    metavar="SECONDS",
    help="--live: stop a case after this long (also sent as max_call_duration + 60 s).",
)
@click.option(
    "--time-slack",
    type=click.FloatRange(min=1),
    default=2.0,
    show_default=True,
    metavar="X",
    help="--live: expect.duration budgets are multiplied by X on wall time.",
)
@click.option(
    "--visitor",
    type=click.Choice(["text", "voice"]),
    default="text",
    show_default=True,
    help="--live: play the user's say: as conversation.respond text, or spoken through a "
    "virtual microphone (espeak-ng); rules with voice: are always spoken.",
)
@click.option(
    "--transcripts",
    metavar="DIR",
    default="live-transcripts",
    show_default=True,
    help="--live: where each run's transcript is saved (cviscript replay reads them).",
)
@click.option(
    "--strict",
    is_flag=True,
    help="A persona finding (the scenario checked against its persona file at load) is an "
    "error: that file is invalid and its cases do not run.",
)
@no_cache_option
@include_root_option
@click.option("--quiet", "-q", is_flag=True, help="Print only failures and the summary.")
@click.option("--watch", is_flag=True, help="Rehearse again every time a file is saved.")
@click.option("--watch-iterations", type=int, hidden=True, help="Stop watching after N runs.")
@click.option(
    "--color/--no-color", default=None, help="Colour the report (default: when a terminal)."
)
def command(paths: tuple[str, ...], **opts: Any) -> None:
    """Rehearse every case of the scenario files in PATHS (files, or folders searched for
    *.yaml / *.yml files with a top-level `cviscript:` key).

    Each case runs against the simulated replica on a virtual clock (or replays its recorded
    transcript) and its `expect:` is checked. One line per case; for each failure, the expectation,
    what was expected, what happened, and the transcript lines around it.
    """
    args = _Args(paths=paths, **opts)
    if args.watch:  # see cli/watch.py
        from .watch import watch_command

        ctx = click.get_current_context()
        return watch_command(paths, ctx, args.watch_iterations, live=args.live)
    printer = _Printer(resolve_color(args.color), args.quiet)
    try:
        suite, live_summary = _run(args, printer)
    except UsageError as err:
        fail(str(err), EXIT_INVALID)
    if suite.interrupted:
        click.echo("interrupted: reporting the cases that finished", err=True)
    empty_shard = not suite.cases and suite.outside_shard > 0
    if empty_shard and not suite.invalid and not suite.interrupted:
        # more shards than cases: a CI job with nothing to do has succeeded
        index, count = args.shard
        click.echo(
            f"note: shard {index}/{count} has no cases ({suite.outside_shard} in the other "
            "shards): nothing to run",
            err=True,
        )
    elif not suite.cases and not suite.invalid and not suite.interrupted:
        what = "matched -k " + " ".join(map(repr, args.patterns)) if args.patterns else "were found"
        fail(f"no rehearsal cases {what} in {', '.join(paths)}", EXIT_INVALID)
    _write_reports(suite, args)
    # an empty shard has no coverage of its own to judge
    under = _print_coverage(suite, args.fail_under, printer) and not empty_shard
    click.echo(summary(suite, color=printer.color))
    if live_summary is not None:
        _print_live_summary(live_summary, printer)
    for label, file in (("junit", args.junit_file), ("json", args.json_file)):
        if file:
            click.echo(f"  {label}: {file}")
    if args.html_file:
        click.echo(f"  html: {args.html_file}")
    sys.exit(_exit_status(suite, live_summary, under))


@dataclass(frozen=True, slots=True)
class _Args:
    """The command line, as parsed."""

    paths: tuple[str, ...]
    patterns: tuple[str, ...]
    jobs: int
    case_timeout: float
    shard: tuple[int, int] | None
    repeat: int
    seed_from: int | None
    min_pass_rate: float | None
    junit_file: str | None
    json_file: str | None
    html_file: str | None
    coverage: bool
    fail_under: float | None
    live: bool
    live_url: str | None
    api_url: str | None
    max_concurrent: int
    max_duration: float
    time_slack: float
    visitor: str
    transcripts: str
    strict: bool
    quiet: bool
    color: bool | None
    watch: bool
    watch_iterations: int | None


class _Printer:
    """Prints each case as it finishes and each file that could not be loaded."""

    def __init__(self, color: bool, quiet: bool):
        self.color, self.quiet = color, quiet

    def on_collected(self, col: Any) -> None:
        for bad in col.invalid:
            for line in bad.diagnostics:
                click.echo(line, err=True)
            click.echo(
                f"{_red('INVALID', self.color)} {bad.file} (its cases did not run)", err=True
            )

    def on_case(self, case: Any) -> None:
        if not self.quiet or not case.passed:
            click.echo(case_line(case, color=self.color))
        for line in failure_report(case):
            click.echo(line)
        for line in fidelity_report(case, color=self.color):
            click.echo(line)


def _persona_gate(args: _Args, printer: _Printer) -> tuple[tuple[str, ...], list[Any]]:
    """The persona findings of every file (`language.persona_checks`), printed before the run:
    warnings; with ``--strict`` errors, and such a file is left out as invalid. Returns the
    paths to run and the files left out."""
    from ..language.persona_checks import CODES
    from ..language.validate import check_file
    from ..rehearsal.results import InvalidFile
    from ..rehearsal.suite import discover

    files = discover(args.paths)
    keep: list[str] = []
    left_out: list[Any] = []
    for file in files:
        findings = [d for d in check_file(file) if d.code in CODES]
        if args.strict and findings:
            lines = [str(dataclasses.replace(d, severity="error")) for d in findings]
            left_out.append(InvalidFile(file, lines))
            continue
        for d in findings:
            click.echo(str(d), err=True)
        keep.append(file)
    if left_out:
        printer.on_collected(types.SimpleNamespace(invalid=left_out))
    return (tuple(keep) if left_out else args.paths), left_out


def _run(args: _Args, printer: _Printer) -> tuple[Any, Any]:
    """The suite's result (and, live, the conversations' summary)."""
    paths, left_out = _persona_gate(args, printer)
    if left_out:
        args = dataclasses.replace(args, paths=paths)
    if args.live or args.live_url:
        suite, summary = _run_live(args, printer)
        suite.invalid = [*left_out, *suite.invalid]
        return suite, summary
    from ..rehearsal.suite import run_suite

    if not args.paths:
        from ..rehearsal.results import SuiteResult

        return SuiteResult(invalid=left_out), None
    suite = run_suite(
        args.paths,
        patterns=args.patterns,
        jobs=args.jobs,
        repeat=args.repeat,
        seed_from=args.seed_from,
        keep_traces="all" if args.html_file else "failed",
        coverage=args.coverage or args.fail_under is not None,
        on_case=printer.on_case,
        on_collected=printer.on_collected,
        case_timeout=args.case_timeout,
        shard=args.shard,
        min_pass_rate=args.min_pass_rate,
    )
    suite.invalid = [*left_out, *suite.invalid]
    return suite, None


def _refuse_simulated_only(args: _Args) -> None:
    """Options of simulated rehearsal that mean nothing live: refused, not silently ignored."""
    from click.core import ParameterSource

    if args.seed_from is not None:
        fail(
            "--seed-from applies to simulated rehearsal only: a live run has no seeded randomness "
            "(the real replica and network decide); --repeat N runs a case N times",
            EXIT_INVALID,
        )
    source = click.get_current_context().get_parameter_source("case_timeout")
    if source not in (None, ParameterSource.DEFAULT):
        fail(
            "--case-timeout applies to simulated rehearsal only; live, --max-duration SECONDS "
            "stops a case (and bounds its cost on Tavus's side too)",
            EXIT_INVALID,
        )


def _run_live(args: _Args, printer: _Printer) -> tuple[Any, Any]:
    from ..rehearsal.live import LiveSuiteOptions, run_live_suite
    from ..sessions.fake import FAKE_DAILY_ENV
    from ..sessions.live.options import Connection, Limits, LiveOptions
    from ..sessions.live.target import LiveTarget
    from .live_common import cli_logging, status_printer

    _refuse_simulated_only(args)
    if args.transcripts:
        where = os.path.abspath(args.transcripts)
        click.echo(f"live transcripts go to {where}/ (--transcripts DIR)", err=True)

    live = LiveOptions(
        Connection(LiveTarget(url=args.live_url), api_url=args.api_url),
        limits=Limits(max_duration=args.max_duration),
        # the case lines are the report: per-conversation progress would interleave with them
        on_status=status_printer(quiet=True),
    )
    options = LiveSuiteOptions(
        live,
        jobs=args.jobs,
        max_concurrent=args.max_concurrent,
        time_slack=args.time_slack,
        visitor=args.visitor,
        transcripts=args.transcripts,
        fake=os.environ.get(FAKE_DAILY_ENV, "").strip() or None,
    )
    with cli_logging(False):
        return run_live_suite(
            list(args.paths),
            options,
            patterns=tuple(args.patterns),
            repeat=args.repeat,
            on_case=printer.on_case,
            on_collected=printer.on_collected,
            shard=args.shard,
            coverage=args.coverage or args.fail_under is not None,
        )


def _write_reports(suite: Any, args: _Args) -> None:
    if args.junit_file:
        from ..rehearsal import junit

        junit.write(suite, args.junit_file)
    if args.json_file:
        path = Path(args.json_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = json.dumps(suite.to_json(), indent=2, ensure_ascii=False, default=str)
        path.write_text(doc + "\n", encoding="utf-8")
    if args.html_file:
        from ..report.html import write_html

        write_html(suite, args.html_file)


def _print_coverage(suite: Any, fail_under: float | None, printer: _Printer) -> bool:
    """Print the coverage report; True when it is under --fail-under."""
    if suite.coverage is None:
        return False
    from ..rehearsal.coverage import format_coverage

    click.echo("")
    for line in format_coverage(suite.coverage):
        click.echo(line)
    if fail_under is None or suite.coverage.percent >= fail_under - 1e-9:
        return False
    text = f"coverage {suite.coverage.percent:.1f}% is under --fail-under {fail_under:g}%"
    click.echo(_red(text, printer.color))
    return True


def _print_live_summary(ls: Any, printer: _Printer) -> None:
    click.echo(
        f"  live: {ls.conversations} conversation(s) created, {ls.ended} ended;"
        f" {ls.minutes:.1f} conversation-minute(s) used"
    )
    if ls.transcripts:
        click.echo(f"  transcripts: {os.path.abspath(Path(ls.transcripts[0]).parent)}/")
    if ls.not_ended:
        text = f"NOT ENDED (billed until ended): {', '.join(ls.not_ended)}"
        click.echo(_red(text, printer.color))


def _exit_status(suite: Any, live_summary: Any, under: bool) -> int:
    if live_summary is not None and live_summary.not_ended:
        return EXIT_NOT_ENDED
    if suite.interrupted:
        if live_summary is not None and live_summary.interrupted:
            from ..sessions.live.loop import signal_exit_status

            return signal_exit_status(live_summary.interrupted)
        return EXIT_INTERRUPTED
    if suite.invalid:
        return EXIT_INVALID
    return EXIT_FAILED if suite.failed or under else EXIT_OK


def _shard(value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    index, _, count = value.partition("/")
    if not (index.isascii() and index.isdigit() and count.isascii() and count.isdigit()):
        raise click.BadParameter(f"expected I/N such as 2/4, got {value!r}")
    i, n = int(index), int(count)
    if not 1 <= i <= n:
        raise click.BadParameter(f"shard {i}/{n}: I must be between 1 and N")
    return i, n


def _rate(value: str | None) -> float | None:
    """``0.95`` or ``95%``, as a fraction."""
    if value is None:
        return None
    text = value.strip()
    try:
        rate = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise click.BadParameter(
            f"expected a fraction such as 0.95 or a percentage such as 95%, got {value!r}"
        ) from None
    if not 0 <= rate <= 1:
        raise click.BadParameter(f"{value!r} is not between 0 and 1 (0% and 100%)")
    return rate


def _red(text: str, color: bool) -> str:
    return click.style(text, fg="red", bold=True) if color else text
