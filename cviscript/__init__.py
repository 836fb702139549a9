"""cviscript: drive Tavus CVI replicas from declarative YAML scenarios, rehearse them in CI.

The public API, for embedding cviscript in Python::

    import cviscript

    scenario = cviscript.load_scenario("scenarios/product-demo.yaml")
    conv = cviscript.run_simulated(scenario)          # the built-in simulated replica
    print(conv.result.outcome, conv.result.path)

Imports are lazy so that `import cviscript` (and `cviscript --help`) stay fast.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "load_scenario": ("cviscript.language.validate", "load_scenario"),
    "check_file": ("cviscript.language.validate", "check_file"),
    "run_simulated": ("cviscript.sessions.simulated.runner", "run_simulated"),
    "Conversation": ("cviscript.engine.conversation", "Conversation"),
    "Engine": ("cviscript.engine", "Engine"),
    "RunResult": ("cviscript.engine", "RunResult"),
    "VirtualClock": ("cviscript.clock", "VirtualClock"),
    "Session": ("cviscript.engine.session", "Session"),
    "ScenarioError": ("cviscript.errors", "ScenarioError"),
    "CviscriptError": ("cviscript.errors", "CviscriptError"),
    "TranscriptWriter": ("cviscript.transcript", "TranscriptWriter"),
    "read_transcript": ("cviscript.transcript", "read_transcript"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'cviscript' has no attribute {name!r}")
