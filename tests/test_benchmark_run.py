"""The search benchmark's driver (benchmarks/search/run.py): stopping and resuming.

A campaign runs for hours; stopping it with ``kill PID`` must stop its worker
processes and the csp runs they started (left alive, they went on taking jobs and
writing records beside the next call), and the next call must finish the runs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "benchmarks" / "search" / "run.py"


def _command(outroot: Path) -> list[str]:
    return [sys.executable, str(RUN), "--systems", "cab6", "--methods", "csp-random",
            "--seeds", "1", "2", "--budget", "12", "--relaxer", "fake-slow",
            "--outroot", str(outroot), "--jobs", "2"]


def test_kill_stops_workers_and_their_runs_and_the_next_call_resumes(tmp_path):
    psutil = pytest.importorskip("psutil")
    proc = subprocess.Popen(_command(tmp_path), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    main = psutil.Process(proc.pid)
    tree: list = []
    for _ in range(600):  # wait (up to a minute) until both csp runs are under way
        tree = main.children(recursive=True)
        runs = [p for p in tree if "csp" in " ".join(_cmdline(p)) and "run" in _cmdline(p)]
        if len(runs) == 2:
            break
        time.sleep(0.1)
    assert len(runs) == 2, [_cmdline(p) for p in tree]
    time.sleep(2.0)  # a few fake relaxations into each run
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out
    assert "interrupted" in out
    _, alive = psutil.wait_procs(tree, timeout=30)
    assert not alive, [_cmdline(p) for p in alive]  # workers and csp runs are gone
    again = subprocess.run(_command(tmp_path), capture_output=True, text=True, timeout=600,
                           check=False)
    assert again.returncode == 0, again.stdout + again.stderr
    for seed in (1, 2):
        doc = json.loads((tmp_path / "runs" / "cab6" / "csp-random" / f"seed{seed}.json")
                         .read_text())
        assert doc["complete"] and doc["summary"]["n_relaxations"] >= 1


def test_a_killed_run_keeps_its_wall_time_and_the_resumed_run_adds_to_it(tmp_path):
    """SIGKILL (an out-of-time batch job) leaves no chance to clean up: the wall time a
    run had spent must already be on disk, and the resumed run's record must include it."""
    psutil = pytest.importorskip("psutil")
    env = {**os.environ, "CSP_BENCH_ELAPSED_EVERY": "0.5"}
    cmd = _command(tmp_path)
    cmd[cmd.index("--seeds") + 1: cmd.index("--budget")] = ["1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, env=env)
    elapsed = tmp_path / "work" / "cab6" / "csp-random" / "seed1" / "elapsed.json"
    for _ in range(600):
        if elapsed.exists() and json.loads(elapsed.read_text())["seconds"] > 2.0:
            break
        time.sleep(0.1)
    tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    for p in tree:
        p.kill()
    psutil.wait_procs(tree, timeout=30)
    before = json.loads(elapsed.read_text())["seconds"]
    assert before > 2.0
    assert not (tmp_path / "runs" / "cab6" / "csp-random" / "seed1.json").exists()
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False,
                           env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    doc = json.loads((tmp_path / "runs" / "cab6" / "csp-random" / "seed1.json").read_text())
    assert doc["complete"]
    assert doc["run_wall_s"] > before


def test_variable_composition_system_runs_csp_only_and_marks_the_target(tmp_path):
    """cab6vc: csp chooses the composition; ase-ga is skipped (one composition at a
    time), every record says whether its cell is CaB6, and a hit is one."""
    cmd = [sys.executable, str(RUN), "--systems", "cab6vc", "--methods", "csp-random",
           "ase-ga", "--seeds", "1", "--budget", "15", "--relaxer", "fake",
           "--outroot", str(tmp_path)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "not run with ase-ga" in out.stdout
    assert not (tmp_path / "runs" / "cab6vc" / "ase-ga").exists()
    doc = json.loads((tmp_path / "runs" / "cab6vc" / "csp-random" / "seed1.json").read_text())
    recs = doc["relaxations"]
    assert len(recs) == 15 and doc["complete"]  # no stop at an enthalpy: runs its budget
    assert {r["on_target"] for r in recs} == {True, False}
    assert {r["n_atoms"] for r in recs if r["on_target"]} <= {7, 14, 21}
    assert all(7 <= r["n_atoms"] <= 21 for r in recs)
    config = (tmp_path / "work" / "cab6vc" / "csp-random" / "seed1" / "config.toml").read_text()
    assert "[composition]" in config and "stop_at_enthalpy" not in config


def test_pyxtal_runs_keep_their_relaxed_structures_for_polishing(tmp_path):
    """polish.py re-relaxes a run's near-target structures: a PyXtal run keeps them in
    relaxed.db, one row per relaxation (a relaxation redone after a kill replaces its
    row), and the polisher reads there the intact ones within the window, in order."""
    pytest.importorskip("pyxtal")
    from ase.build import bulk
    from polish import near, structures_db
    from run_pyxtal import save_relaxed

    work = tmp_path / "work" / "nabh4" / "pyxtal" / "seed3"
    for index, h, intact in ((5, -1.000, True), (2, -0.999, True), (5, -1.001, True),
                             (7, -1.002, False), (8, -0.900, True)):
        atoms = bulk("Cu", a=3.6 + 0.01 * index)
        save_relaxed(work, {"index": index, "status": "relaxed", "units_intact": intact,
                            "enthalpy_per_atom": h}, atoms)
    db, rows = structures_db(tmp_path, "nabh4", "pyxtal", 3)
    assert db == work / "relaxed.db"
    got = near(rows(db), -1.0, 0.006)
    assert [(i, h) for i, h, _ in got] == [(2, -0.999), (5, -1.001)]
    assert abs(got[1][2].cell[0, 1] - (3.65 / 2)) < 1e-9  # the structure of relaxation 5
    db, _ = structures_db(tmp_path, "nabh4", "csp-ga", 3)
    assert db.name == "csp.db"


def test_polish_refuses_methods_that_keep_no_structures(tmp_path, capsys):
    import polish

    with pytest.raises(SystemExit) as exc:
        polish.main(["--outroot", str(tmp_path), "--system", "nabh4", "--methods", "csp-ga",
                     "ase-ga"])
    assert exc.value.code == 2
    assert "--methods ase-ga: these runs keep no structures" in capsys.readouterr().err


def _cmdline(p) -> list[str]:
    try:
        return p.cmdline()
    except Exception:  # noqa: BLE001 - a process that ended meanwhile
        return []
