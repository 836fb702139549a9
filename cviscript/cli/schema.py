"""`cviscript schema` — print the JSON Schema of scenario files (generated, draft 2020-12)."""

from __future__ import annotations

import click


@click.command(
    "schema",
    epilog="""\b
Editors: put this line first in a scenario file (VS Code with the YAML extension,
or any editor using yaml-language-server) to get completion and checking:
  # yaml-language-server: $schema=PATH/TO/scenario.schema.json

\b
Examples:
  cviscript schema > scenario.schema.json
  cviscript schema --output schemas/scenario.schema.json""",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True),
    metavar="FILE",
    help="Write the schema to FILE instead of printing it.",
)
def command(output):
    """Print the JSON Schema (draft 2020-12) of scenario files.

    It is generated from the same definitions `cviscript validate` uses and rejects unknown
    keys. What a schema cannot check (a goto naming a state that exists, regexes and templates
    that compile) only `cviscript validate` does.
    """
    from ..language.schema import schema_json

    text = schema_json()
    if output is None:
        click.echo(text, nl=False)
        return
    with open(output, "w", encoding="utf-8") as fh:
        fh.write(text)
    click.echo(f"wrote {output}", err=True)
