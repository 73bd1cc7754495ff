"""The unit library: atoms, point groups, bond graphs, user units, CLI."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from pymatgen.core import Molecule
from pymatgen.symmetry.analyzer import PointGroupAnalyzer

from csp.composition import CompositionError, parse_composition
from csp.units import UnitError, builtin_units, get_unit, unit_from_xyz

REQUIRED = {
    # name: (formula counts, point group, charge)
    "B12": ({"B": 12}, "Ih", 0), "B6": ({"B": 6}, "Oh", 0), "C60": ({"C": 60}, "Ih", 0),
    "BH4": ({"B": 1, "H": 4}, "Td", -1), "AlH4": ({"Al": 1, "H": 4}, "Td", -1),
    "BF4": ({"B": 1, "F": 4}, "Td", -1), "B12H12": ({"B": 12, "H": 12}, "Ih", -2),
    "CB11H12": ({"C": 1, "B": 11, "H": 12}, "C5v", -1), "CN": ({"C": 1, "N": 1}, "C*v", -1),
    "NO3": ({"N": 1, "O": 3}, "D3h", -1), "CO3": ({"C": 1, "O": 3}, "D3h", -2),
    "SO4": ({"S": 1, "O": 4}, "Td", -2), "NH4": ({"N": 1, "H": 4}, "Td", 1),
    "CH3NH3": ({"C": 1, "N": 1, "H": 6}, "C3v", 1),
}
GROUP_ORDER = {"Ih": 120, "Oh": 48, "Td": 24, "C5v": 10, "D3h": 12, "C3v": 6}


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_template_atoms_charge_and_point_group(name):
    counts, pg, charge = REQUIRED[name]
    unit = get_unit(name)
    assert unit.counts() == counts
    assert unit.charge == charge
    assert unit.point_group == pg
    mol = Molecule([int(z) for z in unit.numbers], unit.positions)
    # eigen_tolerance: CB11H12 is nearly a spherical top (inertia eigenvalues within 1%)
    found = PointGroupAnalyzer(mol, tolerance=0.01, eigen_tolerance=1e-3).sch_symbol
    assert found == pg
    assert np.allclose(unit.positions.mean(axis=0), 0.0, atol=1e-12)
    if pg in GROUP_ORDER:
        ops = unit.symmetry_operations()
        assert len(ops) == GROUP_ORDER[pg]
        for m in ops:  # every operation maps the template onto itself
            new = unit.positions @ m.T
            d = np.linalg.norm(new[:, None] - unit.positions[None], axis=-1)
            d[unit.numbers[:, None] != unit.numbers[None, :]] = np.inf
            assert d.min(axis=1).max() < 1e-6


def test_bond_lengths_match_cited_values():
    def bonds(name):
        u = get_unit(name)
        return np.linalg.norm(u.positions[u.bonds[:, 0]] - u.positions[u.bonds[:, 1]], axis=1)

    assert np.allclose(bonds("B12"), 1.77) and len(bonds("B12")) == 30
    assert np.allclose(bonds("B6"), 1.75) and len(bonds("B6")) == 12
    c60 = np.sort(bonds("C60"))
    assert len(c60) == 90
    assert np.allclose(c60[:30], 1.401) and np.allclose(c60[30:], 1.458)
    assert np.allclose(bonds("BH4"), 1.22)
    b12h12 = get_unit("B12H12")
    assert len(b12h12.bonds) == 42  # 30 B-B + 12 B-H


def test_library_covers_the_required_units():
    assert set(REQUIRED) <= set(builtin_units())


def test_unknown_unit_is_a_clear_error():
    with pytest.raises(UnitError, match="unknown unit 'XYZ'"):
        get_unit("XYZ")
    assert get_unit("bh4-").name == "BH4"


def test_user_unit_from_xyz(tmp_path):
    path = tmp_path / "nh4.xyz"
    path.write_text(get_unit("NH4").to_xyz())
    unit = unit_from_xyz(path)
    assert unit.charge == 1 and unit.point_group == "Td" and len(unit.bonds) == 4
    other = unit_from_xyz(path, charge=0, name="X")
    assert other.charge == 0 and other.name == "X"
    with pytest.raises(UnitError, match="does not exist"):
        unit_from_xyz(tmp_path / "missing.xyz")


def test_unit_json_roundtrip():
    for unit in builtin_units().values():
        from csp.units import Unit

        back = Unit.from_dict(unit.to_dict())
        assert back.same_as(unit, tol=0.0)


def test_composition_parser():
    c = parse_composition("K2 (B12H12)1")
    assert c.units == {"B12H12": 1} and c.atoms == {"K": 2}
    assert c.n_atoms == 26 and c.charge() == 0
    assert parse_composition("Sr (B12)").element_counts() == {"B": 12, "Sr": 1}
    for bad, msg in [("Xq2", "Xq"), ("(B13)1", "B13"), ("", "non-empty"), ("K2 $", r"\$")]:
        with pytest.raises(CompositionError, match=msg):
            parse_composition(bad)


def test_cli_units_list_and_show(tmp_path):
    out = subprocess.run([sys.executable, "-m", "csp", "units", "list"], capture_output=True,
                         text=True, check=True).stdout
    for name in REQUIRED:
        assert f"\n{name} " in "\n" + out
    xyz = tmp_path / "b12.xyz"
    subprocess.run([sys.executable, "-m", "csp", "units", "show", "B12", "-o", str(xyz)],
                   check=True, capture_output=True)
    assert unit_from_xyz(xyz).point_group == "Ih"
    bad = subprocess.run([sys.executable, "-m", "csp", "units", "show", "B13"],
                         capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and "unknown unit 'B13'" in bad.stderr
    assert "Traceback" not in bad.stderr
