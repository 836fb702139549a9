"""The built-in simulated replica that rehearsals run against (no network, virtual time).

`SimulatedReplica` is the `Session`; `user` is the simulated visitor, `persona` the stand-in LLM,
`faults` the seeded network misbehaviour between the replica and the runner.
"""

from .replica import SimulatedReplica

__all__ = ["SimulatedReplica"]
