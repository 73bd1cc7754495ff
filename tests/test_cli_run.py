"""``csp run / status / export`` through the command line, in subprocesses.

Includes the crash test: a run killed with SIGKILL in the middle resumes without
losing or redoing any finished evaluation and completes its budget.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

# runs relax in a worker process (the default), so a killed run leaves "pending" rows
BOOT = "import sys; from csp.cli import main; sys.exit(main(sys.argv[1:]))"


CONFIG = '''seed = 11
outdir = "{outdir}"
composition = "Sr1 (B12)1"
formula_units = [1, 2]
pressure = 50
[relaxer]
name = "fake"
sleep = {sleep}
[search]
population_size = 6
max_evaluations = {budget}
'''


def csp(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BOOT, *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, check=False)


def write_config(tmp_path: Path, budget: int = 20, sleep: float = 0.0, outdir: str = "run",
                 **replace: str) -> Path:
    text = CONFIG.format(outdir=outdir, sleep=sleep, budget=budget)
    for old, new in replace.items():
        text = text.replace(old, new)
    path = tmp_path / "search.toml"
    path.write_text(text)
    return path


def rows(db: Path) -> list[dict]:
    """(candidate_id, status, eval_index, enthalpy) of every row, read with ase.db."""
    import ase.db

    out = []
    for r in ase.db.connect(str(db)).select():
        out.append({"id": r.candidate_id, "status": r.status, "eval": r.get("eval_index", -1),
                    "h": r.get("enthalpy_per_atom"), "worker": r.get("worker")})
    return out


BAD = {
    "missing composition": ({'composition = "Sr1 (B12)1"\n': ""}, "missing key 'composition'"),
    "negative pressure": ({"pressure = 50": "pressure = -5"}, "pressure must be >= 0 GPa"),
    "unknown unit": ({"(B12)1": "(B13)1"}, "B13"),
    "unknown relaxer": ({'name = "fake"\nsleep = 0.0': 'name = "vaspish"'}, "vaspish"),
    "budget 0": ({"max_evaluations = 20": "max_evaluations = 0"},
                 "[search] max_evaluations must be a positive integer, got 0"),
    "impossible composition": ({"formula_units = [1, 2]": "formula_units = [1, 40]"},
                               "atoms"),
    "broken toml": ({"[search]": "[search"}, "not valid TOML"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_config_one_clear_line(tmp_path, name):
    edits, expect = BAD[name]
    path = write_config(tmp_path, **edits)
    p = csp("run", str(path), cwd=tmp_path)
    assert p.returncode == 2, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in p.stderr, p.stderr
    assert lines[0].startswith("csp run: error: config error:") and expect in lines[0]
    assert not (tmp_path / "run").exists()


def test_run_status_export_and_no_overwrite(tmp_path):
    path = write_config(tmp_path, budget=20)
    p = csp("run", str(path), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "[  20/20]" in p.stdout and "budget reached" in p.stdout
    got = rows(tmp_path / "run" / "csp.db")
    done = [r for r in got if r["eval"] >= 0]
    assert sorted(r["eval"] for r in done) == list(range(20))
    assert not [r for r in got if r["status"] == "pending"]
    again = csp("run", str(path), cwd=tmp_path)
    assert again.returncode == 2 and "already holds a run" in again.stderr
    st = csp("status", "run", "--best", "3", cwd=tmp_path)
    assert st.returncode == 0 and "20/20 evaluations" in st.stdout and "best at 50 GPa" in st.stdout
    ex = csp("export", "run", "--best", "3", "--format", "poscar", "-o", "out", cwd=tmp_path)
    assert ex.returncode == 0, ex.stderr
    files = sorted((tmp_path / "out").glob("*.POSCAR"))
    assert len(files) == 3
    from ase.io import read

    first = read(files[0], format="vasp")
    best_h = min(r["h"] for r in done if r["status"] == "relaxed")
    assert f"H={best_h:.4f}" in ex.stdout.splitlines()[0]
    assert first.get_chemical_formula(mode="metal") in ("SrB12", "Sr2B24")
    forced = csp("run", str(path), "--force", "--max-evaluations", "5", cwd=tmp_path)
    assert forced.returncode == 0 and len(rows(tmp_path / "run" / "csp.db")) >= 5


def _count_status(db: Path, status: str = "relaxed") -> int:
    """Committed rows with this status (read with sqlite3 while the run writes)."""
    if not db.exists():
        return 0
    try:
        con = sqlite3.connect(str(db), timeout=5)
        n = con.execute("select count(*) from keys where key='status'").fetchone()[0]
        ids = con.execute("select count(*) from text_key_values where key='status' and "
                          "value=?", (status,)).fetchone()[0]
        con.close()
        return ids if n else 0
    except sqlite3.Error:
        return 0


def _count_relaxed(db: Path) -> int:
    return _count_status(db, "relaxed")


def _ready_to_kill(db: Path) -> bool:
    return _count_relaxed(db) >= 8 and _count_status(db, "pending") > 0


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True,
                         text=True, check=False).stdout
    return [int(x) for x in out.split()]


def test_sigkill_then_resume_loses_nothing(tmp_path):
    path = write_config(tmp_path, budget=30, sleep=0.1)
    db = tmp_path / "run" / "csp.db"
    proc = subprocess.Popen([sys.executable, "-c", BOOT, "run", str(path), "-q"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # kill while a relaxation is in flight: with one worker the engine may be between
        # candidates (nothing in flight) when the 8th result lands, so freeze the engine
        # (SIGSTOP: the database cannot change), look, and kill or let it go on
        while True:
            assert proc.poll() is None, proc.communicate()
            if _ready_to_kill(db):
                proc.send_signal(signal.SIGSTOP)
                if _ready_to_kill(db):
                    break
                proc.send_signal(signal.SIGCONT)
            time.sleep(0.01)
        children = _children(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert children  # worker processes notice their engine died and exit
    for _ in range(100):
        if not any(Path(f"/proc/{c}").exists() for c in children):
            break
        time.sleep(0.1)
    assert not any(Path(f"/proc/{c}").exists() for c in children)
    before = rows(db)
    # the relaxation in flight when the run died is marked pending
    assert [r for r in before if r["status"] == "pending"]
    finished = {r["id"]: r for r in before if r["status"] != "pending"}
    n_relaxed = sum(r["status"] == "relaxed" for r in before)
    assert n_relaxed >= 8 and len(finished) < 30
    p = csp("run", str(path), "--resume", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    after = {r["id"]: r for r in rows(db)}
    for cid, r in finished.items():  # nothing finished was lost or redone
        assert after[cid] == r
    assert sum(r["status"] == "relaxed" for r in after.values()) >= n_relaxed
    assert not [r for r in after.values() if r["status"] == "pending"]
    assert sorted(r["eval"] for r in after.values() if r["eval"] >= 0) == list(range(30))
    assert max(after) >= max(r["id"] for r in before)  # candidate ids continue


def test_sigterm_and_walltime_stop_cleanly(tmp_path):
    path = write_config(tmp_path, budget=200, sleep=0.2)
    db = tmp_path / "run" / "csp.db"
    proc = subprocess.Popen([sys.executable, "-c", BOOT, "run", str(path), "-q"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while _count_relaxed(db) < 3:
        assert proc.poll() is None
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 3 and "continue with --resume" in err and "Traceback" not in err
    got = rows(db)
    assert len([r for r in got if r["status"] == "pending"]) <= 1
    n_before = len([r for r in got if r["eval"] >= 0])
    # the walltime covers the worker start (imports) too: long enough to make progress
    p = csp("run", str(path), "--resume", "--walltime", "00:00:08", "-q", cwd=tmp_path)
    assert p.returncode == 3 and "stopped" in p.stderr
    n_after = len([r for r in rows(db) if r["eval"] >= 0])
    assert n_before < n_after < 200
    bad = csp("run", str(path), "--resume", "--walltime", "1h", cwd=tmp_path)
    assert bad.returncode == 2 and "--walltime must be HH:MM:SS" in bad.stderr


def test_status_of_a_variable_composition_run_ranks_by_hull_distance(tmp_path):
    (tmp_path / "search.toml").write_text(
        'seed = 3\noutdir = "run"\npressure = 50\nseeds = ["alpha-b", "xb12:Sr"]\n'
        '[composition]\nblocks = ["Sr", "(B12)"]\nmax_atoms = 26\n'
        '[relaxer]\nname = "fake"\n[search]\npopulation_size = 6\nmax_evaluations = 16\n')
    run = csp("run", "search.toml", "-q", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    st = csp("status", "run", cwd=tmp_path)
    assert st.returncode == 0, st.stderr
    assert "Sr, (B12) (1-26 atoms) at 50 GPa" in st.stdout
    assert "nearest the convex hull at 50 GPa" in st.stdout
    table = st.stdout.split("nearest the convex hull at 50 GPa")[1].splitlines()[2:]
    ehull = [float(line.split()[-1]) for line in table if line.strip()]
    assert ehull == sorted(ehull) and ehull[0] == 0.0
