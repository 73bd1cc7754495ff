"""The ``ase-ga`` baseline: ase-ga's bulk genetic algorithm with molecular identity
preserved by tags, set up as its molecular-crystal tutorial recommends
(https://ase-lib.org/tutorials/ga/ga_molecular_crystal.html), with csp's relaxer.

Building blocks: each unit of the composition is one block (an ``Atoms`` of its csp
template), each free atom another; ``StartGenerator`` gives every block its own tag and
the operators keep same-tag atoms rigid. Settings (tutorial values unless noted):

* cell: all three vectors variable; ``CellBounds`` angles 30-150 deg, lengths 3-50 Å;
  start volume = csp's own volume estimate at the pressure x 1.1 (the tutorial guesses
  it by hand); cell splitting ``{(2,): 1, (1,): 1}`` when the cell holds an even number
  of formula units (the tutorial's 8 N2), none otherwise;
* minimum distances ``closest_distances_generator``: 0.7 x covalent radii for random
  structures and for the operators (csp's own ``dmin_factor``), 0.8 x that for the soft
  mutation (tutorial ratio). The tutorial's 1.3 / 1.0 are for van-der-Waals N2 at
  15 Å^3/atom; superatoms bond covalently at ~1.0x (inter-octahedral B-B in CaB6 is
  0.99x) and shorter under pressure: at csp's volume estimate, 1.0 placed no CaB6 or
  SrB12 cell in 5 x 2000 tries;
* operators (``OperationSelector`` weights 5:1:1:1:1:1, tutorial): ``CutAndSplicePairing``
  (p1=1, p2=0, minfrac=0.15, use_tags), ``RattleMutation`` (prop 0.3, strength 0.5,
  use_tags), ``StrainMutation`` (stddev 0.7, use_tags), ``RotationalMutation`` (fraction
  0.3, min angle 90 deg), ``RattleRotationalMutation``, ``SoftMutation`` (bounds 2-5 Å,
  use_tags; left out when the cell holds a single block: it raises IndexError there);
  plus ``PermutationMutation`` (use_tags, weight 1) when there are blocks of different
  kinds (the bulk tutorial's permutation for several elements); an operator that
  raises or gives up 20 times in a row is replaced by a random structure
  (``random: fallback``, counted in the run file);
* duplicates: ``OFPComparator`` (dE 1 eV, cos_dist_max 5e-3, rcut 10 Å, bin 0.05 Å,
  sigma 0.05 Å, nsigma 4), in a ``Population`` of ``GA_SETTINGS['population_size']``
  (the tutorial's 10) after ``GA_SETTINGS['initial_population']`` random relaxed
  structures; steady state (one offspring, one relaxation); operator scaling volumes
  updated after the start population and every 10 offspring (tutorial);
* score: ``raw_score = -H/atom`` (enthalpy per atom at the system's pressure); the
  relaxed cell and positions replace the candidate's, and a SinglePointCalculator
  holds its total enthalpy (what the comparator's dE tests). A failed relaxation is
  stored and killed (``extinct=1``, ``use_extinct=True``) so it never becomes a parent.
  Relaxed structures with broken units stay in the population (ase-ga itself does not
  check units); ``ase-ga-reject`` kills them too.

One fix to ase-ga itself, without which no unit survives an operator in these
cells: ``gather_atoms_by_tag`` (used by every tag-aware operator) rebuilds a molecule
from minimum-image displacements to its first atom, which tears apart a unit wider
than half the cell (B12 is 3.4 Å across, the SrB12 cell 4.3 Å). ``ase-ga`` and
``ase-ga-reject`` replace it (while the run lasts) by :func:`gather_by_spanning_tree`;
Even whole, a rotated or strained unit can overlap its own periodic image in such a
small cell, which ase-ga's distance check cannot see once the unit is gathered (its
atoms then look like one molecule): ``ase-ga`` and ``ase-ga-reject`` therefore also
screen every child before relaxation with csp's unit recognition (a child without all
its units is discarded and the operator asked again, as for a blmin violation; no
relaxation is spent). ``ase-ga-vanilla`` has neither the fix nor the screen.

ase-ga works at a fixed number of atoms: the cell holds the system's largest number
of formula units (a smaller-cell ground state is found as a supercell). Its operators
call ``rng.randint`` (the legacy ``RandomState`` API): the seeded
``np.random.default_rng(seed)`` is wrapped to provide it (:class:`LegacyRng`).
A run that was interrupted restarts from scratch (its database is removed).
"""

from __future__ import annotations

import contextlib
import math
import shutil
import time
from pathlib import Path

import numpy as np
from common import relax_and_record, stop_now
from systems import GA_SETTINGS, System

__all__ = ["METHODS", "LegacyRng", "run_asega"]

METHODS = ("ase-ga", "ase-ga-reject", "ase-ga-vanilla")
RATIO_START, RATIO_OPERATORS, RATIO_SOFT = 0.7, 0.7, 0.8 * 0.7
FAILED_SCORE = -1.0e6
MAX_OFFSPRING_TRIES = 20


class LegacyRng:
    """A ``numpy.random.Generator`` with ``randint`` (ase-ga calls the RandomState API)."""

    def __init__(self, gen: np.random.Generator) -> None:
        self._gen = gen

    def randint(self, low, high=None, size=None):
        return self._gen.integers(low, high, size=size)

    def __getattr__(self, name):
        return getattr(self._gen, name)


def blocks_of(system: System, n_fu: int) -> list:
    """ase-ga building blocks: (Atoms of a unit template, count) and (symbol, count)."""
    from ase import Atoms

    from csp.units import get_unit

    comp = system.composition_obj(n_fu)
    blocks = []
    for name, count in comp.units.items():
        u = get_unit(name)
        blocks.append((Atoms(numbers=u.numbers, positions=u.positions), count))
    for el, count in comp.atoms.items():
        blocks.append((el, count))
    return blocks


def settings(system: System, method: str) -> dict:
    """What the run file records about the ase-ga configuration."""
    n_fu = system.max_formula_units
    return {**GA_SETTINGS, "formula_units": n_fu, "blmin_ratio_start": RATIO_START,
            "blmin_ratio_operators": RATIO_OPERATORS, "blmin_ratio_soft": RATIO_SOFT,
            "splits": "{(2,): 1, (1,): 1}" if n_fu % 2 == 0 else "none",
            "cellbounds": "angles 30-150, lengths 3-50", "volume": "csp estimate x 1.1",
            "operators": "pairing 5, rattle 1, strain 1, rotational 1, rattle+rotational 1, "
                         "soft 1 (if several blocks), permutation 1 (if several block kinds)",
            "gather_atoms_by_tag": "ase-ga's (minimum image)" if method == "ase-ga-vanilla"
            else "replaced by gather_by_spanning_tree (whole units in small cells)",
            "comparator": "OFPComparator(dE=1.0, cos_dist_max=5e-3, rcut=10, binwidth=0.05, "
                          "sigma=0.05, nsigma=4)",
            "broken_units": "killed" if method == "ase-ga-reject" else "kept (ase-ga default)",
            "prerelax_unit_screen": method != "ase-ga-vanilla"}


def _setup(system: System, rng: LegacyRng, workdir: Path) -> dict:
    """StartGenerator, operators and comparator of a run (see the module docstring)."""
    from ase import Atoms
    from ase_ga.cutandsplicepairing import CutAndSplicePairing
    from ase_ga.offspring_creator import OperationSelector
    from ase_ga.ofp_comparator import OFPComparator
    from ase_ga.soft_mutation import SoftMutation
    from ase_ga.standardmutations import (
        PermutationMutation,
        RattleMutation,
        RattleRotationalMutation,
        RotationalMutation,
        StrainMutation,
    )
    from ase_ga.startgenerator import StartGenerator
    from ase_ga.utilities import CellBounds, closest_distances_generator
    from csp.operators.generation import target_volume

    n_fu = system.max_formula_units
    blocks = blocks_of(system, n_fu)
    numbers = sorted(set(system.composition_obj(1).element_counts()))
    from ase.data import atomic_numbers

    z = [atomic_numbers[e] for e in numbers]
    slab = Atoms("", pbc=True)
    bounds = CellBounds(bounds={"phi": [30, 150], "chi": [30, 150], "psi": [30, 150],
                                "a": [3, 50], "b": [3, 50], "c": [3, 50]})
    blmin = closest_distances_generator(z, RATIO_OPERATORS)
    volume = 1.1 * target_volume(system.composition_obj(n_fu), system.pressure)
    start = StartGenerator(slab, blocks, closest_distances_generator(z, RATIO_START),
                           number_of_variable_cell_vectors=3, box_volume=volume,
                           splits={(2,): 1, (1,): 1} if n_fu % 2 == 0 else None,
                           cellbounds=bounds, test_too_far=False, rng=rng)
    n_top = system.atoms_per_fu() * n_fu
    pairing = CutAndSplicePairing(slab, n_top, blmin, p1=1.0, p2=0.0, minfrac=0.15,
                                  number_of_variable_cell_vectors=3, cellbounds=bounds,
                                  use_tags=True, rng=rng)
    rattle = RattleMutation(blmin, n_top, rattle_prop=0.3, rattle_strength=0.5,
                            use_tags=True, rng=rng)
    strain = StrainMutation(blmin, stddev=0.7, cellbounds=bounds, use_tags=True, rng=rng)
    rot = RotationalMutation(blmin, fraction=0.3, min_angle=0.5 * np.pi, rng=rng)
    soft = SoftMutation(closest_distances_generator(z, RATIO_SOFT), bounds=[2.0, 5.0],
                        use_tags=True, used_modes_file=str(workdir / "used_modes.json"))
    ops, weights = [pairing, rattle, strain, rot, RattleRotationalMutation(rattle, rot)], \
        [5, 1, 1, 1, 1]
    if sum(c for _, c in blocks) > 1:  # ase-ga's soft mutation fails on a single block
        ops.append(soft)
        weights.append(1)
    if len(blocks) > 1:
        ops.append(PermutationMutation(n_top, probability=0.33, use_tags=True, blmin=blmin,
                                       rng=rng))
        weights.append(1)
    comparator = OFPComparator(n_top=n_top, dE=1.0, cos_dist_max=5e-3, rcut=10.0,
                               binwidth=0.05, pbc=[True, True, True], sigma=0.05, nsigma=4,
                               recalculate=False)
    return {"start": start, "selector": OperationSelector(weights, ops, rng=rng),
            "scaled": (pairing, strain), "comparator": comparator, "slab": slab,
            "numbers": [int(n) for b, c in blocks for n in _block_numbers(b) * c]}


def _block_numbers(block) -> list[int]:
    from ase import Atoms

    return list(block.numbers) if isinstance(block, Atoms) else list(Atoms(block).numbers)


def _random_candidate(start, tries: int = 50):
    """A fresh StartGenerator structure with the info ase-ga's database expects.

    ase-ga's generator asserts ("This is not supposed to happen") when, in a split
    cell, a block overlaps its own periodic image in the small box (it only tests a
    new block against the others): such a draw is retried, like a failed placement.
    """
    for _ in range(tries):
        try:
            a = start.get_new_candidate(maxiter=20000)
        except AssertionError:
            a = None
        if a is not None:
            a.info["key_value_pairs"] = {"extinct": 0}
            a.info["data"] = {}
            return a
    raise RuntimeError("ase-ga StartGenerator found no structure in 50 x 20000 placements")


def units_whole(atoms, system: System) -> bool:
    """Pre-relaxation screen: does csp's recognition find all the cell's units?"""
    from common import expected_units, recognise_units

    try:
        return recognise_units(atoms, system)[0].unit_counts() == expected_units(system,
                                                                                 len(atoms))
    except Exception:  # noqa: BLE001 - a degenerate cell
        return False


def _offspring(population, selector, start, errors: dict, screen=None) -> tuple:
    """(candidate, description): an operator's child, or a random structure when the
    population is too small or the operators give up (``random: fallback``). An
    operator that raises counts as giving up (tallied in ``errors``); so does a child
    that fails ``screen`` (tallied as ``"screened: broken units"``)."""
    for _ in range(MAX_OFFSPRING_TRIES):
        try:
            parents = population.get_two_candidates()
        except ZeroDivisionError:  # all population scores equal: ase-ga's fitness is 0/0
            parents = None
        if parents is None:
            break
        try:
            child, desc = selector.get_new_individual(list(parents))
        except Exception as exc:  # noqa: BLE001 - an ase-ga operator bug: try again
            key = f"{type(exc).__name__}: {exc}"[:120]
            errors[key] = errors.get(key, 0) + 1
            continue
        if child is not None and screen is not None and not screen(child):
            errors["screened: broken units"] = errors.get("screened: broken units", 0) + 1
            continue
        if child is not None:
            return child, desc
    return _random_candidate(start), "random: fallback"


def gather_by_spanning_tree(atoms) -> None:
    """Make every same-tag group whole: a drop-in for ``ase_ga.utilities.
    gather_atoms_by_tag``.

    ase-ga's version moves each atom to the minimum image of its displacement from
    the group's first atom, which tears apart any molecule wider than half the cell
    (a B12, 3.4 Å across, in the 4.3 Å cell of SrB12; a B6 in CaB6). Here the group is
    rebuilt along a minimum spanning tree of minimum-image distances (Prim): each step
    adds the nearest atom through its bond, so the molecule comes back whole whenever
    its bonds are shorter than half the shortest lattice translation.
    """
    from ase.geometry import get_distances

    tags = atoms.get_tags()
    pos = atoms.get_positions()
    for tag in np.unique(tags):
        idx = np.where(tags == tag)[0]
        if len(idx) < 2:
            continue
        vec, dist = get_distances(pos[idx], cell=atoms.cell, pbc=atoms.pbc)
        new = pos[idx].copy()
        inside = np.zeros(len(idx), bool)
        inside[0] = True
        for _ in range(len(idx) - 1):
            d = np.where(inside[:, None] & ~inside[None, :], dist, np.inf)
            i, j = np.unravel_index(int(np.argmin(d)), d.shape)
            new[j] = new[i] + vec[i, j]
            inside[j] = True
        pos[idx] = new
    atoms.set_positions(pos)


@contextlib.contextmanager
def patched_gather(enabled: bool):
    """Use :func:`gather_by_spanning_tree` inside ase-ga while the block runs."""
    import ase_ga.cutandsplicepairing
    import ase_ga.soft_mutation
    import ase_ga.standardmutations
    import ase_ga.utilities

    mods = (ase_ga.utilities, ase_ga.cutandsplicepairing, ase_ga.soft_mutation,
            ase_ga.standardmutations)
    saved = [m.gather_atoms_by_tag for m in mods]
    try:
        if enabled:
            for m in mods:
                m.gather_atoms_by_tag = gather_by_spanning_tree
        yield
    finally:
        for m, f in zip(mods, saved, strict=True):
            m.gather_atoms_by_tag = f


class _Evaluator:
    """Relax an ase-ga candidate with the benchmark relaxer and store it in the GA db."""

    def __init__(self, system: System, relaxer, da, reference: dict, reject_broken: bool):
        self.system, self.relaxer, self.da = system, relaxer, da
        self.reference, self.reject_broken = reference, reject_broken
        self.records: list[dict] = []

    def __call__(self, a, desc: str) -> None:
        from ase.calculators.singlepoint import SinglePointCalculator

        work = a.copy()
        work.info = {}
        work.set_tags(a.get_tags() + 1)  # csp convention: tag 0 = free atom
        rec, out = relax_and_record(work, self.system, self.relaxer, len(self.records) + 1,
                                    desc, self.reference)
        self.records.append(rec)
        ok = rec["status"] == "relaxed" and math.isfinite(rec["enthalpy_per_atom"])
        if ok:
            a.set_cell(out.atoms.cell, scale_atoms=False)
            a.set_positions(out.atoms.positions)
        score = -rec["enthalpy_per_atom"] if ok else FAILED_SCORE
        a.info["key_value_pairs"]["raw_score"] = score
        a.calc = SinglePointCalculator(a, energy=-score * len(a))
        self.da.add_relaxed_step(a)
        if not ok or (self.reject_broken and not rec["units_intact"]):
            self.da.kill_candidate(a.info["confid"])


def run_asega(system: System, method: str, seed: int, budget: int, relaxer, workdir: Path,
              reference: dict) -> tuple[list[dict], float, dict]:
    """One ase-ga run of ``budget`` relaxations; returns (records, wall s, settings)."""
    with patched_gather(method != "ase-ga-vanilla"):
        return _run(system, method, seed, budget, relaxer, workdir, reference)


def _run(system: System, method: str, seed: int, budget: int, relaxer, workdir: Path,
         reference: dict) -> tuple[list[dict], float, dict]:
    from ase_ga.data import DataConnection, PrepareDB
    from ase_ga.population import Population

    t0 = time.perf_counter()
    workdir = Path(workdir)
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    rng = LegacyRng(np.random.default_rng(seed))
    s = _setup(system, rng, workdir)
    db = workdir / "gadb.db"
    prep = PrepareDB(db_file_name=str(db), simulation_cell=s["slab"], stoichiometry=s["numbers"])
    for _ in range(min(GA_SETTINGS["initial_population"], budget)):
        prep.add_unrelaxed_candidate(_random_candidate(s["start"]))
    da = DataConnection(str(db))
    ev = _Evaluator(system, relaxer, da, reference, method == "ase-ga-reject")
    while da.get_number_of_unrelaxed_candidates() > 0 and not stop_now(ev.records, reference):
        a = da.get_an_unrelaxed_candidate()
        a.info.setdefault("key_value_pairs", {})
        ev(a, "random: StartGenerator")
    population = Population(data_connection=da, population_size=GA_SETTINGS["population_size"],
                            comparator=s["comparator"], use_extinct=True, rng=rng)
    _update_volumes(population, s["scaled"])
    step, errors = 0, {}
    screen = None if method == "ase-ga-vanilla" else (lambda a: units_whole(a, system))
    while len(ev.records) < budget and not stop_now(ev.records, reference):
        child, desc = _offspring(population, s["selector"], s["start"], errors, screen)
        da.add_unrelaxed_candidate(child, description=desc)
        ev(child, desc)
        population.update()
        step += 1
        if step % 10 == 0:
            _update_volumes(population, s["scaled"])
    fallbacks = sum(r["origin"] == "random: fallback" for r in ev.records)
    return ev.records, time.perf_counter() - t0, {**settings(system, method),
                                                  "fallback_random": fallbacks,
                                                  "operator_errors": errors}


def _update_volumes(population, operators) -> None:
    pop = population.get_current_population()
    if pop:
        for op in operators:
            op.update_scaling_volume(pop, w_adapt=0.5, n_adapt=4)
