"""The validity check every generated or bred genome must pass.

Minimum distances per element pair (between atoms of *different* units and free
atoms; a unit's internal distances are its template's), and cell-shape bounds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase.data import covalent_radii

from csp.genome import Genome

__all__ = ["Limits", "check_genome", "min_distance_table"]


@dataclass(frozen=True)
class Limits:
    """Validity limits.

    Attributes:
        dmin_factor: minimum distance = dmin_factor x (r_cov,a + r_cov,b), Å.
        dmin_override: explicit minimum distances for element pairs, e.g.
            {("B", "B"): 1.3}; keys are sorted symbol pairs.
        min_angle_deg / max_angle_deg: bounds on the cell angles.
        max_length_ratio: longest / shortest lattice vector.
    """

    dmin_factor: float = 0.7
    dmin_override: tuple[tuple[tuple[str, str], float], ...] = ()
    min_angle_deg: float = 45.0
    max_angle_deg: float = 135.0
    max_length_ratio: float = 4.0


def min_distance_table(numbers: np.ndarray, limits: Limits) -> np.ndarray:
    """(n, n) matrix of minimum allowed distances, Å, for atoms with these numbers."""
    from ase.data import chemical_symbols

    r = covalent_radii[numbers]
    table = limits.dmin_factor * (r[:, None] + r[None, :])
    for (a, b), d in limits.dmin_override:
        za, zb = chemical_symbols.index(a), chemical_symbols.index(b)
        mask = ((numbers[:, None] == za) & (numbers[None, :] == zb)) | (
            (numbers[:, None] == zb) & (numbers[None, :] == za))
        table[mask] = d
    return table


def _cell_ok(cell: np.ndarray, limits: Limits) -> tuple[bool, str]:
    lengths = np.linalg.norm(cell, axis=1)
    if lengths.max() / lengths.min() > limits.max_length_ratio:
        return False, f"cell length ratio {lengths.max() / lengths.min():.2f} too large"
    for i, j in ((0, 1), (0, 2), (1, 2)):
        ang = np.degrees(np.arccos(np.clip(cell[i] @ cell[j] / (lengths[i] * lengths[j]), -1, 1)))
        if not limits.min_angle_deg <= ang <= limits.max_angle_deg:
            return False, f"cell angle {ang:.1f} deg out of bounds"
    return True, ""


def check_genome(genome: Genome, limits: Limits = Limits()) -> tuple[bool, str]:
    """True if the expanded crystal respects minimum distances and cell bounds.

    Distances between atoms of the same unit are not checked against the table
    (they are the template's), including their periodic images when the unit is
    larger than the cell: an atom's image in a neighbouring cell is a different
    instance, so only the zero-shift pair of the same unit is exempt.
    """
    ok, why = _cell_ok(genome.cell, limits)
    if not ok:
        return ok, why
    from csp.operators._kernels import min_ratio_pbc

    numbers = genome.numbers()
    owner = genome.atom_unit_index()
    table = min_distance_table(numbers, limits)
    ratio, i, j = min_ratio_pbc(genome.positions(), genome.cell, owner, table)
    if ratio < 1.0:
        return False, (f"atoms {i} and {j} too close ({ratio * table[i, j]:.2f} Å < "
                       f"{table[i, j]:.2f} Å)")
    return True, ""
