"""Search statistics: how often, and after how many relaxations, does a search reach a
reference structure's enthalpy?

Runs ``csp run CONFIG --seed S`` for each seed (one output directory per seed and
method), relaxes the reference with the same relaxer and pressure, and reports per seed
the first evaluation whose enthalpy per atom is within ``--tolerance`` of the reference
(or below it) with its units intact. Methods:

* ``ga``: the configuration as it is (the genetic algorithm);
* ``random``: the same configuration with ``random_fraction = 1``: every candidate is a
  fresh random symmetric structure (AIRSS-style baseline, same relaxer and budget).

    python benchmarks/search/success_rate.py examples/srb12_50gpa.toml --seeds 1 2 3 4 5 \\
        --methods ga random --reference sc-xb12:Sr --outroot runs/srb12-stats \\
        --json benchmarks/search/srb12_50gpa.json

``--reference`` is ``sc-xb12:El[:a]`` (simple-cubic XB12: B12 at the origin, El at the
body centre, a in Å) or any ``csp.seeds`` spec (library name, file, recipe). A run that
exists already is resumed (``--resume``), so the script can be stopped and restarted.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import tomllib


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


def first_hit(db_path: Path, target: float, tol: float) -> tuple[int | None, float, int, float]:
    """(relaxations to the first hit or None, best H/atom, relaxations, wall time s)."""
    from run_csp import relaxation_rows

    rows = relaxation_rows(db_path)
    ok = [r for r in rows if r.status == "relaxed" and r.get("units_intact", False)]
    hit = next((r.eval_index + 1 for r in ok if r.enthalpy_per_atom <= target + tol), None)
    best = min((r.enthalpy_per_atom for r in ok), default=float("nan"))
    wall = sum(r.get("wall_time", 0.0) for r in rows)
    return hit, best, len(rows), wall


def with_search_keys(config: Path, keys: dict, path: Path) -> Path:
    """A copy of a TOML config with keys set in its [search] table (others kept)."""
    lines = config.read_text().splitlines()
    out, in_search, placed = [], False, False
    extra = [f"{k} = {v!r}" for k, v in keys.items()]
    for line in lines:
        head = line.strip().startswith("[")
        if head and in_search and not placed:
            out += extra
            placed = True
        if head:
            in_search = line.strip() == "[search]"
        if in_search and line.split("=")[0].strip() in keys:
            continue
        out.append(line)
    if not placed:
        if not in_search:
            out.append("[search]")
        out += extra
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out) + "\n")
    tomllib.loads(path.read_text())  # still valid TOML
    return path


def method_config(config: Path, method: str, outdir: Path, stop_at: float | None) -> Path:
    """The TOML file to run for a method: ``random`` sets random_fraction = 1; with
    ``stop_at`` the run ends at the first relaxed structure at or below that enthalpy
    (the statistic is the relaxations to the first hit: the rest of the budget would
    not change it)."""
    if method not in ("ga", "random"):
        raise SystemExit(f"unknown method {method!r}: use ga or random")
    keys: dict = {"random_fraction": 1.0} if method == "random" else {}
    if stop_at is not None:
        keys["stop_at_enthalpy"] = round(stop_at, 6)
    if not keys:
        return config
    return with_search_keys(config, keys, outdir / f"{config.stem}.{method}.toml")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config", type=Path)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1])
    ap.add_argument("--methods", nargs="+", default=["ga"], choices=["ga", "random"])
    ap.add_argument("--reference", required=True)
    ap.add_argument("--tolerance", type=float, default=0.002, help="eV/atom (default 2 meV)")
    ap.add_argument("--outroot", type=Path, default=Path("runs"))
    ap.add_argument("--json", type=Path, help="write the per-seed results here")
    ap.add_argument("--csp-args", default="", help="extra arguments for csp run")
    ap.add_argument("--full-budget", action="store_true",
                    help="run every search to its budget (default: stop at the first hit)")
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
    for method in args.methods:
        stop = None if args.full_budget else out.enthalpy_per_atom + args.tolerance
        path = method_config(args.config, method, args.outroot, stop)
        for seed in args.seeds:
            outdir = args.outroot / f"{method}-seed{seed}"
            cmd = [sys.executable, "-m", "csp", "run", str(path), "--seed", str(seed),
                   "--outdir", str(outdir), "-q", *args.csp_args.split()]
            if (outdir / "csp.db").exists():
                cmd.append("--resume")
            subprocess.run(cmd, check=False)
            hit, best, n, wall = first_hit(outdir / "csp.db", out.enthalpy_per_atom,
                                           args.tolerance)
            summary.append({"method": method, "seed": seed, "hit_at": hit, "best": best,
                            "evaluations": n, "relax_wall_s": round(wall, 1),
                            "best_minus_ref_meV": 1000 * (best - out.enthalpy_per_atom)})
            print(json.dumps(summary[-1]), flush=True)
    for method in args.methods:
        rows = [s for s in summary if s["method"] == method]
        found = [s["hit_at"] for s in rows if s["hit_at"] is not None]
        print(f"{method}: success {len(found)}/{len(rows)} within "
              f"{args.tolerance * 1000:.0f} meV/atom; relaxations to hit: {found}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"config": str(args.config), "reference": args.reference,
                                         "reference_enthalpy": out.enthalpy_per_atom,
                                         "tolerance": args.tolerance, "runs": summary},
                                        indent=1))


if __name__ == "__main__":
    main()
