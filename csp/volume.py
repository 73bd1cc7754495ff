"""Volume estimates for random structures, with a simple pressure correction.

Per-atom volumes (Å^3) at 0 GPa are effective volumes in solids: for B, C, N, O, H
and the light elements the volume per atom in their covalent/molecular crystals
and borides/hydrides; for metals the volume per atom in ionic compounds, which is
smaller than in the elemental metal. Elements not listed get 2.2 x the volume of a
sphere of the covalent radius. The estimate only sets the starting cell: the
relaxation at pressure decides the real volume.
"""

from __future__ import annotations

import math

from ase.data import atomic_numbers, covalent_radii

__all__ = ["atomic_volume", "compress", "estimate_volume"]

_VOLUMES: dict[str, float] = {
    "H": 5.0, "Li": 14.0, "Be": 8.0, "B": 7.3, "C": 8.0, "N": 10.0, "O": 11.0, "F": 12.0,
    "Na": 22.0, "Mg": 17.0, "Al": 16.0, "Si": 20.0, "P": 20.0, "S": 24.0, "Cl": 28.0,
    "K": 36.0, "Ca": 28.0, "Sc": 20.0, "Ti": 16.0, "Rb": 44.0, "Sr": 34.0, "Y": 24.0,
    "Zr": 20.0, "Cs": 55.0, "Ba": 40.0, "La": 30.0, "U": 20.0, "Br": 32.0, "I": 42.0,
}

#: Murnaghan parameters of the generic compression curve (bulk modulus GPa, B').
B0_GPA = 100.0
B0_PRIME = 4.0


def atomic_volume(z: int) -> float:
    """Effective volume per atom of element z in a solid at 0 GPa, Å^3."""
    from ase.data import chemical_symbols

    sym = chemical_symbols[z]
    if sym in _VOLUMES:
        return _VOLUMES[sym]
    return 2.2 * 4.0 / 3.0 * math.pi * covalent_radii[z] ** 3


def compress(volume: float, pressure_gpa: float) -> float:
    """Murnaghan compression V(P) = V0 (1 + B'/B0 P)^(-1/B') of a 0 GPa volume, Å^3."""
    p = max(float(pressure_gpa), 0.0)
    return volume * (1.0 + B0_PRIME / B0_GPA * p) ** (-1.0 / B0_PRIME)


def estimate_volume(symbols_or_numbers, pressure_gpa: float = 0.0) -> float:
    """Starting cell volume for a set of atoms at a pressure, Å^3."""
    total = 0.0
    for s in symbols_or_numbers:
        z = atomic_numbers[s] if isinstance(s, str) else int(s)
        total += atomic_volume(z)
    return compress(total, pressure_gpa)
