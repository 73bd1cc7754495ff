"""The superatomic genome: cell + placed rigid units + free atoms.

A :class:`Genome` is an immutable value. Units are *kinds* (:class:`csp.units.Unit`,
shape only) plus *poses*: a fractional centre and a unit quaternion ``(w, x, y, z)``
that rotates the body-frame template into the Cartesian lab frame::

    r_lab = centre_frac @ cell + R(q) @ r_body

Arrays are plain NumPy so they go straight into numba kernels. Atoms are expanded
in a fixed order: unit 0's atoms, unit 1's atoms, ..., then the free atoms. That
order is how :meth:`Genome.from_atoms` knows which relaxed atom belongs to which
unit: a genome never needs ``tags`` to know its units (tags are written for ASE
interoperability only: unit ``i`` -> tag ``i + 1``, free atoms -> 0).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from ase import Atoms
from ase.data import chemical_symbols, covalent_radii

from csp.errors import CspError
from csp.units import BOND_FACTOR, Unit, array_data, orthonormal_frame

__all__ = [
    "FitReport",
    "Genome",
    "GenomeError",
    "UnitFit",
    "check_unit_topology",
    "expand_positions",
    "fit_unit_relabelled",
    "kabsch",
    "matrix_to_quat",
    "quat_to_matrix",
    "random_quaternion",
]


class GenomeError(CspError):
    """A genome is malformed (shapes, non-normalised quaternions, unknown kinds)."""


# ------------------------------------------------------------------- rotation maths
def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """Rotation matrix of unit quaternion(s) ``(w, x, y, z)``; (..., 4) -> (..., 3, 3)."""
    q = np.asarray(q, dtype=float)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    m = np.empty(q.shape[:-1] + (3, 3))
    m[..., 0, 0] = 1 - 2 * (y * y + z * z)
    m[..., 0, 1] = 2 * (x * y - w * z)
    m[..., 0, 2] = 2 * (x * z + w * y)
    m[..., 1, 0] = 2 * (x * y + w * z)
    m[..., 1, 1] = 1 - 2 * (x * x + z * z)
    m[..., 1, 2] = 2 * (y * z - w * x)
    m[..., 2, 0] = 2 * (x * z - w * y)
    m[..., 2, 1] = 2 * (y * z + w * x)
    m[..., 2, 2] = 1 - 2 * (x * x + y * y)
    return m


def matrix_to_quat(m: np.ndarray) -> np.ndarray:
    """Unit quaternion ``(w, x, y, z)``, w >= 0, of a proper rotation matrix (3, 3)."""
    m = np.asarray(m, dtype=float)
    tr = np.trace(m)
    if tr > 0:
        s = np.sqrt(tr + 1.0) * 2
        q = np.array([0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s,
                      (m[1, 0] - m[0, 1]) / s])
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = np.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2]) * 2
        q = np.array([(m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s,
                      (m[0, 2] + m[2, 0]) / s])
    elif m[1, 1] > m[2, 2]:
        s = np.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2]) * 2
        q = np.array([(m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s,
                      (m[1, 2] + m[2, 1]) / s])
    else:
        s = np.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1]) * 2
        q = np.array([(m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s,
                      (m[1, 2] + m[2, 1]) / s, 0.25 * s])
    q /= np.linalg.norm(q)
    return q if q[0] >= 0 else -q


def random_quaternion(rng: np.random.Generator, size: int | None = None) -> np.ndarray:
    """Uniformly distributed unit quaternions (Shoemake), shape (4,) or (size, 4)."""
    n = 1 if size is None else size
    u1, u2, u3 = rng.random((3, n))
    q = np.stack([np.sqrt(u1) * np.cos(2 * np.pi * u3), np.sqrt(1 - u1) * np.sin(2 * np.pi * u2),
                  np.sqrt(1 - u1) * np.cos(2 * np.pi * u2), np.sqrt(u1) * np.sin(2 * np.pi * u3)],
                 axis=1)
    q *= np.where(q[:, :1] < 0, -1.0, 1.0)
    return q[0] if size is None else q


def kabsch(template: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Best proper rotation R and translation t with ``template @ R.T + t ≈ target``.

    Args:
        template: (n, 3) body-frame positions (centroid at the origin), Å.
        target: (n, 3) Cartesian positions in the same atom order, Å.

    Returns:
        (R (3, 3), t (3,), RMSD in Å).
    """
    t = target.mean(axis=0)
    p = template - template.mean(axis=0)
    x = target - t
    h = p.T @ x
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(vt.T @ u.T))
    dmat = np.diag([1.0, 1.0, d if d != 0 else 1.0])
    r = vt.T @ dmat @ u.T
    resid = p @ r.T - x
    rmsd = float(np.sqrt((resid**2).sum() / len(p)))
    return r, t, rmsd


def check_unit_topology(unit: Unit, positions: np.ndarray,
                        factor: float = BOND_FACTOR) -> tuple[bool, str]:
    """Compare the bond graph among one unit's atoms with its template's graph.

    Membership of the atoms is known (they are this unit's atoms, unwrapped), so bonds
    to *other* units, however short (inter-icosahedral B-B in alpha-boron or SrB12 are
    as short as intra ones), cannot fool the test. A template bond that is broken, or a
    bond that appears between template non-neighbours (a collapsed cage), is reported.

    Args:
        unit: the template.
        positions: (n, 3) Cartesian positions of the unit's atoms, unwrapped, Å.
        factor: bonded when d < factor * (r_cov,i + r_cov,j).

    Returns:
        (intact, reason); reason is "" when intact.
    """
    radii = covalent_radii[unit.numbers]
    d = np.linalg.norm(positions[:, None, :] - positions[None, :, :], axis=-1)
    bonded = d < factor * (radii[:, None] + radii[None, :])
    np.fill_diagonal(bonded, False)
    want = np.zeros_like(bonded)
    if len(unit.bonds):
        want[unit.bonds[:, 0], unit.bonds[:, 1]] = True
        want[unit.bonds[:, 1], unit.bonds[:, 0]] = True
    broken = np.argwhere(np.triu(want & ~bonded))
    extra = np.argwhere(np.triu(bonded & ~want))
    if len(broken):
        i, j = broken[0]
        return False, (f"{unit.name}: {len(broken)} template bond(s) broken, e.g. "
                       f"{i}-{j} at {d[i, j]:.2f} Å")
    if len(extra):
        i, j = extra[0]
        return False, (f"{unit.name}: {len(extra)} new intra-unit bond(s), e.g. "
                       f"{i}-{j} at {d[i, j]:.2f} Å")
    return True, ""


#: an atom closer to a unit's centre than this fraction of the first anchor's distance
#: cannot be the second anchor of the relabelling fit's frame
_NEAR_CENTRE = 0.25


def fit_unit_relabelled(unit: Unit, positions: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float] | None:
    """Fit a unit's template onto its relaxed atoms in *any* order of like atoms.

    A relaxation can carry a cage through a rearrangement that ends in the same cage
    with its atoms relabelled (an icosahedron rotated by 40 degrees through a
    diamond-square-diamond path ends as an intact B12 whose atom 0 now sits where
    atom 5 was). The unit survived; only the labels moved. This finds the relabelling:
    two anchor atoms of the relaxed unit are matched against every template pair of
    the same elements, radii and angle, each trial rotation gives an assignment of like
    atoms (Hungarian), and the assignment of lowest RMSD is refined with Kabsch.

    Args:
        unit: the template.
        positions: (n, 3) Cartesian positions of the unit's atoms, unwrapped, Å.

    Returns:
        (perm, R, t, RMSD) with ``positions[perm]`` in template order, or None for a
        linear unit or one with fewer than three atoms (nothing to relabel by rotation).
    """
    from scipy.optimize import linear_sum_assignment

    n = len(unit)
    tmpl = unit.positions - unit.positions.mean(axis=0)
    if n < 3 or unit.is_linear():
        return None
    x = positions - positions.mean(axis=0)
    rx = np.linalg.norm(x, axis=1)
    rt = np.linalg.norm(tmpl, axis=1)
    nums = unit.numbers
    # anchors: the atom farthest from the centre and the one making the best-defined
    # frame with it (largest sine of the angle between them); an atom near the centre
    # (B of BH4, N of NH4) points nowhere, whatever its sine, in the relaxed unit as in
    # the template
    a = int(np.argmax(rx))
    cross = np.linalg.norm(np.cross(x[a], x), axis=1) / np.maximum(rx * rx[a], 1e-12)
    cross[rx < _NEAR_CENTRE * rx[a]] = 0.0
    b = int(np.argmax(cross))
    if cross[b] < 0.2:
        return None
    cos_ab = x[a] @ x[b] / (rx[a] * rx[b])
    groups = [np.flatnonzero(nums == z) for z in np.unique(nums)]
    best = None
    for i in np.flatnonzero((nums == nums[a]) & (np.abs(rt - rx[a]) < 0.5)):
        for j in np.flatnonzero((nums == nums[b]) & (np.abs(rt - rx[b]) < 0.5)):
            if i == j:
                continue
            if rt[j] < _NEAR_CENTRE * rt[i]:
                continue
            cos_ij = tmpl[i] @ tmpl[j] / max(rt[i] * rt[j], 1e-12)
            if abs(cos_ij - cos_ab) > 0.25 or abs(cos_ij) > 0.98:
                continue
            r = orthonormal_frame(x[a], x[b]).T @ orthonormal_frame(tmpl[i], tmpl[j])
            rot = tmpl @ r.T
            perm = np.empty(n, dtype=np.int64)
            for g in groups:
                cost = ((rot[g][:, None, :] - x[g][None, :, :]) ** 2).sum(axis=-1)
                rows, cols = linear_sum_assignment(cost)
                perm[g[rows]] = g[cols]
            resid = float(((rot - x[perm]) ** 2).sum())
            if best is None or resid < best[0]:
                best = (resid, perm)
    if best is None:
        return None
    perm = best[1]
    r, t, rmsd = kabsch(unit.positions, positions[perm])
    return perm, r, t, rmsd


# ------------------------------------------------------------------------- genome
@dataclass(frozen=True)
class UnitFit:
    """Re-fit of one unit after relaxation.

    Attributes:
        index: unit index in the genome.
        kind: unit name.
        rmsd: Kabsch RMSD between template and relaxed atoms, Å.
        intact: bond topology survived (and no foreign atom inside a cage).
        reason: why not intact, "" otherwise.
        relabelled: intact only with its like atoms relabelled (see
            :func:`fit_unit_relabelled`): the cage rearranged into itself.
    """

    index: int
    kind: str
    rmsd: float
    intact: bool
    reason: str = ""
    relabelled: bool = False


@dataclass(frozen=True)
class FitReport:
    """All unit fits of one :meth:`Genome.from_atoms` call."""

    fits: tuple[UnitFit, ...]

    @property
    def intact(self) -> bool:
        return all(f.intact for f in self.fits)

    @property
    def max_rmsd(self) -> float:
        return max((f.rmsd for f in self.fits), default=0.0)

    @property
    def reasons(self) -> list[str]:
        return [f.reason for f in self.fits if not f.intact]

    def to_dict(self) -> dict:
        return {"fits": [f.__dict__ for f in self.fits]}


def _as_array(a, shape_tail: tuple[int, ...], dtype, name: str) -> np.ndarray:
    arr = np.array(a, dtype=dtype, copy=True)
    if arr.size == 0:
        arr = arr.reshape((0,) + shape_tail)
    if arr.ndim != 1 + len(shape_tail) or arr.shape[1:] != shape_tail:
        raise GenomeError(f"genome field {name!r}: expected shape (n, "
                          f"{', '.join(map(str, shape_tail))}), got {arr.shape}")
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class Genome:
    """A crystal built from rigid units and free atoms.

    Attributes:
        cell: (3, 3) lattice vectors as rows, Å.
        kinds: the unit templates this genome uses (index = kind id).
        unit_kind: (n_units,) kind index of each placed unit.
        unit_centres: (n_units, 3) fractional centres.
        unit_quats: (n_units, 4) unit quaternions (w, x, y, z), body -> lab.
        atom_numbers: (n_free,) atomic numbers of the free atoms.
        atom_frac: (n_free, 3) fractional positions of the free atoms.
    """

    cell: np.ndarray
    kinds: tuple[Unit, ...] = ()
    unit_kind: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    unit_centres: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    unit_quats: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    atom_numbers: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    atom_frac: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))

    def __post_init__(self) -> None:
        cell = np.array(self.cell, dtype=float)
        if cell.shape != (3, 3):
            raise GenomeError(f"genome field 'cell': expected (3, 3), got {cell.shape}")
        if not np.all(np.isfinite(cell)) or abs(np.linalg.det(cell)) < 1e-8:
            raise GenomeError("genome field 'cell': singular or non-finite cell")
        cell.setflags(write=False)
        object.__setattr__(self, "cell", cell)
        object.__setattr__(self, "kinds", tuple(self.kinds))
        kind = _as_array(self.unit_kind, (), np.int64, "unit_kind")
        centres = _as_array(self.unit_centres, (3,), float, "unit_centres")
        quats = _as_array(self.unit_quats, (4,), float, "unit_quats")
        numbers = _as_array(self.atom_numbers, (), np.int64, "atom_numbers")
        frac = _as_array(self.atom_frac, (3,), float, "atom_frac")
        if not (len(kind) == len(centres) == len(quats)):
            raise GenomeError(f"genome: {len(kind)} unit kinds, {len(centres)} centres, "
                              f"{len(quats)} quaternions")
        if len(numbers) != len(frac):
            raise GenomeError(f"genome: {len(numbers)} free atom numbers for {len(frac)} "
                              "positions")
        if len(kind) and (kind.min() < 0 or kind.max() >= len(self.kinds)):
            raise GenomeError(f"genome field 'unit_kind': index out of range 0..{len(self.kinds) - 1}")
        if len(quats) and np.max(np.abs(np.linalg.norm(quats, axis=1) - 1.0)) > 1e-6:
            raise GenomeError("genome field 'unit_quats': quaternions must be normalised")
        if len(numbers) and (numbers.min() < 1 or numbers.max() >= len(chemical_symbols)):
            raise GenomeError(f"genome field 'atom_numbers': bad atomic number in {numbers.tolist()}")
        for name, arr in (("unit_centres", centres), ("unit_quats", quats), ("atom_frac", frac)):
            if not np.all(np.isfinite(arr)):
                raise GenomeError(f"genome field {name!r}: non-finite values")
        object.__setattr__(self, "unit_kind", kind)
        object.__setattr__(self, "unit_centres", centres)
        object.__setattr__(self, "unit_quats", quats)
        object.__setattr__(self, "atom_numbers", numbers)
        object.__setattr__(self, "atom_frac", frac)

    # --- sizes and composition ----------------------------------------------------
    @property
    def n_units(self) -> int:
        return len(self.unit_kind)

    @property
    def n_free(self) -> int:
        return len(self.atom_numbers)

    def __len__(self) -> int:
        """Number of atoms after expansion."""
        return int(sum(len(self.kinds[k]) for k in self.unit_kind)) + self.n_free

    @property
    def volume(self) -> float:
        return float(abs(np.linalg.det(self.cell)))

    def numbers(self) -> np.ndarray:
        """(n_atoms,) atomic numbers in expansion order."""
        parts = [self.kinds[k].numbers for k in self.unit_kind] + [self.atom_numbers]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)

    def atom_unit_index(self) -> np.ndarray:
        """(n_atoms,) index of the unit each atom belongs to, -1 for free atoms."""
        parts = [np.full(len(self.kinds[k]), i) for i, k in enumerate(self.unit_kind)]
        parts.append(np.full(self.n_free, -1))
        return np.concatenate(parts).astype(np.int64)

    def unit_counts(self) -> dict[str, int]:
        """Number of placed units per kind name."""
        out: dict[str, int] = {}
        for k in self.unit_kind:
            name = self.kinds[k].name
            out[name] = out.get(name, 0) + 1
        return out

    def atom_counts(self) -> dict[str, int]:
        """Number of free atoms per element symbol."""
        out: dict[str, int] = {}
        for z in self.atom_numbers:
            s = chemical_symbols[z]
            out[s] = out.get(s, 0) + 1
        return out

    def element_counts(self) -> dict[str, int]:
        """Element counts of the expanded crystal."""
        out: dict[str, int] = {}
        for z in self.numbers():
            s = chemical_symbols[z]
            out[s] = out.get(s, 0) + 1
        return out

    @property
    def formula(self) -> str:
        from ase.formula import Formula

        return Formula.from_list([chemical_symbols[z] for z in self.numbers()]).format("metal")

    @property
    def reduced_formula(self) -> str:
        """The chemical formula divided by its largest common factor, e.g. ``"CaB6"`` for
        Ca2B12 and ``"Ca"`` for Ca8: the composition a convex hull sees."""
        return _reduce_formula(self.formula)

    def charge(self, oxidation: dict[str, int] | None = None) -> int | None:
        """Total formal charge: unit charges + free-atom oxidation states.

        Returns None when a free atom's oxidation state is not given.
        """
        total = int(sum(self.kinds[k].charge for k in self.unit_kind))
        for z in self.atom_numbers:
            s = chemical_symbols[z]
            if oxidation is None or s not in oxidation:
                return None
            total += int(oxidation[s])
        return total

    # --- expansion ---------------------------------------------------------------
    def rotations(self) -> np.ndarray:
        """(n_units, 3, 3) rotation matrices of the units."""
        return quat_to_matrix(self.unit_quats).reshape(-1, 3, 3)

    def unit_positions(self, i: int) -> np.ndarray:
        """Cartesian positions (n, 3) of unit i's atoms (unwrapped around its centre)."""
        unit = self.kinds[self.unit_kind[i]]
        r = quat_to_matrix(self.unit_quats[i])
        return self.unit_centres[i] @ self.cell + unit.positions @ r.T

    def positions(self) -> np.ndarray:
        """(n_atoms, 3) Cartesian positions in expansion order (unit atoms unwrapped)."""
        return expand_positions(self.kinds, self.unit_kind, self.unit_centres, self.unit_quats,
                                self.atom_frac, self.cell)

    def to_atoms(self, wrap: bool = False) -> Atoms:
        """Expand to ``ase.Atoms`` (periodic). Tags: unit i -> i + 1, free atoms -> 0."""
        tags = self.atom_unit_index() + 1
        atoms = Atoms(numbers=self.numbers(), positions=self.positions(), cell=self.cell,
                      pbc=True, tags=tags)
        if wrap:
            atoms.wrap()
        return atoms

    # --- re-fit -----------------------------------------------------------------
    def from_atoms(self, atoms: Atoms, foreign_fraction: float = 0.75) -> tuple[Genome, FitReport]:
        """Fit this genome's units onto relaxed atoms (same atom order as :meth:`to_atoms`).

        Each unit's atoms are unwrapped to the periodic images nearest to where this
        genome's (pre-relaxation) pose, scaled into the relaxed cell, puts them; the
        template is then Kabsch-fitted to get the new centre and quaternion. Units are
        judged intact when the bond graph among their own atoms equals the template
        graph and no atom of another unit or a free atom sits inside a cage (closer to
        the centre than ``foreign_fraction`` x the smallest radius of the cage atoms).

        Returns:
            (relaxed genome with the relaxed cell, report with RMSD/intact per unit).
        """
        nums = self.numbers()
        if len(atoms) != len(nums) or not np.array_equal(atoms.numbers, nums):
            raise GenomeError(f"from_atoms: atoms ({atoms.get_chemical_formula()}, {len(atoms)}) "
                              f"do not match the genome ({self.formula}, {len(nums)}) in order")
        cell = np.array(atoms.cell[:], dtype=float)
        inv = np.linalg.inv(cell)
        pos = atoms.get_positions()
        frac_now = pos @ inv
        frac_ref = self.positions() @ np.linalg.inv(self.cell)
        frac_now = frac_now - np.round(frac_now - frac_ref)
        cart = frac_now @ cell
        centres = np.zeros((self.n_units, 3))
        quats = np.zeros((self.n_units, 4))
        fits: list[UnitFit] = []
        start = 0
        spans = []
        for i, k in enumerate(self.unit_kind):
            unit = self.kinds[k]
            sl = slice(start, start + len(unit))
            spans.append(sl)
            start += len(unit)
            r, t, rmsd = kabsch(unit.positions, cart[sl])
            ok, why = check_unit_topology(unit, cart[sl])
            relabelled = False
            if not ok:
                # the cage may have rearranged into itself: atoms unwrapped around the
                # unit's own centre (they may have moved by more than half a cell
                # from their old places), then fitted in any order of like atoms
                c_ref = self.unit_centres[i] @ cell
                own = cart[sl] - np.round((cart[sl] - c_ref) @ inv) @ cell
                own = own - np.round((own - own.mean(axis=0)) @ inv) @ cell
                fit = fit_unit_relabelled(unit, own)
                if fit is not None:
                    perm, r2, t2, rmsd2 = fit
                    ok2, _ = check_unit_topology(unit, own[perm])
                    if ok2:
                        ok, why, relabelled = True, "", True
                        r, t, rmsd = r2, t2, rmsd2
            centres[i] = t @ inv
            quats[i] = matrix_to_quat(r)
            fits.append(UnitFit(index=i, kind=unit.name, rmsd=rmsd, intact=ok, reason=why,
                                relabelled=relabelled))
        # foreign atoms inside cages
        for i, k in enumerate(self.unit_kind):
            unit = self.kinds[k]
            rad = np.linalg.norm(unit.positions, axis=1)
            if len(unit) < 4 or rad.min() < 0.5:
                continue
            limit = foreign_fraction * rad.min()
            others = np.ones(len(nums), bool)
            others[spans[i]] = False
            if not others.any():
                continue
            c = centres[i] @ cell
            d = _mic_distances(c, cart[others], cell)
            if d.min() < limit and fits[i].intact:
                fits[i] = replace(fits[i], intact=False,
                                  reason=f"{unit.name}: foreign atom {d.min():.2f} Å from its "
                                         f"centre (inside the cage)")
        free = frac_now[start:] % 1.0
        new = replace(self, cell=cell, unit_centres=centres % 1.0, unit_quats=quats,
                      atom_frac=free)
        return new, FitReport(tuple(fits))

    # --- convenience --------------------------------------------------------------
    def replace(self, **changes) -> Genome:
        return replace(self, **changes)

    def wrapped(self) -> Genome:
        """Same crystal with unit centres and free atoms in [0, 1)."""
        return replace(self, unit_centres=self.unit_centres % 1.0, atom_frac=self.atom_frac % 1.0)

    # --- JSON ----------------------------------------------------------------------
    def to_dict(self, arrays: bool = False) -> dict:
        """Plain data (JSON-able lists); ``arrays=True`` keeps NumPy arrays (copies), which
        ASE's database stores as binary blobs, far faster than nested lists."""
        return {
            "cell": array_data(self.cell, arrays),
            "kinds": [u.to_dict(arrays) for u in self.kinds],
            "unit_kind": array_data(self.unit_kind, arrays),
            "unit_centres": array_data(self.unit_centres, arrays),
            "unit_quats": array_data(self.unit_quats, arrays),
            "atom_numbers": array_data(self.atom_numbers, arrays),
            "atom_frac": array_data(self.atom_frac, arrays),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Genome:
        known = {"cell", "kinds", "unit_kind", "unit_centres", "unit_quats", "atom_numbers",
                 "atom_frac"}
        unknown = set(d) - known
        if unknown:
            raise GenomeError(f"genome record has unknown keys {sorted(unknown)}")
        if "cell" not in d:
            raise GenomeError("genome record has no 'cell'")
        return cls(cell=np.asarray(d["cell"], dtype=float),
                   kinds=tuple(Unit.from_dict(u) for u in d.get("kinds", [])),
                   unit_kind=np.asarray(d.get("unit_kind", []), dtype=np.int64),
                   unit_centres=np.asarray(d.get("unit_centres", []), dtype=float),
                   unit_quats=np.asarray(d.get("unit_quats", []), dtype=float),
                   atom_numbers=np.asarray(d.get("atom_numbers", []), dtype=np.int64),
                   atom_frac=np.asarray(d.get("atom_frac", []), dtype=float))

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> Genome:
        return cls.from_dict(json.loads(text))

    def equals(self, other: Genome, tol: float = 1e-12) -> bool:
        """Exact (to tol) equality of every field, kinds compared by template."""
        if len(self.kinds) != len(other.kinds) or not all(
                a.same_as(b, tol) for a, b in zip(self.kinds, other.kinds)):
            return False
        pairs = [(self.cell, other.cell), (self.unit_centres, other.unit_centres),
                 (self.unit_quats, other.unit_quats), (self.atom_frac, other.atom_frac)]
        return (np.array_equal(self.unit_kind, other.unit_kind)
                and np.array_equal(self.atom_numbers, other.atom_numbers)
                and all(a.shape == b.shape and np.allclose(a, b, atol=tol, rtol=0)
                        for a, b in pairs))

    def __repr__(self) -> str:
        units = ", ".join(f"{n}x{c}" for n, c in self.unit_counts().items())
        return (f"Genome({self.formula}; units [{units}]; free {self.atom_counts()}; "
                f"V={self.volume:.1f} Å^3)")

    @classmethod
    def from_units(cls, cell, units: Sequence[Unit], centres, quats, numbers=(), frac=()) -> Genome:
        """Build a genome from a list of Unit objects (one per placed unit)."""
        kinds: list[Unit] = []
        idx = []
        for u in units:
            for j, k in enumerate(kinds):
                if k is u or k.same_as(u):
                    idx.append(j)
                    break
            else:
                kinds.append(u)
                idx.append(len(kinds) - 1)
        return cls(cell=np.asarray(cell, float), kinds=tuple(kinds),
                   unit_kind=np.asarray(idx, np.int64),
                   unit_centres=np.asarray(centres, float).reshape(-1, 3),
                   unit_quats=np.asarray(quats, float).reshape(-1, 4),
                   atom_numbers=np.asarray(numbers, np.int64).reshape(-1),
                   atom_frac=np.asarray(frac, float).reshape(-1, 3))


def expand_positions(kinds: Sequence[Unit], unit_kind: np.ndarray, centres: np.ndarray,
                     quats: np.ndarray, frac: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """Cartesian positions (n_atoms, 3), Å, of units (kind, fractional centre, quaternion)
    and free atoms (fractional), in expansion order: ``c @ cell + R(q) @ r_body``."""
    cell = np.asarray(cell, dtype=float)
    parts: list[np.ndarray] = []
    if len(unit_kind):
        rots = quat_to_matrix(np.asarray(quats, dtype=float)).reshape(-1, 3, 3)
        cart = np.asarray(centres, dtype=float) @ cell
        kinds_used = np.unique(unit_kind)
        if len(kinds_used) == 1:  # the common case: one block for all units
            body = kinds[int(kinds_used[0])].positions
            parts.append((np.einsum("nij,mj->nmi", rots, body) + cart[:, None, :]).reshape(-1, 3))
        else:
            for i, k in enumerate(unit_kind):
                parts.append(kinds[int(k)].positions @ rots[i].T + cart[i])
    parts.append(np.asarray(frac, dtype=float).reshape(-1, 3) @ cell)
    return np.concatenate(parts, axis=0)


def _mic_distances(point: np.ndarray, others: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """Minimum-image distances from one point to many (brute force over 27 images)."""
    inv = np.linalg.inv(cell)
    df = (others - point) @ inv
    df -= np.round(df)
    shifts = np.array([[i, j, k] for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)])
    cart = (df[:, None, :] + shifts[None]) @ cell
    return np.linalg.norm(cart, axis=-1).min(axis=1)


@functools.lru_cache(maxsize=4096)
def _reduce_formula(formula: str) -> str:
    from ase.formula import Formula

    return Formula(formula).reduce()[0].format("metal")
