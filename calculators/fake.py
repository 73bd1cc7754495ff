"""A zero-cost relaxer for tests and engine benchmarks (relaxer name ``"fake"``).

It does not move atoms. Its energy is a smooth pair potential between atoms of
*different* units and free atoms (a Morse well at the sum of covalent radii, depth
``depth`` eV per pair), which rewards dense, well-coordinated packings like a real
potential would, so a search driven by it has a gradient to follow. Enthalpy is
``E + P V`` with the cell volume as generated. Optional knobs make it useful for
testing the machinery around a relaxer:

- ``sleep``: seconds to wait per call (a relaxation in flight when a run is killed);
- ``fail_fraction``: share of structures reported as ``not_converged`` (with their
  structure and energy, as a relaxation stopped at its step limit), chosen by a hash of
  the positions (deterministic: the same structure always fails).

This is NOT physics: never use it for predictions.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

import numpy as np
from ase import Atoms
from ase.data import covalent_radii
from csp.calculators.base import RelaxOutcome

__all__ = ["EV_PER_GPA_A3", "FakeOutcome", "FakeRelaxer"]

#: 1 GPa x 1 Å^3 in eV
EV_PER_GPA_A3 = 1.0 / 160.21766208


#: the fake relaxer returns the relaxer protocol's own outcome type
FakeOutcome: TypeAlias = RelaxOutcome


@dataclass(frozen=True)
class FakeRelaxer:
    """Instant "relaxer": Morse pair energy of the unrelaxed structure plus PV.

    Attributes:
        depth: Morse well depth per pair, eV.
        alpha: Morse stiffness, 1/Å.
        cutoff: pair cutoff, Å.
        sleep: seconds to sleep per call.
        fail_fraction: share of structures (by position hash) that fail.
    """

    depth: float = 0.5
    alpha: float = 1.5
    cutoff: float = 5.0
    sleep: float = 0.0
    fail_fraction: float = 0.0
    name: str = "fake"

    def __post_init__(self) -> None:
        from csp.errors import CspError

        for key in ("depth", "alpha", "cutoff", "sleep", "fail_fraction"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v) or v < 0:
                raise CspError(f"fake relaxer: {key} must be a number >= 0, got {v!r}")
        if self.fail_fraction > 1:
            raise CspError(f"fake relaxer: fail_fraction must be <= 1, got {self.fail_fraction!r}")
        if self.cutoff <= 0 or self.alpha <= 0:
            raise CspError("fake relaxer: cutoff and alpha must be > 0")

    @classmethod
    def from_spec(cls, spec: dict) -> FakeRelaxer:
        """Build from a ``{"name": "fake", ...}`` mapping; unknown keys are errors."""
        from csp.errors import CspError

        params = {k: v for k, v in spec.items() if k != "name"}
        allowed = {"depth", "alpha", "cutoff", "sleep", "fail_fraction"}
        unknown = sorted(set(params) - allowed)
        if unknown:
            raise CspError(f"fake relaxer: unknown setting {unknown[0]!r}; allowed: "
                           f"{', '.join(sorted(allowed))}")
        return cls(**params)

    def energy(self, atoms: Atoms) -> float:
        """Morse energy between atoms of different units / free atoms, eV.

        Brute force over the periodic images within ``cutoff`` (numpy, no neighbour
        list: a few hundred µs at 26 atoms).
        """
        cell = np.array(atoms.cell[:])
        pos = atoms.get_positions()
        tags = atoms.get_tags()
        vol = abs(np.linalg.det(cell))
        heights = vol / np.linalg.norm(np.cross(cell[[1, 2, 0]], cell[[2, 0, 1]]), axis=1)
        nmax = np.ceil(self.cutoff / heights).astype(int)
        grids = np.meshgrid(*[np.arange(-n, n + 1) for n in nmax], indexing="ij")
        shifts = np.stack([g.ravel() for g in grids], axis=1) @ cell  # (s, 3)
        diff = pos[None, :, None, :] - pos[:, None, None, :] + shifts[None, None]  # (n, n, s, 3)
        d = np.sqrt(np.einsum("ijsk,ijsk->ijs", diff, diff))
        r = covalent_radii[atoms.numbers]
        r0 = (r[:, None] + r[None, :])[:, :, None]
        same = ((tags[:, None] == tags[None, :]) & (tags[:, None] != 0))[:, :, None]
        zero = np.all(shifts == 0, axis=1)[None, None, :]
        mask = (d < self.cutoff) & (d > 1e-8) & ~(same & zero)
        x = np.exp(-self.alpha * (d - r0))
        return float(0.5 * self.depth * np.sum(np.where(mask, x * x - 2 * x, 0.0)))

    def relax(self, atoms: Atoms, pressure_gpa: float, workdir: str | Path | None = None
              ) -> FakeOutcome:
        """Return the structure unchanged with E (Morse) and H = E + PV.

        Args:
            atoms: structure; tags mark units (equal non-zero tag = same unit).
            pressure_gpa: external pressure, GPa.
            workdir: unused.
        """
        t0 = time.perf_counter()
        if self.sleep:
            time.sleep(self.sleep)
        out = atoms.copy()
        status, reason = "relaxed", ""
        if self.fail_fraction > 0:
            h = hashlib.sha1(np.round(atoms.get_positions(), 6).tobytes()).digest()
            if int.from_bytes(h[:8], "little") / 2**64 < self.fail_fraction:
                # as a relaxation stopped at its step limit: the last structure and energy
                status, reason = "not_converged", "fake: hash-selected failure"
        e = self.energy(out)
        h_ = e + pressure_gpa * out.get_volume() * EV_PER_GPA_A3
        return FakeOutcome(status=status, reason=reason, atoms=out, energy=e, enthalpy=h_,
                           pressure_gpa=float(pressure_gpa), target_pressure_gpa=float(pressure_gpa),
                           wall_time=time.perf_counter() - t0)
