"""Inline numba helpers for periodic displacements, shared by every kernel.

``frac_of``: Cartesian displacement -> fractional (rows of ``inv`` = inverse cell);
``to_cart``: fractional -> Cartesian. Kernels wrap fractional displacements into
[-0.5, 0.5) with ``x - floor(x + 0.5)`` and then add integer image shifts.
"""

from __future__ import annotations

from numba import njit

__all__ = ["frac_of", "to_cart"]


@njit(cache=True, inline="always")
def frac_of(ex, ey, ez, inv):
    """Fractional components of the Cartesian vector (ex, ey, ez): (e @ inv)."""
    return (ex * inv[0, 0] + ey * inv[1, 0] + ez * inv[2, 0],
            ex * inv[0, 1] + ey * inv[1, 1] + ez * inv[2, 1],
            ex * inv[0, 2] + ey * inv[1, 2] + ez * inv[2, 2])


@njit(cache=True, inline="always")
def to_cart(g0, g1, g2, cell):
    """Cartesian components of the fractional vector (g0, g1, g2): (g @ cell)."""
    return (g0 * cell[0, 0] + g1 * cell[1, 0] + g2 * cell[2, 0],
            g0 * cell[0, 1] + g1 * cell[1, 1] + g2 * cell[2, 1],
            g0 * cell[0, 2] + g1 * cell[1, 2] + g2 * cell[2, 2])
