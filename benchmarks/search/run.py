"""Run the search benchmark: every (system, method, seed) with one relaxer and budget.

    python benchmarks/search/run.py --systems srb12 cab6 alphab2 nabh4 \\
        --methods csp-ga csp-random ase-ga pyxtal --seeds 1 2 3 4 5 6 7 8 9 10 \\
        --budget 30 --relaxer cheap --outroot runs/bench --jobs 2
    python benchmarks/search/report.py --outroot runs/bench

Each run writes ``<outroot>/runs/<system>/<method>/seed<S>.json`` (see ``common.py``);
a finished run with the same relaxer and budget is skipped, an unfinished one resumed
(csp: ``csp run --resume``; PyXtal: from its last relaxation; ase-ga: restarted); a
larger ``--budget`` extends finished csp and PyXtal runs in place (ase-ga restarts).
Stop a campaign with Ctrl-C or ``kill PID`` (its workers and their csp runs are killed
with it; unfinished runs resume on the next call). The
reference of each system is relaxed once with the same relaxer and cached in
``<outroot>/references/``. Use one ``--outroot`` per relaxer setting. ``--relaxer
fake`` checks the machinery in seconds (not physics).

Methods: ``csp-ga``, ``csp-random`` (csp with random_fraction = 1),
``csp-ga-discard`` (the GA recording relaxations stopped at the step cap as failures
instead of breeding from them), ``ase-ga``
(``ase-ga-reject``: broken-unit structures killed), ``pyxtal`` (``pyxtal-raw``: PyXtal's
volumes as generated). Every process is single-threaded (OMP/MKL/OpenBLAS/numba/torch);
``--jobs N`` runs N runs at a time.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS"):
    os.environ[_var] = "1"  # before numpy / torch are imported, inherited by children

import argparse
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from systems import DEFAULT_BUDGET, DEFAULT_SYSTEMS, SYSTEMS, get_system, run_budget

METHODS = ("csp-ga", "csp-random", "csp-ga-discard", "ase-ga", "ase-ga-reject",
           "ase-ga-vanilla", "pyxtal", "pyxtal-raw")
DEFAULT_METHODS = ("csp-ga", "csp-random", "ase-ga", "pyxtal")


def _dispatch(system, method: str, seed: int, budget: int, spec: dict, outroot: Path,
              reference: dict):
    """Run one method; returns (records, run wall s, method settings)."""
    from common import make_relaxer, work_dir

    work = work_dir(outroot, system.name, method, seed)
    if method.startswith("csp-"):
        from run_csp import run_csp

        return run_csp(system, method, seed, budget, spec, work, reference)
    if method.startswith("ase-ga"):
        from run_asega import run_asega

        return run_asega(system, method, seed, budget, make_relaxer(spec), work, reference)
    if method.startswith("pyxtal"):
        from run_pyxtal import run_pyxtal

        return run_pyxtal(system, method, seed, budget, make_relaxer(spec), work, reference,
                          cache_dir=Path(outroot) / "pyxtal_groups")
    raise SystemExit(f"unknown method {method!r}; known: {', '.join(METHODS)}")


def run_one(job: dict) -> str:
    """One (system, method, seed) run, skipped when already complete; never raises."""
    import common
    from common import load_reference, read_json, run_document, run_path, stop_now, write_json

    common.STOP_AT_HIT = not job.get("full_budget", False)
    system, method, seed = get_system(job["system"]), job["method"], job["seed"]
    budget, spec, outroot = job["budget"], job["spec"], Path(job["outroot"])
    path = run_path(outroot, system.name, method, seed)
    tag = f"{system.name:<9} {method:<13} seed {seed:<3}"
    old = read_json(path)
    if old is not None and old.get("relaxer") != spec:
        return f"{tag} ERROR: {path} holds a run with relaxer {old.get('relaxer')}"
    if old is not None and old.get("complete") and old.get("budget") == budget:
        return f"{tag} done already: {_line(old)}"
    try:
        reference = load_reference(system, spec, outroot)
        records, wall, settings = _dispatch(system, method, seed, budget, spec, outroot,
                                            reference)
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        err = path.with_suffix(".error.txt")
        err.parent.mkdir(parents=True, exist_ok=True)
        err.write_text(traceback.format_exc())
        return f"{tag} FAILED: {type(exc).__name__}: {exc} (traceback in {err})"
    records = records[:budget]  # a run made with a larger budget before: its first part
    doc = run_document(system, method, seed, budget, job["relaxer_name"], spec, reference,
                       records, wall, settings, complete=len(records) >= budget
                       or method.startswith("csp-") or stop_now(records, reference))
    write_json(path, doc)
    return f"{tag} {_line(doc)}"


def reference_job(job: dict) -> str:
    """Relax (or read) the reference of one system; the line to print."""
    from common import load_reference

    system = get_system(job["system"])
    try:
        ref = load_reference(system, job["spec"], Path(job["outroot"]))
    except SystemExit as exc:
        return f"reference {system.name}: FAILED: {exc}"
    return (f"reference {system.name:<9} H = {ref['enthalpy_per_atom']:.4f} eV/atom, "
            f"{ref['spacegroup']}, {ref['n_atoms']} atoms, {ref['wall_time']:.1f} s")


def _line(doc: dict) -> str:
    s = doc["summary"]
    hit = s["first_hit"] if s["first_hit"] is not None else f">{doc['budget']}"
    return (f"first hit {hit}, best {s['best_minus_reference_meV']:+.1f} meV/atom vs ref, "
            f"{s['n_intact']}/{s['n_relaxations']} intact, {doc['run_wall_s']:.0f} s")


def supports(system, method: str) -> bool:
    """Whether a method can search a system: ase-ga and PyXtal search one composition
    at a time, so variable-composition systems are csp's alone."""
    return method.startswith("csp-") or not system.variable


def _jobs(args, spec: dict) -> list[dict]:
    out = []
    for seed in args.seeds:  # seed-major: a stopped campaign has every method for its seeds
        for system in args.systems:
            budget = run_budget(system, args.budget)
            for method in args.methods:
                if not supports(get_system(system), method):
                    continue
                out.append({"system": system, "method": method, "seed": seed,
                            "budget": budget, "spec": spec,
                            "relaxer_name": args.relaxer, "outroot": str(args.outroot),
                            "full_budget": args.full_budget})
    return out


def _map(fn, items: list, jobs: int):
    """Yield fn(item) for every item, in this process or in ``jobs`` worker processes."""
    if jobs <= 1:
        for item in items:
            yield fn(item)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"))
    try:
        futures = [pool.submit(fn, item) for item in items]
        for f in as_completed(futures):
            yield f.result()
    except BaseException:
        # interrupted (Ctrl-C, SIGTERM): the spawned workers and the csp runs they
        # started would otherwise go on taking jobs and writing records
        workers = list(getattr(pool, "_processes", {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        _kill_trees([w.pid for w in workers])
        raise
    pool.shutdown()


def _kill_trees(pids: list[int]) -> None:
    """Kill processes and all their descendants (psutil; without it, the processes)."""
    import signal

    try:
        import psutil
    except ImportError:
        psutil = None
    victims = []
    for pid in pids:
        if psutil is None:
            victims.append(pid)
            continue
        try:
            proc = psutil.Process(pid)
            victims += [c.pid for c in proc.children(recursive=True)] + [pid]
        except psutil.NoSuchProcess:
            pass
    for pid in victims:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--systems", nargs="+", default=list(DEFAULT_SYSTEMS),
                    choices=sorted(SYSTEMS), help="default: %(default)s")
    ap.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS), choices=METHODS,
                    help="default: %(default)s")
    ap.add_argument("--seeds", nargs="+", type=int, default=list(range(1, 11)))
    ap.add_argument("--budget", type=int, help="relaxations per run (default: each system's "
                    f"own, {DEFAULT_BUDGET} for most)")
    ap.add_argument("--relaxer", default="cheap", help="a setting of systems.RELAXERS "
                    "(cheap, default, fake)")
    ap.add_argument("--outroot", type=Path, default=Path("runs/bench"))
    ap.add_argument("--jobs", type=int, default=1, help="runs at a time (processes)")
    ap.add_argument("--full-budget", action="store_true",
                    help="run every search to its budget (default: stop at the first hit)")
    args = ap.parse_args(argv)
    if (args.budget is not None and args.budget < 1) or args.jobs < 1 or any(s < 0 for s in args.seeds):
        ap.error("--budget and --jobs must be >= 1 and seeds >= 0")
    return args


def _terminate(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv=None) -> int:
    import signal

    from common import relaxer_spec

    signal.signal(signal.SIGTERM, _terminate)  # `kill PID` stops the campaign like Ctrl-C
    args = parse_args(argv)
    spec = relaxer_spec(args.relaxer)
    t0 = time.perf_counter()
    budgets = ", ".join(f"{s} {run_budget(s, args.budget)}" for s in args.systems)
    print(f"relaxer {args.relaxer}: {spec}; budget {budgets}; outroot {args.outroot}",
          flush=True)
    refs = [{"system": s, "spec": spec, "outroot": str(args.outroot)} for s in args.systems]
    failed = 0
    for line in _map(reference_job, refs, args.jobs):
        print(line, flush=True)
        failed += "FAILED" in line
    if failed:
        return 1
    jobs = _jobs(args, spec)
    for s in args.systems:
        skipped = [m for m in args.methods if not supports(get_system(s), m)]
        if skipped:
            print(f"{s}: variable composition, not run with {', '.join(skipped)} (one "
                  "composition at a time)", flush=True)
    for k, line in enumerate(_map(run_one, jobs, args.jobs), 1):
        print(f"[{k}/{len(jobs)} {time.perf_counter() - t0:7.0f} s] {line}", flush=True)
        failed += "FAILED" in line or "ERROR" in line
    print(f"finished in {time.perf_counter() - t0:.0f} s; {failed} failed runs", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted: finished runs are kept, unfinished ones resume on the next call",
              file=sys.stderr)
        sys.exit(130)
