"""VASP driver: input files and output parsing (VASP cannot run here: file formats only).

tests/data/vasp holds OUTCAR/CONTCAR/stdout excerpts laid out as VASP 6 writes them
(the blocks the parser reads) and stub POTCARs (real ones are licensed)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from csp.calculators import get_relaxer
from csp.calculators.vasp import VaspSettings, outcome_from_files, parse_outcar, write_inputs

from csp.errors import CspError

DATA = Path(__file__).parent / "data" / "vasp"


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
