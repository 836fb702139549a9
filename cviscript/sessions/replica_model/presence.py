"""Presence: the replica joining, staying (heartbeats) and ending the conversation.

* Joining (after `join_delay`): ``system.replica_joined``, the conversation's ``custom_greeting``
  spoken at once (before anything the client sends can be), then the caller is told the replica is
  present. Anything the client sent before this is lost: Daily stores no app-message for a late
  joiner.
* Staying: a 2026 server repeats ``system.replica_present`` (with an ``attempt`` counter) every
  `heartbeat` seconds. It is a heartbeat, not a join.
* Ending: when `max_call_duration` has passed since the join, or on `end(reason)` (the REST end
  endpoint, a scripted shutdown), ``system.shutdown`` with a documented ``shutdown_reason``; then,
  if the visitor was perceived during the call, the end-of-call ``conversation.perception_analysis``
  (Tavus sends that summary after the conversation ends, never during it); then the replica leaves.
"""

from __future__ import annotations

MAX_CALL_DURATION = "max_call_duration reached"
PARTICIPANT_LEFT_TIMEOUT = "participant_left_timeout reached"
PARTICIPANT_ABSENT_TIMEOUT = "participant_absent_timeout reached"
END_ENDPOINT = "end_conversation_endpoint_hit"
BOT_COULD_NOT_JOIN = "bot_could_not_join_meeting_it_was_probably_ended"
ROOM_DELETED = "daily_room_has_been_deleted"
STARTUP_EXCEPTION = "exception_encountered_during_conversation_startup"
INTERNAL_ERROR = "internal error occurred at step x"  # "x" is the page's own placeholder
# The eight documented reasons (https://docs.tavus.io/sections/webhooks-and-callbacks); the
# webhook example spells one without " reached", so a reader should match loosely.
SHUTDOWN_REASONS = (
    MAX_CALL_DURATION,
    PARTICIPANT_LEFT_TIMEOUT,
    PARTICIPANT_ABSENT_TIMEOUT,
    BOT_COULD_NOT_JOIN,
    ROOM_DELETED,
    STARTUP_EXCEPTION,
    END_ENDPOINT,
    INTERNAL_ERROR,
)
LEAVE_AFTER_SHUTDOWN = 0.5  # seconds between system.shutdown and the replica leaving the room


def perception_summary(observations: list[str]) -> str:
    """The end-of-call visual summary of what was perceived during the call."""
    return "Visual observations during the call: " + "; ".join(observations)
