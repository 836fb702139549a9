"""`cviscript rehearse PATH...` — run every rehearsal case, report like a test runner, for CI."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ..errors import UsageError
from .common import EXIT_FAILED, EXIT_INVALID, EXIT_OK, fail, no_cache_option


@click.command(
    "rehearse",
    epilog="""\b
Examples:
  cviscript rehearse scenarios/
  cviscript rehearse scenarios/ examples/ -j 0 --junit out/rehearsal.xml
  cviscript rehearse scenarios/kiosk.yaml -k courier
  cviscript rehearse scenarios/ --repeat 50 --seed-from 1      # hunt races under faults:
  cviscript rehearse scenarios/ --coverage --fail-under 90
  cviscript rehearse scenarios/ --html out/rehearsal.html

\b
-k PATTERN selects cases whose id (FILE::CASE) contains PATTERN (case-insensitive; a glob
when it has * ? [; "not PATTERN" deselects; repeatable, any positive pattern selects).

\b
Exit codes: 0 every case passed, 1 a case failed (or coverage is under --fail-under),
2 an invalid scenario file, or wrong usage (a missing path, no case selected).""",
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
@click.option("--url", "live_url", metavar="URL", help="--live: join this conversation (one case).")
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
@no_cache_option
@click.option("--quiet", "-q", is_flag=True, help="Print only failures and the summary.")
@click.option("--watch", is_flag=True, help="Rehearse again every time a file is saved.")
@click.option("--watch-iterations", type=int, hidden=True, help="Stop watching after N runs.")
@click.option(
    "--color/--no-color", default=None, help="Colour the report (default: when a terminal)."
)
def command(
    paths,
    patterns,
    jobs,
    case_timeout,
    shard,
    repeat,
    seed_from,
    junit_file,
    json_file,
    html_file,
    coverage,
    fail_under,
    live,
    live_url,
    api_url,
    max_concurrent,
    max_duration,
    time_slack,
    visitor,
    transcripts,
    quiet,
    color,
    watch,
    watch_iterations,
):
    """Rehearse every case of the scenario files in PATHS (files, or folders searched for
    *.yaml / *.yml files with a top-level `cviscript:` key).

    Each case runs against the simulated replica on a virtual clock (or replays its recorded
    transcript) and its `expect:` is checked. One line per case; for each failure, the expectation,
    what was expected, what happened, and the transcript lines around it.
    """
    if watch:  # see cli/watch.py
        from .watch import watch_command

        return watch_command(paths, click.get_current_context(), watch_iterations, live=live)
    from ..rehearsal.suite import run_suite
    from ..rehearsal.text import case_line, failure_report, summary

    use_color = sys.stdout.isatty() if color is None else color
    coverage = coverage or fail_under is not None

    def on_collected(col) -> None:
        for bad in col.invalid:
            for line in bad.diagnostics:
                click.echo(line, err=True)
            click.echo(f"{_red('INVALID', use_color)} {bad.file} (its cases did not run)", err=True)

    def on_case(case) -> None:
        if not quiet or not case.passed:
            click.echo(case_line(case, color=use_color))
        for line in failure_report(case):
            click.echo(line)

    live_summary = None
    try:
        if live or live_url:
            suite, live_summary = _run_live(
                paths, patterns, jobs, repeat, live_url, api_url, max_concurrent,
                max_duration, time_slack, visitor, transcripts, quiet, on_case, on_collected,
            )  # fmt: skip
        else:
            suite = run_suite(
                paths,
                patterns=patterns,
                jobs=jobs,
                repeat=repeat,
                seed_from=seed_from,
                keep_traces="all" if html_file else "failed",
                coverage=coverage,
                on_case=on_case,
                on_collected=on_collected,
                case_timeout=case_timeout,
                shard=shard,
            )
    except UsageError as err:
        fail(str(err), EXIT_INVALID)

    if suite.interrupted:
        click.echo("interrupted: reporting the cases that finished", err=True)
    if not suite.cases and not suite.invalid and not suite.interrupted:
        what = "matched -k " + " ".join(repr(p) for p in patterns) if patterns else "were found"
        fail(f"no rehearsal cases {what} in {', '.join(paths)}", EXIT_INVALID)

    if junit_file:
        from ..rehearsal import junit

        junit.write(suite, junit_file)
    if json_file:
        Path(json_file).parent.mkdir(parents=True, exist_ok=True)
        Path(json_file).write_text(
            json.dumps(suite.to_json(), indent=2, ensure_ascii=False, default=str) + "\n",
            encoding="utf-8",
        )
    if html_file:
        from ..report.html import write_html

        write_html(suite, html_file)

    under = False
    if suite.coverage is not None:
        from ..rehearsal.coverage import format_coverage

        click.echo("")
        for line in format_coverage(suite.coverage):
            click.echo(line)
        if fail_under is not None and suite.coverage.percent < fail_under - 1e-9:
            under = True
            click.echo(
                _red(
                    f"coverage {suite.coverage.percent:.1f}% is under --fail-under {fail_under:g}%",
                    use_color,
                )
            )
    click.echo(summary(suite, color=use_color))
    if live_summary is not None:
        ls = live_summary
        click.echo(
            f"  live: {ls.conversations} conversation(s) created, {ls.ended} ended;"
            f" {ls.minutes:.1f} conversation-minute(s) used"
        )
        if ls.transcripts:
            click.echo(f"  transcripts: {Path(ls.transcripts[0]).parent}")
        if ls.not_ended:
            click.echo(
                _red(f"NOT ENDED (billed until ended): {', '.join(ls.not_ended)}", use_color)
            )
            sys.exit(3)
    if junit_file:
        click.echo(f"  junit: {junit_file}")
    if json_file:
        click.echo(f"  json: {json_file}")
    if html_file:
        click.echo(f"  html: {html_file}")
    if suite.interrupted:
        if live_summary is not None and live_summary.interrupted:
            from ..sessions.live.loop import signal_exit_status

            sys.exit(signal_exit_status(live_summary.interrupted))
        sys.exit(EXIT_INTERRUPTED)
    if suite.invalid:
        sys.exit(EXIT_INVALID)
    sys.exit(EXIT_FAILED if suite.failed or under else EXIT_OK)


EXIT_INTERRUPTED = 130  # as a shell reports a command ended by Ctrl-C


def _run_live(paths, patterns, jobs, repeat, url, api_url, max_concurrent, max_duration,
              time_slack, visitor, transcripts, quiet, on_case, on_collected):  # fmt: skip
    import os

    from ..rehearsal.live import LiveOptions, run_live_suite
    from .live_common import FAKE_DAILY_ENV, cli_logging, status_printer

    options = LiveOptions(
        url=url,
        api_url=api_url,
        jobs=jobs,
        max_concurrent=max_concurrent,
        max_duration=max_duration,
        time_slack=time_slack,
        visitor=visitor,
        transcripts=transcripts,
        fake=os.environ.get(FAKE_DAILY_ENV, "").strip() or None,
        on_status=status_printer(quiet or True),
    )
    with cli_logging(False):
        return run_live_suite(
            list(paths), options, patterns=tuple(patterns), repeat=repeat,
            on_case=on_case, on_collected=on_collected,
        )  # fmt: skip


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


def _red(text: str, color: bool) -> str:
    return click.style(text, fg="red", bold=True) if color else text
