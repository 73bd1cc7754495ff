"""The relaxer protocol: what every relaxer returns, and its failure classes.

A relaxer relaxes an ``ase.Atoms`` at a pressure in a work directory and returns a
:class:`RelaxOutcome`. Expected failures (no convergence, SCF failure, a crashed or
timed-out program, atoms too close, unreadable output) are outcomes, never
exceptions: a search records them and goes on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from ase import Atoms
from ase.units import GPa

__all__ = ["FAILURE_CLASSES", "RelaxOutcome", "Relaxer", "StageRecord", "enthalpy",
           "pressure_from_stress", "too_close"]

#: failure classes a relaxer may report (status other than "relaxed")
FAILURE_CLASSES = ("not_converged", "scf_failed", "crashed", "timeout", "too_close",
                   "broken_units", "bad_output")


def enthalpy(energy: float, volume: float, pressure_gpa: float) -> float:
    """H = E + P V in eV, with V in Å^3 and P in GPa."""
    return float(energy + pressure_gpa * GPa * volume)


def pressure_from_stress(stress: np.ndarray) -> float:
    """Hydrostatic pressure (GPa) from an ASE stress (eV/Å^3, Voigt or 3x3): P = -tr(σ)/3."""
    s = np.asarray(stress, dtype=float)
    tr = s[:3].sum() if s.shape == (6,) else np.trace(s)
    return float(-tr / 3.0 / GPa)


def too_close(atoms: Atoms, factor: float = 0.5) -> tuple[bool, str]:
    """True when two atoms are closer than factor x (sum of covalent radii)."""
    from ase.data import covalent_radii
    from ase.neighborlist import neighbor_list

    if len(atoms) < 1:
        return False, ""
    cut = 2 * factor * covalent_radii[atoms.numbers].max()
    i, j, d = neighbor_list("ijd", atoms, cut)
    if len(d) == 0:
        return False, ""
    lim = factor * (covalent_radii[atoms.numbers[i]] + covalent_radii[atoms.numbers[j]])
    bad = d < lim
    if bad.any():
        k = int(np.argmin(d / lim))
        return True, (f"atoms {i[k]} ({atoms[i[k]].symbol}) and {j[k]} ({atoms[j[k]].symbol}) "
                      f"{d[k]:.2f} Å apart (< {lim[k]:.2f} Å)")
    return False, ""


@dataclass(frozen=True)
class StageRecord:
    """Summary of one stage of a (possibly staged) relaxation."""

    name: str
    status: str
    reason: str = ""
    energy: float = math.nan
    enthalpy: float = math.nan
    pressure_gpa: float = math.nan
    fmax: float = math.nan
    steps: int = 0
    wall_time: float = 0.0

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class RelaxOutcome:
    """Result of one relaxation.

    Attributes:
        status: "relaxed" or a failure class (see FAILURE_CLASSES).
        reason: human-readable cause of a failure ("" when relaxed).
        atoms: relaxed structure, same atom order as the input (None if unusable).
        energy: total energy, eV.
        enthalpy: H = E + P V at the target pressure, eV.
        pressure_gpa: hydrostatic pressure reached, GPa.
        target_pressure_gpa: the pressure asked for, GPa.
        fmax: largest residual force (including cell DOF in the filter's units), eV/Å.
        steps: optimizer / ionic steps.
        wall_time: seconds.
        stages: per-stage records (one for a single-stage relaxer).
    """

    status: str
    reason: str = ""
    atoms: Atoms | None = None
    energy: float = math.nan
    enthalpy: float = math.nan
    pressure_gpa: float = math.nan
    target_pressure_gpa: float = math.nan
    fmax: float = math.nan
    steps: int = 0
    wall_time: float = 0.0
    stages: tuple[StageRecord, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return self.status == "relaxed"

    @property
    def n_atoms(self) -> int:
        return len(self.atoms) if self.atoms is not None else 0

    @property
    def enthalpy_per_atom(self) -> float:
        return self.enthalpy / self.n_atoms if self.n_atoms else math.nan

    @property
    def energy_per_atom(self) -> float:
        return self.energy / self.n_atoms if self.n_atoms else math.nan

    @property
    def volume_per_atom(self) -> float:
        if self.atoms is None or not self.n_atoms:
            return math.nan
        return self.atoms.get_volume() / self.n_atoms

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (no atoms)."""
        return {"status": self.status, "reason": self.reason, "energy": self.energy,
                "enthalpy": self.enthalpy, "enthalpy_per_atom": self.enthalpy_per_atom,
                "energy_per_atom": self.energy_per_atom, "volume_per_atom": self.volume_per_atom,
                "pressure_gpa": self.pressure_gpa, "target_pressure_gpa": self.target_pressure_gpa,
                "fmax": self.fmax, "steps": self.steps, "wall_time": self.wall_time,
                "stages": [s.to_dict() for s in self.stages]}


class Relaxer(Protocol):
    """Anything with ``relax(atoms, pressure_gpa, workdir) -> RelaxOutcome``."""

    @property
    def name(self) -> str:  # read-only: a frozen dataclass's field satisfies it
        ...

    def relax(self, atoms: Atoms, pressure_gpa: float, workdir: str | None = None) -> RelaxOutcome:
        ...
