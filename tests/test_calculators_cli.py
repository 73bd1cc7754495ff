"""``csp relax`` end to end: real ML relaxation of SrB12 from a file, JSON numbers, errors."""

from __future__ import annotations

import json

import pytest
from ase.io import read, write

from csp.cli import main
from tests.conftest import simple_cubic_xb12

pytest.importorskip("sevenn")


@pytest.mark.slow
def test_csp_relax_srb12(tmp_path, capsys):
    src = tmp_path / "srb12.cif"
    write(src, simple_cubic_xb12("Sr", 4.4).to_atoms(wrap=True))
    out, js = tmp_path / "out.vasp", tmp_path / "r.json"
    code = main(["relax", str(src), "--pressure", "50", "-o", str(out), "--json", str(js)])
    assert code == 0
    rec = json.loads(js.read_text())
    assert rec["status"] == "relaxed"
    assert abs(rec["pressure_gpa"] - 50.0) < 0.5
    assert rec["spacegroup"].startswith("Pm-3")
    assert rec["units_intact"] is True
    assert len(read(out)) == 13
    assert "eV/atom" in capsys.readouterr().out


def test_csp_relax_errors_name_the_bad_value(tmp_path, capsys):
    src = tmp_path / "srb12.cif"
    write(src, simple_cubic_xb12("Sr", 4.4).to_atoms(wrap=True))
    assert main(["relax", str(src), "--pressure", "10", "--relaxer", "nonsense-model"]) == 2
    assert "nonsense-model" in capsys.readouterr().err
    assert main(["relax", str(tmp_path / "missing.cif"), "--pressure", "10"]) == 2
    assert "missing.cif" in capsys.readouterr().err
