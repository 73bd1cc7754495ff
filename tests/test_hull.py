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
from csp.genome import Genome
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
                          "--plot", str(png)], capture_output=True, text=True, check=False)
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
                         capture_output=True, text=True, check=False)
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
        genome = Genome.from_units(out.atoms.cell[:], [], np.zeros((0, 3)), np.zeros((0, 4)),
                                   out.atoms.numbers, out.atoms.get_scaled_positions())
        db.write(out.atoms, status="relaxed", enthalpy_per_atom=out.enthalpy_per_atom,
                 pressure_gpa=10.0, units_intact=True, spacegroup="",
                 data={"genome": genome.to_dict()})
    done = quench(tmp_path / "csp.db", 10.0, 0.0, rel, max_ehull=1.0, workroot=tmp_path / "w")
    assert {d["formula"] for d in done} == {"Cu", "Al", "AlCu"}
    assert all(d["status"] == "relaxed" and np.isfinite(d["e_above_hull"]) for d in done)
    rows = list(connect(str(tmp_path / "csp.db")).select(origin="quench"))
    assert len(rows) == 3 and all(abs(r.pressure_gpa) < 1e-12 for r in rows)
    # each quenched row keeps its genome re-fitted to the relaxed (0 GPa) cell and atoms
    for r in rows:
        assert r.units_intact
        g = Genome.from_dict(r.data["genome"]).to_atoms()
        assert np.allclose(g.cell[:], r.cell[:]) and (g.numbers == r.numbers).all()
        d = g.get_scaled_positions() - r.toatoms().get_scaled_positions()
        assert np.allclose(d - np.round(d), 0.0, atol=1e-8)  # the same sites, modulo the cell
    # quenched to 0 GPa, the cells expand
    v10 = {r.formula: r.volume / r.natoms for r in connect(str(tmp_path / "csp.db")).select(pressure_gpa=10.0)}
    for r in rows:
        assert r.volume / r.natoms > v10[r.formula]


def test_unit_coordinates_match_a_brute_force_lower_hull():
    """Pseudo-binary Li2B12H12-LiBH4: ΔH_hull per atom of every mixture equals the lower
    convex hull over atom fractions (all pairs of points), to 1e-9 eV/atom."""
    rng = np.random.default_rng(11)
    a, b = {"Li": 2, "B": 12, "H": 12}, {"Li": 1, "B": 1, "H": 4}
    entries = [HullEntry(0, a, -1.0), HullEntry(1, b, -0.8)]
    for k in range(40):
        m, n = (int(v) for v in rng.integers(0, 4, 2))
        if m + n == 0:
            continue
        comp = {el: m * a[el] + n * b[el] for el in a}
        entries.append(HullEntry(k + 2, comp, float(rng.normal(-0.95, 0.05))))
    h = Hull(entries, 0.0, endmembers=["Li2B12H12", "LiBH4"])
    x = np.array([h.fraction(i)[1] for i in range(len(entries))])
    e = np.array([en.enthalpy_per_atom for en in entries])
    for i in range(len(entries)):
        best = np.inf
        for j in range(len(entries)):
            for k in range(len(entries)):
                if x[j] <= x[i] + 1e-12 and x[k] >= x[i] - 1e-12:
                    t = 0.0 if abs(x[k] - x[j]) < 1e-12 else (x[i] - x[j]) / (x[k] - x[j])
                    best = min(best, (1 - t) * e[j] + t * e[k])
        assert h.e_above_hull(i) == pytest.approx(e[i] - best, abs=1e-9)
        # 26 atoms per Li2B12H12, 6 per LiBH4: x is the fraction of atoms in LiBH4
        c = entries[i].composition  # n LiBH4 = (H - B) / 3, 6 atoms each
        assert x[i] == pytest.approx(2 * (c["H"] - c["B"]) / sum(c.values()), abs=1e-12)


def _captured_plot(monkeypatch, fn, *args):
    """Run a plot function, keep its figure open, return (figure, axes)."""
    import csp.plotting as P

    kept = {}
    monkeypatch.setattr(P, "_save", lambda fig, path: kept.setdefault("fig", fig) and path)
    fn(*args)
    fig = kept["fig"]
    return fig, fig.axes[0]


def _label_boxes(fig, ax):
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    return {t.get_text(): t.get_window_extent(r) for t in ax.texts}


def test_binary_plot_labels_are_readable(monkeypatch):
    """Close stable phases get separate, non-overlapping labels inside the axes, with
    the formula and space group; axes carry units."""
    from csp.plotting import plot_binary

    ents = [HullEntry(1, {"Sr": 1}, 0.0, spacegroup="Fm-3m"),
            HullEntry(2, {"B": 1}, 0.0, spacegroup="R-3m"),
            HullEntry(3, {"Sr": 3, "B": 10}, -1.42, spacegroup="R3m"),
            HullEntry(4, {"Sr": 3, "B": 11}, -1.45, spacegroup="F-43m"),
            HullEntry(5, {"Sr": 1, "B": 12}, -1.27, spacegroup="Pm-3"),
            HullEntry(6, {"Sr": 3, "B": 10}, -1.30), HullEntry(7, {"B": 2}, 0.04)]
    fig, ax = _captured_plot(monkeypatch, plot_binary, Hull(ents, 50.0), "unused.png")
    assert "meV/atom" in ax.get_ylabel() and "Sr" in ax.get_xlabel()
    boxes = _label_boxes(fig, ax)
    assert len(boxes) == 5 and any("F-43m" in t for t in boxes) and any("Pm-3" in t for t in boxes)
    inner = ax.get_window_extent()
    items = list(boxes.values())
    for k, p in enumerate(items):
        assert inner.x0 <= p.x0 and p.x1 <= inner.x1 and inner.y0 <= p.y0 and p.y1 <= inner.y1
        for q in items[k + 1:]:
            assert not p.overlaps(q)
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_unit_coordinate_labels_name_end_members(monkeypatch):
    from csp.plotting import _label, plot_binary

    e = [HullEntry("a", {"Li": 2, "B": 12, "H": 12}, -1.0),
         HullEntry("b", {"Li": 1, "B": 1, "H": 4}, -0.8),
         HullEntry("ab3", {"Li": 5, "B": 15, "H": 24}, -0.99)]
    h = Hull(e, 0.0, endmembers=["Li2B12H12", "LiBH4"])
    assert [_label(h, i) for i in range(3)] == ["Li2B12H12", "LiBH4", "(Li2B12H12)(LiBH4)3"]
    fig, ax = _captured_plot(monkeypatch, plot_binary, h, "unused.png")
    assert "fraction of atoms" in ax.get_xlabel()
    texts = {t.get_text() for t in ax.texts}
    assert any("Li$_{2}$B$_{12}$H$_{12}$" in t for t in texts)
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_cli_ternary_and_pressure_plots(tmp_path):
    """A K-B-H database at two pressures: ternary plot, pressure comparison plot."""
    db = connect(str(tmp_path / "csp.db"))
    rows = [("K", -1.0), ("B", -6.0), ("H2", -3.4), ("KH", -2.6), ("KB6", -5.5), ("KBH4", -3.9),
            ("K2B6H6", -4.3), ("KB2", -3.0)]
    for p, shift in ((0.0, 0.0), (50.0, 0.1)):
        for k, (f, h) in enumerate(rows):
            from ase.formula import Formula

            syms = list(Formula(f))
            n = len(syms)
            atoms = Atoms(syms, positions=np.random.default_rng(n).random((n, 3)) * 4,
                          cell=np.eye(3) * 6, pbc=True)
            db.write(atoms, status="relaxed", enthalpy_per_atom=h + shift * (k % 3 - 1),
                     pressure_gpa=p, units_intact=True, spacegroup="P1", origin="random")
    run = lambda *a: subprocess.run([sys.executable, "-m", "csp", "hull", str(tmp_path), *a],
                                    capture_output=True, text=True, check=False)
    out = run("--pressure", "0", "--plot", str(tmp_path / "t.png"))
    assert out.returncode == 0, out.stderr
    assert "end members K, B, H" in out.stdout
    assert (tmp_path / "t.png").stat().st_size > 10_000
    out = run("--pressures", "0,50", "--plot", str(tmp_path / "p.png"))
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "p.png").stat().st_size > 10_000
    assert "hull at 0 GPa" in out.stdout and "hull at 50 GPa" in out.stdout


def test_unit_coordinates_leave_out_other_compositions():
    """A database holds more than one pseudo-binary: structures that are not combinations
    of the chosen end members (pure Li here) are left out, not a crash."""
    e = [HullEntry("a", {"Li": 2, "B": 12, "H": 12}, -1.0),
         HullEntry("b", {"Li": 1, "B": 1, "H": 4}, -0.8),
         HullEntry("li", {"Li": 1}, -0.5), HullEntry("ab", {"Li": 3, "B": 13, "H": 16}, -0.95)]
    h = Hull(e, 0.0, endmembers=["Li2B12H12", "LiBH4"])
    assert [x.id for x in h.excluded] == ["li"] and [x.id for x in h.entries] == ["a", "b", "ab"]
    assert h.e_above_hull(2) == pytest.approx(-0.95 + 0.9625, abs=1e-9)
    with pytest.raises(CspError, match="no structure is a combination"):
        Hull(e[2:3], 0.0, endmembers=["Li2B12H12", "LiBH4"])
