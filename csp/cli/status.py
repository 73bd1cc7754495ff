"""``csp status OUTDIR``: counts by status and the best structures of a run."""

from __future__ import annotations

import argparse
import math


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", help="summarise a run: counts by status, best structures")
    p.add_argument("outdir", help="run directory (holds csp.db)")
    p.add_argument("--best", type=int, default=10, help="structures to list per pressure")
    p.set_defaults(func=status)


def best_rows(db, n: int, pressure: float | None = None) -> list:
    """Relaxed rows sorted by enthalpy per atom (per composition: lowest first), at most n.

    Args:
        db: an ASE database.
        n: how many.
        pressure: only rows relaxed at this pressure (GPa), or all.
    """
    rows = [r for r in db.select(status="relaxed")
            if pressure is None or abs(r.pressure_gpa - pressure) < 1e-9]
    rows = [r for r in rows if math.isfinite(r.get("enthalpy_per_atom", math.nan))]
    rows.sort(key=lambda r: (r.enthalpy_per_atom, r.candidate_id))
    return rows[:n]


def status(args: argparse.Namespace) -> int:
    from csp.errors import CspError
    from csp.store import Store

    if args.best < 0:
        raise CspError(f"--best must be >= 0, got {args.best}")
    store = Store.open(args.outdir)
    cfg = store.config
    counts = store.status_counts()
    total = sum(counts.values())
    budget = cfg.get("search", {}).get("max_evaluations", "?")
    done = total - counts["pending"] - _prerelax_duplicates(store.db)
    variable = isinstance(cfg.get("composition"), dict)
    print(f"run {store.run_id}: {_describe(cfg)} at "
          f"{', '.join(f'{p:g}' for p in cfg.get('pressures', []))} GPa; "
          f"{done}/{budget} evaluations, {total} candidates")
    print("  " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    for p in cfg.get("pressures", [None]):
        if variable and p is not None and _hull_table(store.path, p, args.best):
            continue
        rows = best_rows(store.db, args.best, p)
        if not rows:
            continue
        print(f"best at {p:g} GPa:" if p is not None else "best:")
        print(f"  {'id':>5} {'formula':<12} {'spacegroup':<11} {'H/atom eV':>10} "
              f"{'dH meV':>7} {'V/atom Å3':>9} {'origin':<10}")
        h0 = rows[0].enthalpy_per_atom
        for r in rows:
            print(f"  {r.candidate_id:>5} {r.formula:<12} {r.get('spacegroup', '?'):<11} "
                  f"{r.enthalpy_per_atom:>10.4f} {1000 * (r.enthalpy_per_atom - h0):>7.1f} "
                  f"{r.get('volume_per_atom', math.nan):>9.3f} {r.origin:<10}")
    store.close()
    return 0


def _describe(cfg: dict) -> str:
    """The stored composition space as one line (see CompositionSpace.describe)."""
    from csp.config import ConfigError, parse_config

    try:
        return parse_config({**cfg, "seeds": []}).composition.describe()
    except ConfigError:  # a config of another csp version: show it as stored
        return str(cfg.get("composition", "?"))


def _hull_table(db_path, pressure: float, n: int) -> bool:
    """Variable composition: the structures nearest the convex hull at a pressure
    (False when no hull can be built yet, e.g. an end member is missing)."""
    from csp.errors import CspError
    from csp.hull import Hull, entries_from_db

    try:
        hull = Hull(entries_from_db(db_path, pressure), pressure)
    except CspError:
        return False
    recs = sorted(hull.records(), key=lambda r: (r.e_above_hull, r.enthalpy_per_atom))[:n]
    print(f"nearest the convex hull at {pressure:g} GPa (`csp hull` for the full table):")
    print(f"  {'row':>5} {'formula':<12} {'spacegroup':<11} {'H/atom eV':>10} "
          f"{'dH_f meV':>8} {'dH_hull':>8}")
    for r in recs:
        print(f"  {r.id:>5} {r.formula:<12} {r.spacegroup:<11} {r.enthalpy_per_atom:>10.4f} "
              f"{1000 * r.formation_enthalpy:>8.1f} {1000 * r.e_above_hull:>8.1f}")
    return True


def _prerelax_duplicates(db) -> int:
    return sum(1 for r in db.select(status="duplicate") if r.get("eval_index", -1) < 0)
