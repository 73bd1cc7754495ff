"""Oganov-Valle fingerprint: parity with ase-ga, numba/NumPy twins, invariances."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import make_supercell
from ase.data import atomic_numbers
from scipy.spatial.transform import Rotation

from csp.errors import CspError
from csp.fingerprint import (
    FingerprintParams,
    _hist,
    distance_matrix,
    fingerprint,
    fingerprint_genome,
    fingerprint_shape,
    fingerprints,
    genome_distance,
    ofp_distance,
    pair_histogram_numpy,
)
from tests.conftest import alpha_boron, simple_cubic_xb12


def random_structure(rng: np.random.Generator) -> Atoms:
    n = int(rng.integers(4, 201))
    species = ["B", "Sr", "H"][: int(rng.integers(2, 4))]
    symbols = list(species) + list(rng.choice(species, n - len(species)))
    length = (n * rng.uniform(6, 14)) ** (1 / 3)
    cell = np.diag(rng.uniform(0.85, 1.15, 3)) * length + rng.normal(0, 0.06 * length, (3, 3))
    return Atoms(symbols, scaled_positions=rng.random((n, 3)), cell=cell, pbc=True)


@pytest.mark.parametrize("count", [
    25, pytest.param(200, marks=pytest.mark.slow)])  # 200 structures take ~30 s
def test_parity_with_ase_ga_on_random_structures(count):
    from ase_ga.ofp_comparator import OFPComparator

    rng = np.random.default_rng(2024)
    rcut = 6.0  # the reference is slow; the kernel path is the same at any cutoff
    ref = OFPComparator(rcut=rcut, binwidth=0.05, sigma=0.02, nsigma=4, recalculate=True)
    p = FingerprintParams(rcut=rcut, reference_binning=True)
    worst_fp = worst_d = 0.0
    for _ in range(count):
        a = random_structure(rng)
        b = a.copy()
        b.rattle(0.05, seed=int(rng.integers(1 << 30)))
        fp_ref, _ = ref._take_fingerprints(a)
        mine = fingerprint(a, p)
        for key, vals in zip(mine.keys, mine.values):
            rkey = tuple(sorted((atomic_numbers[key[0]], atomic_numbers[key[1]])))
            scale = np.abs(fp_ref[rkey]).max()
            worst_fp = max(worst_fp, np.abs(vals - fp_ref[rkey]).max() / scale)
        d_ref = ref._compare_structure(a.copy(), b.copy())
        d = ofp_distance(a, b, rcut=rcut, reference_binning=True)
        worst_d = max(worst_d, abs(d - d_ref) / max(d_ref, 1e-300))
    assert worst_fp < 1e-8 and worst_d < 1e-8


def test_parity_with_ase_ga_at_default_settings():
    from ase_ga.ofp_comparator import OFPComparator

    rng = np.random.default_rng(7)
    ref = OFPComparator(recalculate=True)
    for _ in range(3):
        a = random_structure(rng)[:30]
        b = a.copy()
        b.rattle(0.1, seed=3)
        d_ref = ref._compare_structure(a.copy(), b.copy())
        assert ofp_distance(a, b, reference_binning=True) == pytest.approx(d_ref, rel=1e-8)


@pytest.mark.parametrize("reference", [True, False])
def test_numba_kernel_matches_numpy_twin(reference):
    rng = np.random.default_rng(1)
    p = FingerprintParams(rcut=7.0, reference_binning=reference)
    for _ in range(5):
        a = random_structure(rng)[:40]
        names = sorted(set(a.get_chemical_symbols()))
        types = np.array([names.index(s) for s in a.get_chemical_symbols()])
        cell = np.array(a.cell[:])
        h1 = _hist(a.positions, types, len(names), cell, p)
        h2 = pair_histogram_numpy(a.positions, types, len(names), cell, p)
        # exact mode tabulates the Gaussian shares (linear interpolation, ~1e-7)
        tol = 1e-12 if reference else 1e-6
        assert np.abs(h1 - h2).max() <= tol * np.abs(h2).max()


@pytest.mark.parametrize("reference", [True, False])
def test_invariances(reference):
    rng = np.random.default_rng(3)
    p = {"rcut": 8.0, "reference_binning": reference}
    a = random_structure(rng)[:24]
    moved = a.copy()
    moved.translate(rng.normal(size=3))
    moved.wrap()
    rot = a.copy()
    rot.set_cell(a.cell[:] @ Rotation.random(random_state=4).as_matrix().T, scale_atoms=True)
    perm = a[rng.permutation(len(a))]
    sup = make_supercell(a, np.array([[2, 0, 0], [0, 1, 1], [0, -1, 1]]))
    for other in (moved, rot, perm, sup):
        assert ofp_distance(a, other, **p) < 1e-10


def test_alpha_boron_and_simple_cubic_b12_differ():
    import spglib

    a = alpha_boron().to_atoms()
    sc = simple_cubic_xb12("Sr").to_atoms()
    for atoms, number in ((a, 166), (sc, 200)):  # R-3m; Th B12 in a cubic cell -> Pm-3
        cell = (atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers)
        assert spglib.get_symmetry_dataset(cell, symprec=1e-3).number == number
    sc_b = sc[[i for i, s in enumerate(sc.get_chemical_symbols()) if s == "B"]]
    assert ofp_distance(a, sc_b) > 0.01
    assert ofp_distance(a, sc) > 0.01  # different compositions are allowed


def test_shape_fingerprint_ignores_scale_only():
    """The pre-relaxation fingerprint: one structure at two scales is one structure (the
    plain fingerprint tells them apart); a different shape at the same scale is not."""
    for small, large in ((simple_cubic_xb12("Sr", 4.4), simple_cubic_xb12("Sr", 5.2)),
                         (alpha_boron(5.057), alpha_boron(5.8))):
        assert genome_distance(fingerprint_genome(small), fingerprint_genome(large)) > 0.01
        assert genome_distance(fingerprint_shape(small), fingerprint_shape(large)) < 1e-9
    fcc_like, sc_like = alpha_boron(5.057, 58.06), alpha_boron(5.057, 90.0)
    assert genome_distance(fingerprint_shape(fcc_like), fingerprint_shape(sc_like)) > 0.01


def test_unit_term_tells_packings_apart():
    """Same atoms, B12 units packed differently: the unit-centre term sees it."""
    g = simple_cubic_xb12("Sr", 4.4)
    from csp.genome import Genome

    two = Genome.from_units(np.diag([8.8, 4.4, 4.4]), [g.kinds[0]] * 2, [[0, 0, 0], [0.5, 0, 0]],
                            [[1, 0, 0, 0]] * 2, [38, 38], [[0.25, 0.5, 0.5], [0.75, 0.5, 0.5]])
    shifted = two.replace(unit_centres=np.array([[0, 0, 0], [0.5, 0.5, 0.0]]))
    fa, fb, fc = fingerprints([two, shifted, two])
    assert genome_distance(fa, fc) < 1e-12
    assert fa.units is not None and genome_distance(fa, fb) > genome_distance(fa, fb, 0.0) * 0.5
    d = distance_matrix([fa, fb, fc])
    assert d.shape == (3, 3) and d[0, 2] < 1e-12 and d[0, 1] > 1e-3
    assert d[0, 1] == pytest.approx(genome_distance(fa, fb), rel=1e-9)


def test_distance_matrix_equals_pairwise():
    rng = np.random.default_rng(11)
    structs = [random_structure(rng)[:30] for _ in range(6)]
    structs[5].set_chemical_symbols(["B"] * len(structs[5]))  # other pair keys than the rest
    p = FingerprintParams(rcut=6.0)
    fps = [fingerprint(s, p) for s in structs]
    assert len({fp.keys for fp in fps}) > 1
    d = distance_matrix(fps)
    from csp.fingerprint import cosine_distance

    for i in range(6):
        for j in range(6):
            if i != j:
                assert d[i, j] == pytest.approx(cosine_distance(fps[i], fps[j]), rel=1e-9, abs=1e-12)


def test_bad_parameters_are_errors():
    with pytest.raises(CspError, match="rcut"):
        FingerprintParams(rcut=-1)
    with pytest.raises(CspError, match="3D-periodic"):
        fingerprint(Atoms("B2", positions=[[0, 0, 0], [0, 0, 1.7]]))
    g = fingerprint_genome(simple_cubic_xb12())
    assert g.units is not None


def test_index_equals_pairwise_genome_distance():
    """The engine's duplicate index (one matrix product per query) gives the same
    distances as genome_distance, across compositions, with and without units, after
    removals."""
    from csp.build import Builder, BuildRequest
    from csp.config import parse_config
    from csp.fingerprint import FingerprintIndex, fingerprint_genome, genome_distance

    cfg = parse_config({"seed": 1, "composition": {"blocks": ["Sr", "B", "(B12)"],
                                                   "max_atoms": 26},
                        "pressure": 50, "relaxer": {"name": "fake"}})
    builder = Builder(cfg)
    genomes = [builder.build(BuildRequest(i, 50.0, 1)).genome for i in range(24)]
    assert len({g.formula for g in genomes}) > 5
    assert {g.n_units > 0 for g in genomes} == {True, False}
    fps = [fingerprint_genome(g) for g in genomes]
    index = FingerprintIndex()
    for i, fp in enumerate(fps):
        index.add(i, fp)
    for i in (3, 17, 0):
        index.remove(i)
    index.add(3, fps[3])
    assert len(index) == 22 and 17 not in index and 3 in index
    for q in fps:
        ref = np.array([genome_distance(q, fps[k]) for k in index])
        assert np.allclose(index.distances(q), ref, rtol=0, atol=1e-12)
        key, d = index.nearest(q)
        assert d == pytest.approx(ref.min(), abs=1e-12) and key in index
    assert FingerprintIndex().nearest(fps[0])[0] is None
