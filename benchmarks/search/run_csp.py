"""csp's own methods: the genetic algorithm (``csp-ga``) and its random symmetric
search (``csp-random``: ``random_fraction = 1``, every candidate a fresh random
symmetric structure, no variation: the AIRSS-style baseline). The GA breeds from
relaxations stopped at the relaxer's step cap (``[search] unconverged = "breed"``, csp's
default; the hit criterion still needs a converged relaxation); ``csp-ga-discard`` is
the GA that records them as failures (the ablation; csp-ga before 2026-12-06). Random
search has no parents to feed, so it records them as failures too (``discard``: an
unconverged random draw is a failed sample, as in AIRSS, and its runs are those of the
committed records).

Both run ``python -m csp run CONFIG --seed S --outdir DIR -q`` (``--resume`` when the
directory holds a ``csp.db`` already), with a TOML written here for the system, then
read ``DIR/csp.db``: rows with ``eval_index >= 0`` (every candidate that went through
the relaxer, duplicates after relaxation included; duplicates rejected *before*
relaxation cost no relaxation and are not counted), in ``eval_index`` order.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import common
from common import (
    MATCH_WINDOW,
    is_hit,
    matches_reference,
    read_json,
    write_json,
)
from systems import GA_SETTINGS, System

__all__ = ["METHODS", "config_text", "read_records", "relaxation_rows", "run_csp"]

METHODS = ("csp-ga", "csp-random", "csp-ga-discard")
SPACEGROUPS = (2, 230)


def config_text(system: System, method: str, seed: int, budget: int, spec: dict,
                outdir: Path) -> str:
    """The csp TOML configuration of one run (no seeds: the reference is never given)."""
    if method not in METHODS:
        raise ValueError(f"not a csp method: {method}")
    fu = system.formula_units
    fu_text = f"[{fu[0]}, {fu[-1]}]" if len(fu) > 1 else f"[{fu[0]}]"
    if system.variable:
        comp_text = (f"\n[composition]\nblocks = {json.dumps(list(system.blocks))}\n"
                     f"min_atoms = {system.atoms[0]}\nmax_atoms = {system.atoms[1]}\n")
    else:
        comp_text = f'composition = "{system.composition}"\nformula_units = {fu_text}\n'
    s = settings(method)  # what the run file records is what the TOML asks for
    relaxer = "\n".join(f"{k} = {json.dumps(v)}" for k, v in spec.items())
    return f"""# written by benchmarks/search/run_csp.py: {system.title}, {method}
name = "{system.name} {method}"
seed = {seed}
outdir = "{outdir}"
pressure = {system.pressure}
{comp_text}
[relaxer]
{relaxer}

[search]
population_size = {s['population_size']}
initial_population = {s['initial_population']}
max_evaluations = {budget}
spacegroups = [{s['spacegroups'][0]}, {s['spacegroups'][1]}]
random_fraction = {s['random_fraction']}
broken_units = "reject"
unconverged = "{s['unconverged']}"
"""


def settings(method: str) -> dict:
    """What the run file records about the method's configuration (only the GA breeds
    from relaxations stopped at the step cap)."""
    return {**GA_SETTINGS, "spacegroups": list(SPACEGROUPS),
            "random_fraction": 1.0 if method == "csp-random" else 0.1,
            "unconverged": "breed" if method == "csp-ga" else "discard",
            "driver": "python -m csp run CONFIG --seed S --outdir DIR -q [--resume]"}


def _status(row) -> str:
    """The relaxer-level status of a csp.db row (csp folds unit checks into status)."""
    res = row.data.get("result", {})
    st = res.get("status", row.status)
    if st in ("relaxed", "broken_units"):
        return "relaxed"
    reason = str(res.get("reason", row.get("reason", "")))
    return reason.split(":", 1)[0].strip() or "failed"


def relaxation_rows(db_path: Path) -> list:
    """The rows of a csp.db that went through the relaxer, in eval_index order."""
    import ase.db

    with ase.db.connect(str(db_path)) as db:
        rows = [r for r in db.select() if r.get("eval_index", -1) >= 0]
    rows.sort(key=lambda r: r.eval_index)
    return rows


def read_records(db_path: Path, reference: dict, system: System | None = None) -> list[dict]:
    """One record per relaxation of a csp run, in eval_index order; in variable
    composition (``system.variable``) each says whether it is the target compound."""
    from csp.evaluate import spacegroup_of
    from csp.genome import Genome

    out = []
    for r in relaxation_rows(db_path):
        status = _status(r)
        h = float(r.get("enthalpy_per_atom", math.nan))
        rec = {"index": int(r.eval_index) + 1, "status": status,
               "reason": str(r.get("reason", ""))[:200],
               "enthalpy_per_atom": h if status == "relaxed" else math.nan,
               "n_atoms": int(r.natoms), "units_intact": bool(r.get("units_intact", False)),
               "units_recognised": None, "matches_reference": None,
               "wall_time": round(float(r.get("wall_time", 0.0)), 3),
               "origin": str(r.get("origin", "")) + (f":{r.operator}" if r.get("operator", "none")
                                                     not in ("none", "") else ""),
               "spacegroup": str(r.get("spacegroup", "")), "csp_status": str(r.status)}
        if system is not None and system.variable:
            g = Genome.from_dict(r.data["initial_genome"])  # relaxation keeps the units
            rec["on_target"] = system.on_target(g.unit_counts(), g.atom_counts())
        if is_hit(rec, reference["enthalpy_per_atom"], MATCH_WINDOW):  # as match_if_close
            atoms = r.toatoms()  # the relaxed genome (units re-fitted), relaxed cell
            rec["matches_reference"] = matches_reference(atoms, reference)
            rec["spacegroup"] = rec["spacegroup"] or spacegroup_of(atoms)[0]
        out.append(rec)
    return out


#: seconds between updates of a running search's ``elapsed.json`` (the environment's
#: CSP_BENCH_ELAPSED_EVERY overrides it: tests)
ELAPSED_EVERY = float(os.environ.get("CSP_BENCH_ELAPSED_EVERY", "20"))


def run_csp(system: System, method: str, seed: int, budget: int, spec: dict, workdir: Path,
            reference: dict, quiet: bool = True) -> tuple[list[dict], float, dict]:
    """Run (or resume) one csp search; returns (records, run wall time s, settings).

    The wall time adds up over resumed sessions (``DIR/elapsed.json``).
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = workdir / "config.toml"
    text = config_text(system, method, seed, budget, spec, workdir / "csp")
    # csp stops itself at the first hit (same criterion); not in variable composition,
    # where the enthalpy per atom alone does not say the composition is the target's
    if common.STOP_AT_HIT and not system.variable:
        text += f"stop_at_enthalpy = {reference['enthalpy_per_atom'] + common.HIT_TOLERANCE!r}\n"
    cfg.write_text(text)
    cmd = [sys.executable, "-m", "csp", "run", str(cfg), "--seed", str(seed),
           "--outdir", str(workdir / "csp"), "--max-evaluations", str(budget)]
    if quiet:
        cmd.append("-q")
    if (workdir / "csp" / "csp.db").exists():
        cmd.append("--resume")
    before = (read_json(workdir / "elapsed.json") or {}).get("seconds", 0.0)
    t0 = time.perf_counter()

    def save_elapsed() -> float:
        elapsed = before + time.perf_counter() - t0
        write_json(workdir / "elapsed.json", {"seconds": elapsed})
        return elapsed

    with open(workdir / "csp.log", "a") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, text=True)
        try:
            while True:  # the wall time on disk every ELAPSED_EVERY s: a SIGKILL loses no more
                try:
                    code = proc.wait(timeout=ELAPSED_EVERY)
                    break
                except subprocess.TimeoutExpired:
                    save_elapsed()
        finally:  # interrupted: stop csp cleanly (it marks in-flight work pending)
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=60)
            elapsed = save_elapsed()
    if code != 0:
        tail = (workdir / "csp.log").read_text().strip().splitlines()[-3:]
        raise RuntimeError(f"csp run exited with {code}: {' | '.join(tail)}")
    records = read_records(workdir / "csp" / "csp.db", reference, system)
    return records, elapsed, settings(method)
