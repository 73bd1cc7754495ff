"""numba kernels for the operators and the validity check, with NumPy twins.

Each ``@njit`` kernel has a plain-NumPy twin (suffix ``_numpy``) that the parity
tests compare against.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["min_ratio_pbc", "min_ratio_pbc_numpy", "image_shifts"]


def image_shifts(cell: np.ndarray, cutoff: float) -> np.ndarray:
    """Integer lattice shifts (k, 3) that can bring two atoms within ``cutoff`` Å.

    Uses the distances between opposite cell faces: n_i = ceil(cutoff / d_i).
    """
    inv = np.linalg.inv(cell)
    heights = 1.0 / np.linalg.norm(inv, axis=0)
    n = np.ceil(cutoff / heights).astype(int)
    rng = [np.arange(-k, k + 1) for k in n]
    g = np.stack(np.meshgrid(*rng, indexing="ij"), axis=-1).reshape(-1, 3)
    return g.astype(np.float64)


@njit(cache=True)
def _min_ratio_kernel(pos, shifts_cart, owner, table):
    n = pos.shape[0]
    best = np.inf
    bi = -1
    bj = -1
    for i in range(n):
        for j in range(i, n):
            for s in range(shifts_cart.shape[0]):
                dx = pos[j, 0] - pos[i, 0] + shifts_cart[s, 0]
                dy = pos[j, 1] - pos[i, 1] + shifts_cart[s, 1]
                dz = pos[j, 2] - pos[i, 2] + shifts_cart[s, 2]
                zero = (shifts_cart[s, 0] == 0.0 and shifts_cart[s, 1] == 0.0
                        and shifts_cart[s, 2] == 0.0)
                if i == j and zero:
                    continue
                if zero and owner[i] >= 0 and owner[i] == owner[j]:
                    continue
                d = np.sqrt(dx * dx + dy * dy + dz * dz)
                r = d / table[i, j]
                if r < best:
                    best = r
                    bi = i
                    bj = j
    return best, bi, bj


def min_ratio_pbc(pos: np.ndarray, cell: np.ndarray, owner: np.ndarray,
                  table: np.ndarray) -> tuple[float, int, int]:
    """Smallest d_ij / dmin_ij over all atom pairs and periodic images.

    Pairs of atoms of the same unit in the same image are skipped (owner >= 0 equal).

    Args:
        pos: (n, 3) Cartesian positions, Å.
        cell: (3, 3) lattice vectors as rows, Å.
        owner: (n,) unit index per atom, -1 for free atoms.
        table: (n, n) minimum distances, Å.

    Returns:
        (ratio, i, j) for the worst pair; ratio >= 1 means valid.
    """
    shifts = image_shifts(cell, float(table.max())) @ cell
    return _min_ratio_kernel(np.ascontiguousarray(pos, dtype=np.float64),
                             np.ascontiguousarray(shifts), owner.astype(np.int64),
                             np.ascontiguousarray(table, dtype=np.float64))


def min_ratio_pbc_numpy(pos, cell, owner, table):
    """NumPy twin of :func:`min_ratio_pbc` (for parity tests)."""
    shifts = image_shifts(cell, float(table.max())) @ cell
    d = pos[None, :, None, :] - pos[:, None, None, :] + shifts[None, None, :, :]
    dist = np.linalg.norm(d, axis=-1)
    zero = np.all(shifts == 0, axis=1)
    same = (owner[:, None] == owner[None, :]) & (owner[:, None] >= 0)
    n = len(pos)
    eye = np.eye(n, dtype=bool)
    mask = np.zeros_like(dist, dtype=bool)
    mask[:, :, zero] = (same | eye)[:, :, None]
    ratio = np.where(mask, np.inf, dist / table[:, :, None])
    k = np.unravel_index(np.argmin(ratio), ratio.shape)
    i, j = sorted((int(k[0]), int(k[1])))
    return float(ratio[k]), i, j
