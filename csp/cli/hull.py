"""``csp hull`` (tables and plots per pressure) and ``csp quench`` (re-relax hull phases)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("hull", help="convex hull of a run at a pressure: table, JSON/CSV, plot")
    p.add_argument("outdir", help="run directory (holds csp.db)")
    p.add_argument("--pressure", type=float, default=None,
                   help="GPa (default: the run's only pressure)")
    p.add_argument("--pressures", default=None,
                   help="comma-separated pressures for a comparison plot, e.g. 0,50")
    p.add_argument("--plot", default=None, help="hull.png | .svg | .pdf")
    p.add_argument("--endmembers", default=None,
                   help="comma-separated end members for unit coordinates, e.g. Li2B12H12,LiBH4")
    p.add_argument("--max-ehull", type=float, default=0.3, help="eV/atom shown in the plot/table")
    p.add_argument("--include-broken", action="store_true", help="include broken-unit structures")
    p.add_argument("--out", default=None, help="where hull.json/hull.csv go (default outdir)")
    p.set_defaults(func=_hull)
    q = sub.add_parser("quench", help="re-relax the hull phases of one pressure at another")
    q.add_argument("outdir")
    q.add_argument("--from", dest="from_gpa", type=float, required=True, help="GPa")
    q.add_argument("--to", dest="to_gpa", type=float, required=True, help="GPa")
    q.add_argument("--max-ehull", type=float, default=0.05, help="eV/atom above the hull to include")
    q.add_argument("--relaxer", default=None, help="relaxer name (default: the run's)")
    q.set_defaults(func=_quench)


def _db(outdir: str) -> Path:
    from csp.errors import CspError

    path = Path(outdir) / "csp.db"
    if not path.is_file():
        raise CspError(f"{outdir!r} has no csp.db (is it a csp run directory?)")
    return path


def _pressures_in(db: Path) -> list[float]:
    from ase.db import connect

    ps = set()
    for row in connect(str(db)).select("status=relaxed"):
        if "pressure_gpa" in row.key_value_pairs:
            ps.add(round(float(row.pressure_gpa), 6))
    return sorted(ps)


def _hull(args: argparse.Namespace) -> int:
    from csp.errors import CspError
    from csp.hull import Hull, entries_from_db, write_tables

    db = _db(args.outdir)
    ends = args.endmembers.split(",") if args.endmembers else None
    if args.pressures:
        try:
            plist = [float(x) for x in args.pressures.split(",")]
        except ValueError:
            raise CspError(f"--pressures must be numbers, got {args.pressures!r}") from None
        hulls = [Hull(entries_from_db(db, p, args.include_broken), p, ends) for p in plist]
        if args.plot:
            from csp.plotting import plot_pressures

            print(f"wrote {plot_pressures(hulls, args.plot)}")
        for h in hulls:
            _print(h, args.max_ehull)
        return 0
    pressure = args.pressure
    if pressure is None:
        ps = _pressures_in(db)
        if len(ps) != 1:
            raise CspError(f"the run has relaxed structures at {ps} GPa: give --pressure")
        pressure = ps[0]
    hull = Hull(entries_from_db(db, pressure, args.include_broken), pressure, ends)
    _print(hull, args.max_ehull)
    j, c = write_tables(hull, args.out or args.outdir)
    print(f"wrote {j} and {c}")
    if args.plot:
        from csp.plotting import plot_hull

        print(f"wrote {plot_hull(hull, args.plot, args.max_ehull)}")
    return 0


def _print(hull, max_ehull: float) -> None:
    recs = sorted(hull.records(), key=lambda r: (r.fraction, r.e_above_hull))
    print(f"# hull at {hull.pressure_gpa:g} GPa; end members {', '.join(hull.elements)}; "
          f"{len(recs)} structures")
    if hull.excluded:
        print(f"# {len(hull.excluded)} structures left out: not combinations of the end members")
    print(f"{'id':>6} {'formula':<14} {'space group':<12} {'ΔH_f meV/at':>12} "
          f"{'ΔH_hull meV/at':>15} {'on hull':>7}")
    for r in recs:
        if r.e_above_hull > max_ehull and not r.stable:
            continue
        print(f"{r.id!s:>6} {r.formula:<14} {r.spacegroup:<12} "
              f"{r.formation_enthalpy * 1000:>12.1f} {r.e_above_hull * 1000:>15.1f} "
              f"{'yes' if r.stable else '':>7}")


def _quench(args: argparse.Namespace) -> int:
    import json

    from csp.calculators import get_relaxer
    from csp.hull import quench

    db = _db(args.outdir)
    spec = args.relaxer
    if spec is None:
        from csp.store import CONFIG_NAME

        cfg = Path(args.outdir) / CONFIG_NAME
        spec = (json.loads(cfg.read_text()).get("config", {}).get("relaxer", "sevennet")
                if cfg.is_file() else "sevennet")
    relaxer = get_relaxer(spec)
    done = quench(db, args.from_gpa, args.to_gpa, relaxer, args.max_ehull)
    print(f"# {len(done)} phases within {args.max_ehull * 1000:.0f} meV/atom of the "
          f"{args.from_gpa:g} GPa hull, re-relaxed at {args.to_gpa:g} GPa")
    print(f"{'from id':>7} {'new id':>6} {'formula':<14} {'status':<14} {'units intact':<12} "
          f"{'ΔH_hull meV/at':>15}")
    for d in done:
        eh = d.get("e_above_hull", math.nan)
        print(f"{d['source_id']:>7} {d['id']:>6} {d['formula']:<14} {d['status']:<14} "
              f"{d['units_intact']!s:<12} {eh * 1000:>15.1f}")
    return 0
