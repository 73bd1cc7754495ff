"""The validity check every generated or bred genome must pass.

Minimum distances per element pair (between atoms of *different* units and free
atoms; a unit's internal distances are its template's), and cell-shape bounds.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from ase.data import covalent_radii

from csp.genome import Genome

__all__ = ["Limits", "cell_ok", "check_genome", "min_distance_table", "type_table"]


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


@functools.lru_cache(maxsize=1024)
def type_table(numbers: tuple[int, ...], limits: Limits) -> np.ndarray:
    """(t, t) minimum distances, Å, between the atom types ``numbers`` (atomic numbers)."""
    from ase.data import chemical_symbols

    z = np.asarray(numbers, dtype=np.int64)
    r = covalent_radii[z]
    table = limits.dmin_factor * (r[:, None] + r[None, :])
    for (a, b), d in limits.dmin_override:
        za, zb = chemical_symbols.index(a), chemical_symbols.index(b)
        mask = ((z[:, None] == za) & (z[None, :] == zb)) | ((z[:, None] == zb) & (z[None, :] == za))
        table[mask] = d
    table.setflags(write=False)
    return table


def min_distance_table(numbers: np.ndarray, limits: Limits) -> np.ndarray:
    """(n, n) matrix of minimum allowed distances, Å, for atoms with these numbers."""
    uniq, types = np.unique(np.asarray(numbers, dtype=np.int64), return_inverse=True)
    return type_table(tuple(int(z) for z in uniq), limits)[types][:, types]


def cell_ok(cell: np.ndarray, limits: Limits) -> tuple[bool, str]:
    """Cell-shape bounds: angles and the ratio of the longest to the shortest vector."""
    (ax, ay, az), (bx, by, bz), (cx, cy, cz) = np.asarray(cell, dtype=float).tolist()
    la = math.sqrt(ax * ax + ay * ay + az * az)
    lb = math.sqrt(bx * bx + by * by + bz * bz)
    lc = math.sqrt(cx * cx + cy * cy + cz * cz)
    if max(la, lb, lc) > limits.max_length_ratio * min(la, lb, lc):
        return False, f"cell length ratio {max(la, lb, lc) / min(la, lb, lc):.2f} too large"
    for dot, n in ((ax * bx + ay * by + az * bz, la * lb), (ax * cx + ay * cy + az * cz, la * lc),
                   (bx * cx + by * cy + bz * cz, lb * lc)):
        ang = math.degrees(math.acos(max(-1.0, min(1.0, dot / n))))
        if not limits.min_angle_deg <= ang <= limits.max_angle_deg:
            return False, f"cell angle {ang:.1f} deg out of bounds"
    return True, ""


def check_genome(genome: Genome, limits: Limits = Limits()) -> tuple[bool, str]:
    """True if the expanded crystal respects minimum distances and cell bounds.

    Distances between atoms of the same unit are not checked against the table
    (they are the template's), including their periodic images when the unit is
    larger than the cell: an atom's image in a neighbouring cell is a different
    instance, so only the unit's own (unwrapped) geometry is exempt.
    """
    ok, why = cell_ok(genome.cell, limits)
    if not ok:
        return ok, why
    from csp.operators._kernels import overlap

    uniq, types = np.unique(genome.numbers(), return_inverse=True)
    table = type_table(tuple(int(z) for z in uniq), limits)
    ratio, i, j = overlap(genome.positions(), genome.cell, types, genome.atom_unit_index(),
                          table, first=True)
    if ratio < 1.0:
        dmin = table[types[i], types[j]]
        return False, f"atoms {i} and {j} too close ({ratio * dmin:.2f} Å < {dmin:.2f} Å)"
    return True, ""
