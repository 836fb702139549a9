"""Writes real-shaped-1.jsonl and real-shaped-2.jsonl: live transcripts as a 2026 Tavus server would
produce them, built from documented payloads only (docs.tavus.io event schemas and the
interactions-protocol overview; the single-shot greeting and the echoed respond as Tavus's own
React template expects them). No real session was recorded: this is the shape, with made-up but
plausible timing (a reply 1.0-1.6 s after the visitor's last word, ~150 words per minute).

What the stream shows: the replica already in the room (no system.replica_joined, heartbeats
with `attempt`), every replica fact as a role-specific event plus role-agnostic copies with role
`pal` and `replica` (a copy with its own seq or sharing one), replica replies streamed as
`conversation.utterance.streaming`, the greeting not streamed, the client's respond echoed back
as a user utterance, a tool call (arguments a JSON string) with a filler and nothing spoken after
the result (on_resolve fire_and_forget), `system.shutdown` with an ISO timestamp.

    python tests/data/fidelity/make_real_shaped.py    # rewrites both files (seeded: identical)
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).parent
EPOCH = 1_796_400_000.0  # 2026-12-04
REPLY = (1.0, 1.6)  # seconds, a visitor's last word to the replica's first
WPM = 150.0


class Stream:
    def __init__(self, cid: str, rng: random.Random, start: float):
        self.cid, self.rng, self.t0 = cid, rng, start
        self.t = 0.0
        self.seq = 0
        self.turn = 0
        self.records: list[dict] = []
        self.latencies: list[float] = []

    def rec(self, kind: str, **data) -> None:
        self.records.append(
            {"t": round(self.t, 6), "ts": round(self.t0 + self.t, 6), "kind": kind, **data}
        )

    def msg(self, event_type: str, props: dict | None = None, *, inf: str | None = None,
            seq: int | None = None, stamp=None) -> None:  # fmt: skip
        if seq is None:
            self.seq += 1
            seq = self.seq
        m = {"message_type": "system" if event_type.startswith("system.") else "conversation",
             "event_type": event_type, "conversation_id": self.cid}  # fmt: skip
        if props is not None:
            m["properties"] = props
        if inf:
            m["inference_id"] = inf
        m.update(seq=seq, turn_idx=self.turn, timestamp=stamp or round(self.t0 + self.t, 3))
        self.rec("received", message=m, sender="9f3c1e2a-replica")
        self.t += self.rng.uniform(0.002, 0.02)

    def copies(self, event_type: str, props: dict, inf: str) -> None:
        """A role-agnostic (or legacy-role) copy with role pal, then again with role replica."""
        self.msg(event_type, {"role": "pal", **props}, inf=inf)
        share = self.seq if self.rng.random() < 0.5 else None
        self.msg(event_type, {"role": "replica", **props}, inf=inf, seq=share)

    def replica_turn(self, text: str, inf: str, *, stream: bool = True) -> None:
        self.msg("conversation.replica.started_speaking", inf=inf)
        self.copies("conversation.started_speaking", {}, inf)
        self.copies("conversation.utterance", {"speech": text}, inf)
        words = text.split()
        length = len(words) * 60.0 / (WPM * self.rng.uniform(0.95, 1.05))
        begun = self.t
        if stream:
            chunks = [i for i, w in enumerate(words[:-1]) if w[-1] in ",.!?"]
            for n, i in enumerate(chunks):
                self.t = begun + length * (i + 1) / len(words)
                self.copies("conversation.utterance.streaming",
                            {"speech": " ".join(words[: i + 1]), "content_index": n, "final": False}, inf)  # fmt: skip
            self.t = begun + length
            self.copies("conversation.utterance.streaming",
                        {"speech": text, "content_index": len(chunks), "final": True}, inf)  # fmt: skip
        self.t = begun + length
        done = {"duration": round(length, 3), "interrupted": False}
        self.msg("conversation.replica.stopped_speaking", done, inf=inf)
        self.copies("conversation.stopped_speaking", done, inf)

    def visitor(self, text: str, inf: str) -> None:
        self.turn += 1
        self.msg("conversation.user.started_speaking", inf=inf)
        self.msg("conversation.started_speaking", {"role": "user"}, inf=inf)
        length = len(text.split()) * 60.0 / 140.0
        self.t += length
        self.msg("conversation.user.stopped_speaking", inf=inf)
        last_word = self.t
        self.msg("conversation.stopped_speaking", {"role": "user", "duration": round(length, 3),
                                                   "interrupted": False}, inf=inf)  # fmt: skip
        self.msg("conversation.utterance", {"role": "user", "speech": text}, inf=inf)
        self.t = last_word + self.rng.uniform(*REPLY)
        self.latencies.append(self.t - last_word)

    def heartbeat(self, attempt: int) -> None:
        self.msg("system.replica_present", {"attempt": attempt})

    def send(self, event_type: str, props: dict) -> None:
        self.rec("sent", message={"message_type": "conversation", "event_type": event_type,
                                  "conversation_id": self.cid, "properties": props})  # fmt: skip
        self.t += 0.001


def conversation(n: int) -> tuple[dict, list[dict], list[float]]:
    rng = random.Random(1000 + n)
    cid = f"c7a4f1e2b9d{n:02d}"
    s = Stream(cid, rng, EPOCH + 3600 * n)
    header = {"t": 0.0, "ts": s.t0, "kind": "header", "format": "cviscript-transcript", "version": 1,
              "scenario": "lobby-kiosk", "file": "scenarios/kiosk.yaml", "mode": "live",
              "rehearsal": None, "seed": None, "conversation_id": cid,
              "url": f"https://tavus.daily.co/{cid}", "created": True}  # fmt: skip
    s.t = 0.2
    s.rec("log", text="the replica was already in the room when this client joined",
          level="info", replica_first=True)  # fmt: skip
    s.heartbeat(1)
    s.turn += 1
    s.replica_turn("Welcome to Acme HQ! I'm Anna, the lobby assistant.", "inf-greet", stream=False)
    s.send(
        "conversation.overwrite_llm_context", {"context": "You are the receptionist of Acme HQ."}
    )
    s.send("conversation.respond", {"text": "Hello!"})
    s.turn += 1
    s.t += 0.3
    s.msg("conversation.utterance", {"role": "user", "speech": "Hello!"}, inf="inf-r1")
    s.t += rng.uniform(*REPLY)
    s.replica_turn("Hello and welcome to Acme HQ, how can I help you today?", "inf-r1")
    lines = [
        ("Hi, I'm here to see Ada for a meeting.", "tool"),
        ("Is there somewhere I can get a coffee while I wait?", "Yes, the cafe on the ground floor, just past the lifts, is open until five."),
        ("And where can I leave my coat, please?", "There is a cloakroom to your right, next to the main entrance."),
        ("Thanks, and is there wifi for visitors?", "Yes, join Acme Guest, the password is on the card at the desk."),
    ]  # fmt: skip
    for i, (text, reply) in enumerate(lines):
        s.t += rng.uniform(1.0, 3.0)
        if i == 2:
            s.heartbeat(2)
        inf = f"inf-u{i}"
        s.visitor(text, inf)
        if reply == "tool":
            call = f"call-{n}-{i}"
            s.msg("conversation.tool_call", {"name": "lookup_meeting",
                  "arguments": json.dumps({"host": "Ada"}), "tool_call_id": call}, inf=inf)  # fmt: skip
            s.send("conversation.tool_result", {"tool_call_id": call, "output": "Ada Lovelace, 3rd floor",
                                                "status": "success"})  # fmt: skip
            s.replica_turn("One moment while I look that up for you.", inf)
            s.t += 0.5
        else:
            s.replica_turn(reply, inf)
    s.t += 1.0
    s.send(
        "conversation.echo",
        {"modality": "text", "text": "Have a great day at Acme HQ!", "done": True},
    )
    s.t += rng.uniform(0.4, 0.7)
    s.turn += 1
    s.replica_turn("Have a great day at Acme HQ!", "inf-echo")
    s.t += 30.0
    iso = datetime.fromtimestamp(s.t0 + s.t, UTC).isoformat().replace("+00:00", "Z")
    s.msg("system.shutdown", {"shutdown_reason": "participant_left_timeout reached"}, stamp=iso)
    s.rec("outcome", outcome="completed", reason="reached final state 'farewell'", state="farewell",
          path=["welcome", "meeting", "checked_in", "farewell"], vars={}, duration=round(s.t, 3))  # fmt: skip
    return header, s.records, s.latencies


def main() -> None:
    for n in (1, 2):
        header, records, latencies = conversation(n)
        path = HERE / f"real-shaped-{n}.jsonl"
        with path.open("w", encoding="utf-8") as fh:
            for rec in [header, *records]:
                fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
        print(path.name, "reply latencies", [round(x, 3) for x in latencies])


if __name__ == "__main__":
    main()
