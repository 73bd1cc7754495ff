"""Variation operators that keep every unit rigid by construction.

Each operator is a small picklable dataclass called as ``op(parents, rng) -> Genome | None``.
Only unit centres, quaternions, free atoms and the cell change; templates never
deform, so every unit keeps its internal distances exactly. A child that fails the
validity check (minimum distances, cell shape) after ``tries`` attempts gives None.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from csp.genome import Genome, random_quaternion
from csp.operators._kernels import axis_angle_quat, quat_multiply
from csp.operators.validity import Limits, check_genome

__all__ = ["Heredity", "Rotation", "Strain", "Swap", "SoftMutation", "AddBlock",
           "RemoveBlock", "Transmute", "reduce_cell"]


def reduce_cell(g: Genome) -> Genome:
    """Minkowski-reduce the cell; fractional centres and atoms follow, units do not rotate."""
    from ase.geometry import minkowski_reduce

    rcell, op = minkowski_reduce(g.cell)
    if np.array_equal(op, np.eye(3, dtype=op.dtype)):
        return g
    inv = np.linalg.inv(op.astype(float))
    return g.replace(cell=rcell, unit_centres=(g.unit_centres @ inv) % 1.0,
                     atom_frac=(g.atom_frac @ inv) % 1.0)


def _valid(g: Genome | None, limits: Limits) -> Genome | None:
    if g is None:
        return None
    return g if check_genome(g, limits)[0] else None


# ------------------------------------------------------------------------ heredity
@dataclass(frozen=True)
class Heredity:
    """Cut-and-splice of fractional slabs of two parents along a random lattice plane.

    Units and atoms are assigned to a side by their centre. The child's cell is the
    slab-weighted average of the parents' cells; its composition is repaired to the
    first parent's by removing surplus units/atoms (those nearest the cut planes first)
    and adding missing ones at the positions the other parent had them, else at random.
    """

    min_fraction: float = 0.25
    tries: int = 10
    limits: Limits = Limits()

    def __call__(self, parents: Sequence[Genome], rng: np.random.Generator) -> Genome | None:
        a, b = parents[0], parents[1 % len(parents)]
        for _ in range(self.tries):
            child = self._splice(a, b, rng)
            child = _valid(reduce_cell(child) if child is not None else None, self.limits)
            if child is not None:
                return child
        return None

    def _splice(self, a: Genome, b: Genome, rng: np.random.Generator) -> Genome | None:
        axis = int(rng.integers(3))
        f = float(rng.uniform(self.min_fraction, 1.0 - self.min_fraction))
        sa, sb = rng.random(2)  # random origins of the slabs in each parent

        def side(frac: np.ndarray, shift: float) -> np.ndarray:
            return ((frac[:, axis] - shift) % 1.0) < f

        def cutdist(frac: np.ndarray, shift: float) -> np.ndarray:
            x = (frac[:, axis] - shift) % 1.0
            return np.minimum(np.minimum(x, np.abs(x - f)), 1.0 - x)

        # map b's unit kinds onto a's by name; kinds a does not have are left out (the
        # child is repaired to a's composition, which has none of them)
        names_a = [u.name for u in a.kinds]
        kmap = {i: names_a.index(u.name) if u.name in names_a else -1
                for i, u in enumerate(b.kinds)}
        ua = side(a.unit_centres, sa)
        ub = ~side(b.unit_centres, sb) & np.array([kmap[int(k)] >= 0 for k in b.unit_kind],
                                                  dtype=bool).reshape(-1)
        xa, xb = side(a.atom_frac, sa), ~side(b.atom_frac, sb)
        # place b's slab so that its origin coincides with a's
        sh = np.zeros(3)
        sh[axis] = sa - sb
        kinds = np.concatenate([a.unit_kind[ua], [kmap[k] for k in b.unit_kind[ub]]]).astype(int)
        centres = np.concatenate([a.unit_centres[ua], b.unit_centres[ub] + sh]) % 1.0
        quats = np.concatenate([a.unit_quats[ua], b.unit_quats[ub]])
        dists = np.concatenate([cutdist(a.unit_centres, sa)[ua], cutdist(b.unit_centres, sb)[ub]])
        nums = np.concatenate([a.atom_numbers[xa], b.atom_numbers[xb]]).astype(int)
        frac = np.concatenate([a.atom_frac[xa], b.atom_frac[xb] + sh]) % 1.0
        adist = np.concatenate([cutdist(a.atom_frac, sa)[xa], cutdist(b.atom_frac, sb)[xb]])
        cell = f * a.cell + (1.0 - f) * b.cell
        # repair units per kind
        keep_u: list[int] = []
        add_k: list[int] = []
        for k in range(len(a.kinds)):
            have = np.nonzero(kinds == k)[0]
            want = int(np.sum(a.unit_kind == k))
            if len(have) > want:
                have = have[np.argsort(-dists[have])][:want]  # drop those nearest the cuts
            keep_u.extend(have.tolist())
            for _ in range(want - len(have)):
                add_k.append(k)
        keep_x: list[int] = []
        add_n: list[int] = []
        for z in np.unique(a.atom_numbers):
            have = np.nonzero(nums == z)[0]
            want = int(np.sum(a.atom_numbers == z))
            if len(have) > want:
                have = have[np.argsort(-adist[have])][:want]
            keep_x.extend(have.tolist())
            for _ in range(want - len(have)):
                add_n.append(int(z))
        keep_u.sort()
        keep_x.sort()
        child = Genome(cell=cell, kinds=a.kinds, unit_kind=kinds[keep_u].astype(int),
                       unit_centres=centres[keep_u], unit_quats=quats[keep_u],
                       atom_numbers=nums[keep_x].astype(int), atom_frac=frac[keep_x])
        # insert the missing units and atoms one at a time where they fit
        for k in add_k:
            child = _insert(child, "u", child.kinds[k], rng, self.limits)
            if child is None:
                return None
        for z in add_n:
            child = _insert(child, "a", z, rng, self.limits)
            if child is None:
                return None
        return child


def _insert(g: Genome, kind: str, obj, rng: np.random.Generator, limits: Limits,
            tries: int = 30) -> Genome | None:
    """``g`` plus one unit/atom at the first of ``tries`` random positions that is valid."""
    for _ in range(tries):
        trial = _add(g, kind, obj, rng)
        if check_genome(trial, limits)[0]:
            return trial
    return None


# ------------------------------------------------------------------------ mutations
@dataclass(frozen=True)
class Rotation:
    """Rotate 1..max_units units about random axes by normal angles (sd in degrees)."""

    sd_deg: float = 45.0
    max_units: int = 3
    tries: int = 10
    limits: Limits = Limits()

    def __call__(self, parents: Sequence[Genome], rng: np.random.Generator) -> Genome | None:
        g = parents[0]
        if g.n_units == 0:
            return None
        for _ in range(self.tries):
            n = int(rng.integers(1, min(self.max_units, g.n_units) + 1))
            idx = rng.choice(g.n_units, size=n, replace=False)
            quats = g.unit_quats.copy()
            for i in idx:
                axis = rng.normal(size=3)
                angle = np.deg2rad(rng.normal(0.0, self.sd_deg))
                quats[i] = quat_multiply(axis_angle_quat(axis, angle), quats[i])
            child = _valid(g.replace(unit_quats=quats), self.limits)
            if child is not None:
                return child
        return None


@dataclass(frozen=True)
class Strain:
    """Symmetric Gaussian strain of the cell (units rigid, centres fractional), then reduction."""

    sd: float = 0.12
    preserve_volume: bool = False
    tries: int = 10
    limits: Limits = Limits()

    def __call__(self, parents: Sequence[Genome], rng: np.random.Generator) -> Genome | None:
        g = parents[0]
        for _ in range(self.tries):
            e = rng.normal(0.0, self.sd, (3, 3))
            e = 0.5 * (e + e.T)
            m = np.eye(3) + e
            if np.linalg.det(m) <= 0.2:
                continue
            if self.preserve_volume:
                m /= np.linalg.det(m) ** (1 / 3)
            child = reduce_cell(g.replace(cell=g.cell @ m))
            child = _valid(child, self.limits)
            if child is not None:
                return child
        return None


@dataclass(frozen=True)
class Swap:
    """Exchange the positions of two unlike entities (unit/unit of different kinds,
    unit/atom, or atoms of different elements); orientations stay with the units."""

    tries: int = 10
    limits: Limits = Limits()

    def __call__(self, parents: Sequence[Genome], rng: np.random.Generator) -> Genome | None:
        g = parents[0]
        labels = [("u", int(k)) for k in g.unit_kind] + [("a", int(z)) for z in g.atom_numbers]
        if len(set(labels)) < 2:
            return None
        pos = np.concatenate([g.unit_centres, g.atom_frac])
        for _ in range(self.tries):
            i, j = rng.choice(len(labels), size=2, replace=False)
            if labels[i] == labels[j]:
                continue
            new = pos.copy()
            new[[i, j]] = pos[[j, i]]
            child = g.replace(unit_centres=new[:g.n_units], atom_frac=new[g.n_units:])
            child = _valid(child, self.limits)
            if child is not None:
                return child
        return None


@dataclass(frozen=True)
class SoftMutation:
    """Displace unit centres and free atoms, more where there is more free space.

    The amplitude of each entity is ``amplitude`` x (its nearest-neighbour distance /
    the mean nearest-neighbour distance), a cheap proxy of USPEX's soft modes: loosely
    bound entities move most. Units also turn by a small random rotation.
    """

    amplitude: float = 0.6
    rotation_deg: float = 15.0
    tries: int = 10
    limits: Limits = Limits()

    def __call__(self, parents: Sequence[Genome], rng: np.random.Generator) -> Genome | None:
        from csp.operators._kernels import nearest_entity_distance

        g = parents[0]
        n = g.n_units + g.n_free
        if n == 0:
            return None
        owner = g.atom_unit_index()
        entity = np.where(owner >= 0, owner, g.n_units + np.cumsum(owner < 0) - 1)
        dnn = nearest_entity_distance(g.positions(), g.cell, entity, n)
        scale = dnn / max(float(np.mean(dnn)), 1e-9)
        inv = np.linalg.inv(g.cell)
        for _ in range(self.tries):
            disp = rng.normal(0.0, 1.0, (n, 3)) * (self.amplitude * scale)[:, None] / np.sqrt(3)
            dfrac = disp @ inv
            quats = g.unit_quats.copy()
            for i in range(g.n_units):
                q = axis_angle_quat(rng.normal(size=3), np.deg2rad(rng.normal(0, self.rotation_deg)))
                quats[i] = quat_multiply(q, quats[i])
            child = g.replace(unit_centres=(g.unit_centres + dfrac[:g.n_units]) % 1.0,
                              atom_frac=(g.atom_frac + dfrac[g.n_units:]) % 1.0, unit_quats=quats)
            child = _valid(child, self.limits)
            if child is not None:
                return child
        return None


# ------------------------------------------------------------ variable composition
def _charge_ok(g: Genome, oxidation: dict[str, int] | None) -> bool:
    if oxidation is None:
        return True
    q = g.charge(oxidation)
    return q is not None and q == 0


@dataclass(frozen=True)
class AddBlock:
    """Add one unit or atom of a kind present in the parent (or in ``blocks``).

    With ``oxidation`` given (element -> oxidation state), the child must be charge
    neutral (unit charges from the templates), else None. The cell grows by the
    block's estimated volume.
    """

    blocks: tuple[str, ...] = ()
    oxidation: tuple[tuple[str, int], ...] | None = None
    max_atoms: int = 200
    tries: int = 10
    limits: Limits = Limits()

    def __call__(self, parents: Sequence[Genome], rng: np.random.Generator) -> Genome | None:
        from csp.volume import atomic_volume

        g = parents[0]
        choices = _blocks(g, self.blocks)
        ox = dict(self.oxidation) if self.oxidation is not None else None
        for _ in range(self.tries):
            kind, obj = choices[int(rng.integers(len(choices)))]
            child = _add(g, kind, obj, rng)
            if len(child) > self.max_atoms or not _charge_ok(child, ox):
                continue
            extra = (obj.volume() if kind == "u" else atomic_volume(obj))
            child = child.replace(cell=child.cell * ((child.volume + extra) / child.volume) ** (1 / 3))
            child = _valid(child, self.limits)
            if child is not None:
                return child
        return None


@dataclass(frozen=True)
class RemoveBlock:
    """Remove one unit or atom (the cell shrinks by its estimated volume)."""

    oxidation: tuple[tuple[str, int], ...] | None = None
    min_atoms: int = 1
    tries: int = 10
    limits: Limits = Limits()

    def __call__(self, parents: Sequence[Genome], rng: np.random.Generator) -> Genome | None:
        from csp.volume import atomic_volume

        g = parents[0]
        n = g.n_units + g.n_free
        if n <= 1:
            return None
        ox = dict(self.oxidation) if self.oxidation is not None else None
        for _ in range(self.tries):
            i = int(rng.integers(n))
            vol = (g.kinds[g.unit_kind[i]].volume() if i < g.n_units
                   else atomic_volume(int(g.atom_numbers[i - g.n_units])))
            child = _remove_index(g, i)
            if len(child) < self.min_atoms or not _charge_ok(child, ox):
                continue
            scale = max(child.volume - vol, 0.5 * child.volume) / child.volume
            child = _valid(_drop_unused_kinds(child.replace(cell=child.cell * scale ** (1 / 3))),
                           self.limits)
            if child is not None:
                return child
        return None


@dataclass(frozen=True)
class Transmute:
    """Replace one unit or atom by another kind (from the parent or ``blocks``), in place."""

    blocks: tuple[str, ...] = ()
    oxidation: tuple[tuple[str, int], ...] | None = None
    max_atoms: int = 200
    tries: int = 10
    limits: Limits = Limits()

    def __call__(self, parents: Sequence[Genome], rng: np.random.Generator) -> Genome | None:
        g = parents[0]
        n = g.n_units + g.n_free
        choices = _blocks(g, self.blocks)
        if n == 0 or len(choices) < 2:
            return None
        ox = dict(self.oxidation) if self.oxidation is not None else None
        pos = np.concatenate([g.unit_centres, g.atom_frac])
        for _ in range(self.tries):
            i = int(rng.integers(n))
            kind, obj = choices[int(rng.integers(len(choices)))]
            here = (("u", g.kinds[g.unit_kind[i]].name) if i < g.n_units
                    else ("a", int(g.atom_numbers[i - g.n_units])))
            if here == (kind, obj.name if kind == "u" else obj):
                continue
            base = _remove_index(g, i)
            child = _add(base, kind, obj, rng, at=pos[i])
            if len(child) > self.max_atoms or not _charge_ok(child, ox):
                continue
            child = _valid(_drop_unused_kinds(child), self.limits)
            if child is not None:
                return child
        return None


def _blocks(g: Genome, names: tuple[str, ...]) -> list[tuple[str, object]]:
    """(kind, object) choices: ("u", Unit) or ("a", atomic number)."""
    from ase.data import atomic_numbers

    from csp.units import UnitError, get_unit

    out: list[tuple[str, object]] = [("u", u) for u in g.kinds]
    out += [("a", int(z)) for z in np.unique(g.atom_numbers)]
    for name in names:
        n = name.strip("() ")
        try:
            u = get_unit(n)
            if all(u.name != k.name for k in g.kinds):
                out.append(("u", u))
        except UnitError:
            z = atomic_numbers[n]
            if z not in g.atom_numbers:
                out.append(("a", z))
    return out


def _add(g: Genome, kind: str, obj, rng: np.random.Generator, at=None) -> Genome:
    where = rng.random(3) if at is None else np.asarray(at)
    if kind == "u":
        kinds = list(g.kinds)
        names = [u.name for u in kinds]
        if obj.name in names:
            k = names.index(obj.name)
        else:
            kinds.append(obj)
            k = len(kinds) - 1
        return g.replace(kinds=tuple(kinds), unit_kind=np.append(g.unit_kind, k),
                         unit_centres=np.vstack([g.unit_centres, where]),
                         unit_quats=np.vstack([g.unit_quats, random_quaternion(rng)]))
    return g.replace(atom_numbers=np.append(g.atom_numbers, int(obj)),
                     atom_frac=np.vstack([g.atom_frac, where]))


def _remove_index(g: Genome, i: int) -> Genome:
    if i < g.n_units:
        keep = np.arange(g.n_units) != i
        return g.replace(unit_kind=g.unit_kind[keep], unit_centres=g.unit_centres[keep],
                         unit_quats=g.unit_quats[keep])
    keep = np.arange(g.n_free) != i - g.n_units
    return g.replace(atom_numbers=g.atom_numbers[keep], atom_frac=g.atom_frac[keep])


def _drop_unused_kinds(g: Genome) -> Genome:
    used = sorted(set(int(k) for k in g.unit_kind))
    if len(used) == len(g.kinds):
        return g
    remap = {k: i for i, k in enumerate(used)}
    return g.replace(kinds=tuple(g.kinds[k] for k in used),
                     unit_kind=np.array([remap[int(k)] for k in g.unit_kind], dtype=int))
