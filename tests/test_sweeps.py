"""Robustness sweeps: `--repeat N` under random faults gives each case a pass rate with a 95%
Wilson interval, and `--min-pass-rate R` fails the suite when a case is under it; JUnit and the
HTML report carry the rate."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from test_rehearse_cli import invoke, suite_dir  # noqa: F401  (the fixture)

from cviscript.rehearsal.results import wilson_interval
from cviscript.rehearsal.suite import run_suite


@pytest.mark.parametrize(
    ("passed", "runs", "low", "high"),
    [
        # reference values (Wilson 1927; e.g. Newcombe 1998, table I, and R's binom::binom.wilson)
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 10, 0.0, 0.2775),
        (10, 10, 0.7225, 1.0),
        (100, 100, 0.9630, 1.0),
    ],
)
def test_the_wilson_interval_matches_published_values(passed, runs, low, high):
    got = wilson_interval(passed, runs)
    assert got == pytest.approx((low, high), abs=5e-4)


def test_a_sweep_reports_the_rate_and_its_interval(suite_dir: Path):  # noqa: F811
    suite = run_suite(
        [suite_dir / "scenarios" / "nested"], repeat=20, seed_from=1, patterns=["lossy"]
    )
    (case,) = suite.cases
    n_ok = sum(r.passed for r in case.runs)
    low, high = case.pass_interval
    assert 0 < n_ok < 20 and low < n_ok / 20 < high
    doc = case.to_json(traces=False)
    assert doc["pass_rate_interval"] == [round(low, 6), round(high, 6)]
    assert f"{n_ok}/20 runs passed ({100 * n_ok / 20:.0f}%, 95% CI " in case.rate_text()


def test_min_pass_rate_passes_a_case_over_it_and_fails_the_suite_under_it(
    suite_dir: Path,  # noqa: F811
    tmp_path: Path,
):
    base = ["scenarios/nested/flaky.yml", "-k", "lossy", "--repeat", "20", "--seed-from", "1"]
    suite = run_suite([suite_dir / "scenarios" / "nested"], repeat=20, seed_from=1)
    rate = next(c for c in suite.cases if "lossy" in c.case).pass_rate
    assert 0 < rate < 1

    over = invoke(*base, "--min-pass-rate", f"{rate - 0.05:.2f}", cwd=suite_dir)
    assert over.exit_code == 0, over.output
    assert over.output.startswith("PASS scenarios/nested/flaky.yml::lossy network (")

    junit = tmp_path / "out.xml"
    html = tmp_path / "out.html"
    under = invoke(
        *base, "--min-pass-rate", f"{100 * rate + 5:.0f}%", "--junit", str(junit),
        "--html", str(html), cwd=suite_dir,
    )  # fmt: skip
    assert under.exit_code == 1
    assert "minimum" in under.output.splitlines()[0]
    assert "1 failed with --min-pass-rate" in under.output
    props = {p.get("name"): p.get("value") for p in ET.parse(junit).iter("property")}
    assert float(props["pass_rate"]) == pytest.approx(rate)
    assert float(props["pass_rate_ci95_low"]) < rate < float(props["pass_rate_ci95_high"])
    assert ET.parse(junit).find(".//failure") is not None
    assert "95% CI" in html.read_text(encoding="utf-8")


def test_a_rate_that_is_no_fraction_is_refused(suite_dir: Path):  # noqa: F811
    res = invoke("scenarios/nested/flaky.yml", "--min-pass-rate", "1.5", cwd=suite_dir)
    assert res.exit_code == 2 and "between 0 and 1" in res.output
