"""What a live run is given: one `LiveOptions`, built once by the command line and passed down.

The same settings used to be spelled out as keyword arguments at every layer (the runner, the
Daily session, the listen/send tools, the command line, live rehearsal), and they drifted. Now
each layer takes this one object and reads the part it needs:

* `Connection` — which conversation (`target`: a URL to join or a create body), how to reach it
  (the Tavus API base URL or a client, the `daily` module — a fake room in tests), and how long
  each step may take;
* `Identity` — who is who in the room: the name cviscript joins under, and what marks the replica;
* `Limits` — what bounds a run: the send rate and burst, the run's longest duration;
* `Audio` — audio echo pacing, and the virtual microphone a spoken visitor talks through;
* `Steering` — how a person watches and steers a run (``--speed``, ``--interactive``,
  ``--with-script``, ``--control``); read by the command line around the run, not by the runner.

Every part is frozen: derive a changed copy with `dataclasses.replace` (live rehearsal does, per
case). This module imports nothing heavy, so the command line can build the options before it
knows whether the run is live.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .outbox import BURST, MAX_RATE
from .target import LiveTarget

RELEASE_TIMEOUT = 5.0  # how long cleanup waits for the Daily client's release

Status = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Connection:
    """Which conversation, and how to reach it.

    `client` is a `TavusClient` to use (default: one for `api_url`, else ``TAVUS_API_URL``, else
    Tavus's own); `daily` is the daily module (default: ``import daily``; tests and offline trials
    pass a `cviscript.sessions.fake.FakeDaily`); `time_scale` > 1 runs the scenario's clock that
    much faster than real time — only for the fake room, whose replica runs on the same scale.
    """

    target: LiveTarget = field(default_factory=LiveTarget)
    api_url: str | None = None
    client: Any = None
    daily: Any = None
    join_timeout: float = 30.0
    replica_timeout: float = 60.0
    release_timeout: float = RELEASE_TIMEOUT
    time_scale: float = 1.0


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is who in the room: cviscript joins as `user_name`; the replica is recognised by
    `replica_user_id` or `replica_name` when given (else by the usual signals), and by any of
    `persona_names` (the persona's name is its Daily user name) — a match by name alone is
    provisional for `name_grace` seconds (None: `daily_replica.NAME_GRACE`)."""

    user_name: str = "cviscript"
    replica_user_id: str | None = None
    replica_name: str | None = None
    persona_names: tuple[str, ...] = ()
    name_grace: float | None = None


@dataclass(frozen=True, slots=True)
class Limits:
    """What bounds a run: app-messages per second after a burst of `burst` (None: unpaced), and
    `max_duration` seconds on the scenario's clock, after which the run stops as ``failed`` (which
    bounds what a conversation costs)."""

    max_rate: float | None = MAX_RATE
    burst: int = BURST
    max_duration: float | None = None


@dataclass(frozen=True, slots=True)
class Audio:
    """Audio echo pacing (`chunk_ms`, `speed`; None: the engine's defaults) and the name of a
    virtual microphone to join with (a spoken visitor talks through it)."""

    chunk_ms: int | None = None
    speed: float | None = None
    microphone: str | None = None


@dataclass(frozen=True, slots=True)
class Steering:
    """How a person watches and steers a run: `speed` (simulated runs only), the `interactive`
    prompt (where the person is the visitor; `script`: the rehearsal's scripted visitor plays
    too, simulated runs only), a `control` server's (host, port)."""

    interactive: bool = False
    control: tuple[str, int] | None = None
    speed: float | None = None
    script: bool = False

    @property
    def paced(self) -> bool:
        """A simulated run with any of these goes at a human pace instead of instantly."""
        return self.interactive or self.speed is not None or self.control is not None


@dataclass(frozen=True, slots=True)
class LiveOptions:
    """Everything a live run is given (see the module docstring). `context_spelling` picks the
    context interactions' names (None: the scenario's); `on_status` hears progress lines
    (default: logged at INFO)."""

    connection: Connection = field(default_factory=Connection)
    identity: Identity = field(default_factory=Identity)
    limits: Limits = field(default_factory=Limits)
    audio: Audio = field(default_factory=Audio)
    steering: Steering = field(default_factory=Steering)
    context_spelling: str | None = None
    on_status: Status | None = None
