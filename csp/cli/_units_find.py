"""``csp units find STRUCTURE``: recognise rigid units inside a crystal."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import cast


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("find", help="find library (or user) units inside a crystal")
    p.add_argument("structure", help="CIF, POSCAR or any ASE-readable file")
    p.add_argument("--units", default=None, help="comma-separated unit names (default: all)")
    p.add_argument("--xyz", action="append", default=[], help="a user unit .xyz (repeatable)")
    p.add_argument("--rmsd", type=float, default=0.3, help="largest Kabsch RMSD accepted, Å")
    p.add_argument("--json", default=None, help="write the result (and the genome) here")
    p.set_defaults(func=_find)


def _find(args: argparse.Namespace) -> int:
    from ase import Atoms
    from ase.io import read

    from csp.errors import CspError
    from csp.recognition import recognise
    from csp.units import get_unit, unit_from_xyz

    path = Path(args.structure)
    if not path.is_file():
        raise CspError(f"structure file {args.structure!r} does not exist")
    try:
        atoms = cast(Atoms, read(path))  # no index: one Atoms (the last frame)
    except Exception as exc:  # noqa: BLE001 - any reader failure is a bad file
        raise CspError(f"cannot read {args.structure!r}: {exc}") from None
    units = [get_unit(n) for n in args.units.split(",")] if args.units else None
    if args.xyz:
        units = (units or []) + [unit_from_xyz(x) for x in args.xyz]
        if not args.units:
            from csp.units import builtin_units

            units += list(builtin_units().values())
    genome, report = recognise(atoms, units, rmsd_tol=args.rmsd)
    print(f"{atoms.get_chemical_formula(mode='metal')}: {len(atoms)} atoms")
    for kind, n in report.counts.items():
        print(f"  unit {kind:<8} x{n:<3} max RMSD {report.max_rmsd[kind]:.4f} Å")
    free = ", ".join(f"{el}x{n}" for el, n in report.free.items()) or "none"
    print(f"  free atoms: {free}")
    if args.json:
        Path(args.json).write_text(json.dumps({**report.to_dict(), "genome": genome.to_dict()},
                                              indent=1))
    return 0
