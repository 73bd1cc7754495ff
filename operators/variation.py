"""Variation operators that keep every unit rigid by construction.

Each operator is a small picklable dataclass called as ``op(parents, rng) -> Genome | None``.
Only unit centres, quaternions, free atoms and the cell change; templates never
deform, so every unit keeps its internal distances exactly. A child that fails the
validity check (minimum distances, cell shape) after ``tries`` attempts gives None.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from csp.operators._kernels import axis_angle_quat, quat_multiply, reduce_basis
from csp.operators.packing import Packing
from csp.operators.validity import Limits, cell_ok, check_genome

from csp.genome import Genome, quat_to_matrix, random_quaternion
from csp.units import Unit

__all__ = [
    "AddBlock",
    "Heredity",
    "RemoveBlock",
    "Rotation",
    "SoftMutation",
    "Strain",
    "Swap",
    "Transmute",
    "break_symmetry",
    "reduce_cell",
]


def reduce_cell(g: Genome) -> Genome:
    """Minkowski-reduce the cell; fractional centres and atoms follow, units do not rotate."""
    rcell, op = reduce_basis(g.cell)
    if np.array_equal(op, np.eye(3, dtype=op.dtype)):
        return g
    inv = np.linalg.inv(op.astype(float))
    return g.replace(cell=rcell, unit_centres=(g.unit_centres @ inv) % 1.0,
                     atom_frac=(g.atom_frac @ inv) % 1.0)


def _valid(g: Genome | None, limits: Limits) -> Genome | None:
    if g is None:
        return None
    return g if check_genome(g, limits)[0] else None


def _child(g: Genome, limits: Limits, **changes: np.ndarray) -> Genome | None:
    """``g.replace(**changes)`` when that crystal is valid, else None.

    The trial is tested as arrays: no genome is built for the many trials that fail.
    """
    from csp.operators._kernels import overlap

    from csp.genome import expand_positions

    cell = changes.get("cell", g.cell)
    if not cell_ok(cell, limits)[0]:
        return None
    pos = expand_positions(g.kinds, g.unit_kind, changes.get("unit_centres", g.unit_centres),
                           changes.get("unit_quats", g.unit_quats),
                           changes.get("atom_frac", g.atom_frac), cell)
    types, table = _types(g, limits)
    if overlap(pos, cell, types, g.atom_unit_index(), table, first=True)[0] < 1.0:
        return None
    return g.replace(**changes)


def _types(g: Genome, limits: Limits) -> tuple[np.ndarray, np.ndarray]:
    """Atom type indices of a genome's atoms and the minimum-distance table of the types."""
    from csp.operators.validity import type_table

    uniq, types = np.unique(g.numbers(), return_inverse=True)
    return types, type_table(tuple(int(z) for z in uniq), limits)


# ------------------------------------------------------------------------ heredity
@dataclass(frozen=True)
class Heredity:
    """Cut-and-splice of fractional slabs of two parents along a random lattice plane.

    A random plane (lattice axis, random origin in each parent) cuts a slab of
    fraction f from the first parent and the complementary slab from the second;
    units and atoms go to a side by their centre. The child's cell is the f-weighted
    average of the parents' cells (Minkowski-reduced). Entities are placed from the
    slab interiors towards the cut planes; one that overlaps those already placed, or
    exceeds the first parent's count of its kind, is left out. The composition is then
    repaired to the first parent's: each missing unit or atom is tried at the places
    (and orientations) the parents had for that kind, then at random ones.
    """

    min_fraction: float = 0.25
    tries: int = 4
    insert_tries: int = 8
    growth: float = 1.05
    max_growth: int = 1
    limits: Limits = Limits()

    def __call__(self, parents: Sequence[Genome], rng: np.random.Generator) -> Genome | None:
        a, b = parents[0], parents[1 % len(parents)]
        for _ in range(self.tries):
            child = self._splice(a, b, rng)
            if child is not None:
                return child
        return None

    def _splice(self, a: Genome, b: Genome, rng: np.random.Generator) -> Genome | None:
        axis = int(rng.integers(3))
        f = float(rng.uniform(self.min_fraction, 1.0 - self.min_fraction))
        sa = float(rng.random())  # random origin of the first parent's slab
        sb = _matching_origin(a, b, axis, f, sa, rng)
        cell, op = _reduced(f * a.cell + (1.0 - f) * b.cell)
        if not cell_ok(cell, self.limits)[0]:
            return None
        to_child = np.linalg.inv(op)  # fractional coordinates in the reduced cell
        # b's kinds by name in a's list; kinds a does not have cannot enter a's composition
        names_a = [u.name for u in a.kinds]
        kmap = [names_a.index(u.name) if u.name in names_a else -1 for u in b.kinds]
        sh = np.zeros(3)
        sh[axis] = sa - sb  # b's slab origin onto a's
        units: list[tuple[float, int, np.ndarray, np.ndarray]] = []  # (cut distance, kind, centre, quat)
        atoms: list[tuple[float, int, np.ndarray]] = []
        for g, shift, keep_side, kind_of, move in ((a, sa, True, lambda k: int(k), 0.0),
                                                   (b, sb, False, lambda k: kmap[int(k)], sh)):
            x = (g.unit_centres[:, axis] - shift) % 1.0
            for i in np.nonzero((x < f) == keep_side)[0]:
                if kind_of(g.unit_kind[i]) >= 0:
                    units.append((_cut_distance(x[i], f), kind_of(g.unit_kind[i]),
                                  (g.unit_centres[i] + move) % 1.0, g.unit_quats[i]))
            x = (g.atom_frac[:, axis] - shift) % 1.0
            for i in np.nonzero((x < f) == keep_side)[0]:
                atoms.append((_cut_distance(x[i], f), int(g.atom_numbers[i]),
                              (g.atom_frac[i] + move) % 1.0))
        want_u = np.bincount(a.unit_kind, minlength=len(a.kinds))
        want_a = {int(z): int(n) for z, n in zip(*np.unique(a.atom_numbers, return_counts=True))}
        p = Packing(cell, a.kinds, a.atom_numbers, self.limits, len(a))
        have_u = np.zeros(len(a.kinds), int)
        have_a = dict.fromkeys(want_a, 0)
        for _, k, c, q in sorted(units, key=lambda t: -t[0]):  # slab interiors first
            if have_u[k] < want_u[k]:
                p.add_unit(k, (c @ to_child) % 1.0, quat_to_matrix(q), quat=q)
                have_u[k] += p.fits()
        for _, z, x in sorted(atoms, key=lambda t: -t[0]):
            if have_a.get(z, 0) < want_a.get(z, 0):
                p.add_atom(z, (x @ to_child) % 1.0)
                have_a[z] += p.fits()
        # repair: the parents' places for the missing kind first, then holes and random
        # places; when nothing fits, the cell grows (the relaxation sets the volume)
        missing = []
        for k in range(len(a.kinds)):
            spots = [(c, q) for g, km in ((a, None), (b, kmap)) for c, q, kk in
                     zip(g.unit_centres, g.unit_quats, g.unit_kind)
                     if (int(kk) if km is None else km[int(kk)]) == k]
            missing += [("u", k, spots)] * int(want_u[k] - have_u[k])
        for z, n in want_a.items():
            spots = [(x, None) for g in (a, b) for x, zz in zip(g.atom_frac, g.atom_numbers)
                     if int(zz) == z]
            missing += [("a", z, spots)] * (n - have_a[z])
        grown = 0
        for kind, obj, spots in missing:
            while not _place(p, kind, obj, rng, self.insert_tries, spots, to_child):
                if grown == self.max_growth:
                    return None
                grown += 1
                p = p.scaled(self.growth, self.limits)
        return p.genome()


def _labels(g: Genome, names: list[str]) -> np.ndarray:
    """One integer label per entity (units by kind name, atoms by element), units first."""
    kinds = [names.index(g.kinds[k].name) if g.kinds[k].name in names else -1 - int(k)
             for k in g.unit_kind]
    return np.concatenate([np.array(kinds, np.int64), 1000 + g.atom_numbers]).astype(np.int64)


def _matching_origin(a: Genome, b: Genome, axis: int, f: float, sa: float,
                     rng: np.random.Generator) -> float:
    """Origin of the second parent's slab that best completes the first's composition.

    The first parent gives the slab [sa, sa + f); the second the complement of
    [sb, sb + f). Membership only changes where a plane crosses an entity, so the
    candidates are just past each entity's coordinate (for both planes); the one whose
    counts per kind differ least from what the first slab lacks is taken (ties at random),
    which leaves the composition repair little or nothing to insert.
    """
    names = [u.name for u in a.kinds]
    la, lb = _labels(a, names), _labels(b, names)
    xa = (np.concatenate([a.unit_centres[:, axis], a.atom_frac[:, axis]]) - sa) % 1.0
    xb = np.concatenate([b.unit_centres[:, axis], b.atom_frac[:, axis]])
    if len(xb) == 0:
        return float(rng.random())
    keys = np.unique(np.concatenate([la, lb]))
    need = np.array([np.sum(la == k) - np.sum((la == k) & (xa < f)) for k in keys])
    eps = 1e-6
    cands = np.concatenate([(xb + eps) % 1.0, (xb - f + eps) % 1.0, rng.random(2)])
    inside = ((xb[None, :] - cands[:, None]) % 1.0) < f  # (candidate, entity) in b's cut slab
    have = np.stack([np.sum(~inside & (lb == k)[None, :], axis=1) for k in keys], axis=1)
    miss = np.abs(have - need[None, :]).sum(axis=1)
    best = np.nonzero(miss == miss.min())[0]
    return float(cands[best[int(rng.integers(len(best)))]])


def _cut_distance(x: float, f: float) -> float:
    """Fractional distance of a point at x (slab coordinate) from the planes 0 and f."""
    return min(x, abs(x - f), 1.0 - x)


def _reduced(cell: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minkowski-reduced cell and the integer matrix op with ``reduced = op @ cell``."""
    rcell, op = reduce_basis(cell)
    return rcell, op.astype(float)


def _place(p: Packing, kind: str, obj: int, rng: np.random.Generator, tries: int,
           spots: Sequence[tuple[np.ndarray, np.ndarray | None]] = (),
           to_child: np.ndarray | None = None) -> bool:
    """Add one unit (kind index ``obj``) or atom (atomic number ``obj``) to a packing.

    Tried in turn: the given spots (fractional positions, with quaternions for units)
    in random order; the ``tries`` largest holes of the packing (a jittered grid), with
    random orientations; ``tries`` random positions. False when nothing fits.
    """
    from csp.operators._kernels import void_points

    holes, _ = void_points(p.pos[:p.n], p.cell)
    holes = (holes[:tries] + rng.normal(0.0, 0.03, (min(tries, len(holes)), 3))) % 1.0
    order = rng.permutation(len(spots)) if len(spots) else np.zeros(0, int)
    where = [(spots[i][0] @ to_child) % 1.0 if to_child is not None else spots[i][0]
             for i in order.tolist()]
    quats = [spots[i][1] for i in order.tolist()]
    n_new = len(holes) + tries
    where += list(holes) + list(rng.random((tries, 3)))
    if kind == "u":
        quats += list(random_quaternion(rng, n_new))
    rots = quat_to_matrix(np.array(quats)).reshape(-1, 3, 3) if kind == "u" else None
    for i, x in enumerate(where):
        if rots is not None:  # kind == "u"
            p.add_unit(obj, x, rots[i], quat=quats[i])
        else:
            p.add_atom(obj, x)
        if p.fits():
            return True
    return False


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
            child = _child(g, self.limits, unit_quats=quats)
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
            child = _valid(reduce_cell(g.replace(cell=g.cell @ m)), self.limits)
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
            child = _child(g, self.limits, unit_centres=new[:g.n_units],
                           atom_frac=new[g.n_units:])
            if child is not None:
                return child
        return None


@dataclass(frozen=True)
class SoftMutation:
    """Displace unit centres and free atoms, more where there is more free space.

    The amplitude of each entity is ``amplitude`` x (its nearest-neighbour distance /
    the mean nearest-neighbour distance), a cheap proxy of USPEX's soft modes: loosely
    bound entities move most. Units also turn by a small random rotation. A trial that
    overlaps is retried with amplitudes scaled by ``decay``.

    A cell of one entity (one unit and no free atom, e.g. alpha-boron's B12) has nothing
    to displace but a rigid translation, which leaves the crystal unchanged; only the
    small rotation would remain, and in the search benchmark 12 of 14 such children
    relaxed back into a structure already found. Returns None there, so the builder
    takes its next operator (``Rotation`` turns units by a larger angle).
    """

    amplitude: float = 0.6
    rotation_deg: float = 15.0
    decay: float = 0.75
    tries: int = 10
    limits: Limits = Limits()

    def __call__(self, parents: Sequence[Genome], rng: np.random.Generator) -> Genome | None:
        from csp.operators._kernels import nearest_entity_distance

        g = parents[0]
        n = g.n_units + g.n_free
        if n <= 1:
            return None
        owner = g.atom_unit_index()
        entity = np.where(owner >= 0, owner, g.n_units + np.cumsum(owner < 0) - 1)
        dnn = nearest_entity_distance(g.positions(), g.cell, entity, n)
        scale = dnn / max(float(np.mean(dnn)), 1e-9)
        inv = np.linalg.inv(g.cell)
        for k in range(self.tries):
            f = self.decay ** k
            disp = rng.normal(0.0, 1.0, (n, 3)) * (f * self.amplitude * scale)[:, None] / np.sqrt(3)
            dfrac = disp @ inv
            quats = g.unit_quats.copy()
            for i in range(g.n_units):
                q = axis_angle_quat(rng.normal(size=3),
                                    np.deg2rad(rng.normal(0, f * self.rotation_deg)))
                quats[i] = quat_multiply(q, quats[i])
            child = _child(g, self.limits, unit_centres=(g.unit_centres + dfrac[:g.n_units]) % 1.0,
                           atom_frac=(g.atom_frac + dfrac[g.n_units:]) % 1.0, unit_quats=quats)
            if child is not None:
                return child
        return None


def break_symmetry(g: Genome, rng: np.random.Generator, sigma: float,
                   limits: Limits | None = None, tries: int = 10) -> Genome:
    """``g`` with its symmetry broken by a small random rigid distortion, every atom
    moving by about ``sigma`` Å.

    A relaxation keeps the symmetry of its start (the forces and stress of a symmetric
    structure are symmetric), so a random structure made in a space group relaxes to the
    lowest point *within* that group, often a saddle point of the full energy surface.
    A lone B12 drawn in Im-3 relaxes (SevenNet, fmax 0.1 eV/Å) to an Im-3 cell 0.73
    eV/atom above alpha-boron; distorted by 0.15 Å it reaches 0.24 eV/atom, and an Fm-3
    draw 0.18 eV/atom above alpha-boron reaches alpha-boron itself. At 0.05 Å most such
    starts still converge at the saddle: the forces there stay below a loose fmax.

    The distortion: unit centres and free atoms move by a normal displacement of
    ``sigma`` Å per Cartesian component, units turn about random axes by ``sigma`` /
    (their radius) radians, and the cell takes a symmetric normal strain of ``sigma`` /
    V^(1/3) per component. Units stay rigid. A trial that breaks the limits is retried
    at half the amplitude; after ``tries`` failures ``g`` is returned unchanged. One
    centrosymmetric unit alone in a cell keeps its inversion centre (P-1) whatever the
    distortion.
    """
    if sigma <= 0.0:
        return g
    limits = Limits() if limits is None else limits
    inv = np.linalg.inv(g.cell)
    n = g.n_units + g.n_free
    for k in range(tries):
        a = sigma * 0.5 ** k
        e = rng.normal(0.0, a / abs(np.linalg.det(g.cell)) ** (1 / 3), (3, 3))
        cell = g.cell @ (np.eye(3) + 0.5 * (e + e.T))
        dfrac = rng.normal(0.0, a, (n, 3)) @ inv
        quats = g.unit_quats.copy()
        for i in range(g.n_units):
            r = max(g.kinds[int(g.unit_kind[i])].radius, 0.5)
            q = axis_angle_quat(rng.normal(size=3), rng.normal(0.0, a / r))
            quats[i] = quat_multiply(q, quats[i])
        child = _child(g, limits, cell=cell, unit_quats=quats,
                       unit_centres=(g.unit_centres + dfrac[:g.n_units]) % 1.0,
                       atom_frac=(g.atom_frac + dfrac[g.n_units:]) % 1.0)
        if child is not None:
            return child
    return g


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
    insert_tries: int = 12
    limits: Limits = Limits()

    def __call__(self, parents: Sequence[Genome], rng: np.random.Generator) -> Genome | None:
        from ase.data import chemical_symbols

        from csp.volume import atomic_volume

        g = parents[0]
        choices = _blocks(g, self.blocks)
        ox = dict(self.oxidation) if self.oxidation is not None else None
        for _ in range(self.tries):
            kind, obj = choices[int(rng.integers(len(choices)))]
            size = len(obj) if isinstance(obj, Unit) else 1  # kind "u": a Unit, "a": Z
            if len(g) + size > self.max_atoms:
                continue
            if ox is not None:
                q = g.charge(ox)
                dq = obj.charge if isinstance(obj, Unit) else ox.get(chemical_symbols[obj])
                if q is None or dq is None or q + dq != 0:
                    continue
            extra = obj.volume() if isinstance(obj, Unit) else atomic_volume(obj)
            grown = g.replace(cell=g.cell * ((g.volume + extra) / g.volume) ** (1 / 3))
            p = Packing.from_genome(grown, self.limits, [obj] if isinstance(obj, Unit) else [],
                                    [] if isinstance(obj, Unit) else [obj], extra_atoms=size)
            if _place(p, kind, p.kind_index(obj) if isinstance(obj, Unit) else int(obj), rng,
                      self.insert_tries):
                return p.genome()
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
            smaller = _remove_index(g, i)
            if len(smaller) < self.min_atoms or not _charge_ok(smaller, ox):
                continue
            scale = max(smaller.volume - vol, 0.5 * smaller.volume) / smaller.volume
            shrunk = smaller.replace(cell=smaller.cell * scale ** (1 / 3))
            child = _valid(_drop_unused_kinds(shrunk), self.limits)
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
            if here == (kind, obj.name if isinstance(obj, Unit) else obj):
                continue
            base = _remove_index(g, i)
            swapped = _add(base, kind, obj, rng, at=pos[i])
            if len(swapped) > self.max_atoms or not _charge_ok(swapped, ox):
                continue
            child = _valid(_drop_unused_kinds(swapped), self.limits)
            if child is not None:
                return child
        return None


@dataclass(frozen=True)
class Redraw:
    """A new random symmetric structure of the parent's composition, at the parent's
    volume: in a variable-composition search, the fitness (distance to the hull) chooses
    the composition and a fresh draw the structure.

    Off unless a search gives it a weight (``[operators] redraw = 0.3``): measured, it
    did not help. The idea: in the Ca-B6 benchmark (``cab6vc``, 20 seeds) the GA found
    CaB6 no sooner than random search (12/20 seeds, median 27.5, against 13/20, 27), and
    up to its first hits the ground state came from 7 of 31 random draws (23%) but from
    5 of 33 bred CaB6 children (15%); a redraw keeps what the GA adds, the choice of
    composition, and samples the structure like a draw. With weight 0.3 the GA found
    CaB6 in 13/20 seeds at a median of 24.5: within the seeds' noise, and none of the 5
    redrawn CaB6 cells before a first hit was the ground state. Half of the GA's misses
    (and of random search's) relax no intact CaB6 cell at all, which a redraw, needing
    a CaB6 parent, cannot mend. In fixed composition this is a plain random structure
    (``random_fraction`` does that).

    The child is symmetric; the engine relaxes it from a distorted copy as it does a
    random symmetric start (``[search] symmetry_breaking``).
    """

    #: its children are symmetric draws: the engine relaxes them from a distorted copy
    draws_symmetric: ClassVar[bool] = True

    spacegroups: tuple[int, int] | None = (2, 230)
    volume_factor: tuple[float, float] = (0.95, 1.15)
    max_attempts: int = 48
    limits: Limits = Limits()

    def __call__(self, parents: Sequence[Genome], rng: np.random.Generator) -> Genome | None:
        from csp.operators.generation import generate

        from csp.composition import Composition
        from csp.errors import CspError

        g = parents[0]
        comp = Composition(units=g.unit_counts(), atoms=g.atom_counts())
        for spacegroup in ((self.spacegroups, None) if self.spacegroups else (None,)):
            try:
                return generate(comp, 0.0, rng, spacegroup=spacegroup, limits=self.limits,
                                max_attempts=self.max_attempts, volume=g.volume,
                                volume_factor=self.volume_factor)
            except CspError:
                continue
        return None


def _blocks(g: Genome, names: tuple[str, ...]) -> list[tuple[str, Unit | int]]:
    """(kind, object) choices: ("u", Unit) or ("a", atomic number)."""
    from ase.data import atomic_numbers

    from csp.units import UnitError, get_unit

    out: list[tuple[str, Unit | int]] = [("u", u) for u in g.kinds]
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
    used = sorted({int(k) for k in g.unit_kind})
    if len(used) == len(g.kinds):
        return g
    remap = {k: i for i, k in enumerate(used)}
    return g.replace(kinds=tuple(g.kinds[k] for k in used),
                     unit_kind=np.array([remap[int(k)] for k in g.unit_kind], dtype=int))
