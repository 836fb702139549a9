"""The two kinds of run-time text in a scenario model: `Text` (a Jinja2 template, or plain text)
and `Expr` (a `when:` guard). Their own module so the trigger kinds (`triggers`) and the model
can both use them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import Location


@dataclass(slots=True)
class Text:
    """A string rendered at run time. `compiled` is the Jinja2 template, or None for plain text."""

    source: str
    loc: Location | None = None
    compiled: Any = field(default=None, compare=False, repr=False)

    @property
    def is_template(self) -> bool:
        return self.compiled is not None


@dataclass(slots=True)
class Expr:
    """A Jinja2 expression (`when:` guards). `compiled` is jinja2's compiled expression callable."""

    source: str
    loc: Location | None = None
    compiled: Any = field(default=None, compare=False, repr=False)
