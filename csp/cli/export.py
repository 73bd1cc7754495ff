"""``csp export OUTDIR --best N --format cif|poscar [-o DIR]``: write the best structures."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write the best relaxed structures as CIF or POSCAR")
    p.add_argument("outdir", help="run directory (holds csp.db)")
    p.add_argument("--best", type=int, default=10, help="how many (lowest enthalpy per atom)")
    p.add_argument("--format", choices=("cif", "poscar"), default="cif")
    p.add_argument("--pressure", type=float, help="only structures relaxed at this pressure, GPa")
    p.add_argument("-o", "--output", help="directory for the files (default OUTDIR/export)")
    p.set_defaults(func=export)


def export(args: argparse.Namespace) -> int:
    from csp.cli.status import best_rows
    from csp.errors import CspError
    from csp.genome import Genome
    from csp.store import Store

    if args.best < 1:
        raise CspError(f"--best must be a positive integer, got {args.best}")
    store = Store.open(args.outdir)
    rows = best_rows(store.db, args.best, args.pressure)
    if not rows:
        raise CspError(f"no relaxed structures in {args.outdir!r}"
                       + (f" at {args.pressure:g} GPa" if args.pressure is not None else ""))
    dest = Path(args.output) if args.output else Path(args.outdir) / "export"
    dest.mkdir(parents=True, exist_ok=True)
    for rank, r in enumerate(rows, 1):
        atoms = Genome.from_dict(r.data["genome"]).to_atoms(wrap=True)
        sg = r.get("spacegroup", "P1").replace("/", "_")
        stem = f"{rank:02d}_id{r.candidate_id}_{r.formula}_{sg}_{r.pressure_gpa:g}GPa"
        if args.format == "cif":
            path = dest / f"{stem}.cif"
            atoms.write(path, format="cif")
        else:
            path = dest / f"{stem}.POSCAR"
            atoms.write(path, format="vasp", direct=True, sort=False)
        print(f"{path}  H={r.enthalpy_per_atom:.4f} eV/atom  {r.get('spacegroup', '?')}")
    store.close()
    print(f"wrote {len(rows)} structure(s) to {dest}", file=sys.stderr)
    return 0
