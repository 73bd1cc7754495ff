"""Search statistics: how often, and after how many relaxations, does a search reach a
reference structure's enthalpy?

Runs ``csp run CONFIG --seed S`` for each seed (one output directory per seed), relaxes
the reference with the same relaxer and pressure, and reports per seed the first
evaluation whose enthalpy per atom is within ``--tolerance`` of the reference (or below).

    python benchmarks/search/success_rate.py examples/srb12_50gpa.toml --seeds 1 2 \\
        --reference sc-xb12:Sr --outroot runs/srb12

``--reference`` is a structure file (CIF/POSCAR: fitted to no units, so give the
genome via ``csp.seeds`` names when units matter), ``sc-xb12:El[:a]`` (simple-cubic
XB12: B12 at the origin, El at the body centre, a in Å), or any ``csp.seeds`` spec.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path


def reference_genome(spec: str):
    """The reference structure as a Genome."""
    import numpy as np
    from ase.data import atomic_numbers

    from csp.genome import Genome
    from csp.units import get_unit

    if spec.startswith("sc-xb12:"):
        parts = spec.split(":")
        a = float(parts[2]) if len(parts) > 2 else 4.3
        return Genome.from_units(np.eye(3) * a, [get_unit("B12")], [[0, 0, 0]], [[1, 0, 0, 0]],
                                 [atomic_numbers[parts[1]]], [[0.5, 0.5, 0.5]])
    from csp.engine import resolve_seeds

    return resolve_seeds([spec])[0]


def first_hit(db_path: Path, target: float, tol: float) -> tuple[int | None, float, int]:
    """(eval_index of the first hit or None, best H/atom, evaluations) of a run."""
    import ase.db

    rows = [r for r in ase.db.connect(str(db_path)).select(status="relaxed")]
    rows.sort(key=lambda r: r.eval_index)
    hit = next((r.eval_index + 1 for r in rows if r.enthalpy_per_atom <= target + tol), None)
    best = min((r.enthalpy_per_atom for r in rows), default=float("nan"))
    n = sum(1 for r in ase.db.connect(str(db_path)).select() if r.get("eval_index", -1) >= 0)
    return hit, best, n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1])
    ap.add_argument("--reference", required=True)
    ap.add_argument("--tolerance", type=float, default=0.005, help="eV/atom")
    ap.add_argument("--outroot", default="runs")
    ap.add_argument("--csp-args", default="", help="extra arguments for csp run")
    args = ap.parse_args()

    from csp.config import load_config
    from csp.evaluate import Task, evaluate

    cfg = load_config(args.config)
    ref = reference_genome(args.reference)
    out = evaluate(Task(-1, ref, "reference", pressure=cfg.pressures[0]), cfg.relaxer)
    if out.status != "relaxed":
        sys.exit(f"reference relaxation failed: {out.reason}")
    print(f"reference {args.reference}: H = {out.enthalpy_per_atom:.4f} eV/atom, "
          f"{out.spacegroup}, units intact {out.units_intact}", flush=True)
    summary = []
    for seed in args.seeds:
        outdir = Path(args.outroot) / f"seed{seed}"
        cmd = [sys.executable, "-m", "csp", "run", args.config, "--seed", str(seed),
               "--outdir", str(outdir), "--resume", "-q", *args.csp_args.split()]
        subprocess.run(cmd, check=False)
        hit, best, n = first_hit(outdir / "csp.db", out.enthalpy_per_atom, args.tolerance)
        summary.append({"seed": seed, "hit_at": hit, "best": best, "evaluations": n,
                        "best_minus_ref_meV": 1000 * (best - out.enthalpy_per_atom)})
        print(json.dumps(summary[-1]), flush=True)
    found = [s for s in summary if s["hit_at"] is not None]
    print(f"success {len(found)}/{len(summary)} within {args.tolerance * 1000:.0f} meV/atom; "
          f"evaluations to hit: {[s['hit_at'] for s in found]}")


if __name__ == "__main__":
    main()
