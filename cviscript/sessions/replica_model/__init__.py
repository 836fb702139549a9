"""One model of the Tavus server, runnable on any clock.

Rehearsals run it on a virtual clock (`cviscript.sessions.simulated`); the fake Daily room runs it
on the room's callback thread (`cviscript.sessions.fake.replica`). Keeping one model means a
scenario meets the same server in both, and there is one place to make it truer.
"""

from .model import ReplicaModel, UserTurn
from .persona import Answer, FunctionPersona, Persona
from .settings import DEFAULT_VINTAGE, MIN_SPEECH, VINTAGES, ModelSettings, speaking_time

__all__ = [
    "DEFAULT_VINTAGE",
    "MIN_SPEECH",
    "VINTAGES",
    "Answer",
    "FunctionPersona",
    "ModelSettings",
    "Persona",
    "ReplicaModel",
    "UserTurn",
    "speaking_time",
]
