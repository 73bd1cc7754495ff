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
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ase import Atoms
from numba import njit

from csp._pbc import frac_of, to_cart
from csp.errors import CspError

__all__ = [
    "Fingerprint",
    "FingerprintIndex",
    "FingerprintParams",
    "cosine_distance",
    "distance_matrix",
    "fingerprint",
    "fingerprint_genome",
    "fingerprint_shape",
    "fingerprints",
    "genome_distance",
    "ofp_distance",
    "pair_histogram_numpy",
]


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
        return math.ceil(self.rcut / self.binwidth)


# ------------------------------------------------------------------------ kernels
def _shifts(cell: np.ndarray, rcut: float) -> np.ndarray:
    inv = np.linalg.inv(cell)
    heights = 1.0 / np.linalg.norm(inv, axis=0)
    n = np.ceil(rcut / heights).astype(int)
    g = np.stack(np.meshgrid(*[np.arange(-k, k + 1) for k in n], indexing="ij"), -1)
    return (g.reshape(-1, 3) @ cell).astype(np.float64)


def _shifts_sorted(cell: np.ndarray, rcut: float) -> np.ndarray:
    """Lattice shifts that can matter for pairs within rcut, sorted by length.

    A wrapped displacement is at most half the longest cell diagonal long, so shifts up
    to rcut + that half diagonal are kept.
    """
    cell = np.ascontiguousarray(cell, dtype=np.float64)
    half_diag = 0.5 * max(np.linalg.norm(cell[0] + cell[1] + cell[2]),
                          np.linalg.norm(cell[0] - cell[1] + cell[2]),
                          np.linalg.norm(cell[0] + cell[1] - cell[2]),
                          np.linalg.norm(-cell[0] + cell[1] + cell[2]))
    radius = rcut + half_diag
    heights = 1.0 / np.linalg.norm(np.linalg.inv(cell), axis=0)
    n = np.ceil(radius / heights).astype(np.int64)
    return _sorted_shifts_kernel(cell, float(radius), int(n[0]), int(n[1]), int(n[2]))


@njit(cache=True)
def _sorted_shifts_kernel(cell, radius, n0, n1, n2):
    total = (2 * n0 + 1) * (2 * n1 + 1) * (2 * n2 + 1)
    out = np.empty((total, 3))
    norms = np.empty(total)
    k = 0
    for a in range(-n0, n0 + 1):
        for b in range(-n1, n1 + 1):
            for c in range(-n2, n2 + 1):
                x = a * cell[0, 0] + b * cell[1, 0] + c * cell[2, 0]
                y = a * cell[0, 1] + b * cell[1, 1] + c * cell[2, 1]
                z = a * cell[0, 2] + b * cell[1, 2] + c * cell[2, 2]
                r = math.sqrt(x * x + y * y + z * z)
                if r <= radius:
                    out[k, 0] = x
                    out[k, 1] = y
                    out[k, 2] = z
                    norms[k] = r
                    k += 1
    order = np.argsort(norms[:k], kind="mergesort")
    res = np.empty((k, 3))
    for i in range(k):
        res[i] = out[order[i]]
    return res


_TABLE_POINTS = 4096


@functools.lru_cache(maxsize=16)
def _smear_table(binwidth: float, sigma: float, m: int) -> np.ndarray:
    """s_k(u) for u in [0, 1] (position inside the bin, in bin units), k = -m..m.

    s_k(u) is the share of a Gaussian centred at (b0 + u) Δ that falls in bin b0 + k;
    with m = ceil(nsigma sigma / Δ) these 2m + 1 bins hold the Gaussian out to at least
    nsigma sigma on both sides. Linear interpolation in u is accurate to ~1e-7 of the
    peak value.
    """
    from scipy.special import erf

    u = np.linspace(0.0, 1.0, _TABLE_POINTS + 1)
    ks = np.arange(-m, m + 1)
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
    """Pair contributions hist[ta, tb, bin + off], off = 2m + 1 (ordered pairs).

    reference=True: raw counts at floor(r / Δ) (smeared and weighted afterwards, exactly as
    the reference does, since its kernel and weights depend on the bin only).
    reference=False: the tabulated exact Gaussian shares s_k(u) / (4 pi r^2 Δ).

    Each unordered pair (i <= j) is visited once and accumulated into its type pair with
    weight 2 (1 for i = j); the shifts (sorted by length) that can reach rcut are known
    from the wrapped displacement, so the distance loop has no early exit and vectorises.
    """
    nk = table.shape[1]  # 2m + 1
    width = nbins + 2 * nk + 1
    dump = width - 1  # pairs beyond rcut (or an atom with itself) land here
    acc = np.zeros((ntypes * ntypes, width))
    off = nk
    n = pos.shape[0]
    rc2 = rcut * rcut
    npts = table.shape[0] - 1
    four_pi_dx = 4.0 * math.pi * binwidth
    inv_bw = 1.0 / binwidth
    ns = shifts.shape[0]
    snorm = np.empty(ns)
    for s in range(ns):
        snorm[s] = math.sqrt(shifts[s, 0] ** 2 + shifts[s, 1] ** 2 + shifts[s, 2] ** 2)
    sx = shifts[:, 0].copy()
    sy = shifts[:, 1].copy()
    sz = shifts[:, 2].copy()
    tt = np.empty(ns)
    bins = np.empty(ns, np.int64)
    for i in range(n):
        ti = types[i]
        for j in range(i, n):
            tj = types[j]
            row = acc[ti * ntypes + tj] if ti <= tj else acc[tj * ntypes + ti]
            wgt = 1.0 if i == j else 2.0
            # wrap the fractional displacement into [-0.5, 0.5)
            f0, f1, f2 = frac_of(pos[j, 0] - pos[i, 0], pos[j, 1] - pos[i, 1],
                                 pos[j, 2] - pos[i, 2], inv_cell)
            f0 -= math.floor(f0 + 0.5)
            f1 -= math.floor(f1 + 0.5)
            f2 -= math.floor(f2 + 0.5)
            x0, y0, z0 = to_cart(f0, f1, f2, cell)
            nl = np.searchsorted(snorm, rcut + math.sqrt(x0 * x0 + y0 * y0 + z0 * z0),
                                 side="right")
            for s in range(nl):
                dx = x0 + sx[s]
                dy = y0 + sy[s]
                dz = z0 + sz[s]
                r2 = dx * dx + dy * dy + dz * dz
                t = math.sqrt(r2) * inv_bw
                tt[s] = t
                bins[s] = int(t) + off if (r2 < rc2 and r2 > 0.0) else dump
            if reference:
                for s in range(nl):
                    row[bins[s]] += wgt
                continue
            for s in range(nl):
                b = bins[s]
                if b == dump:
                    continue
                t = tt[s]
                b0 = b - off
                u = (t - b0) * npts
                iu = min(int(u), npts - 1)
                fr = u - iu
                w = wgt / (four_pi_dx * t * t * binwidth * binwidth)
                base = b - m
                for k in range(nk):
                    row[base + k] += (table[iu, k] + fr * (table[iu + 1, k] - table[iu, k])) * w
    hist = np.empty((ntypes, ntypes, width - 1))
    for a in range(ntypes):
        for b in range(ntypes):
            src = acc[a * ntypes + b] if a <= b else acc[b * ntypes + a]
            f = 1.0 if a == b else 0.5
            for k in range(width - 1):
                hist[a, b, k] = src[k] * f
    return hist


def _hist(pos: np.ndarray, types: np.ndarray, ntypes: int, cell: np.ndarray,
          p: FingerprintParams) -> np.ndarray:
    """(ntypes, ntypes, nbins) smeared, shell-weighted pair histogram."""
    m = math.ceil(p.nsigma * p.sigma / p.binwidth)
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
    m = math.ceil(p.nsigma * p.sigma / p.binwidth)
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
    units: Fingerprint | None = None
    # derived in __post_init__: the weighted, normalised values flattened, and the norm
    _flat: np.ndarray = field(init=False, repr=False, compare=False)
    _norm: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # sqrt(w_k) F_k / |.| stacked: the weighted cosine is then one dot product
        scaled = np.sqrt(np.asarray(self.weights, float))[:, None] * np.asarray(self.values, float)
        norm = float(np.sqrt(np.sum(scaled * scaled)))
        flat = (scaled / norm if norm > 0 else scaled).ravel()
        flat.setflags(write=False)
        object.__setattr__(self, "_flat", flat)
        object.__setattr__(self, "_norm", norm)


def _fingerprint_points(labels: Sequence[str], pos: np.ndarray, cell: np.ndarray,
                        p: FingerprintParams) -> Fingerprint:
    names = sorted(set(labels))
    index = {n: k for k, n in enumerate(names)}
    types = np.array([index[x] for x in labels], dtype=np.int64)
    counts = np.bincount(types, minlength=len(names)).astype(float)
    volume = abs(np.linalg.det(cell))
    hist = _hist(pos, types, len(names), cell, p)
    keys, vals, pair_counts = [], [], []
    for a in range(len(names)):
        for b in range(a, len(names)):
            keys.append((names[a], names[b]))
            vals.append(hist[a, b] * volume / (counts[a] * counts[b]) - 1.0)
            pair_counts.append(counts[a] * counts[b])
    w = np.array(pair_counts)
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
    """Atom fingerprint plus the unit-centre fingerprint (per unit-kind pair).

    Defaults: atoms with R_max 10 Å (the reference's bins and smearing), unit centres
    with R_max 10 Å, bins 0.1 Å and sigma 0.1 Å.
    """
    from ase.data import chemical_symbols

    p = params or _GENOME_PARAMS
    cell = np.asarray(genome.cell, dtype=float)
    labels = [chemical_symbols[z] for z in genome.numbers()]
    if not labels:
        raise CspError("fingerprint needs a structure with atoms")
    fp = _fingerprint_points(labels, genome.positions(), cell, p)
    if genome.n_units == 0:
        return fp
    up = unit_params or (_UNIT_PARAMS if params is None else
                         FingerprintParams(rcut=p.rcut, binwidth=0.1, sigma=0.1, nsigma=3))
    ulabels = [genome.kinds[k].name for k in genome.unit_kind]
    ufp = _fingerprint_points(ulabels, genome.unit_centres @ cell, cell, up)
    return Fingerprint(fp.keys, fp.values, fp.weights, fp.params, units=ufp)


def fingerprint_shape(genome, params: FingerprintParams | None = None) -> Fingerprint:
    """:func:`fingerprint_genome` of the genome with its cell scaled (units rigid, same
    fractional centres) to the 0 GPa volume estimate of its atoms
    (``csp.volume.estimate_volume``).

    Before relaxation the scale of a candidate says little (the volume is a random factor
    on an estimate, and the relaxation decides it): one B12 on the origin of Pm-3 drawn
    at two volumes is one structure, and relaxes to one minimum. Pre-relaxation duplicate
    checks compare these, so that such a repeat is caught before it costs a relaxation.
    """
    from csp.volume import estimate_volume

    cell = np.asarray(genome.cell, dtype=float)
    v = abs(float(np.linalg.det(cell)))
    if v <= 0:
        raise CspError("fingerprint_shape: degenerate cell")
    target = estimate_volume(genome.numbers())
    scaled = genome.replace(cell=cell * (target / v) ** (1.0 / 3.0))
    return fingerprint_genome(scaled, params)


_GENOME_PARAMS = FingerprintParams(rcut=10.0)
_UNIT_PARAMS = FingerprintParams(rcut=10.0, binwidth=0.1, sigma=0.1, nsigma=3)


def _cos(a: Fingerprint, b: Fingerprint) -> float:
    """Weighted cosine distance: 0.5 (1 - sum_k sqrt(wa_k wb_k) Fa_k.Fb_k / sqrt(na nb)),
    n = sum_k w_k |F_k|^2, over the element pairs present in both (see module doc)."""
    if a.params != b.params:
        raise CspError("fingerprints with different parameters cannot be compared")
    if a._norm == 0.0 or b._norm == 0.0:
        return 0.0 if a._norm == b._norm else 0.5
    if a.keys == b.keys:
        return 0.5 * (1.0 - float(a._flat @ b._flat))
    nb = a.values.shape[1]
    kb = {k: i for i, k in enumerate(b.keys)}
    num = 0.0
    for i, k in enumerate(a.keys):
        j = kb.get(k)
        if j is not None:
            num += float(a._flat[i * nb:(i + 1) * nb] @ b._flat[j * nb:(j + 1) * nb])
    return 0.5 * (1.0 - num)


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
    """The normalised vectors of a batch as rows, (n, width): each fingerprint's own
    vector when all share their pair keys, else embedded zero-padded in the union of
    keys (the per-common-key sum of :func:`cosine_distance`)."""
    sel: list[Fingerprint] = []
    for fp in fps:
        one = fp if part == "atoms" else fp.units
        if one is None:
            raise CspError(f"fingerprint batch: entry {len(sel)} has no {part} fingerprint")
        sel.append(one)
    if all(fp.keys == sel[0].keys for fp in sel):
        return np.stack([fp._flat for fp in sel])
    layout = _Layout()
    rows = [layout.vector(fp) for fp in sel]
    mat = np.zeros((len(rows), len(layout.slots) * layout.nbins))
    for r, v in enumerate(rows):
        mat[r, :len(v)] = v
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


class _Layout:
    """Stacked, zero-padded fingerprint vectors in one key layout (columns grow as new
    element or unit pairs appear), rows addressed by position."""

    def __init__(self) -> None:
        self.slots: dict[tuple[str, str], int] = {}
        self.nbins = 0
        self.params: FingerprintParams | None = None
        self.mat = np.zeros((0, 0))
        self.zero = np.zeros(0, dtype=bool)

    def vector(self, fp: Fingerprint) -> np.ndarray:
        """``fp``'s normalised vector in this layout (new keys widen the layout)."""
        if self.params is None:
            self.params, self.nbins = fp.params, fp.values.shape[1]
        elif fp.params != self.params:
            raise CspError("fingerprints with different parameters cannot be compared")
        for k in fp.keys:
            if k not in self.slots:
                self.slots[k] = len(self.slots)
        width = len(self.slots) * self.nbins
        if self.mat.shape[1] < width:
            grown = np.zeros((self.mat.shape[0], width))
            grown[:, :self.mat.shape[1]] = self.mat
            self.mat = grown
        v = np.zeros(width)
        nb = self.nbins
        for i, k in enumerate(fp.keys):
            c = self.slots[k]
            v[c * nb:(c + 1) * nb] = fp._flat[i * nb:(i + 1) * nb]
        return v

    def set_row(self, row: int, v: np.ndarray, zero: bool) -> None:
        if row >= self.mat.shape[0]:
            cap = max(8, 2 * self.mat.shape[0], row + 1)
            grown = np.zeros((cap, self.mat.shape[1]))
            grown[:self.mat.shape[0]] = self.mat
            self.mat = grown
            self.zero = np.concatenate([self.zero, np.zeros(cap - len(self.zero), dtype=bool)])
        self.mat[row] = 0.0
        self.mat[row, :len(v)] = v
        self.zero[row] = zero

    def distances(self, v: np.ndarray, zero: bool, n: int) -> np.ndarray:
        """Weighted cosine distances of ``v`` to rows ``0..n-1`` (as :func:`cosine_distance`)."""
        d = 0.5 * (1.0 - self.mat[:n, :len(v)] @ v)
        z = self.zero[:n]
        if zero or z.any():
            d = np.where(z | zero, np.where(z & zero, 0.0, 0.5), d)
        return d


class FingerprintIndex:
    """Stored genome fingerprints and the nearest one to a query, by
    :func:`genome_distance`, as one matrix-vector product per part (atoms, units).

    What the engine's duplicate checks use: with thousands of candidates in flight
    (MPI) a query costs microseconds instead of one Python call per stored structure.
    Any mix of compositions may be stored: each fingerprint is embedded, zero-padded,
    in the union of the pair keys seen, which gives exactly the per-common-key sum of
    :func:`cosine_distance`.
    """

    def __init__(self, unit_weight: float = 0.3) -> None:
        self.unit_weight = unit_weight
        self._atoms = _Layout()
        self._units = _Layout()
        self._keys: list[Any] = []
        self._row: dict[Any, int] = {}
        self._has_units = np.zeros(0, dtype=bool)

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: Any) -> bool:
        return key in self._row

    def __iter__(self):
        """The stored keys, in :meth:`distances` order."""
        return iter(list(self._keys))

    def add(self, key: Any, fp: Fingerprint) -> None:
        """Store ``fp`` under ``key`` (replacing an entry of the same key)."""
        if key in self._row:
            self.remove(key)
        row = len(self._keys)
        self._atoms.set_row(row, self._atoms.vector(fp), fp._norm == 0.0)
        if fp.units is not None:
            self._units.set_row(row, self._units.vector(fp.units), fp.units._norm == 0.0)
        else:
            self._units.set_row(row, np.zeros(0), False)
        if row >= len(self._has_units):
            self._has_units = np.concatenate(
                [self._has_units, np.zeros(max(8, len(self._has_units)), dtype=bool)])
        self._has_units[row] = fp.units is not None
        self._keys.append(key)
        self._row[key] = row

    def remove(self, key: Any) -> None:
        """Drop the entry of ``key`` (no-op when absent); the last row takes its place."""
        row = self._row.pop(key, None)
        if row is None:
            return
        last = len(self._keys) - 1
        if row != last:
            moved = self._keys[last]
            for lay in (self._atoms, self._units):
                lay.mat[row] = lay.mat[last]
                lay.zero[row] = lay.zero[last]
            self._has_units[row] = self._has_units[last]
            self._keys[row] = moved
            self._row[moved] = row
        self._keys.pop()

    def distances(self, fp: Fingerprint) -> np.ndarray:
        """Distances of ``fp`` to every stored entry, in iteration order, (n,)."""
        n = len(self._keys)
        if n == 0:
            return np.zeros(0)
        d = self._atoms.distances(self._atoms.vector(fp), fp._norm == 0.0, n)
        if fp.units is not None and self._has_units[:n].any():
            du = self._units.distances(self._units.vector(fp.units), fp.units._norm == 0.0, n)
            w = self.unit_weight
            d = np.where(self._has_units[:n], (1.0 - w) * d + w * du, d)
        return d

    def nearest(self, fp: Fingerprint) -> tuple[Any, float]:
        """(key, distance) of the nearest stored fingerprint; (None, inf) when empty."""
        d = self.distances(fp)
        if len(d) == 0:
            return None, math.inf
        i = int(np.argmin(d))
        return self._keys[i], float(d[i])
