"""`cviscript persona pull`: the user's persona as Tavus's API returns it, in one JSON object.

The persona file (`cviscript.language.persona_file`) holds what the simulated replica needs to
behave like the user's own replica. Pulling it:

* the PAL first: ``GET /v2/pals/{id}``
  (https://docs.tavus.io/api-reference/pals/get-pal), then its attached registry tools,
  ``GET /v2/pals/{id}/tools`` (https://docs.tavus.io/api-reference/pal-tools/list-pal-tools),
  put in a top-level ``tools`` list;
* when Tavus does not know a PAL of that id (HTTP 400 or 404), the legacy persona,
  ``GET /v2/personas/{id}`` (its tools are inline, in ``layers.llm.tools``);
* the objectives it names (``objectives_id``): ``GET /v2/objectives/{id}``
  (https://docs.tavus.io/api-reference/objectives/get-objectives), put in a top-level
  ``objectives`` list.

Nothing secret is written: a field named like a credential (``api_key``, ``token``, ``secret``,
``password``: a custom LLM's or a tool's auth) becomes ``"***"``, and the key the pull used never
appears in the file, a message or a log line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .tavus_api import TavusClient, TavusError, path_id

# Credential-named fields (a custom LLM's `api_key`, a tool's `auth`, `headers`), masked whole.
_SECRET_KEY = re.compile(
    r"(^|_)(api_?key|key|token|secret|password|authorization)$|^(auth|headers)$", re.IGNORECASE
)
MASK = "***"
MAX_DEPTH = 64  # a persona nests a few levels; anything deeper is not one


def pull_persona(
    client: TavusClient, persona_id: str, problems: list[str] | None = None
) -> dict[str, Any]:
    """The persona file's content for `persona_id` (a PAL id or a legacy persona id). What could
    not be fetched beyond the persona itself (its tools' or objectives' list answered 400/404)
    is left out and said in `problems`; any other failure raises `TavusError`."""
    problems = [] if problems is None else problems
    pid = path_id(persona_id)
    try:
        data = _object(client.get_json(f"/v2/pals/{pid}", f"reading PAL {persona_id}"))
    except TavusError as exc:
        if exc.status not in (400, 404):
            raise
        data = _object(client.get_json(f"/v2/personas/{pid}", f"reading persona {persona_id}"))
    else:
        tools = _optional(
            client, f"/v2/pals/{pid}/tools", f"reading the tools of PAL {persona_id}", problems
        )
        listed = tools.get("data") if isinstance(tools, dict) else tools
        data["tools"] = (
            [t for t in listed if isinstance(t, dict)] if isinstance(listed, list) else []
        )
    objectives_id = data.get("objectives_id")
    if isinstance(objectives_id, str) and objectives_id.strip():
        got = _optional(
            client,
            f"/v2/objectives/{path_id(objectives_id)}",
            f"reading objectives {objectives_id}",
            problems,
        )
        inner = got.get("data", got) if isinstance(got, dict) else got
        items = inner if isinstance(inner, list) else [inner]
        data["objectives"] = [o for o in items if isinstance(o, dict)]
    return scrub(data, client.without_key)


def _optional(client: TavusClient, path: str, what: str, problems: list[str]) -> Any:
    """A read the persona file can do without: None (and a problem said) on a 400 or 404."""
    try:
        return client.get_json(path, what)
    except TavusError as exc:
        if exc.status not in (400, 404):
            raise
        problems.append(f"left out: {exc}")
        return None


def _object(value: Any) -> dict[str, Any]:
    if isinstance(value, dict) and isinstance(value.get("data"), dict):
        value = value["data"]
    if not isinstance(value, dict):
        raise TavusError("Tavus answered with something that is not a persona object")
    return dict(value)


def scrub(value: Any, clean: Callable[[str], str] = str, depth: int = 0) -> Any:
    """`value` with every credential-named field masked and every string passed through
    `clean` (which removes the pull's own key)."""
    if depth > MAX_DEPTH:
        raise TavusError("Tavus answered with a persona nested too deep to be one")
    if isinstance(value, dict):
        return {
            str(k): MASK
            if _SECRET_KEY.search(str(k)) and v not in (None, "", {}, [])
            else scrub(v, clean, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [scrub(v, clean, depth + 1) for v in value]
    if isinstance(value, str):
        return clean(value)
    return value
