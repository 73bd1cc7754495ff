"""Orientations of a rigid unit on a crystallographic site.

A unit whose point group is P (body frame) may sit on a site whose site-symmetry group
is S (Cartesian operations) when a proper rotation R (body -> lab) maps every site
operation into the unit's group: ``R^T g R ∈ P`` for all g in S. Then every site
operation maps the placed unit onto itself and the crystal keeps the space group.

Solving for R uses the invariants of conjugation: ``R^T g R`` is an operation of the
same kind (proper or improper) and rotation angle as g, about the axis ``R^T a(g)``.
So R maps one or two non-collinear site axes onto body axes of operations of the same
kind and angle; every candidate is then checked against the whole site group.

* **single-axis sites** (Cn, Cnh, S2n, Cs: every site operation is a rotation or a
  rotoreflection about one axis a): R is fixed up to a free spin about a, since
  those operations commute with every rotation about a;
* **other sites** (two non-collinear axes): R is fixed by the two axis images, so the
  solutions are discrete; they are enumerated once and kept modulo the unit's own
  rotations (for B12 on an m-3 site: the two standard settings, 90 degrees apart).

Solutions depend only on the unit and the Cartesian site operations, which for a
space group in its standard setting do not depend on the cell parameters (ASE's
``cellpar_to_cell`` orientation), so they are cached per (unit, site).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from csp.genome import quat_to_matrix, random_quaternion
from csp.units import Unit, orthonormal_frame

__all__ = ["SiteOrientations", "site_compatible", "site_orientation", "solve_site"]

_TOL = 1e-4


@dataclass(frozen=True)
class SiteOrientations:
    """The proper rotations (body -> lab) that put a unit on a site.

    Attributes:
        rotations: (k, 3, 3) solutions, distinct modulo the unit's own rotations; empty
            when ``free``.
        spin_axis: (3,) lab axis about which any extra rotation may be applied first
            (single-axis sites), or None.
        free: the site has no symmetry the unit must respect: any orientation works.
    """

    rotations: np.ndarray
    spin_axis: np.ndarray | None = None
    free: bool = False

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        """A random valid orientation, (3, 3)."""
        if self.free:
            return quat_to_matrix(random_quaternion(rng))
        r = self.rotations[int(rng.integers(len(self.rotations)))]
        if self.spin_axis is not None:
            r = _rot_about(self.spin_axis, float(rng.uniform(0.0, 2.0 * math.pi))) @ r
        return r

    def first(self) -> np.ndarray:
        """A deterministic valid orientation, (3, 3)."""
        return np.eye(3) if self.free else self.rotations[0]


# ------------------------------------------------------------------ small geometry
def _rot_about(axis: np.ndarray, angle: float) -> np.ndarray:
    a = axis / np.linalg.norm(axis)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * k @ k


def _onto(b: np.ndarray, a: np.ndarray) -> np.ndarray:
    """A proper rotation taking unit vector b onto unit vector a."""
    v = np.cross(b, a)
    c = float(b @ a)
    if np.linalg.norm(v) < 1e-9:
        if c > 0:
            return np.eye(3)
        perp = np.array([1.0, 0, 0]) if abs(b[0]) < 0.9 else np.array([0, 1.0, 0])
        perp -= b * (perp @ b)
        return _rot_about(perp, math.pi)
    return _rot_about(v, math.atan2(np.linalg.norm(v), c))


@dataclass(frozen=True)
class _Feature:
    """Axis of one operation: unit vector, determinant (+1 proper, -1 improper), angle
    of the proper part in (0, pi], rad."""

    axis: np.ndarray
    det: int
    angle: float

    def same_kind(self, other: _Feature) -> bool:
        return self.det == other.det and abs(self.angle - other.angle) < 1e-3


def _feature(m: np.ndarray) -> _Feature | None:
    """The axis of an orthogonal matrix's proper part; None for the identity / inversion."""
    det = 1 if np.linalg.det(m) > 0 else -1
    p = m * det
    angle = math.acos(max(-1.0, min(1.0, (np.trace(p) - 1.0) / 2.0)))
    if angle < 1e-6:
        return None
    if math.pi - angle > 1e-6:
        axis = np.array([p[2, 1] - p[1, 2], p[0, 2] - p[2, 0], p[1, 0] - p[0, 1]])
    else:  # 2-fold: any non-zero column of p + I
        s = p + np.eye(3)
        axis = s[:, int(np.argmax(np.linalg.norm(s, axis=0)))]
    return _Feature(axis / np.linalg.norm(axis), det, angle)


# ------------------------------------------------------------------------ solving
@functools.lru_cache(maxsize=256)
def _unit_data(key: tuple) -> tuple[np.ndarray, np.ndarray, tuple[_Feature, ...]]:
    unit = _UNITS[key]
    ops = unit.symmetry_operations()
    proper = np.array([m for m in ops if np.linalg.det(m) > 0])
    feats: list[_Feature] = []
    for f in (_feature(m) for m in ops):  # one per (kind, axis line): both signs are tried
        if f is not None and not any(g.same_kind(f) and abs(abs(g.axis @ f.axis) - 1.0) < 1e-6
                                     for g in feats):
            feats.append(f)
    return ops, proper, tuple(feats)


_UNITS: dict[tuple, Unit] = {}


def _unit_key(unit: Unit) -> tuple:
    key = (unit.name, unit.numbers.tobytes(), np.round(unit.positions, 6).tobytes())
    _UNITS.setdefault(key, unit)
    return key


def _valid(r: np.ndarray, site: np.ndarray, pg: np.ndarray) -> bool:
    """R^T g R in the group pg for every site operation g."""
    conj = np.einsum("ji,kjl,lm->kim", r, site, r)
    diff = np.abs(conj[:, None] - pg[None]).reshape(len(site), len(pg), 9).max(axis=2)
    return bool(np.all(diff.min(axis=1) < _TOL))


def _distinct(sols: list[np.ndarray], proper: np.ndarray) -> np.ndarray:
    """Solutions that differ by more than one of the unit's own rotations."""
    out: list[np.ndarray] = []
    for r in sols:
        if not any(_in(o.T @ r, proper) for o in out):
            out.append(r)
    return np.array(out).reshape(-1, 3, 3)


def _in(m: np.ndarray, group: np.ndarray) -> bool:
    return bool(np.any(np.abs(group - m[None]).reshape(len(group), 9).max(axis=1) < _TOL))


def solve_site(unit: Unit, site_cart: np.ndarray) -> SiteOrientations | None:
    """All orientations of ``unit`` compatible with a site group (cached).

    Args:
        unit: the template (non-linear; linear units: :func:`site_orientation`).
        site_cart: (k, 3, 3) Cartesian site-symmetry operations (identity allowed).

    Returns:
        The solutions, or None when the site group is not (conjugate to) a subgroup of
        the unit's point group.
    """
    site = np.asarray(site_cart, dtype=float).reshape(-1, 3, 3)
    return _solve_cached(_unit_key(unit), np.round(site, 6).tobytes(), site.shape, False)


def site_compatible(unit: Unit, site_cart: np.ndarray) -> bool:
    """Can ``unit`` sit on a site with these Cartesian operations? (first solution only)"""
    if unit.is_linear():
        return _linear_orientation(unit, np.asarray(site_cart, float).reshape(-1, 3, 3),
                                   None) is not None
    site = np.asarray(site_cart, dtype=float).reshape(-1, 3, 3)
    return _solve_cached(_unit_key(unit), np.round(site, 6).tobytes(), site.shape,
                         True) is not None


@functools.lru_cache(maxsize=8192)
def _solve_cached(ukey: tuple, site_bytes: bytes, shape: tuple,
                  first_only: bool) -> SiteOrientations | None:
    site_all = np.frombuffer(site_bytes, dtype=float).reshape(shape)
    site_all = np.unique(np.round(site_all.reshape(-1, 9), 5), axis=0).reshape(-1, 3, 3)
    site = np.array([g for g in site_all if not np.allclose(g, np.eye(3), atol=1e-4)])
    pg, proper, body = _unit_data(ukey)
    if len(site) == 0:
        return SiteOrientations(np.zeros((0, 3, 3)), free=True)
    if len(pg) % (len(site) + 1):  # Lagrange: a subgroup's order divides the group's
        return None
    feats = [f for f in (_feature(g) for g in site) if f is not None]
    if not all(any(b.same_kind(f) for b in body) for f in feats):  # e.g. a 4-fold axis in Ih
        return None
    if not feats:  # the inversion only
        return SiteOrientations(np.zeros((0, 3, 3)), free=True) if _in(-np.eye(3), pg) else None
    f1 = feats[0]
    others = [f for f in feats if abs(abs(f.axis @ f1.axis) - 1.0) > 1e-6]
    sols: list[np.ndarray] = []
    if not others:  # single axis: free spin about it
        for b in body:
            if not b.same_kind(f1):
                continue
            for sign in (1.0, -1.0):
                r = _onto(sign * b.axis, f1.axis)
                if _valid(r, site, pg):
                    sols.append(r)
                    if first_only:
                        return SiteOrientations(np.array(sols), spin_axis=f1.axis.copy())
        if not sols:
            return None
        return SiteOrientations(_distinct(sols, proper), spin_axis=f1.axis.copy())
    f2 = others[0]
    cos12 = float(f1.axis @ f2.axis)
    lab = orthonormal_frame(f1.axis, f2.axis)
    for b1 in body:
        if not b1.same_kind(f1):
            continue
        for b2 in body:
            if not b2.same_kind(f2) or abs(abs(b1.axis @ b2.axis) - abs(cos12)) > 1e-5:
                continue
            for s1 in (1.0, -1.0):
                for s2 in (1.0, -1.0):
                    u, v = s1 * b1.axis, s2 * b2.axis
                    if abs(u @ v - cos12) > 1e-5:
                        continue
                    r = lab.T @ orthonormal_frame(u, v)  # proper: maps u -> f1.axis, v -> f2.axis
                    if _valid(r, site, pg):
                        sols.append(r)
                        if first_only:
                            return SiteOrientations(np.array(sols))
    if not sols:
        return None
    return SiteOrientations(_distinct(sols, proper))


# ---------------------------------------------------------------------- public API
def site_orientation(unit: Unit, site_cart: np.ndarray,
                     rng: np.random.Generator | None) -> np.ndarray | None:
    """A body->lab rotation R with R^T g R in the unit's point group for every site op g.

    Args:
        unit: the template.
        site_cart: (k, 3, 3) Cartesian site-symmetry operations.
        rng: draws among the valid orientations (and the free spin of single-axis
            sites); None returns the first solution (compatibility test).

    Returns:
        (3, 3) proper rotation, or None if the site symmetry is not a subgroup of the
        unit's point group in any orientation.
    """
    if unit.is_linear():
        return _linear_orientation(unit, np.asarray(site_cart, float).reshape(-1, 3, 3), rng)
    sol = solve_site(unit, site_cart)
    if sol is None:
        return None
    return sol.first() if rng is None else sol.draw(rng)


def _linear_orientation(unit: Unit, site_all: np.ndarray,
                        rng: np.random.Generator | None) -> np.ndarray | None:
    """Linear units (C*v, D*h): every site operation must fix the molecular axis
    direction (D*h: or reverse it); the spin about the axis is free.

    Candidate axes: a random direction of the subspace every site operation fixes (a
    line, a mirror plane or all space), then the axes of the site operations.
    """
    site = [g for g in site_all if not np.allclose(g, np.eye(3), atol=1e-6)]
    body = unit.positions[np.argmax(np.linalg.norm(unit.positions, axis=1))]
    body = body / np.linalg.norm(body)
    symmetric = unit.point_group == "D*h"
    cands: list[np.ndarray] = []
    if site:
        _, sv, vt = np.linalg.svd(np.vstack([g - np.eye(3) for g in site]))
        fixed = vt[sv < 1e-6]  # orthonormal basis of the common fixed subspace
    else:
        fixed = np.eye(3)
    if len(fixed):
        w = rng.normal(size=len(fixed)) if rng is not None else np.eye(len(fixed))[0]
        cands.append(w @ fixed)
    cands += [f.axis for f in (_feature(g) for g in site) if f is not None]
    for a in cands:
        a = a / np.linalg.norm(a)
        ok = all(np.allclose(g @ a, a, atol=1e-6)
                 or (symmetric and np.allclose(g @ a, -a, atol=1e-6)) for g in site)
        if ok:
            ang = 0.0 if rng is None else float(rng.uniform(0, 2 * math.pi))
            return _rot_about(a, ang) @ _onto(body, a)
    return None
