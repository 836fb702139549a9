"""The engine: one `transitions` machine per conversation, driven by normalised events and a clock."""

from .engine import Engine, RunResult

__all__ = ["Engine", "RunResult"]
