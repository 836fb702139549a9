"""Validating actions: the bare words (interrupt, end, fail), echo (text or audio file),
respond, context changes, sensitivity, tool_result, set, log, send and call (a Python hook)."""

from __future__ import annotations

import re
from typing import Any

from ..errors import CviscriptError, did_you_mean
from . import model as m
from . import spec as S
from .loader import Node
from .templates import CONTEXT_NAMES, has_markup
from .validate_base import Checks, full_event_type

ACTIONS = S.ACTIONS
_HOOK = re.compile(S.HOOK_PATTERN)
_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
BARE_ACTIONS = S.BARE_ACTIONS
TRANSITION_KEYS = S.TRANSITION.keys


class ActionChecks(Checks):
    @property
    def hooks_called(self) -> dict[str, m.Location]:
        """Every `call:`ed hook with its first place (for rehearsals' `hooks:`)."""
        found = self.__dict__.get("_hooks_called")
        if found is None:
            found = self.__dict__["_hooks_called"] = {}
        return found

    def actions(self, node: Node, what: str) -> list[m.Action]:
        if node.is_null:
            return []
        items = node.value if node.is_seq else [node]  # one action instead of a list is fine
        out = []
        for i, item in enumerate(items):
            action = self.action(item, f"{what}[{i}]" if node.is_seq else what)
            if action is not None:
                out.append(action)
        return out

    def action(self, node: Node, what: str) -> m.Action | None:
        if node.is_scalar and isinstance(node.value, str):
            word = node.value.strip()
            if word in BARE_ACTIONS:
                return self.bare(word, None, node.loc, what)
            if word in ACTIONS:
                self.error(node.loc, "bad-value", f"action '{word}' needs a value ({word}: ...)")
            else:
                self.unknown_action(word, node.loc)
            return None
        if not node.is_map:
            self.error(
                node.loc,
                "wrong-type",
                f"{what}: an action is a word or a one-key mapping like 'echo: TEXT', got {node.describe()}",
            )
            return None
        if len(node.value) != 1:
            keys = list(node.value)
            if not keys:
                self.error(node.loc, "bad-value", f"{what}: empty action")
                return None
            stray = [k for k in keys if k in TRANSITION_KEYS and k not in ACTIONS]
            hint = (
                f" ('{stray[0]}' belongs to the transition, not to an action: un-indent it)"
                if stray
                else "; write each action as its own list item"
            )
            self.error(
                node.key_loc(keys[1]),
                "bad-value",
                f"{what}: an action has exactly one key, found {', '.join(keys)}{hint}",
            )
            return None
        ((key, value),) = node.value.items()
        loc = node.key_loc(key)
        if key not in ACTIONS:
            self.unknown_action(key, loc)
            return None
        label = f"{key}"
        if key in BARE_ACTIONS:
            return self.bare(key, value, loc, label)
        if key == "echo":
            return self.echo(value, loc)
        if key in ("respond", "overwrite_context", "append_context", "log"):
            text = self.text(value, label)
            cls = {
                "respond": m.Respond,
                "overwrite_context": m.OverwriteContext,
                "append_context": m.AppendContext,
                "log": m.Log,
            }[key]
            return None if text is None else cls(text=text, loc=loc)
        if key == "sensitivity":
            return self.sensitivity(value, loc)
        if key == "tool_result":
            return self.tool_result(value, loc)
        if key == "set":
            return self.set_vars(value, loc)
        if key == "call":
            return self.call(value, loc, what)
        return self.send(value, loc)

    def unknown_action(self, word: str, loc: m.Location) -> None:
        hint = did_you_mean(word, ACTIONS) or f"; actions are: {', '.join(ACTIONS)}"
        self.error(loc, "unknown-action", f"unknown action '{word}'{hint}")

    def bare(self, key: str, value: Node | None, loc: m.Location, what: str) -> m.Action | None:
        if key == "fail":
            if value is None or value.is_null:
                return m.Fail(reason=m.Text("failed", loc), loc=loc)
            reason = self.text(value, what)
            return None if reason is None else m.Fail(reason=reason, loc=loc)
        if value is not None and not value.is_null and value.value is not True:
            self.error(
                value.loc, "bad-value", f"action '{key}' takes no value (write just '- {key}')"
            )
            return None
        return m.Interrupt(loc=loc) if key == "interrupt" else m.End(loc=loc)

    def echo(self, node: Node, loc: m.Location) -> m.Action | None:
        if not node.is_map:
            text = self.text(node, "echo")
            return None if text is None else m.Echo(text=text, loc=loc)
        self.shape(node, "echo", S.ECHO)
        if len([k for k in S.ECHO.exactly_one if k in node.value]) != 1:
            self.error(node.loc, "bad-value", "echo takes either text or {audio: PATH}")
            return None
        if (n := node.get("text")) is not None:
            text = self.text(n, "echo text")
            return None if text is None else m.Echo(text=text, loc=loc)
        n = node.value["audio"]
        path = self.path(n, "echo audio")
        if path is not None and not self.check_wav(path, n.loc):
            return None
        return None if path is None else m.EchoAudio(path=path, loc=loc)

    def check_wav(self, path: str, loc: m.Location) -> bool:
        from ..audio import inspect_wav

        try:
            inspect_wav(path)
        except CviscriptError as e:
            self.error(loc, "bad-value", f"echo audio: {e}")
            return False
        return True

    def sensitivity(self, node: Node, loc: m.Location) -> m.Sensitivity | None:
        if not self.shape(node, "sensitivity", S.SENSITIVITY):
            return None
        if not node.value:
            self.error(node.loc, "missing-key", "sensitivity needs pause, interrupt or both")
            return None
        s = m.Sensitivity(loc=loc)
        ok = True
        for key, field in S.SENSITIVITY.fields.items():
            if (n := node.get(key)) is not None:
                level = self.leaf(n, f"sensitivity {key}", field.spec)
                ok &= level is not None
                setattr(s, key, level)
        return s if ok else None

    def tool_result(self, node: Node, loc: m.Location) -> m.ToolResult | None:
        if not node.is_map:
            output = self.text(node, "tool_result")
            return None if output is None else m.ToolResult(output=output, loc=loc)
        if not self.shape(node, "tool_result", S.TOOL_RESULT):
            return None
        result = m.ToolResult(
            output=self.tree(node.value["output"]) if "output" in node.value else None, loc=loc
        )
        if (n := node.get("status")) is not None and not n.is_null:
            source = self.string(n, "tool_result status")
            if (
                source is not None
                and not has_markup(source)
                and source not in S.TOOL_RESULT_STATUSES
            ):
                self.error(
                    n.loc,
                    "bad-value",
                    f"tool_result status must be success or error (or a template), got {source!r}{did_you_mean(source, S.TOOL_RESULT_STATUSES)}",
                )
                return None
            result.status = None if source is None else self.compile(source, n.loc, CONTEXT_NAMES)
        return result

    def set_vars(self, node: Node, loc: m.Location) -> m.SetVars | None:
        if not node.is_map or not node.value:
            self.error(
                node.loc,
                "wrong-type",
                f"set takes a mapping of variable names to values, got {node.describe()}",
            )
            return None
        return m.SetVars(values={k: self.tree(v) for k, v in node.value.items()}, loc=loc)

    def call(self, node: Node, loc: m.Location, what: str) -> m.Call | None:
        """`call: module:function` or `{function, save, answer, then, timeout}`."""
        if node.is_map:
            if not self.shape(node, "call", S.CALL):
                return None
            fn_node = node.get("function")
            if fn_node is None:
                return None
        else:
            fn_node = node
        function = self.string(fn_node, "call function")
        if function is None:
            return None
        function = function.strip()
        if not _HOOK.match(function):
            self.error(
                fn_node.loc,
                "bad-value",
                f"call: {function[:80]!r} is not a hook name: write module:function (a module "
                "importable from the scenario's folder or an installed package, e.g. "
                "inventory:check_stock)",
            )
            return None
        call = m.Call(function=function, loc=loc)
        self.hooks_called.setdefault(function, loc)
        if not node.is_map:
            return call
        if (n := node.get("save")) is not None:
            name = self.string(n, "call save")
            if name is not None and not _VAR.match(name.strip()):
                self.error(
                    n.loc, "bad-value", f"call save: {name!r} is not a variable name (a-z, 0-9, _)"
                )
                return None
            call.save = None if name is None else name.strip()
        if (n := node.get("answer")) is not None:
            call.answer = bool(self.boolean(n, "call answer"))
        if (n := node.get("timeout")) is not None:
            timeout = self.duration(n, "call timeout", positive=True)
            if timeout is not None:
                call.timeout = timeout
        if (n := node.get("then")) is not None:
            call.then = self.actions(n, f"{what} then")
        return call

    def canned_hooks(self, node: Node, what: str) -> dict[str, Any]:
        """A rehearsal's `hooks:` — hook name to the canned result it gives in this case."""
        values = self.plain_map(node, what) or {}
        called = self.hooks_called
        for name in list(values):
            if name not in called:
                hint = did_you_mean(name, sorted(called)) or (
                    f"; the scenario calls: {', '.join(sorted(called))}"
                    if called
                    else "; the scenario calls no hook"
                )
                self.error(
                    node.key_loc(name),
                    "unknown-hook",
                    f"{what}: '{name}' is not a hook this scenario calls{hint}",
                )
                del values[name]
        return values

    def send(self, node: Node, loc: m.Location) -> m.Send | None:
        if not self.shape(node, "send", S.SEND):
            return None
        event_type = self.string(n, "send event_type") if (n := node.get("event_type")) else None
        properties: dict[str, Any] = {}
        if (n := node.get("properties")) is not None and not n.is_null:
            if not n.is_map:
                self.error(
                    n.loc, "wrong-type", f"send properties must be a mapping, got {n.describe()}"
                )
                return None
            properties = self.tree(n)
        if event_type is None:
            return None
        event_type = full_event_type(event_type.strip())
        self.sent_types.add(event_type)
        return m.Send(event_type=event_type, properties=properties, loc=loc)
