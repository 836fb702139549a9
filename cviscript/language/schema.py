"""The JSON Schema (draft 2020-12) of scenario files, generated from `cviscript.language.spec`.

Editors use it to complete and check scenarios as people type (the ``yaml-language-server``
modeline at the top of a file points at it); other tools use it to check files without Python.
It is generated from the same definitions the validator walks, so it cannot drift from it: it
accepts every shape the validator accepts (shorthands included) and rejects unknown keys
(``additionalProperties: false``). What a schema cannot say — a `goto` naming a state that exists,
a regex or template that compiles, a file that exists — only ``cviscript validate`` checks.

A generated copy ships in the package (`SCHEMA_PATH`); a test keeps it equal to `build_schema()`.
Regenerate it with ``cviscript schema --output cviscript/language/scenario.schema.json``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ..protocol import event_fields
from . import spec as S

DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_PATH = Path(__file__).with_name("scenario.schema.json")

# What `durations.parse_duration` reads: a non-negative number as text, or chained units.
_NUM = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
DURATION_PATTERN = rf"^\s*(?:\+?{_NUM}(?:[eE][+-]?[0-9]+)?|(?:{_NUM}\s*(?:ms|s|m|h)\s*)+)\s*$"
TEMPLATE_PATTERN = r"\{[{%#]"  # `templates.has_markup`
RAW_EVENT_PATTERN = "^\\s*(?:" + "|".join(re.escape(p) for p in S.RAW_EVENT_PREFIXES) + ")"


def build_schema() -> dict[str, Any]:
    """The schema as a JSON-ready dict (same output every call)."""
    root = _schema(S.ROOT)
    return {
        "$schema": DIALECT,
        "title": "cviscript scenario",
        **root,
        "$defs": {name: _schema(spec) for name, spec in S.DEFS.items()},
    }


def schema_json() -> str:
    """`build_schema()` as the text that ships: two-space indented, ending with a newline."""
    return json.dumps(build_schema(), indent=2, ensure_ascii=False) + "\n"


def shipped_schema_json() -> str:
    """The copy in the installed package."""
    return SCHEMA_PATH.read_text(encoding="utf-8")


def _described(schema: dict[str, Any], doc: str) -> dict[str, Any]:
    return {"description": doc, **schema} if doc else schema


def _schema(spec: S.Spec) -> dict[str, Any]:
    if isinstance(spec, S.Ref):
        return {"$ref": f"#/$defs/{spec.name}"}
    doc = getattr(spec, "doc", "")
    return _described(_body(spec), doc)


def _body(spec: S.Spec) -> dict[str, Any]:
    if isinstance(spec, S.Text):
        out: dict[str, Any] = {"type": ["string", "number", "boolean"]}
        if spec.nonempty:
            out["minLength"] = 1
        return out
    if isinstance(spec, S.Str):
        return {"type": "string", "minLength": 1} if spec.nonempty else {"type": "string"}
    if isinstance(spec, S.Bool):
        return {"type": "boolean"}
    if isinstance(spec, S.Int):
        out = {"type": "integer"}
        if spec.minimum is not None:
            out["minimum"] = spec.minimum
        return out
    if isinstance(spec, S.Number):
        out = {"type": "number"}
        if spec.positive:
            out["exclusiveMinimum"] = max(0, spec.minimum)
        else:
            out["minimum"] = spec.minimum
        if spec.maximum is not None:
            out["maximum"] = spec.maximum
        return out
    if isinstance(spec, S.Duration):
        bound = {"exclusiveMinimum": 0} if spec.positive else {"minimum": 0}
        options: list[dict[str, Any]] = [
            {"type": "number", **bound},
            {"type": "string", "pattern": DURATION_PATTERN},
        ]
        if spec.template:
            options.append({"type": "string", "pattern": TEMPLATE_PATTERN})
        return {"anyOf": options}
    if isinstance(spec, S.Enum):
        return {"enum": list(spec.values)}
    if isinstance(spec, S.EventName):
        return {
            "anyOf": [
                {"enum": list(S.EVENT_NAMES)},
                {"type": "string", "pattern": RAW_EVENT_PATTERN},
            ]
        }
    if isinstance(spec, S.AnyValue):
        return {}
    if isinstance(spec, S.TemplateOr):
        return {
            "anyOf": [
                {"enum": list(spec.values)},
                {"type": "string", "pattern": TEMPLATE_PATTERN},
            ]
        }
    if isinstance(spec, S.ListOf):
        array: dict[str, Any] = {"type": "array", "items": _schema(spec.item)}
        if spec.min_items:
            array["minItems"] = spec.min_items
        return {"anyOf": [_schema(spec.item), array]} if spec.single else array
    if isinstance(spec, S.MapOf):
        out = {"type": "object"}
        if not isinstance(spec.value, S.AnyValue):
            value = _schema(spec.value)
            out["additionalProperties"] = (
                {"anyOf": [value, {"type": "null"}]} if spec.nullable else value
            )
        if spec.min_properties:
            out["minProperties"] = spec.min_properties
        return out
    if isinstance(spec, S.Obj):
        return _object(spec)
    if isinstance(spec, S.OneOf):
        return {"anyOf": [_schema(option) for option in spec.options]}
    raise TypeError(f"no schema for {spec!r}")


def _field(field: S.Field) -> dict[str, Any]:
    schema = _schema(field.spec)
    if not field.nullable:
        return schema
    doc = getattr(field.spec, "doc", "") if not isinstance(field.spec, S.Ref) else ""
    inner = {k: v for k, v in schema.items() if k != "description"}
    return _described({"anyOf": [inner, {"type": "null"}]}, doc)


def _object(obj: S.Obj) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "object",
        "properties": {key: _field(field) for key, field in obj.fields.items()},
        "additionalProperties": False,
    }
    if obj.required:
        out["required"] = list(obj.required)
    if obj.min_properties:
        out["minProperties"] = obj.min_properties
    if obj.max_properties is not None:
        out["maxProperties"] = obj.max_properties
    if obj.requires:
        out["dependentRequired"] = {k: [v] for k, v in obj.requires.items()}
    rules: list[dict[str, Any]] = []
    if obj.exactly_one:
        rules.append({"oneOf": [_present(obj, k) for k in obj.exactly_one]})
    if obj.at_least_one:
        rules.append({"anyOf": [{"required": [k]} for k in obj.at_least_one]})
    rules += [{"not": {"required": [a, b]}} for a, b in obj.exclusive]
    if "where" in obj.fields and "event" in obj.fields:
        rules += _where_rules()
    if len(rules) == 1:
        out.update(rules[0])
    elif rules:
        out["allOf"] = rules
    return out


def _where_rules() -> list[dict[str, Any]]:
    """With `event: NAME` (a name cviscript knows), `where:` takes only that event's fields."""
    rules = []
    for name in S.EVENT_NAMES:
        fields = event_fields(name)
        if fields is None:
            continue
        rules.append(
            {
                "if": {"required": ["event"], "properties": {"event": {"const": name}}},
                "then": {"properties": {"where": {"propertyNames": {"enum": sorted(fields)}}}},
            }
        )
    return rules


def _present(obj: S.Obj, key: str) -> dict[str, Any]:
    if key in obj.counts_if_true:
        return {"required": [key], "properties": {key: {"const": True}}}
    return {"required": [key]}


if (
    __name__ == "__main__"
):  # python -m cviscript.language.schema > cviscript/language/scenario.schema.json
    print(schema_json(), end="")
