"""VASP driver: input files and output parsing (VASP cannot run here: file formats only).

Real VASP output: ASE ships an OUTCAR written by VASP 5.3.3 (Ni18, single point) and a
vasprun.xml written by VASP 6.3.0 with PSTRESS in its test data; the parsers are checked
on them against ASE's own readers. The relaxation outcomes (converged at PSTRESS, NELM
hit, NSW exhausted, ZBRENT) are classified on hand-written OUTCAR/CONTCAR/stdout files
in tests/data/vasp, laid out as VASP 6 writes them (numbers not from a real run), and
the POTCARs there are stubs (real ones are licensed)."""

from __future__ import annotations

import shutil
import stat
import textwrap
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from csp.calculators import get_relaxer
from csp.calculators.vasp import (
    VaspSettings,
    outcome_from_files,
    parse_outcar,
    parse_vasprun,
    write_inputs,
)

from csp.errors import CspError

DATA = Path(__file__).parent / "data" / "vasp"


def real_vasp_file(name: str) -> Path:
    """A file VASP wrote, from ASE's test data (installed with ase)."""
    import ase

    path = Path(ase.__file__).parent / "test" / "testdata" / "vasp" / name
    if not path.is_file():
        pytest.skip(f"ASE's VASP test data ({name}) not installed")
    return path


def srb(a=4.0) -> Atoms:
    return Atoms("BSr", scaled_positions=[[0, 0.37, 0], [0, 0, 0]], cell=np.eye(3) * a, pbc=True)


def test_inputs(tmp_path):
    s = VaspSettings(pp_path=str(DATA), potcars=(("Sr", "Sr_sv"),), encut=500)
    order = write_inputs(srb(), s, 50.0, tmp_path)
    incar = (tmp_path / "INCAR").read_text()
    for line in ("ISIF = 3", "IBRION = 2", "PSTRESS = 500.0", "ENCUT = 500"):
        assert line in incar
    poscar = (tmp_path / "POSCAR").read_text().splitlines()
    assert poscar[5].split() == ["B", "Sr"] and poscar[6].split() == ["1", "1"]
    assert order == [0, 1]
    potcar = (tmp_path / "POTCAR").read_text()
    assert potcar.index("PAW_PBE B") < potcar.index("PAW_PBE Sr_sv")  # POTCAR order = POSCAR
    assert (tmp_path / "KPOINTS").read_text().splitlines()[3] == "7 7 7"


def test_missing_potcar_is_a_clear_error(tmp_path):
    with pytest.raises(CspError, match="no POTCAR for Sr"):
        write_inputs(srb(), VaspSettings(pp_path=str(DATA)), 0.0, tmp_path)


def test_parse_converged_outcar():
    r = parse_outcar((DATA / "OUTCAR.converged").read_text(), nelm=60)
    assert r.converged and not r.scf_failed
    assert r.energy == pytest.approx(-80.6) and r.enthalpy == pytest.approx(-60.3)
    assert r.pressure_gpa == pytest.approx(49.97) and r.ionic_steps == 2
    assert r.fmax == pytest.approx(0.004)


def _case(tmp_path, outcar, stdout=None):
    shutil.copy(DATA / outcar, tmp_path / "OUTCAR")
    shutil.copy(DATA / "CONTCAR", tmp_path / "CONTCAR")
    if stdout:
        shutil.copy(DATA / stdout, tmp_path / "vasp.out")
    # input order Sr, B = the POSCAR order (species in order of appearance)
    atoms = Atoms("SrB", scaled_positions=[[0, 0, 0], [0, 0.38, 0]], cell=np.eye(3) * 4, pbc=True)
    return outcome_from_files(tmp_path, atoms, [0, 1], VaspSettings(nelm=60), 50.0, 0.0)


def test_outcome_classification(tmp_path):
    (tmp_path / "a").mkdir()
    ok = _case(tmp_path / "a", "OUTCAR.converged")
    assert ok.status == "relaxed" and ok.enthalpy == pytest.approx(-60.3)
    assert ok.atoms.get_volume() == pytest.approx(3.9**3)
    assert ok.atoms.get_chemical_symbols() == ["Sr", "B"]
    assert np.allclose(ok.atoms.positions[1], [0, 0.379 * 3.9, 0])
    for name, outcar, stdout, status in [("b", "OUTCAR.nelm", None, "scf_failed"),
                                         ("c", "OUTCAR.nsw", None, "not_converged"),
                                         ("d", "OUTCAR.nsw", "vasp.out.zbrent", "not_converged")]:
        d = tmp_path / name
        d.mkdir()
        out = _case(d, outcar, stdout)
        assert out.status == status, (name, out.reason)
    (tmp_path / "e").mkdir()
    assert outcome_from_files(tmp_path / "e", srb(), [0, 1], VaspSettings(), 0.0, 0.0).status == "bad_output"


def test_vasp_missing_executable_is_crashed(tmp_path):
    r = get_relaxer({"name": "vasp", "pp_path": str(DATA), "potcars": {"Sr": "Sr_sv"},
                     "command": "/nonexistent/vasp_std"})
    out = r.relax(srb(), 50.0, str(tmp_path))
    assert out.status == "crashed" and "not found" in out.reason
    with pytest.raises(CspError, match="unknown vasp setting"):
        get_relaxer({"name": "vasp", "encutt": 400})


def test_parse_real_outcar_matches_ase():
    """OUTCAR of a real VASP 5.3.3 run (Ni18 single point, NELM = 120, 63 SCF steps)."""
    from ase.io import read
    from ase.units import GPa

    path = real_vasp_file("OUTCAR_example_1")
    text = path.read_text()
    ref = read(path, format="vasp-out")
    r = parse_outcar(text, nelm=10)  # the NELM echoed in the OUTCAR wins over the setting
    assert not r.scf_failed and r.finished and not r.converged and r.ionic_steps == 1
    assert r.energy == pytest.approx(ref.get_potential_energy(), abs=1e-8)
    assert r.energy == pytest.approx(-68.23102426, abs=1e-8)
    # "in kB" is VASP's stress with pressure positive: ASE's stress has the other sign
    assert r.pressure_gpa == pytest.approx(-np.trace(ref.get_stress(voigt=False)) / 3 / GPa,
                                           abs=1e-9)
    assert r.pressure_gpa == pytest.approx(-0.446, abs=5e-4)  # "external pressure = -4.46 kB"
    assert r.fmax == pytest.approx(np.linalg.norm(ref.get_forces(), axis=1).max(), abs=1e-9)
    # the same run had it stopped at NELM = 63 without "EDIFF is reached"
    cut = text.replace("NELM   =    120", "NELM   =     63").replace(
        "aborting loop because EDIFF is reached", "aborting loop EDIFF was not reached")
    assert parse_outcar(cut, nelm=120).scf_failed
    # VASP 6 says so explicitly, whatever NELM was
    v6 = text.replace("aborting loop because EDIFF is reached",
                      "aborting loop EDIFF was not reached (unconverged)")
    assert parse_outcar(v6, nelm=120).scf_failed


def test_parse_real_vasprun_matches_ase():
    """vasprun.xml of a real VASP 6.3.0 run with PSTRESS = 1 kB (diamond, single point):
    its <energy> e_fr_energy includes PV, the <scstep> energies do not."""
    from ase.io import read
    from ase.units import GPa

    path = real_vasp_file("vasprun_pstress.xml")
    text = path.read_text()
    ref = read(path, format="vasp-xml")
    v = parse_vasprun(text)
    assert v is not None and not v.scf_failed and v.ionic_steps == 1 and v.nsw == 0
    assert v.atoms.get_chemical_symbols() == ref.get_chemical_symbols() == ["C", "C"]
    assert np.allclose(v.atoms.cell[:], ref.cell[:])
    assert np.allclose(v.atoms.positions, ref.positions)
    assert v.energy == pytest.approx(ref.get_potential_energy(), abs=1e-8)
    assert v.energy == pytest.approx(-20.24720095, abs=1e-7)
    assert v.pstress_gpa == pytest.approx(0.1)
    assert v.enthalpy == pytest.approx(-20.23985977, abs=1e-8)  # free energy + PV
    free = ref.get_potential_energy(force_consistent=True)
    assert v.enthalpy - free == pytest.approx(0.1 * GPa * ref.get_volume(), rel=1e-6)
    assert v.pressure_gpa == pytest.approx(-np.trace(ref.get_stress(voigt=False)) / 3 / GPa)
    assert parse_vasprun(text[: len(text) // 2]) is None  # truncated: a killed run
    # the SCF took 9 steps: with NELM = 9 that is an SCF failure
    nine = text.replace('<i type="int" name="NELM">    60</i>',
                        '<i type="int" name="NELM">     9</i>')
    assert parse_vasprun(nine).scf_failed


def test_vasprun_stands_in_for_a_missing_contcar(tmp_path):
    shutil.copy(real_vasp_file("OUTCAR_example_1"), tmp_path / "OUTCAR")
    shutil.copy(real_vasp_file("vasprun_pstress.xml"), tmp_path / "vasprun.xml")
    diamond = Atoms("C2", scaled_positions=[[0, 0, 0], [0.25, 0.25, 0.25]],
                    cell=[[0, 1.8, 1.8], [1.8, 0, 1.8], [1.8, 1.8, 0]], pbc=True)
    out = outcome_from_files(tmp_path, diamond, [0, 1], VaspSettings(), 0.1, 0.0)
    # a single point never says "reached required accuracy": not converged, structure kept
    assert out.status == "not_converged" and out.atoms is not None
    assert np.allclose(out.atoms.cell[:], [[0, 1.785, 1.785], [1.785, 0, 1.785], [1.785, 1.785, 0]])
    # a structure of other atoms than the input is bad output, not a result
    out = outcome_from_files(tmp_path, srb(), [0, 1], VaspSettings(), 0.1, 0.0)
    assert out.status == "bad_output" and "C2" in out.reason


def _fake_vasp(tmp_path, body: str) -> str:
    path = tmp_path / "fake_vasp.sh"
    path.write_text("#!/bin/sh\n" + textwrap.dedent(body))
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def _truncated_outcar(tmp_path) -> Path:
    text = real_vasp_file("OUTCAR_example_1").read_text()
    path = tmp_path / "OUTCAR.cut"
    path.write_text(text[: text.index("Iteration    1(  40)")])  # killed in the SCF
    return path


def _nan_outcar(tmp_path) -> Path:
    text = (DATA / "OUTCAR.converged").read_text()
    path = tmp_path / "OUTCAR.nan"
    path.write_text(text.replace("energy(sigma->0) =      -80.60000000",
                                 "energy(sigma->0) =               NaN"))
    return path


@pytest.mark.parametrize("case, status", [
    ("ok", "relaxed"), ("exit", "crashed"), ("timeout", "timeout"),
    ("truncated", "bad_output"), ("nan", "bad_output"), ("nothing", "bad_output")])
def test_vasp_relaxer_with_injected_failures(tmp_path, case, status):
    """The driver end to end (inputs, launch, parsing) with a stand-in for vasp_std."""
    copy = f"cp {DATA}/CONTCAR CONTCAR\n"
    body = {"ok": f"cp {DATA}/OUTCAR.converged OUTCAR\n" + copy,
            "exit": f"cp {DATA}/OUTCAR.converged OUTCAR\n{copy}exit 3\n",
            "timeout": "exec sleep 20\n",
            "truncated": f"cp {_truncated_outcar(tmp_path)} OUTCAR\n" + copy,
            "nan": f"cp {_nan_outcar(tmp_path)} OUTCAR\n" + copy,
            "nothing": "echo ' running on 4 total cores'\n"}[case]
    r = get_relaxer({"name": "vasp", "pp_path": str(DATA), "potcars": {"Sr": "Sr_sv"},
                     "command": _fake_vasp(tmp_path, body), "timeout": 1.0})
    atoms = Atoms("SrB", scaled_positions=[[0, 0, 0], [0, 0.38, 0]], cell=np.eye(3) * 4, pbc=True)
    out = r.relax(atoms, 50.0, str(tmp_path / "w"))
    assert out.status == status, out.reason
    assert "PSTRESS = 500.0" in (tmp_path / "w" / "INCAR").read_text()
    if status == "relaxed":
        assert out.enthalpy == pytest.approx(-60.3) and out.pressure_gpa == pytest.approx(49.97)
        assert out.atoms.get_chemical_symbols() == ["Sr", "B"]
