"""Children per second per variation operator for 26- and 104-atom SrB12 genomes.

    python benchmarks/bench_operators.py [-n 200]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from csp.operators.generation import generate
from csp.operators.registry import OPERATORS, make_operator

from csp.composition import parse_composition


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=200)
    args = ap.parse_args()
    rows = []
    for fu in (2, 8):
        rng = np.random.default_rng(0)
        comp = parse_composition("Sr1 (B12)1").scaled(fu)
        pop = [generate(comp, 0.0, rng) for _ in range(6)]
        for name in OPERATORS:
            op = make_operator(name)
            op(pop[:2], np.random.default_rng(0))  # compile
            t = time.perf_counter()
            made = 0
            for i in range(args.n):
                made += op([pop[i % 6], pop[(i + 1) % 6]], np.random.default_rng(i)) is not None
            dt = time.perf_counter() - t
            rows.append((len(pop[0]), name, args.n / dt, made / args.n))
    print(f"{'atoms':>5} {'operator':<10} {'calls/s':>9} {'valid child':>11}")
    for n, name, rate, ok in rows:
        print(f"{n:>5} {name:<10} {rate:>9.0f} {ok:>10.0%}")


if __name__ == "__main__":
    main()
