"""The HTML rehearsal report: one self-contained page a scenario author can open and read.

`cviscript rehearse --html report.html` writes it. Per case: the verdict, the outcome and the path,
the unmet expectations with their transcript excerpts, a timeline of who spoke when (with the
interactions sent and the state changes), the scenario's state diagram with what the run did
highlighted, and the full transcript.

Self-contained means nothing is fetched when the page is viewed: the CSS and the few lines of
script are inline, the timeline and the diagram are SVG drawn in Python (`svg_timeline`,
`svg_diagram`), and a Content-Security-Policy of ``default-src 'none'`` makes the browser refuse
any fetch, so a stray reference would show up as an error rather than a silent download. The page
works without its script (cases are ``<details>``, tooltips are SVG ``<title>``s); the script only
adds "expand / collapse" buttons and records, for the browser test, that it loaded without an
error (``data-ready`` / ``data-errors`` on ``<html>``).

Everything from a run (user speech, replica speech, variable values) is escaped: a transcript may
say ``<script>``.
"""

from __future__ import annotations

import json
import os
import shlex
from collections import Counter
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Any

from .. import __version__
from ..printable import printable
from ..rehearsal.results import CaseResult, CaseRun, Failure, SuiteResult
from .svg_diagram import render_diagram
from .svg_graph import scenario_graph
from .svg_timeline import render_timeline, timeline_from_records

CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"


def write_html(suite: SuiteResult, path: str | os.PathLike[str], **kw: Any) -> None:
    """Write the report for `suite` to `path` (folders are made)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(render_html(suite, **kw), encoding="utf-8")  # well formed: see render_html


def render_html(
    suite: SuiteResult, *, generated_at: datetime | None = None, title: str | None = None
) -> str:
    """The report for `suite` as one HTML document. Cases whose runs kept no trace
    (``keep_traces`` other than ``"all"``) get no timeline."""
    when = (generated_at or datetime.now().astimezone()).strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    n_pass, n_fail, n_bad = len(suite.passed), len(suite.failed), len(suite.invalid)
    verdict = f"{n_pass} passed, {n_fail} failed" + (
        f", {n_bad} invalid file{'s' if n_bad != 1 else ''}" if n_bad else ""
    )
    if suite.skipped:
        verdict += f", {len(suite.skipped)} skipped"
    page_title = title or f"Rehearsal report: {verdict}"
    # failures first (in the index too), opened; passing cases closed below them
    cases = sorted(suite.cases, key=lambda case: (case.passed, case.skipped is not None))
    body = [
        _header(suite, verdict, when),
        _invalid(suite),
        _index(cases),
        _coverage(suite),
        '<main id="cases">',
        *(_case(case, i) for i, case in enumerate(cases)),
        "</main>",
        f"<footer>cviscript {escape(__version__)} · generated {escape(when)}</footer>",
    ]
    # Recorded speech may hold control characters or a lone surrogate: shown, never raw.
    return printable(
        "\n".join(
            [
                "<!doctype html>",
                f'<html lang="en" class="{"ok" if suite.ok else "not-ok"}">',
                "<head>",
                '<meta charset="utf-8">',
                f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
                '<meta name="viewport" content="width=device-width, initial-scale=1">',
                '<meta name="generator" content="cviscript ' + escape(__version__) + '">',
                f"<title>{escape(page_title)}</title>",
                f"<script>{_EARLY_JS}</script>",
                f"<style>{_CSS}</style>",
                "</head>",
                "<body>",
                *[part for part in body if part],
                f"<script>{_LATE_JS}</script>",
                "</body>",
                "</html>",
                "",
            ]
        )
    )


# ---------------------------------------------------------------------------------------- sections


def _header(suite: SuiteResult, verdict: str, when: str) -> str:
    n_pass, n_fail = len(suite.passed), len(suite.failed)
    pills = [f'<span class="pill pass">{n_pass} passed</span>']
    pills.append(f'<span class="pill {"fail" if n_fail else "zero"}">{n_fail} failed</span>')
    if suite.skipped:
        pills.append(f'<span class="pill zero">{len(suite.skipped)} skipped</span>')
    if suite.invalid:
        pills.append(f'<span class="pill fail">{len(suite.invalid)} invalid</span>')
    files = len(suite.files)
    return (
        '<header class="top">'
        f'<h1><span class="verdict {"ok" if suite.ok else "bad"}">'
        f"{'✔' if suite.ok else '✘'}</span> Rehearsal report</h1>"
        f'<p class="pills">{" ".join(pills)}</p>'
        f'<p class="meta">{len(suite.cases)} case{"s" if len(suite.cases) != 1 else ""} from '
        f"{files} scenario file{'s' if files != 1 else ''} · ran in {suite.wall:.2f}s · "
        f"generated {escape(when)} · cviscript {escape(__version__)}</p>"
        '<p class="toolbar" id="toolbar"></p>'
        "</header>"
    )


def _invalid(suite: SuiteResult) -> str:
    if not suite.invalid:
        return ""
    parts = ['<section class="invalid"><h2>Invalid scenario files (their cases did not run)</h2>']
    for bad in suite.invalid:
        parts.append(
            f"<h3>{escape(bad.file)}</h3><pre>{escape(chr(10).join(bad.diagnostics))}</pre>"
        )
    parts.append("</section>")
    return "".join(parts)


def _index(cases: list[CaseResult]) -> str:
    if not cases:
        return '<p class="empty">No rehearsal case ran.</p>'
    rows = []
    for i, case in enumerate(cases):
        run = _shown_run(case)
        outcome = escape(run.outcome) if run else "—"
        dur = f"{run.duration:.1f}s" if run else "—"
        rows.append(
            f'<tr class="{_status(case)}">'
            f"<td>{_badge(case)}</td>"
            f'<td><a href="#case-{i}">{escape(case.case)}</a></td>'
            f"<td>{escape(case.file)}</td><td>{outcome}</td><td class=num>{dur}</td></tr>"
        )
    return (
        '<nav class="index"><table><thead><tr><th></th><th>case</th><th>scenario file</th>'
        '<th>outcome</th><th class="num">time</th></tr></thead><tbody>'
        + "".join(rows)
        + "</tbody></table></nav>"
    )


def _coverage(suite: SuiteResult) -> str:
    cov = suite.coverage
    if cov is None:
        return ""
    rows = []
    for s in cov.scenarios:
        missed = ", ".join(s.states_missed) or "—"
        untaken = ", ".join(t.id for t in s.transitions_missed) or "—"
        rows.append(
            f"<tr><td>{escape(s.file)}</td><td class=num>{s.percent:.0f}%</td>"
            f"<td>{escape(missed)}</td><td>{escape(untaken)}</td></tr>"
        )
    return (
        f'<section class="coverage"><h2>Coverage: {cov.percent:.1f}%</h2><table><thead><tr>'
        "<th>scenario file</th><th class=num>covered</th><th>states never entered</th>"
        "<th>transitions never taken</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></section>"
    )


def _status(case: CaseResult) -> str:
    return "skip" if case.skipped is not None else "pass" if case.passed else "fail"


def _badge(case: CaseResult) -> str:
    status = _status(case)
    return f'<span class="badge {status}">{status.upper()}</span>'


def _shown_run(case: CaseResult) -> CaseRun | None:
    """The run a case's section shows: its first failing run, else its first."""
    return case.first_failed or (case.runs[0] if case.runs else None)


def _case(case: CaseResult, index: int) -> str:
    run = _shown_run(case)
    status = _status(case)
    where = case.file + (f":{case.line}" if case.line else "")
    head = (
        f'<summary>{_badge(case)} <span class="name">{escape(case.case)}</span> '
        f'<span class="where">{escape(where)}</span></summary>'
    )
    parts = [
        f'<details class="case {status}" id="case-{index}" data-case="{escape(case.id)}"'
        + ("" if status != "fail" else " open")
        + ">",
        head,
        '<div class="case-body">',
    ]
    if run is None:
        why = f": {escape(case.skipped)}" if case.skipped else ""
        parts.append(f"<p>This case did not run{why}.</p></div></details>")
        return "".join(parts)
    parts.append(_facts(case, run))
    if run.failures:
        parts.append(_failures(case, run))
    if run.fidelity:
        parts.append(_fidelity(run.fidelity))
    records = None
    if run.trace is not None:
        from ..rehearsal.excerpt import records_from_json

        records = records_from_json(run.trace)
    parts.append(
        '<section class="timeline-box"><h3>Timeline '
        '<span class="hint">hover a mark for its time and text</span></h3>'
    )
    if records is not None:
        tl = timeline_from_records(records, run.duration)
        parts.append(
            _TIMELINE_LEGEND
            + f'<div class="scroll">{render_timeline(tl, failed=not run.passed)}</div>'
        )
    else:
        parts.append('<p class="note">No transcript was kept for this run.</p>')
    parts.append("</section>")
    parts.append(_diagram(case, run, index))
    if records is not None:
        parts.append(_transcript(records))
    parts.append("</div></details>")
    return "".join(parts)


def _facts(case: CaseResult, run: CaseRun) -> str:
    rows = [("scenario", escape(case.scenario))]
    outcome_cls = "ok" if run.outcome == "completed" else "bad"
    rows.append(
        (
            "outcome",
            f'<span class="outcome {outcome_cls}">{escape(run.outcome)}</span> '
            f"— {escape(run.reason)}",
        )
    )
    if run.path:
        chips = '<span class="arrow">→</span>'.join(
            f'<span class="chip">{escape(s)}</span>' for s in run.path
        )
        rows.append(("path", chips))
    rows.append(
        ("time", f"{run.duration:.1f}s of conversation (simulated), {run.wall:.2f}s to run")
    )
    if len(case.runs) > 1:
        shown = f"; showing seed {run.seed}" + (
            " (the first failing one)" if not run.passed else ""
        )
        rows.append(
            (
                "runs",
                f"{escape(case.rate_text())}{escape(shown)}",
            )
        )
        if not run.passed:
            cmd = (
                f"cviscript rehearse {shlex.quote(case.file)} -k {shlex.quote(case.case)} "
                f"--seed-from {run.seed}"
            )
            rows.append(("reproduce", f"<code>{escape(cmd)}</code>"))
    else:
        rows.append(("seed", str(run.seed)))
    if case.replay:
        rows.append(("replays", f"<code>{escape(case.replay)}</code>"))
    if run.vars:
        rows.append(("vars at the end", f"<code>{escape(_json(run.vars))}</code>"))
    return '<dl class="facts">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows) + "</dl>"


def _json(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)


def _fidelity(findings: list[dict[str, Any]]) -> str:
    """The live self-check's findings: where this live run differed from the replica model."""
    n = len(findings)
    parts = [
        f'<section class="fidelity"><h3>{n} difference{"s" if n != 1 else ""} from the '
        "replica model</h3>"
    ]
    for f in findings:
        count = f.get("count") or 1
        times = f" (seen {count} times)" if count > 1 else ""
        parts.append(
            f'<div class="finding" data-code="{escape(str(f.get("code")))}">'
            f'<p class="what"><span class="code">{escape(str(f.get("code")))}</span>{times}</p>'
            f"<p>live: {escape(str(f.get('live')))}</p>"
            f"<p>rehearsal assumed: {escape(str(f.get('assumed')))}</p>"
            f"<p>to make rehearsal match: {escape(str(f.get('fix')))}</p></div>"
        )
    parts.append("</section>")
    return "".join(parts)


def _failures(case: CaseResult, run: CaseRun) -> str:
    n = len(run.failures)
    parts = [f'<section class="failures"><h3>{n} unmet expectation{"s" if n != 1 else ""}</h3>']
    for f in run.failures:
        parts.append(_failure(f))
    parts.append("</section>")
    return "".join(parts)


def _failure(f: Failure) -> str:
    where = f' <span class="loc">{escape(f.loc)}</span>' if f.loc else ""
    parts = [
        f'<div class="failure" data-code="{escape(f.code)}">',
        f'<p class="what"><span class="code">{escape(f.code)}</span> '
        f"<b>{escape(f.expectation)}</b>{where}</p>",
        f'<p class="message">{escape(f.message)}</p>',
    ]
    if f.expected is not None or f.actual is not None:
        parts.append(
            '<table class="expected"><tr><th>expected</th>'
            f"<td><code>{escape(_json(f.expected))}</code></td></tr>"
            f"<tr><th>actual</th><td><code>{escape(_json(f.actual))}</code></td></tr></table>"
        )
    if f.diff:
        lines = []
        for ln in f.diff.rstrip("\n").splitlines():
            cls = {"+": "add", "-": "del", "@": "hunk"}.get(ln[:1], "")
            if ln.startswith(("+++", "---")):
                cls = "file"
            lines.append(f'<span class="{cls}">{escape(ln)}</span>' if cls else escape(ln))
        parts.append('<pre class="diff">' + "\n".join(lines) + "</pre>")
    if f.context:
        label = "traceback" if f.code == "internal-error" else "transcript"
        lines = []
        for ln in f.context:
            if ln.startswith("> "):
                lines.append(f'<span class="focus">{escape(ln)}</span>')
            else:
                lines.append(escape(ln))
        parts.append(
            f'<p class="excerpt-label">{label}:</p><pre class="excerpt">'
            + "\n".join(lines)
            + "</pre>"
        )
    parts.append("</div>")
    return "".join(parts)


def _diagram(case: CaseResult, run: CaseRun, index: int) -> str:
    from ..rehearsal.suite import load

    head = '<section class="diagram-box"><h3>State diagram</h3>'
    try:
        scenario = load(case.file)
    except Exception as err:  # the file changed or went away since the run
        return head + f'<p class="note">Cannot draw it: {escape(str(err))}</p></section>'
    svg = render_diagram(
        scenario_graph(scenario),
        visited=Counter(run.path),
        taken=Counter(run.transitions),
        end_state=run.state,
        failed=not run.passed,
        uid=f"c{index}",
    )
    return head + _DIAGRAM_LEGEND + f'<div class="scroll">{svg}</div></section>'


def _transcript(records: list[Any]) -> str:
    from ..rehearsal.excerpt import line_of

    lines = [line for line in (line_of(r) for r in records) if line is not None]
    return (
        '<details class="transcript"><summary>Full transcript '
        f"({len(lines)} lines)</summary><pre>{escape(chr(10).join(lines))}</pre></details>"
    )


# ------------------------------------------------------------------------------ legends, CSS, JS

_TIMELINE_LEGEND = (
    '<p class="legend">'
    '<span class="key speech-replica"></span>replica speaking '
    '<span class="key speech-interrupted"></span>interrupted '
    '<span class="key speech-user"></span>user speaking '
    '<span class="key tri echo"></span>echo '
    '<span class="key tri respond"></span>respond '
    '<span class="key tri interrupt"></span>interrupt '
    '<span class="key tri context"></span>context '
    '<span class="key tri tool_result"></span>tool result '
    '<span class="key tri sensitivity"></span>sensitivity / other '
    '<span class="key dia"></span>tool call / perception</p>'
)

_DIAGRAM_LEGEND = (
    '<p class="legend">'
    '<span class="key node-visited"></span>entered in this run '
    '<span class="key node-plain"></span>not entered '
    '<span class="key edge-taken"></span>taken '
    '<span class="key edge-plain"></span>not taken '
    '<span class="key node-final"></span>final state '
    '<span class="key node-end"></span>where the run ended</p>'
)

_EARLY_JS = (
    "(function(){var d=document.documentElement,errs=[];"
    "function note(m){errs.push(String(m));d.setAttribute('data-errors',errs.join(' | '));}"
    "window.addEventListener('error',function(e){note(e.message||'resource failed to load');},true);"
    "window.addEventListener('securitypolicyviolation',function(e){"
    "note('blocked '+e.blockedURI);});"
    "var ce=console.error;console.error=function(){note([].join.call(arguments,' '));"
    "return ce.apply(console,arguments);};})();"
)

_LATE_JS = (
    "(function(){var bar=document.getElementById('toolbar'),"
    "cases=[].slice.call(document.querySelectorAll('details.case'));"
    "function btn(label,fn){var b=document.createElement('button');b.type='button';"
    "b.textContent=label;b.addEventListener('click',fn);bar.appendChild(b);}"
    "if(bar&&cases.length){"
    "btn('Expand all',function(){cases.forEach(function(c){c.open=true;});});"
    "btn('Collapse all',function(){cases.forEach(function(c){c.open=false;});});"
    "btn('Only failures',function(){cases.forEach(function(c){"
    "c.open=c.classList.contains('fail');});});}"
    "document.documentElement.setAttribute('data-ready','1');})();"
)

_CSS = """
:root{--pass:#1a7f37;--pass-bg:#dafbe1;--fail:#cf222e;--fail-bg:#ffebe9;--ink:#1f2328;
--muted:#656d76;--line:#d0d7de;--soft:#f6f8fa;--accent:#0969da;--accent-bg:#ddf4ff;
--user:#bf8700;--user-bg:#fff1c2;--mono:ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace}
*{box-sizing:border-box}
body{margin:0;font:14px/1.5 system-ui,-apple-system,"Segoe UI","DejaVu Sans",sans-serif;
color:var(--ink);background:#fff}
header.top,main,nav.index,section.coverage,section.invalid,footer,p.empty{max-width:1180px;
margin:0 auto;padding:0 24px}
header.top{padding-top:20px}
h1{font-size:24px;margin:0 0 6px}
h2{font-size:18px;margin:18px 0 8px}
h3{font-size:15px;margin:16px 0 6px}
.verdict.ok{color:var(--pass)}.verdict.bad{color:var(--fail)}
.pills{margin:4px 0}
.pill{display:inline-block;border-radius:999px;padding:2px 12px;font-weight:600;margin-right:6px}
.pill.pass{background:var(--pass-bg);color:var(--pass)}
.pill.fail{background:var(--fail-bg);color:var(--fail)}
.pill.zero{background:var(--soft);color:var(--muted)}
.meta{color:var(--muted);margin:4px 0}
.toolbar button{font:inherit;font-size:13px;margin-right:6px;padding:2px 10px;
border:1px solid var(--line);background:var(--soft);border-radius:6px;cursor:pointer}
.toolbar button:hover{background:#eaeef2}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-weight:600;color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.03em}
.num{text-align:right;white-space:nowrap}
nav.index{margin-top:8px}
nav.index a{color:var(--accent);text-decoration:none;font-weight:500}
nav.index a:hover{text-decoration:underline}
nav.index tr.fail td{background:#fff8f7}
.badge{display:inline-block;font-size:11px;font-weight:700;letter-spacing:.04em;
border-radius:4px;padding:1px 6px;color:#fff;vertical-align:1px}
.badge.pass{background:var(--pass)}.badge.fail{background:var(--fail)}
.badge.skip{background:var(--muted)}
details.case{border:1px solid var(--line);border-left:5px solid var(--pass);border-radius:8px;
margin:18px 0;background:#fff}
details.case.fail{border-left-color:var(--fail)}
details.case>summary{cursor:pointer;padding:10px 14px;font-size:16px;list-style-position:outside;
background:var(--soft);border-radius:0 8px 8px 0}
details.case[open]>summary{border-bottom:1px solid var(--line);border-radius:0 8px 0 0}
details.case>summary .name{font-weight:600}
details.case>summary .where{color:var(--muted);font-size:13px;margin-left:8px;font-family:var(--mono)}
.case-body{padding:4px 16px 14px}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:3px 14px;margin:10px 0}
dl.facts dt{color:var(--muted)}dl.facts dd{margin:0}
.outcome{font-weight:600}.outcome.ok{color:var(--pass)}.outcome.bad{color:var(--fail)}
.chip{display:inline-block;font-family:var(--mono);font-size:12px;background:var(--accent-bg);
color:#0550ae;border-radius:4px;padding:0 6px;margin:1px 0}
.arrow{color:var(--muted);margin:0 4px}
code{font-family:var(--mono);font-size:12.5px;background:var(--soft);padding:1px 4px;border-radius:4px;
word-break:break-word}
section.failures{background:var(--fail-bg);border:1px solid #ffcecb;border-radius:8px;
padding:4px 14px 10px;margin:12px 0}
section.failures h3{color:var(--fail)}
section.fidelity{border:1px solid #e3c16f;border-radius:8px;padding:0 12px;margin:8px 0}
.failure{background:#fff;border:1px solid #ffcecb;border-radius:6px;padding:8px 12px;margin:8px 0}
.failure p{margin:2px 0}
.failure .code{font-family:var(--mono);font-size:12px;color:#fff;background:var(--fail);
border-radius:4px;padding:1px 6px}
.failure .loc{color:var(--muted);font-family:var(--mono);font-size:12px}
.failure table.expected{width:auto;margin:6px 0}
.failure table.expected th{font-size:11px;padding:2px 8px 2px 0;border:0}
.failure table.expected td{padding:2px 0;border:0}
.excerpt-label{color:var(--muted);font-size:12px;margin-top:6px!important}
pre{font-family:var(--mono);font-size:12px;background:var(--soft);border:1px solid var(--line);
border-radius:6px;padding:8px 10px;overflow-x:auto;margin:4px 0;white-space:pre}
pre .focus{background:#fff5b1;font-weight:600;display:inline-block;min-width:100%}
pre.diff .add{color:var(--pass)}pre.diff .del{color:var(--fail)}pre.diff .hunk{color:#8250df}
pre.diff .file{color:var(--muted)}
p.legend{font-size:12px;color:var(--muted);margin:2px 0 6px;line-height:2}
h3 .hint{font-size:12px;font-weight:400;color:var(--muted);margin-left:8px}
.key{display:inline-block;width:14px;height:10px;border-radius:2px;margin:0 4px 0 10px;
vertical-align:-1px}
.key:first-child{margin-left:0}
.key.speech-replica{background:#54aeff}.key.speech-interrupted{background:#ff8182}
.key.speech-user{background:#eac54f}
.key.tri{width:0;height:0;border-radius:0;border-left:6px solid transparent;
border-right:6px solid transparent;border-top:10px solid #888;background:none}
.key.tri.echo{border-top-color:#0969da}.key.tri.respond{border-top-color:#8250df}
.key.tri.interrupt{border-top-color:#cf222e}.key.tri.context{border-top-color:#1a7f37}
.key.tri.tool_result{border-top-color:#bc4c00}.key.tri.sensitivity{border-top-color:#8c959f}
.key.dia{width:9px;height:9px;transform:rotate(45deg);background:#bc4c00;margin-right:8px}
.key.node-visited{background:var(--accent-bg);border:2px solid var(--accent)}
.key.node-plain{background:#fff;border:1px dashed #8c959f}
.key.node-final{background:#fff;border:3px double var(--ink)}
.key.node-end{background:var(--accent-bg);border:3px solid #0550ae}
.key.edge-taken{height:3px;background:var(--accent);border-radius:0}
.key.edge-plain{height:0;border-top:1.5px dashed #afb8c1;border-radius:0}
.scroll{overflow-x:auto}
svg{display:block}
svg text{font-family:var(--mono);font-size:11px}
svg.diagram text{font-size:12px}
svg.timeline{width:100%;min-width:760px;height:auto;background:#fff}
svg.timeline .lane{fill:var(--soft)}
svg.timeline .lane-label{text-anchor:end;fill:var(--muted);font-family:system-ui,"DejaVu Sans",sans-serif}
svg.timeline .axis{stroke:#8c959f}svg.timeline .tick{stroke:#8c959f}
svg.timeline .grid{stroke:#eaeef2}
svg.timeline .tick-label{text-anchor:middle;fill:var(--muted);font-size:10px}
svg.timeline .state-span rect.band0{fill:#ddf4ff}svg.timeline .state-span rect.band1{fill:#eef6ff}
svg.timeline .state-span text{fill:#0550ae;font-weight:600}
svg.timeline .state-change{stroke:#54aeff;stroke-dasharray:3 3}
svg.timeline .speech text{font-family:system-ui,"DejaVu Sans",sans-serif;font-size:11px;fill:#1f2328}
svg.timeline .speech.replica rect{fill:#54aeff;fill-opacity:.55;stroke:#0969da}
svg.timeline .speech.user rect{fill:#eac54f;fill-opacity:.6;stroke:#bf8700}
svg.timeline .speech.interrupted rect{fill:#ff8182;fill-opacity:.5;stroke:#cf222e}
svg.timeline .speech.open rect{stroke-dasharray:4 3}
svg.timeline .speech .cut{stroke:#cf222e;stroke-width:3}
svg.timeline .sent-marker path{fill:#8c959f}svg.timeline .sent-marker line{stroke:#8c959f}
svg.timeline .sent-marker.echo path{fill:#0969da}svg.timeline .sent-marker.echo line{stroke:#0969da}
svg.timeline .sent-marker.respond path{fill:#8250df}
svg.timeline .sent-marker.respond line{stroke:#8250df}
svg.timeline .sent-marker.interrupt path{fill:#cf222e}
svg.timeline .sent-marker.interrupt line{stroke:#cf222e}
svg.timeline .sent-marker.context path{fill:#1a7f37}
svg.timeline .sent-marker.context line{stroke:#1a7f37}
svg.timeline .sent-marker.tool_result path{fill:#bc4c00}
svg.timeline .sent-marker.tool_result line{stroke:#bc4c00}
svg.timeline .received-marker path{fill:#bc4c00;stroke:#fff}
svg.timeline .received-marker.dropped path{stroke:#cf222e;stroke-width:2;fill:none}
svg.timeline .outcome line{stroke-width:2}svg.timeline .outcome.ok line{stroke:var(--pass)}
svg.timeline .outcome.ok circle{fill:var(--pass)}
svg.timeline .outcome.bad line{stroke:var(--fail)}svg.timeline .outcome.bad circle{fill:var(--fail)}
svg.diagram{max-width:none}
svg.diagram .state rect{fill:#fff;stroke:#8c959f;stroke-dasharray:4 3}
svg.diagram .state text{text-anchor:middle;fill:var(--muted)}
svg.diagram .state.visited rect{fill:var(--accent-bg);stroke:var(--accent);stroke-width:2;
stroke-dasharray:none}
svg.diagram .state.visited text{fill:#0550ae;font-weight:600}
svg.diagram .state rect.inner{fill:none}
svg.diagram .state.end>rect:first-child{stroke:#0550ae;stroke-width:3.5}
svg.diagram .state.end.failed>rect:first-child{stroke:var(--fail)}
svg.diagram .compound rect{fill:#f6f8fa;stroke:#8c959f}svg.diagram .compound>text{font-weight:600;fill:var(--muted)}
svg.diagram .compound.visited rect{fill:#f3f8ff;stroke:var(--accent);stroke-width:1.5}
svg.diagram .state.any rect{fill:var(--soft);stroke:#8c959f;stroke-dasharray:2 3}
svg.diagram .state.any text{font-style:italic}
svg.diagram .count circle{fill:var(--accent)}
svg.diagram .state .count text{fill:#fff;font-size:10px;font-weight:700;text-anchor:middle}
svg.diagram circle.start{fill:var(--ink)}
svg.diagram path.start{stroke:var(--ink);stroke-width:1.5;fill:none}
svg.diagram .edge{fill:none;stroke:#afb8c1;stroke-width:1.3;stroke-dasharray:5 3}
svg.diagram .edge.taken{stroke:var(--accent);stroke-width:2.4;stroke-dasharray:none}
svg.diagram .edge.stays{stroke-dasharray:2 2}
svg.diagram .arrow.plain path{fill:#afb8c1}svg.diagram .arrow.taken path{fill:var(--accent)}
svg.diagram .edge-label{fill:var(--muted);font-size:11px;paint-order:stroke;stroke:#fff;
stroke-width:4px;stroke-linejoin:round}
svg.diagram .edge-label.taken{fill:#0550ae;font-weight:600}
details.transcript{margin-top:10px}
details.transcript>summary{cursor:pointer;color:var(--accent)}
p.note{color:var(--muted);font-style:italic}
section.invalid pre{background:var(--fail-bg);border-color:#ffcecb}
footer{color:var(--muted);font-size:12px;padding-top:8px;padding-bottom:24px}
@media print{details.case{break-inside:avoid}.toolbar{display:none}}
"""
