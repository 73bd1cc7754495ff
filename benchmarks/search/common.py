"""What every method of the benchmark shares: the relaxer, the unit check, the
reference, the hit criterion and the run files.

One relaxation record (a dict, one per relaxation, in the order the method did them):

* ``index``: 1-based relaxation count (the budget counts these);
* ``status``: the relaxer's status ("relaxed", "not_converged", "too_close", ...);
* ``enthalpy_per_atom`` (eV/atom, NaN when the relaxation failed), ``n_atoms``;
* ``units_intact``: every unit kept its bond topology and its Kabsch RMSD to the
  template is <= ``MAX_UNIT_RMSD`` (csp's own criterion, ``Genome.from_atoms``, the
  same that ``csp.evaluate`` applies inside a csp search);
* ``units_recognised``: ``csp.recognition.recognise`` on the relaxed atoms finds the
  composition's unit counts (None for csp runs: csp.db keeps only the re-fitted
  genome, not the raw relaxed atoms);
* ``matches_reference``: pymatgen StructureMatcher against the relaxed reference (only
  tested for relaxed, intact structures within ``MATCH_WINDOW`` of the reference
  enthalpy; None = not tested);
* ``on_target`` (variable-composition systems only): the cell is the target compound;
  a hit must be;
* ``wall_time`` (s of the relaxation), ``origin`` (what made the candidate),
  ``spacegroup`` of the relaxed structure.

A run file (``<outroot>/runs/<system>/<method>/seed<S>.json``) holds the records plus
the relaxer spec, budget, seed, method, system, commit and the summary
(:func:`summarise`).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
from systems import RELAXERS, System, reference_genome

__all__ = [
    "HIT_TOLERANCE",
    "MATCH_WINDOW",
    "MAX_UNIT_RMSD",
    "STOP_AT_HIT",
    "git_commit",
    "intact_target",
    "is_hit",
    "load_reference",
    "relax_and_record",
    "relaxer_spec",
    "run_path",
    "stop_now",
    "summarise",
    "unit_check",
    "write_json",
]

#: eV/atom above the reference enthalpy that still counts as found
HIT_TOLERANCE = 0.002
#: StructureMatcher is only tried within this window above the reference, eV/atom
MATCH_WINDOW = 0.05
#: a unit whose re-fit RMSD exceeds this is broken, Å (csp's max_unit_rmsd default)
MAX_UNIT_RMSD = 0.5
REPO = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------ provenance
def git_commit() -> dict:
    """The repository's HEAD commit and whether the work tree has local changes."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True,
                                  check=False, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    commit = git("rev-parse", "HEAD")
    if not commit and (REPO / "SNAPSHOT").is_file():
        # a campaign run from an exported copy of the tree (``git archive``), which names
        # its commit in SNAPSHOT so that edits to the checkout cannot leak into the runs
        return {"commit": (REPO / "SNAPSHOT").read_text().split()[-1], "dirty": False}
    return {"commit": commit, "dirty": bool(git("status", "--porcelain"))}


def relaxer_spec(name: str) -> dict:
    """The relaxer spec of a named setting (``systems.RELAXERS``)."""
    if name not in RELAXERS:
        raise SystemExit(f"unknown relaxer setting {name!r}; known: {', '.join(RELAXERS)}")
    return dict(RELAXERS[name])


def make_relaxer(spec: dict):
    """The one relaxer object of a spec (csp's cache: one model per process)."""
    from csp.evaluate import make_relaxer as make

    return make(spec)


# -------------------------------------------------------------------- files
def run_path(outroot: Path, system: str, method: str, seed: int) -> Path:
    return Path(outroot) / "runs" / system / method / f"seed{seed}.json"


def work_dir(outroot: Path, system: str, method: str, seed: int) -> Path:
    return Path(outroot) / "work" / system / method / f"seed{seed}"


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (a killed run never leaves half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=_jsonable))
    os.replace(tmp, path)


def _jsonable(x: Any) -> Any:
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return float(x)
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"not JSON-able: {type(x).__name__}")


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return None


# --------------------------------------------------------------- unit check
def expected_units(system: System, n_atoms: int) -> dict[str, int] | None:
    """Unit counts of a cell of ``n_atoms`` atoms (None: not a whole number of f.u.)."""
    per_fu = system.atoms_per_fu()
    if n_atoms % per_fu:
        return None
    return dict(system.composition_obj(n_atoms // per_fu).units)


def recognise_units(atoms, system: System):
    """(genome, report) of csp's unit recognition with the system's unit kinds."""
    from csp.recognition import recognise
    from csp.units import get_unit

    return recognise(atoms, [get_unit(u) for u in system.unit_names()],
                     rmsd_tol=MAX_UNIT_RMSD)


def unit_check(initial, relaxed, system: System) -> tuple[bool, bool, str]:
    """(units_intact, units_recognised, reason) of a relaxed structure.

    ``initial`` is the structure as it went into the relaxer, ``relaxed`` the raw
    relaxed atoms in the same order. The units of ``initial`` are recognised (they are
    intact by construction), then re-fitted onto the relaxed atoms exactly as
    ``csp.evaluate`` does (bond topology + RMSD <= MAX_UNIT_RMSD); independently the
    relaxed atoms are searched for units from scratch.
    """
    from csp.recognition import reorder_like

    want = expected_units(system, len(initial))
    genome0, rep0 = recognise_units(initial, system)
    if want is None or genome0.unit_counts() != want:
        return False, False, f"initial structure has units {genome0.unit_counts()}, want {want}"
    _, fit = genome0.from_atoms(reorder_like(relaxed, initial, genome0, rep0))
    intact = fit.intact and fit.max_rmsd <= MAX_UNIT_RMSD
    reason = "; ".join(fit.reasons) if not fit.intact else (
        "" if intact else f"unit RMSD {fit.max_rmsd:.2f} Å > {MAX_UNIT_RMSD} Å")
    try:
        genome1, _ = recognise_units(relaxed, system)
        recognised = genome1.unit_counts() == want
    except Exception:  # noqa: BLE001 - a degenerate relaxed cell: nothing recognised
        recognised = False
    return intact, recognised, reason


# ------------------------------------------------------------------- records
def relax_and_record(atoms, system: System, relaxer, index: int, origin: str,
                     reference: dict | None = None) -> tuple[dict, Any]:
    """Relax ``atoms`` at the system's pressure and classify the result.

    Every method that relaxes in this process (ase-ga, PyXtal, the reference) goes
    through here, with the same relaxer object. Returns (record, RelaxOutcome).
    """
    from csp.evaluate import spacegroup_of

    t0 = time.perf_counter()
    out = relaxer.relax(atoms.copy(), system.pressure)
    wall = time.perf_counter() - t0
    rec = {"index": index, "status": str(out.status), "reason": str(out.reason)[:200],
           "enthalpy_per_atom": _finite(out.enthalpy_per_atom) if out.atoms is not None
           else math.nan, "n_atoms": len(atoms), "units_intact": False,
           "units_recognised": False, "matches_reference": None, "wall_time": round(wall, 3),
           "origin": origin, "spacegroup": ""}
    if out.status == "relaxed" and out.atoms is not None:
        rec["units_intact"], rec["units_recognised"], why = unit_check(atoms, out.atoms, system)
        if why:
            rec["reason"] = why[:200]
        rec["spacegroup"] = spacegroup_of(out.atoms)[0]
        if reference is not None:
            rec["matches_reference"] = match_if_close(rec, out.atoms, reference)
    return rec, out


def _finite(x: float) -> float:
    x = float(x)
    return x if math.isfinite(x) else math.nan


# ------------------------------------------------------------------ reference
def reference_path(outroot: Path, system: str) -> Path:
    return Path(outroot) / "references" / f"{system}.json"


def load_reference(system: System, spec: dict, outroot: Path) -> dict:
    """The relaxed reference of a system under ``spec`` (computed once, then cached in
    ``<outroot>/references/<system>.json``).

    Raises:
        SystemExit: the cache was made with another relaxer, or the reference relaxation
            failed / broke its units (then "found" is not defined).
    """
    path = reference_path(outroot, system.name)
    cached = read_json(path)
    if cached is not None:
        if cached["relaxer"] != spec:
            raise SystemExit(f"{path} was relaxed with {cached['relaxer']}, not {spec}: use "
                             "another --outroot per relaxer")
        return cached
    from ase.io.jsonio import encode

    atoms = reference_genome(system).to_atoms(wrap=True)
    rec, out = relax_and_record(atoms, system, make_relaxer(spec), 0, "reference")
    if rec["status"] != "relaxed" or not rec["units_intact"]:
        raise SystemExit(f"{system.name}: reference relaxation {rec['status']} "
                         f"(units intact {rec['units_intact']}): {rec['reason']}")
    ref = {"system": system.name, "relaxer": spec, "reference": system.reference,
           "enthalpy_per_atom": rec["enthalpy_per_atom"], "n_atoms": len(atoms),
           "spacegroup": rec["spacegroup"], "wall_time": rec["wall_time"],
           "volume_per_atom": out.atoms.get_volume() / len(out.atoms),
           "atoms": encode(out.atoms), "commit": git_commit()}
    write_json(path, ref)
    return ref


_REF_STRUCTURES: dict[str, Any] = {}


def _reference_structure(reference: dict):
    key = reference["system"]
    if key not in _REF_STRUCTURES:
        from ase.io.jsonio import decode
        from pymatgen.io.ase import AseAtomsAdaptor

        _REF_STRUCTURES[key] = AseAtomsAdaptor.get_structure(decode(reference["atoms"]))
    return _REF_STRUCTURES[key]


def matches_reference(atoms, reference: dict) -> bool:
    """pymatgen StructureMatcher (default tolerances, primitive cells, volumes scaled)."""
    import warnings

    from pymatgen.analysis.structure_matcher import StructureMatcher
    from pymatgen.io.ase import AseAtomsAdaptor

    a = atoms.copy()
    a.set_tags(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return bool(StructureMatcher().fit(AseAtomsAdaptor.get_structure(a),
                                               _reference_structure(reference)))
        except Exception:  # noqa: BLE001 - degenerate cells do not match
            return False


def match_if_close(rec: dict, atoms, reference: dict) -> bool | None:
    """StructureMatcher verdict for an intact structure near the reference, else None."""
    if not is_hit(rec, reference["enthalpy_per_atom"], MATCH_WINDOW):
        return None
    return matches_reference(atoms, reference)


# ---------------------------------------------------------------- hit criterion
#: stop each run at its first hit (the statistic is the relaxations to the first hit; the
#: rest of the budget cannot change it). Set by run.py (``--full-budget`` turns it off).
STOP_AT_HIT = True


def stop_now(records: list[dict], reference: dict) -> bool:
    """True when stopping at the first hit and the last relaxation is a hit."""
    return STOP_AT_HIT and bool(records) and is_hit(records[-1], reference["enthalpy_per_atom"])

def intact_target(rec: dict) -> bool:
    """Relaxed, units intact, a finite enthalpy, and the target compound (variable
    composition): a structure that can be compared with the reference."""
    h = rec.get("enthalpy_per_atom", math.nan)
    return (rec.get("status") == "relaxed" and bool(rec.get("units_intact"))
            and rec.get("on_target", True) and h is not None and math.isfinite(h))


def is_hit(rec: dict, reference_h: float, tol: float = HIT_TOLERANCE) -> bool:
    """THE hit criterion, the same for every method: an intact target structure
    (:func:`intact_target`) with an enthalpy per atom at most ``tol`` above the
    reference's (or below it)."""
    return intact_target(rec) and rec["enthalpy_per_atom"] <= reference_h + tol


def first_index(records: list[dict], pred) -> int | None:
    """1-based relaxation count of the first record satisfying ``pred``."""
    return next((r["index"] for r in records if pred(r)), None)


def summarise(records: list[dict], reference_h: float, tol: float = HIT_TOLERANCE) -> dict:
    """First hit, first StructureMatcher match, best intact enthalpy (of the target
    compound in variable composition), timings."""
    ok = [r["enthalpy_per_atom"] for r in records if intact_target(r)]
    best = min(ok, default=math.nan)
    return {"n_relaxations": len(records),
            "first_hit": first_index(records, lambda r: is_hit(r, reference_h, tol)),
            "first_match": first_index(records, lambda r: bool(r.get("matches_reference"))),
            "best_enthalpy_per_atom": best,
            "best_minus_reference_meV": 1000 * (best - reference_h) if ok else math.nan,
            "n_relaxed": sum(r["status"] == "relaxed" for r in records),
            "n_intact": sum(r["status"] == "relaxed" and bool(r["units_intact"])
                            for r in records),
            "relax_wall_s": round(sum(r["wall_time"] for r in records), 2),
            "tolerance": tol}


def run_document(system: System, method: str, seed: int, budget: int, relaxer_name: str,
                 spec: dict, reference: dict, records: list[dict], run_wall: float,
                 settings: dict, complete: bool) -> dict:
    """The JSON document of one run."""
    return {"system": system.name, "system_spec": system.to_dict(), "method": method,
            "seed": seed, "budget": budget, "relaxer_name": relaxer_name, "relaxer": spec,
            "reference_enthalpy_per_atom": reference["enthalpy_per_atom"],
            "reference_spacegroup": reference["spacegroup"], "commit": git_commit(),
            "method_settings": settings, "run_wall_s": round(run_wall, 2),
            "complete": complete, "summary": summarise(records, reference["enthalpy_per_atom"]),
            "relaxations": records}
