"""Polish the near-target structures of search runs with a tighter relaxer, after the fact.

    python benchmarks/search/polish.py --outroot benchmarks/search/campaign3 --system nabh4t \\
        --methods csp-ga csp-random --window 0.006 --relaxer default

The campaign's relaxer is loose (fmax 0.1 eV/Å, 80 steps): a structure that relaxes
into the reference's basin from far away can stop a few meV/atom above the minimum,
while the reference, which starts there, does not. Where the landscape is that flat
(NaBH4's BH4 orderings), "within 2 meV/atom of the reference" then measures the
convergence as much as the search. This tool asks what a staged protocol (loose, then
tight) would have found: every relaxed, intact structure of a run within ``--window``
of the reference is re-relaxed with ``--relaxer`` from where the run left it, and so is
the reference. csp runs keep their structures in ``csp.db`` under ``<outroot>/work``,
PyXtal runs in ``relaxed.db`` there; ase-ga runs are not kept. A polished hit is a
structure whose polished enthalpy is at most ``--tolerance`` above the polished
reference, with its units intact (csp's unit check, as for every hit).

For each run: the relaxation of the first polished hit (counted in the run's own
relaxations) and how many polishes a staged protocol would have spent up to it. Results
(and a cache of every polish, so a second call relaxes nothing) go to
``<outroot>/polish/<system>.json``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import math
import statistics
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from common import (
    HIT_TOLERANCE,
    load_reference,
    make_relaxer,
    read_json,
    relaxer_spec,
    run_path,
    unit_check,
    work_dir,
    write_json,
)
from run_csp import relaxation_rows
from run_pyxtal import METHODS as PYXTAL_METHODS
from run_pyxtal import RELAXED_DB
from systems import get_system


def intact_rows(db_path: Path) -> Iterator[tuple[int, float, Any]]:
    """(relaxation index, 1-based; H/atom; row) of the relaxed, intact rows of a csp.db."""
    for r in relaxation_rows(db_path):
        if r.status == "relaxed" and r.get("units_intact", False):
            yield int(r.eval_index) + 1, float(r.get("enthalpy_per_atom", math.nan)), r


def intact_saved(db_path: Path) -> Iterator[tuple[int, float, Any]]:
    """The same from the relaxed structures a PyXtal run keeps (``relaxed.db``)."""
    from ase.db import connect

    for r in connect(db_path).select(units_intact=True):
        yield int(r.index), float(r.enthalpy_per_atom), r


def near(rows: Iterable[tuple[int, float, Any]], reference_h: float, window: float) -> list:
    """The rows within ``window`` of the reference, in relaxation order, with their
    relaxed atoms: (index, H/atom, atoms)."""
    return sorted(((k, h, r.toatoms()) for k, h, r in rows
                   if math.isfinite(h) and h <= reference_h + window), key=lambda t: t[0])


Reader = Callable[[Path], Iterator[tuple[int, float, Any]]]


def structures_store(method: str) -> tuple[str, Reader] | None:
    """Where under its work directory a run of ``method`` keeps its relaxed structures,
    and the reader of that file's intact ones: csp's database for csp runs,
    ``relaxed.db`` for PyXtal runs; None where the runs keep none (ase-ga)."""
    if method in PYXTAL_METHODS:
        return RELAXED_DB, intact_saved
    if method.startswith("csp-"):
        return "csp/csp.db", intact_rows
    return None


def structures_db(outroot: Path, system: str, method: str, seed: int
                  ) -> tuple[Path, Reader]:
    """The file of one run's relaxed structures, and its reader."""
    store = structures_store(method)
    if store is None:
        raise ValueError(f"{method} runs keep no structures")
    return work_dir(outroot, system, method, seed) / store[0], store[1]


def polish(atoms, system, relaxer) -> dict:
    out = relaxer.relax(atoms.copy(), system.pressure)
    ok = out.status == "relaxed"
    intact = ok and unit_check(atoms, out.atoms, system)[0]
    return {"status": out.status, "intact": bool(intact),
            "enthalpy_per_atom": out.enthalpy / len(out.atoms) if ok else math.nan}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--outroot", type=Path, required=True)
    ap.add_argument("--system", required=True)
    ap.add_argument("--methods", nargs="+", default=["csp-ga", "csp-random"],
                    help="csp methods, or pyxtal (runs made since it keeps its structures)")
    ap.add_argument("--seeds", nargs="+", type=int, default=list(range(1, 11)))
    ap.add_argument("--campaign-relaxer", default="cheap", help="the runs' relaxer setting")
    ap.add_argument("--relaxer", default="default", help="the polishing relaxer setting")
    ap.add_argument("--window", type=float, default=0.006, help="eV/atom above the reference")
    ap.add_argument("--tolerance", type=float, default=HIT_TOLERANCE, help="eV/atom")
    args = ap.parse_args(argv)
    kept = [m for m in args.methods if structures_store(m) is None]
    if kept:
        ap.error(f"--methods {' '.join(kept)}: these runs keep no structures to polish "
                 "(csp-* and pyxtal runs do)")

    from ase.io.jsonio import decode

    system = get_system(args.system)
    reference = load_reference(system, relaxer_spec(args.campaign_relaxer), args.outroot)
    spec = relaxer_spec(args.relaxer)
    relaxer = make_relaxer(spec)
    path = Path(args.outroot) / "polish" / f"{system.name}.json"
    doc = read_json(path) or {}
    if doc.get("relaxer") not in (None, spec) or doc.get("window", args.window) != args.window:
        raise SystemExit(f"{path} holds polishes with another relaxer or window: move it")
    doc.update({"system": system.name, "relaxer": spec, "window": args.window,
                "tolerance": args.tolerance})
    cache = doc.setdefault("polished", {})
    if "reference" not in doc:
        doc["reference"] = polish(decode(reference["atoms"]), system, relaxer)
    ref_h = doc["reference"]["enthalpy_per_atom"]
    summary = doc.setdefault("runs", {})
    print(f"reference {system.name}: loose {reference['enthalpy_per_atom']:.4f}, polished "
          f"{ref_h:.4f} eV/atom")
    for method in args.methods:
        for seed in args.seeds:
            db, rows = structures_db(args.outroot, system.name, method, seed)
            run = read_json(run_path(args.outroot, system.name, method, seed))
            if run is None or not db.is_file():
                continue
            first, spent = None, 0
            for index, h, atoms in near(rows(db), reference["enthalpy_per_atom"], args.window):
                key = f"{method}/{seed}/{index}"
                if key not in cache:
                    cache[key] = {"loose_enthalpy_per_atom": h, **polish(atoms, system, relaxer)}
                    write_json(path, doc)
                spent += 1
                p = cache[key]
                if p["intact"] and p["enthalpy_per_atom"] <= ref_h + args.tolerance:
                    first = index
                    break
            loose = run["summary"]["first_hit"]
            n = run["summary"]["n_relaxations"]
            # a run stopped at its loose hit says nothing about polished hits after it
            censored = first is None and n < run["budget"]
            summary[f"{method}/{seed}"] = {"first_loose_hit": loose, "first_polished_hit": first,
                                           "polishes_to_it": spent if first else None,
                                           "relaxations": n, "stopped_before": censored}
            seen = f"none in the {n} it ran" + (" (stopped at its loose hit)" if censored else "")
            print(f"{method:<11} seed {seed:<3} loose hit {loose}, polished hit "
                  f"{first if first else seen} ({spent} polishes)", flush=True)
    write_json(path, doc)
    for method in args.methods:
        runs = [v for k, v in summary.items() if k.startswith(method + "/")]
        if not runs:
            continue
        vals = [v["first_polished_hit"] or math.inf for v in runs]
        stopped = sum(v["stopped_before"] for v in runs)
        print(f"{method}: polished hits {sum(math.isfinite(v) for v in vals)}/{len(vals)}, "
              f"median relaxations to it {statistics.median(vals):g}"
              + (f" ({stopped} runs stopped at a loose hit without one: counted as misses)"
                 if stopped else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
