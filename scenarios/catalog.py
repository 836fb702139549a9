"""Python hooks of scenarios/guided-tour.yaml: the data a template cannot reach.

A hook is called as `fn(event, vars)` in a worker thread, with copies of the event that fired the
transition (a dict, as templates see it) and the scenario's variables; it returns one JSON-like
value. A real demo would query an inventory service or a database here.
"""

from __future__ import annotations

STOCK = {"roomhub": 12, "roomhub mini": 0}
PRICES = {"roomhub": 9, "roomhub mini": 5}


def check_stock(event: dict, vars: dict) -> str:
    """Answers the LLM's `check_stock` tool call: how many units of a product are in stock."""
    product = str((event.get("arguments") or {}).get("product") or vars["product"]).lower()
    count = STOCK.get(product)
    if count is None:
        return f"We do not sell a product called {product}."
    if count == 0:
        return f"{product.title()} is out of stock until next month."
    return f"{count} {product.title()} units are in stock and ship today."


def price(event: dict, vars: dict) -> int:
    """The monthly price per room of the product being shown."""
    return PRICES[str(vars["product"]).lower()]
