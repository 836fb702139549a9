"""Live runs check themselves against the replica model, and recordings calibrate it.

* `codes` — the stable finding codes;
* `finding` — `Finding`: what rehearsal assumed, what live did, what would make them match;
* `assumptions` — `Assumptions`: the model's rules a live run is checked against;
* `detectors` — one detector per way live can differ from the model;
* `monitor` — `Monitor`: a trace subscriber feeding the detectors (`check_records` for a
  recorded transcript);
* `calibrate` — replica settings measured from live transcripts.

Nothing in this package changes how a run behaves: it observes and reports.
"""

from .assumptions import Assumptions, ToolRule
from .codes import CODES, Code
from .finding import Finding
from .monitor import Monitor, check_records

__all__ = ["CODES", "Assumptions", "Code", "Finding", "Monitor", "ToolRule", "check_records"]
