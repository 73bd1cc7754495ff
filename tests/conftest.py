"""Shared builders of small reference crystals (tiny systems, built from the genome)."""

from __future__ import annotations

import numpy as np
import pytest
from ase.geometry import cellpar_to_cell

from csp.genome import Genome, matrix_to_quat
from csp.units import get_unit


def _frame(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    e2 = v - u * (u @ v)
    e2 /= np.linalg.norm(e2)
    return np.stack([u, e2, np.cross(u, e2)])


def alpha_boron(a: float = 5.057, alpha: float = 58.06) -> Genome:
    """alpha-rhombohedral boron: one B12 at the origin of the R-3m primitive cell.

    Cell from Decker & Kasper (1959). The icosahedron's C3 axis lies along the
    rhombohedral [111] and one of its C2 axes along a hexagonal a axis, in the
    orientation that gives the six inter-icosahedral B-B bonds of 1.71 Å and the
    2.04 Å three-centre contacts.
    """
    b12 = get_unit("B12")
    cell = cellpar_to_cell([a, a, a, alpha, alpha, alpha])
    hc = cell.sum(0) / np.linalg.norm(cell.sum(0))
    ha = cell[0] - cell[1]
    ha -= hc * (ha @ hc)
    ha /= np.linalg.norm(ha)
    c3 = np.ones(3) / np.sqrt(3)
    c2 = -np.array([-0.30901699, 0.80901699, -0.5])  # a C2 axis of the template, ⟂ (1,1,1)
    rot = _frame(hc, ha).T @ _frame(c3, c2 / np.linalg.norm(c2))
    return Genome.from_units(cell, [b12], [[0, 0, 0]], [matrix_to_quat(rot)])


def simple_cubic_xb12(element: str = "Sr", a: float = 4.30) -> Genome:
    """Simple-cubic superatomic XB12: B12 at the origin (C2 axes along x, y, z), X at the body centre."""
    b12 = get_unit("B12")
    from ase.data import atomic_numbers

    return Genome.from_units(np.eye(3) * a, [b12], [[0, 0, 0]], [[1, 0, 0, 0]],
                             [atomic_numbers[element]], [[0.5, 0.5, 0.5]])


@pytest.fixture
def alpha_b() -> Genome:
    return alpha_boron()


@pytest.fixture
def srb12() -> Genome:
    return simple_cubic_xb12("Sr")


# hypothesis: no example database in the working directory, no per-example deadline
from hypothesis import settings as _hyp_settings

_hyp_settings.register_profile("csp", database=None, deadline=None)
_hyp_settings.load_profile("csp")
