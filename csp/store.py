"""The run's database: ``<outdir>/csp.db`` (ASE SQLite), one row per candidate.

Only the engine process writes. A candidate is written as ``status="pending"`` when it
is sent to a worker and updated in place when its result is told, so after a crash the
database says exactly what finished (kept) and what was in flight (redone on resume).
Key-value pairs (names agreed with ``csp.hull``): ``status``, ``reason``,
``enthalpy_per_atom``, ``energy_per_atom``, ``volume_per_atom`` (eV/atom, Å^3/atom),
``pressure_gpa``, ``pressure_reached_gpa``, ``units_intact``, ``max_unit_rmsd`` (Å),
``spacegroup``, ``sg_number``, ``origin``, ``operator``, ``parents`` (comma-separated
ids, see :func:`parse_parents`), ``candidate_id``, ``eval_index``, ``composition``, ``run_id``, plus ``worker``,
``duplicate_of``, ``sg_target``, ``symmetry_breaking`` (Å, the distortion the start was
relaxed from; 0: none) and ``run_seed``. ``row.data``: ``genome`` (relaxed),
``initial_genome`` (the start before any distortion), ``stages``. The row's structure is the relaxed crystal as the relaxer left it (the
initial one for a candidate that was not relaxed); ``genome`` is its re-fit with rigid
units, in the same atom order. The resolved configuration is in ``<outdir>/config.resolved.json`` and in
the database metadata.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from ase import Atoms

from csp.errors import CspError
from csp.evaluate import Result, Task
from csp.genome import Genome

__all__ = ["CONFIG_NAME", "DB_NAME", "Store", "StoredCandidate", "parse_parents"]

log = logging.getLogger(__name__)

DB_NAME = "csp.db"
CONFIG_NAME = "config.resolved.json"
STATUSES = ("relaxed", "failed", "duplicate", "broken_units", "unconverged", "pending")


class StoredCandidate:
    """One row read back: the task, its result (or None) and the stored status."""

    __slots__ = ("eval_index", "reason", "result", "row_id", "status", "task")

    def __init__(self, task: Task, result: Result | None, status: str, reason: str,
                 eval_index: int, row_id: int) -> None:
        self.task, self.result, self.status = task, result, status
        self.reason, self.eval_index, self.row_id = reason, eval_index, row_id


def _parents_str(parents) -> str:
    """Comma-separated parent ids; "none" without parents; one parent gets a trailing
    comma ("5,") because ASE refuses strings that read as numbers."""
    if not parents:
        return "none"
    text = ",".join(str(int(p)) for p in parents)
    return text + "," if len(parents) == 1 else text


def parse_parents(text: str) -> tuple[int, ...]:
    """Inverse of the ``parents`` key: "3,8" -> (3, 8), "5," -> (5,), "none" -> ()."""
    if text in ("", "none"):
        return ()
    return tuple(int(p) for p in str(text).split(",") if p.strip())


class Store:
    """Writer and reader of a run directory.

    Use :meth:`create` for a new run and :meth:`open` to read or resume one.
    """

    def __init__(self, outdir: str | Path, run_id: str, config: dict | None = None) -> None:
        import ase.db

        self.outdir = Path(outdir)
        self.path = self.outdir / DB_NAME
        self.db = ase.db.connect(str(self.path), append=True)
        # One connection for the run, WAL journal, commit after every candidate: a
        # finished evaluation is on disk (OS cache) before the next one is asked, so a
        # killed process loses nothing, at ~0.5 ms per write instead of ~2-4 ms.
        self.db.__enter__()
        self.db.connection.execute("PRAGMA journal_mode=WAL")
        self.db.connection.execute("PRAGMA synchronous=NORMAL")
        self.commit_interval = 0.05  # s; see commit()
        self._last_commit = time.monotonic()
        self._dirty = False
        self.run_id = run_id
        self.config = config or {}
        self._rows: dict[int, int] = {}  # candidate_id -> row id
        self._in_flight: dict[int, Task] = {}  # pending candidates without a row yet

    # --------------------------------------------------------------- opening
    @classmethod
    def create(cls, outdir: str | Path, config: dict, force: bool = False) -> Store:
        """Start a new run directory; refuses to overwrite one without ``force``.

        Raises:
            CspError: the directory already holds a run and ``force`` is false.
        """
        out = Path(outdir)
        if (out / DB_NAME).exists() or (out / CONFIG_NAME).exists():
            if not force:
                raise CspError(f"output directory {str(out)!r} already holds a run; use --resume "
                               "to continue it or --force to overwrite it")
            for name in (DB_NAME, CONFIG_NAME):
                (out / name).unlink(missing_ok=True)
            shutil.rmtree(out / "work", ignore_errors=True)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CspError(f"cannot create output directory {str(out)!r}: {exc}") from None
        run_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        store = cls(out, run_id, config)
        store._write_config(config)
        return store

    @classmethod
    def open(cls, outdir: str | Path, config: dict | None = None) -> Store:
        """Open an existing run (to resume when ``config`` is given, else to read).

        Raises:
            CspError: no run in that directory.
        """
        out = Path(outdir)
        if not (out / DB_NAME).exists():
            raise CspError(f"no csp run in {str(out)!r} (no {DB_NAME})")
        meta = {}
        if (out / CONFIG_NAME).exists():
            meta = json.loads((out / CONFIG_NAME).read_text())
        store = cls(out, meta.get("run_id", "unknown"), config or meta.get("config", {}))
        if config is not None:
            store._write_config(config)
        for row in store.db.select(columns=["id", "key_value_pairs"]):
            store._rows[int(row.candidate_id)] = row.id
        return store

    def _write_config(self, config: dict) -> None:
        self.config = config
        doc = {"run_id": self.run_id, "config": config}
        (self.outdir / CONFIG_NAME).write_text(json.dumps(doc, indent=1))
        self.db.metadata = {"title": f"csp run {self.run_id}", "csp_run_id": self.run_id,
                            "csp_config": json.dumps(config),
                            "key_descriptions": _KEY_DESCRIPTIONS}
        self.db.connection.commit()

    # --------------------------------------------------------------- writing
    def add_pending(self, task: Task) -> None:
        """Record a candidate that is being sent to a worker (status "pending").

        The row is written at the next commit if the candidate is still in flight then
        (the driver commits before it waits for workers), so a run killed during a
        relaxation finds it "pending"; a candidate that finishes before that commit
        (the fake relaxer, the serial executor) is written once, already decided.
        """
        self._in_flight[task.candidate_id] = task

    def _write_pending(self) -> None:
        for cid, task in self._in_flight.items():
            kvp = self._task_kvp(task)
            kvp["status"] = "pending"
            self._rows[cid] = self.db.write(task.genome.to_atoms(wrap=True), key_value_pairs=kvp,
                                            data={"initial_genome": task.genome.to_dict(True)})
        self._in_flight.clear()

    def commit(self, force: bool = True) -> None:
        """Commit pending writes: always when forced, else when the last commit is older
        than ``commit_interval`` (50 ms). A real relaxation takes seconds, so every
        candidate is committed as it finishes; only a zero-cost relaxer batches a few.
        The driver forces a commit whenever it is about to wait for workers."""
        self._dirty = True
        now = time.monotonic()
        if force or now - self._last_commit >= self.commit_interval:
            self._write_pending()
            self.db.connection.commit()
            self._last_commit = now
            self._dirty = False

    def flush(self) -> None:
        """Commit if anything is uncommitted."""
        if self._dirty or self._in_flight:
            self.commit(force=True)

    def write(self, ev) -> int:
        """Write a decided candidate (an :class:`csp.engine.Evaluation`)."""
        task, res = ev.task, ev.result
        self._in_flight.pop(task.candidate_id, None)
        kvp = self._task_kvp(task)
        kvp.update(status=ev.status, reason=ev.reason[:500], eval_index=int(ev.eval_index),
                   duplicate_of=int(ev.duplicate_of))
        # genomes as arrays: ASE stores them as binary blobs (nested lists cost ~1 ms a row)
        data = {"initial_genome": task.genome.to_dict(arrays=True)}
        genome = task.genome
        if res is not None:
            for key in ("enthalpy_per_atom", "energy_per_atom", "volume_per_atom",
                        "pressure_reached_gpa", "max_unit_rmsd", "wall_time"):
                v = getattr(res, key)
                if v is not None and math.isfinite(v):
                    kvp[key] = float(v)
            kvp.update(units_intact=bool(res.units_intact), worker=res.worker,
                       steps=int(res.steps))
            if res.spacegroup:
                kvp.update(spacegroup=res.spacegroup, sg_number=int(res.sg_number))
            if res.genome is not None:
                genome = getattr(ev, "relaxed", None)
                if genome is None:  # an Evaluation made elsewhere
                    genome = Genome.from_dict(res.genome)
                data["genome"] = genome.to_dict(arrays=True)
            data["stages"] = res.stages
            data["result"] = {k: v for k, v in res.to_dict().items()
                              if k not in ("genome", "stages", "structure")}
        if res is not None and res.structure is not None and res.genome is not None:
            # the row holds the relaxed crystal itself; data["genome"] its rigid re-fit,
            # in the same atom order (tags: unit i -> i + 1, as Genome.to_atoms)
            atoms = Atoms(numbers=genome.numbers(), positions=res.structure["positions"],
                          cell=res.structure["cell"], pbc=True,
                          tags=genome.atom_unit_index() + 1)
        else:
            atoms = genome.to_atoms(wrap=False)
        atoms.wrap()
        row = self._rows.get(task.candidate_id)
        if row is None:
            row = self.db.write(atoms, key_value_pairs=kvp, data=data)
            self._rows[task.candidate_id] = row
        else:
            self.db.update(row, atoms=atoms, data=data, **kvp)
        self.commit(force=False)
        return row

    def close(self) -> None:
        """Commit and close the database connection."""
        if self.db.connection is not None:
            self.flush()
            self.db.__exit__(None, None, None)

    def __enter__(self) -> Store:  # noqa: PYI034
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _task_kvp(self, task: Task) -> dict:
        return {"candidate_id": int(task.candidate_id), "origin": task.origin,
                "operator": task.operator or "none",
                "parents": _parents_str(task.parents),
                "pressure_gpa": float(task.pressure), "sg_target": int(task.spacegroup_target),
                "symmetry_breaking": float(task.symmetry_breaking), "run_seed": int(task.run_seed),
                "composition": task.genome.reduced_formula, "run_id": self.run_id}

    # --------------------------------------------------------------- reading
    def candidates(self) -> Iterator[StoredCandidate]:
        """Every stored candidate: decided ones in ``eval_index`` order (pre-relaxation
        duplicates at their candidate position), then pending ones."""
        rows = list(self.db.select())
        decided = [r for r in rows if r.status != "pending"]
        pending = [r for r in rows if r.status == "pending"]
        decided.sort(key=lambda r: (r.get("eval_index", -1) if r.get("eval_index", -1) >= 0
                                    else math.inf, r.candidate_id))
        for r in decided + sorted(pending, key=lambda r: r.candidate_id):
            task = Task(candidate_id=int(r.candidate_id),
                        genome=Genome.from_dict(r.data["initial_genome"]), origin=r.origin,
                        operator="" if r.operator == "none" else r.operator,
                        parents=parse_parents(r.parents),
                        pressure=float(r.pressure_gpa),
                        spacegroup_target=int(r.get("sg_target", 0)),
                        symmetry_breaking=float(r.get("symmetry_breaking", 0.0)),
                        run_seed=int(r.get("run_seed", 0)))
            result = None
            if "result" in r.data:
                result = Result.from_dict({**r.data["result"], "genome": r.data.get("genome"),
                                           "stages": r.data.get("stages", [])})
            yield StoredCandidate(task, result, r.status, r.get("reason", ""),
                                  int(r.get("eval_index", -1)), r.id)

    def count(self, **selection) -> int:
        return self.db.count(**selection)

    def status_counts(self) -> dict[str, int]:
        return {s: self.db.count(status=s) for s in STATUSES}


_KEY_DESCRIPTIONS = {
    "status": ("Status", "relaxed | failed | duplicate | broken_units | unconverged | pending", ""),
    "enthalpy_per_atom": ("H/atom", "Enthalpy per atom H = E + PV", "eV/atom"),
    "energy_per_atom": ("E/atom", "Energy per atom", "eV/atom"),
    "volume_per_atom": ("V/atom", "Volume per atom", "Ang^3/atom"),
    "pressure_gpa": ("P", "Target pressure", "GPa"),
    "symmetry_breaking": ("Distortion", "Distortion of the start before relaxation",
                          "Ang"),
    "pressure_reached_gpa": ("P reached", "Pressure reached by the relaxation", "GPa"),
    "max_unit_rmsd": ("unit RMSD", "Largest unit re-fit RMSD", "Ang"),
    "candidate_id": ("id", "Candidate id in the run", ""),
    "eval_index": ("eval #", "Order of completion", ""),
}
