"""Staged relaxation protocols (e.g. ML pre-relax -> coarse DFT -> fine DFT).

Each stage is a relaxer of its own with its own settings; the structure relaxed by
one stage starts the next. After each stage an optional integrity check runs (the
engine passes a unit-topology check); a failed check stops with ``broken_units``. A
stage that fails stops the protocol; the outcome's energy and enthalpy are those of the
last stage only (an earlier stage's are in its record), so a search that breeds from
unconverged relaxations never ranks a cheaper stage's enthalpy with final ones.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ase import Atoms
from csp.calculators.base import RelaxOutcome, StageRecord

from csp.errors import CspError

__all__ = ["StagedRelaxer"]


class StagedRelaxer:
    """A list of relaxers run one after the other on the same structure."""

    def __init__(self, stages: list[Any], names: list[str] | None = None) -> None:
        if not stages:
            raise CspError("relaxer stages: at least one stage is needed")
        self.stages = list(stages)
        self.names = names or [getattr(s, "name", f"stage{i}") for i, s in enumerate(stages)]
        self.name = "+".join(self.names)

    @classmethod
    def from_spec(cls, spec: dict) -> StagedRelaxer:
        from csp.calculators import get_relaxer

        unknown = sorted(set(spec) - {"stages", "name"})
        if unknown:
            raise CspError(f"[relaxer] with stages: unknown key(s) {unknown}")
        stages = spec["stages"]
        if not isinstance(stages, list) or not stages:
            raise CspError("[relaxer] stages must be a non-empty list of tables")
        relaxers, names = [], []
        for i, st in enumerate(stages):
            if not isinstance(st, (dict, str)):
                raise CspError(f"[relaxer] stage {i + 1} must be a table, got {st!r}")
            try:
                r = get_relaxer(st)
            except CspError as exc:
                raise CspError(f"[relaxer] stage {i + 1}: {exc}") from None
            relaxers.append(r)
            names.append(f"{i + 1}:{getattr(r, 'name', 'stage')}")
        return cls(relaxers, names)

    def relax(self, atoms: Atoms, pressure_gpa: float, workdir: str | None = None,
              check: Callable[[Atoms], tuple[bool, str]] | None = None) -> RelaxOutcome:
        t0 = time.perf_counter()
        records: list[StageRecord] = []
        current = atoms
        last: RelaxOutcome | None = None
        for i, (relaxer, name) in enumerate(zip(self.stages, self.names)):
            sub = None if workdir is None else str(Path(workdir) / f"stage{i + 1}")
            if sub is not None:
                Path(sub).mkdir(parents=True, exist_ok=True)
            out = relaxer.relax(current, pressure_gpa, sub)
            records.extend(out.stages or ())
            last = out
            if out.status != "relaxed" or out.atoms is None:
                if i + 1 < len(self.stages):
                    # the protocol's energy is its last stage's: an earlier stage's (a
                    # cheaper level of theory) stays in its StageRecord only, so that an
                    # unconverged early stage is never ranked with final-stage enthalpies
                    out = _without_energy(out)
                return _with(out, records, t0, f"stage {name}: {out.reason}")
            if check is not None:
                ok, why = check(out.atoms)
                if not ok:
                    return RelaxOutcome(status="broken_units", reason=f"after stage {name}: {why}",
                                        atoms=out.atoms, energy=out.energy, enthalpy=out.enthalpy,
                                        pressure_gpa=out.pressure_gpa,
                                        target_pressure_gpa=pressure_gpa, fmax=out.fmax,
                                        steps=sum(r.steps for r in records),
                                        wall_time=time.perf_counter() - t0, stages=tuple(records))
            current = out.atoms
        assert last is not None
        return _with(last, records, t0, last.reason)


def _without_energy(out: RelaxOutcome) -> RelaxOutcome:
    from dataclasses import replace

    return replace(out, energy=math.nan, enthalpy=math.nan)


def _with(out: RelaxOutcome, records: list, t0: float, reason: str) -> RelaxOutcome:
    from dataclasses import replace

    return replace(out, reason=reason if out.status != "relaxed" else "",
                   steps=sum(getattr(r, "steps", 0) for r in records),
                   wall_time=time.perf_counter() - t0, stages=tuple(records),
                   pressure_gpa=out.pressure_gpa if out.atoms is not None else math.nan)
