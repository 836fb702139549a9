"""Helpers shared by the click commands: loading with friendly errors, `--var`, exit codes."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import click

from ..errors import ScenarioError
from ..printable import printable

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_CONNECT = 3
EXIT_STOPPED = 4  # the person at the prompt ended the run (`/quit`): neither passed nor failed


def exit_code_for(result: Any) -> int:
    """A finished run's exit code: 0 completed, 4 stopped at the prompt, 1 anything else."""
    if result.ok:
        return EXIT_OK
    return EXIT_STOPPED if result.outcome == "stopped" else EXIT_FAILED


def collect(name: str, build: Callable[..., Any], *params: str) -> Callable[[Any], Any]:
    """A command decorator (put it below the options it collects): the options `params` reach
    the command as one parameter `name`, ``build(**those options)`` — a typed object instead of
    a long parameter list or a loose dict."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def command(*args: Any, **kwargs: Any) -> Any:
            kwargs[name] = build(**{param: kwargs.pop(param) for param in params})
            return fn(*args, **kwargs)

        return command

    return decorate


def resolve_color(flag: bool | None) -> bool:
    """`--color/--no-color`: the flag when given (then click keeps or strips the styles
    accordingly, into a pipe too), else whether stdout is a terminal."""
    if flag is None:
        return sys.stdout.isatty()
    ctx = click.get_current_context(silent=True)
    while ctx is not None:  # click.echo strips styles off a pipe unless told
        ctx.color = flag
        ctx = ctx.parent
    return flag


def fail(message: str, code: int) -> NoReturn:
    click.echo(f"cviscript: {printable(message)}", err=True)
    sys.exit(code)


def print_diagnostics(err: ScenarioError) -> None:
    for diag in err.diagnostics:
        click.echo(str(diag), err=True)


def load_or_exit(path: str, *, show_warnings: bool = False, strict: bool = False) -> Any:
    """The scenario, or exit 2 printing every problem. Warnings go to stderr when asked.
    `strict`: the persona findings are errors (``--strict``)."""
    from ..language.validate import load_scenario

    warnings: list[Any] = []
    try:
        scenario = load_scenario(path, warnings=warnings, strict=strict)
        if show_warnings:
            for diag in warnings:
                click.echo(str(diag), err=True)
        return scenario
    except ScenarioError as err:
        print_diagnostics(err)
        n = sum(1 for d in err.diagnostics if d.severity == "error")
        fail(f"{path}: {n} error{'s' if n != 1 else ''}, not run", EXIT_INVALID)


def _set_include_root(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value:
        import os

        from ..language.include import ROOT_ENV

        os.environ[ROOT_ENV] = os.path.realpath(value)  # also for rehearse -j's worker processes


def include_root_option(f: Any) -> Any:
    """``--include-root DIR``: the folder `include:` fragments must resolve inside (default: the
    scenario's own folder)."""
    return click.option(
        "--include-root",
        type=click.Path(exists=True, file_okay=False),
        envvar="CVISCRIPT_INCLUDE_ROOT",
        expose_value=False,
        is_eager=True,
        callback=_set_include_root,
        help="Folder every include: fragment must be inside (symlinks resolved); default: the "
        "scenario's own folder. Env: CVISCRIPT_INCLUDE_ROOT.",
    )(f)


def parse_vars(pairs: tuple[str, ...]) -> dict[str, Any]:
    from ..language.templates import parse_scalar

    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise click.BadParameter(f"{pair!r} is not name=value", param_hint="'--var'")
        out[name] = parse_scalar(value)
    return out


def conversation_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A click callback: a `--url` that cannot be a room URL is a usage error (exit 2)."""
    if value is None:
        return None
    from ..sessions.live.target import url_problem

    problem = url_problem(value)
    if problem:
        raise click.BadParameter(problem)
    return value


def _no_cache(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    if value:
        from ..language.cache import disable

        disable()
    return value


no_cache_option = click.option(
    "--no-cache",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_no_cache,
    help="Load every scenario afresh: do not read or write the scenario cache "
    "(CVISCRIPT_CACHE_DIR moves it, CVISCRIPT_NO_CACHE=1 turns it off).",
)
