"""Executors (serial, processes, MPI ranks) and the steady-state driver loop.

This is the only module that imports mpi4py. The search never sees a communicator:
:func:`drive` gives it a ``concurrent.futures``-style executor and keeps every worker
busy: as soon as one result arrives it is told, a new task is asked and submitted (no
generation barrier). Under ``mpirun -n N csp run ...`` rank 0 runs the engine and
writes the database, ranks 1..N-1 evaluate (``mpi4py.futures.MPICommExecutor``).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, BrokenExecutor, Executor, Future, wait
from contextlib import contextmanager
from typing import Any, cast

__all__ = [
    "THREAD_ENV",
    "SerialExecutor",
    "drive",
    "mpi_executor",
    "mpi_rank",
    "mpi_size",
    "process_executor",
    "set_threads",
]

log = logging.getLogger(__name__)

THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
              "NUMBA_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")
_MPI_SIZE_ENV = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS")


def set_threads(n: int | None, override: bool = False) -> None:
    """Threads per worker for OpenMP/BLAS/numba/torch (call before heavy imports).

    Args:
        n: threads; None keeps what the environment says (default 1 when unset).
        override: replace values already set in the environment.
    """
    value = str(n or 1)
    for var in THREAD_ENV:
        if override or var not in os.environ:
            os.environ[var] = value
    if "torch" in sys.modules:
        try:
            sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
        except (RuntimeError, ValueError):
            pass


def _init_worker(threads: int) -> None:
    set_threads(threads, override=True)
    _exit_with_parent()


def _exit_with_parent(period: float = 2.0) -> None:
    """Daemon thread ending this worker when its parent dies (a SIGKILLed engine must
    not leave orphan relaxations running)."""
    import threading

    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(period)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watch, daemon=True, name="csp-parent-watch").start()


class SerialExecutor(Executor):
    """Runs each call at submit time in this process (tests, reproducibility)."""

    n_workers = 1

    def submit(self, fn: Callable, /, *args: Any, **kwargs: Any) -> Future:
        f: Future = Future()
        try:
            f.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - delivered through the future
            f.set_exception(exc)
        return f


class _RespawningPool(Executor):
    """A spawn-context ``ProcessPoolExecutor`` that replaces itself when a worker dies
    (killed by the OOM killer, a segfault in a native library, ...): the candidates in
    flight come back with ``BrokenProcessPool`` (:func:`drive` relaxes each again alone),
    the search goes on with fresh workers."""

    def __init__(self, workers: int, threads: int) -> None:
        self.n_workers = workers
        self.threads = threads
        self.respawns = 0
        self._pool = self._new()

    def _new(self):
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        return ProcessPoolExecutor(max_workers=self.n_workers, mp_context=mp.get_context("spawn"),
                                   initializer=_init_worker, initargs=(self.threads,))

    def submit(self, fn: Callable, /, *args: Any, **kwargs: Any) -> Future:
        from concurrent.futures.process import BrokenProcessPool

        try:
            return self._pool.submit(fn, *args, **kwargs)
        except BrokenProcessPool:
            log.warning("a worker process died; starting a new pool")
            self.shutdown(wait=False, cancel_futures=True)
            self.respawns += 1
            self._pool = self._new()
            return self._pool.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        # a stopped run must not wait for relaxations in flight (they are pending in
        # the database): stop the workers; after a normal finish they are idle anyway
        procs = list((getattr(self._pool, "_processes", None) or {}).values())
        busy = bool(getattr(self._pool, "_pending_work_items", True))
        if not busy:  # a normal finish: let the idle workers exit (and free what they hold)
            self._pool.shutdown(wait=True)
            return
        self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)
        for proc in procs:
            if proc.is_alive():
                proc.terminate()


@contextmanager
def process_executor(workers: int, threads: int = 1) -> Iterator[Executor]:
    """Worker processes (spawn start method, ``threads`` each), respawned if one dies."""
    ex = _RespawningPool(workers, threads)
    try:
        yield ex
    finally:
        ex.shutdown(wait=False, cancel_futures=True)


def mpi_size() -> int:
    """Size of MPI_COMM_WORLD; 1 when not launched by mpirun (mpi4py not imported then)."""
    if not any(v in os.environ for v in _MPI_SIZE_ENV):
        return 1
    from mpi4py import MPI

    _serial_ase()
    return MPI.COMM_WORLD.Get_size()


def _serial_ase() -> None:
    """Make ASE see one process on every rank.

    Once mpi4py is imported, ``ase.parallel.world`` can become MPI-aware; then ASE's
    file I/O (``ase.io.write``, ``ase.db`` writes, file-based calculators) runs on rank
    0 only and broadcasts, a collective call that hangs when only one rank makes it.
    Each csp rank works alone (the engine writes the database, a worker relaxes its own
    candidate), so ASE must act serially everywhere.
    """
    import ase.parallel

    if getattr(ase.parallel.world, "size", 1) != 1:
        # ASE types world as its MPI wrapper; DummyMPI is its serial stand-in
        ase.parallel.world = ase.parallel.DummyMPI()  # type: ignore[assignment]


def mpi_rank() -> int:
    """Rank in MPI_COMM_WORLD (0 without MPI)."""
    if mpi_size() == 1:
        return 0
    from mpi4py import MPI

    return MPI.COMM_WORLD.Get_rank()


@contextmanager
def mpi_executor() -> Iterator[Executor | None]:
    """``MPICommExecutor`` on COMM_WORLD: rank 0 gets the executor (size-1 workers),
    the other ranks serve tasks inside the context and get None."""
    from mpi4py import MPI
    from mpi4py.futures import MPICommExecutor

    with MPICommExecutor(MPI.COMM_WORLD, root=0) as ex:
        if ex is not None:
            ex.n_workers = MPI.COMM_WORLD.Get_size() - 1  # type: ignore[attr-defined]
        # mpi4py's stub says __enter__ gives the MPICommExecutor; it gives the root an
        # MPIPoolExecutor (a concurrent.futures.Executor) and the other ranks None
        yield cast("Executor | None", ex)


def mpi_abort(code: int = 1) -> None:
    """Abort all ranks (used when a stopped run must not wait for relaxations in flight)."""
    from mpi4py import MPI

    MPI.COMM_WORLD.Abort(code)


def drive(search: Any, executor: Executor, evaluate_fn: Callable, *, slots: int,
          build_fn: Callable | None = None, resubmit: list | None = None,
          on_pending: Callable | None = None, on_done: Callable | None = None,
          should_stop: Callable[[], bool] | None = None, on_idle: Callable | None = None,
          poll: float = 0.5) -> tuple[str, int]:
    """Steady-state ask / evaluate / tell loop.

    With ``build_fn`` the candidates are built on the workers too: a slot holds either
    a build (``build_fn(request) -> Built``) or a relaxation, and this process only
    decides, checks duplicates (:meth:`Search.propose`) and records; without it the
    search builds here (:meth:`Search.ask`).

    Args:
        search: a :class:`csp.engine.Search`.
        executor: where ``evaluate_fn(task)`` (and ``build_fn``) run.
        evaluate_fn: picklable ``task -> Result`` (e.g. a ``functools.partial`` of
            :func:`csp.evaluate.evaluate`).
        slots: calls kept in flight (usually the number of workers).
        build_fn: picklable ``BuildRequest -> Built`` (e.g. ``partial(csp.build.build,
            config=cfg)``), or None to build in this process.
        resubmit: tasks to submit first (pending candidates of a resumed run).
        on_pending: called with each new task before it is submitted.
        on_done: called with each :class:`csp.engine.Evaluation` (incl. rejected duplicates).
        should_stop: polled; True stops asking and returns with tasks still in flight.
        on_idle: called before waiting for workers and before returning (e.g. commit).
        poll: seconds between stop checks while waiting, s.

    A worker process that dies (OOM killer, segfault in a native library) breaks the
    process pool and every relaxation in flight with it, though only one of them killed
    it. Those relaxations are suspects: each is relaxed again *alone* (nothing else in
    flight), so the one that kills its worker again is the culprit and fails with the
    worker error, and the innocent ones get their real result.

    Returns:
        (why it stopped: "budget" | "stalled" | "stopped", relaxations left in flight or
        waiting to be relaxed again).
    """
    from csp.build import BuildRequest, Built
    from csp.evaluate import Result

    futures: dict[Future, Any] = {}
    stop = should_stop or (lambda: False)
    idle = on_idle or (lambda: None)
    suspects: list = []  # relaxations in flight when a worker died: each is relaxed again alone
    alone: Any = None  # the suspect being relaxed alone

    def relax(task) -> None:
        if on_pending:
            on_pending(task)
        futures[executor.submit(evaluate_fn, task)] = task

    def rejected() -> None:
        for ev in search.pop_rejected():
            if on_done:
                on_done(ev)

    def in_flight() -> int:
        return sum(not isinstance(t, BuildRequest) for t in futures.values()) + len(suspects)

    for task in resubmit or []:
        futures[executor.submit(evaluate_fn, task)] = task
    while True:
        if stop():
            idle()
            return "stopped", in_flight()
        if suspects and not futures:  # the pool has drained: the next suspect runs alone
            alone = suspects.pop(0)
            futures[executor.submit(evaluate_fn, alone)] = alone
        while (not suspects and alone is None and len(futures) < slots
               and search.budget_left > 0 and not search.done):
            if build_fn is None:
                task = search.ask()
                rejected()
                relax(task)
            else:
                req = search.request()
                if isinstance(req, BuildRequest):
                    futures[executor.submit(build_fn, req)] = req
                else:
                    relax(req)
            if stop():
                idle()
                return "stopped", in_flight()
        if not futures:
            idle()
            return ("stalled" if search.done and search.budget_left > 0 else "budget"), 0
        if not any(f.done() for f in futures):
            idle()  # about to block: a good moment to commit
        done, _ = wait(list(futures), timeout=poll, return_when=FIRST_COMPLETED)
        for f in done:
            item = futures.pop(f)
            if isinstance(item, BuildRequest):
                try:
                    built = f.result()
                except Exception as exc:  # noqa: BLE001 - a lost worker: build it again later
                    built = Built(item.candidate_id, item.pressure, None,
                                  error=f"worker error {type(exc).__name__}: {exc}")
                task = search.propose(built)
                rejected()
                if task is not None:
                    relax(task)
                continue
            was_alone = item is alone
            if was_alone:
                alone = None
            try:
                result = f.result()
            except Exception as exc:  # noqa: BLE001 - a lost worker is a failed candidate
                if isinstance(exc, BrokenExecutor) and not was_alone:
                    log.warning("candidate %d was in flight when a worker died: it is relaxed "
                                "again alone", item.candidate_id)
                    suspects.append(item)
                    continue
                why = "died relaxing it alone" if was_alone else "error"
                result = Result(candidate_id=item.candidate_id, status="failed",
                                reason=f"crashed: worker {why} {type(exc).__name__}: {exc}",
                                pressure_gpa=item.pressure)
            ev = search.tell(result)
            if on_done:
                on_done(ev)


class RateMeter:
    """Evaluations per minute over the run (for progress lines)."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.n = 0

    def tick(self) -> float:
        self.n += 1
        dt = time.monotonic() - self.t0
        return 60.0 * self.n / dt if dt > 0 else 0.0
