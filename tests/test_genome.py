"""Genome: expansion, Kabsch re-fit, topology check, JSON round trip."""

from __future__ import annotations

import numpy as np
import pytest
import spglib
from ase.neighborlist import neighbor_list
from hypothesis import given, settings
from hypothesis import strategies as st

from csp.genome import (
    Genome,
    GenomeError,
    check_unit_topology,
    fit_unit_relabelled,
    kabsch,
    matrix_to_quat,
    quat_to_matrix,
    random_quaternion,
)
from csp.units import get_unit, unit_names
from tests.conftest import alpha_boron, simple_cubic_xb12


def random_genome(seed: int, n_units: int, n_free: int, names: list[str]) -> Genome:
    rng = np.random.default_rng(seed)
    units = [get_unit(names[rng.integers(len(names))]) for _ in range(n_units)]
    cell = np.diag(rng.uniform(4.0, 12.0, 3)) + rng.normal(0, 0.8, (3, 3))
    return Genome.from_units(cell, units, rng.random((n_units, 3)),
                             random_quaternion(rng, n_units),
                             rng.integers(1, 57, n_free), rng.random((n_free, 3)))


def pair_distances(x: np.ndarray) -> np.ndarray:
    return np.linalg.norm(x[:, None] - x[None], axis=-1)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_units=st.integers(1, 6), n_free=st.integers(0, 6),
       names=st.lists(st.sampled_from(unit_names()), min_size=1, max_size=3))
def test_to_atoms_from_atoms_roundtrip(seed, n_units, n_free, names):
    g = random_genome(seed, n_units, n_free, names)
    atoms = g.to_atoms(wrap=True)  # wrapping must not matter
    assert atoms.get_chemical_symbols() == [a.symbol for a in g.to_atoms()]
    back, report = g.from_atoms(atoms)
    assert report.max_rmsd < 1e-8
    # random units may overlap each other (no validity check here), but each unit's own
    # bond graph is its template's
    assert all(f.intact or "inside the cage" in f.reason for f in report.fits)
    assert np.allclose(back.to_atoms().get_all_distances(mic=True),
                       atoms.get_all_distances(mic=True), atol=1e-8)
    # every unit keeps its template's internal distances
    start = 0
    pos = g.positions()
    for k in g.unit_kind:
        unit = g.kinds[k]
        sl = slice(start, start + len(unit))
        start += len(unit)
        assert np.abs(pair_distances(pos[sl]) - pair_distances(unit.positions)).max() < 1e-10
    # composition exact, quaternions recovered up to sign
    assert back.element_counts() == g.element_counts()
    assert back.unit_counts() == g.unit_counts()
    for k, q0, q1 in zip(g.unit_kind, g.unit_quats, back.unit_quats):
        body = g.kinds[k].positions  # compare poses on the atoms (a linear unit's spin is free)
        assert np.allclose(body @ quat_to_matrix(q0).T, body @ quat_to_matrix(q1).T, atol=1e-8)
    # JSON round trip is exact
    assert Genome.from_json(g.to_json()).equals(g, tol=0.0)


def test_refit_after_cell_strain_and_noise():
    rng = np.random.default_rng(3)
    units = [get_unit(n) for n in ("B12", "BH4", "C60", "B12")]
    centres = np.array([[0.25, 0.25, 0.25], [0.75, 0.25, 0.25], [0.25, 0.75, 0.75],
                        [0.75, 0.75, 0.25]])
    g = Genome.from_units(np.eye(3) * 18.0, units, centres, random_quaternion(rng, 4),
                          [3, 19, 11], [[0.75, 0.75, 0.75], [0.5, 0.5, 0.5], [0.0, 0.0, 0.0]])
    rng = np.random.default_rng(1)
    atoms = g.to_atoms()
    strain = np.eye(3) + rng.normal(0, 0.03, (3, 3))
    atoms.set_cell(atoms.cell[:] @ strain, scale_atoms=True)
    atoms.positions += rng.normal(0, 0.01, atoms.positions.shape)
    atoms.wrap()
    back, report = g.from_atoms(atoms)
    assert report.intact and 0.003 < report.max_rmsd < 0.15
    assert np.allclose(back.cell, atoms.cell[:])


def test_topology_flags_opened_icosahedron(srb12):
    atoms = srb12.to_atoms()
    centre = srb12.unit_centres[0] @ srb12.cell
    v = atoms.positions[0] - centre
    atoms.positions[0] += v / np.linalg.norm(v) * 1.0  # pull one vertex 1 Å out
    _, report = srb12.from_atoms(atoms)
    assert not report.intact
    assert "broken" in report.fits[0].reason


@pytest.mark.parametrize("name, builder", [("B12", alpha_boron), ("B12", simple_cubic_xb12),
                                           ("C60", None), ("CB11H12", None)])
def test_cage_rearranged_into_itself_is_intact(name, builder):
    """Relaxed atoms that form the same cage with like atoms relabelled (what a
    diamond-square-diamond path leaves behind) are an intact unit: the re-fit finds the
    relabelling, its RMSD is ~0 and the re-fitted genome is the same crystal. The same
    relabelling of a cage with one vertex pulled out stays broken."""
    if builder is None:
        unit = get_unit(name)
        g = Genome.from_units(np.eye(3) * 14.0, [unit], [[0.3, 0.4, 0.5]],
                              random_quaternion(np.random.default_rng(3), 1),
                              [19], [[0.0, 0.0, 0.0]])
    else:
        g = builder()
    unit = g.kinds[0]
    n = len(unit)
    rng = np.random.default_rng(7)
    # a relabelling of like atoms that is not a symmetry of the bond graph
    nums = unit.numbers
    for _ in range(100):
        perm = np.arange(n)
        for z in np.unique(nums):
            idx = np.flatnonzero(nums == z)
            perm[idx] = rng.permutation(idx)
        if not check_unit_topology(unit, unit.positions[perm])[0]:
            break
    rot = quat_to_matrix(random_quaternion(rng, 1)[0])
    atoms = g.to_atoms()
    centre = g.unit_centres[0] @ g.cell
    atoms.positions[:n] = centre + (unit.positions[perm] @ rot.T) @ quat_to_matrix(
        g.unit_quats[0]).T
    assert not check_unit_topology(unit, atoms.positions[:n])[0]
    new, report = g.from_atoms(atoms)
    fit = report.fits[0]
    assert fit.intact and fit.relabelled and fit.rmsd < 1e-8, fit
    back = new.to_atoms()
    df = back.get_scaled_positions()[:n, None] - atoms.get_scaled_positions()[None, :n]
    d = np.linalg.norm((df - np.round(df)) @ atoms.cell[:], axis=-1)
    assert d.min(axis=1).max() < 1e-8  # the same set of atoms (periodic images)
    assert np.array_equal(np.sort(back.numbers), np.sort(atoms.numbers))
    v = atoms.positions[0] - centre
    atoms.positions[0] += v / np.linalg.norm(v) * 1.0
    _, report = g.from_atoms(atoms)
    assert not report.intact and not report.fits[0].relabelled


@pytest.mark.parametrize("name", ["BH4", "NH4", "BF4", "SO4", "CO3"])
def test_relabelling_fit_of_a_centred_unit_with_its_centre_atom_pushed_out(name):
    """A unit with an atom at its centre (BH4, CO3), broken with that atom pushed off
    centre, as a relaxation left one in a PyXtal NaBH4 cell: the centre atom points
    nowhere, so it must not anchor the relabelling's frame (it did, and a template
    frame of zero length made the assignment NaN and the whole evaluation raise). The
    fit runs, and the unit stays broken."""
    unit = get_unit(name)
    centre = int(np.argmin(np.linalg.norm(unit.positions - unit.positions.mean(axis=0),
                                          axis=1)))
    rng = np.random.default_rng(11)
    g = Genome.from_units(np.eye(3) * 12.0, [unit], [[0.5, 0.5, 0.5]],
                          random_quaternion(rng, 1), [], np.zeros((0, 3)))
    for _ in range(40):
        pos = unit.positions.copy()
        v = rng.normal(size=3)
        pos[centre] += 0.3 * v / np.linalg.norm(v)
        pos += 0.05 * rng.normal(size=pos.shape)
        pos = pos @ quat_to_matrix(random_quaternion(rng, 1)[0]).T
        fit = fit_unit_relabelled(unit, pos)
        assert fit is None or np.isfinite(fit[3])
        atoms = g.to_atoms()
        far = (centre + 1) % len(unit)
        pos[far] += 1.5 * (pos[far] - pos[centre]) / np.linalg.norm(pos[far] - pos[centre])
        atoms.positions[: len(unit)] = pos - pos.mean(axis=0) + g.unit_centres[0] @ g.cell
        _, report = g.from_atoms(atoms)
        assert not report.intact and not report.fits[0].relabelled


def test_topology_flags_collapsed_cage():
    b12 = get_unit("B12")
    pos = b12.positions.copy()
    pos[0] *= -0.05  # vertex pushed through the centre: new intra-unit bonds
    ok, _ = check_unit_topology(b12, pos)
    assert not ok


def test_foreign_atom_inside_cage_is_flagged():
    c60 = get_unit("C60")
    g = Genome.from_units(np.eye(3) * 12, [c60], [[0.5, 0.5, 0.5]], [[1, 0, 0, 0]], [3],
                          [[0.0, 0.0, 0.0]])
    atoms = g.to_atoms()
    atoms.positions[-1] = g.unit_centres[0] @ g.cell + 0.3  # Li moved inside C60
    _, report = g.from_atoms(atoms)
    assert not report.intact and "inside" in report.fits[0].reason


@pytest.mark.parametrize("builder, sg", [(alpha_boron, 166), (simple_cubic_xb12, 200)])
def test_intact_b12_with_short_inter_unit_bonds(builder, sg):
    """alpha-B (R-3m) and simple-cubic SrB12: an ordered icosahedron on a cubic site has
    at most Th symmetry, so the simple-cubic XB12 crystal is Pm-3 (No. 200)."""
    g = builder()
    atoms = g.to_atoms(wrap=True)
    data = spglib.get_symmetry_dataset((atoms.cell[:], atoms.get_scaled_positions(),
                                        atoms.numbers), symprec=1e-3)
    assert data.number == sg
    # inter-unit B-B bonds are as short as the intra-unit ones (about 1.7 Å)
    i, j, d = neighbor_list("ijd", atoms, 1.9)
    bb = (atoms.numbers[i] == 5) & (atoms.numbers[j] == 5)
    owner = g.atom_unit_index()
    inter = d[bb & ((owner[i] != owner[j]) | (np.abs(d - 1.77) > 1e-3))]
    assert len(inter) > 0 and inter.max() < 1.8
    # a distance cut-off would merge all units into one network, the genome does not
    _, report = g.from_atoms(atoms)
    assert report.intact and report.max_rmsd < 1e-8


def test_kabsch_recovers_rotation():
    rng = np.random.default_rng(0)
    b12 = get_unit("B12")
    q = random_quaternion(rng)
    r = quat_to_matrix(q)
    target = b12.positions @ r.T + np.array([1.0, 2.0, 3.0])
    r2, t, rmsd = kabsch(b12.positions, target)
    assert rmsd < 1e-12 and np.allclose(r2, r) and np.allclose(t, [1, 2, 3])
    assert np.allclose(matrix_to_quat(r), q) or np.allclose(matrix_to_quat(r), -q)


def test_quaternions_uniform_and_normalised():
    q = random_quaternion(np.random.default_rng(5), 20000)
    assert np.allclose(np.linalg.norm(q, axis=1), 1.0)
    # rotated z axes are uniform on the sphere: mean ~ 0, <z^2> = 1/3
    z = quat_to_matrix(q)[:, :, 2]
    assert np.abs(z.mean(axis=0)).max() < 0.02
    assert abs((z[:, 2] ** 2).mean() - 1 / 3) < 0.01


def test_malformed_genomes_raise():
    b12 = get_unit("B12")
    with pytest.raises(GenomeError, match="unit_quats"):
        Genome.from_units(np.eye(3) * 5, [b12], [[0, 0, 0]], [[1, 1, 0, 0]])
    with pytest.raises(GenomeError, match="cell"):
        Genome(cell=np.zeros((3, 3)))
    with pytest.raises(GenomeError, match="unknown keys"):
        Genome.from_dict({"cell": np.eye(3).tolist(), "bogus": 1})
    g = simple_cubic_xb12()
    with pytest.raises(GenomeError, match="do not match"):
        g.from_atoms(alpha_boron().to_atoms())
