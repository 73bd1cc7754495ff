"""Fingerprint speed: csp's numba kernel vs ase-ga's OFPComparator, same structures.

Prints, for 13, 52, 104 and 208 atoms (random B/Sr crystals at 8 Å^3/atom, the
reference's default settings rcut 20 Å, bin 0.05 Å, sigma 0.02 Å): time per
fingerprint and per pair distance for both, and the ratio, and csp's time per atom pair
within R_max; then the population distance matrix (one matrix product) in ns per pair.

    python benchmarks/bench_fingerprint.py [--repeat 3]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # as on a csp worker rank (csp.parallel.set_threads)

import argparse
import time
from functools import partial

import numpy as np
from ase import Atoms

from csp.fingerprint import FingerprintParams, _stack, cosine_distance, distance_matrix, fingerprint


def _structure(n: int, rng: np.random.Generator) -> Atoms:
    length = (8.0 * n) ** (1 / 3)
    return Atoms(rng.choice(["B", "Sr"], n), scaled_positions=rng.random((n, 3)),
                 cell=np.eye(3) * length, pbc=True)


def _best(fn, repeat: int) -> float:
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sizes", default="13,52,104,208")
    args = ap.parse_args()
    from ase_ga.ofp_comparator import OFPComparator

    rng = np.random.default_rng(0)
    print(f"{'atoms':>5} {'mode':>9} {'csp fp (ms)':>11} {'ase-ga fp (ms)':>14} {'ratio':>7} "
          f"{'ns/pair':>7} {'csp dist (µs)':>13} {'ase-ga dist (µs)':>16} {'ratio':>7}")
    from ase.neighborlist import neighbor_list

    for n in map(int, args.sizes.split(",")):
        a, b = _structure(n, rng), _structure(n, rng)
        pairs = len(neighbor_list("i", a, 20.0)) / 2  # atom pairs within R_max
        ref = OFPComparator(recalculate=True)
        t_ref = _best(partial(ref._take_fingerprints, a), 1 if n > 52 else args.repeat)
        fa_r, td = ref._take_fingerprints(a)
        fb_r, _ = ref._take_fingerprints(b)
        t_ref_d = _best(partial(ref._cosine_distance, fa_r, fb_r, td), args.repeat)
        for mode in ("reference", "exact"):
            p = FingerprintParams(reference_binning=(mode == "reference"))
            fingerprint(a, p)  # compile
            t_csp = _best(partial(fingerprint, a, p), args.repeat)
            fa, fb = fingerprint(a, p), fingerprint(b, p)
            t_csp_d = _best(partial(cosine_distance, fa, fb), args.repeat)
            print(f"{n:>5} {mode:>9} {t_csp * 1e3:>11.2f} {t_ref * 1e3:>14.1f} "
                  f"{t_ref / t_csp:>7.0f} {t_csp / pairs * 1e9:>7.1f} {t_csp_d * 1e6:>13.1f} "
                  f"{t_ref_d * 1e6:>16.1f} {t_ref_d / t_csp_d:>7.1f}")
    pop = [_structure(26, rng) for _ in range(200)]
    p = FingerprintParams(rcut=10.0)
    fps = [fingerprint(s, p) for s in pop]
    distance_matrix(fps)
    t = _best(lambda: distance_matrix(fps), args.repeat)
    mat = _stack(fps, "atoms")
    t_stack = _best(lambda: _stack(fps, "atoms"), args.repeat)
    t_mm = _best(lambda: mat @ mat.T, args.repeat)
    npairs = len(pop) ** 2
    print(f"population distance matrix: 200 structures (rcut 10 Å, {mat.shape[1]} floats each), "
          f"{npairs} pairs: total {t * 1e3:.2f} ms = {t / npairs * 1e9:.0f} ns per pair; "
          f"stacking {t_stack * 1e3:.2f} ms (O(n)), matrix product {t_mm * 1e3:.2f} ms = "
          f"{t_mm / npairs * 1e9:.0f} ns per pair")


if __name__ == "__main__":
    main()
