"""Find rigid units (superatoms) inside any crystal and turn it into a genome.

A distance cut-off alone cannot separate units when inter-unit bonds are as short as
intra-unit ones (B12 in alpha-boron: ~1.7 Å both). Recognition therefore matches the
template's *bond graph* to the crystal's periodic neighbour graph, seeded at one atom:

1. an anchor atom ``a`` of the crystal is hypothesised to be template atom ``t`` (one
   representative per symmetry-equivalent set of template atoms);
2. two bonded neighbours ``u1, u2`` of ``t`` in the template graph are mapped onto pairs of
   crystal neighbours ``(n1, n2)`` of ``a`` (periodic images included) with the same
   elements and the same three distances; that fixes a rotation (Kabsch on 3 points);
3. every template atom is predicted and paired with the nearest crystal atom image of the
   same element; the match is accepted when all pairs are distinct, not yet used by
   another unit, the bond graph among them equals the template's, and the Kabsch RMSD
   over all atoms is below ``rmsd_tol``.

Larger templates are matched first (B12H12 before B12 before BH4), so an H-capped cage
is not reported as a bare cage plus free H.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from ase.data import covalent_radii

from csp.errors import CspError
from csp.genome import Genome, check_unit_topology, kabsch, matrix_to_quat
from csp.units import BOND_FACTOR, Unit, builtin_units, get_unit

__all__ = ["RecognitionReport", "recognise", "reorder_like"]


@dataclass
class RecognitionReport:
    """What was found: per kind the count and the largest RMSD (Å); free atoms left."""

    counts: dict[str, int] = field(default_factory=dict)
    max_rmsd: dict[str, float] = field(default_factory=dict)
    free: dict[str, int] = field(default_factory=dict)
    atom_index: list[list[int]] = field(default_factory=list)  # crystal atoms per unit

    def to_dict(self) -> dict:
        return {"units": {k: {"count": self.counts[k], "max_rmsd": self.max_rmsd[k]}
                          for k in self.counts}, "free_atoms": self.free}


def _representatives(unit: Unit) -> list[int]:
    """One template atom per orbit of the point group (the anchors worth trying)."""
    ops = unit.symmetry_operations()
    seen: set[int] = set()
    reps = []
    for i in range(len(unit)):
        if i in seen:
            continue
        reps.append(i)
        for m in ops:
            p = unit.positions[i] @ m.T
            d = np.linalg.norm(unit.positions - p, axis=1)
            j = int(np.argmin(d))
            if d[j] < 1e-3:
                seen.add(j)
    return reps


def _neighbours(atoms: Atoms, cutoff: float):
    """Per atom: arrays of (neighbour index, cartesian displacement) within cutoff."""
    from ase.neighborlist import neighbor_list

    i, j, dvec = neighbor_list("ijD", atoms, cutoff)
    out: list[tuple[np.ndarray, np.ndarray]] = []
    order = np.argsort(i, kind="stable")
    i, j, dvec = i[order], j[order], dvec[order]
    starts = np.searchsorted(i, np.arange(len(atoms) + 1))
    for a in range(len(atoms)):
        sl = slice(starts[a], starts[a + 1])
        out.append((j[sl], dvec[sl]))
    return out


def _match_at(atoms: Atoms, unit: Unit, a: int, t: int, used: np.ndarray, nbrs, big,
              rmsd_tol: float, dist_tol: float):
    """Try to place ``unit`` with template atom t on crystal atom a; (indices, pos, R) or None."""
    tb = unit.bonds
    tn = sorted({int(y) for x, y in tb if x == t} | {int(x) for x, y in tb if y == t})
    if len(unit) == 1:
        return [a], atoms.positions[a][None, :], np.eye(3)
    if not tn:
        return None
    z = unit.numbers
    pa = atoms.positions[a]
    nj, nd = nbrs[a]
    ref = unit.positions
    u1 = tn[0]
    u2 = tn[1] if len(tn) > 1 else None
    d1 = np.linalg.norm(ref[u1] - ref[t])
    c1 = [k for k in range(len(nj)) if atoms.numbers[nj[k]] == z[u1]
          and abs(np.linalg.norm(nd[k]) - d1) < dist_tol]
    big_j, big_d = big[a]
    for k1 in c1:
        cands2 = [None] if u2 is None else [
            k for k in range(len(nj)) if k != k1 and atoms.numbers[nj[k]] == z[u2]
            and abs(np.linalg.norm(nd[k]) - np.linalg.norm(ref[u2] - ref[t])) < dist_tol
            and abs(np.linalg.norm(nd[k] - nd[k1]) - np.linalg.norm(ref[u2] - ref[u1])) < dist_tol]
        for k2 in cands2:
            src = [ref[t], ref[u1]] + ([ref[u2]] if k2 is not None else [])
            dst = [np.zeros(3), nd[k1]] + ([nd[k2]] if k2 is not None else [])
            r, tr, _ = kabsch(np.array(src) - np.mean(src, axis=0), np.array(dst))
            pred = (ref - np.mean(src, axis=0)) @ r.T + tr  # relative to atom a
            idx, pos = [], []
            ok = True
            for p, zz in zip(pred, z):
                if np.linalg.norm(p) < 1e-9:
                    cand_j, cand_d = np.array([a]), np.zeros((1, 3))
                else:
                    cand_j, cand_d = big_j, big_d
                sel = atoms.numbers[cand_j] == zz
                if not sel.any():
                    ok = False
                    break
                dd = np.linalg.norm(cand_d[sel] - p, axis=1)
                m = int(np.argmin(dd))
                if dd[m] > 3 * rmsd_tol + 0.3:
                    ok = False
                    break
                idx.append(int(cand_j[sel][m]))
                pos.append(pa + cand_d[sel][m])
            if not ok or len(set(idx)) != len(idx) or used[idx].any():
                continue
            pos_arr = np.array(pos)
            r2, _, rmsd = kabsch(ref, pos_arr)
            if rmsd > rmsd_tol:
                continue
            intact, _ = check_unit_topology(unit, pos_arr)
            if not intact:
                continue
            return idx, pos_arr, r2
    return None


def recognise(atoms: Atoms, units: Sequence[Unit | str] | None = None, rmsd_tol: float = 0.3,
              dist_tol: float = 0.25) -> tuple[Genome, RecognitionReport]:
    """Recognise units in a crystal and return (genome, report).

    Args:
        atoms: periodic crystal.
        units: templates to look for (names or Unit); default the built-in library.
        rmsd_tol: largest Kabsch RMSD (Å) for a match.
        dist_tol: tolerance (Å) on the seed distances.
    """
    if not isinstance(atoms, Atoms) or len(atoms) == 0 or not all(atoms.pbc):
        raise CspError("unit recognition needs a periodic, non-empty structure")
    lib = [get_unit(u) if isinstance(u, str) else u for u in (units or builtin_units().values())]
    present = set(atoms.numbers.tolist())
    lib = [u for u in lib if set(u.numbers.tolist()) <= present]
    lib.sort(key=lambda u: (-len(u), u.name))
    rmax = max((2 * u.radius for u in lib), default=0.0) + 0.5
    bond_cut = BOND_FACTOR * 2 * covalent_radii[atoms.numbers].max()
    nbrs = _neighbours(atoms, bond_cut)
    big = _neighbours(atoms, max(rmax, bond_cut)) if lib else nbrs
    # add the atom itself (zero shift) to the big lists for prediction pairing
    big = [(np.append(j, a), np.vstack([d, np.zeros(3)])) for a, (j, d) in enumerate(big)]
    used = np.zeros(len(atoms), bool)
    found: list[tuple[Unit, list[int], np.ndarray, np.ndarray]] = []
    for unit in lib:
        reps = _representatives(unit)
        for a in range(len(atoms)):
            if used[a]:
                continue
            for t in reps:
                if atoms.numbers[a] != unit.numbers[t]:
                    continue
                m = _match_at(atoms, unit, a, t, used, nbrs, big, rmsd_tol, dist_tol)
                if m is not None:
                    idx, pos, r = m
                    used[idx] = True
                    found.append((unit, idx, pos, r))
                    break
    found.sort(key=lambda f: (f[0].name, tuple(np.round(f[2].mean(axis=0), 6))))
    cell = np.array(atoms.cell[:])
    inv = np.linalg.inv(cell)
    report = RecognitionReport()
    for unit, idx, pos, _ in found:
        rm = kabsch(unit.positions, pos)[2]
        report.counts[unit.name] = report.counts.get(unit.name, 0) + 1
        report.max_rmsd[unit.name] = max(report.max_rmsd.get(unit.name, 0.0), rm)
        report.atom_index.append(idx)
    free = np.nonzero(~used)[0]
    for i in free:
        s = atoms[i].symbol
        report.free[s] = report.free.get(s, 0) + 1
    genome = Genome.from_units(
        cell, [f[0] for f in found], [(f[2].mean(axis=0) @ inv) % 1.0 for f in found],
        [matrix_to_quat(f[3]) for f in found], atoms.numbers[free],
        atoms.get_scaled_positions(wrap=True)[free])
    return genome, report


def reorder_like(relaxed: Atoms, original: Atoms, genome: Genome,
                 report: RecognitionReport | None = None) -> Atoms:
    """Relaxed atoms (in the original's order) reordered into the genome's expansion order."""
    if report is None:
        _, report = recognise(original)
    order = [i for idx in report.atom_index for i in idx]
    used = set(order)
    order += [i for i in range(len(original)) if i not in used]
    return relaxed[order]
