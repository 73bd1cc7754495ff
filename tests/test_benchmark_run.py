"""The search benchmark's driver (benchmarks/search/run.py): stopping and resuming.

A campaign runs for hours; stopping it with ``kill PID`` must stop its worker
processes and the csp runs they started (left alive, they went on taking jobs and
writing records beside the next call), and the next call must finish the runs.
"""

from __future__ import annotations

import json
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


def _cmdline(p) -> list[str]:
    try:
        return p.cmdline()
    except Exception:  # noqa: BLE001 - a process that ended meanwhile
        return []
