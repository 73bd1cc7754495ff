"""numba kernels for the operators and the validity check, with NumPy twins.

Each ``@njit`` kernel has a plain-NumPy twin (suffix ``_numpy``) that the parity
tests compare against.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from csp._pbc import frac_of, to_cart

__all__ = [
    "axis_angle_quat",
    "image_shifts",
    "nearest_entity_distance",
    "overlap",
    "overlap_numpy",
    "quat_multiply",
    "shift_range",
]


def image_shifts(cell: np.ndarray, cutoff: float) -> np.ndarray:
    """Integer lattice shifts (k, 3) that can bring two atoms within ``cutoff`` Å.

    For a displacement whose fractional components are already wrapped into
    [-0.5, 0.5), an image within ``cutoff`` has ``|s_i| <= cutoff / h_i + 1/2``, h_i
    being the distance between opposite cell faces.
    """
    n = shift_range(cell, cutoff)
    rng = [np.arange(-k, k + 1) for k in n]
    g = np.stack(np.meshgrid(*rng, indexing="ij"), axis=-1).reshape(-1, 3)
    return g.astype(np.float64)


def shift_range(cell: np.ndarray, cutoff: float, inv: np.ndarray | None = None) -> np.ndarray:
    """(3,) largest |integer shift| per axis for wrapped displacements (see image_shifts)."""
    inv = np.linalg.inv(cell) if inv is None else inv
    heights = 1.0 / np.sqrt(np.einsum("ij,ij->j", inv, inv))
    return np.floor(cutoff / heights + 0.5).astype(np.int64)


@njit(cache=True, boundscheck=False)
def _overlap_kernel(pos, inv, cell, types, owner, table, nsh, start, first):
    """Smallest d_ij / dmin(type_i, type_j) over pairs (i >= start, j <= i) and images.

    Fractional displacements are wrapped into [-0.5, 0.5) and the shifts -nsh..nsh
    added; for two atoms of the same unit (owner >= 0) the image with the *raw*
    (unwrapped) displacement is the unit's own geometry and is skipped, as is the zero
    image of an atom with itself. ``first``: return at the first pair below 1.
    """
    n = pos.shape[0]
    best = np.inf
    bi = -1
    bj = -1
    for i in range(start, n):
        for j in range(i + 1):
            ex = pos[j, 0] - pos[i, 0]
            ey = pos[j, 1] - pos[i, 1]
            ez = pos[j, 2] - pos[i, 2]
            f0, f1, f2 = frac_of(ex, ey, ez, inv)
            w0 = np.floor(f0 + 0.5)
            w1 = np.floor(f1 + 0.5)
            w2 = np.floor(f2 + 0.5)
            f0 -= w0
            f1 -= w1
            f2 -= w2
            same = i == j or (owner[i] >= 0 and owner[i] == owner[j])
            dmin = table[types[i], types[j]]
            for a in range(-nsh[0], nsh[0] + 1):
                for b in range(-nsh[1], nsh[1] + 1):
                    for c in range(-nsh[2], nsh[2] + 1):
                        if same and a == w0 and b == w1 and c == w2:
                            continue
                        g0 = f0 + a
                        g1 = f1 + b
                        g2 = f2 + c
                        dx, dy, dz = to_cart(g0, g1, g2, cell)
                        r = np.sqrt(dx * dx + dy * dy + dz * dz) / dmin
                        if r < best:
                            best = r
                            bi = j
                            bj = i
                            if first and r < 1.0:
                                return best, bi, bj
    return best, bi, bj


def overlap(pos: np.ndarray, cell: np.ndarray, types: np.ndarray, owner: np.ndarray,
            table: np.ndarray, start: int = 0, first: bool = False) -> tuple[float, int, int]:
    """Smallest d_ij / dmin_ij under periodic boundary conditions, over the pairs that
    involve at least one atom ``>= start`` (0: all pairs).

    Args:
        pos: (n, 3) Cartesian positions, Å (unit atoms unwrapped around their centre).
        cell: (3, 3) lattice vectors as rows, Å.
        types: (n,) index of each atom into ``table``.
        owner: (n,) unit index per atom, -1 for free atoms (a unit's own geometry is
            not tested).
        table: (t, t) minimum distances between atom types, Å.
        start: only pairs (i, j) with i >= start are tested (incremental insertion).
        first: stop at the first pair closer than its minimum distance.

    Returns:
        (ratio, i, j) with i <= j; ratio >= 1 means no pair is too close.
    """
    cell = np.ascontiguousarray(cell, dtype=np.float64)
    table = np.ascontiguousarray(table, dtype=np.float64)
    return _overlap_kernel(np.ascontiguousarray(pos, dtype=np.float64),
                           np.ascontiguousarray(np.linalg.inv(cell)), cell,
                           np.ascontiguousarray(types, dtype=np.int64),
                           np.ascontiguousarray(owner, dtype=np.int64), table,
                           shift_range(cell, float(table.max())), int(start), bool(first))


def overlap_numpy(pos, cell, types, owner, table, start=0):
    """NumPy twin of :func:`overlap` (for parity tests; all pairs, no early exit)."""
    pos = np.asarray(pos, float)
    n = len(pos)
    inv = np.linalg.inv(cell)
    f = (pos[None, :, :] - pos[:, None, :]) @ inv  # (i, j) raw fractional j - i
    w = np.floor(f + 0.5)
    shifts = image_shifts(cell, float(table.max()))  # (k, 3)
    g = (f - w)[:, :, None, :] + shifts[None, None]
    d = np.linalg.norm(g @ cell, axis=-1)  # (i, j, k)
    same = (owner[:, None] == owner[None, :]) & (owner[:, None] >= 0) | np.eye(n, dtype=bool)
    skip = same[:, :, None] & np.all(shifts[None, None] == w[:, :, None], axis=-1)
    ratio = np.where(skip, np.inf, d / table[types][:, types][:, :, None])
    ii, jj = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    keep = (ii >= start) & (jj <= ii)
    ratio = np.where(keep[:, :, None], ratio, np.inf)
    k = np.unravel_index(np.argmin(ratio), ratio.shape)
    return float(ratio[k]), int(min(k[0], k[1])), int(max(k[0], k[1]))


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
@njit(cache=True, boundscheck=False)
def _nearest_entity(pos, inv, cell, nsh, entity, n_entities):
    out = np.full(n_entities, np.inf)
    n = pos.shape[0]
    for i in range(n):
        for j in range(n):
            if entity[i] == entity[j]:
                continue
            ex = pos[j, 0] - pos[i, 0]
            ey = pos[j, 1] - pos[i, 1]
            ez = pos[j, 2] - pos[i, 2]
            f0, f1, f2 = frac_of(ex, ey, ez, inv)
            f0 -= np.floor(f0 + 0.5)
            f1 -= np.floor(f1 + 0.5)
            f2 -= np.floor(f2 + 0.5)
            for a in range(-nsh[0], nsh[0] + 1):
                for b in range(-nsh[1], nsh[1] + 1):
                    for c in range(-nsh[2], nsh[2] + 1):
                        g0 = f0 + a
                        g1 = f1 + b
                        g2 = f2 + c
                        dx, dy, dz = to_cart(g0, g1, g2, cell)
                        d = np.sqrt(dx * dx + dy * dy + dz * dz)
                        out[entity[i]] = min(out[entity[i]], d)
    return out


def nearest_entity_distance(pos: np.ndarray, cell: np.ndarray, entity: np.ndarray,
                            n_entities: int, cutoff: float = 6.0) -> np.ndarray:
    """Distance from each entity (unit or free atom) to the nearest atom of another, Å.

    Entities with no other entity within ``cutoff`` get ``cutoff``.
    """
    cell = np.ascontiguousarray(cell, dtype=np.float64)
    d = _nearest_entity(np.ascontiguousarray(pos, dtype=np.float64),
                        np.ascontiguousarray(np.linalg.inv(cell)), cell,
                        shift_range(cell, cutoff), entity.astype(np.int64), int(n_entities))
    return np.minimum(d, cutoff)


def nearest_entity_distance_numpy(pos, cell, entity, n_entities, cutoff=6.0):
    """NumPy twin of :func:`nearest_entity_distance`."""
    f = (pos[None, :, :] - pos[:, None, :]) @ np.linalg.inv(cell)
    f -= np.floor(f + 0.5)
    shifts = image_shifts(cell, cutoff)
    d = np.linalg.norm((f[:, :, None, :] + shifts[None, None]) @ cell, axis=-1)
    d[entity[:, None] == entity[None, :]] = np.inf
    per_atom = d.min(axis=(1, 2))
    out = np.full(n_entities, np.inf)
    np.minimum.at(out, entity, per_atom)
    return np.minimum(out, cutoff)


# ------------------------------------------------------------------------- voids
@njit(cache=True, boundscheck=False)
def _nearest_distance(points, pos, inv, cell):
    """Distance from each point to the nearest atom (wrapped displacement, +-1 images)."""
    out = np.full(points.shape[0], np.inf)
    for p in range(points.shape[0]):
        for j in range(pos.shape[0]):
            ex = pos[j, 0] - points[p, 0]
            ey = pos[j, 1] - points[p, 1]
            ez = pos[j, 2] - points[p, 2]
            f0, f1, f2 = frac_of(ex, ey, ez, inv)
            f0 -= np.floor(f0 + 0.5)
            f1 -= np.floor(f1 + 0.5)
            f2 -= np.floor(f2 + 0.5)
            for a in range(-1, 2):
                for b in range(-1, 2):
                    for c in range(-1, 2):
                        g0 = f0 + a
                        g1 = f1 + b
                        g2 = f2 + c
                        dx, dy, dz = to_cart(g0, g1, g2, cell)
                        d = dx * dx + dy * dy + dz * dz
                        out[p] = min(out[p], d)
    return np.sqrt(out)


def void_points(pos: np.ndarray, cell: np.ndarray, n: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """The points of an n x n x n fractional grid and their distance to the nearest atom.

    The largest distances mark the largest holes of a packing: where a missing unit
    or atom has the best chance to fit. Images up to +-1 cell: exact for a
    Minkowski-reduced cell, a lower bound on the hole size otherwise.

    Returns:
        ((n^3, 3) fractional points, (n^3,) distances in Å, largest first).
    """
    g = (np.arange(n) + 0.5) / n
    frac = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
    if len(pos) == 0:
        return frac, np.full(len(frac), np.inf)
    cell = np.ascontiguousarray(cell, dtype=np.float64)
    d = _nearest_distance(np.ascontiguousarray(frac @ cell), np.ascontiguousarray(pos, np.float64),
                          np.ascontiguousarray(np.linalg.inv(cell)), cell)
    order = np.argsort(-d, kind="stable")
    return frac[order], d[order]


# ---------------------------------------------------------------- cell reduction
@njit(cache=True)
def _greedy_reduce(cell):
    """Greedy lattice reduction of 3 basis vectors (rows), which yields a
    Minkowski-reduced basis in dimension <= 4 (Nguyen & Stehle, ACM Trans. Algorithms
    5, 46 (2009)). Returns (reduced basis, integer matrix op with reduced = op @ cell)."""
    b = cell.copy()
    u = np.eye(3)
    # sort by length
    for i in range(3):
        for j in range(2 - i):
            if b[j] @ b[j] > b[j + 1] @ b[j + 1]:
                tmp = b[j].copy()
                b[j] = b[j + 1]
                b[j + 1] = tmp
                tu = u[j].copy()
                u[j] = u[j + 1]
                u[j + 1] = tu
    k = 1
    guard = 0
    while k < 3 and guard < 1000:
        guard += 1
        if k == 1:
            x = np.round((b[1] @ b[0]) / (b[0] @ b[0]))
            b[1] = b[1] - x * b[0]
            u[1] = u[1] - x * u[0]
        else:
            g00 = b[0] @ b[0]
            g01 = b[0] @ b[1]
            g11 = b[1] @ b[1]
            t0 = b[2] @ b[0]
            t1 = b[2] @ b[1]
            det = g00 * g11 - g01 * g01
            y0 = (t0 * g11 - t1 * g01) / det
            y1 = (t1 * g00 - t0 * g01) / det
            best = np.inf
            bi = 0.0
            bj = 0.0
            for i in range(int(np.floor(y0)) - 1, int(np.floor(y0)) + 3):
                for j in range(int(np.floor(y1)) - 1, int(np.floor(y1)) + 3):
                    v = b[2] - i * b[0] - j * b[1]
                    n = v @ v
                    if n < best - 1e-12 * (g00 + g11):
                        best = n
                        bi = float(i)
                        bj = float(j)
            b[2] = b[2] - bi * b[0] - bj * b[1]
            u[2] = u[2] - bi * u[0] - bj * u[1]
        nk = b[k] @ b[k]
        if nk >= b[k - 1] @ b[k - 1] * (1.0 - 1e-12):
            k += 1
            continue
        # insert b[k] at its place among the shorter vectors, continue after it
        pos = 0
        while pos < k and b[pos] @ b[pos] <= nk:
            pos += 1
        vb = b[k].copy()
        vu = u[k].copy()
        for m in range(k, pos, -1):
            b[m] = b[m - 1]
            u[m] = u[m - 1]
        b[pos] = vb
        u[pos] = vu
        k = max(pos, 0) + 1
    if np.linalg.det(u) < 0:
        b = -b
        u = -u
    return b, u


def reduce_basis(cell: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minkowski-reduced, right-handed basis of a lattice (rows, Å).

    Returns:
        (reduced (3, 3), integer op (3, 3) with det +1 and ``reduced = op @ cell``).
    """
    b, u = _greedy_reduce(np.ascontiguousarray(cell, dtype=np.float64))
    return b, np.rint(u).astype(np.int64)
