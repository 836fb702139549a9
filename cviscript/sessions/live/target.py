"""Which live conversation a run asks for, and the small settings around it.

Kept apart from `cviscript.sessions.live.runner` so that the command line can decide between a simulated
and a live run without importing asyncio, urllib or the Daily session: a plain simulated
`cviscript run` stays fast.

Precedence: the command line over the file. The live path is taken only when asked (``--url``,
``--create``, ``--live``); a file's ``conversation:`` section alone never makes a run go live,
since that could create a billed conversation by surprise.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ... import errors
from ...language.model import Scenario
from ...printable import printable


@dataclass(slots=True)
class LiveTarget:
    """Where a live run goes: an existing conversation (`url`) or a new one (`create` body)."""

    url: str | None = None
    conversation_id: str | None = None
    token: str | None = field(default=None, repr=False)
    create: dict[str, Any] | None = None
    source: str = "command line"  # or "file" — for messages

    @property
    def test_mode(self) -> bool:
        return bool(self.create and self.create.get("test_mode") is True)


def resolve_target(
    scenario: Scenario,
    *,
    url: str | None = None,
    conversation_id: str | None = None,
    token: str | None = None,
    create: bool = False,
    live: bool = False,
    simulate: bool = False,
    test_mode: bool = False,
    vars_override: dict[str, Any] | None = None,
) -> LiveTarget | None:
    """The live conversation the command line asks for, or None for a simulated run.

    The live path is taken only when asked: `url` (join that conversation), `create` (create one
    from the file's ``conversation.create``) or `live` (whatever the file's ``conversation:``
    says). A file's ``conversation:`` alone never makes a plain run go live — that could create a
    billed conversation by surprise. The command line wins over the file; a `url` replaces the
    file's url, id and token together. The file's strings are templates rendered with its
    ``vars`` (and `vars_override`) only. Raises `UsageError` or `TemplateRenderError`.
    """
    asked = [
        name for name, value in (("--url", url), ("--create", create), ("--live", live)) if value
    ]
    extras = [
        name
        for name, value in (
            ("--conversation-id", conversation_id),
            ("--token", token),
            ("--test-mode", test_mode),
        )
        if value
    ]
    if simulate:
        if asked or extras:
            raise errors.UsageError(
                f"--simulate runs against the simulated replica; it cannot be combined with "
                f"{', '.join(asked + extras)}"
            )
        return None
    if not asked:
        if extras:
            raise errors.UsageError(f"{extras[0]} needs --url, --create or --live")
        return None
    if url and create:
        raise errors.UsageError(
            "--url joins an existing conversation and --create starts a new one: give one"
        )
    settings = scenario.conversation
    render = _renderer(scenario, vars_override)
    if url:
        target = LiveTarget(url=url, conversation_id=conversation_id, token=token)
    elif create or settings.url is None:
        if settings.create is None:
            where = "--create" if create else "--live"
            raise errors.UsageError(
                f"{where}: {scenario.path} has no conversation: settings to "
                + (
                    "create a conversation from (conversation.create: persona_id, replica_id ...)"
                    if create
                    else "use; give --url URL, or add conversation: url or create"
                )
            )
        if conversation_id or token:
            raise errors.UsageError(
                "--conversation-id and --token are for joining an existing conversation (--url);"
                " a created conversation gets its own"
            )
        target = LiveTarget(create=render(settings.create), source="file")
    else:
        target = LiveTarget(
            url=render(settings.url),
            conversation_id=conversation_id
            or (render(settings.id) if settings.id is not None else None),
            token=token or (render(settings.token) if settings.token is not None else None),
            source="file",
        )
    if test_mode:
        if target.create is None:
            raise errors.UsageError("--test-mode only applies when creating a conversation")
        target.create["test_mode"] = True
    if target.url is not None:
        target.url = target.url.strip()
        if not target.url:
            raise errors.UsageError("the conversation URL is empty")
        problem = url_problem(target.url)
        if problem:
            raise errors.UsageError(problem)
        if not target.conversation_id:
            from .tavus_api import conversation_id_from_url

            target.conversation_id = conversation_id_from_url(target.url)
    return target


def _renderer(scenario: Scenario, vars_override: dict[str, Any] | None) -> Callable[[Any], Any]:
    from ...language.templates import render_value

    context = {
        "vars": {**scenario.vars, **(vars_override or {})},
        "event": {},
        "state": None,
        "visits": 0,
    }
    return lambda value: render_value(value, context, None)


def url_problem(url: str) -> str | None:
    """Why `url` cannot be a conversation's room URL, or None. Checked before anything is
    joined: daily-python's own answer to 'notaurl' is a parse error logged as raw JSON and
    'could not reach Daily' (exit 3), which sends a user looking at the network."""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme in ("http", "https") and parts.netloc:
        return None
    shown = printable(url.strip()[:120], keep_newlines=False)
    return (
        f"the conversation URL '{shown}' is not an https:// URL: give the conversation_url Tavus returned,"
        " e.g. https://tavus.daily.co/c123456"
    )


def public_url(url: str) -> str:
    """The URL without query or fragment (a Daily URL may carry a token as ``?t=``)."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def tune_audio(conversation: Any, chunk_ms: int | None = None, speed: float | None = None) -> None:
    """Set the audio echo pacing of a conversation's engine (`ActionRunner.set_audio_pacing`)."""
    conversation.engine.actions.set_audio_pacing(chunk_ms, speed)
