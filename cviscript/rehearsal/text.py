"""The plain-text rehearsal report, shared by `cviscript rehearse` and the pytest plugin.

One line per case (``PASS scenarios/kiosk.yaml::courier (0.02s wall, 18.2s virtual)``), then for
each failing case every unmet expectation: its code and where it is written, what happened, what
was expected, what happened instead, the transcript lines around it and, for a replay, the diff.
With repeats, the failures shown are those of the first failing seed, with the command that
reproduces it.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

import click

from ..printable import printable
from .results import CaseResult, Failure, SuiteResult


def _style(text: str, color: bool, **kw: Any) -> str:
    return click.style(text, **kw) if color else text


def case_line(case: CaseResult, *, color: bool = False) -> str:
    if case.skipped is not None:
        word = _style("SKIP", color, fg="yellow", bold=True)
        return f"{word} {printable(case.id)} ({printable(case.skipped, keep_newlines=False)})"
    word = (
        _style("PASS", color, fg="green", bold=True)
        if case.passed
        else _style("FAIL", color, fg="red", bold=True)
    )
    if len(case.runs) > 1:
        extra = ""
        if case.failing_seeds:
            extra = "; failing seeds " + ", ".join(str(s) for s in case.failing_seeds[:10])
            if len(case.failing_seeds) > 10:
                extra += ", …"
        detail = f"{case.rate_text()}{extra}; {case.wall:.2f}s wall"
    else:
        run = case.runs[0] if case.runs else None
        virtual = f", {run.duration:.1f}s virtual" if run else ""
        detail = f"{case.wall:.2f}s wall{virtual}"
        if case.replay:
            detail += ", replay"
    return f"{word} {printable(case.id)} ({detail})"


def _value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "[" + ", ".join(json.dumps(v, ensure_ascii=False) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)


def failure_lines(failure: Failure, *, indent: str = "  ") -> list[str]:
    where = f" ({failure.loc})" if failure.loc else ""
    lines = [f"{indent}{failure.code}: {failure.expectation}{where}"]
    inner = indent + "    "
    lines.append(f"{inner}{failure.message}")
    if failure.expected is not None or failure.actual is not None:
        lines.append(f"{inner}expected: {_value(failure.expected)}")
        lines.append(f"{inner}actual:   {_value(failure.actual)}")
    if failure.diff:
        lines.append(f"{inner}diff:")
        lines += [f"{inner}  {ln}" for ln in failure.diff.rstrip("\n").splitlines()]
    if failure.context:
        label = "traceback:" if failure.code == "internal-error" else "transcript:"
        lines.append(f"{inner}{label}")
        lines += [f"{inner}  {ln}" for ln in failure.context]
    return lines


def failure_report(case: CaseResult, *, indent: str = "  ") -> list[str]:
    """Every failure of the case's first failing run (empty for a passing case)."""
    run = case.first_failed
    if run is None:
        return []
    lines = []
    if len(case.runs) > 1:
        lines.append(
            f"{indent}seed {run.seed} (reproduce: cviscript rehearse {shlex.quote(case.file)} "
            f"-k {shlex.quote(case.case)} --seed-from {run.seed})"
        )
    for failure in run.failures:
        lines += failure_lines(failure, indent=indent)
    return [printable(line, keep_newlines=False) for line in lines]  # speech shown, not obeyed


def fidelity_findings(case: CaseResult) -> list[dict[str, Any]]:
    """The live self-check's findings over a case's runs, each code once (counts added up)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for run in case.runs:
        for f in run.fidelity or ():
            key = (str(f.get("code")), str(f.get("live")))
            if key in found:
                found[key]["count"] = found[key].get("count", 1) + (f.get("count") or 1)
            else:
                found[key] = dict(f)
    return list(found.values())


def fidelity_report(case: CaseResult, *, indent: str = "  ", color: bool = False) -> list[str]:
    """A live case's differences from the replica model (`cviscript.fidelity`), one line each."""
    from ..trace_lines import fidelity_line

    mark = _style("⚠ fidelity", color, fg="yellow", bold=True)
    lines = []
    for f in fidelity_findings(case):
        count = f.get("count") or 1
        times = f" (seen {count} times)" if count > 1 else ""
        text = printable(fidelity_line(f) + times, keep_newlines=False)
        lines.append(f"{indent}{mark} {text}")
    return lines


def summary(suite: SuiteResult, *, color: bool = False) -> str:
    parts = [f"{len(suite.passed)} passed", f"{len(suite.failed)} failed"]
    if suite.min_pass_rate is not None:
        parts[-1] += f" with --min-pass-rate {100 * suite.min_pass_rate:g}%"
    if suite.skipped:
        parts.append(f"{len(suite.skipped)} skipped")
    if suite.invalid:
        n = len(suite.invalid)
        parts.append(f"{n} invalid file{'s' if n != 1 else ''}")
    text = ", ".join(parts) + f" in {suite.wall:.2f}s"
    if not color:
        return text
    return click.style(text, fg="green" if suite.ok else "red", bold=True)
