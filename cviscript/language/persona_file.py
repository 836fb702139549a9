"""The persona file: the user's own Tavus persona, as Tavus's API returns it, read into plain data.

What a real replica does depends on how its persona is configured (tool filler and `on_resolve`,
echo mode, objectives, perception), so a scenario may name the persona it runs against
(``conversation.persona_file: persona.json``, or a rehearsal's ``replica: {persona_file: …}``) and
the simulated replica is configured from it; `cviscript persona pull ID -o persona.json` writes one.

The file is one JSON object: a legacy persona (``GET /v2/personas/{id}``: ``persona_name``,
``pipeline_mode``, ``layers.llm.tools``, ``layers.perception``, ``objectives_id`` …) or a PAL
(``GET /v2/pals/{id}``: ``pal_name`` …). Tools from the registry (``GET /v2/pals/{id}/tools``) sit
in a top-level ``tools`` list of tool objects (``name``, ``origin``, ``on_call``, ``on_resolve``,
``static_filler``, ``delivery``, ``parameters``); objectives (``GET /v2/objectives/{id}``) in a
top-level ``objectives`` list of objective objects (``objective_name``, ``output_variables``).
Unknown fields are kept (`PersonaFile.raw`) and ignored.

Defaults are Tavus's documented ones (https://docs.tavus.io/sections/conversational-video-interface/pal/llm-tool):
an llm tool's ``on_call`` is ``generate_filler``, every tool's ``on_resolve`` ``fire_and_forget``
(nothing spoken after the result); perception tools (``origin: vision|audio``) have no
``on_call``. Inline legacy tools (``layers.llm.tools``, OpenAI function objects) get the same
defaults: inferred, the legacy pages say nothing of filler or resolve.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ON_CALL = ("generate_filler", "static_filler", "none")
ON_RESOLVE = ("fire_and_forget", "generate_response")
ORIGINS = ("llm", "vision", "audio")
PIPELINES = ("full", "echo")
MAX_FILE_BYTES = 5_000_000  # a persona file is a few KB; refuse anything absurd


class PersonaFileError(ValueError):
    """The persona file cannot be read: `message` says why (the caller adds where it is named)."""


@dataclass(slots=True)
class PersonaTool:
    name: str
    origin: str = "llm"  # llm | vision | audio
    on_call: str | None = "generate_filler"  # None for perception tools
    on_resolve: str = "fire_and_forget"
    static_filler: str | None = None
    app_message: bool = True  # False: delivered by Tavus to an API, the client never sees it
    field: str = "tools"  # where in the file it is written ("tools[0]", "layers.llm.tools[1]")
    given: frozenset[str] = frozenset()  # the keys the file sets (the rest are defaults)

    @property
    def perception(self) -> bool:
        return self.origin in ("vision", "audio")


@dataclass(slots=True)
class PersonaObjective:
    name: str
    output_variables: tuple[str, ...] = ()
    field: str = "objectives"
    next_required: str | None = None  # `next_required_objective`: the one after it
    follows: bool = False  # another objective names it as next (required or conditional)


@dataclass(slots=True)
class PersonaFile:
    path: str
    kind: str = "persona"  # "pal" or "persona"
    id: str | None = None
    name: str | None = None  # persona_name / pal_name: the replica's Daily user name
    pipeline_mode: str = "full"
    perception_model: str | None = None  # layers.perception.perception_model (None: no layer)
    tools: dict[str, PersonaTool] = field(default_factory=dict)
    objectives: dict[str, PersonaObjective] = field(default_factory=dict)
    objectives_id: str | None = None
    warnings: list[str] = field(default_factory=list)  # odd values, each naming its field
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def echo(self) -> bool:
        return self.pipeline_mode == "echo"

    @property
    def has_perception(self) -> bool:
        """A perception layer that sees or hears (or perception tools to call)."""
        if self.echo:
            return False  # "Echo Mode is incompatible with perception"
        model = (self.perception_model or "").strip().lower()
        return bool(model and model != "off") or any(t.perception for t in self.tools.values())

    def first_objectives(self) -> list[PersonaObjective]:
        """The objectives a conversation starts on: those no other objective leads to."""
        return [o for o in self.objectives.values() if not o.follows]

    def perception_tools(self) -> list[PersonaTool]:
        return [t for t in self.tools.values() if t.perception]

    def describe(self) -> str:
        label = self.name or self.id or Path(self.path).name
        return f"{self.kind} {label!r} ({Path(self.path).name})"


def read_persona_file(path: str | Path) -> PersonaFile:
    """Read and interpret a persona file; `PersonaFileError` when it is not one."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise PersonaFileError(
                f"{p} is {size} bytes; a persona file is at most {MAX_FILE_BYTES}"
            )
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PersonaFileError(f"no persona file {p}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PersonaFileError(f"cannot read persona file {p}: {exc}") from None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise PersonaFileError(f"persona file {p} is not JSON: {exc}") from None
    return persona_from_json(data, str(p))


def persona_from_json(data: Any, path: str = "<persona>") -> PersonaFile:
    if isinstance(data, dict) and isinstance(data.get("data"), dict):
        data = data["data"]  # an API envelope
    if not isinstance(data, dict):
        raise PersonaFileError(
            f"persona file {path} must hold one JSON object (a persona or a PAL), "
            f"not a {type(data).__name__}"
        )
    pf = PersonaFile(path=path, raw=data)
    pf.kind = "pal" if ("pal_id" in data or "pal_name" in data) else "persona"
    pf.id = _str(data.get("pal_id")) or _str(data.get("persona_id"))
    pf.name = _str(data.get("pal_name")) or _str(data.get("persona_name"))
    mode = _str(data.get("pipeline_mode"))
    if mode is not None:
        if mode.lower() in PIPELINES:
            pf.pipeline_mode = mode.lower()
        else:
            pf.warnings.append(f"pipeline_mode {mode!r} is not full or echo; taken as full")
    layers = data.get("layers") if isinstance(data.get("layers"), dict) else {}
    perception = layers.get("perception")
    if isinstance(perception, dict):
        pf.perception_model = _str(perception.get("perception_model")) or "raven"
        for key, origin in (("visual_tools", "vision"), ("audio_tools", "audio")):
            _inline_tools(pf, perception.get(key), f"layers.perception.{key}", origin)
    llm = layers.get("llm")
    if isinstance(llm, dict):
        _inline_tools(pf, llm.get("tools"), "layers.llm.tools", "llm")
    tools = data.get("tools")
    if isinstance(tools, dict) and isinstance(tools.get("data"), list):
        tools = tools["data"]
    if isinstance(tools, list):
        for i, obj in enumerate(tools):
            _registry_tool(pf, obj, f"tools[{i}]")
    elif tools is not None:
        pf.warnings.append("tools is not a list of tool objects; ignored")
    pf.objectives_id = _str(data.get("objectives_id"))
    objectives = data.get("objectives")
    if isinstance(objectives, dict):
        objectives = (
            objectives.get("data") if isinstance(objectives.get("data"), list) else [objectives]
        )
    if isinstance(objectives, list):
        for i, obj in enumerate(objectives):
            name = _str(obj.get("objective_name")) if isinstance(obj, dict) else None
            if name is None:
                pf.warnings.append(f"objectives[{i}] has no objective_name; ignored")
                continue
            variables = obj.get("output_variables")
            names = (
                tuple(v for v in variables if isinstance(v, str))
                if isinstance(variables, list)
                else ()
            )
            nxt = _str(obj.get("next_required_objective"))
            pf.objectives[name] = PersonaObjective(name, names, f"objectives[{i}]", nxt)
        later = {o.next_required for o in pf.objectives.values()}
        for obj in objectives:
            conditional = obj.get("next_conditional_objectives") if isinstance(obj, dict) else None
            if isinstance(conditional, dict):
                later |= set(conditional)
        for objective in pf.objectives.values():
            objective.follows = objective.name in later
    return pf


def _inline_tools(pf: PersonaFile, tools: Any, where: str, origin: str) -> None:
    if not isinstance(tools, list):
        return
    for i, obj in enumerate(tools):
        fn = obj.get("function") if isinstance(obj, dict) else None
        if not isinstance(fn, dict):
            fn = obj if isinstance(obj, dict) else {}
        name = _str(fn.get("name"))
        if name is None:
            pf.warnings.append(f"{where}[{i}] has no function name; ignored")
            continue
        tool = PersonaTool(name, origin, None if origin != "llm" else "generate_filler")
        tool.field = f"{where}[{i}]"
        pf.tools.setdefault(name, tool)


def _registry_tool(pf: PersonaFile, obj: Any, where: str) -> None:
    if not isinstance(obj, dict) or _str(obj.get("name")) is None:
        pf.warnings.append(f"{where} is not a tool object with a name; ignored")
        return
    name = _str(obj["name"]) or ""
    if obj.get("trigger_type") == "post_call":
        return  # runs after the conversation: never in the call
    origin = _str(obj.get("origin")) or "llm"
    if origin not in ORIGINS:
        pf.warnings.append(
            f"{where}.origin {origin!r} is not one of {', '.join(ORIGINS)}; taken as llm"
        )
        origin = "llm"
    tool = PersonaTool(name, origin, None if origin != "llm" else "generate_filler", field=where)
    tool.given = frozenset(k for k in ("on_call", "on_resolve", "static_filler") if k in obj)
    on_call = _str(obj.get("on_call"))
    if on_call is not None:
        if on_call in ON_CALL:
            tool.on_call = on_call
        else:
            pf.warnings.append(
                f"{where}.on_call {on_call!r} is not one of {', '.join(ON_CALL)}; the default is used"
            )
    on_resolve = _str(obj.get("on_resolve"))
    if on_resolve is not None:
        if on_resolve in ON_RESOLVE:
            tool.on_resolve = on_resolve
        else:
            pf.warnings.append(
                f"{where}.on_resolve {on_resolve!r} is not one of {', '.join(ON_RESOLVE)}; "
                "fire_and_forget is used"
            )
    tool.static_filler = _str(obj.get("static_filler"))
    if tool.on_call == "static_filler" and not tool.static_filler:
        pf.warnings.append(
            f"{where}: on_call static_filler without a static_filler text (Tavus requires one)"
        )
    delivery = obj.get("delivery")
    if (
        isinstance(delivery, dict)
        and delivery.get("app_message") is False
        or isinstance(delivery, dict)
        and "api" in delivery
        and "app_message" not in delivery
    ):
        tool.app_message = False
    pf.tools[name] = tool  # a registry tool wins over an inline one of the same name


def _str(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None
