"""The run database: agreed keys, pending -> final updates, read-back, overwrite rules."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from csp.errors import CspError
from csp.evaluate import Task, evaluate
from csp.store import CONFIG_NAME, Store, parse_parents

AGREED = {"status", "reason", "enthalpy_per_atom", "energy_per_atom", "volume_per_atom",
          "pressure_gpa", "pressure_reached_gpa", "units_intact", "max_unit_rmsd", "spacegroup",
          "sg_number", "origin", "operator", "parents", "candidate_id", "eval_index",
          "composition", "run_id"}


class _Ev:  # the fields of csp.engine.Evaluation the store reads
    def __init__(self, task, result, status, reason="", eval_index=0, duplicate_of=-1):
        self.task, self.result, self.status, self.reason = task, result, status, reason
        self.eval_index, self.duplicate_of = eval_index, duplicate_of


def test_pending_then_relaxed_row(tmp_path, srb12):
    store = Store.create(tmp_path / "run", {"seed": 1})
    task = Task(5, srb12, "heredity", "heredity", (1, 2), 50.0, 221)
    store.add_pending(task)
    assert store.count() == 0  # written at the next commit if still in flight
    store.flush()
    assert store.status_counts()["pending"] == 1
    res = evaluate(task, "fake")
    store.write(_Ev(task, res, "relaxed", eval_index=0))
    rows = list(store.db.select())
    assert len(rows) == 1
    r = rows[0]
    assert AGREED <= set(r.key_value_pairs)
    assert r.status == "relaxed" and r.candidate_id == 5 and r.eval_index == 0
    assert r.parents == "1,2" and parse_parents(r.parents) == (1, 2)
    assert r.composition == "SrB12" and r.spacegroup == "Pm-3" and r.sg_number == 200
    assert r.units_intact is True or r.units_intact == 1
    assert r.enthalpy_per_atom == pytest.approx(res.enthalpy_per_atom)
    assert r.pressure_gpa == 50.0 and r.worker.startswith("pid")
    assert set(r.data) >= {"genome", "initial_genome", "stages"}
    (c,) = list(store.candidates())
    assert c.task.genome.equals(srb12) and c.task.parents == (1, 2)
    assert c.result.enthalpy_per_atom == pytest.approx(res.enthalpy_per_atom)
    store.close()


def test_failed_and_prerelax_duplicate_rows(tmp_path, srb12):
    store = Store.create(tmp_path / "run", {})
    t1 = Task(0, srb12, "seed", pressure=0.0)
    store.add_pending(t1)
    bad = evaluate(t1, {"name": "fake", "fail_fraction": 1.0})
    store.write(_Ev(t1, bad, "failed", bad.reason, 0))
    t2 = Task(1, srb12, "rotate", "rotate", (0,), 0.0)
    store.write(_Ev(t2, None, "duplicate", "duplicate of 0 before relaxation", -1, 0))
    counts = store.status_counts()
    assert counts["failed"] == 1 and counts["duplicate"] == 1 and counts["pending"] == 0
    rows = {r.candidate_id: r for r in store.db.select()}
    assert rows[0].reason.startswith("not_converged")
    assert rows[1].parents == "0," and parse_parents(rows[1].parents) == (0,)
    assert rows[1].duplicate_of == 0 and rows[1].eval_index == -1
    store.close()


def test_overwrite_rules_and_config_copy(tmp_path, srb12):
    out = tmp_path / "run"
    store = Store.create(out, {"seed": 3, "composition": "Sr1 (B12)1"})
    store.add_pending(Task(0, srb12, "seed", pressure=0.0))
    store.close()  # flushes the pending row
    with pytest.raises(CspError, match="already holds a run"):
        Store.create(out, {"seed": 3})
    doc = json.loads((out / CONFIG_NAME).read_text())
    assert doc["config"]["seed"] == 3 and doc["run_id"]
    reopened = Store.open(out)
    assert json.loads(reopened.db.metadata["csp_config"])["seed"] == 3
    assert reopened.count() == 1
    reopened.close()
    fresh = Store.create(out, {"seed": 4}, force=True)
    assert fresh.count() == 0
    fresh.close()
    with pytest.raises(CspError, match="no csp run"):
        Store.open(tmp_path / "elsewhere")


def test_candidate_finished_before_commit_is_written_once(tmp_path, srb12):
    store = Store.create(tmp_path / "run", {})
    store.commit_interval = 3600.0
    task = Task(0, srb12, "seed", pressure=50.0)
    store.add_pending(task)
    store.write(_Ev(task, evaluate(task, "fake"), "relaxed"))
    store.flush()
    assert [r.status for r in store.db.select()] == ["relaxed"]
    store.close()


def test_ase_db_lists_the_keys(tmp_path, srb12):
    store = Store.create(tmp_path / "run", {})
    task = Task(0, srb12, "seed", pressure=50.0)
    store.add_pending(task)
    store.write(_Ev(task, evaluate(task, "fake"), "relaxed"))
    store.close()
    out = subprocess.run([sys.executable, "-m", "ase", "db", str(store.path), "-c",
                          "candidate_id,status,enthalpy_per_atom,spacegroup,composition"],
                         capture_output=True, text=True, check=True).stdout
    assert "relaxed" in out and "Pm-3" in out and "SrB12" in out


class _Stretch:
    """Test relaxer: expands the crystal by 2 % (units stay intact, atoms do move)."""

    def relax(self, atoms, pressure_gpa, workdir=None):
        from csp.calculators.fake import FakeRelaxer

        a = atoms.copy()
        a.set_cell(a.cell[:] * 1.02, scale_atoms=True)
        return FakeRelaxer().relax(a, pressure_gpa)


def test_row_holds_the_relaxed_crystal_and_data_its_rigid_refit(tmp_path, srb12):
    import ase.db
    import numpy as np

    from csp.genome import Genome

    task = Task(0, srb12, "seed", pressure=50.0)
    res = evaluate(task, _Stretch())
    assert res.status == "relaxed"
    store = Store.create(tmp_path / "run", {})
    store.write(_Ev(task, res, "relaxed"))
    store.close()
    row = next(ase.db.connect(str(tmp_path / "run" / "csp.db")).select())
    atoms = row.toatoms()
    want = srb12.to_atoms()
    want.set_cell(want.cell[:] * 1.02, scale_atoms=True)
    want.wrap()
    assert np.allclose(atoms.cell[:], want.cell[:]) and np.allclose(atoms.positions, want.positions)
    fit = Genome.from_dict(row.data["genome"])
    assert np.allclose(fit.cell, want.cell[:])  # the re-fit: same cell, rigid template units
    assert "structure" not in row.data["result"]
