"""Scenario file -> `model.Scenario`, or every problem in it at once.

`load_scenario` reads (or takes) the text, composes it with `cviscript.language.loader` (locations, duplicate
keys, size limits), then walks the located nodes key by key against the v1 language
(docs/language.md). Each problem becomes a `Diagnostic` with file:line:col, a stable `code`
and, for misspelt keys / states / actions / events, a "did you mean"; nothing stops at the first
problem, and unknown keys are never ignored. Templates and regexes are compiled here, once.

Decisions beyond the contract (author-friendly, never ambiguous):

* ``utterance: {role: user}`` with no ``match``/``contains``/``equals`` fires on any utterance of
  that role; when several are given, all must hold.
* ``perception: {}`` fires on any perception analysis; ``perception: "regex"`` is ``{match: regex}``.
* ``enter:`` / ``exit:`` / ``do:`` may be one action instead of a list; ``interrupt`` / ``end`` may be
  written ``interrupt: true``; ``fail`` alone fails with the reason "failed"; ``echo: {text: T}`` is
  ``echo: T``; ``tool_result: T`` is ``tool_result: {output: T}``.
* ``send.event_type``, ``expect.sent`` and ``expect.not_sent`` names without a dot get
  ``conversation.`` in front (``echo`` -> ``conversation.echo``).
* In ``user:`` rules, ``on: NAME`` is ``on: {state: NAME}``; ``expect: {duration: 2m}`` is
  ``{duration: {max: 2m}}``; ``said`` / ``sent`` / ``path`` may be a single string.
* A scalar where text is expected is taken as written (``echo: 42`` says "42").
* ``set:`` values: template output is parsed back to numbers/booleans (`templates.parse_scalar`),
  plain strings stay strings.
* Scenario templates may only use ``vars``, ``event``, ``state``, ``visits`` (checked at load time);
  rehearsal texts (``say``, ``perceive``, tool arguments) are not name-checked, the simulator
  decides their context.
* ``echo: {audio: PATH}`` and ``replay: PATH`` are resolved against the scenario file's folder and
  must exist; the audio must be a 16-bit PCM WAV file (`audio.inspect_wav`; other rates and
  stereo are converted when it is streamed).

Which keys each mapping takes, which are required, the scalar types and the enumerations come from
`cviscript.language.spec`, the one declarative definition the JSON Schema (`cviscript.language.schema`) is generated
from too; this module adds what a schema cannot say (references, compiling, files, messages).

Warnings (do not fail loading; `check_file` returns them): transitions that do nothing,
``expect.sent`` names nothing sends are found here (regexes run on RE2, linear in the text, so no
pattern needs a backtracking warning: `cviscript.language.patterns`); once a file
has no errors, the graph and template rules of `cviscript.language.lint` run on the model (unreachable
states, dead ends, transitions and timers that never fire, undefined variables, unknown raw event
types).
"""

from __future__ import annotations

import dataclasses
import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import Diagnostic, ScenarioError
from . import cache as scenario_cache
from . import model as m
from . import spec as S
from .fragments import check_fragment, includers, looks_like_fragment
from .include import expand_includes, include_root
from .lint import lint
from .loader import Node, compose, read_source
from .overrides import template_timers, timer_problems, timer_seconds
from .persona_checks import CODES as PERSONA_CODES
from .persona_checks import persona_findings
from .validate_actions import ActionChecks
from .validate_persona import PersonaChecks
from .validate_rehearsals import RehearsalChecks
from .validate_states import StateChecks, state_names

SUPPORTED_VERSION = 1


def load_scenario(
    path: str | os.PathLike[str],
    *,
    source: str | None = None,
    warnings: list[Diagnostic] | None = None,
    cache: bool = True,
    include_root: str | os.PathLike[str] | None = None,
    strict: bool = False,
) -> m.Scenario:
    """The validated scenario. Raises `ScenarioError` carrying every diagnostic (errors and
    warnings) when there is at least one error. With `source`, `path` is only the displayed name
    and the folder relative paths are resolved against. Warnings of a valid file are appended to
    `warnings` when a list is given. `cache`: use the scenario cache (`cviscript.language.cache`;
    a file read from disk only). `include_root` is the folder `include:` fragments must be in
    (default: ``CVISCRIPT_INCLUDE_ROOT``, else the scenario's folder). `strict`: the persona
    findings (`persona_checks`: the scenario against its persona file) are errors."""
    if source is None and looks_like_fragment(path):
        users = includers(os.fspath(path), os.fspath(include_root) if include_root else None)
        where = (
            f"; it is included by {', '.join(users[:3])}{' …' if len(users) > 3 else ''}: "
            "run or rehearse that"
            if users
            else ": include it from one (`include: [file]`)"
        )
        raise ScenarioError(
            [
                Diagnostic(
                    "this file is an include: fragment (vars, any and states only), not a "
                    f"scenario{where}; `cviscript validate` checks it as a fragment",
                    m.Location(os.fspath(path), 1, 1),
                    "error",
                    "fragment-not-scenario",
                )
            ]
        )
    scenario, diagnostics = _load(path, source, cache, include_root)
    if strict:
        diagnostics = [
            dataclasses.replace(d, severity="error") if d.code in PERSONA_CODES else d
            for d in diagnostics
        ]
    if scenario is None or any(d.severity == "error" for d in diagnostics):
        raise ScenarioError(diagnostics)
    if warnings is not None:
        warnings.extend(diagnostics)
    return scenario


def check_file(
    path: str | os.PathLike[str],
    *,
    source: str | None = None,
    cache: bool = True,
    include_root: str | os.PathLike[str] | None = None,
) -> list[Diagnostic]:
    """Every problem (errors and warnings) in one file; never raises for a scenario problem.
    With the cache on, an unchanged file's problems come from it without loading anything."""
    if source is None and looks_like_fragment(path):
        return check_fragment(path, include_root=include_root)  # checked as a fragment
    cache = cache and include_root is None  # an explicit root: the cache keys on the env's
    if cache and source is None and (entry := scenario_cache.lookup(path)) is not None:
        return entry.diagnostics
    return _load(path, source, cache, include_root)[1]


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Loading allocates a tree of long-lived objects and frees nothing: Python's cyclic
    collector, triggered every few hundred allocations, walked the growing heap again and again
    (a third of the time a 5,000-state file took). Reference counting still frees as usual; the
    collector runs again afterwards."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _load(
    path: str | os.PathLike[str],
    source: str | None,
    use_cache: bool = True,
    include_root: str | os.PathLike[str] | None = None,
) -> tuple[m.Scenario | None, list[Diagnostic]]:
    with _no_cyclic_gc():
        if (
            source is not None
            or not use_cache
            or include_root is not None
            or scenario_cache.cache_dir() is None
        ):
            return _load_unguarded(path, source, include_root=include_root)
        return _load_through_cache(os.fspath(path))


def _has_errors(diagnostics: list[Diagnostic]) -> bool:
    return any(d.severity == "error" for d in diagnostics)


def _load_through_cache(filename: str) -> tuple[m.Scenario | None, list[Diagnostic]]:
    """A hit skips the lint rules (warnings only, cached) but always builds the model from the
    YAML again; an entry whose cases differ from that model's is not trusted."""
    entry = scenario_cache.lookup(filename)
    if entry is not None:
        if not entry.valid:
            return None, entry.diagnostics
        try:
            text = entry.source.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = None
        if text is not None:
            scenario, diagnostics = _load_unguarded(filename, text, lint_it=False)
            if (
                scenario is not None
                and not _has_errors(diagnostics)
                and scenario_cache.listing(scenario) == (entry.name, entry.cases)
            ):
                return scenario, entry.diagnostics
    with scenario_cache.recording() as deps:
        scenario, diagnostics = _load_unguarded(filename, None)
    valid = scenario is not None and not _has_errors(diagnostics)
    scenario_cache.store(filename, diagnostics, scenario if valid else None, deps)
    return scenario, diagnostics


def _load_unguarded(
    path: str | os.PathLike[str],
    source: str | None,
    *,
    lint_it: bool = True,
    include_root: str | os.PathLike[str] | None = None,
) -> tuple[m.Scenario | None, list[Diagnostic]]:
    filename = os.fspath(path)
    if source is None:
        source, problems = read_source(filename)
        if source is None:
            return None, problems
    root, diagnostics = compose(source, filename)
    scenario = None
    if root is not None:
        v = Validator(filename)
        v.include_root = include_root
        v.own_bytes = len(source.encode("utf-8", "surrogatepass"))
        scenario = v.scenario(root)
        diagnostics += v.diagnostics
    if lint_it and scenario is not None and not _has_errors(diagnostics):
        # graph and template rules need a whole, valid model: on a broken one they only add noise
        diagnostics += lint(scenario)
        diagnostics += persona_findings(scenario)
    diagnostics.sort(key=lambda d: (d.loc.line, d.loc.column) if d.loc else (0, 0))
    return scenario, [_name_includer(d, filename) for d in diagnostics]


def _name_includer(d: Diagnostic, filename: str) -> Diagnostic:
    """A problem found in an included fragment names the scenario that included it too (the
    fragment may be shared by ten scenarios, and the problem exist in one of them only)."""
    if d.loc is None or not d.loc.file or d.loc.file == filename:
        return d
    note = f" (included by {filename})"
    if d.message.endswith(note):
        return d
    return Diagnostic(d.message + note, d.loc, d.severity, d.code)


class Validator(StateChecks, ActionChecks, RehearsalChecks, PersonaChecks):
    """The whole file: the top level here, each part by its own mixin."""

    include_root: str | os.PathLike[str] | None = None
    own_bytes = 0

    # --------------------------------------------------------------------------------- top level

    def scenario(self, root: Node) -> m.Scenario | None:
        if not root.is_map:
            self.error(
                root.loc,
                "wrong-type",
                f"the top level of a scenario must be a mapping (cviscript: 1, name:, states: ...), got {root.describe()}",
            )
            return None
        if root.get("include") is not None:
            root = expand_includes(
                self,
                root,
                root_dir=include_root(self.file, self.include_root),
                used=(self.own_bytes, 0),
            )
        self.shape(root, "the scenario", S.SCENARIO)
        get = root.get
        self.version(get("cviscript"))
        name = self.string(n, "name") if (n := get("name")) else None

        states_node = get("states")
        if states_node is not None:
            if states_node.is_map and states_node.value:
                self.states = set(state_names(states_node))
            elif states_node.is_map or states_node.is_null:
                self.error(states_node.loc, "bad-value", "states must list at least one state")
            else:
                self.error(
                    states_node.loc,
                    "wrong-type",
                    f"states must be a mapping of state name to state, got {states_node.describe()}",
                )
        initial = self.state_ref(n, "initial") if (n := get("initial")) else None

        sc = m.Scenario(
            name=name or "", initial=initial or "", states={}, path=self.file, loc=root.loc
        )
        if (n := get("description")) is not None and not n.is_null:
            sc.description = self.string(n, "description", empty_ok=True)
        if (n := get("conversation")) is not None:
            sc.conversation = self.conversation(n)
        if (n := get("vars")) is not None:
            sc.vars = self.plain_map(n, "vars") or {}
        if (n := get("timeout")) is not None:
            sc.timeout = self.duration(n, "timeout", positive=True) or m.DEFAULT_RUN_TIMEOUT
        if (n := get("final_wait")) is not None:
            final_wait = self.duration(n, "final_wait")
            sc.final_wait = m.DEFAULT_FINAL_WAIT if final_wait is None else final_wait
        sc.any = self.each(get("any"), "any", lambda t, i: self.transition(t, f"any[{i}]"))
        if states_node is not None and states_node.is_map:
            self.states_into(states_node, sc.states)
        sc.rehearsals = self.rehearsals(get("rehearsals"))
        self.profiles_into(sc)
        self.personas_into(sc)
        self.sent_warnings()
        self.timers_with_known_vars(sc)
        return sc

    def timers_with_known_vars(self, sc: m.Scenario) -> None:
        """Template `after:` durations, rendered with the scenario's vars and each rehearsal's:
        a value that is no duration is an error now; with the scenario's vars, the value is what
        lints and diagrams show."""
        for state_name, trigger in template_timers(sc):
            seconds = timer_seconds(trigger, sc.vars, state_name)
            if isinstance(seconds, float):
                trigger.seconds = seconds
        self.diagnostics += timer_problems(sc, sc.vars, "the scenario's vars")
        for r in sc.rehearsals:
            if r.vars:
                given = f"the vars of rehearsal '{r.name}'"
                self.diagnostics += timer_problems(sc, {**sc.vars, **r.vars}, given)

    def version(self, node: Node | None) -> None:
        if node is None:
            return
        if node.is_scalar and node.value in (1, "1") and not isinstance(node.value, bool):
            return
        self.error(
            node.loc,
            "bad-value",
            f"unsupported format version {node.text if node.is_scalar else node.describe()}: "
            f"this cviscript reads 'cviscript: {SUPPORTED_VERSION}'",
        )

    def conversation(self, node: Node) -> m.ConversationSettings:
        cs = m.ConversationSettings(loc=node.loc)
        if node.is_null or not self.shape(node, "conversation", S.CONVERSATION):
            return cs
        for key in ("url", "id", "token"):
            if (n := node.get(key)) is not None and not n.is_null:
                setattr(cs, key, self.text(n, f"conversation.{key}"))
        if (n := node.get("create")) is not None and not n.is_null:
            cs.create = self.create(n)
        for key in ("persona_file", "replica_profile"):
            if (n := node.get(key)) is not None and not n.is_null:
                setattr(cs, key, self.path(n, f"conversation.{key}"))
                self.file_keys[key, getattr(cs, key)] = n.loc
        if (n := node.get("context_spelling")) is not None:
            cs.context_spelling = (
                self.choice(n, "conversation.context_spelling", S.CONTEXT_SPELLINGS)
                or "llm_context"
            )
        for first, second in S.CONVERSATION.exclusive:
            if first not in node.value or second not in node.value:
                continue
            self.error(
                node.key_loc(second),
                "bad-value",
                "conversation: give either url (join an existing conversation) or create (start one), not both",
            )
        return cs

    def create(self, node: Node) -> dict[str, Any] | None:
        if not self.shape(node, "conversation.create", S.CREATE):
            return None
        out: dict[str, Any] = {}
        for key, n in node.value.items():
            if key not in S.CREATE.fields or n.is_null:
                continue
            what = f"conversation.create.{key}"
            field = S.CREATE.fields[key].spec
            if isinstance(field, S.Bool):
                out[key] = self.leaf(n, what, field)
            elif key == "properties":
                if n.is_map:
                    out[key] = self.tree(n)
                else:
                    self.error(n.loc, "wrong-type", f"{what} must be a mapping, got {n.describe()}")
            else:
                out[key] = self.text(n, what)
        return out
