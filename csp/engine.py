"""The evolutionary search as an ask / tell object (no I/O, no MPI).

:class:`Search` hands out :class:`csp.evaluate.Task` objects (``ask``) and takes
back :class:`csp.evaluate.Result` objects (``tell``), in any order and any number in
flight: the driver (:func:`csp.parallel.drive`) keeps every worker busy. Each
candidate draws all its randomness from
``np.random.default_rng(np.random.SeedSequence([seed, candidate_id]))``, so a run
does not depend on which worker evaluated what, and the serial executor reproduces a
search exactly.

Selection: the first ``initial_population`` candidates per pressure are seeds and
random symmetric structures (random space group in the configured range, general
positions when the group is impossible), and so is every candidate while fewer than
half the population size are relaxed with their units intact; after that, parents
come from tournaments
on fitness (enthalpy per atom at fixed composition, distance to the current convex
hull in variable composition), the operator is drawn by weight (re-weighted by its
recent success when ``adaptive_operators``), and a ``random_fraction`` of offspring
are fresh random structures. Duplicates are rejected by fingerprint before the
relaxation (against the population and the pending candidates) and after it
(against relaxed structures of the same composition within an enthalpy window).
A random symmetric structure is relaxed from a copy distorted by ``[search]
symmetry_breaking`` Å (its symmetry would otherwise hold the relaxation at saddle points
of its group); the genome, the duplicate checks and the database keep the symmetric
start.

Building a structure (random placement, an operator) is the expensive part of a
candidate besides its relaxation, so it is split from the decisions: :meth:`Search.request`
decides (seed, cross-pressure re-relaxation, or a :class:`csp.build.BuildRequest`:
which operators on which parents, else a random structure), a
:class:`csp.build.Builder` builds, anywhere (an MPI rank, a worker process), and
:meth:`Search.propose` accepts the result or rejects it as a duplicate. :meth:`Search.ask`
does all three in this process.
"""

from __future__ import annotations

import bisect
import heapq
import logging
import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from csp.build import Builder, BuildRequest, Built
from csp.config import Config
from csp.errors import CspError
from csp.evaluate import Result, Task
from csp.fingerprint import FingerprintIndex
from csp.genome import Genome

__all__ = [
    "Evaluation",
    "Individual",
    "Search",
    "composition_key",
    "operator_table",
    "resolve_seeds",
]

log = logging.getLogger(__name__)

Operator = Callable[[list[Genome], np.random.Generator], "Genome | None"]
#: operator tries (operator + parents drawn each) before falling back to random generation
OPERATOR_TRIES = 8
#: consecutive pre-relaxation duplicates before one is accepted anyway
MAX_REJECTIONS = 50


def operator_table() -> dict[str, tuple[Any, float, int]]:
    """The operator registry {name: (factory, default_weight, n_parents)}."""
    from csp.operators.registry import OPERATORS

    return dict(OPERATORS)


def resolve_seeds(specs: Sequence[Any]) -> list[Genome]:
    """Seed genomes of a list of seed specs (names, files, recipes) via ``csp.seeds``."""
    if not specs:
        return []
    from csp.seeds import resolve_seed

    out: list[Genome] = []
    for spec in specs:
        out.extend(resolve_seed(spec))
    return out


def composition_key(genome: Genome) -> str:
    """A canonical string of a genome's units and free atoms, e.g. ``"(B12)2 Sr2"``."""
    parts = [f"({k}){v}" for k, v in sorted(genome.unit_counts().items())]
    parts += [f"{k}{v}" for k, v in sorted(genome.atom_counts().items())]
    return " ".join(parts)


def _reduced_fractions(genome: Genome, elements: tuple[str, ...]) -> np.ndarray:
    counts = genome.element_counts()
    v = np.array([counts.get(e, 0) for e in elements], float)
    return v / v.sum()


@dataclass
class Individual:
    """A relaxed, unique structure (a potential parent).

    Attributes:
        candidate_id: id in the run.
        pressure: GPa.
        genome: relaxed genome.
        enthalpy_per_atom: eV/atom.
        comp: composition key (see :func:`composition_key`).
        fp: fingerprint of the relaxed structure (duplicates after relaxation).
        fp_initial / fp_shape: scale-free fingerprints (``csp.fingerprint.fingerprint_shape``
            by default) of the unrelaxed and the relaxed structure, for the check of new
            candidates before relaxation.
        fitness: lower is better (H/atom, or distance to the hull in eV/atom).
        converged: False for a relaxation stopped at the relaxer's step limit, kept as a
            parent (``[search] unconverged = "breed"``): its enthalpy is an upper bound
            of its basin's minimum. It is never the best structure, a hull phase or a
            hit, and a converged structure is never called its duplicate.
    """

    candidate_id: int
    pressure: float
    genome: Genome
    enthalpy_per_atom: float
    comp: str
    fp: Any
    fp_initial: Any
    origin: str
    operator: str
    intact: bool = True
    fitness: float = math.nan
    breed: bool = True  # False: a competitor outside the unit space (ranked, not a parent)
    fp_shape: Any = None
    converged: bool = True


@dataclass
class Evaluation:
    """A decided candidate: what the store writes.

    Attributes:
        task: the candidate as asked.
        result: the worker's result (None for a duplicate rejected before relaxation).
        status: "relaxed" | "failed" | "duplicate" | "broken_units" | "unconverged".
        reason: why (failure, duplicate of which id).
        eval_index: order of completion (-1 for pre-relaxation duplicates).
        duplicate_of: candidate id of the twin, -1 otherwise.
        improved: this candidate is a new best at its pressure.
        relaxed: the relaxed genome, parsed (None when there is none).
    """

    task: Task
    result: Result | None
    status: str
    reason: str = ""
    eval_index: int = -1
    duplicate_of: int = -1
    improved: bool = False
    relaxed: Genome | None = None


@dataclass
class _OperatorStats:
    weight: float
    n_parents: int
    op: Operator
    recent: deque = field(default_factory=lambda: deque(maxlen=20))


class Search:
    """Ask / tell evolutionary search over superatomic crystals.

    Args:
        config: the validated configuration.
        generate: ``generate(composition, pressure_gpa, rng, spacegroup=, limits=)``;
            default ``csp.operators.generation.generate``.
        operators: {name: (callable, weight, n_parents)}; default built from the
            registry and the config's ``[operators]`` weights.
        fingerprint: (fp(genome), distance(fp_a, fp_b)); default from ``csp.fingerprint``.
        seeds: seed genomes; default resolved from ``config.seeds``.
        groups: ``groups(composition, lo, hi)``: the space groups that can hold a
            composition; default ``csp.operators.generation.possible_groups``.
    """

    def __init__(self, config: Config, *, generate: Callable | None = None,
                 operators: dict[str, tuple[Operator, float, int]] | None = None,
                 fingerprint: tuple[Callable, Callable] | None = None,
                 seeds: Sequence[Genome] | None = None,
                 groups: Callable | None = None) -> None:
        self.config = config
        self.seed = config.seed
        self.pressures = config.pressures
        self.compositions = config.composition.cell_compositions()
        self._fp, self._dist = fingerprint or _default_fingerprint()
        # pre-relaxation checks compare scale-free fingerprints (the scale of an
        # unrelaxed candidate is a random draw); a stand-in fingerprint is used as is
        self._fp_pre = _default_shape_fingerprint() if fingerprint is None else self._fp
        #: the default builder can be re-made from the config on a worker (see
        #: csp.build.build); stand-in callables make the search build in this process
        self.builds_anywhere = generate is None and operators is None and fingerprint is None \
            and groups is None
        ops = operators if operators is not None else _build_operators(config)
        self.operators = {n: _OperatorStats(w, k, op) for n, (op, w, k) in ops.items() if w > 0}
        self.builder = Builder(config, generate=generate, groups=groups,
                               operators={n: st.op for n, st in self.operators.items()},
                               fingerprint=self._fp_pre)
        seed_genomes = list(seeds) if seeds is not None else resolve_seeds(config.seeds)
        self._seeds = [self._fit_seed(g) for g in seed_genomes]
        self._seeds_used = {p: 0 for p in self.pressures}
        self.elements = tuple(sorted({e for c in self.compositions for e in c.element_counts()}))
        self.next_id = 0
        self.n_evaluated = 0
        self.n_cross = 0  # cross-pressure re-relaxations among n_evaluated
        self._crossed: set[tuple[int, float]] = set()  # (source candidate, pressure) asked
        self.pending: dict[int, tuple[Task, Any]] = {}
        self.building: dict[int, float] = {}  # candidate id -> pressure, requested, not built
        self._rejections = 0  # pre-relaxation duplicates in a row
        self._build_failures = 0  # candidates in a row whose building crashed
        self.individuals: dict[float, list[Individual]] = {p: [] for p in self.pressures}
        self._by_comp: dict[tuple[float, str], list[Individual]] = {}
        self.started = {p: 0 for p in self.pressures}
        self.counts = {"relaxed": 0, "failed": 0, "duplicate": 0, "broken_units": 0,
                       "unconverged": 0, "prerelax_duplicate": 0}
        self.best: dict[float, Individual | None] = {p: None for p in self.pressures}
        self.since_improvement = 0
        self.rejected: list[Evaluation] = []
        self._hull_dirty = {p: True for p in self.pressures}
        self._population: dict[float, list[Individual] | None] = {p: None for p in self.pressures}
        # duplicate checks as matrix products when the default fingerprint is used
        self._indexed = fingerprint is None
        self._pending_index = {p: FingerprintIndex() for p in self.pressures}
        self._pop_index: dict[float, FingerprintIndex | None] = {p: None for p in self.pressures}

    # ----------------------------------------------------------------- budget
    @property
    def budget_left(self) -> int:
        """Relaxations that may still be asked: the budget minus those done and in flight,
        plus the cross-pressure re-relaxations still due (they do not use the budget)."""
        main_pending = sum(1 for t, _ in self.pending.values() if t.origin != "cross")
        main = (self.config.search.max_evaluations - (self.n_evaluated - self.n_cross)
                - main_pending - len(self.building))
        return max(main, 0) + len(self._cross_due())

    @property
    def done(self) -> bool:
        """True when the budget is spent or the search stalled (no new best for N), and
        no cross-pressure re-relaxation is due."""
        if self._cross_due():
            return False
        n = self.config.search.stop_after_no_improvement
        if n and self.since_improvement >= n:
            return True
        if self.target_reached:
            return True
        return self.n_evaluated - self.n_cross >= self.config.search.max_evaluations

    @property
    def target_reached(self) -> bool:
        """A relaxed, intact structure at or below ``[search] stop_at_enthalpy``."""
        target = self.config.search.stop_at_enthalpy
        return target is not None and any(
            b is not None and b.intact and b.enthalpy_per_atom <= target for b in self.best.values())

    def _cross_due(self) -> list[tuple[Individual, float]]:
        """Hull phases (fixed composition: the best structure) found at one pressure and
        not yet re-relaxed at the others, so every pressure's hull sees them."""
        if len(self.pressures) < 2:
            return []
        due = []
        for p in self.pressures:
            self._update_fitness(p)
            if self.config.composition.variable:
                phases = [i for i in self.individuals[p] if i.fitness <= 1e-6 and i.converged]
            else:
                best = self.best[p]
                phases = [best] if best is not None else []
            for ind in phases:
                # seeds are relaxed at every pressure already (as seeds)
                if ind.origin in ("cross", "seed"):
                    continue
                due += [(ind, q) for q in self.pressures
                        if q != p and (ind.candidate_id, q) not in self._crossed]
        return due

    def allowed(self, genome: Genome) -> bool:
        """Is this genome's composition inside the search's composition space?"""
        return self.builder.allowed(genome)

    def same_elements(self, genome: Genome) -> bool:
        """Could this crystal compete in the search (its elements and cell size fit),
        whatever its units? E.g. the UB12-type SrB12 (a B network, no icosahedra) in a
        search built from Sr atoms and B12 units."""
        space = self.config.composition
        counts = genome.element_counts()
        if not space.variable:
            return any(c.element_counts() == counts for c in self.compositions)
        return (set(counts) <= set(self.elements)
                and space.min_atoms <= len(genome) <= space.max_atoms)

    def _fit_seed(self, genome: Genome) -> Genome:
        """A seed as the search can take it: as given, or reduced to its primitive cell
        when that is what fits. A seed whose elements fit but whose units do not (an
        atomistic competitor) is relaxed and ranked but never bred from.

        Raises:
            CspError: the seed's composition is outside the search's.
        """
        if self.allowed(genome) or self.same_elements(genome):
            return genome
        from csp.seeds import primitive_genome

        prim = primitive_genome(genome)
        if self.allowed(prim) or self.same_elements(prim):
            return prim
        raise CspError(f"seed {genome.formula} ({composition_key(genome)}) is outside the "
                       f"search's composition space")

    # -------------------------------------------------------------------- ask
    def ask(self) -> Task:
        """Next candidate to relax, built in this process (pre-relaxation duplicates
        are kept in ``rejected``).

        Raises:
            CspError: when no structure of the composition can be generated at all.
        """
        while True:
            req = self.request()
            if isinstance(req, Task):
                return req
            task = self.propose(self.builder.build(req))
            if task is not None:
                return task

    def request(self) -> Task | BuildRequest:
        """The next decision: a ready task (a seed, a cross-pressure re-relaxation),
        already pending, or a :class:`BuildRequest` to build (anywhere) and hand to
        :meth:`propose`."""
        due = self._cross_due()
        if due:
            ind, q = due[0]
            cid = self.next_id
            self.next_id += 1
            task = Task(cid, ind.genome, "cross", "cross", (ind.candidate_id,), q)
            self._crossed.add((ind.candidate_id, q))
            self._accept(task, self._fp_pre(task.genome))
            return task
        cid = self.next_id
        self.next_id += 1
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, cid]))
        pressure = self.pressures[cid % len(self.pressures)]
        used = self._seeds_used[pressure]
        if used < len(self._seeds):
            self._seeds_used[pressure] += 1
            task = Task(cid, self._seeds[used], "seed", pressure=pressure)
            self._accept(task, self._fp_pre(task.genome))
            return task
        self.building[cid] = pressure
        pop = self.population(pressure)
        # breed only from a population worth the name: where most relaxations break the
        # units (B12 at 50 GPa), a few intact structures would otherwise be mutated over
        # and over; until half the population is there, new random structures come
        breed = (self.started[pressure] >= self.config.search.n_initial
                 and len(pop) >= self.min_parents and self.operators
                 and rng.random() >= self.config.search.random_fraction)
        if not breed:
            return BuildRequest(cid, pressure, self.seed)
        names = list(self.operators)
        w = np.array([self._effective_weight(n) for n in names])
        tries: list[tuple[str, tuple[int, ...]]] = []
        parents: dict[int, Genome] = {}
        for k in rng.choice(len(names), size=OPERATOR_TRIES, p=w / w.sum()):
            name = names[int(k)]
            chosen = self.tournament(rng, pop, self.operators[name].n_parents)
            parents.update((p.candidate_id, p.genome) for p in chosen)
            tries.append((name, tuple(p.candidate_id for p in chosen)))
        return BuildRequest(cid, pressure, self.seed, tuple(tries), parents)

    def propose(self, built: Built) -> Task | None:
        """Accept a built candidate (pending from now on: relax it) or reject it as a
        duplicate of a pending or population structure (kept in ``rejected``); after
        ``MAX_REJECTIONS`` rejections in a row one is accepted anyway.

        Raises:
            CspError: nothing of the search's compositions can be generated at all.
        """
        if self.building.pop(built.candidate_id, None) is None:
            raise CspError(f"propose: candidate {built.candidate_id} was not requested")
        if built.genome is None:
            self._build_failures += 1
            if built.fatal or self._build_failures > MAX_REJECTIONS:
                raise CspError(built.error if built.fatal else
                               f"{self._build_failures} candidates in a row could not be built "
                               f"(last: {built.error})")
            log.warning("candidate %d not built: %s", built.candidate_id, built.error)
            return None
        self._build_failures = 0
        # a new symmetric structure relaxes from a distorted copy (Built.fresh)
        sigma = self.config.search.symmetry_breaking if built.fresh else 0.0
        task = Task(built.candidate_id, built.genome, built.origin, built.operator,
                    built.parents, built.pressure, built.spacegroup_target, sigma, self.seed)
        fp = built.fingerprint if built.fingerprint is not None else self._fp_pre(built.genome)
        twin = self._prerelax_twin(fp, built.pressure)
        if twin is None or self._rejections >= MAX_REJECTIONS:
            self._rejections = 0
            self._accept(task, fp)
            return task
        self._rejections += 1
        self.counts["prerelax_duplicate"] += 1
        self._op_outcome(task.operator, False)
        self.rejected.append(Evaluation(task, None, "duplicate",
                                        f"duplicate of {twin} before relaxation",
                                        duplicate_of=twin))
        return None

    def _accept(self, task: Task, fp: Any) -> None:
        self.pending[task.candidate_id] = (task, fp)
        if self._indexed:
            self._pending_index[task.pressure].add(task.candidate_id, fp)
        self.started[task.pressure] += 1

    def pop_rejected(self) -> list[Evaluation]:
        """Pre-relaxation duplicates since the last call (for the store)."""
        out, self.rejected = self.rejected, []
        return out

    def tournament(self, rng: np.random.Generator, pop: list[Individual],
                   n: int) -> list[Individual]:
        """``n`` distinct parents (when possible), each the fittest of a random draw of
        ``tournament_size`` (``pop`` in population order: fittest first)."""
        k = self.config.search.tournament_size
        taken: list[int] = []
        for _ in range(n):
            avail = len(pop) - len(taken) if len(taken) < len(pop) else len(pop)
            m = min(k, avail)
            # a random m-subset of 0..avail-1 (the m smallest of avail random keys); its
            # smallest member is the winner, as the pool is sorted by fitness
            w = int(np.argpartition(rng.random(avail), m - 1)[:m].min())
            if avail < len(pop):  # skip the parents already taken
                for t in sorted(taken):
                    w += w >= t
            taken.append(w)
        return [pop[i] for i in taken]

    def _effective_weight(self, name: str) -> float:
        st = self.operators[name]
        if not self.config.search.adaptive_operators or len(st.recent) < 5:
            return st.weight
        return st.weight * (0.25 + float(np.mean(st.recent)))

    def _op_outcome(self, name: str, success: bool) -> None:
        if name in self.operators:
            self.operators[name].recent.append(1.0 if success else 0.0)

    # ------------------------------------------------------------- duplicates
    def _prerelax_twin(self, fp: Any, pressure: float) -> int | None:
        """A pending candidate or population member (its initial or relaxed structure)
        within the pre-relaxation threshold of ``fp``, pending ones first."""
        thr = self.config.duplicates.fingerprint_distance
        if self._indexed:
            cid, d = self._pending_index[pressure].nearest(fp)
            if d <= thr:
                return cid
            key, d = self._population_index(pressure).nearest(fp)
            return key[0] if d <= thr else None
        for cid, (task, other) in self.pending.items():
            if task.pressure == pressure and self._close(fp, other, thr):
                return cid
        for ind in self.population(pressure):
            if self._close(fp, ind.fp_initial, thr) or self._close(fp, self._shape(ind), thr):
                return ind.candidate_id
        return None

    def _population_index(self, pressure: float) -> FingerprintIndex:
        pop = self.population(pressure)
        index = self._pop_index[pressure]
        if index is None:
            index = FingerprintIndex()
            for ind in pop:
                index.add((ind.candidate_id, 0), ind.fp_initial)
                index.add((ind.candidate_id, 1), self._shape(ind))
            self._pop_index[pressure] = index
        return index

    def _shape(self, ind: Individual) -> Any:
        """The scale-free fingerprint of a relaxed individual (computed once, when it is
        first compared with a new candidate)."""
        if ind.fp_shape is None:
            ind.fp_shape = self._fp_pre(ind.genome)
        return ind.fp_shape

    def _close(self, a: Any, b: Any, thr: float) -> bool:
        try:
            return float(self._dist(a, b)) <= thr
        except (ValueError, KeyError, IndexError):  # different compositions
            return False

    def _relaxed_twin(self, fp: Any, h: float, comp: str, pressure: float,
                      converged: bool = True) -> int | None:
        """An individual the relaxed structure duplicates. A converged structure is
        compared with converged ones only: one that reaches the minimum an unconverged
        twin stopped short of is a new structure (a possible hit), not a duplicate."""
        d = self.config.duplicates
        for ind in self._by_comp.get((pressure, comp), ()):
            if converged and not ind.converged:
                continue
            if (abs(ind.enthalpy_per_atom - h) <= d.energy_window
                    and self._close(fp, ind.fp, d.relaxed_distance)):
                return ind.candidate_id
        return None

    @property
    def min_parents(self) -> int:
        """Individuals a pressure needs before breeding starts: half the population."""
        return max(2, math.ceil(self.config.search.population_size / 2))

    # ------------------------------------------------------------------- tell
    def tell(self, result: Result) -> Evaluation:
        """Record a worker's result; decides duplicate / relaxed / failed / broken."""
        if result.candidate_id not in self.pending:
            raise CspError(f"tell: candidate {result.candidate_id} is not pending")
        task, fp0 = self.pending.pop(result.candidate_id)
        if self._indexed:
            self._pending_index[task.pressure].remove(task.candidate_id)
        status, reason, twin = result.status, result.reason, -1
        keep_broken = self.config.search.broken_units == "keep"
        if status == "unconverged" and self.config.search.unconverged != "breed":
            status = "failed"
        converged = status != "unconverged"
        ind = genome = None
        if status in ("relaxed", "unconverged") or (status == "broken_units" and keep_broken):
            if result.genome is None or not math.isfinite(result.enthalpy_per_atom):
                status, reason = "failed", "bad_output: no enthalpy or structure"
            else:
                genome = Genome.from_dict(result.genome)
                comp = composition_key(genome)
                # the worker fingerprints the relaxed structure when the engine uses the
                # default fingerprint (saves the engine that work)
                fp = (result.fingerprint if result.fingerprint is not None
                      and self._indexed else self._fp(genome))
                found = self._relaxed_twin(fp, result.enthalpy_per_atom, comp, task.pressure,
                                           converged)
                if found is not None:
                    status, reason, twin = "duplicate", f"duplicate of {found} after relaxation", found
                else:
                    ind = Individual(task.candidate_id, task.pressure, genome,
                                     result.enthalpy_per_atom, comp, fp, fp0, task.origin,
                                     task.operator, intact=status != "broken_units",
                                     breed=self.allowed(genome), converged=converged)
        ev = self._record(task, result, status, reason, twin, ind)
        ev.relaxed = genome
        return ev

    def _record(self, task: Task, result: Result | None, status: str, reason: str, twin: int,
                ind: Individual | None) -> Evaluation:
        ev = Evaluation(task, result, status, reason, self.n_evaluated, twin)
        self.n_evaluated += 1
        self.n_cross += task.origin == "cross"
        self.counts[status] = self.counts.get(status, 0) + 1
        improved = in_pop = False
        if ind is not None:
            p = task.pressure
            self.individuals[p].append(ind)
            self._by_comp.setdefault((p, ind.comp), []).append(ind)
            best = self.best[p]
            if self.config.composition.variable:
                self._hull_dirty[p] = True
                self._update_fitness(p)
                # a new hull vertex is progress; "best" is the lowest-enthalpy hull phase
                # (an unconverged structure shapes the hull parents are ranked on, but is
                # no phase: it is never best nor progress)
                improved = ind.converged and ind.fitness <= 1e-6
                on_hull = [q for q in self.individuals[p] if q.fitness <= 1e-6 and q.converged]
                if on_hull:
                    self.best[p] = min(on_hull, key=lambda q: (q.enthalpy_per_atom,
                                                               q.candidate_id))
                in_pop = any(q is ind for q in self.population(p))
            else:
                ind.fitness = ind.enthalpy_per_atom
                if ind.converged and (best is None or ind.fitness < best.fitness - 1e-6):
                    improved = True
                    self.best[p] = ind
                in_pop = self._insert(ind)
        self.since_improvement = 0 if improved else self.since_improvement + 1
        ev.improved = improved
        self._op_outcome(task.operator, in_pop)
        return ev

    def _insert(self, ind: Individual) -> bool:
        """Fixed composition: put a new individual into the (cached, sorted) population
        of its pressure if it is fit enough; True when it got in."""
        p = ind.pressure
        pop = self._population[p]
        if pop is None:
            return any(q is ind for q in self.population(p))
        if not ind.breed:
            return False
        size = self.config.search.population_size
        key = (ind.fitness, ind.candidate_id)
        if len(pop) >= size and key >= (pop[-1].fitness, pop[-1].candidate_id):
            return False
        bisect.insort(pop, ind, key=lambda q: (q.fitness, q.candidate_id))
        index = self._pop_index[p]
        if index is not None:
            index.add((ind.candidate_id, 0), ind.fp_initial)
            index.add((ind.candidate_id, 1), self._shape(ind))
        while len(pop) > size:
            out = pop.pop()
            if index is not None:
                index.remove((out.candidate_id, 0))
                index.remove((out.candidate_id, 1))
        return True

    # -------------------------------------------------------- resume (replay)
    def restore(self, task: Task, result: Result | None, status: str, reason: str = "",
                pending: bool = False) -> None:
        """Rebuild state from a stored candidate (call in ``eval_index`` order).

        Args:
            task: the candidate as it was asked.
            result: its result (None for pending rows and pre-relaxation duplicates).
            status: the stored final status.
            pending: the candidate was in flight: it becomes pending again (re-submit it).
        """
        self.next_id = max(self.next_id, task.candidate_id + 1)
        if task.origin == "cross" and task.parents:
            self._crossed.add((task.parents[0], task.pressure))
        if task.origin == "seed":
            self._seeds_used[task.pressure] = min(len(self._seeds),
                                                 self._seeds_used[task.pressure] + 1)
        if pending:
            self._accept(task, self._fp_pre(task.genome))
            return
        if result is None:
            self.counts["prerelax_duplicate"] += 1
            self._op_outcome(task.operator, False)
            return
        self.started[task.pressure] += 1
        ind = None
        policy = self.config.search
        if result.genome is not None and (
                status == "relaxed"
                # a run resumed under another policy follows the policy it runs with now
                or (status == "unconverged" and policy.unconverged == "breed")
                or (status == "broken_units" and policy.broken_units == "keep")):
            genome = Genome.from_dict(result.genome)
            ind = Individual(task.candidate_id, task.pressure, genome, result.enthalpy_per_atom,
                             composition_key(genome), self._fp(genome), self._fp_pre(task.genome),
                             task.origin, task.operator, intact=status != "broken_units",
                             breed=self.allowed(genome), converged=status != "unconverged")
        self._record(task, result, status, reason, -1, ind)

    # --------------------------------------------------------------- fitness
    def population(self, pressure: float) -> list[Individual]:
        """The current population at a pressure: the fittest unique individuals that
        may be parents (cached; do not modify)."""
        self._update_fitness(pressure)
        pop = self._population[pressure]
        if pop is None:
            inds = [p for p in self.individuals[pressure] if p.breed]
            size, cap = self.config.search.population_size, self.config.search.max_per_composition
            if self.config.composition.variable and cap:
                pop = []
                taken: dict[str, int] = {}
                for ind in sorted(inds, key=lambda p: (p.fitness, p.candidate_id)):
                    key = ind.genome.reduced_formula  # Ca8 and Ca9 are both "Ca"
                    if taken.get(key, 0) < cap:
                        taken[key] = taken.get(key, 0) + 1
                        pop.append(ind)
                        if len(pop) == size:
                            break
            else:
                pop = heapq.nsmallest(size, inds, key=lambda p: (p.fitness, p.candidate_id))
            self._population[pressure] = pop
            self._pop_index[pressure] = None
        return pop

    def _update_fitness(self, pressure: float) -> None:
        if not self._hull_dirty[pressure]:
            return
        inds = self.individuals[pressure]
        if not self.config.composition.variable:
            for p in inds:
                p.fitness = p.enthalpy_per_atom
        else:
            for p, d in zip(inds, hull_distances(inds, self.elements)):
                p.fitness = d
        self._hull_dirty[pressure] = False
        self._population[pressure] = None

    def summary(self) -> dict:
        """Counters and the best structure per pressure (for progress lines)."""
        best = {}
        for p, b in self.best.items():
            if b is not None:
                best[p] = {"candidate_id": b.candidate_id, "formula": b.genome.formula,
                           "enthalpy_per_atom": b.enthalpy_per_atom, "fitness": b.fitness}
        return {"evaluated": self.n_evaluated - self.n_cross, "cross": self.n_cross,
                "pending": len(self.pending),
                "budget": self.config.search.max_evaluations, "counts": dict(self.counts),
                "best": best}


def hull_distances(inds: Sequence[Individual], elements: tuple[str, ...]) -> list[float]:
    """Distance of each individual above the lower convex hull of all of them, eV/atom.

    The hull energy at composition x (element fractions) is the lower convex envelope
    of the known (x, H) points: exact 1D lower hull for two elements, the lower facets
    of a Qhull convex hull for more, and the linear programme ``min sum_i l_i H_i``
    with ``sum_i l_i x_i = x``, ``l >= 0`` where the points are degenerate (all
    compositions on a line of a ternary space, too few of them). End members are not
    needed: the hull spans the compositions found so far.
    """
    if not inds:
        return []
    xs = np.array([_reduced_fractions(p.genome, elements) for p in inds])
    hs = np.array([p.enthalpy_per_atom for p in inds])
    keys = [tuple(np.round(x, 8)) for x in xs]
    lowest: dict[tuple, float] = {}
    for k, h in zip(keys, hs):
        lowest[k] = min(h, lowest.get(k, math.inf))
    comps = list(lowest)
    x = np.array(comps, float)
    low = np.array([lowest[k] for k in comps])
    env = _lower_envelope(x, low)
    ref = {k: min(float(e), lowest[k]) for k, e in zip(comps, env)}
    return [float(h - ref[k]) for h, k in zip(hs, keys)]


def _lower_envelope(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Lower convex envelope of points (x_i, h_i) at each x_i; x: (n, k) fractions."""
    x = x[:, x.max(axis=0) > 0]  # elements nobody has
    n, k = x.shape
    if n == 1 or k == 1:
        return h.copy()
    if k == 2:  # binary: monotone chain on the first fraction
        order = np.lexsort((h, x[:, 0]))
        hull: list[int] = []
        for i in order:
            while len(hull) >= 2:
                a, b = hull[-2], hull[-1]
                cross = ((x[b, 0] - x[a, 0]) * (h[i] - h[a])
                         - (h[b] - h[a]) * (x[i, 0] - x[a, 0]))
                if cross <= 0:
                    hull.pop()
                else:
                    break
            if hull and x[hull[-1], 0] == x[i, 0]:
                continue  # same composition, higher: not a vertex
            hull.append(i)
        return np.interp(x[:, 0], x[hull, 0], h[hull])
    from scipy.spatial import ConvexHull, QhullError

    pts = np.column_stack([x[:, :-1], h])
    try:
        eq = ConvexHull(pts).equations
    except (QhullError, ValueError):  # flat or too few points: exact LP instead
        return _envelope_lp(x, h)
    # lower facets: outward normal pointing down in H; the vertical facets over the
    # boundary of the composition simplex have n_H ~ 1e-11 (round-off), not a slope
    lower = eq[eq[:, k - 1] < -1e-7]
    planes = -(pts[:, :-1] @ lower[:, :k - 1].T + lower[:, k]) / lower[:, k - 1]
    return planes.max(axis=1)


def _envelope_lp(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    from scipy.optimize import linprog

    a_eq = np.vstack([x.T, np.ones(len(x))])
    out = h.copy()
    for i in range(len(x)):
        res = linprog(h, A_eq=a_eq, b_eq=np.append(x[i], 1.0), bounds=(0, None),
                      method="highs")
        if res.status == 0:
            out[i] = min(res.fun, h[i])
    return out


# ------------------------------------------------------------------- defaults
def _default_fingerprint() -> tuple[Callable, Callable]:
    from csp.fingerprint import fingerprint_genome, genome_distance

    return fingerprint_genome, genome_distance


def _default_shape_fingerprint() -> Callable:
    from csp.fingerprint import fingerprint_shape

    return fingerprint_shape


def _build_operators(config: Config) -> dict[str, tuple[Operator, float, int]]:
    from csp.build import build_operators

    return build_operators(config)
