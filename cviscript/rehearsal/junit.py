"""JUnit XML for CI servers (GitHub Actions reporters, GitLab, Jenkins, Azure, CircleCI).

The de-facto format those servers read (the Ant/Surefire shape, the one pytest writes):

* ``<testsuites>`` holding one ``<testsuite>`` per scenario file (`name` is the file, so a CI page
  groups the cases the way the repository does);
* one ``<testcase>`` per rehearsal case: `name` the case's name, `classname` the file path dotted
  like a module (``scenarios.kiosk``), `file` and `line` (used for annotations by reporters that
  support them), `time` the wall seconds, and ``<properties>`` with the virtual duration, seed,
  outcome and, for repeated cases, the pass rate;
* a failing case has one ``<failure>`` whose `type` is the failure code(s) and `message` the first
  failure's one-line message; its text is the same report `cviscript rehearse` prints. The
  failing run's transcript goes in ``<system-out>`` when it was kept;
* a file that could not be loaded is a suite with one ``<testcase name="(load scenario)">`` holding
  an ``<error>`` with every diagnostic: its cases did not run, which a CI page must not hide.
"""

from __future__ import annotations

import os
import re
import socket
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

from .excerpt import line_of, records_from_json
from .results import CaseResult, SuiteResult
from .text import failure_report, fidelity_findings, fidelity_report

MAX_SYSTEM_OUT_LINES = 2000
# Characters XML 1.0 cannot carry at all (ElementTree writes them and the file becomes unreadable).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(root: ET.Element) -> None:
    for el in root.iter():
        if el.text:
            el.text = _NOT_XML.sub("\ufffd", el.text)
        for key, value in el.attrib.items():
            el.attrib[key] = _NOT_XML.sub("\ufffd", value)


def _classname(file: str) -> str:
    stem = os.path.splitext(os.path.normpath(file))[0]
    return stem.replace("\\", "/").strip("/").replace("/", ".").lstrip(".")


def _props(parent: ET.Element, values: dict[str, object]) -> None:
    props = ET.SubElement(parent, "properties")
    for name, value in values.items():
        if value is not None:
            ET.SubElement(props, "property", name=name, value=str(value))


def _testcase(parent: ET.Element, case: CaseResult) -> ET.Element:
    attrs = {
        "name": case.case,
        "classname": _classname(case.file),
        "file": case.file,
        "time": f"{case.wall:.6f}",
    }
    if case.line is not None:
        attrs["line"] = str(case.line)
    tc = ET.SubElement(parent, "testcase", attrs)
    run = case.first_failed or (case.runs[0] if case.runs else None)
    values: dict[str, object] = {}
    if run is not None:
        values = {
            "virtual_duration": f"{run.duration:.3f}",
            "seed": run.seed,
            "outcome": run.outcome,
            "final_state": run.state,
        }
    if len(case.runs) > 1:
        values["runs"] = len(case.runs)
        values["pass_rate"] = f"{case.pass_rate:.4f}"
        low, high = case.pass_interval
        values["pass_rate_ci95_low"] = f"{low:.4f}"
        values["pass_rate_ci95_high"] = f"{high:.4f}"
        if case.min_pass_rate is not None:
            values["min_pass_rate"] = f"{case.min_pass_rate:.4f}"
        values["failing_seeds"] = " ".join(str(s) for s in case.failing_seeds) or None
    if case.replay:
        values["replay"] = case.replay
    findings = fidelity_findings(case)
    if findings:  # a live run that differed from the replica model (cviscript.fidelity)
        values["fidelity"] = " ".join(sorted({str(f.get("code")) for f in findings}))
    _props(tc, values)
    for line in fidelity_report(case, indent=""):
        ET.SubElement(tc.find("properties"), "property", name="fidelity_finding", value=line)
    if case.skipped is not None:
        ET.SubElement(tc, "skipped", message=case.skipped)
        return tc
    failed = case.first_failed if not case.passed else None  # over --min-pass-rate: a pass
    if failed is not None:
        codes = sorted({f.code for f in failed.failures})
        first = failed.failures[0]
        message = (
            first.message
            if len(failed.failures) == 1
            else (f"{first.message} (and {len(failed.failures) - 1} more)")
        )
        if len(case.runs) > 1:
            message = f"{case.rate_text()}; seed {failed.seed}: {message}"
        el = ET.SubElement(tc, "failure", message=message, type=" ".join(codes))
        el.text = "\n".join(failure_report(case, indent="")) + "\n"
        if failed.trace:
            lines = [ln for r in records_from_json(failed.trace) if (ln := line_of(r)) is not None]
            if len(lines) > MAX_SYSTEM_OUT_LINES:
                lines = lines[:MAX_SYSTEM_OUT_LINES] + ["… (transcript cut)"]
            ET.SubElement(tc, "system-out").text = "\n".join(lines) + "\n"
    return tc


def to_xml(suite: SuiteResult, *, name: str = "cviscript rehearsals") -> ET.Element:
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0).isoformat()
    host = socket.gethostname()
    root = ET.Element("testsuites", name=name)
    by_file: dict[str, list[CaseResult]] = {}
    for case in suite.cases:
        by_file.setdefault(case.file, []).append(case)
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    total_time = 0.0
    for file, cases in by_file.items():
        skipped = sum(c.skipped is not None for c in cases)
        failures = sum(not c.passed for c in cases) - skipped
        t = sum(c.wall for c in cases)
        ts = ET.SubElement(
            root,
            "testsuite",
            name=file,
            tests=str(len(cases)),
            failures=str(failures),
            errors="0",
            skipped=str(skipped),
            time=f"{t:.6f}",
            timestamp=now,
            hostname=host,
        )
        _props(ts, {"scenario": cases[0].scenario, "file": file})
        for case in cases:
            _testcase(ts, case)
        totals["tests"] += len(cases)
        totals["failures"] += failures
        totals["skipped"] += skipped
        total_time += t
    for bad in suite.invalid:
        ts = ET.SubElement(
            root,
            "testsuite",
            name=bad.file,
            tests="1",
            failures="0",
            errors="1",
            skipped="0",
            time="0",
            timestamp=now,
            hostname=host,
        )
        tc = ET.SubElement(
            ts,
            "testcase",
            name="(load scenario)",
            classname=_classname(bad.file),
            file=bad.file,
            time="0",
        )
        n = len(bad.diagnostics)
        err = ET.SubElement(
            tc,
            "error",
            message=f"invalid scenario: {n} error{'s' if n != 1 else ''}, no case ran",
            type="invalid-scenario",
        )
        err.text = "\n".join(bad.diagnostics) + "\n"
        totals["tests"] += 1
        totals["errors"] += 1
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{total_time:.6f}")
    _clean(root)
    return root


def write(suite: SuiteResult, path: str | os.PathLike[str]) -> None:
    root = to_xml(suite)
    ET.indent(root)
    p = Path(path)
    if p.parent != Path(""):
        p.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(p, encoding="utf-8", xml_declaration=True)
