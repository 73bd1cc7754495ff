"""Universal machine-learned potentials as relaxers (the built-in default).

Default: SevenNet ``7net-mf-0`` with its PBE modality. Its weights ship inside the
``sevenn`` wheel (``sevenn/pretrained_potentials/SevenNet_MF_0``), so it runs offline
on a CPU. Chosen over CHGNet 0.3 (also offline, name ``"chgnet"``) on the XB12 test
at 50 GPa (issue #4 measurements, ΔH(superatomic - UB12-type) in meV/atom vs the
published PBE ordering Ca -23, Ba -264, Y/Sc > +100): 7net-mf-0 gives Ba -207 and
Y +63 where CHGNet gives Ba -133 and Y +17, with 1.7 GB instead of 4.6 GB of memory
at 104 atoms and the same speed (~0.25 s per energy+forces+stress call at 13 atoms,
one thread). Both order Ca wrongly (+22 / +2 meV/atom): Ca-B needs DFT.

Relaxation: ASE optimizer on ``FrechetCellFilter(atoms, scalar_pressure=P)``, so the
cell and positions relax together to the target hydrostatic pressure, converged when
every force and the (scaled) stress residual are below ``fmax``.
"""

from __future__ import annotations

import logging
import math
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from ase import Atoms
from ase.units import GPa
from csp.calculators.base import (
    RelaxOutcome,
    StageRecord,
    enthalpy,
    pressure_from_stress,
    too_close,
)

from csp.errors import CspError

__all__ = ["MODELS", "MLRelaxer", "MLSettings", "load_calculator"]

log = logging.getLogger(__name__)

#: model name -> (description, loader)
MODELS = {
    "sevennet": "SevenNet 7net-mf-0, PBE modality (default; weights in the sevenn wheel)",
    "sevennet-0": "SevenNet 7net-0 (weights in the sevenn wheel)",
    "chgnet": "CHGNet 0.3.0 (weights in the chgnet wheel)",
}

_CALC_CACHE: dict[tuple, Any] = {}


def _set_threads(threads: int) -> None:
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def load_calculator(model: str, threads: int = 1) -> Any:
    """The ASE calculator of a model, loaded once per process (loading costs seconds)."""
    key = (model,)
    if key in _CALC_CACHE:
        return _CALC_CACHE[key]
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        _set_threads(threads)
    except ImportError as exc:
        raise CspError(f"relaxer model {model!r} needs torch: pip install torch, then "
                       f"pip install 'csp[ml]' ({exc})") from None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if model in ("sevennet", "sevennet-0"):
            try:
                from sevenn.calculator import SevenNetCalculator
            except ImportError as exc:
                raise CspError(f"relaxer model {model!r} needs sevenn: pip install "
                               f"'csp[ml]' ({exc})") from None
            if model == "sevennet":
                calc = SevenNetCalculator(model="7net-mf-0", modal="PBE", device="cpu")
            else:
                calc = SevenNetCalculator(model="7net-0", device="cpu")
        elif model == "chgnet":
            try:
                from chgnet.model.dynamics import CHGNetCalculator
            except ImportError as exc:
                raise CspError(f"relaxer model 'chgnet' needs chgnet: pip install chgnet "
                               f"({exc})") from None
            calc = CHGNetCalculator(use_device="cpu")
        else:
            raise CspError(f"unknown ML model {model!r}; known: {', '.join(MODELS)}")
    _CALC_CACHE[key] = calc
    return calc


@dataclass(frozen=True)
class MLSettings:
    """Settings of an ML relaxation.

    Attributes:
        model: one of MODELS.
        fmax: convergence on forces and FrechetCellFilter stress residual, eV/Å.
        steps: maximum optimizer steps.
        optimizer: "FIRE+BFGS" (default: FIRE down to ``coarse_fmax``, robust far from a
            minimum, then BFGS, fast close to it), "FIRE", "BFGS" or "LBFGS" (ASE).
        coarse_fmax: eV/Å where FIRE hands over to BFGS.
        threads: torch threads per process.
        min_distance_factor: reject before calling the model when two atoms are closer
            than this x (sum of covalent radii) ("too_close").
        fix_cell: relax positions only (no FrechetCellFilter).
    """

    model: str = "sevennet"
    fmax: float = 0.02
    steps: int = 600
    optimizer: str = "FIRE+BFGS"
    coarse_fmax: float = 0.3
    threads: int = 1
    min_distance_factor: float = 0.5
    fix_cell: bool = False

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise CspError(f"relaxer setting model = {self.model!r}: unknown; known: "
                           f"{', '.join(MODELS)}")
        if not (isinstance(self.fmax, (int, float)) and self.fmax > 0):
            raise CspError(f"relaxer setting fmax must be > 0 eV/Å, got {self.fmax!r}")
        if not (isinstance(self.steps, int) and self.steps > 0):
            raise CspError(f"relaxer setting steps must be a positive integer, got {self.steps!r}")
        if self.optimizer not in ("FIRE+BFGS", "FIRE", "BFGS", "LBFGS"):
            raise CspError(f"relaxer setting optimizer = {self.optimizer!r}: use FIRE+BFGS, FIRE, BFGS "
                           "or LBFGS")
        if not (isinstance(self.threads, int) and self.threads > 0):
            raise CspError(f"relaxer setting threads must be a positive integer, got "
                           f"{self.threads!r}")

    @classmethod
    def from_dict(cls, d: dict) -> MLSettings:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise CspError(f"unknown ML relaxer setting(s) {unknown}; known: {sorted(known)}")
        return cls(**d)


class MLRelaxer:
    """Relax with a universal ML potential + FrechetCellFilter at a scalar pressure."""

    def __init__(self, settings: MLSettings | None = None, name: str | None = None) -> None:
        self.settings = settings or MLSettings()
        self.name = name or self.settings.model

    def __repr__(self) -> str:
        return f"MLRelaxer({self.settings})"

    def relax(self, atoms: Atoms, pressure_gpa: float, workdir: str | None = None,
              check: Callable[[Atoms], tuple[bool, str]] | None = None) -> RelaxOutcome:
        """Relax ``atoms`` at ``pressure_gpa``; never raises for a failed relaxation."""
        t0 = time.perf_counter()
        s = self.settings
        bad, why = too_close(atoms, s.min_distance_factor)
        if bad:
            return _fail("too_close", why, pressure_gpa, t0)
        calc = load_calculator(s.model, s.threads)  # a CspError here is a setup error: raise
        work = atoms.copy()
        work.calc = calc
        try:
            with warnings.catch_warnings():
                # FrechetCellFilter takes the matrix log of the deformation gradient; scipy
                # warns at every step of a large cell (C60 crystals) that its error
                # estimate is ~1e-12: noise, not a problem of the relaxation
                warnings.filterwarnings("ignore", message="logm result may be inaccurate")
                outcome = self._optimise(work, pressure_gpa, t0)
        except Exception as exc:  # noqa: BLE001 - a model or optimizer blow-up is data
            return _fail("crashed", f"{type(exc).__name__}: {exc}", pressure_gpa, t0)
        return outcome

    def _optimise(self, work: Atoms, pressure_gpa: float, t0: float) -> RelaxOutcome:
        from ase import optimize
        from ase.filters import FrechetCellFilter

        s = self.settings
        target = work if s.fix_cell else FrechetCellFilter(work, scalar_pressure=pressure_gpa * GPa)
        v0 = work.get_volume() / len(work)
        plan = ([("FIRE", max(s.fmax, s.coarse_fmax)), ("BFGS", s.fmax)]
                if s.optimizer == "FIRE+BFGS" else [(s.optimizer, s.fmax)])
        converged, steps, diverged = False, 0, ""
        for name, fmax_goal in plan:
            opt = getattr(optimize, name)(target, logfile=None)
            converged, diverged = _run(opt, target, work, fmax_goal, s.steps - steps, v0,
                                       s.min_distance_factor)
            steps += int(opt.get_number_of_steps())
            if diverged or steps >= s.steps:
                break
        if diverged:
            return _fail("too_close" if diverged.startswith("collapsed") else "not_converged",
                         f"diverged after {steps} steps: {diverged}", pressure_gpa, t0)
        energy = float(work.get_potential_energy())
        stress = work.get_stress()
        forces = target.get_forces()
        fmax = float(np.sqrt((forces**2).sum(axis=1)).max()) if len(forces) else 0.0
        p = pressure_from_stress(stress)
        h = enthalpy(energy, work.get_volume(), pressure_gpa)
        relaxed = work.copy()
        relaxed.calc = None
        wall = time.perf_counter() - t0
        if not all(map(math.isfinite, (energy, p, h, fmax))) or not np.all(
                np.isfinite(relaxed.positions)):
            return _fail("bad_output", f"non-finite energy/stress (E={energy}, P={p})",
                         pressure_gpa, t0)
        status, reason = "relaxed", ""
        bad, why = too_close(relaxed, s.min_distance_factor)
        if bad:
            return _fail("too_close", f"collapsed during the relaxation: {why}", pressure_gpa, t0)
        if not converged:
            status, reason = "not_converged", f"fmax {fmax:.3g} eV/Å after {steps} steps"
        rec = StageRecord(name=self.name, status=status, reason=reason, energy=energy,
                          enthalpy=h, pressure_gpa=p, fmax=fmax, steps=steps, wall_time=wall)
        return RelaxOutcome(status=status, reason=reason, atoms=relaxed, energy=energy,
                            enthalpy=h, pressure_gpa=p, target_pressure_gpa=pressure_gpa,
                            fmax=fmax, steps=steps, wall_time=wall, stages=(rec,))


#: checks of a running relaxation: every CHECK_EVERY steps; forces beyond DIVERGED_FMAX
CHECK_EVERY = 10
DIVERGED_FMAX = 200.0  # eV/Å


def _run(opt, target, work: Atoms, fmax: float, steps: int, v0: float,
         min_factor: float) -> tuple[bool, str]:
    """Run an optimizer; stop early when the relaxation diverges: an ML potential far
    outside its training data can send forces to 1e9 eV/Å, blow the cell up, or pull
    atoms into each other (a collapse to tens of eV/atom below any real crystal).

    Returns (converged, why it diverged or "")."""
    if steps <= 0:
        return False, ""
    for k, converged in enumerate(opt.irun(fmax=fmax, steps=steps)):
        if converged:
            return True, ""
        f = target.get_forces()
        fm = float(np.sqrt((f**2).sum(axis=1)).max()) if len(f) else 0.0
        v = work.get_volume() / len(work)
        if not math.isfinite(fm) or (fm > DIVERGED_FMAX and k >= CHECK_EVERY):
            return False, f"fmax {fm:.3g} eV/Å"
        if not 0.2 * v0 < v < 10.0 * v0:
            return False, f"volume {v:.3g} Å^3/atom from {v0:.3g}"
        if k % CHECK_EVERY == CHECK_EVERY - 1:
            bad, why = too_close(work, min_factor)
            if bad:
                return False, f"collapsed: {why}"
    return False, ""


def _fail(status: str, reason: str, pressure_gpa: float, t0: float) -> RelaxOutcome:
    wall = time.perf_counter() - t0
    rec = StageRecord(name="ml", status=status, reason=reason, wall_time=wall)
    return RelaxOutcome(status=status, reason=reason, target_pressure_gpa=pressure_gpa,
                        wall_time=wall, stages=(rec,))
