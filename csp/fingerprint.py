"""Oganov-Valle fingerprints and cosine distances, numba-compiled.

For every element pair (A, B) the fingerprint is the Gaussian-smeared distribution
of A-B distances up to ``rcut``, normalised by the pair's atom counts and the cell
volume (Oganov & Valle, J. Chem. Phys. 130, 104504 (2009))::

    F_AB(b) = V / (N_A N_B) * sum_{i in A, j in B, r_ij < rcut} s_b(r_ij) / (4 pi r^2 Δ) - 1

with bins of width Δ (``binwidth``) and s_b the share of a Gaussian (``sigma``,
truncated at ``nsigma`` sigma) that falls in bin b. Two forms of s_b:

* exact (default): the Gaussian is centred on the true distance r_ij and integrated
  over each bin; the shell area is taken at r_ij;
* ``reference_binning=True``: as ASE's ``OFPComparator`` (PyPI ``ase-ga``): the
  Gaussian is centred on the *centre of the bin containing* r_ij, its weights are
  renormalised to the truncated mass, and the shell area is taken at each bin's upper
  edge. This shifts peaks by up to Δ/2, so two structures whose distances differ by
  less than a bin can look identical or different depending on where the bin edges
  fall; the exact form varies smoothly with the distances.

The cosine distance weighs each pair by N_A N_B / Σ N_A' N_B' (the reference's
weights). Structures of different sizes or compositions are compared on the union of
element pairs: each structure's pair weights come from its own counts (a pair absent
from a structure has weight 0 there) and the two weight sets enter as their geometric
mean, which reduces to the reference's weights for equal compositions.

A superatom-aware term (:func:`fingerprint_genome`) adds the same construction over
*unit centres* per unit-kind pair, so two crystals with the same atoms but units
packed differently are told apart.

Numba kernels (``_pair_hist``) have a plain-NumPy twin (:func:`pair_histogram_numpy`)
used in parity tests. Batches are fingerprinted once and their all-pairs distance
matrix is one matrix product of weighted, normalised, stacked vectors.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from ase import Atoms
from numba import njit

from csp.errors import CspError

__all__ = ["FingerprintParams", "Fingerprint", "ofp_distance", "fingerprint",
           "fingerprint_genome", "fingerprints", "genome_distance", "distance_matrix",
           "cosine_distance", "pair_histogram_numpy"]


@dataclass(frozen=True)
class FingerprintParams:
    """Fingerprint settings (the reference's names and defaults; lengths in Å)."""

    rcut: float = 20.0
    binwidth: float = 0.05
    sigma: float = 0.02
    nsigma: int = 4
    reference_binning: bool = False

    def __post_init__(self) -> None:
        for name in ("rcut", "binwidth", "sigma"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise CspError(f"fingerprint {name} must be a positive number, got {v!r}")
        if not (isinstance(self.nsigma, (int, np.integer)) and self.nsigma > 0):
            raise CspError(f"fingerprint nsigma must be a positive integer, got {self.nsigma!r}")
        if self.rcut / self.binwidth > 1e6:
            raise CspError("fingerprint rcut / binwidth is too large (> 1e6 bins)")

    @property
    def nbins(self) -> int:
        return int(math.ceil(self.rcut / self.binwidth))


# ------------------------------------------------------------------------ kernels
def _shifts(cell: np.ndarray, rcut: float) -> np.ndarray:
    inv = np.linalg.inv(cell)
    heights = 1.0 / np.linalg.norm(inv, axis=0)
    n = np.ceil(rcut / heights).astype(int)
    g = np.stack(np.meshgrid(*[np.arange(-k, k + 1) for k in n], indexing="ij"), -1)
    return (g.reshape(-1, 3) @ cell).astype(np.float64)


def _shifts_sorted(cell: np.ndarray, rcut: float) -> np.ndarray:
    """Lattice shifts that can matter for pairs within rcut, sorted by length."""
    half_diag = 0.5 * np.linalg.norm(cell.sum(axis=0)) + 0.5 * max(
        np.linalg.norm(cell[0] - cell[1] + cell[2]), np.linalg.norm(cell[0] + cell[1] - cell[2]),
        np.linalg.norm(-cell[0] + cell[1] + cell[2]))
    s = _shifts(cell, rcut + half_diag)
    n = np.linalg.norm(s, axis=1)
    keep = n <= rcut + half_diag
    order = np.argsort(n[keep], kind="stable")
    return np.ascontiguousarray(s[keep][order])


_TABLE_POINTS = 4096


@functools.lru_cache(maxsize=16)
def _smear_table(binwidth: float, sigma: float, m: int) -> np.ndarray:
    """s_k(u) for u in [0, 1] (position inside the bin, in bin units), k = -m..m+1.

    s_k(u) is the share of a Gaussian centred at (b0 + u) Δ that falls in bin b0 + k;
    linear interpolation in u is accurate to ~1e-7 of the peak value.
    """
    from scipy.special import erf

    u = np.linspace(0.0, 1.0, _TABLE_POINTS + 1)
    ks = np.arange(-m - 1, m + 2)
    x = binwidth / (math.sqrt(2.0) * sigma)
    t = 0.5 * (erf((ks[None, :] + 1 - u[:, None]) * x) - erf((ks[None, :] - u[:, None]) * x))
    t.setflags(write=False)
    return t


@functools.lru_cache(maxsize=16)
def _reference_kernel(binwidth: float, sigma: float, m: int) -> np.ndarray:
    """The reference's bin-centred Gaussian weights for bin offsets -m..m."""
    from scipy.special import erf

    c = 0.25 * math.sqrt(2.0) * binwidth / sigma
    ks = np.arange(-m, m + 1)
    return (0.5 * erf(c * (2 * ks + 1)) - 0.5 * erf(c * (2 * ks - 1))) / erf(c * (2 * m + 1))


@njit(cache=True, fastmath=True, boundscheck=False)
def _pair_hist(pos, inv_cell, cell, types, ntypes, shifts, rcut, binwidth, nbins, table,
               m, reference):
    """Accumulate pair contributions into hist[ta, tb, bin] (ordered pairs).

    reference=True: raw counts at floor(r / Δ) (smeared and weighted afterwards, exactly as
    the reference does, since its kernel and weights depend on the bin only).
    reference=False: the tabulated exact Gaussian shares s_k(u) / (4 pi r^2 Δ).
    """
    nk = table.shape[1]  # 2m + 3 (one spare bin each side)
    hist = np.zeros((ntypes, ntypes, nbins + 2 * nk))
    off = nk  # index offset so bins -nk..nbins+nk-1 are valid
    n = pos.shape[0]
    rc2 = rcut * rcut
    npts = table.shape[0] - 1
    four_pi_dx = 4.0 * math.pi * binwidth
    snorm = np.empty(shifts.shape[0])
    for s in range(shifts.shape[0]):
        snorm[s] = math.sqrt(shifts[s, 0] ** 2 + shifts[s, 1] ** 2 + shifts[s, 2] ** 2)
    for i in range(n):
        for j in range(i, n):
            ti = types[i]
            tj = types[j]
            # wrap the fractional displacement into [-0.5, 0.5)
            ex = pos[j, 0] - pos[i, 0]
            ey = pos[j, 1] - pos[i, 1]
            ez = pos[j, 2] - pos[i, 2]
            f0 = ex * inv_cell[0, 0] + ey * inv_cell[1, 0] + ez * inv_cell[2, 0]
            f1 = ex * inv_cell[0, 1] + ey * inv_cell[1, 1] + ez * inv_cell[2, 1]
            f2 = ex * inv_cell[0, 2] + ey * inv_cell[1, 2] + ez * inv_cell[2, 2]
            f0 -= math.floor(f0 + 0.5)
            f1 -= math.floor(f1 + 0.5)
            f2 -= math.floor(f2 + 0.5)
            x0 = f0 * cell[0, 0] + f1 * cell[1, 0] + f2 * cell[2, 0]
            y0 = f0 * cell[0, 1] + f1 * cell[1, 1] + f2 * cell[2, 1]
            z0 = f0 * cell[0, 2] + f1 * cell[1, 2] + f2 * cell[2, 2]
            dlen = math.sqrt(x0 * x0 + y0 * y0 + z0 * z0)
            limit = rcut + dlen
            for s in range(shifts.shape[0]):
                if snorm[s] > limit:
                    break
                dx = x0 + shifts[s, 0]
                dy = y0 + shifts[s, 1]
                dz = z0 + shifts[s, 2]
                r2 = dx * dx + dy * dy + dz * dz
                if r2 >= rc2 or r2 == 0.0:
                    continue
                r = math.sqrt(r2)
                t = r / binwidth
                b0 = int(t)
                if reference:
                    if i == j:
                        hist[ti, ti, b0 + off] += 1.0
                    else:
                        hist[ti, tj, b0 + off] += 1.0
                        hist[tj, ti, b0 + off] += 1.0
                    continue
                u = (t - b0) * npts
                iu = int(u)
                if iu >= npts:
                    iu = npts - 1
                fr = u - iu
                w = 1.0 / (four_pi_dx * r2)
                for k in range(nk):
                    v = (table[iu, k] + fr * (table[iu + 1, k] - table[iu, k])) * w
                    b = b0 - m - 1 + k + off
                    if i == j:
                        hist[ti, ti, b] += v
                    else:
                        hist[ti, tj, b] += v
                        hist[tj, ti, b] += v
    return hist


def _hist(pos: np.ndarray, types: np.ndarray, ntypes: int, cell: np.ndarray,
          p: FingerprintParams) -> np.ndarray:
    """(ntypes, ntypes, nbins) smeared, shell-weighted pair histogram."""
    m = int(math.ceil(p.nsigma * p.sigma / p.binwidth))
    nb = p.nbins
    table = _smear_table(p.binwidth, p.sigma, m)
    raw = _pair_hist(np.ascontiguousarray(pos, dtype=np.float64),
                     np.ascontiguousarray(np.linalg.inv(cell)), np.ascontiguousarray(cell),
                     types, ntypes, _shifts_sorted(cell, p.rcut), float(p.rcut),
                     float(p.binwidth), nb, table, m, bool(p.reference_binning))
    off = table.shape[1]
    if not p.reference_binning:
        return raw[:, :, off:off + nb]
    ks = np.arange(-m, m + 1)
    kern = _reference_kernel(p.binwidth, p.sigma, m)
    counts = raw[:, :, off:off + nb]
    out = np.zeros_like(counts)
    for k, kv in zip(ks, kern):  # bin b receives kern[k] from the pair bin b - k
        if k >= 0:
            out[:, :, k:] += kv * counts[:, :, :nb - k]
        else:
            out[:, :, :nb + k] += kv * counts[:, :, -k:]
    edges = p.binwidth * np.arange(1, nb + 1)
    return out / (4.0 * np.pi * edges**2 * p.binwidth)


def pair_histogram_numpy(pos: np.ndarray, types: np.ndarray, ntypes: int, cell: np.ndarray,
                         p: FingerprintParams) -> np.ndarray:
    """Plain-NumPy twin of the numba kernel (same output, for parity tests)."""
    from scipy.special import erf

    shifts = _shifts(cell, p.rcut)
    nbins = p.nbins
    hist = np.zeros((ntypes, ntypes, nbins))
    m = int(math.ceil(p.nsigma * p.sigma / p.binwidth))
    c = 0.25 * math.sqrt(2.0) * p.binwidth / p.sigma
    ks = np.arange(-m, m + 1)
    kern = (0.5 * erf(c * (2 * ks + 1)) - 0.5 * erf(c * (2 * ks - 1))) / erf(c * (2 * m + 1))
    d = pos[None, :, None, :] - pos[:, None, None, :] + shifts[None, None]
    r = np.linalg.norm(d, axis=-1)  # (i, j, s): ordered pairs
    i, j, s = np.nonzero((r < p.rcut) & (r > 0))
    r = r[i, j, s]
    b0 = np.floor(r / p.binwidth).astype(int)
    for k in ks:
        b = b0 + k
        ok = (b >= 0) & (b < nbins)
        if p.reference_binning:
            edge = p.binwidth * (b[ok] + 1)
            v = kern[k + m] / (4 * np.pi * edge**2 * p.binwidth)
        else:
            lo = b[ok] * p.binwidth
            rr = r[ok]
            v = 0.5 * (erf((lo + p.binwidth - rr) / (math.sqrt(2) * p.sigma))
                       - erf((lo - rr) / (math.sqrt(2) * p.sigma)))
            v /= 4 * np.pi * rr**2 * p.binwidth
        np.add.at(hist, (types[i[ok]], types[j[ok]], b[ok]), v)
    return hist


# --------------------------------------------------------------------- public API
@dataclass(frozen=True)
class Fingerprint:
    """Fingerprint of one structure.

    Attributes:
        keys: element (or unit-kind) pairs, e.g. (("B", "B"), ("B", "Sr"), ...).
        values: (n_keys, nbins) F_AB(b) (with the -1 offset).
        weights: (n_keys,) N_A N_B / Σ N_A N_B of this structure.
        params: the settings.
        units: optional unit-centre fingerprint (same structure, keys are unit names).
    """

    keys: tuple[tuple[str, str], ...]
    values: np.ndarray
    weights: np.ndarray
    params: FingerprintParams
    units: "Fingerprint | None" = None


def _fingerprint_points(labels: Sequence[str], pos: np.ndarray, cell: np.ndarray,
                        p: FingerprintParams) -> Fingerprint:
    names = sorted(set(labels))
    index = {n: k for k, n in enumerate(names)}
    types = np.array([index[x] for x in labels], dtype=np.int64)
    counts = np.bincount(types, minlength=len(names)).astype(float)
    volume = abs(np.linalg.det(cell))
    hist = _hist(pos, types, len(names), cell, p)
    keys, vals, w = [], [], []
    for a in range(len(names)):
        for b in range(a, len(names)):
            keys.append((names[a], names[b]))
            vals.append(hist[a, b] * volume / (counts[a] * counts[b]) - 1.0)
            w.append(counts[a] * counts[b])
    w = np.array(w)
    return Fingerprint(tuple(keys), np.array(vals), w / w.sum(), p)


def fingerprint(atoms: Atoms, params: FingerprintParams | None = None, **kw) -> Fingerprint:
    """Oganov-Valle fingerprint of a periodic structure."""
    p = params or FingerprintParams(**kw)
    if not isinstance(atoms, Atoms) or len(atoms) == 0:
        raise CspError(f"fingerprint needs a non-empty ase.Atoms, got {atoms!r}")
    if not all(atoms.pbc) or abs(atoms.get_volume()) < 1e-9:
        raise CspError("fingerprint needs a 3D-periodic structure with a cell")
    return _fingerprint_points(atoms.get_chemical_symbols(), atoms.get_positions(),
                               np.array(atoms.cell[:]), p)


def fingerprint_genome(genome, params: FingerprintParams | None = None,
                       unit_params: FingerprintParams | None = None) -> Fingerprint:
    """Atom fingerprint plus the unit-centre fingerprint (per unit-kind pair)."""
    p = params or FingerprintParams(rcut=10.0)
    fp = fingerprint(genome.to_atoms(), p)
    if genome.n_units == 0:
        return fp
    up = unit_params or FingerprintParams(rcut=p.rcut, binwidth=0.1, sigma=0.1, nsigma=3)
    labels = [genome.kinds[k].name for k in genome.unit_kind]
    ufp = _fingerprint_points(labels, genome.unit_centres @ genome.cell, genome.cell, up)
    return Fingerprint(fp.keys, fp.values, fp.weights, fp.params, units=ufp)


def _cos(a: Fingerprint, b: Fingerprint) -> float:
    if a.params != b.params:
        raise CspError("fingerprints with different parameters cannot be compared")
    ka, kb = dict(zip(a.keys, range(len(a.keys)))), dict(zip(b.keys, range(len(b.keys))))
    keys = sorted(set(ka) | set(kb))
    num = na = nb = 0.0
    for k in keys:
        wa = a.weights[ka[k]] if k in ka else 0.0
        wb = b.weights[kb[k]] if k in kb else 0.0
        if k in ka:
            na += wa * float(a.values[ka[k]] @ a.values[ka[k]])
        if k in kb:
            nb += wb * float(b.values[kb[k]] @ b.values[kb[k]])
        if k in ka and k in kb:
            num += math.sqrt(wa * wb) * float(a.values[ka[k]] @ b.values[kb[k]])
    if na == 0.0 or nb == 0.0:
        return 0.0 if na == nb else 0.5
    return 0.5 * (1.0 - num / math.sqrt(na * nb))


def cosine_distance(a: Fingerprint, b: Fingerprint) -> float:
    """Weighted cosine distance in [0, 1] (0 = identical fingerprints)."""
    return _cos(a, b)


def genome_distance(a: Fingerprint, b: Fingerprint, unit_weight: float = 0.3) -> float:
    """(1 - w) x atom distance + w x unit-centre distance (atoms only if one has no units)."""
    d = _cos(a, b)
    if a.units is None or b.units is None:
        return d
    return (1.0 - unit_weight) * d + unit_weight * _cos(a.units, b.units)


def ofp_distance(atoms_a: Atoms, atoms_b: Atoms, *, rcut: float = 20.0, binwidth: float = 0.05,
                 sigma: float = 0.02, nsigma: int = 4, reference_binning: bool = False) -> float:
    """Cosine distance between the Oganov-Valle fingerprints of two structures.

    Same parameter names and defaults as ase-ga's ``OFPComparator``; with
    ``reference_binning=True`` the value equals its ``_compare_structure`` to round-off.
    Structures of different sizes and compositions are allowed.
    """
    p = FingerprintParams(rcut, binwidth, sigma, nsigma, reference_binning)
    return _cos(fingerprint(atoms_a, p), fingerprint(atoms_b, p))


def fingerprints(structures: Sequence, params: FingerprintParams | None = None, **kw) -> list[Fingerprint]:
    """Fingerprints of a batch of ``ase.Atoms`` or genomes (genomes get the unit term)."""
    p = params or FingerprintParams(**kw)
    out = []
    for s in structures:
        out.append(fingerprint(s, p) if isinstance(s, Atoms) else fingerprint_genome(s, p))
    return out


def _stack(fps: Sequence[Fingerprint], part: str) -> np.ndarray:
    sel = [fp if part == "atoms" else fp.units for fp in fps]
    keys = sorted({k for fp in sel for k in fp.keys})
    col = {k: i for i, k in enumerate(keys)}
    nb = sel[0].values.shape[1]
    mat = np.zeros((len(sel), len(keys) * nb))
    for r, fp in enumerate(sel):
        for k, v, w in zip(fp.keys, fp.values, fp.weights):
            c = col[k]
            mat[r, c * nb:(c + 1) * nb] = math.sqrt(w) * v
        n = np.linalg.norm(mat[r])
        if n > 0:
            mat[r] /= n
    return mat


def distance_matrix(fps: Sequence[Fingerprint], unit_weight: float = 0.3) -> np.ndarray:
    """All-pairs cosine distances of a batch, as one matrix product, (n, n)."""
    if not fps:
        return np.zeros((0, 0))
    m = _stack(fps, "atoms")
    d = 0.5 * (1.0 - m @ m.T)
    if all(fp.units is not None for fp in fps):
        u = _stack(fps, "units")
        d = (1.0 - unit_weight) * d + unit_weight * 0.5 * (1.0 - u @ u.T)
    np.fill_diagonal(d, 0.0)
    return np.clip(d, 0.0, 1.0)
