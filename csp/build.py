"""Building candidates: random structures and children of chosen parents.

The engine decides *what* to build (a random structure, or which operators to try on
which parents, drawn from the candidate's own random stream); a :class:`Builder`
makes the structure and fingerprints it. Building costs milliseconds to tens of
milliseconds (random symmetric placement of rigid units in a dense cell), so under
``mpirun`` it runs on the worker ranks next to the relaxations, and rank 0 only
selects, checks duplicates and writes the database (see :func:`csp.parallel.drive`).

Random streams: the engine's decisions for candidate ``c`` come from
``SeedSequence([seed, c])``, the building from ``SeedSequence([seed, c, 1])``, so a
search does not depend on where a candidate was built.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from csp.composition import Composition
from csp.errors import CspError
from csp.genome import Genome

__all__ = ["BuildRequest", "Builder", "Built", "build", "builder_for"]

log = logging.getLogger(__name__)

Operator = Callable[[list[Genome], np.random.Generator], "Genome | None"]
#: random space groups tried per random structure, and placements per group
GROUP_TRIES = 6
GROUP_ATTEMPTS = 8


@dataclass(frozen=True)
class BuildRequest:
    """What the engine asks a builder to make.

    Attributes:
        candidate_id: the candidate's id (and random-stream key).
        pressure: GPa.
        seed: the run's random seed.
        tries: ``(operator name, parent ids)`` in the order to try; the first valid
            child wins; none (or none valid): a random structure.
        parents: the parent genomes by candidate id.
    """

    candidate_id: int
    pressure: float
    seed: int
    tries: tuple[tuple[str, tuple[int, ...]], ...] = ()
    parents: dict[int, Genome] = field(default_factory=dict)

    def rng(self) -> np.random.Generator:
        """The building stream of this candidate."""
        return np.random.default_rng(np.random.SeedSequence([self.seed, self.candidate_id, 1]))


@dataclass
class Built:
    """A built candidate (not yet accepted: the engine checks it for duplicates).

    Attributes:
        candidate_id / pressure: as requested.
        genome: the structure (None when nothing could be built, see ``error``).
        origin: "symmetric", "random" or the operator's name.
        operator: the operator that made it ("" for random structures).
        parents: ids of the parents of the successful try.
        spacegroup_target: space group asked of the generator (0: none).
        fingerprint: the builder's fingerprint of ``genome``.
        error: why nothing could be built ("" on success).
        fatal: no structure of the search's compositions can be generated at all (the
            search cannot go on); False for a crash of this one candidate.
        fresh: a new symmetric structure (a random draw in a space group, or an
            operator's child that is one, ``draws_symmetric`` on the operator): the engine
            relaxes it from a distorted copy, since its symmetry would hold the relaxation
            at saddle points of the group.
    """

    candidate_id: int
    pressure: float
    genome: Genome | None
    origin: str = ""
    operator: str = ""
    parents: tuple[int, ...] = ()
    spacegroup_target: int = 0
    fingerprint: Any = field(default=None, repr=False)
    error: str = ""
    fatal: bool = False
    fresh: bool = False


class Builder:
    """Makes candidates of one search (a configuration's compositions, operators,
    limits and space-group range).

    Args:
        config: the validated configuration.
        generate: ``generate(composition, pressure_gpa, rng, spacegroup=, limits=,
            max_attempts=)``; default ``csp.operators.generation.generate``.
        groups: ``groups(composition, lo, hi)``: the space groups that can hold a
            composition; default ``csp.operators.generation.possible_groups``.
        operators: {name: callable}; default built from the registry and the config.
        fingerprint: ``fp(genome)`` of the pre-relaxation duplicate check; default
            ``csp.fingerprint.fingerprint_shape`` (scale-free).
    """

    def __init__(self, config, *, generate: Callable | None = None,
                 groups: Callable | None = None, operators: dict[str, Operator] | None = None,
                 fingerprint: Callable | None = None) -> None:
        from csp.operators.generation import generate as default_generate
        from csp.operators.generation import possible_groups

        self.config = config
        self.space = config.composition
        self.compositions = self.space.cell_compositions()
        self.limits = config.limits.to_limits()
        self.spacegroups = config.search.spacegroups
        self.generate = generate or default_generate
        self.groups = groups or possible_groups
        if operators is None:
            operators = {n: op for n, (op, _w, _k) in build_operators(config).items()}
        self.operators = operators
        if fingerprint is None:
            from csp.fingerprint import fingerprint_shape

            fingerprint = fingerprint_shape
        self.fingerprint: Callable = fingerprint
        names = {b.strip("()") for b in self.space.blocks if b.startswith("(")}
        self._unit_blocks = names
        self._atom_blocks = {b for b in self.space.blocks if not b.startswith("(")}

    # ------------------------------------------------------------ composition
    def allowed(self, genome: Genome) -> bool:
        """Is this genome's composition inside the search's composition space?"""
        units, atoms = genome.unit_counts(), genome.atom_counts()
        if not self.space.variable:
            return any(c.units == units and c.atoms == atoms for c in self.compositions)
        if not set(units) <= self._unit_blocks or not set(atoms) <= self._atom_blocks:
            return False
        if not self.space.min_atoms <= len(genome) <= self.space.max_atoms:
            return False
        if self.space.charge_neutral:
            return Composition(units=units, atoms=atoms).charge() == 0
        return True

    # --------------------------------------------------------------- building
    def build(self, request: BuildRequest) -> Built:
        """The first valid child of the requested tries, else a random structure.

        Never raises for an operator's failure (logged, next try); a random structure
        that cannot be generated at all comes back as ``Built(genome=None, error=...)``.
        """
        from csp.operators.validity import check_genome

        rng = request.rng()
        for name, ids in request.tries:
            op = self.operators.get(name)
            if op is None:
                continue
            try:
                child = op([request.parents[i] for i in ids], rng)
            except Exception as exc:  # noqa: BLE001 - a failing operator must not end a run
                log.warning("operator %s raised %s: %s", name, type(exc).__name__, exc)
                child = None
            # registry operators test validity with the run's limits themselves; a
            # stand-in operator may not: then check what is cheap to check
            if child is None or not self.allowed(child) or (
                    getattr(op, "limits", None) != self.limits
                    and not check_genome(child, self.limits)[0]):
                continue
            return Built(request.candidate_id, request.pressure, child, name, name, tuple(ids),
                         fingerprint=self.fingerprint(child),
                         fresh=bool(getattr(op, "draws_symmetric", False)))
        try:
            genome, sg = self.random_genome(rng, request.pressure)
        except CspError as exc:
            return Built(request.candidate_id, request.pressure, None, error=str(exc), fatal=True)
        return Built(request.candidate_id, request.pressure, genome,
                     "symmetric" if sg else "random", spacegroup_target=sg,
                     fingerprint=self.fingerprint(genome), fresh=sg > 1)

    def random_genome(self, rng: np.random.Generator, pressure: float) -> tuple[Genome, int]:
        """A random structure of an allowed composition: (genome, space group or 0).

        Up to ``GROUP_TRIES`` space groups drawn uniformly from those in the configured
        range that can hold the composition (``GROUP_ATTEMPTS`` placements each), then
        general positions; in variable composition up to five compositions are tried.

        Raises:
            CspError: nothing could be generated.
        """
        lo, hi = self.spacegroups or (1, 230)
        errors: list[str] = []
        for _ in range(5 if self.space.variable else 1):
            comp = self.compositions[int(rng.integers(len(self.compositions)))]
            groups = self.groups(comp, lo, hi) if self.spacegroups else ()
            for _ in range(GROUP_TRIES if groups else 0):
                sg = int(groups[int(rng.integers(len(groups)))])
                try:
                    return self.generate(comp, pressure, rng, spacegroup=sg, limits=self.limits,
                                         max_attempts=GROUP_ATTEMPTS), sg
                except CspError as exc:
                    errors.append(f"{comp}: {exc}")
            try:
                return self.generate(comp, pressure, rng, spacegroup=None, limits=self.limits), 0
            except CspError as exc:
                errors.append(f"{comp}: {exc}")
        raise CspError(f"cannot generate a structure (last error: {errors[-1]})")


def build_operators(config) -> dict[str, tuple[Operator, float, int]]:
    """The configured operators {name: (callable, weight, n_parents)} (weight > 0 only)."""
    from csp.operators.registry import OPERATORS, VARIABLE_COMPOSITION, make_operator

    overrides = {n: (w, dict(p)) for n, w, p in config.operators}
    limits = config.limits.to_limits()
    space = config.composition
    out = {}
    for name, (_factory, weight, n_parents) in OPERATORS.items():
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
            if name == "redraw":
                params.setdefault("spacegroups", config.search.spacegroups)
            out[name] = (make_operator(name, **params), float(w), int(n_parents))
    return out


_BUILDERS: dict[str, Builder] = {}


def builder_for(config) -> Builder:
    """The default builder of a configuration, made once per process."""
    key = config.to_json()
    if key not in _BUILDERS:
        _BUILDERS.clear()  # one search per process at a time
        _BUILDERS[key] = Builder(config)
    return _BUILDERS[key]


def build(request: BuildRequest, config) -> Built:
    """Build one requested candidate with the configuration's default builder (the
    worker-side entry point: picklable as ``functools.partial(build, config=cfg)``).

    Never raises: an unexpected error comes back as ``Built(genome=None, error=...)``.
    """
    try:
        return builder_for(config).build(request)
    except Exception as exc:  # noqa: BLE001 - a worker must report, never die
        log.warning("building candidate %d crashed: %s: %s", request.candidate_id,
                    type(exc).__name__, exc)
        return Built(request.candidate_id, request.pressure, None,
                     error=f"crashed: {type(exc).__name__}: {exc}")
