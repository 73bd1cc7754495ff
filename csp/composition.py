"""Compositions written in units and atoms: ``"Sr1 (B12)1"``, ``"K2 (B12H12)1"``.

A composition is one *formula unit*: unit counts (by library name) plus free-atom
counts. A search multiplies it by a number of formula units per cell.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ase.data import atomic_numbers

from csp.errors import CspError
from csp.units import Unit, UnitError, get_unit

__all__ = ["Composition", "CompositionError", "oxidation_state", "parse_composition"]


class CompositionError(CspError):
    """A composition string or value is malformed; the message names the bad token."""


_TOKEN = re.compile(r"\s*(?:\(([^()]+)\)\s*(\d*)|([A-Z][a-z]?)\s*(\d*))")


@dataclass(frozen=True)
class Composition:
    """One formula unit: ``units`` name -> count and ``atoms`` element -> count."""

    units: dict[str, int] = field(default_factory=dict)
    atoms: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, n in {**self.units, **self.atoms}.items():
            if not isinstance(n, int) or n < 0:
                raise CompositionError(f"composition count for {name!r} must be a "
                                       f"non-negative integer, got {n!r}")
        for el in self.atoms:
            if el not in atomic_numbers or el == "X":
                raise CompositionError(f"unknown element {el!r} in composition")
        for name in self.units:
            try:
                get_unit(name)
            except UnitError as exc:
                raise CompositionError(str(exc)) from exc
        object.__setattr__(self, "units", {k: v for k, v in self.units.items() if v})
        object.__setattr__(self, "atoms", {k: v for k, v in self.atoms.items() if v})
        if not self.units and not self.atoms:
            raise CompositionError("composition is empty")

    @classmethod
    def parse(cls, text: str) -> Composition:
        return parse_composition(text)

    def unit_objects(self) -> dict[str, Unit]:
        return {name: get_unit(name) for name in self.units}

    def scaled(self, n: int) -> Composition:
        return Composition({k: v * n for k, v in self.units.items()},
                           {k: v * n for k, v in self.atoms.items()})

    @property
    def n_atoms(self) -> int:
        """Atoms per formula unit after expanding the units."""
        return (sum(len(get_unit(k)) * v for k, v in self.units.items())
                + sum(self.atoms.values()))

    def element_counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for name, n in self.units.items():
            for el, c in get_unit(name).counts().items():
                out[el] = out.get(el, 0) + c * n
        for el, n in self.atoms.items():
            out[el] = out.get(el, 0) + n
        return out

    def charge(self, oxidation: dict[str, int] | None = None) -> int | None:
        """Formal charge per formula unit; None if an atom has no known oxidation state."""
        total = sum(get_unit(k).charge * v for k, v in self.units.items())
        for el, n in self.atoms.items():
            ox = (oxidation or {}).get(el, oxidation_state(el))
            if ox is None:
                return None
            total += ox * n
        return total

    def __str__(self) -> str:
        parts = [f"{el}{n}" for el, n in self.atoms.items()]
        parts += [f"({name}){n}" for name, n in self.units.items()]
        return " ".join(parts)

    def to_dict(self) -> dict:
        return {"units": dict(self.units), "atoms": dict(self.atoms)}

    @classmethod
    def from_dict(cls, d: dict) -> Composition:
        return cls(units=dict(d.get("units", {})), atoms=dict(d.get("atoms", {})))


def parse_composition(text: str) -> Composition:
    """Parse ``"K2 (B12H12)1"``: elements with counts and ``(UNIT)n`` groups.

    A missing count means 1. Raises CompositionError naming the offending token.
    """
    if not isinstance(text, str) or not text.strip():
        raise CompositionError(f"composition must be a non-empty string, got {text!r}")
    units: dict[str, int] = {}
    atoms: dict[str, int] = {}
    pos = 0
    s = text.strip()
    while pos < len(s):
        m = _TOKEN.match(s, pos)
        if not m or m.end() == pos:
            raise CompositionError(f"cannot parse composition {text!r} at {s[pos:]!r}; "
                                   "write e.g. 'Sr1 (B12)1'")
        unit, ucount, el, acount = m.groups()
        if unit is not None:
            name = unit.strip()
            try:
                name = get_unit(name).name
            except UnitError as exc:
                raise CompositionError(f"composition {text!r}: {exc}") from exc
            units[name] = units.get(name, 0) + int(ucount or 1)
        else:
            if el not in atomic_numbers:
                raise CompositionError(f"composition {text!r}: unknown element {el!r}")
            atoms[el] = atoms.get(el, 0) + int(acount or 1)
        pos = m.end()
    return Composition(units=units, atoms=atoms)


_OX_OVERRIDE = {"H": 1, "B": 3, "C": 4, "N": -3, "O": -2, "F": -1, "Cl": -1, "Br": -1, "I": -1,
                "S": -2}


def oxidation_state(element: str) -> int | None:
    """Most common oxidation state of an element (pymatgen's list), or None."""
    if element in _OX_OVERRIDE:
        return _OX_OVERRIDE[element]
    try:
        from pymatgen.core.periodic_table import Element

        states = Element(element).common_oxidation_states
    except Exception:  # noqa: BLE001 - unknown element or data
        return None
    return int(states[0]) if states else None
