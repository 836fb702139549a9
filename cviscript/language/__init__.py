"""The scenario language: from a YAML file to a checked `Scenario`.

* `loader` reads YAML keeping every node's file:line:col; `spec` describes every key once, and
  `validate` checks a document against it and builds the `model`; `schema` derives the JSON Schema
  editors use from the same spec; `lint` warns about what is legal but likely wrong;
* `templates` renders Jinja2 text in a sandbox whose limits live in `template_bounds`;
* `patterns` compiles regexes for RE2 (linear-time matching); `durations` parses times.

Nothing here imports the engine, a session, rehearsal, report or the command line.
"""
