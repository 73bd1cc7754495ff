"""``csp run CONFIG``: run (or resume) a search; one progress line per evaluation.

Under ``mpirun -n N`` rank 0 runs the engine and writes ``<outdir>/csp.db``; the other
ranks relax. SIGTERM / SIGINT / ``--walltime`` stop cleanly: what finished is in the
database, what was in flight stays ``pending`` and is redone by ``--resume``.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run or resume a structure search from a TOML file")
    p.add_argument("config", help="search configuration (TOML)")
    p.add_argument("--outdir", help="output directory (default: the config's outdir)")
    p.add_argument("--seed", type=int, help="random seed (overrides the config)")
    p.add_argument("--max-evaluations", type=int, help="relaxation budget (overrides)")
    p.add_argument("--workers", type=int, help="local worker processes (ignored under MPI)")
    p.add_argument("--threads", type=int, help="threads per worker (default 1)")
    p.add_argument("--resume", action="store_true", help="continue the run in outdir")
    p.add_argument("--force", action="store_true", help="overwrite a previous run in outdir")
    p.add_argument("--walltime", help="stop cleanly after HH:MM:SS (resume later)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p.add_argument("--serial", action="store_true",
                   help="relax in this process (debugging; default: a worker process, so a "
                        "relaxation in flight is marked pending and signals stop at once)")
    p.set_defaults(func=run)


def parse_walltime(text: str | None) -> float | None:
    """Seconds of ``HH:MM:SS`` / ``MM:SS`` / ``SS``; CspError when malformed."""
    from csp.errors import CspError

    if text is None:
        return None
    try:
        parts = [float(x) for x in text.split(":")]
        if not 1 <= len(parts) <= 3 or any(x < 0 for x in parts):
            raise ValueError
    except ValueError:
        raise CspError(f"--walltime must be HH:MM:SS, got {text!r}") from None
    secs = 0.0
    for x in parts:
        secs = secs * 60 + x
    return secs


def run(args: argparse.Namespace) -> int:
    from csp.parallel import mpi_executor, mpi_size, set_threads

    set_threads(args.threads, override=args.threads is not None)
    if mpi_size() > 1:
        with mpi_executor() as ex:
            if ex is None:  # a worker rank: served tasks until rank 0 shut down
                return 0
            return _run_root(args, ex, mpi=True)
    return _run_root(args, None, mpi=False)


def _load(args: argparse.Namespace):
    from csp.config import ConfigError, load_config

    cfg = load_config(args.config)
    changes = {}
    if args.outdir:
        changes["outdir"] = args.outdir
    if args.seed is not None:
        if args.seed < 0:
            raise ConfigError(f"--seed must be >= 0, got {args.seed}")
        changes["seed"] = args.seed
    if args.max_evaluations is not None:
        if args.max_evaluations < 1:
            raise ConfigError(f"--max-evaluations must be a positive integer, got "
                              f"{args.max_evaluations}")
        from dataclasses import replace

        changes["search"] = replace(cfg.search, max_evaluations=args.max_evaluations)
    if args.workers is not None:
        if args.workers < 1:
            raise ConfigError(f"--workers must be a positive integer, got {args.workers}")
        from dataclasses import replace

        changes["parallel"] = replace(cfg.parallel, workers=args.workers)
    return cfg.replace(**changes) if changes else cfg


def _run_root(args: argparse.Namespace, mpi_ex, mpi: bool) -> int:
    from pathlib import Path

    from csp.engine import Search
    from csp.store import Store

    cfg = _load(args)
    deadline = parse_walltime(args.walltime)
    if args.resume and args.force:
        from csp.errors import CspError

        raise CspError("--resume and --force exclude each other")
    search = Search(cfg)
    resolved = cfg.to_dict()
    if args.resume and (Path(cfg.outdir) / "csp.db").exists():
        store = Store.open(cfg.outdir, resolved)
        resubmit = _replay(search, store)
    else:
        store = Store.create(cfg.outdir, resolved, force=args.force)
        resubmit = []
    try:
        why, left = _execute(args, cfg, search, store, resubmit, mpi_ex, mpi, deadline)
    finally:
        store.close()
    sys.stdout.flush()
    if why == "stopped" and left and mpi:
        from csp.parallel import mpi_abort

        mpi_abort(0)  # do not wait for relaxations in flight: they are pending in the db
    return 0 if why != "stopped" else 3


def _execute(args, cfg, search, store, resubmit, mpi_ex, mpi: bool, deadline):
    """Pick the executor and drive the search; returns (why stopped, tasks in flight)."""
    from functools import partial
    from pathlib import Path

    from csp.build import build
    from csp.evaluate import evaluate
    from csp.parallel import SerialExecutor, drive, process_executor

    progress = _Progress(search, store, quiet=args.quiet)
    stopper = _Stopper(deadline)
    fn = partial(evaluate, relaxer_spec=cfg.relaxer, workdir_root=str(Path(cfg.outdir) / "work"),
                 max_unit_rmsd=cfg.search.max_unit_rmsd, limits=cfg.limits.to_limits(),
                 keep_unconverged=cfg.search.unconverged == "breed")
    # candidates are built where they are relaxed: the engine only decides and records
    build_fn = partial(build, config=cfg) if search.builds_anywhere else None
    workers = mpi_ex.n_workers if mpi else (1 if args.serial else cfg.parallel.workers)
    progress.header(cfg, workers, len(resubmit))
    with stopper:
        if mpi:
            why, left = _drive(drive, search, mpi_ex, fn, build_fn, workers, resubmit, store,
                               progress, stopper)
        elif not args.serial:
            with process_executor(workers, args.threads or cfg.parallel.threads) as ex:
                why, left = _drive(drive, search, ex, fn, build_fn, workers, resubmit, store,
                                   progress, stopper)
        else:
            why, left = _drive(drive, search, SerialExecutor(), fn, build_fn, 1, resubmit,
                               store, progress, stopper)
    progress.footer(why, left)
    return why, left


def _drive(drive, search, ex, fn, build_fn, slots, resubmit, store, progress, stopper):
    return drive(search, ex, fn, slots=slots, build_fn=build_fn, resubmit=resubmit,
                 on_pending=store.add_pending, on_done=progress.done,
                 should_stop=stopper.stop, on_idle=store.flush)


def _replay(search, store) -> list:
    """Rebuild the engine from the database; return the pending tasks to redo."""
    pending = []
    for c in store.candidates():
        is_pending = c.status == "pending"
        search.restore(c.task, c.result, c.status, c.reason, pending=is_pending)
        if is_pending:
            pending.append(c.task)
    return pending


class _Stopper:
    """SIGTERM/SIGINT and wall-time stop flag (a second signal aborts at once)."""

    def __init__(self, walltime_s: float | None) -> None:
        self.deadline = None if walltime_s is None else time.monotonic() + walltime_s
        self.flag = ""
        self._old: dict = {}

    def __enter__(self) -> _Stopper:  # noqa: PYI034
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread
                pass
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)

    def _handle(self, signum, frame) -> None:
        if self.flag:
            raise KeyboardInterrupt
        self.flag = signal.Signals(signum).name

    def stop(self) -> bool:
        if not self.flag and self.deadline is not None and time.monotonic() >= self.deadline:
            self.flag = "walltime"
        return bool(self.flag)


class _Progress:
    """Writes each evaluation to the store and a line to the terminal."""

    def __init__(self, search, store, quiet: bool) -> None:
        from csp.parallel import RateMeter

        self.search, self.store, self.quiet = search, store, quiet
        self.rate = RateMeter()
        self.last_print = 0.0

    def header(self, cfg, workers: int, n_resumed: int) -> None:
        if self.quiet:
            return
        comp = cfg.composition.describe()
        print(f"csp run: {comp} at {', '.join(f'{p:g}' for p in cfg.pressures)} GPa, "
              f"budget {cfg.search.max_evaluations}, {workers} worker(s), relaxer "
              f"{cfg.relaxer.get('name', 'staged')}, outdir {cfg.outdir}"
              + (f", resuming ({self.search.n_evaluated} done, {n_resumed} to redo)"
                 if n_resumed or self.search.n_evaluated else ""), flush=True)

    def done(self, ev) -> None:
        self.store.write(ev)
        if ev.eval_index < 0:
            return
        rate = self.rate.tick()
        now = time.monotonic()
        if self.quiet or (now - self.last_print < 1.0 and not ev.improved
                          and self.search.budget_left > 0):
            return
        self.last_print = now
        s = self.search.summary()
        c = s["counts"]
        r = ev.result
        h = f"{r.enthalpy_per_atom:+.4f}" if r is not None and r.status != "failed" else "   —   "
        cross = f"+{s['cross']}x" if s.get("cross") else ""
        line = (f"[{s['evaluated']:>4}/{s['budget']}{cross}] #{ev.task.candidate_id:<5} "
                f"{ev.task.origin:<10.10} {ev.status:<12} H={h} eV/at "
                f"{(r.spacegroup if r else ''):<8.8} | best {self._best()} | dup {c['duplicate']}"
                f"+{c['prerelax_duplicate']} fail {c['failed']} broken {c['broken_units']} | "
                f"{rate:.1f}/min" + ("  *new best*" if ev.improved else ""))
        print(line, flush=True)

    def _best(self) -> str:
        parts = []
        for p, b in self.search.best.items():
            if b is None:
                continue
            from csp.evaluate import spacegroup_of

            sg = spacegroup_of(b.genome.to_atoms())[0]
            parts.append(f"{b.enthalpy_per_atom:+.4f} {b.genome.formula} {sg}"
                         + (f" @{p:g}GPa" if len(self.search.pressures) > 1 else ""))
        return "; ".join(parts) or "none"

    def footer(self, why: str, left: int) -> None:
        s = self.search.summary()
        stalled = ("target enthalpy reached" if self.search.target_reached
                   else "no improvement: stopped")
        msg = {"budget": "budget reached", "stalled": stalled,
               "stopped": f"stopped ({left} in flight left pending; continue with --resume)"}[why]
        print(f"csp run: {msg}; {s['evaluated']} evaluations, counts {s['counts']}; best "
              f"{self._best()}; database {self.store.path}", file=sys.stdout if why != "stopped"
              else sys.stderr, flush=True)
