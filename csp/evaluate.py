"""Worker-side evaluation of one candidate: relax, check units, re-fit, classify.

:func:`evaluate` runs on a worker (a process or an MPI rank). It never raises: any
failure, expected (a relaxer's failure class) or not (a crash in our own code), comes
back as a :class:`Result` with ``status = "failed"`` and a reason, so one bad
candidate never stops a search. :class:`Task` and :class:`Result` are plain,
picklable, JSON-able values: the engine produces tasks and consumes results.
"""

from __future__ import annotations

import logging
import math
import os
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from csp.errors import CspError
from csp.genome import Genome

if TYPE_CHECKING:
    from csp.calculators.base import Relaxer

__all__ = ["Result", "Task", "evaluate", "make_relaxer", "spacegroup_of", "validate_relaxer"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Task:
    """One candidate to relax.

    Attributes:
        candidate_id: unique id in the run (also the random stream key).
        genome: the unrelaxed structure.
        origin: "random", "symmetric", "seed" or the operator's name.
        operator: the operator that made it ("" for random/seed).
        parents: candidate ids of the parents.
        pressure: target pressure, GPa.
        spacegroup_target: space group asked of the generator (0: none).
        symmetry_breaking: Å; relax a copy of ``genome`` distorted by this much
            (``csp.operators.variation.break_symmetry``, random stream
            ``SeedSequence([run_seed, candidate_id, 2])``), so that the symmetry of a
            random symmetric start cannot hold the relaxation at a saddle point; 0: relax
            ``genome`` as it is. ``genome`` stays the undistorted structure (what the
            duplicate checks and the database see).
        run_seed: the search's seed (for the distortion's stream).
    """

    candidate_id: int
    genome: Genome
    origin: str
    operator: str = ""
    parents: tuple[int, ...] = ()
    pressure: float = 0.0
    spacegroup_target: int = 0
    symmetry_breaking: float = 0.0
    run_seed: int = 0

    def to_dict(self) -> dict:
        return {"candidate_id": self.candidate_id, "genome": self.genome.to_dict(),
                "origin": self.origin, "operator": self.operator,
                "parents": list(self.parents), "pressure": self.pressure,
                "spacegroup_target": self.spacegroup_target,
                "symmetry_breaking": self.symmetry_breaking, "run_seed": self.run_seed}

    @classmethod
    def from_dict(cls, d: dict) -> Task:
        return cls(candidate_id=int(d["candidate_id"]), genome=Genome.from_dict(d["genome"]),
                   origin=d["origin"], operator=d.get("operator", ""),
                   parents=tuple(int(p) for p in d.get("parents", ())),
                   pressure=float(d["pressure"]),
                   spacegroup_target=int(d.get("spacegroup_target", 0)),
                   symmetry_breaking=float(d.get("symmetry_breaking", 0.0)),
                   run_seed=int(d.get("run_seed", 0)))

    def start(self, limits: Any = None) -> Genome:
        """The structure handed to the relaxer: ``genome``, distorted when asked.

        Args:
            limits: the search's validity limits (``csp.operators.validity.Limits``;
                None: the defaults) that every distorted trial must keep; a search
                whose ``[limits]`` are looser than the defaults (a smaller ``dmin`` at
                high pressure) would otherwise see every trial rejected and relax its
                symmetric starts undistorted.
        """
        if self.symmetry_breaking <= 0.0:
            return self.genome
        from csp.operators.variation import break_symmetry

        rng = np.random.default_rng(np.random.SeedSequence(
            [self.run_seed, self.candidate_id, 2]))
        return break_symmetry(self.genome, rng, self.symmetry_breaking, limits)


@dataclass
class Result:
    """What a worker reports for one task.

    Attributes:
        candidate_id: the task's id.
        status: "relaxed", "broken_units", "unconverged" (stopped at the relaxer's step
            limit, units intact; only when asked for) or "failed".
        reason: failure class and message ("" when relaxed).
        genome: relaxed genome as a dict (None when the relaxation failed).
        energy_per_atom / enthalpy_per_atom: eV/atom (H = E + PV).
        volume_per_atom: Å^3/atom.
        pressure_gpa: target pressure; pressure_reached_gpa: what the relaxer reached.
        units_intact: all units kept their bond topology.
        max_unit_rmsd: largest template-vs-relaxed RMSD of a unit, Å.
        spacegroup / sg_number: of the relaxed crystal (spglib, symprec 0.1 Å).
        steps: optimizer steps; wall_time: s; worker: "rank3" / "pid1234".
        stages: per-stage summaries when the relaxer is staged.
        structure: the relaxed crystal as the relaxer left it, {"cell": (3, 3) Å,
            "positions": (n, 3) Å} in the genome's atom order (``genome`` is its re-fit
            with rigid units).
    """

    candidate_id: int
    status: str
    reason: str = ""
    genome: dict | None = None
    energy_per_atom: float = float("nan")
    enthalpy_per_atom: float = float("nan")
    volume_per_atom: float = float("nan")
    pressure_gpa: float = float("nan")
    pressure_reached_gpa: float = float("nan")
    units_intact: bool = False
    max_unit_rmsd: float = float("nan")
    spacegroup: str = ""
    sg_number: int = 0
    steps: int = 0
    wall_time: float = 0.0
    worker: str = ""
    stages: list = field(default_factory=list)
    structure: dict | None = None
    fingerprint: Any = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict:
        """Plain-data copy (shallow: ``genome`` and ``stages`` are shared); the
        fingerprint, a cache the worker fills for the engine, is not data."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "fingerprint"}

    @classmethod
    def from_dict(cls, d: dict) -> Result:
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


# --------------------------------------------------------------------- relaxers
_RELAXER_CACHE: dict[str, Any] = {}


def _spec_key(spec: str | dict) -> str:
    import json

    return json.dumps(spec, sort_keys=True, default=str)


def make_relaxer(spec: Any) -> Any:
    """The relaxer for a spec (cached per process: an ML model loads once per worker).

    ``"fake"`` / ``{"name": "fake", ...}`` gives :class:`csp.calculators.fake.FakeRelaxer`;
    an object with a ``relax`` method is used as it is; everything else goes to
    ``csp.calculators.get_relaxer``.

    Raises:
        CspError: unknown relaxer name or settings.
    """
    if hasattr(spec, "relax"):
        return spec
    key = _spec_key(spec)
    if key in _RELAXER_CACHE:
        return _RELAXER_CACHE[key]
    d = {"name": spec} if isinstance(spec, str) else dict(spec)
    if d.get("name") == "fake":
        from csp.calculators.fake import FakeRelaxer

        relaxer: Relaxer = FakeRelaxer.from_spec(d)
    else:
        try:
            from csp.calculators import get_relaxer
        except ImportError as exc:
            raise CspError(f"relaxer {d.get('name', d)!r}: csp.calculators is not available "
                           f"({exc})") from None
        relaxer = get_relaxer(spec)
    _RELAXER_CACHE[key] = relaxer
    return relaxer


def validate_relaxer(spec: str | dict) -> None:
    """Raise CspError when the relaxer spec names an unknown relaxer or setting."""
    make_relaxer(spec)


def spacegroup_of(atoms, symprec: float = 0.1) -> tuple[str, int]:
    """International symbol and number of a structure (spglib), ("", 0) on failure."""
    import warnings

    import spglib

    cell = (np.asarray(atoms.cell[:]), atoms.get_scaled_positions(), atoms.numbers)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            # spglib types the cell as nested Sequences; NumPy arrays are what it takes
            ds = spglib.get_symmetry_dataset(cell, symprec=symprec)  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - spglib raises on degenerate cells
        return "", 0
    if ds is None:
        return "", 0
    return str(ds.international), int(ds.number)


def worker_name() -> str:
    """Who is evaluating: the MPI rank when under MPI, else the process id."""
    for var in ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID"):
        if var in os.environ:
            return f"rank{os.environ[var]}"
    return f"pid{os.getpid()}"


# ---------------------------------------------------------------------- evaluate
def _outcome_fields(out: Any) -> dict[str, Any]:
    def g(name: str, default: Any = float("nan")) -> Any:
        v = getattr(out, name, default)
        return default if v is None else v

    return {"energy_per_atom": float(g("energy_per_atom")),
            "enthalpy_per_atom": float(g("enthalpy_per_atom")),
            "volume_per_atom": float(g("volume_per_atom")),
            "pressure_reached_gpa": float(g("pressure_gpa")),
            "steps": int(g("steps", 0) or 0)}


def _stages(out: Any) -> list:
    stages = getattr(out, "stages", None) or []
    summary = []
    for s in stages:
        d = s.to_dict() if hasattr(s, "to_dict") else dict(s) if isinstance(s, dict) else {}
        summary.append({k: v for k, v in d.items() if isinstance(v, (str, int, float, bool))})
    return summary


def evaluate(task: Task, relaxer_spec: Any, workdir_root: str | Path | None = None,
             max_unit_rmsd: float = 0.5, limits: Any = None,
             keep_unconverged: bool = False) -> Result:
    """Relax one candidate and classify the outcome; never raises.

    Args:
        task: the candidate.
        relaxer_spec: relaxer name, table or object (see :func:`make_relaxer`).
        workdir_root: directory for per-candidate scratch (``cand_000042``), or None.
        max_unit_rmsd: a unit whose re-fit RMSD exceeds this counts as broken, Å.
        limits: the search's validity limits, kept by the distortion of a symmetric
            start (:meth:`Task.start`); None: the defaults.
        keep_unconverged: a relaxation stopped at the relaxer's step limit
            (``not_converged`` with a structure) whose units are intact becomes
            "unconverged", with its genome, instead of "failed" (``[search] unconverged
            = "breed"``).

    Returns:
        Result with status "relaxed", "broken_units", "unconverged" or "failed".
    """
    t0 = time.perf_counter()
    base: dict[str, Any] = {"candidate_id": task.candidate_id, "pressure_gpa": task.pressure,
                            "worker": worker_name()}
    workdir = None
    try:
        relaxer = make_relaxer(relaxer_spec)
        if workdir_root is not None:
            workdir = Path(workdir_root) / f"cand_{task.candidate_id:06d}"
            workdir.mkdir(parents=True, exist_ok=True)
        start = task.start(limits)
        out = relaxer.relax(start.to_atoms(), task.pressure, workdir)
        fields = _outcome_fields(out)
        failure = f"{out.status}: {getattr(out, 'reason', '')}"
        unconverged = (keep_unconverged and out.status == "not_converged"
                       and out.atoms is not None
                       and math.isfinite(fields["enthalpy_per_atom"]))
        if (out.status != "relaxed" and not unconverged) or out.atoms is None:
            return Result(status="failed", reason=failure, wall_time=time.perf_counter() - t0,
                          stages=_stages(out), **fields, **base)
        relaxed, report = start.from_atoms(out.atoms)
        intact = report.intact and report.max_rmsd <= max_unit_rmsd
        reason = "; ".join(report.reasons)
        if report.intact and not intact:
            reason = f"unit RMSD {report.max_rmsd:.2f} Å > {max_unit_rmsd} Å"
        if unconverged:
            if not intact:  # stopped mid-way and broken: as any failure
                return Result(status="failed", reason=failure, wall_time=time.perf_counter() - t0,
                              stages=_stages(out), **fields, **base)
            status, reason = "unconverged", failure
        else:
            status = "relaxed" if intact else "broken_units"
        sg, num = spacegroup_of(out.atoms)
        from csp.fingerprint import fingerprint_genome  # the engine's default, computed here

        return Result(status=status, reason=reason,
                      genome=relaxed.to_dict(), units_intact=intact,
                      structure={"cell": np.asarray(out.atoms.cell[:]).tolist(),
                                 "positions": out.atoms.get_positions().tolist()},
                      fingerprint=fingerprint_genome(relaxed),
                      max_unit_rmsd=float(report.max_rmsd), spacegroup=sg, sg_number=num,
                      wall_time=time.perf_counter() - t0, stages=_stages(out), **fields, **base)
    except Exception as exc:  # noqa: BLE001 - a worker must report, never die
        log.debug("candidate %d crashed:\n%s", task.candidate_id, traceback.format_exc())
        return Result(status="failed", reason=f"crashed: {type(exc).__name__}: {exc}",
                      wall_time=time.perf_counter() - t0, **base)
    finally:
        if workdir is not None:
            try:
                workdir.rmdir()  # only when empty: keep the files of real calculations
            except OSError:
                pass
