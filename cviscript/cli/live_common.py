"""What the live commands (`run --url/--create/--live`, `listen`, `send`) share.

* Connection options, spelled the same everywhere, and collected by `connection_options` into
  one `ConnectionFlags` (from which a command builds its `LiveOptions`).
* Logging: the library logs through `logging`; during a live command, warnings and errors are
  printed as ``cviscript: warning: ...`` lines on stderr (``--verbose`` adds progress details).
  The conversation's own warnings (dropped or ignored messages) are already lines of the
  transcript, so they are not printed twice.
* ``--quiet-sdk``: daily-python writes JSON ``ERROR`` lines straight to file descriptor 2 whatever
  its log level; only an fd-level redirect hides them. While it is on, fd 2 goes to /dev/null and
  Python's `sys.stderr` writes to a duplicate of the real stderr, so cviscript's own messages
  still show. (Anything else writing to fd 2 directly — a crash report — is hidden too.)
* The testing aid ``CVISCRIPT_FAKE_DAILY``: when set (``1``, or a JSON object of settings, see
  `cviscript.sessions.fake.replica.fake_daily_from_env`), the live commands use an in-process fake
  Daily room with a scripted replica instead of daily-python. Nothing real is joined; Tavus REST
  calls still go to the API URL. It exists so that the whole command line can be tested offline.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import click

from ..printable import printable
from ..sessions.fake import FAKE_DAILY_ENV
from ..sessions.live.options import Connection, Identity
from ..sessions.live.target import LiveTarget
from .common import collect

_F = Callable[..., Any]


@dataclass(frozen=True, slots=True)
class ConnectionFlags:
    """What the shared connection flags said (`connection_options` passes one as `flags`)."""

    conversation_id: str | None
    token: str | None = field(repr=False)
    join_timeout: float
    replica_timeout: float
    identity: Identity
    quiet_sdk: bool
    verbose: bool

    def target(self, url: str) -> LiveTarget:
        """The conversation at `url`, with the id and token given."""
        return LiveTarget(url=url, conversation_id=self.conversation_id, token=self.token)

    def connection(
        self, target: LiveTarget, *, api_url: str | None = None, daily: Any = None
    ) -> Connection:
        return Connection(
            target=target,
            api_url=api_url,
            daily=daily,
            join_timeout=self.join_timeout,
            replica_timeout=self.replica_timeout,
        )


def _flags(
    conversation_id: str | None,
    token: str | None,
    join_timeout: float,
    replica_timeout: float,
    replica_user_id: str | None,
    replica_name: str | None,
    quiet_sdk: bool,
    verbose: bool,
) -> ConnectionFlags:
    identity = Identity(replica_user_id=replica_user_id, replica_name=replica_name)
    return ConnectionFlags(
        conversation_id, token, join_timeout, replica_timeout, identity, quiet_sdk, verbose
    )


_FLAG_NAMES = (
    "conversation_id",
    "token",
    "join_timeout",
    "replica_timeout",
    "replica_user_id",
    "replica_name",
    "quiet_sdk",
    "verbose",
)


def connection_options(fn: _F) -> _F:
    """--conversation-id / --token / --join-timeout / --replica-timeout / --replica-user-id /
    --replica-name / --quiet-sdk / --verbose, passed to the command as one `flags`."""
    fn = collect("flags", _flags, *_FLAG_NAMES)(fn)
    for decorator in reversed(
        [
            click.option(
                "--conversation-id",
                metavar="ID",
                help="The conversation's id (default: the last part of the URL).",
            ),
            click.option(
                "--token",
                metavar="TOKEN",
                help="A Daily meeting token, for a conversation created with require_auth.",
            ),
            click.option(
                "--join-timeout",
                type=click.FloatRange(min=0.1),
                default=30.0,
                show_default=True,
                metavar="SECONDS",
                help="How long joining the Daily room may take.",
            ),
            click.option(
                "--replica-timeout",
                type=click.FloatRange(min=0.1),
                default=60.0,
                show_default=True,
                metavar="SECONDS",
                help="How long to wait for the replica to be in the room.",
            ),
            click.option(
                "--replica-user-id",
                metavar="ID",
                help="Recognise the replica by this Daily user id (or its start) instead of the "
                "usual signals (a user id containing tavus-replica or tavus-pal, the persona's "
                "name as user name).",
            ),
            click.option(
                "--replica-name",
                metavar="NAME",
                help="Recognise the replica by this Daily user name instead of the usual signals.",
            ),
            click.option(
                "--quiet-sdk",
                is_flag=True,
                help="Hide daily-python's own JSON log lines (it writes them to stderr directly).",
            ),
            click.option("--verbose", "-v", is_flag=True, help="Print more progress details."),
        ]
    ):
        fn = decorator(fn)
    return fn


def exit_with(code: int, released: bool = True) -> None:
    """Exit with `code`. While daily-python still holds a pending join (`released` False), a
    normal interpreter exit would linger and then abort: everything of ours is flushed and
    closed by now, so leave at once."""
    if not released:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def fake_daily() -> Any:
    """The fake Daily module when ``CVISCRIPT_FAKE_DAILY`` asks for one (a testing aid), else
    None (daily-python)."""
    spec = os.environ.get(FAKE_DAILY_ENV, "")
    if not spec.strip():
        return None
    from ..sessions.fake.replica import fake_daily_from_env

    return fake_daily_from_env(spec)


class _EchoHandler(logging.Handler):
    """Prints records with click (whatever `sys.stderr` is at the time)."""

    def __init__(self, verbose: bool):
        super().__init__(logging.INFO if verbose else logging.WARNING)
        self.verbose = verbose

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.verbose and record.name.startswith("cviscript.engine.conversation"):
            return record.levelno >= logging.ERROR  # dropped/ignored: already transcript lines
        return super().filter(record)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = printable(record.getMessage())  # may quote what the room sent
            click.echo(f"cviscript: {record.levelname.lower()}: {message}", err=True)
            if record.exc_info and self.verbose:
                click.echo(logging.Formatter().formatException(record.exc_info), err=True)
        except Exception:
            self.handleError(record)


@contextlib.contextmanager
def cli_logging(verbose: bool = False) -> Iterator[None]:
    """Library log records as ``cviscript: level: message`` lines on stderr, for one command."""
    logger = logging.getLogger("cviscript")
    handler = _EchoHandler(verbose)
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(min(handler.level, logger.getEffectiveLevel()))
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


@contextlib.contextmanager
def sdk_stderr_hidden(enabled: bool = True) -> Iterator[None]:
    """Point fd 2 at /dev/null while `sys.stderr` keeps writing to the real stderr."""
    try:
        real = sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):  # replaced stderr (tests): fd 2 is not ours
        real = False
    if not enabled or not real:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    os.close(null)
    old = sys.stderr
    sys.stderr = open(  # noqa: SIM115 - closed below
        saved, "w", buffering=1, encoding=old.encoding, errors="backslashreplace", closefd=False
    )
    try:
        yield
    finally:
        sys.stderr.flush()
        sys.stderr.close()
        sys.stderr = old
        os.dup2(saved, 2)
        os.close(saved)


def status_printer(quiet: bool) -> Callable[[str], None]:
    """Progress lines (``cviscript: joining ...``) on stderr, unless quiet."""

    def status(text: str) -> None:
        if not quiet:
            click.echo(f"cviscript: {text}", err=True)

    return status
