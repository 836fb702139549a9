"""`cviscript validate FILE...` — load and check scenario files, reporting every problem found."""

from __future__ import annotations

import sys

import click

from .common import EXIT_INVALID, EXIT_OK


@click.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--quiet", "-q", is_flag=True, help="Print problems only, not the ok lines.")
def command(files, quiet):
    """Check each scenario FILE: YAML, keys, types, states, regexes, templates, durations.

    Every problem is printed as FILE:LINE:COL: severity: message, so editors and CI annotate the
    right line. Exit code 2 if any file has an error.
    """
    from ..validate import check_file

    errors = 0
    for path in files:
        diagnostics = check_file(path)
        for diag in diagnostics:
            click.echo(str(diag), err=True)
        n = sum(1 for d in diagnostics if d.severity == "error")
        errors += n
        if not n and not quiet:
            click.echo(f"{path}: ok")
    if errors:
        click.echo(f"{errors} error{'s' if errors != 1 else ''} in {len(files)} file(s)", err=True)
    sys.exit(EXIT_INVALID if errors else EXIT_OK)
