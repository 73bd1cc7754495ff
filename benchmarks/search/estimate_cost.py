"""Estimate a campaign's wall time from ONE relaxation of a random structure per system.

    python benchmarks/search/estimate_cost.py [--systems ...] [--relaxer cheap]
        [--seeds 10] [--methods 4] [--budget 30] [--cores 2]

Per system: a random symmetric csp structure with the system's largest number of
formula units (the most expensive cell any method relaxes), relaxed once with the
relaxer (model loading timed apart). The estimate is the sum over systems of
methods x seeds x (the system's budget, or --budget) x (its relaxation time) / cores,
plus the model loads; generation and bookkeeping are not included (PyXtal and ase-ga's
start generator add up to a few seconds per candidate for SrB12, see RESULTS.md).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from systems import DEFAULT_SYSTEMS, RELAXERS, get_system, run_budget


def time_one(system, relaxer, seed: int = 0) -> dict:
    """Generate one random structure and relax it; timings and outcome."""
    from csp.operators.generation import generate

    rng = np.random.default_rng(seed)
    comp = system.composition_obj(system.max_formula_units)
    t0 = time.perf_counter()
    genome = generate(comp, system.pressure, rng, spacegroup=(2, 230))
    t_gen = time.perf_counter() - t0
    atoms = genome.to_atoms(wrap=True)
    t0 = time.perf_counter()
    out = relaxer.relax(atoms, system.pressure)
    return {"system": system.name, "atoms": len(atoms), "generate_s": t_gen,
            "relax_s": time.perf_counter() - t0, "steps": out.steps, "status": out.status,
            "H": out.enthalpy_per_atom}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--systems", nargs="+", default=list(DEFAULT_SYSTEMS))
    ap.add_argument("--relaxer", default="cheap", choices=sorted(RELAXERS))
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--methods", type=int, default=4)
    ap.add_argument("--budget", type=int, default=None,
                    help="relaxations per run (default: each system's own, as run.py)")
    ap.add_argument("--cores", type=int, default=2)
    args = ap.parse_args()
    if min(args.seeds, args.methods, args.cores) < 1 or (args.budget is not None
                                                         and args.budget < 1):
        ap.error("--seeds, --methods, --cores and --budget must be >= 1")
    from csp.evaluate import make_relaxer

    spec = RELAXERS[args.relaxer]
    relaxer = make_relaxer(spec)
    t0 = time.perf_counter()
    if spec.get("name") != "fake":
        from csp.calculators.ml import load_calculator

        load_calculator(spec["name"], spec.get("threads", 1))
    t_load = time.perf_counter() - t0
    print(f"relaxer {args.relaxer} = {spec}; model load {t_load:.1f} s")
    systems = [get_system(s) for s in args.systems]
    rows = [time_one(s, relaxer) for s in systems]
    relax_s = 0.0
    for system, r in zip(systems, rows):
        budget = run_budget(system.name, args.budget)
        relax_s += args.methods * args.seeds * budget * r["relax_s"]
        print(f"{r['system']:<9} {r['atoms']:>3} atoms: generate {r['generate_s']:.2f} s, relax "
              f"{r['relax_s']:.1f} s, {r['steps']} steps, {r['status']}, H {r['H']:.4f} eV/atom, "
              f"budget {budget}")
    n_runs = len(rows) * args.methods * args.seeds
    total = (relax_s + n_runs * t_load) / args.cores
    print(f"{n_runs} runs at each system's budget on {args.cores} cores: ~{total / 3600:.1f} h "
          f"(relaxations + one model load per run)")


if __name__ == "__main__":
    main()
