"""Engine throughput with the zero-cost fake relaxer: candidates per second at 26 atoms.

A run's work per candidate splits in two:

* worker side (MPI ranks 1..N-1, or worker processes): building the candidate
  (random symmetric placement or a variation operator, validity checks, its
  fingerprint) and evaluating it (here the fake relaxation, the unit re-fit, spglib,
  the relaxed fingerprint);
* engine side (rank 0, one process for the whole run): deciding what to build
  (selection, tournaments, operator weights), pre-relaxation duplicate checks,
  telling results (post-relaxation duplicates, population, best), and the database
  (a row per candidate, committed).

Both run here in one process (serial executor, the same code path as ``csp run`` and
``mpirun -n N csp run``) and are timed apart. The engine side bounds how many ranks one
engine can feed: ranks = (engine candidates/s) x (seconds per relaxation).

    python benchmarks/bench_engine.py [--n 600] [--outdir /tmp/bench] [--no-db]

Target (issue #5): the engine sustains >= 200 candidates per second (Sr2 (B12)2,
26 atoms). The all-in serial rate (build + fake evaluation + engine) is printed too.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from functools import partial
from pathlib import Path


class Timer:
    """Accumulates the CPU time of this process spent in wrapped callables per label, s.

    CPU time, not wall time: it is what a candidate costs a core, whatever else the
    machine runs (wall times are printed too)."""

    def __init__(self) -> None:
        self.total: dict[str, float] = {}

    def wrap(self, label: str, fn):
        def timed(*args, **kwargs):
            t = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.total[label] = self.total.get(label, 0.0) + time.process_time() - t

        return timed


WORKER = ("build (worker)", "evaluation (worker: fake relax, re-fit, spglib, fingerprint)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=600, help="evaluations")
    ap.add_argument("--outdir", help="database directory (default: a temporary one)")
    ap.add_argument("--no-db", action="store_true", help="skip the database")
    args = ap.parse_args()

    from csp.build import build
    from csp.config import parse_config
    from csp.engine import Search
    from csp.evaluate import evaluate
    from csp.parallel import SerialExecutor, drive
    from csp.store import Store

    cfg = parse_config({"seed": 1, "composition": "Sr1 (B12)1", "formula_units": [2],
                        "pressure": 50, "relaxer": {"name": "fake"},
                        "search": {"population_size": 20, "max_evaluations": args.n}})
    tmp = Path(args.outdir or tempfile.mkdtemp(prefix="csp-bench-"))
    timer = Timer()
    build_fn = timer.wrap(WORKER[0], partial(build, config=cfg))
    evaluate_fn = timer.wrap(WORKER[1], partial(evaluate, relaxer_spec="fake"))
    # warm up numba kernels, imports and the worker's builder outside the timing
    warm = Search(cfg)
    evaluate(warm.ask(), relaxer_spec="fake")
    build(warm.request(), cfg)
    timer.total.clear()

    search = Search(cfg)
    search.request = timer.wrap("engine: request (selection)", search.request)
    search.propose = timer.wrap("engine: propose (pre-relaxation duplicates)", search.propose)
    search.tell = timer.wrap("engine: tell (post-relaxation duplicates, population)",
                             search.tell)
    store = None if args.no_db else Store.create(tmp / "run", cfg.to_dict(), force=True)
    n_all = [0]
    write = timer.wrap("engine: database", store.write) if store else None

    def done(ev) -> None:
        n_all[0] += 1
        if write is not None:
            write(ev)

    t0, c0 = time.perf_counter(), time.process_time()
    drive(search, SerialExecutor(), evaluate_fn, slots=1, build_fn=build_fn,
          on_pending=timer.wrap("engine: database", store.add_pending) if store else None,
          on_done=done, on_idle=timer.wrap("engine: database", store.flush) if store else None)
    wall, dt = time.perf_counter() - t0, time.process_time() - c0
    c = search.counts
    worker = sum(timer.total.get(k, 0.0) for k in WORKER)
    engine = dt - worker
    n = max(n_all[0], 1)
    print(f"Sr2 (B12)2 at 50 GPa, 26 atoms; evaluations: {search.n_evaluated} "
          f"(+{c['prerelax_duplicate']} rejected before relaxation = {n} candidates); "
          f"relaxed {c['relaxed']}, duplicates {c['duplicate']}; database: "
          f"{'no' if store is None else 'yes'}")
    print(f"engine side (rank 0):  {1000 * engine / n:6.2f} ms per candidate -> "
          f"{n / engine:6.0f} candidates/s (target >= 200)")
    print(f"worker side:           {1000 * worker / n:6.2f} ms per candidate "
          f"(build {1000 * timer.total.get(WORKER[0], 0.0) / n:.2f} + evaluation "
          f"{1000 * timer.total.get(WORKER[1], 0.0) / n:.2f})")
    print(f"all in one process:    {1000 * dt / n:6.2f} ms per candidate -> "
          f"{n / dt:6.0f} candidates/s")
    print(f"CPU time of this process {dt:.2f} s, wall time {wall:.2f} s "
          f"(load from other processes: {max(wall / dt - 1.0, 0.0):.0%} longer)")
    for label, t in sorted(timer.total.items(), key=lambda kv: -kv[1]):
        print(f"  {label:<62} {1000 * t / n:7.3f} ms per candidate")
    rest = dt - sum(timer.total.values())
    print(f"  {'engine: driver loop and the rest':<62} {1000 * rest / n:7.3f} ms per candidate")
    if store is not None:
        store.close()
    if not args.outdir:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
