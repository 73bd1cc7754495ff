"""Random generation speed: csp vs PyXtal on the same requests, side by side.

    python benchmarks/bench_generation.py [-n 20]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from csp.operators.generation import generate

from csp.composition import parse_composition

REQUESTS = [("Sr1 (B12)1", 200, 50.0), ("K2 (B12H12)1", 202, 0.0), ("Na1 (BH4)1", 216, 0.0),
            ("Sr2 (B12)2", None, 50.0), ("Na4 (BH4)4", None, 0.0)]


def _pyxtal(comp: str, sg, n: int) -> float:
    from pymatgen.core import Molecule
    from pyxtal import pyxtal

    from csp.units import get_unit

    c = parse_composition(comp)
    mols, counts = [], []
    for name, k in c.units.items():
        u = get_unit(name)
        mols.append(Molecule([int(z) for z in u.numbers], u.positions))
        counts.append(k)
    for el, k in c.atoms.items():
        mols.append(Molecule([el], [[0.0, 0.0, 0.0]]))  # PyXtal takes ions as 1-atom molecules
        counts.append(k)
    group = sg if sg is not None else 1
    if sg is not None:  # PyXtal counts are per conventional cell
        from csp.operators.generation import _centring_factor, wyckoff_table

        counts = [k * _centring_factor(wyckoff_table(sg)) for k in counts]
    t = time.perf_counter()
    ok = 0
    for i in range(n):
        s = pyxtal(molecular=True)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                s.from_random(3, group, mols, counts, seed=i)
            ok += bool(s.valid)
        except Exception:  # noqa: BLE001, S110 - a failed draw counts as not valid
            pass
    dt = time.perf_counter() - t
    return ok / dt if ok else 0.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=20)
    args = ap.parse_args()
    print(f"{'composition':<14} {'space group':<11} {'csp /s':>8} {'PyXtal /s':>10} {'ratio':>7}")
    for comp, sg, p in REQUESTS:
        c = parse_composition(comp)
        rng = np.random.default_rng(0)
        generate(c, p, rng, spacegroup=sg)  # warm caches and kernels
        t = time.perf_counter()
        for _ in range(args.n):
            generate(c, p, rng, spacegroup=sg)
        ours = args.n / (time.perf_counter() - t)
        theirs = _pyxtal(comp, sg, args.n)
        ratio = f"{ours / theirs:.1f}x" if theirs else "n/a"
        print(f"{comp:<14} {sg or 'general'!s:<11} {ours:>8.1f} {theirs:>10.1f} {ratio:>7}")


if __name__ == "__main__":
    main()
