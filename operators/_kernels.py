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


# ------------------------------------------------------------------ quaternions
@njit(cache=True)
def quat_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product a * b of quaternions (w, x, y, z), renormalised: rotation b then a."""
    w = a[0] * b[0] - a[1] * b[1] - a[2] * b[2] - a[3] * b[3]
    x = a[0] * b[1] + a[1] * b[0] + a[2] * b[3] - a[3] * b[2]
    y = a[0] * b[2] - a[1] * b[3] + a[2] * b[0] + a[3] * b[1]
    z = a[0] * b[3] + a[1] * b[2] - a[2] * b[1] + a[3] * b[0]
    n = np.sqrt(w * w + x * x + y * y + z * z)
    s = 1.0 if w >= 0 else -1.0
    out = np.empty(4)
    out[0] = s * w / n
    out[1] = s * x / n
    out[2] = s * y / n
    out[3] = s * z / n
    return out


def quat_multiply_numpy(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """NumPy twin of :func:`quat_multiply` (via rotation matrices)."""
    from csp.genome import matrix_to_quat, quat_to_matrix

    return matrix_to_quat(quat_to_matrix(a) @ quat_to_matrix(b))


@njit(cache=True)
def axis_angle_quat(axis: np.ndarray, angle: float) -> np.ndarray:
    """Unit quaternion of a rotation by ``angle`` (rad) about ``axis`` (any length > 0)."""
    n = np.sqrt(axis[0] ** 2 + axis[1] ** 2 + axis[2] ** 2)
    s = np.sin(0.5 * angle) / n
    out = np.empty(4)
    out[0] = np.cos(0.5 * angle)
    out[1] = axis[0] * s
    out[2] = axis[1] * s
    out[3] = axis[2] * s
    if out[0] < 0:
        out *= -1.0
    return out


# ------------------------------------------------------------- local free space
@njit(cache=True)
def _nearest_entity(pos, shifts, entity, n_entities):
    out = np.full(n_entities, np.inf)
    n = pos.shape[0]
    for i in range(n):
        for j in range(n):
            if entity[i] == entity[j]:
                continue
            for s in range(shifts.shape[0]):
                dx = pos[j, 0] - pos[i, 0] + shifts[s, 0]
                dy = pos[j, 1] - pos[i, 1] + shifts[s, 1]
                dz = pos[j, 2] - pos[i, 2] + shifts[s, 2]
                d = np.sqrt(dx * dx + dy * dy + dz * dz)
                if d < out[entity[i]]:
                    out[entity[i]] = d
    return out


def nearest_entity_distance(pos: np.ndarray, cell: np.ndarray, entity: np.ndarray,
                            n_entities: int, cutoff: float = 6.0) -> np.ndarray:
    """Distance from each entity (unit or free atom) to the nearest atom of another, Å.

    Entities with no other entity within ``cutoff`` get ``cutoff``.
    """
    shifts = image_shifts(cell, cutoff) @ cell
    d = _nearest_entity(np.ascontiguousarray(pos, dtype=np.float64), np.ascontiguousarray(shifts),
                        entity.astype(np.int64), int(n_entities))
    return np.minimum(d, cutoff)


def nearest_entity_distance_numpy(pos, cell, entity, n_entities, cutoff=6.0):
    """NumPy twin of :func:`nearest_entity_distance`."""
    shifts = image_shifts(cell, cutoff) @ cell
    d = np.linalg.norm(pos[None, :, None, :] - pos[:, None, None, :] + shifts[None, None], axis=-1)
    d[entity[:, None] == entity[None, :]] = np.inf
    per_atom = d.min(axis=(1, 2))
    out = np.full(n_entities, np.inf)
    np.minimum.at(out, entity, per_atom)
    return np.minimum(out, cutoff)
