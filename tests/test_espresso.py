"""Quantum ESPRESSO through csp's driver (real pw.x) and injected launcher failures."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from ase.build import bulk
from csp.calculators import get_relaxer
from csp.calculators.espresso import EspressoRelaxer, EspressoSettings, kpoint_grid, parse_pw_output
from csp.calculators.launch import clean_environment

from csp.errors import CspError

needs_pw = pytest.mark.skipif(shutil.which("pw.x") is None, reason="pw.x not installed")
QE = {"name": "espresso", "ecutwfc": 40.0, "kspacing": 0.5, "conv_thr": 1e-8}


@needs_pw
def test_qe_vc_relax_at_pressure_matches_single_point(tmp_path):
    atoms = bulk("B", "fcc", a=3.0)
    out = get_relaxer(QE).relax(atoms, 20.0, str(tmp_path / "vc"))
    assert out.status == "relaxed", out.reason
    assert abs(out.pressure_gpa - 20.0) < 1.0  # press_conv_thr 0.5 kbar + final-basis SCF
    assert out.atoms.get_volume() < atoms.get_volume() * 1.5
    single = get_relaxer({**QE, "calculation": "scf"}).relax(out.atoms, 20.0, str(tmp_path / "sp"))
    assert single.status == "relaxed"
    # H = E + PV of the relaxed cell, recomputed by an independent pw.x run
    assert abs(single.enthalpy - out.enthalpy) / len(atoms) < 2e-3
    assert single.pressure_gpa == pytest.approx(out.pressure_gpa, abs=0.2)


@needs_pw
def test_qe_too_few_scf_steps_is_not_success(tmp_path):
    out = get_relaxer({**QE, "electron_maxstep": 2}).relax(bulk("B", "fcc", a=3.0), 20.0,
                                                             str(tmp_path))
    assert out.status == "scf_failed"
    assert "JOB DONE" in (tmp_path / "pw.out").read_text()  # JOB DONE is not success


@needs_pw
def test_qe_out_of_ionic_steps_is_not_converged(tmp_path):
    atoms = bulk("B", "fcc", a=3.4)
    out = get_relaxer({**QE, "nstep": 1}).relax(atoms, 20.0, str(tmp_path))
    assert out.status == "not_converged"


def _script(tmp_path, body: str) -> str:
    path = tmp_path / "fake_pw.sh"
    path.write_text("#!/bin/sh\n" + textwrap.dedent(body))
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


@pytest.mark.parametrize("body, status", [
    ("exit 3\n", "crashed"),
    ("sleep 5\n", "timeout"),
    ("echo '     Program PWSCF v.6.7 starts'\necho '!    total energy = -10.0 Ry'\n", "bad_output"),
    ("cat <<EOF\n!    total energy              =     NaN Ry\n     JOB DONE.\nEOF\n", "bad_output"),
])
def test_injected_failures_are_classified(tmp_path, body, status):
    script = _script(tmp_path, body)
    s = EspressoSettings(command=f"{script} {{input}}", timeout=1.0, calculation="scf",
                         pseudo_dir="/usr/share/espresso/pseudo"
                         if os.path.isdir("/usr/share/espresso/pseudo") else str(tmp_path))
    if not os.path.isdir("/usr/share/espresso/pseudo"):
        (tmp_path / "B.pbe-n-rrkjus_psl.1.0.0.UPF").write_text("fake")
    out = EspressoRelaxer(s).relax(bulk("B", "fcc", a=3.0), 10.0, str(tmp_path / "w"))
    assert out.status == status, out.reason


def test_missing_executable_is_crashed(tmp_path):
    s = EspressoSettings(command="/nonexistent/pw.x -in {input}", calculation="scf",
                         pseudo_dir=str(tmp_path))
    (tmp_path / "B.pbe-n-rrkjus_psl.1.0.0.UPF").write_text("fake")
    out = EspressoRelaxer(s).relax(bulk("B", "fcc", a=3.0), 10.0, str(tmp_path / "w"))
    assert out.status == "crashed" and "not found" in out.reason


def test_settings_are_validated():
    with pytest.raises(CspError, match="unknown espresso setting"):
        get_relaxer({"name": "espresso", "ecut": 30})
    with pytest.raises(CspError, match="calculation"):
        EspressoSettings(calculation="md")


def test_kpoint_grid_and_clean_environment():
    assert kpoint_grid(np.eye(3) * 4.0, 0.3) == (6, 6, 6)
    env = clean_environment({"OMPI_COMM_WORLD_RANK": "1", "PMI_RANK": "0", "HYDRA_X": "1",
                             "PATH": "/bin", "LD_LIBRARY_PATH": "/x/site-packages/mpich/lib:/opt/lib"})
    assert env == {"PATH": "/bin", "LD_LIBRARY_PATH": "/opt/lib"}


def test_parser_reads_final_coordinates():
    text = textwrap.dedent("""\
        !    total energy              =     -10.00000000 Ry
             total   stress  (Ry/bohr**3)                   (kbar)     P=      100.00
        Begin final coordinates
        CELL_PARAMETERS (angstrom)
           2.000000000   0.000000000   0.000000000
           0.000000000   2.000000000   0.000000000
           0.000000000   0.000000000   2.000000000
        ATOMIC_POSITIONS (crystal)
        B             0.5000000000        0.5000000000        0.5000000000
        End final coordinates
             JOB DONE.
        """)
    atoms = bulk("B", "sc", a=2.1)
    r = parse_pw_output(text, atoms)
    assert r.relax_converged and r.pressure_gpa == pytest.approx(10.0)
    assert np.allclose(r.atoms.positions, [[1.0, 1.0, 1.0]]) and r.atoms.get_volume() == pytest.approx(8.0)


@needs_pw
@pytest.mark.mpi
def test_dft_child_from_an_mpi_rank(tmp_path):
    """Each rank of `mpiexec -n 2 python` runs pw.x through the driver (clean environment)."""
    mpiexec = shutil.which("mpiexec")
    if mpiexec is None:
        pytest.skip("mpiexec not installed")
    script = tmp_path / "rank.py"
    script.write_text(textwrap.dedent(f"""
        import json, os
        from mpi4py import MPI
        from ase.build import bulk
        from csp.calculators import get_relaxer
        rank = MPI.COMM_WORLD.Get_rank()
        wd = r"{tmp_path}/rank%d" % rank
        # the child records the environment it was given, then becomes pw.x
        out = get_relaxer({{**{QE!r}, "calculation": "scf",
                           "command": "sh -c 'env > child_env.txt; exec pw.x -in {{input}}'"}}
                          ).relax(bulk("B", "fcc", a=3.0), 10.0, wd)
        mpi = ("OMPI_", "PMIX_", "PRTE_", "PMI_", "HYDRA_", "MPI_", "I_MPI_")
        child = [ln.split("=")[0] for ln in open(os.path.join(wd, "child_env.txt"))]
        with open(r"{tmp_path}/result%d.json" % rank, "w") as fh:
            json.dump({{"status": out.status, "reason": out.reason, "energy": out.energy,
                       "rank_mpi_vars": sorted(k for k in os.environ if k.startswith(mpi)),
                       "child_mpi_vars": sorted(k for k in child if k.startswith(mpi))}}, fh)
    """))
    # each rank reports through its own file: the ranks' stdout streams are merged by the
    # process manager, which is not what is under test here
    res = subprocess.run([mpiexec, "-n", "2", sys.executable, str(script)], check=False, capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    results = {}
    for rank in (0, 1):
        path = tmp_path / f"result{rank}.json"
        assert path.exists(), f"rank {rank} wrote no result; stdout: {res.stdout[-1000:]} stderr: {res.stderr[-1000:]}"
        results[rank] = json.loads(path.read_text())
    assert all(r["status"] == "relaxed" for r in results.values()), results
    # the rank ran inside mpiexec's environment; its pw.x child got none of it
    assert all(r["rank_mpi_vars"] and not r["child_mpi_vars"] for r in results.values()), results
    # both ranks computed the same cell with the same pw.x: the same energy
    assert results[0]["energy"] == pytest.approx(results[1]["energy"], abs=1e-6)
    assert (tmp_path / "rank0" / "pw.out").exists() and (tmp_path / "rank1" / "pw.out").exists()


def test_parser_does_not_keep_an_earlier_energy_over_a_final_nan():
    text = textwrap.dedent("""\
        !    total energy              =     -10.00000000 Ry
        !    total energy              =              NaN Ry
             JOB DONE.
        """)
    r = parse_pw_output(text, bulk("B", "sc", a=2.1))
    assert r.steps == 2 and not np.isfinite(r.energy)


def test_timeout_stops_the_whole_process_tree(tmp_path):
    """A timed-out program is stopped with everything it started (an mpirun and its
    ranks; here a shell and its sleep), not only the direct child."""
    from pathlib import Path

    from csp.calculators.launch import Profile, run_program

    marker = f"{4700 + os.getpid() % 100}"
    r = run_program(Profile(f"sh -c 'sleep {marker} & wait'", timeout=1.0), tmp_path, None, "out")
    assert r.state == "timeout"
    left = []
    for cmd in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmd.read_bytes().split(b"\0")
        except OSError:
            continue
        if argv[:2] == [b"sleep", marker.encode()]:
            left.append(cmd.parent.name)
    assert not left, f"left running: pids {left}"
