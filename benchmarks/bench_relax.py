"""Benchmark of the default relaxer on the XB12 test (issue 4).

For X in Sr, Ba, Y: relax simple-cubic superatomic XB12 (one B12 + X, 13 atoms) and the
UB12-type XB12 (Fm-3m primitive cell, 13 atoms) at 50 GPa with the default relaxer, then print
ΔH = H(sc) - H(UB12) in meV/atom and the wall time per relaxation.

Usage: ``python benchmarks/bench_relax.py [--relaxer NAME] [--pressure 50] [--elements Sr Ba Y]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import spglib
from ase import Atoms
from ase.data import atomic_numbers
from ase.spacegroup import crystal
from csp.calculators import DEFAULT_RELAXER, get_relaxer

from csp.genome import Genome
from csp.units import get_unit


def simple_cubic(element: str, a: float = 4.4) -> Genome:
    """B12 (C2 axes along x, y, z) at the origin, X at the body centre; a in Å."""
    return Genome.from_units(np.eye(3) * a, [get_unit("B12")], [[0, 0, 0]], [[1, 0, 0, 0]],
                             [atomic_numbers[element]], [[0.5, 0.5, 0.5]])


def ub12_type(element: str, a: float = 7.4) -> Atoms:
    """UB12-type XB12 (X 4a, B 48i (1/2, 1/6, 1/6)), primitive cell, 13 atoms; a in Å."""
    c = crystal([element, "B"], basis=[(0, 0, 0), (0.5, 1 / 6, 1 / 6)], spacegroup=225,
                cellpar=[a, a, a, 90, 90, 90])
    lat, pos, num = spglib.standardize_cell((c.cell[:], c.get_scaled_positions(), c.numbers),
                                            to_primitive=True)
    return Atoms(numbers=num, scaled_positions=pos, cell=lat, pbc=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--relaxer", default=DEFAULT_RELAXER)
    p.add_argument("--pressure", type=float, default=50.0, help="GPa")
    p.add_argument("--elements", nargs="+", default=["Sr", "Ba", "Y"])
    args = p.parse_args()
    relaxer = get_relaxer(args.relaxer)
    t0 = time.perf_counter()
    relaxer.relax(simple_cubic("Sr").to_atoms(), args.pressure)  # warm-up: model load + JIT
    print(f"model load + first relaxation: {time.perf_counter() - t0:.1f} s")
    print(f"{'X':3} {'structure':10} {'status':14} {'H (eV/atom)':>12} {'P (GPa)':>8} "
          f"{'fmax':>7} {'steps':>5} {'time (s)':>8} {'B12 intact':>10}")
    for el in args.elements:
        g = simple_cubic(el)
        res = {}
        for label, atoms in (("sc", g.to_atoms()), ("UB12-type", ub12_type(el))):
            out = relaxer.relax(atoms, args.pressure)
            intact = g.from_atoms(out.atoms)[1].intact if (label == "sc" and out.ok) else ""
            res[label] = out
            print(f"{el:3} {label:10} {out.status:14} {out.enthalpy_per_atom:12.4f} "
                  f"{out.pressure_gpa:8.2f} {out.fmax:7.4f} {out.steps:5d} {out.wall_time:8.1f} "
                  f"{intact!s:>10}")
        dh = (res["sc"].enthalpy_per_atom - res["UB12-type"].enthalpy_per_atom) * 1000
        print(f"{el}: ΔH(sc - UB12-type) = {dh:+.0f} meV/atom at {args.pressure:g} GPa")


if __name__ == "__main__":
    main()
