"""Convex hulls: parity with pymatgen, unit coordinates, CLI tables/plots, quench."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from ase import Atoms
from ase.db import connect
from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
from pymatgen.core import Composition

from csp.errors import CspError
from csp.hull import Hull, HullEntry, hull_benchmark_entries, quench


def _pymatgen(entries):
    pes = [PDEntry(Composition(e.composition),
                   e.enthalpy_per_atom * Composition(e.composition).num_atoms) for e in entries]
    return PhaseDiagram(pes), pes


def test_hand_built_binary_known_answer():
    # A, B at 0; AB at -0.5 eV/atom (stable); A3B at -0.2 (above the A-AB line: -0.25)
    entries = [HullEntry("A", {"Sr": 1}, 0.0), HullEntry("B", {"B": 1}, 0.0),
               HullEntry("AB", {"Sr": 1, "B": 1}, -0.5), HullEntry("A3B", {"Sr": 3, "B": 1}, -0.2),
               HullEntry("B2hi", {"B": 2}, 0.1)]
    h = Hull(entries, 50.0)
    assert h.formation_enthalpy(2) == pytest.approx(-0.5, abs=1e-12)
    assert h.e_above_hull(3) == pytest.approx(0.05, abs=1e-12)
    assert h.e_above_hull(4) == pytest.approx(0.1, abs=1e-12)
    assert [entries[i].id for i in h.stable_indices()] == ["A", "B", "AB"]


@pytest.mark.parametrize("elements", [["Sr", "B"], ["K", "B", "H"]])
def test_parity_with_pymatgen(elements):
    entries = hull_benchmark_entries(120, elements, np.random.default_rng(4))
    h = Hull(entries)
    pd, pes = _pymatgen(entries)
    for i, pe in enumerate(pes):
        assert h.e_above_hull(i) == pytest.approx(pd.get_e_above_hull(pe), abs=1e-9)
        assert h.formation_enthalpy(i) == pytest.approx(pd.get_form_energy_per_atom(pe), abs=1e-9)
    assert set(h.stable_indices()) == {i for i, pe in enumerate(pes) if pe in pd.stable_entries}


def test_missing_end_member_is_not_invented():
    with pytest.raises(CspError, match="no elemental reference for \\['B'\\]"):
        Hull([HullEntry(1, {"Sr": 1}, 0.0), HullEntry(2, {"Sr": 1, "B": 6}, -0.3)])


def test_unit_coordinates_pseudo_binary():
    e = [HullEntry("a", {"Li": 2, "B": 12, "H": 12}, -1.0), HullEntry("b", {"Li": 1, "B": 1, "H": 4}, -0.8),
         HullEntry("ab", {"Li": 3, "B": 13, "H": 16}, -0.95)]
    h = Hull(e, 0.0, endmembers=["Li2B12H12", "LiBH4"])
    assert h.elements == ["Li2B12H12", "LiBH4"]
    # linear interpolation at 'ab' (26 + 6 atoms): (26 x -1.0 + 6 x -0.8) / 32 = -0.9625
    assert h.e_above_hull(2) == pytest.approx(-0.95 + 0.9625, abs=1e-9)
    assert h.stable_indices() == [0, 1]


def make_db(path, pressure=50.0):
    """A small database as a search writes it."""
    db = connect(str(path))
    rows = [("Sr", 1, 0, -1.0), ("B", 0, 12, -6.0), ("SrB6", 1, 6, -5.6), ("SrB12", 1, 12, -5.9),
            ("Sr2B12", 2, 12, -5.2), ("SrB12b", 1, 12, -5.8)]
    for name, nsr, nb, h in rows:
        n = nsr + nb
        atoms = Atoms(["Sr"] * nsr + ["B"] * nb, positions=np.random.default_rng(n).random((n, 3)) * 4,
                      cell=np.eye(3) * 6, pbc=True)
        db.write(atoms, status="relaxed", enthalpy_per_atom=h, pressure_gpa=pressure,
                 units_intact=True, spacegroup="P1", origin="random")
    db.write(Atoms("B", cell=np.eye(3) * 3, pbc=True), status="failed", reason="crashed: x",
             pressure_gpa=pressure)
    return path


def test_cli_hull_writes_tables_and_plot(tmp_path):
    make_db(tmp_path / "csp.db")
    png = tmp_path / "hull.png"
    out = subprocess.run([sys.executable, "-m", "csp", "hull", str(tmp_path), "--pressure", "50",
                          "--plot", str(png)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "SrB12" in out.stdout and png.stat().st_size > 10_000
    data = json.loads((tmp_path / "hull.json").read_text())
    rec = {}
    for r in sorted(data["records"], key=lambda r: -r["enthalpy_per_atom"]):
        rec[r["formula"]] = r  # the lowest structure per formula
    keys = {"id", "formula", "fraction", "enthalpy_per_atom", "formation_enthalpy", "e_above_hull",
            "stable", "spacegroup", "pressure_gpa"}
    assert keys <= set(rec["SrB12"])
    assert rec["SrB12"]["stable"] and not rec["Sr2B12"]["stable"]
    # SrB12: -5.9 - (1/13 x -1 + 12/13 x -6) = -0.0154 eV/atom
    assert rec["SrB12"]["formation_enthalpy"] == pytest.approx(-5.9 - (-1 - 72) / 13, abs=1e-9)
    assert (tmp_path / "hull.csv").read_text().startswith("id,formula")
    bad = subprocess.run([sys.executable, "-m", "csp", "hull", str(tmp_path), "--pressure", "3"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "no relaxed structures at 3 GPa" in bad.stderr


class _EMTRelaxer:
    """A real (cheap) relaxation: EMT + FrechetCellFilter at a pressure."""

    name = "emt"

    def relax(self, atoms, pressure_gpa, workdir=None):
        from ase.calculators.emt import EMT
        from ase.filters import FrechetCellFilter
        from ase.optimize import BFGS
        from ase.units import GPa
        from csp.calculators.base import RelaxOutcome, enthalpy, pressure_from_stress

        a = atoms.copy()
        a.calc = EMT()
        BFGS(FrechetCellFilter(a, scalar_pressure=pressure_gpa * GPa), logfile=None).run(
            fmax=0.01, steps=300)
        e = a.get_potential_energy()
        out = a.copy()
        return RelaxOutcome("relaxed", atoms=out, energy=e,
                            enthalpy=enthalpy(e, a.get_volume(), pressure_gpa),
                            pressure_gpa=pressure_from_stress(a.get_stress()),
                            target_pressure_gpa=pressure_gpa)


def test_quench_rerelaxes_hull_phases(tmp_path):
    from ase.build import bulk

    db = connect(str(tmp_path / "csp.db"))
    rel = _EMTRelaxer()
    for sym, struct in (("Cu", bulk("Cu", "fcc", 3.6)), ("Al", bulk("Al", "fcc", 4.05)),
                        ("CuAl", bulk("Cu", "bcc", 3.0) * (1, 1, 2))):
        a = struct.copy()
        if sym == "CuAl":
            a.symbols[1] = "Al"
        out = rel.relax(a, 10.0)
        db.write(out.atoms, status="relaxed", enthalpy_per_atom=out.enthalpy_per_atom,
                 pressure_gpa=10.0, units_intact=True, spacegroup="")
    done = quench(tmp_path / "csp.db", 10.0, 0.0, rel, max_ehull=1.0, workroot=tmp_path / "w")
    assert {d["formula"] for d in done} == {"Cu", "Al", "AlCu"}
    assert all(d["status"] == "relaxed" and np.isfinite(d["e_above_hull"]) for d in done)
    rows = list(connect(str(tmp_path / "csp.db")).select(origin="quench"))
    assert len(rows) == 3 and all(abs(r.pressure_gpa) < 1e-12 for r in rows)
    # quenched to 0 GPa, the cells expand
    v10 = {r.formula: r.volume / r.natoms for r in connect(str(tmp_path / "csp.db")).select(pressure_gpa=10.0)}
    for r in rows:
        assert r.volume / r.natoms > v10[r.formula]
