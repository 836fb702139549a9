"""Which participant of the Daily room is the replica: the replica-tracking half of `DailySession`.

Only Tavus steers, so only the replica's app-messages count — and the replica is recognised from
Daily's participant data alone (`replica_id.ReplicaRecognizer`: user id marks, the persona's name,
or what the command line names), never from what a message says. A participant recognised more
strongly (its user id) replaces one recognised by its name only; a second replica is ignored.

A name is the weakest signal — anyone joining picks their own — so it never outranks a Tavus user
id, and a name match is *provisional*: its messages are held (not acted on) for `name_grace`
seconds (`NAME_GRACE`), waiting for a participant with a Tavus user id. If one appears, it is the
replica and the name-alike's held messages are reported as ignored; if none does, the name match
is taken, with a warning (a replica whose user id has a form we do not know still works, later).
Once identified, the messages held back from it are delivered and those from anyone else are
reported as ignored; the sink then hears that the replica is present (``present``), which is when
the scenario starts. Runs on the loop thread only.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from .replica_id import STRONG, WEAK, ReplicaRecognizer, Roster, participant_fields

NAME_GRACE = 5.0  # seconds a name-only match waits for a participant with a Tavus user id


class ReplicaTrackingMixin:
    """The replica-tracking half of `DailySession` (it owns the attributes used here)."""

    _state: str
    replica_id: str | None
    recognizer: ReplicaRecognizer
    roster: Roster
    _replica_strength: int
    _not_replica: set[str]
    _replica_ready: bool
    _replica_done: asyncio.Event
    _held: deque[tuple[Any, Any]]
    log: Any
    _emit: Any  # DailySession._emit
    _loop: Any
    name_grace: float | None = None  # None: NAME_GRACE
    _provisional: str | None = None  # matched by the persona's name only, not acted on yet
    _provisional_timer: Any = None

    def _scan_participants(self, participants: Any) -> None:
        if isinstance(participants, dict):
            for key, p in participants.items():
                if key != "local":
                    self._consider_participant(p)

    def add_persona_name(self, name: str) -> None:
        """The persona's name became known (a lookup that finished after joining): participants
        already in the room are looked at again."""
        if self.recognizer.add_persona_name(name) and self._state in ("connecting", "connected"):
            for pid, (user_id, user_name) in list(self.roster.seen.items()):
                if pid not in self.roster.left:
                    self._judge(pid, user_id, user_name)

    def _consider_participant(self, participant: Any) -> None:
        pid, user_id, user_name, local = participant_fields(participant)
        if pid is None or local:
            return
        self.roster.saw(pid, user_id, user_name)
        self._judge(pid, user_id, user_name)

    def _judge(self, pid: str, user_id: str, user_name: str) -> None:
        match = self.recognizer.match(user_id, user_name)
        if match is None:
            if pid != self.replica_id:
                self._not_replica.add(pid)
            return
        self._not_replica.discard(pid)
        if self.replica_id is None and match.strength == WEAK:
            self._hold_provisionally(pid, match.why)
        elif self.replica_id is None:
            self._cancel_provisional()
            self._identify(pid, match.why, match.strength)
            self._replica_ready_now()
        elif pid != self.replica_id:
            if match.strength > self._replica_strength:
                self.log.warning(
                    "participant %s (%s) is the replica, not %s, recognised by its name only",
                    pid,
                    match.why,
                    self.replica_id,
                )
                self._not_replica.add(self.replica_id)
                self._identify(pid, match.why, match.strength)
            else:
                self.log.warning("a second replica participant %s joined; ignoring it", pid)

    def _hold_provisionally(self, pid: str, why: str) -> None:
        """A name-only match: hold its messages and wait for a Tavus user id before taking it."""
        if self._provisional is not None:
            return  # the first name-alike is the candidate; a second changes nothing
        grace = NAME_GRACE if self.name_grace is None else self.name_grace
        self._provisional = pid
        self.log.info(
            "participant %s matches %s; waiting %g s for a participant with a Tavus user id "
            "before taking it for the replica (its messages are held)",
            pid,
            why,
            grace,
        )
        loop = self._loop
        if loop is None or grace <= 0:
            self._confirm_provisional(pid, why)
        else:
            self._provisional_timer = loop.call_later(grace, self._confirm_provisional, pid, why)

    def _confirm_provisional(self, pid: str, why: str) -> None:
        self._provisional_timer = None
        if self._provisional != pid or self.replica_id is not None or self._state == "closed":
            return
        self._provisional = None
        if pid in self.roster.left:
            return
        self.log.warning(
            "taking participant %s for the replica by its name only (%s): no participant with "
            "a Tavus user id joined; name it with --replica-user-id to be sure",
            pid,
            why,
        )
        self._identify(pid, why, WEAK)
        self._replica_ready_now()

    def _cancel_provisional(self) -> None:
        if self._provisional_timer is not None:
            self._provisional_timer.cancel()
            self._provisional_timer = None
        if self._provisional is not None:
            self._not_replica.add(self._provisional)
            self._provisional = None

    def provisional_left(self, pid: str) -> None:
        """A provisional name match left the room: wait for someone else."""
        if pid == self._provisional:
            if self._provisional_timer is not None:
                self._provisional_timer.cancel()
            self._provisional_timer = None
            self._provisional = None

    def _identify(self, pid: str, how: str, strength: int = STRONG) -> None:
        self.replica_id = pid
        self._replica_strength = strength
        self.log.info("the replica is participant %s (%s)", pid, how)
        held, self._held = self._held, deque()
        for message, sender in held:
            if sender == pid:
                self._emit("message", message, sender)
            else:
                self._emit("ignored", message, sender, "not from the replica")

    def _replica_ready_now(self) -> None:
        if not self._replica_ready:
            self._emit("present")  # after the held messages: the scenario starts now
        self._replica_ready = True
        self._replica_done.set()
