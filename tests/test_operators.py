"""Variation operators: units rigid, composition conserved/changed as declared,
quaternions normalised, children valid, same seed -> same child; kernel twins."""

from __future__ import annotations

import numpy as np
import pytest
from csp.operators._kernels import (
    axis_angle_quat,
    nearest_entity_distance,
    nearest_entity_distance_numpy,
    overlap,
    overlap_numpy,
    quat_multiply,
    quat_multiply_numpy,
)
from csp.operators.generation import generate
from csp.operators.registry import OPERATORS, make_operator
from csp.operators.validity import check_genome
from hypothesis import given, settings
from hypothesis import strategies as st

from csp.composition import parse_composition
from csp.errors import CspError
from csp.genome import Genome

_POOL: dict[str, list[Genome]] = {}


def pool(comp: str) -> list[Genome]:
    if comp not in _POOL:
        rng = np.random.default_rng(42)
        c = parse_composition(comp)
        _POOL[comp] = [generate(c, 0.0, rng) for _ in range(6)]
    return _POOL[comp]


def unit_distance_error(g: Genome) -> float:
    pos = g.positions()
    start, worst = 0, 0.0
    for k in g.unit_kind:
        u = g.kinds[k]
        x = pos[start:start + len(u)]
        start += len(u)
        d = np.linalg.norm(x[:, None] - x[None], axis=-1)
        d0 = np.linalg.norm(u.positions[:, None] - u.positions[None], axis=-1)
        worst = max(worst, float(np.abs(d - d0).max()))
    return worst


COMPOSITIONS = ["Sr2 (B12)2", "K2 (B12H12)1", "Na2 (BH4)2", "Li1 (BH4)1 (CN)1 Na1"]


def _block_change(before: Genome, after: Genome) -> tuple[dict, dict]:
    """(blocks lost, blocks gained): units by name, free atoms by element."""
    def blocks(g: Genome) -> dict:
        out = {f"({k})": v for k, v in g.unit_counts().items()}
        out.update(g.atom_counts())
        return out

    a, b = blocks(before), blocks(after)
    lost = {k: a.get(k, 0) - b.get(k, 0) for k in a if a.get(k, 0) > b.get(k, 0)}
    gained = {k: b.get(k, 0) - a.get(k, 0) for k in b if b.get(k, 0) > a.get(k, 0)}
    return lost, gained


@pytest.mark.parametrize("name", sorted(OPERATORS))
@settings(max_examples=12, deadline=None)
@given(comp=st.sampled_from(COMPOSITIONS), seed=st.integers(0, 2**31), i=st.integers(0, 5),
       j=st.integers(0, 5))
def test_operator_properties(name, comp, seed, i, j):
    parents = [pool(comp)[i], pool(comp)[j]]
    op = make_operator(name)
    child = op(parents, np.random.default_rng(seed))
    again = op(parents, np.random.default_rng(seed))
    if child is None:  # how often is test_every_operator_makes_children's business
        assert again is None
        return
    assert again is not None and child.equals(again, tol=0.0)  # same seed -> same child
    assert unit_distance_error(child) < 1e-10  # units rigid
    if len(child.unit_quats):
        assert np.abs(np.linalg.norm(child.unit_quats, axis=1) - 1).max() < 1e-12
    assert check_genome(child)[0]
    lost, gained = _block_change(parents[0], child)
    if name == "add":  # exactly one block more
        assert not lost and list(gained.values()) == [1]
    elif name == "remove":  # exactly one block less
        assert not gained and list(lost.values()) == [1]
    elif name == "transmute":  # one block turned into another
        assert list(lost.values()) == [1] and list(gained.values()) == [1]
    else:
        assert child.element_counts() == parents[0].element_counts()  # composition conserved
        assert child.unit_counts() == parents[0].unit_counts()


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_every_operator_makes_children(name):
    """Each operator gives a valid child on a fair share of calls (an operator that
    always returned None would pass the property test above)."""
    op = make_operator(name)
    made = tries = 0
    for comp in COMPOSITIONS:
        for s in range(10):
            parents = [pool(comp)[s % 6], pool(comp)[(s + 1) % 6]]
            made += op(parents, np.random.default_rng(s)) is not None
            tries += 1
    assert made >= 0.2 * tries, f"{name}: {made}/{tries} children"


def test_soft_mutation_declines_a_cell_of_one_entity():
    """A lone unit can only be translated rigidly (no change to the crystal): no child.
    Two entities (Ca + B6) move relative to each other."""
    op = make_operator("soft")
    lone = generate(parse_composition("(B12)1"), 0.0, np.random.default_rng(1),
                    spacegroup=(2, 230))
    assert op([lone], np.random.default_rng(2)) is None
    cab6 = generate(parse_composition("Ca1 (B6)1"), 0.0, np.random.default_rng(1),
                    spacegroup=(2, 230))
    child = op([cab6], np.random.default_rng(2))
    assert child is not None
    rel = lambda g: (g.atom_frac[0] - g.unit_centres[0]) % 1.0
    assert not np.allclose(rel(child), rel(cab6), atol=1e-3)


def test_redraw_is_a_new_symmetric_structure_of_the_parent_composition():
    """A fresh random draw at the parent's composition and volume: symmetric, a
    different structure, the same blocks; seeded."""
    from csp.fingerprint import fingerprint_shape, genome_distance

    op = make_operator("redraw")
    parent = generate(parse_composition("Ca2 (B6)2"), 0.0, np.random.default_rng(5))
    assert _spacegroup(parent) == 1  # general positions
    groups = set()
    for s in range(6):
        child = op([parent], np.random.default_rng(s))
        assert child.unit_counts() == {"B6": 2} and child.atom_counts() == {"Ca": 2}
        assert 0.95 - 1e-9 <= child.volume / parent.volume <= 1.15 + 1e-9
        assert unit_distance_error(child) < 1e-10 and check_genome(child)[0]
        assert genome_distance(fingerprint_shape(child), fingerprint_shape(parent)) > 0.01
        groups.add(_spacegroup(child))
    assert min(groups) > 1 and len(groups) >= 2  # drawn in space groups, several of them
    # only in general positions when asked so
    general = make_operator("redraw", spacegroups=None)([parent], np.random.default_rng(0))
    assert _spacegroup(general) == 1


def test_redraw_is_off_unless_configured():
    from csp.build import build_operators
    from csp.config import parse_config

    base = {"seed": 1, "outdir": "unused", "pressure": 0, "relaxer": {"name": "fake"}}
    fixed = parse_config({**base, "composition": "Ca1 (B6)1", "formula_units": [1, 2]})
    vc = {**base, "composition": {"blocks": ["Ca", "(B6)"], "min_atoms": 7, "max_atoms": 14},
          "search": {"spacegroups": [10, 230]}}
    assert "redraw" not in build_operators(fixed)
    assert "redraw" not in build_operators(parse_config(vc))
    assert "add" in build_operators(parse_config(vc))  # composition moves are on in vc
    op, weight, n_parents = build_operators(parse_config({**vc, "operators": {
        "redraw": 0.3}}))["redraw"]
    assert weight == pytest.approx(0.3) and n_parents == 1
    assert op.spacegroups == (10, 230)  # the search's own space-group range


def test_heredity_mixes_both_parents():
    a, b = pool("Sr2 (B12)2")[:2]
    op = make_operator("heredity")
    seen_b = 0
    for s in range(20):
        child = op([a, b], np.random.default_rng(s))
        if child is None:
            continue
        qs = {tuple(np.round(q, 8)) for q in child.unit_quats}
        if qs & {tuple(np.round(q, 8)) for q in b.unit_quats}:
            seen_b += 1
    assert seen_b > 0


def test_strain_preserves_volume_when_asked():
    g = pool("Sr2 (B12)2")[0]
    child = make_operator("strain", preserve_volume=True)([g], np.random.default_rng(1))
    assert child is not None and child.volume == pytest.approx(g.volume, rel=1e-9)


def test_charge_neutral_add_and_transmute():
    g = pool("K2 (B12H12)1")[0]
    ox = {"K": 1}
    for name in ("add", "transmute"):
        op = make_operator(name, oxidation=ox, blocks=["K", "(B12H12)"])
        for s in range(10):
            child = op([g], np.random.default_rng(s))
            if child is not None:
                assert child.charge(ox) == 0


def test_unknown_operator_and_parameter():
    with pytest.raises(CspError, match="unknown operator 'mate'"):
        make_operator("mate")
    with pytest.raises(CspError, match="unknown parameter"):
        make_operator("strain", bogus=1)


def test_kernel_twins():
    rng = np.random.default_rng(0)
    for _ in range(20):
        a, b = rng.normal(size=4), rng.normal(size=4)
        a /= np.linalg.norm(a)
        b /= np.linalg.norm(b)
        assert np.allclose(quat_multiply(a, b), quat_multiply_numpy(a, b), atol=1e-12)
        q = axis_angle_quat(rng.normal(size=3), float(rng.uniform(-6, 6)))
        assert abs(np.linalg.norm(q) - 1) < 1e-14
    g = pool("Na2 (BH4)2")[0]
    pos, cell, owner = g.positions(), g.cell, g.atom_unit_index()
    from csp.operators.validity import Limits, type_table

    uniq, types = np.unique(g.numbers(), return_inverse=True)
    table = type_table(tuple(uniq.tolist()), Limits())
    r1, r2 = overlap(pos, cell, types, owner, table), overlap_numpy(pos, cell, types, owner, table)
    assert r1[0] == pytest.approx(r2[0], rel=1e-12) and r1[1:] == r2[1:]
    entity = np.where(owner >= 0, owner, g.n_units + np.cumsum(owner < 0) - 1)
    n = g.n_units + g.n_free
    assert np.allclose(nearest_entity_distance(pos, cell, entity, n),
                       nearest_entity_distance_numpy(pos, cell, entity, n), atol=1e-12)


def test_heredity_between_different_compositions():
    """Variable composition: a parent may lack the other's unit kinds; the child takes the
    first parent's composition and never fails on the foreign kinds."""
    rng = np.random.default_rng(0)
    a = generate(parse_composition("Sr4 B6"), 50.0, rng)
    b = generate(parse_composition("Sr1 (B12)1"), 50.0, rng)
    op = make_operator("heredity")
    for s in range(6):
        for p, q in ((a, b), (b, a)):
            child = op([p, q], np.random.default_rng(s))
            if child is not None:
                assert child.element_counts() == p.element_counts()
                assert child.unit_counts() == p.unit_counts()


def _brute_min_ratio(pos, cell, types, owner, table, reach=3):
    """Independent reference: raw displacements, every shift up to +-reach, only the
    zero shift of two atoms of the same unit (or an atom with itself) exempt."""
    best = np.inf
    shifts = np.array([[a, b, c] for a in range(-reach, reach + 1)
                       for b in range(-reach, reach + 1) for c in range(-reach, reach + 1)])
    for i in range(len(pos)):
        for j in range(i, len(pos)):
            d = np.linalg.norm(pos[j] - pos[i] + shifts @ cell, axis=1)
            if i == j or (owner[i] >= 0 and owner[i] == owner[j]):
                d[np.all(shifts == 0, axis=1)] = np.inf
            best = min(best, float(d.min() / table[types[i], types[j]]))
    return best


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31), edge=st.floats(3.2, 6.0), skew=st.floats(0.0, 0.45))
def test_overlap_kernel_sees_every_image(seed, edge, skew):
    """Units unwrapped around centres near a face reach beyond the cell; the kernel must
    still find the nearest image (a raw-displacement kernel with +-1 shifts does not)."""
    from csp.operators.validity import Limits, type_table

    from csp.units import get_unit

    rng = np.random.default_rng(seed)
    cell = np.array([[edge, 0, 0], [skew * edge, edge, 0], [0.3 * skew * edge, 0, 1.1 * edge]])
    q = rng.normal(size=4)
    g = Genome.from_units(cell, [get_unit("B12")], [rng.uniform(0.8, 1.0, 3)],
                          [q / np.linalg.norm(q)], [38, 38], rng.random((2, 3)))
    uniq, types = np.unique(g.numbers(), return_inverse=True)
    table = type_table(tuple(uniq.tolist()), Limits())
    pos, owner = g.positions(), g.atom_unit_index()
    ratio = overlap(pos, cell, types, owner, table)[0]
    assert ratio == pytest.approx(_brute_min_ratio(pos, cell, types, owner, table), rel=1e-12)
    first = overlap(pos, cell, types, owner, table, first=True)[0]
    assert (first < 1.0) == (ratio < 1.0)


def test_cell_reduction_matches_ase_minkowski():
    from ase.geometry import minkowski_reduce
    from csp.operators._kernels import reduce_basis

    rng = np.random.default_rng(11)
    for _ in range(300):
        cell = rng.normal(size=(3, 3)) * 3 + np.eye(3) * 2
        skew = np.eye(3, dtype=int)
        skew[rng.integers(3), (rng.integers(1, 3) + 0) % 3] = rng.integers(-5, 6)
        cell = skew @ cell if round(abs(np.linalg.det(skew))) == 1 else cell
        if abs(np.linalg.det(cell)) < 1.0:
            continue
        red, op = reduce_basis(cell)
        ref, _ = minkowski_reduce(cell)
        assert np.allclose(op @ cell, red, atol=1e-9) and round(np.linalg.det(op)) == 1
        assert np.allclose(np.sort(np.linalg.norm(red, axis=1)),
                           np.sort(np.linalg.norm(ref, axis=1)), rtol=1e-9)


def _spacegroup(g: Genome, symprec: float = 1e-3) -> int:
    import spglib

    a = g.to_atoms(wrap=True)
    return spglib.get_symmetry_dataset((a.cell[:], a.get_scaled_positions(), a.numbers),
                                       symprec=symprec).number


@pytest.mark.parametrize("comp, sg", [("(B12)1", 204), ("Sr1 (B12)1", 200),
                                      ("K2 (B12H12)1", 202), ("Na1 (BH4)1", 216)])
def test_break_symmetry_distorts_rigidly_and_conserves_composition(comp, sg):
    from csp.operators.variation import break_symmetry

    c = parse_composition(comp)
    rng = np.random.default_rng(3)
    g = generate(c, 0.0, rng, spacegroup=sg)
    assert _spacegroup(g) >= 195  # cubic start
    child = break_symmetry(g, np.random.default_rng(4), 0.05)
    # no symmetry left at 0.01 Å tolerance, but the inversion centre of a lone
    # centrosymmetric unit, which no rigid distortion can remove
    assert _spacegroup(child, symprec=1e-2) == (2 if comp == "(B12)1" else 1)
    assert child.element_counts() == g.element_counts()
    assert child.unit_counts() == g.unit_counts()
    assert unit_distance_error(child) < 1e-9  # units rigid
    assert check_genome(child)[0]
    # every atom moves by about sigma: rms displacement within a factor ~2 of
    # sqrt(3) x 0.05 Å (centre shift + rotation + strain), nothing moves by 0.5 Å
    d = child.positions() - g.positions()
    frac = d @ np.linalg.inv(child.cell)
    d = (frac - np.round(frac)) @ child.cell
    rms = float(np.sqrt((d ** 2).sum(axis=1).mean()))
    assert 0.03 < rms < 0.25 and np.abs(d).max() < 0.5
    assert abs(child.volume / g.volume - 1) < 0.1
    # seeded and switchable
    again = break_symmetry(g, np.random.default_rng(4), 0.05)
    assert again.equals(child)
    assert break_symmetry(g, np.random.default_rng(4), 0.0) is g
