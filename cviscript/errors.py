"""Errors and diagnostics every layer shares.

A scenario problem is a `Diagnostic`: a location, a message and, where we can guess, a suggestion
("did you mean ..."). Loading and validation collect every diagnostic they find and raise one
`ScenarioError` carrying all of them, so an author fixes a file in one pass, not one error per run.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from .printable import printable


@dataclass(frozen=True, slots=True)
class Location:
    """A place in a scenario file; lines and columns are 1-based."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    message: str
    loc: Location | None = None
    severity: Literal["error", "warning"] = "error"
    code: str = "invalid"  # stable, machine-readable: "duplicate-key", "unknown-key", ...

    def __str__(self) -> str:
        where = f"{self.loc}: " if self.loc else ""  # printed: scenario text shown, not obeyed
        return printable(f"{where}{self.severity}: {self.message}")


class CviscriptError(Exception):
    """Base class of every error cviscript raises on purpose."""


class ScenarioError(CviscriptError):
    """A scenario file could not be loaded or is invalid. Carries every problem found."""

    def __init__(self, diagnostics: Iterable[Diagnostic]):
        self.diagnostics = list(diagnostics)
        super().__init__("\n".join(str(d) for d in self.diagnostics))


class TemplateRenderError(CviscriptError):
    """A template failed at run time (undefined name, sandbox violation, ...)."""

    def __init__(self, message: str, loc: Location | None = None, state: str | None = None):
        self.loc = loc
        self.state = state
        where = f"{loc}: " if loc else ""
        in_state = f" (in state {state!r})" if state else ""
        super().__init__(f"{where}{message}{in_state}")


class ConnectError(CviscriptError):
    """A live conversation could not be reached (exit code 3)."""


class UsageError(CviscriptError):
    """Wrong use of the library or CLI (exit code 2)."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean "x"?)' when a close match exists, else ''."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""
