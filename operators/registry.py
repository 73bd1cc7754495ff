"""The operator registry: name -> (factory, default weight, number of parents).

Weights are relative (normalised by the engine). The variable-composition operators
(add, remove, transmute) have weight 0 by default: a variable-composition search
switches them on (``VARIABLE_COMPOSITION``; ``[operators] add = 0.1`` ... overrides).
``redraw`` is off unless a search sets its weight (``[operators] redraw = 0.3``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any

from csp.operators.variation import (
    AddBlock,
    Heredity,
    Redraw,
    RemoveBlock,
    Rotation,
    SoftMutation,
    Strain,
    Swap,
    Transmute,
)

from csp.errors import CspError

__all__ = ["OPERATORS", "VARIABLE_COMPOSITION", "make_operator"]

OPERATORS: dict[str, tuple[type[Any], float, int]] = {  # operator dataclasses
    "heredity": (Heredity, 0.40, 2),
    "rotation": (Rotation, 0.15, 1),
    "strain": (Strain, 0.15, 1),
    "swap": (Swap, 0.10, 1),
    "soft": (SoftMutation, 0.20, 1),
    "add": (AddBlock, 0.0, 1),
    "remove": (RemoveBlock, 0.0, 1),
    "transmute": (Transmute, 0.0, 1),
    "redraw": (Redraw, 0.0, 1),  # opt-in: measured no gain in cab6vc, see Redraw
}

#: operators that change the composition, with their weights in variable-composition runs
VARIABLE_COMPOSITION = {"add": 0.10, "remove": 0.10, "transmute": 0.10}


def make_operator(name: str, **params: Any) -> Callable:
    """Build operator ``name`` with parameters; unknown names/parameters are CspErrors."""
    if name not in OPERATORS:
        raise CspError(f"unknown operator {name!r}; known: {', '.join(OPERATORS)}")
    factory = OPERATORS[name][0]
    known = {f.name for f in fields(factory)}
    bad = sorted(set(params) - known)
    if bad:
        raise CspError(f"operator {name!r}: unknown parameter(s) {bad}; known: {sorted(known)}")
    for k in ("blocks",):
        if k in params:
            params[k] = tuple(params[k])
    if params.get("oxidation") is not None and isinstance(params["oxidation"], dict):
        params["oxidation"] = tuple(sorted(params["oxidation"].items()))
    try:
        return factory(**params)
    except TypeError as exc:
        raise CspError(f"operator {name!r}: {exc}") from None
