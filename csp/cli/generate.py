"""``csp generate``: random structures of a composition, written as CIF (+ genome JSON)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="generate random (symmetric) crystals of rigid units")
    p.add_argument("--composition", required=True, help="e.g. 'K2 (B12H12)1'")
    p.add_argument("--spacegroup", default=None,
                   help="a number, a range 'lo-hi' or 'any' (default: general positions)")
    p.add_argument("--formula-units", default="1", help="per cell: N or a range lo-hi")
    p.add_argument("-n", type=int, default=10, help="number of structures")
    p.add_argument("--pressure", type=float, default=0.0, help="GPa (sets the volume estimate)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--outdir", required=True)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import numpy as np
    import spglib

    from csp.composition import parse_composition
    from csp.errors import CspError
    from csp.operators.generation import generate, parse_spacegroup

    comp = parse_composition(args.composition)
    try:
        lo, _, hi = args.formula_units.partition("-")
        fu = (int(lo), int(hi or lo))
    except ValueError:
        raise CspError(f"--formula-units must be N or lo-hi, got {args.formula_units!r}") from None
    if fu[0] < 1 or fu[1] < fu[0]:
        raise CspError(f"--formula-units must satisfy 1 <= lo <= hi, got {args.formula_units!r}")
    if args.n < 1:
        raise CspError(f"-n must be >= 1, got {args.n}")
    if args.pressure < 0:
        raise CspError(f"--pressure must be >= 0 GPa, got {args.pressure}")
    parse_spacegroup(args.spacegroup)
    out = Path(args.outdir)
    out.mkdir(parents=True, exist_ok=True)
    for i in range(args.n):
        rng = np.random.default_rng(np.random.SeedSequence([args.seed, i]))
        nfu = int(rng.integers(fu[0], fu[1] + 1))
        g = generate(comp.scaled(nfu), args.pressure, rng, spacegroup=args.spacegroup)
        atoms = g.to_atoms(wrap=True)
        sg = spglib.get_spacegroup((atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers),
                                   symprec=0.1)
        path = out / f"gen_{i:04d}.cif"
        from ase.io import write

        write(path, atoms, format="cif")
        (out / f"gen_{i:04d}.json").write_text(g.to_json())
        print(f"{path}  {atoms.get_chemical_formula(mode='metal')}  {sg}  "
              f"V={atoms.get_volume():.1f} Å^3", file=sys.stdout)
    return 0
