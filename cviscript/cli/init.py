"""`cviscript init NAME --template echo-demo|kiosk|interview` — write a starter scenario.

The starters live in ``cviscript/starters/`` (package data). Each one validates without a warning
and its rehearsals pass as written (tests check both), so a new user starts from green and
changes one thing at a time. Placeholders replaced on writing: ``__NAME__`` (the scenario's
name, the file's stem), ``__FILE__`` (the path written) and ``__SCHEMA__`` (where the shipped JSON
Schema is, for the ``yaml-language-server`` modeline).

The modeline names a copy of the schema inside the project, by a path relative to the new file:
``schemas/scenario.schema.json`` at the project's top (the nearest folder above the file, up to
the current one, with a ``pyproject.toml``, ``.git`` or ``mkdocs.yml``; else the current folder),
written or refreshed by `init`. An absolute path (or ``file://`` URI) of the installed package
would differ on every machine and be committed into every scenario; a project-relative one works
in every clone. A scenario moved to another folder needs its modeline's ``../`` adjusted (or the
editor's ``yaml.schemas`` setting pointed at the copy).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import click

from .common import EXIT_INVALID, fail

STARTERS_DIR = Path(__file__).resolve().parent.parent / "starters"
TEMPLATES = ("echo-demo", "kiosk", "interview")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def starter_path(template: str) -> Path:
    return STARTERS_DIR / f"{template}.yaml"


def target_path(name: str) -> Path:
    """``demo`` -> ``demo.yaml``; ``scenarios/demo.yaml`` stays as it is."""
    path = Path(name)
    return path if path.suffix in (".yaml", ".yml") else path.with_name(path.name + ".yaml")


SCHEMA_COPY = Path("schemas") / "scenario.schema.json"  # under the project's top
_PROJECT_MARKERS = ("pyproject.toml", ".git", "mkdocs.yml")


def project_top(target: Path) -> Path:
    """The project a new scenario at `target` belongs to (see the module's docstring)."""
    here = Path.cwd().resolve()
    folder = target.parent.resolve()
    inside = folder == here or here in folder.parents
    probe = folder
    while True:
        if any((probe / marker).exists() for marker in _PROJECT_MARKERS):
            return probe
        if inside and probe == here:
            return here
        if probe.parent == probe:
            return folder  # outside the current folder, in no project: beside the file
        probe = probe.parent


def schema_ref(target: Path) -> str:
    """The modeline's schema for a file at `target`: the project's copy, relative to `target`'s
    folder (forward slashes, as editors read it)."""
    copy = project_top(target) / SCHEMA_COPY
    return Path(os.path.relpath(copy, target.parent.resolve())).as_posix()


def write_schema_copy(target: Path) -> Path | None:
    """Write (or refresh) the project's copy of the schema; its path when it changed."""
    from ..language.schema import schema_json

    copy = project_top(target) / SCHEMA_COPY
    text = schema_json()
    try:
        if copy.read_text(encoding="utf-8") == text:
            return None
    except OSError:
        pass
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_text(text, encoding="utf-8")
    return copy


def starter_text(template: str, target: Path) -> str:
    """The starter `template` filled in for a file at `target`. Raises ValueError for a name
    that is not a plain word (letters, digits, ``_ . -``)."""
    if template not in TEMPLATES:
        raise ValueError(f"unknown template {template!r}; use one of {', '.join(TEMPLATES)}")
    name = target.stem
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"{name!r} is not a usable scenario name: use letters, digits, '_', '.' and '-' "
            "(it is also the file name)"
        )
    text = starter_path(template).read_text(encoding="utf-8")
    return (
        text.replace("__SCHEMA__", schema_ref(target))
        .replace("__FILE__", target.as_posix())
        .replace("__NAME__", name)
    )


def write_starter(name: str, template: str, *, force: bool = False) -> Path:
    """Write the starter for NAME; FileExistsError unless `force`."""
    target = target_path(name)
    text = starter_text(template, target)
    if target.exists() and not force:
        raise FileExistsError(f"{target} already exists (use --force to overwrite it)")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    write_schema_copy(target)
    return target


@click.command(
    "init",
    epilog="""\b
Templates:
  echo-demo  scripted product demo in echo mode: the replica says your words
  kiosk      full-pipeline receptionist: steers the LLM, answers its tool call
  interview  questions from vars, answers counted, silence re-asked

\b
Examples:
  cviscript init demo                       # writes demo.yaml (echo-demo)
  cviscript init scenarios/lobby --template kiosk
  cviscript rehearse scenarios/lobby.yaml   # its rehearsals pass as written""",
)
@click.argument("name")
@click.option(
    "--template",
    "-t",
    type=click.Choice(TEMPLATES),
    default="echo-demo",
    show_default=True,
    help="Which starter to write.",
)
@click.option("--force", is_flag=True, help="Overwrite NAME.yaml if it exists.")
def command(name, template, force):
    """Write NAME.yaml, a starter scenario whose rehearsals pass as written.

    NAME is also the scenario's name; NAME may include a folder (scenarios/demo).
    """
    try:
        target = write_starter(name, template, force=force)
    except (ValueError, FileExistsError) as err:
        fail(str(err), EXIT_INVALID)
    except OSError as err:
        fail(f"cannot write {target_path(name)}: {err.strerror or err}", EXIT_INVALID)
    click.echo(f"wrote {target} (template {template})")
    schema = project_top(target) / SCHEMA_COPY
    click.echo(f"editors read its keys from {os.path.relpath(schema)} (commit it with the project)")
    click.echo(f"next: cviscript validate {target}  &&  cviscript run {target}")
