"""Seed library, unit recognition, prototype substitution."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import spglib
from ase.build import make_supercell
from csp.operators.generation import generate

from csp.composition import parse_composition
from csp.errors import CspError
from csp.recognition import recognise
from csp.seeds import load_seed_atoms, resolve_seed, seed_info, seed_names, substitute


def sg_of(atoms, symprec=0.01) -> int:
    return spglib.get_symmetry_dataset((atoms.cell[:], atoms.get_scaled_positions(),
                                        atoms.numbers), symprec=symprec).number


@pytest.mark.parametrize("name", seed_names())
def test_every_entry_loads_with_its_group_and_units(name):
    info = seed_info(name)
    atoms = load_seed_atoms(name)
    assert sg_of(atoms) == info.spacegroup
    genome, report = recognise(atoms)
    assert report.counts == info.units
    assert info.reference and info.conditions
    # the genome reproduces the crystal: same atoms, same sorted distances
    back = genome.to_atoms(wrap=True)
    assert sorted(back.get_chemical_symbols()) == sorted(atoms.get_chemical_symbols())
    d0 = np.sort(atoms.get_all_distances(mic=True).ravel())
    d1 = np.sort(back.get_all_distances(mic=True).ravel())
    assert np.abs(d0 - d1).max() < 0.1
    if genome.n_units:
        assert genome.from_atoms(back)[1].intact


def test_required_counts():
    assert recognise(load_seed_atoms("alpha-b"))[1].counts == {"B12": 1}
    prim = load_seed_atoms("k3c60")
    lat, pos, num = spglib.standardize_cell((prim.cell[:], prim.get_scaled_positions(), prim.numbers),
                                            to_primitive=True, symprec=0.01)
    from ase import Atoms

    _, rep = recognise(Atoms(numbers=num, scaled_positions=pos, cell=lat, pbc=True))
    assert rep.counts == {"C60": 1} and rep.free == {"K": 3}
    assert recognise(load_seed_atoms("nabh4"))[1].counts == {"BH4": 4}
    libh4 = recognise(load_seed_atoms("libh4"))[1]
    assert libh4.counts == {"BH4": 4} and libh4.free == {"Li": 4}
    b4c = recognise(load_seed_atoms("b4c"))[1]  # B12(CBC): inter-icosahedral B-B 1.77 Å
    assert b4c.counts == {"B12": 1} and b4c.free == {"B": 1, "C": 2}


def test_recognition_with_short_inter_unit_bonds_and_supercells():
    ab = load_seed_atoms("alpha-b")
    sup = make_supercell(ab, np.diag([2, 2, 1]))
    _, rep = recognise(sup)
    assert rep.counts == {"B12": 4} and rep.free == {}
    rng = np.random.default_rng(3)
    g = generate(parse_composition("K2 (B12H12)1"), 0.0, rng, spacegroup=202)
    _, rep = recognise(g.to_atoms(wrap=True))
    assert rep.counts == {"B12H12": 1} and rep.free == {"K": 2}


def test_element_substitution_on_load():
    for x in ("K", "Ca", "Sr", "Ba", "La"):
        atoms = load_seed_atoms("xb12", {"X": x})
        assert sorted(set(atoms.get_chemical_symbols())) == sorted({"B", x})
    with pytest.raises(CspError, match="no element"):
        load_seed_atoms("alpha-b", {"X": "Sr"})
    with pytest.raises(CspError, match="unknown seed"):
        seed_info("xb13")


def test_cscl_with_b12_gives_simple_cubic_xb12():
    g = resolve_seed({"prototype": "cscl", "replace": {"Cl": "B12"}, "elements": {"Cs": "Sr"}})[0]
    atoms = g.to_atoms(wrap=True)
    assert sg_of(atoms, 1e-3) == 200  # Pm-3: the icosahedron keeps the Th part of m-3m
    assert g.unit_counts() == {"B12": 1} and g.atom_counts() == {"Sr": 1}
    assert g.from_atoms(atoms)[1].intact


def test_nacl_and_antiperovskite_with_bh4():
    from csp.seeds import _prototype_atoms

    g = substitute(_prototype_atoms("nacl"), {"Cl": "BH4"})
    assert g.unit_counts() == {"BH4": 4} and sg_of(g.to_atoms(wrap=True), 1e-3) == 216
    g = substitute(load_seed_atoms("li3ocl"), {"Cl": "BH4"})
    assert g.unit_counts() == {"BH4": 1} and sg_of(g.to_atoms(wrap=True), 1e-3) == 215


def test_resolve_seed_errors():
    with pytest.raises(CspError, match="unknown key"):
        resolve_seed({"name": "xb12", "bogus": 1})
    with pytest.raises(CspError, match="does not exist"):
        resolve_seed("missing.cif")
    with pytest.raises(CspError, match="no 'Xe'"):
        resolve_seed({"prototype": "cscl", "replace": {"Xe": "B12"}})


def test_cli(tmp_path):
    run = lambda *a: subprocess.run([sys.executable, "-m", "csp", *a], capture_output=True,
                                    text=True, check=False)
    out = run("seeds", "list")
    assert out.returncode == 0 and all(n in out.stdout for n in seed_names())
    poscar = tmp_path / "POSCAR"
    assert run("seeds", "show", "xb12", "--element", "X=Ba", "--format", "poscar", "-o",
               str(poscar)).returncode == 0
    assert "Ba" in poscar.read_text()
    found = run("units", "find", str(poscar), "--json", str(tmp_path / "f.json"))
    assert found.returncode == 0 and "B12" in found.stdout and "Bax1" in found.stdout
    bad = run("seeds", "show", "nope")
    assert bad.returncode == 2 and "unknown seed 'nope'" in bad.stderr


def test_cif_export_carries_reference_to_stdout_and_file(tmp_path):
    """``csp seeds show NAME`` (CIF on stdout, the default) works and the exported CIF,
    like the library's, carries the reference and the conditions; it reads back."""
    from ase.io import read

    def run(*a):
        return subprocess.run([sys.executable, "-m", "csp", *a], capture_output=True, text=True,
                              check=False)

    out = run("seeds", "show", "nabh4")
    assert out.returncode == 0, out.stderr
    assert "Mater. Sci. Forum 443-444, 287 (2004)" in out.stdout
    assert "_publ_section_references" in out.stdout
    assert "room temperature" in out.stdout and "Warning" not in out.stderr
    cif = tmp_path / "ba.cif"
    assert run("seeds", "show", "xb12", "--element", "X=Ba", "-o", str(cif)).returncode == 0
    text = cif.read_text()
    assert "XB12" in text and "X->Ba" in text and "_exptl_special_details" in text
    assert read(cif).get_chemical_formula(mode="metal") == "BaB12"


def test_seed_files_without_suffix_and_substitution_errors(tmp_path):
    from ase.io import write

    write(tmp_path / "POSCAR", load_seed_atoms("xb12", {"X": "Ba"}), format="vasp")
    for spec in (str(tmp_path / "POSCAR"), {"file": str(tmp_path / "POSCAR")}):
        g = resolve_seed(spec)[0]
        assert g.unit_counts() == {"B12": 1} and g.atom_counts() == {"Ba": 1}
    g = resolve_seed({"file": str(tmp_path / "POSCAR"), "substitute": {"Ba": "Ca"}})[0]
    assert g.atom_counts() == {"Ca": 1}
    with pytest.raises(CspError, match="has no element 'Xe'"):
        resolve_seed({"file": str(tmp_path / "POSCAR"), "substitute": {"Xe": "Ca"}})
    with pytest.raises(CspError, match="does not exist"):
        resolve_seed({"file": str(tmp_path / "CONTCAR")})
    with pytest.raises(CspError, match="not both"):
        resolve_seed({"file": str(tmp_path / "POSCAR"), "name": "xb12"})


def test_substitution_of_one_wyckoff_orbit():
    """K3C60 has K on 4b (octahedral) and 8c (tetrahedral): replacing only the 4b K by
    NH4 gives (NH4)K2C60; the NH4 (Td) on the m-3 site lowers Fm-3 to F23."""
    g = resolve_seed({"prototype": "k3c60", "replace": {"K@4b": "NH4"}})[0]
    assert g.unit_counts() == {"C60": 4, "NH4": 4} and g.atom_counts() == {"K": 8}
    assert sg_of(g.to_atoms(wrap=True), 1e-2) == 196
    g = substitute(load_seed_atoms("li3ocl"), {"Cl@a": "BH4"})
    assert g.unit_counts() == {"BH4": 1}
    with pytest.raises(CspError, match="no Cl on Wyckoff position '1b'.*sites are a"):
        substitute(load_seed_atoms("li3ocl"), {"Cl@1b": "BH4"})


def test_wyckoff_substitution_where_spglib_finds_no_symmetry_is_a_csp_error():
    """spglib returns None for a crystal whose every atom has a twin 1e-4 Å away; a
    Wyckoff key then names the failure (it was an AttributeError on None.wyckoffs)."""
    atoms = load_seed_atoms("li3ocl")
    twin = atoms.copy()
    twin.positions += [1e-4, 0.0, 0.0]
    doubled = atoms + twin
    with pytest.raises(CspError, match=r"Cl@a=BH4: spglib finds no symmetry for Cl2Li6O2 at "
                                        r"symprec 0\.001"):
        substitute(doubled, {"Cl@a": "BH4"})


@pytest.mark.slow
def test_substituted_srb12_relaxes_to_simple_cubic_at_50_gpa():
    pytest.importorskip("sevenn")
    from csp.calculators import get_relaxer

    g = resolve_seed({"prototype": "cscl", "replace": {"Cl": "B12"}, "elements": {"Cs": "Sr"}})[0]
    out = get_relaxer("sevennet").relax(g.to_atoms(), 50.0)
    assert out.status == "relaxed"
    _, report = g.from_atoms(out.atoms)
    assert report.intact
    assert sg_of(out.atoms, 0.05) == 200
    assert abs(out.pressure_gpa - 50) < 0.5
