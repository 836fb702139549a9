"""`cviscript validate FILE...` — load and check scenario files, reporting every problem found.

Errors (the file is not a valid scenario: it will not run) come from `cviscript.language.validate`; warnings
(it runs, but something can never behave as written) from the validator's own checks and the lint
rules of `cviscript.language.lint`. Human output is one ``FILE:LINE:COL: severity: message [code]`` line per
problem, errors before warnings, so editors and CI annotate the right line; ``--format json`` prints
one stable JSON document for tools (`report`).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from ..printable import printable
from .common import EXIT_FAILED, EXIT_INVALID, EXIT_OK, fail, include_root_option, no_cache_option

JSON_FORMAT_VERSION = 1


@click.command(
    "validate",
    epilog="""\b
Examples:
  cviscript validate scenarios/*.yaml
  cviscript validate --strict demo.yaml          # warnings fail too (CI)
  cviscript validate --format json demo.yaml     # for tools

\b
Exit codes: 0 no errors (and, with --strict, no warnings), 1 warnings only
with --strict, 2 errors in some file.""",
)
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option("--quiet", "-q", is_flag=True, help="Print problems only, not the ok lines.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["human", "json"]),
    default="human",
    show_default=True,
    help="human: FILE:LINE:COL lines; json: one JSON document on stdout.",
)
@click.option("--strict", is_flag=True, help="Exit 1 when there are warnings (and no errors).")
@click.option(
    "--watch", is_flag=True, help="Check again every time a file is saved (Ctrl-C stops)."
)
@click.option("--watch-iterations", type=int, hidden=True, help="Stop watching after N checks.")
@no_cache_option
@include_root_option
def command(files, quiet, fmt, strict, watch, watch_iterations):
    """Check each scenario FILE: YAML, keys, types, states, regexes, templates, durations, and
    the graph (unreachable states, dead ends, transitions and timers that can never fire,
    variables never defined, unknown event types).

    Every problem is printed as FILE:LINE:COL: severity: message [code]; errors first, then
    warnings. A FILE may be a folder: every scenario and include: fragment under it. A fragment
    (vars, any and states only) is checked as one: on its own, and in each scenario near it
    that includes it; a problem in a fragment names the scenario that included it.
    """
    files = _expand(files)
    if watch:
        from .watch import watch_until_stopped

        check = lambda: _check(files, quiet, fmt, strict)  # noqa: E731
        watch_until_stopped(files, check, iterations=watch_iterations)
        return
    sys.exit(_check(files, quiet, fmt, strict))


def _expand(paths: tuple[str, ...]) -> list[str]:
    """Folders become the scenario files and fragments under them (hidden folders skipped)."""
    import os

    out: list[str] = []
    for raw in paths:
        if not os.path.isdir(raw):
            out.append(raw)
            continue
        from ..language.fragments import fragments_under
        from ..rehearsal.suite import discover

        found = sorted(set(discover([raw])) | {os.path.normpath(p) for p in fragments_under(raw)})
        if not found:
            fail(f"{raw}: no scenario files or fragments under this folder", EXIT_INVALID)
        out += [p for p in found if p not in out]
    return out


def _diagnostics(path: str) -> list[Any]:
    """From the scenario cache when the file and what it includes are unchanged (without even
    importing the validator), else a fresh check (which fills the cache)."""
    from ..language.cache import lookup
    from ..language.fragments import looks_like_fragment

    if looks_like_fragment(path):
        from ..language.fragments import check_fragment

        return check_fragment(path)
    if (entry := lookup(path)) is not None:
        return entry.diagnostics
    from ..language.validate import check_file

    return check_file(path)


def _check(files, quiet, fmt, strict) -> int:
    results = [(path, _diagnostics(path)) for path in files]
    doc = report(results)
    if fmt == "json":
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        _print_human(doc, quiet, strict)
    errors, warnings = doc["summary"]["errors"], doc["summary"]["warnings"]
    return exit_code(errors, warnings, strict)


def exit_code(errors: int, warnings: int, strict: bool) -> int:
    if errors:
        return EXIT_INVALID
    return EXIT_FAILED if strict and warnings else EXIT_OK


def _diagnostic(d: Any) -> dict[str, Any]:
    return {
        "code": d.code,
        "severity": d.severity,
        "message": d.message,
        "file": d.loc.file if d.loc else None,
        "line": d.loc.line if d.loc else None,
        "column": d.loc.column if d.loc else None,
    }


def report(results: list[tuple[str, list[Any]]]) -> dict[str, Any]:
    """The JSON document: per file its errors and warnings (each in file order), and totals.

    Stable: keys and order never depend on anything but the files' contents."""
    files = []
    for path, diagnostics in results:
        errors = [_diagnostic(d) for d in diagnostics if d.severity == "error"]
        warnings = [_diagnostic(d) for d in diagnostics if d.severity != "error"]
        files.append({"file": str(path), "ok": not errors, "errors": errors, "warnings": warnings})
    return {
        "version": JSON_FORMAT_VERSION,
        "files": files,
        "summary": {
            "files": len(files),
            "errors": sum(len(f["errors"]) for f in files),
            "warnings": sum(len(f["warnings"]) for f in files),
        },
    }


def _line(d: dict[str, Any]) -> str:
    where = f"{d['file']}:{d['line']}:{d['column']}: " if d["line"] is not None else ""
    return printable(f"{where}{d['severity']}: {d['message']} [{d['code']}]")  # shown, not obeyed


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def _print_human(doc: dict[str, Any], quiet: bool, strict: bool) -> None:
    for f in doc["files"]:
        for d in f["errors"]:
            click.echo(_line(d), err=True)
        for d in f["warnings"]:
            click.echo(_line(d), err=True)
        if f["ok"] and not quiet and not (strict and f["warnings"]):
            extra = f" ({_plural(len(f['warnings']), 'warning')})" if f["warnings"] else ""
            click.echo(f"{f['file']}: ok{extra}")
    s = doc["summary"]
    if s["errors"] or s["warnings"]:
        strict_note = (
            " (--strict: warnings fail)" if strict and s["warnings"] and not s["errors"] else ""
        )
        click.echo(
            f"{_plural(s['errors'], 'error')}, {_plural(s['warnings'], 'warning')} in "
            f"{_plural(s['files'], 'file')}{strict_note}",
            err=True,
        )
