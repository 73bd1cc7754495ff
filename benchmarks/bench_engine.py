"""Engine throughput with the zero-cost fake relaxer: candidates per second at 26 atoms.

Measures the whole loop a real run does besides relaxing: generation / variation,
validity checks, fingerprints and duplicate tests, the fake evaluation (unit re-fit,
spglib), and the database writes (pending + final row per candidate, committed).

    python benchmarks/bench_engine.py [--n 400] [--outdir /tmp/bench]

Target: >= 200 candidates per second (Sr2 (B12)2, 26 atoms, serial).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from functools import partial
from pathlib import Path


class Timer:
    """Accumulates wall time of wrapped callables per label, s."""

    def __init__(self) -> None:
        self.total: dict[str, float] = {}

    def wrap(self, label: str, fn):
        def timed(*args, **kwargs):
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.total[label] = self.total.get(label, 0.0) + time.perf_counter() - t

        return timed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=400, help="evaluations")
    ap.add_argument("--outdir", help="database directory (default: a temporary one)")
    ap.add_argument("--no-db", action="store_true", help="skip the database")
    args = ap.parse_args()

    from csp.config import parse_config
    from csp.engine import Search
    from csp.evaluate import evaluate
    from csp.parallel import SerialExecutor, drive
    from csp.store import Store

    cfg = parse_config({"seed": 1, "composition": "Sr1 (B12)1", "formula_units": [2],
                        "pressure": 50, "relaxer": {"name": "fake"},
                        "search": {"population_size": 20, "max_evaluations": args.n}})
    tmp = Path(args.outdir or tempfile.mkdtemp(prefix="csp-bench-"))
    search = Search(cfg)
    timer = Timer()
    search._generate = timer.wrap("generation", search._generate)
    search._fp = timer.wrap("fingerprint", search._fp)
    for st in search.operators.values():
        st.op = timer.wrap("variation", st.op)
    from csp.operators import validity

    validity.check_genome = timer.wrap("validity checks", validity.check_genome)
    store = None if args.no_db else Store.create(tmp / "run", cfg.to_dict(), force=True)
    n_all = [0]
    write = timer.wrap("database", store.write) if store else None

    def done(ev) -> None:
        n_all[0] += 1
        if write is not None:
            write(ev)

    # warm up numba kernels and imports outside the timing
    search.ask()
    search.pending.clear()
    t0 = time.perf_counter()
    drive(search, SerialExecutor(),
          timer.wrap("evaluation (fake relax, re-fit, spglib)",
                     partial(evaluate, relaxer_spec="fake")), slots=1,
          on_pending=timer.wrap("database", store.add_pending) if store else None,
          on_done=done, on_idle=timer.wrap("database", store.flush) if store else None)
    dt = time.perf_counter() - t0
    c = search.counts
    print(f"atoms per cell: 26; evaluations: {search.n_evaluated} "
          f"(+{c['prerelax_duplicate']} rejected before relaxation); relaxed {c['relaxed']}, "
          f"duplicates {c['duplicate']}; database: {'no' if store is None else 'yes'}")
    print(f"time {dt:.2f} s -> {search.n_evaluated / dt:.0f} evaluations/s, "
          f"{n_all[0] / dt:.0f} candidates/s (incl. rejected)")
    worker = timer.total.get("evaluation (fake relax, re-fit, spglib)", 0.0)
    print(f"engine side (what rank 0 does under MPI: everything but the evaluation, which "
          f"runs on the workers): {dt - worker:.2f} s -> {search.n_evaluated / (dt - worker):.0f} "
          f"evaluations/s, {n_all[0] / (dt - worker):.0f} candidates/s; target 200 candidates/s")
    n = max(n_all[0], 1)
    for label, t in sorted(timer.total.items(), key=lambda kv: -kv[1]):
        print(f"  {label:<42} {1000 * t / n:7.2f} ms per candidate")
    rest = dt - sum(v for k, v in timer.total.items() if k != "validity checks")
    print(f"  {'engine bookkeeping (rest)':<42} {1000 * rest / n:7.2f} ms per candidate")
    if store is not None:
        store.close()
    if not args.outdir:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
