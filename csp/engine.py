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
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from csp.composition import Composition
from csp.config import Config
from csp.errors import CspError
from csp.evaluate import Result, Task
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
#: tries of an operator (same candidate stream) before falling back to random generation
OPERATOR_TRIES = 8
#: consecutive pre-relaxation duplicates before one is accepted anyway
MAX_REJECTIONS = 50
#: random space groups tried per random structure, and placements per group
GROUP_TRIES = 6
GROUP_ATTEMPTS = 8


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
        fp / fp_initial: fingerprints of the relaxed and the unrelaxed structure.
        fitness: lower is better (H/atom, or distance to the hull in eV/atom).
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


@dataclass
class Evaluation:
    """A decided candidate: what the store writes.

    Attributes:
        task: the candidate as asked.
        result: the worker's result (None for a duplicate rejected before relaxation).
        status: "relaxed" | "failed" | "duplicate" | "broken_units".
        reason: why (failure, duplicate of which id).
        eval_index: order of completion (-1 for pre-relaxation duplicates).
        duplicate_of: candidate id of the twin, -1 otherwise.
        improved: this candidate is a new best at its pressure.
    """

    task: Task
    result: Result | None
    status: str
    reason: str = ""
    eval_index: int = -1
    duplicate_of: int = -1
    improved: bool = False


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
        self.limits = config.limits.to_limits()
        self.compositions = config.composition.cell_compositions()
        self._generate = generate or _default_generate()
        self._groups = groups or _default_groups()
        self._fp, self._dist = fingerprint or _default_fingerprint()
        self._fp_default = fingerprint is None  # workers send default fingerprints
        ops = operators if operators is not None else _build_operators(config)
        self.operators = {n: _OperatorStats(w, k, op) for n, (op, w, k) in ops.items() if w > 0}
        seed_genomes = list(seeds) if seeds is not None else resolve_seeds(config.seeds)
        self._seeds = [self._fit_seed(g) for g in seed_genomes]
        self._seeds_used = {p: 0 for p in self.pressures}
        self.elements = tuple(sorted({e for c in self.compositions for e in c.element_counts()}))
        self.next_id = 0
        self.n_evaluated = 0
        self.n_cross = 0  # cross-pressure re-relaxations among n_evaluated
        self._crossed: set[tuple[int, float]] = set()  # (source candidate, pressure) asked
        self.pending: dict[int, tuple[Task, Any]] = {}
        self.individuals: dict[float, list[Individual]] = {p: [] for p in self.pressures}
        self.started = {p: 0 for p in self.pressures}
        self.counts = {"relaxed": 0, "failed": 0, "duplicate": 0, "broken_units": 0,
                       "prerelax_duplicate": 0}
        self.best: dict[float, Individual | None] = {p: None for p in self.pressures}
        self.since_improvement = 0
        self.rejected: list[Evaluation] = []
        self._hull_dirty = {p: True for p in self.pressures}

    # ----------------------------------------------------------------- budget
    @property
    def budget_left(self) -> int:
        """Relaxations that may still be asked: the budget minus those done and in flight,
        plus the cross-pressure re-relaxations still due (they do not use the budget)."""
        main_pending = sum(1 for t, _ in self.pending.values() if t.origin != "cross")
        main = self.config.search.max_evaluations - (self.n_evaluated - self.n_cross) - main_pending
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
                phases = [i for i in self.individuals[p] if i.fitness <= 1e-6]
            else:
                phases = [self.best[p]] if self.best[p] is not None else []
            for ind in phases:
                if ind.origin == "cross":
                    continue
                due += [(ind, q) for q in self.pressures
                        if q != p and (ind.candidate_id, q) not in self._crossed]
        return due

    def allowed(self, genome: Genome) -> bool:
        """Is this genome's composition inside the search's composition space?"""
        space = self.config.composition
        units, atoms = genome.unit_counts(), genome.atom_counts()
        if not space.variable:
            return any(c.units == units and c.atoms == atoms for c in self.compositions)
        names = {b.strip("()") for b in space.blocks if b.startswith("(")}
        els = {b for b in space.blocks if not b.startswith("(")}
        if not set(units) <= names or not set(atoms) <= els:
            return False
        n = len(genome)
        if not space.min_atoms <= n <= space.max_atoms:
            return False
        if space.charge_neutral:
            return Composition(units=units, atoms=atoms).charge() == 0
        return True

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
        """Next candidate to relax (pre-relaxation duplicates are kept in ``rejected``).

        Raises:
            CspError: when no structure of the composition can be generated at all.
        """
        due = self._cross_due()
        if due:
            ind, q = due[0]
            cid = self.next_id
            self.next_id += 1
            task = Task(cid, ind.genome, "cross", "cross", (ind.candidate_id,), q)
            self._crossed.add((ind.candidate_id, q))
            self.pending[cid] = (task, self._fp(task.genome))
            self.started[q] += 1
            return task
        for attempt in range(MAX_REJECTIONS + 1):
            cid = self.next_id
            self.next_id += 1
            rng = np.random.default_rng(np.random.SeedSequence([self.seed, cid]))
            pressure = self.pressures[cid % len(self.pressures)]
            task = self._make(cid, rng, pressure)
            fp = self._fp(task.genome)
            twin = self._prerelax_twin(fp, pressure) if task.origin != "seed" else None
            if twin is None or attempt == MAX_REJECTIONS:
                self.pending[cid] = (task, fp)
                self.started[pressure] += 1
                return task
            self.counts["prerelax_duplicate"] += 1
            self._op_outcome(task.operator, False)
            self.rejected.append(Evaluation(task, None, "duplicate",
                                            f"duplicate of {twin} before relaxation",
                                            duplicate_of=twin))
        raise AssertionError("unreachable")  # pragma: no cover

    def pop_rejected(self) -> list[Evaluation]:
        """Pre-relaxation duplicates since the last call (for the store)."""
        out, self.rejected = self.rejected, []
        return out

    def _make(self, cid: int, rng: np.random.Generator, pressure: float) -> Task:
        used = self._seeds_used[pressure]
        if used < len(self._seeds):
            self._seeds_used[pressure] += 1
            return Task(cid, self._seeds[used], "seed", pressure=pressure)
        pop = self.population(pressure)
        # breed only from a population worth the name: where most relaxations break the
        # units (B12 at 50 GPa), a few intact structures would otherwise be mutated over
        # and over; until half the population is there, new random structures come
        breed = (self.started[pressure] >= self.config.search.n_initial
                 and len(pop) >= self.min_parents and self.operators
                 and rng.random() >= self.config.search.random_fraction)
        if breed:
            task = self._breed(cid, rng, pressure, pop)
            if task is not None:
                return task
        genome, sg = self.random_genome(rng, pressure)
        return Task(cid, genome, "symmetric" if sg else "random", pressure=pressure,
                    spacegroup_target=sg)

    def random_genome(self, rng: np.random.Generator, pressure: float) -> tuple[Genome, int]:
        """A random structure of an allowed composition: (genome, space group or 0).

        Up to ``GROUP_TRIES`` space groups drawn uniformly from those in the configured
        range that can hold the composition (``GROUP_ATTEMPTS`` placements each), then
        general positions; in variable composition up to five compositions are tried.

        Raises:
            CspError: nothing could be generated.
        """
        lo, hi = self.config.search.spacegroups or (1, 230)
        errors: list[str] = []
        for _ in range(5 if self.config.composition.variable else 1):
            comp = self.compositions[int(rng.integers(len(self.compositions)))]
            groups = self._groups(comp, lo, hi) if self.config.search.spacegroups else ()
            for _ in range(GROUP_TRIES if groups else 0):
                sg = int(groups[int(rng.integers(len(groups)))])
                try:
                    return self._generate(comp, pressure, rng, spacegroup=sg, limits=self.limits,
                                          max_attempts=GROUP_ATTEMPTS), sg
                except CspError as exc:
                    errors.append(f"{comp}: {exc}")
            try:
                return self._generate(comp, pressure, rng, spacegroup=None, limits=self.limits), 0
            except CspError as exc:
                errors.append(f"{comp}: {exc}")
        raise CspError(f"cannot generate a structure (last error: {errors[-1]})")

    def _breed(self, cid: int, rng: np.random.Generator, pressure: float,
               pop: list[Individual]) -> Task | None:
        from csp.operators.validity import check_genome

        names = list(self.operators)
        w = np.array([self._effective_weight(n) for n in names])
        for _ in range(OPERATOR_TRIES):
            name = names[int(rng.choice(len(names), p=w / w.sum()))]
            st = self.operators[name]
            parents = self.tournament(rng, pop, st.n_parents)
            try:
                child = st.op([p.genome for p in parents], rng)
            except Exception as exc:  # noqa: BLE001 - a failing operator must not end a run
                log.warning("operator %s raised %s: %s", name, type(exc).__name__, exc)
                child = None
            # operators test validity with the run's limits (given at construction); a
            # stand-in operator passed by a caller may not: check what is cheap to check
            if child is None or not self.allowed(child) or (
                    not getattr(st.op, "limits", None) == self.limits
                    and not check_genome(child, self.limits)[0]):
                # not counted in the adaptive weights: invalid children are not stored, so
                # a resumed run could not replay them
                continue
            return Task(cid, child, name, name, tuple(p.candidate_id for p in parents), pressure)
        return None

    def tournament(self, rng: np.random.Generator, pop: list[Individual],
                   n: int) -> list[Individual]:
        """``n`` distinct parents (when possible), each the fittest of a random draw."""
        k = min(self.config.search.tournament_size, len(pop))
        chosen: list[Individual] = []
        for _ in range(n):
            pool = [p for p in pop if p not in chosen] or pop
            idx = rng.choice(len(pool), size=min(k, len(pool)), replace=False)
            chosen.append(min((pool[i] for i in idx), key=lambda p: p.fitness))
        return chosen

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
        thr = self.config.duplicates.fingerprint_distance
        for cid, (task, other) in self.pending.items():
            if task.pressure == pressure and self._close(fp, other, thr):
                return cid
        for ind in self.population(pressure):
            if self._close(fp, ind.fp_initial, thr) or self._close(fp, ind.fp, thr):
                return ind.candidate_id
        return None

    def _close(self, a: Any, b: Any, thr: float) -> bool:
        try:
            return float(self._dist(a, b)) <= thr
        except (ValueError, KeyError, IndexError):  # different compositions
            return False

    def _relaxed_twin(self, fp: Any, h: float, comp: str, pressure: float) -> int | None:
        d = self.config.duplicates
        for ind in self.individuals[pressure]:
            if (ind.comp == comp and abs(ind.enthalpy_per_atom - h) <= d.energy_window
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
        status, reason, twin = result.status, result.reason, -1
        keep_broken = self.config.search.broken_units == "keep"
        ind = None
        if status == "relaxed" or (status == "broken_units" and keep_broken):
            if result.genome is None or not math.isfinite(result.enthalpy_per_atom):
                status, reason = "failed", "bad_output: no enthalpy or structure"
            else:
                genome = Genome.from_dict(result.genome)
                comp = composition_key(genome)
                # the worker fingerprints the relaxed structure when the engine uses the
                # default fingerprint (saves the engine that work)
                fp = (result.fingerprint if result.fingerprint is not None
                      and self._fp_default else self._fp(genome))
                found = self._relaxed_twin(fp, result.enthalpy_per_atom, comp, task.pressure)
                if found is not None:
                    status, reason, twin = "duplicate", f"duplicate of {found} after relaxation", found
                else:
                    ind = Individual(task.candidate_id, task.pressure, genome,
                                     result.enthalpy_per_atom, comp, fp, fp0, task.origin,
                                     task.operator, intact=status == "relaxed",
                                     breed=self.allowed(genome))
        return self._record(task, result, status, reason, twin, ind)

    def _record(self, task: Task, result: Result | None, status: str, reason: str, twin: int,
                ind: Individual | None) -> Evaluation:
        ev = Evaluation(task, result, status, reason, self.n_evaluated, twin)
        self.n_evaluated += 1
        self.n_cross += task.origin == "cross"
        self.counts[status] = self.counts.get(status, 0) + 1
        improved = False
        if ind is not None:
            p = task.pressure
            self.individuals[p].append(ind)
            self._hull_dirty[p] = True
            self._update_fitness(p)
            best = self.best[p]
            if self.config.composition.variable:
                # a new hull vertex is progress; "best" is the lowest-enthalpy hull phase
                improved = ind.fitness <= 1e-6
                on_hull = [q for q in self.individuals[p] if q.fitness <= 1e-6]
                self.best[p] = min(on_hull, key=lambda q: (q.enthalpy_per_atom, q.candidate_id))
            elif best is None or ind.fitness < best.fitness - 1e-6:
                improved = True
                self.best[p] = ind
        self.since_improvement = 0 if improved else self.since_improvement + 1
        ev.improved = improved
        in_pop = ind is not None and any(p is ind for p in self.population(task.pressure))
        self._op_outcome(task.operator, in_pop)
        return ev

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
            self.pending[task.candidate_id] = (task, self._fp(task.genome))
            self.started[task.pressure] += 1
            return
        if result is None:
            self.counts["prerelax_duplicate"] += 1
            self._op_outcome(task.operator, False)
            return
        self.started[task.pressure] += 1
        ind = None
        if status in ("relaxed", "broken_units") and result.genome is not None and (
                status == "relaxed" or self.config.search.broken_units == "keep"):
            genome = Genome.from_dict(result.genome)
            ind = Individual(task.candidate_id, task.pressure, genome, result.enthalpy_per_atom,
                             composition_key(genome), self._fp(genome), self._fp(task.genome),
                             task.origin, task.operator, intact=status == "relaxed",
                             breed=self.allowed(genome))
        self._record(task, result, status, reason, -1, ind)

    # --------------------------------------------------------------- fitness
    def population(self, pressure: float) -> list[Individual]:
        """The current population at a pressure: the fittest unique individuals that
        may be parents."""
        self._update_fitness(pressure)
        inds = [p for p in self.individuals[pressure] if p.breed]
        return sorted(inds, key=lambda p: (p.fitness, p.candidate_id))[
            :self.config.search.population_size]

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

    The hull energy at composition x (element fractions) is the linear programme
    ``min sum_i l_i H_i`` with ``sum_i l_i x_i = x``, ``l >= 0``. Where x is outside
    the span of the known compositions (no end members yet), the reference is the
    lowest enthalpy at that same composition.
    """
    from scipy.optimize import linprog

    if not inds:
        return []
    xs = np.array([_reduced_fractions(p.genome, elements) for p in inds])
    hs = np.array([p.enthalpy_per_atom for p in inds])
    keys = [tuple(np.round(x, 8)) for x in xs]
    lowest: dict[tuple, float] = {}
    for k, h in zip(keys, hs):
        lowest[k] = min(h, lowest.get(k, math.inf))
    ref: dict[tuple, float] = {}
    a_eq = np.vstack([xs.T, np.ones(len(xs))])
    for k, low in lowest.items():
        res = linprog(hs, A_eq=a_eq, b_eq=np.append(np.array(k), 1.0), bounds=(0, None),
                      method="highs")
        ref[k] = min(res.fun, low) if res.status == 0 else low
    return [float(h - ref[k]) for h, k in zip(hs, keys)]


# ------------------------------------------------------------------- defaults
def _default_generate() -> Callable:
    from csp.operators.generation import generate

    return generate


def _default_groups() -> Callable:
    from csp.operators.generation import possible_groups

    return possible_groups


def _default_fingerprint() -> tuple[Callable, Callable]:
    from csp.fingerprint import fingerprint_genome, genome_distance

    return fingerprint_genome, genome_distance


def _build_operators(config: Config) -> dict[str, tuple[Operator, float, int]]:
    table = operator_table()
    from csp.operators.registry import VARIABLE_COMPOSITION, make_operator

    overrides = {n: (w, dict(p)) for n, w, p in config.operators}
    limits = config.limits.to_limits()
    space = config.composition
    out = {}
    for name, (_factory, weight, n_parents) in table.items():
        if space.variable and name in VARIABLE_COMPOSITION:
            weight = VARIABLE_COMPOSITION[name]  # composition-changing moves are on
        w, params = overrides.get(name, (weight, {}))
        if w > 0:
            params.setdefault("limits", limits)
            if space.variable and name in ("add", "transmute"):
                params.setdefault("blocks", tuple(space.blocks))
                params.setdefault("max_atoms", space.max_atoms)
            if space.variable and name == "remove":
                params.setdefault("min_atoms", space.min_atoms)
            out[name] = (make_operator(name, **params), float(w), int(n_parents))
    return out
