"""Loading and validating scenarios: the editor loop (`validate` on save) and large files.

* warm `cviscript validate` of 280 files (the shipped scenarios copied 70 times) against a cold
  one, each a fresh process as a user runs it: cold, every file is composed, validated and
  linted (and the scenario cache filled); warm, the cache answers for every unchanged file;
* validating one 5,000-state scenario (a ring: each state steps forward, back, and jumps across,
  with a regex, a guard and a timer — the shape `tests/test_large_scenarios.py` uses), in
  process, without the cache, against ten times a 500-state one: a ratio over 1 is work that
  grows faster than the file.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import Row, fmt_s
from suite import copy_shipped, cviscript_command

ROUNDS = 3


def ring(n: int) -> str:
    """A scenario of `n` states in a ring."""
    lines = [
        "cviscript: 1",
        "name: big",
        "initial: s0",
        "any:",
        '  - utterance: "(?i)goodbye"',
        "    goto: s1",
        "states:",
    ]
    for i in range(n):
        lines += [
            f"  s{i}:",
            '    enter: [{echo: "Hello"}]',
            "    on:",
            '      - utterance: "(?i)next"',
            f"        goto: s{(i + 1) % n}",
            "      - utterance: {contains: [back]}",
            '        when: "visits > 1"',
            f"        goto: s{max(i - 1, 0)}",
            "      - after: 5s",
            f"        goto: s{(7 * i + 3) % n}",
        ]
        if i == n - 1:
            lines.append("    final: true")
    return "\n".join(lines) + "\n"


def _validate(files: list[str], cache: Path) -> float:
    env = {**os.environ, "CVISCRIPT_CACHE_DIR": str(cache)}
    env.pop("CVISCRIPT_NO_CACHE", None)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [*cviscript_command(), "validate", "-q", *files], capture_output=True, text=True, env=env
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(" | ".join(proc.stderr.strip().splitlines()[-2:]))
    return wall


def _warm_validate(quick: bool) -> Row:
    copies = 8 if quick else 70
    what = f"warm `cviscript validate` of {copies * 4} files against cold"
    with tempfile.TemporaryDirectory(prefix="cviscript-bench-validate-") as tmp:
        root = Path(tmp)
        copy_shipped(root / "suite", copies)
        files = sorted(str(p) for p in (root / "suite").glob("*/*.yaml"))
        cold, warm = [], []
        try:
            for r in range(1 if quick else ROUNDS):
                cache = root / f"cache{r}"
                cold.append(_validate(files, cache))
                warm.append(_validate(files, cache))
        except RuntimeError as e:
            return Row(what, "failed", "—", "—", "≥ 5x faster", False, str(e))
    ratio = min(cold) / min(warm)
    return Row(
        what=what,
        figure=fmt_s(min(warm)),
        baseline=f"{fmt_s(min(cold))} (cold cache)",
        ratio=f"{ratio:.1f}x faster",
        target="≥ 5x faster",
        ok=ratio >= 5,
        note=f"{len(files)} files, a fresh process each, best of {len(cold)}",
    )


def _large(quick: bool) -> Row:
    from cviscript.language.validate import check_file

    small_n, big_n = 500, 5000
    with tempfile.TemporaryDirectory(prefix="cviscript-bench-large-") as tmp:
        paths = {}
        for n in (small_n, big_n):
            paths[n] = Path(tmp) / f"ring-{n}.yaml"
            paths[n].write_text(ring(n), encoding="utf-8")
        warm_up = Path(tmp) / "ring-50.yaml"
        warm_up.write_text(ring(50), encoding="utf-8")
        check_file(warm_up, cache=False)  # imports, and the one guard compiled once for all
        best: dict[int, float] = {}
        for n in (small_n, big_n):
            times = []
            for _ in range(1 if quick else ROUNDS):
                t0 = time.perf_counter()
                problems = check_file(paths[n], cache=False)
                times.append(time.perf_counter() - t0)
                errors = [p for p in problems if p.severity == "error"]
                if errors:
                    what = f"validate {n} states"
                    return Row(what, "failed", "—", "—", "≤ 1 s", False, str(errors[0]))
            best[n] = min(times)
    growth = best[big_n] / (best[small_n] * big_n / small_n)
    return Row(
        what=f"validate a {big_n:,}-state scenario (in process, no cache)",
        figure=fmt_s(best[big_n]),
        baseline=f"10 × {small_n} states: {fmt_s(best[small_n] * 10)}",
        ratio=f"{growth:.2f}× linear",
        target="≤ 1 s",
        ok=best[big_n] <= 1.0,
        note=f"{big_n * 3:,} transitions; best of {1 if quick else ROUNDS}; "
        "a ratio over 1 is work growing faster than the file",
    )


def run(quick: bool = False) -> list[Row]:
    return [_warm_validate(quick), _large(quick)]


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(row)
