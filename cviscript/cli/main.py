"""`cviscript` — the command group. Subcommands are imported only when used, so `--help` is fast."""

from __future__ import annotations

import importlib
import os
import sys

import click

from .. import __version__

# name -> (module, short help). The module defines a click command named `command`.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("cviscript.cli.run", "Run a scenario live, or against the simulated replica."),
    "validate": ("cviscript.cli.validate", "Check scenario files and report every problem."),
    "rehearse": ("cviscript.cli.rehearse", "Run every rehearsal case (for CI): JUnit, coverage."),
    "replay": ("cviscript.cli.replay", "Replay a recorded transcript and diff what is sent."),
    "calibrate": ("cviscript.cli.calibrate", "Measure replica settings from live transcripts."),
    "listen": ("cviscript.cli.listen", "Join a live conversation and print its events."),
    "send": ("cviscript.cli.send", "Send one interaction to a live conversation."),
    "schema": ("cviscript.cli.schema", "Print the JSON Schema of scenario files (for editors)."),
    "graph": ("cviscript.cli.graph", "Draw a scenario's state machine (Mermaid, DOT, SVG, PNG)."),
    "init": ("cviscript.cli.init", "Write a starter scenario whose rehearsal passes."),
    "fire": ("cviscript.cli.fire", "Fire an operator transition in a running `run --control`."),
    "persona": ("cviscript.cli.persona", "Pull your Tavus persona into the file rehearsals use."),
}

EXIT_CODES_HELP = """\b
Exit codes:
  0    the run completed / every file is valid / every rehearsal passed
  1    the run failed, timed out or hit an error (or a rehearsal failed)
  2    invalid scenario or wrong usage
  3    cannot reach Tavus, Daily or the replica, or could not end a
       conversation the run created
  4    the run was stopped at the --interactive prompt (/quit)
  130  stopped by Ctrl-C (SIGINT); 143: stopped by SIGTERM"""


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module = importlib.import_module(COMMANDS[name][0])
        return module.command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, epilog=EXIT_CODES_HELP)
@click.version_option(__version__, prog_name="cviscript")
def cli() -> None:
    """Drive Tavus conversational video replicas from YAML scenarios.

    A scenario is a state machine: states send interactions (echo, respond, interrupt, context,
    sensitivity), transitions fire on what the replica and the user do. Run it live against a
    Tavus conversation, or rehearse it against the built-in simulated replica in milliseconds.

    \b
    Start here:
      cviscript validate scenarios/product-demo.yaml
      cviscript run scenarios/product-demo.yaml          # simulated replica
      cviscript run scenarios/product-demo.yaml --transcript run.jsonl
    """


def main() -> None:
    try:
        cli(prog_name="cviscript")
    except SystemExit as done:
        _exit_past_hook_threads(done.code)
        raise


def _exit_past_hook_threads(code: object) -> None:
    """A `call:` hook that started a thread and left it running (not a daemon) would keep the
    process alive after the run, its end calls made, until that thread ends — in CI, until the
    job's timeout. Exit anyway with the run's code, naming the hook."""
    hooks = sys.modules.get("cviscript.engine.hooks")
    left = hooks.threads_left() if hooks is not None else []
    if not left:
        return
    for hook, thread in left:
        click.echo(
            f"cviscript: hook {hook} left a thread running ({thread!r}, not a daemon); "
            "exiting without waiting for it",
            err=True,
        )
    if isinstance(code, str):
        click.echo(code, err=True)
    status = code if isinstance(code, int) else (0 if code is None else 1)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
