"""Engine (ask / tell), evaluation and the driver loop with the fake relaxer."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import pytest

from csp.config import parse_config
from csp.errors import CspError
from csp.genome import Genome


def make_config(**over) -> dict:
    d = {"seed": 7, "outdir": "unused", "composition": "Sr1 (B12)1", "formula_units": [1, 2],
         "pressure": 50, "relaxer": {"name": "fake"},
         "search": {"population_size": 6, "max_evaluations": 30}}
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(d.get(k), dict):
            d[k] = {**d[k], **v}
        else:
            d[k] = v
    return d


# ---------------------------------------------------------------------- tests
def run_serial(cfg_dict: dict, n: int | None = None, **kw):
    """Ask/tell serially with the fake relaxer; return (search, evaluations)."""
    from csp.engine import Search
    from csp.evaluate import evaluate
    from csp.parallel import SerialExecutor, drive

    cfg = parse_config(cfg_dict)
    search = Search(cfg, **kw)
    evs = []
    drive(search, SerialExecutor(), partial(evaluate, relaxer_spec=cfg.relaxer), slots=1,
          on_done=evs.append)
    return search, evs


def test_same_seed_same_search():
    _, a = run_serial(make_config())
    _, b = run_serial(make_config())
    _, c = run_serial(make_config(seed=8))
    assert len(a) == len(b) and len(a) >= 30
    for x, y in zip(a, b):
        assert x.task.candidate_id == y.task.candidate_id and x.status == y.status
        assert x.task.genome.equals(y.task.genome)
        assert x.task.origin == y.task.origin and x.task.parents == y.task.parents
    assert not all(x.task.genome.equals(y.task.genome) for x, y in zip(a, c))


def test_budget_composition_and_breeding():
    search, evs = run_serial(make_config())
    told = [e for e in evs if e.eval_index >= 0]
    assert len(told) == 30 == search.n_evaluated
    assert sorted(e.eval_index for e in told) == list(range(30))
    allowed = [{"Sr": 1, "B": 12}, {"Sr": 2, "B": 24}]
    for e in evs:
        assert e.task.genome.element_counts() in allowed
        assert e.task.genome.unit_counts()["B12"] in (1, 2)  # units stay units
    origins = {e.task.origin for e in told}
    assert origins & {"random", "symmetric"} and len(origins) >= 2  # bred after the start
    bred = [e for e in told if e.task.parents]
    assert bred and all(set(e.task.parents) < {x.task.candidate_id for x in told} for e in bred)
    best = search.best[50.0]
    relaxed = [e.result.enthalpy_per_atom for e in told if e.status == "relaxed"]
    assert best.enthalpy_per_atom == pytest.approx(min(relaxed))


def test_breeding_improves_on_random_start():
    # the fake energy rewards dense packings: the best after breeding beats the initial ones
    search, evs = run_serial(make_config(search={"max_evaluations": 60}))
    told = [e for e in evs if e.status == "relaxed"]
    first = min(e.result.enthalpy_per_atom for e in told[:6])
    assert search.best[50.0].enthalpy_per_atom < first


def identity(parents, rng):
    return parents[0]


def test_prerelax_duplicates_rejected():
    search, evs = run_serial(make_config(search={"max_evaluations": 10, "random_fraction": 0.0,
                                                 "population_size": 3}),
                             operators={"identity": (identity, 1.0, 1)})
    rejected = [e for e in evs if e.eval_index < 0]
    assert rejected and all(e.status == "duplicate" and e.duplicate_of >= 0 for e in rejected)
    assert search.counts["prerelax_duplicate"] == len(rejected)
    # after MAX_REJECTIONS in a row a candidate goes through anyway: the budget completes
    assert search.n_evaluated == 10


def expanded(parents, rng):
    g = parents[0]
    return g.replace(cell=g.cell * 1.15)


def test_rescaled_parent_is_a_duplicate_before_relaxation():
    """A child that is its parent at another scale (an isotropic strain) relaxes back
    onto it: it is rejected before it costs a relaxation."""
    search, evs = run_serial(make_config(search={"max_evaluations": 10, "random_fraction": 0.0,
                                                 "population_size": 3}),
                             operators={"expanded": (expanded, 1.0, 1)})
    rejected = [e for e in evs if e.eval_index < 0]
    assert rejected and all(e.status == "duplicate" and e.duplicate_of >= 0 for e in rejected)
    assert all(e.task.operator == "expanded" for e in rejected)
    assert search.n_evaluated == 10


def test_relaxed_duplicate_and_unknown_id():
    from csp.engine import Search
    from csp.evaluate import evaluate

    cfg = parse_config(make_config())
    search = Search(cfg)
    t1 = search.ask()
    t2 = search.ask()
    r1 = evaluate(t1, cfg.relaxer)
    r2 = evaluate(t1, cfg.relaxer)  # the same structure comes back for the second task
    r2.candidate_id = t2.candidate_id
    assert search.tell(r1).status == "relaxed"
    ev = search.tell(r2)
    assert ev.status == "duplicate" and ev.duplicate_of == t1.candidate_id
    with pytest.raises(CspError, match="not pending"):
        search.tell(r1)


class SquashRelaxer:
    """Test relaxer that flattens the first unit (its bond graph breaks)."""

    def relax(self, atoms, pressure_gpa, workdir=None):
        from csp.calculators.fake import FakeRelaxer

        out = FakeRelaxer().relax(atoms, pressure_gpa)
        pos = out.atoms.get_positions()
        sel = out.atoms.get_tags() == 1
        c = pos[sel].mean(0)
        pos[sel] = c + (pos[sel] - c) * [1.0, 1.0, 0.2]
        out.atoms.set_positions(pos)
        return out


class CrashRelaxer:
    def relax(self, atoms, pressure_gpa, workdir=None):
        raise RuntimeError("segfault-like")


def test_evaluate_classifies_and_never_raises(srb12, tmp_path):
    from csp.evaluate import Task, evaluate

    task = Task(3, srb12, "seed", pressure=50.0)
    ok = evaluate(task, "fake", tmp_path)
    assert ok.status == "relaxed" and ok.units_intact and ok.max_unit_rmsd < 1e-8
    # simple-cubic SrB12: the icosahedron keeps Th of the cubic site -> Pm-3 (No. 200)
    assert ok.spacegroup == "Pm-3" and ok.sg_number == 200
    from csp.calculators.fake import EV_PER_GPA_A3

    pv = 50.0 * srb12.volume * EV_PER_GPA_A3 / 13
    assert ok.enthalpy_per_atom - ok.energy_per_atom == pytest.approx(pv)
    broken = evaluate(task, SquashRelaxer())
    assert broken.status == "broken_units" and not broken.units_intact
    assert "B12" in broken.reason
    failed = evaluate(task, {"name": "fake", "fail_fraction": 1.0})
    assert failed.status == "failed" and failed.reason.startswith("not_converged")
    crashed = evaluate(task, CrashRelaxer())
    assert crashed.status == "failed" and "segfault-like" in crashed.reason
    bad = evaluate(task, {"name": "fake", "nonsense": 1})
    assert bad.status == "failed" and "nonsense" in bad.reason
    assert list(tmp_path.iterdir()) == []  # empty scratch directories are removed


def test_broken_units_policy(srb12):
    from csp.engine import Search
    from csp.evaluate import evaluate

    for policy, parent in (("reject", False), ("keep", True)):
        cfg = parse_config(make_config(search={"broken_units": policy}))
        search = Search(cfg, seeds=[srb12])
        task = search.ask()
        assert task.origin == "seed" and task.genome.equals(srb12)
        ev = search.tell(evaluate(task, SquashRelaxer()))
        assert ev.status == "broken_units"
        assert (len(search.population(50.0)) == 1) == parent


class StoppedRelaxer:
    """The fake relaxer, but every structure whose position hash falls in the lower half
    stops "at its step limit", reported 1 eV/atom below what it would relax to, so that
    unconverged structures are always the lowest in enthalpy (the worst case for a
    search that must never call one of them its best)."""

    def __init__(self, fail_fraction: float = 0.5, squash: bool = False):
        from csp.calculators.fake import FakeRelaxer

        self.fake, self.squash = FakeRelaxer(fail_fraction=fail_fraction), squash

    def relax(self, atoms, pressure_gpa, workdir=None):
        from dataclasses import replace

        out = self.fake.relax(atoms, pressure_gpa, workdir)
        if out.status != "not_converged":
            return out
        if self.squash:  # stopped with a unit squashed flat
            out = SquashRelaxer().relax(atoms, pressure_gpa, workdir)
            return replace(out, status="not_converged", reason="stopped")
        return replace(out, enthalpy=out.enthalpy - len(atoms), energy=out.energy - len(atoms))


def test_evaluate_keeps_an_unconverged_relaxation_only_when_asked(srb12):
    from csp.calculators.fake import FakeRelaxer

    from csp.evaluate import Task, evaluate

    task = Task(3, srb12, "seed", pressure=50.0)
    stopping = FakeRelaxer(fail_fraction=1.0)
    assert stopping.relax(srb12.to_atoms(), 50.0).status == "not_converged"
    dropped = evaluate(task, stopping)
    assert dropped.status == "failed" and dropped.genome is None
    assert dropped.reason.startswith("not_converged")
    kept = evaluate(task, stopping, keep_unconverged=True)
    assert kept.status == "unconverged" and kept.reason.startswith("not_converged")
    assert kept.units_intact and kept.genome is not None and kept.fingerprint is not None
    # its enthalpy is the last step's: here the fake's H of the unmoved structure
    relaxed = evaluate(task, FakeRelaxer())
    assert kept.enthalpy_per_atom == pytest.approx(relaxed.enthalpy_per_atom)
    assert kept.spacegroup == "Pm-3"
    # stopped with a unit broken: a failure as before, never a parent
    broken = evaluate(task, StoppedRelaxer(1.0, squash=True), keep_unconverged=True)
    assert broken.status == "failed" and broken.genome is None
    assert broken.reason.startswith("not_converged")


def test_unconverged_structures_are_parents_never_best():
    from csp.engine import Search
    from csp.evaluate import evaluate
    from csp.parallel import SerialExecutor, drive

    def run(policy: str, keep: bool):
        cfg = make_config(search={"max_evaluations": 40, "unconverged": policy})
        search, evs = Search(parse_config(cfg)), []
        drive(search, SerialExecutor(), partial(evaluate, relaxer_spec=StoppedRelaxer(),
                                                keep_unconverged=keep), slots=1,
              on_done=evs.append)
        return search, [e for e in evs if e.eval_index >= 0]

    search, told = run("breed", True)
    stopped = {e.task.candidate_id for e in told if e.status == "unconverged"}
    relaxed = [e.result.enthalpy_per_atom for e in told if e.status == "relaxed"]
    assert stopped and relaxed and search.counts["unconverged"] == len(stopped)
    # half of the structures stop at the "step limit" (by position hash): parents now
    assert any(set(e.task.parents) & stopped for e in told if e.task.parents)
    # ... ranked first by their (here artificially low) enthalpy, and never the best
    assert not search.population(50.0)[0].converged
    low = min(e.result.enthalpy_per_atom for e in told if e.status == "unconverged")
    best = search.best[50.0]
    assert best.converged and best.enthalpy_per_atom == pytest.approx(min(relaxed))
    assert best.enthalpy_per_atom > low + 0.5
    # "discard" records them as failures
    discard, told = run("discard", False)
    assert discard.counts["unconverged"] == 0 and discard.counts["failed"] > 0
    assert all(p.converged for p in discard.population(50.0))
    # a worker that keeps them anyway does not make them parents of a "discard" search
    discard, told = run("discard", True)
    assert discard.counts["unconverged"] == 0 and discard.counts["failed"] > 0


def test_a_converged_structure_is_never_the_duplicate_of_an_unconverged_one(srb12):
    from csp.calculators.fake import FakeRelaxer

    from csp.engine import Search
    from csp.evaluate import evaluate

    search = Search(parse_config(make_config(search={"unconverged": "breed"})), seeds=[srb12])
    task = search.ask()
    ev = search.tell(evaluate(task, FakeRelaxer(fail_fraction=1.0), keep_unconverged=True))
    assert ev.status == "unconverged" and search.best[50.0] is None
    assert search.population(50.0)[0].candidate_id == task.candidate_id
    same = evaluate(task, FakeRelaxer())  # the same structure, converged
    ind = search.population(50.0)[0]
    assert search._relaxed_twin(ind.fp, same.enthalpy_per_atom, ind.comp, 50.0,
                                converged=False) == task.candidate_id
    assert search._relaxed_twin(ind.fp, same.enthalpy_per_atom, ind.comp, 50.0) is None


def test_unconverged_policy_is_validated():
    from csp.config import ConfigError

    with pytest.raises(ConfigError, match=r"\[search\] unconverged must be one of 'breed', "
                                          r"'discard', got 'keep'"):
        parse_config(make_config(search={"unconverged": "keep"}))
    assert parse_config(make_config()).search.unconverged == "breed"  # the default


def test_hull_distances_by_hand():
    from csp.engine import Individual, hull_distances
    from csp.genome import Genome

    def ind(cid, numbers, h):
        g = Genome(cell=np.eye(3) * 5, atom_numbers=numbers,
                   atom_frac=np.random.default_rng(cid).random((len(numbers), 3)))
        return Individual(cid, 0.0, g, h, "", None, None, "random", "")

    inds = [ind(0, [38], 0.0), ind(1, [5, 5], 0.0), ind(2, [38, 5], -1.0),
            ind(3, [38, 5, 5, 5], -0.2), ind(4, [38, 5], -0.7)]
    d = hull_distances(inds, ("B", "Sr"))
    # hull: Sr (0), SrB (-1), B (0); SrB3 at x_B = 3/4 -> hull -0.5, so 0.3 above
    assert d == pytest.approx([0.0, 0.0, 0.0, 0.3, 0.3])


@pytest.mark.parametrize("k", [2, 3, 4])
def test_hull_envelope_equals_the_linear_programme(k):
    """The engine's hull (monotone chain for two elements, Qhull lower facets for more)
    equals the exact linear programme, also where the points are degenerate."""
    from csp.engine import _envelope_lp, _lower_envelope

    rng = np.random.default_rng(k)
    for trial in range(20):
        counts = rng.integers(0, 6, size=(int(rng.integers(2, 120)), k)).astype(float)
        counts[counts.sum(1) == 0, 0] = 1
        x = np.unique(np.round(counts / counts.sum(1, keepdims=True), 10), axis=0)
        if trial == 0:  # all on the line between two end members (flat for Qhull)
            x = np.unique(np.round(np.outer(np.linspace(0, 1, 7), np.eye(k)[0])
                                   + np.outer(np.linspace(1, 0, 7), np.eye(k)[1]), 10), axis=0)
        h = rng.normal(size=len(x)) * 0.3 - 0.2 * (x.max(1) < 1)
        env = _lower_envelope(x, h)
        assert np.allclose(env, _envelope_lp(x, h), rtol=0, atol=1e-9)
        assert (env <= h + 1e-12).all()


def test_variable_composition_search():
    cfg = make_config(composition={"blocks": ["Sr", "(B12)"], "min_atoms": 1, "max_atoms": 16},
                      search={"max_evaluations": 25, "population_size": 6})
    cfg.pop("formula_units")
    search, evs = run_serial(cfg)
    counts = set()
    for e in evs:
        g = e.task.genome
        assert 1 <= len(g) <= 16 and set(g.element_counts()) <= {"Sr", "B"}
        counts.add((g.unit_counts().get("B12", 0), g.atom_counts().get("Sr", 0)))
    assert len(counts) >= 3  # several compositions sampled
    fit = [p.fitness for p in search.individuals[50.0]]
    assert min(fit) == pytest.approx(0.0, abs=1e-9) and min(fit) >= -1e-9


def test_redrawn_children_relax_from_a_distorted_copy():
    """In variable composition, ``redraw`` children are symmetric draws at a parent's
    composition: like random symmetric starts they carry the symmetry breaking, and
    their compositions are those of the population."""
    ops = {n: 0.0 for n in ("heredity", "rotation", "strain", "swap", "soft", "add",
                            "remove", "transmute")}
    cfg = make_config(composition={"blocks": ["Sr", "(B12)"], "min_atoms": 1, "max_atoms": 16},
                      search={"max_evaluations": 20, "population_size": 4,
                              "random_fraction": 0.0},
                      operators={**ops, "redraw": 1.0})
    cfg.pop("formula_units")
    search, evs = run_serial(cfg)
    redrawn = [e.task for e in evs if e.task.operator == "redraw"]
    assert len(redrawn) >= 5
    sigma = search.config.search.symmetry_breaking
    assert sigma > 0 and all(t.symmetry_breaking == sigma for t in redrawn)
    formula = {ev.task.candidate_id: ev.task.genome.reduced_formula for ev in evs}
    for t in redrawn:
        assert t.genome.reduced_formula == formula[t.parents[0]]  # the parent's composition
    # children of the other operators keep their start as built
    cfg["operators"] = {**ops, "soft": 1.0}
    _, evs = run_serial(cfg)
    bred = [e.task for e in evs if e.task.operator == "soft"]
    assert bred and all(t.symmetry_breaking == 0.0 for t in bred)


def test_restore_rebuilds_state(tmp_path):
    from csp.engine import Search
    from csp.evaluate import evaluate
    from csp.parallel import SerialExecutor, drive
    from csp.store import Store

    cfg = parse_config(make_config(search={"max_evaluations": 20}))
    search = Search(cfg)
    store = Store.create(tmp_path / "run", cfg.to_dict())
    drive(search, SerialExecutor(), partial(evaluate, relaxer_spec="fake"), slots=1,
          on_pending=store.add_pending, on_done=store.write)
    again = Search(cfg)
    for c in store.candidates():
        again.restore(c.task, c.result, c.status, c.reason, pending=c.status == "pending")
    assert again.n_evaluated == search.n_evaluated == 20
    assert again.next_id == search.next_id and again.counts == search.counts
    assert [p.candidate_id for p in again.population(50.0)] == [
        p.candidate_id for p in search.population(50.0)]
    # continuing both gives the same next candidate
    assert again.ask().genome.equals(search.ask().genome)


def test_restore_rebuilds_unconverged_parents(tmp_path):
    from csp.engine import Search
    from csp.evaluate import evaluate
    from csp.parallel import SerialExecutor, drive
    from csp.store import Store

    cfg = parse_config(make_config(search={"max_evaluations": 20, "unconverged": "breed"}))
    search = Search(cfg)
    store = Store.create(tmp_path / "run", cfg.to_dict())
    drive(search, SerialExecutor(), partial(evaluate, relaxer_spec=StoppedRelaxer(),
                                            keep_unconverged=True), slots=1,
          on_pending=store.add_pending, on_done=store.write)
    assert store.status_counts()["unconverged"] == search.counts["unconverged"] > 0
    again = Search(cfg)
    for c in store.candidates():
        again.restore(c.task, c.result, c.status, c.reason, pending=c.status == "pending")
    assert again.counts == search.counts
    assert [(p.candidate_id, p.converged) for p in again.population(50.0)] == [
        (p.candidate_id, p.converged) for p in search.population(50.0)]
    assert again.best[50.0].candidate_id == search.best[50.0].candidate_id
    assert again.ask().genome.equals(search.ask().genome)
    # resumed with unconverged = "discard": the stopped relaxations are no parents now
    strict = Search(parse_config(make_config(search={"max_evaluations": 20,
                                                     "unconverged": "discard"})))
    for c in store.candidates():
        strict.restore(c.task, c.result, c.status, c.reason, pending=c.status == "pending")
    assert strict.counts == search.counts  # the record is what it was
    assert strict.population(50.0) and all(p.converged for p in strict.population(50.0))
    assert strict.best[50.0].candidate_id == search.best[50.0].candidate_id


def test_process_executor_completes_budget():
    from csp.engine import Search
    from csp.evaluate import evaluate
    from csp.parallel import drive, process_executor

    cfg = parse_config(make_config(search={"max_evaluations": 12}))
    search = Search(cfg)
    evs = []
    with process_executor(2) as ex:
        why, left = drive(search, ex, partial(evaluate, relaxer_spec="fake"), slots=2,
                          on_done=evs.append)
    assert why == "budget" and left == 0 and search.n_evaluated == 12
    assert not [e.result.reason for e in evs if e.status == "failed"]
    workers = {e.result.worker for e in evs if e.result is not None}
    assert len(workers) == 2 and all(w.startswith("pid") for w in workers)


def test_building_on_workers_gives_the_same_search():
    """Candidates built by csp.build.build (as on an MPI rank) make the same search as
    candidates built by the engine itself: decisions and building have their own
    streams, keyed by the candidate id."""
    from csp.build import build
    from csp.engine import Search
    from csp.evaluate import evaluate
    from csp.parallel import SerialExecutor, drive

    cfg = parse_config(make_config(search={"max_evaluations": 25}))
    here, there = Search(cfg), Search(cfg)
    a, b = [], []
    drive(here, SerialExecutor(), partial(evaluate, relaxer_spec="fake"), slots=1,
          on_done=a.append)
    drive(there, SerialExecutor(), partial(evaluate, relaxer_spec="fake"), slots=1,
          build_fn=partial(build, config=cfg), on_done=b.append)
    assert len(a) == len(b) and there.n_evaluated == 25
    assert any(e.task.parents for e in b)  # bred, not only random
    for x, y in zip(a, b):
        assert x.task.candidate_id == y.task.candidate_id and x.status == y.status
        assert x.task.origin == y.task.origin and x.task.parents == y.task.parents
        assert x.task.genome.equals(y.task.genome)


def test_process_workers_build_and_the_engine_does_not():
    from csp.build import build
    from csp.engine import Search
    from csp.evaluate import evaluate
    from csp.parallel import drive, process_executor

    cfg = parse_config(make_config(search={"max_evaluations": 16}))
    search = Search(cfg)

    def refuse(request):
        raise AssertionError("the engine built a candidate")

    search.builder.build = refuse
    evs = []
    with process_executor(2) as ex:
        why, left = drive(search, ex, partial(evaluate, relaxer_spec="fake"), slots=2,
                          build_fn=partial(build, config=cfg), on_done=evs.append)
    assert why == "budget" and left == 0 and search.n_evaluated == 16
    assert not search.building and not search.pending
    told = [e for e in evs if e.eval_index >= 0]
    assert {e.task.origin for e in told} & {"symmetric", "random"}
    assert any(e.task.parents for e in told)  # bred on the workers too
    for e in evs:
        assert e.task.genome.element_counts() in ({"Sr": 1, "B": 12}, {"Sr": 2, "B": 24})


@dataclass(frozen=True)
class KillerRelaxer:
    """Test relaxer whose worker process dies (like an OOM kill) on the first structure it
    is given, and again whenever it is given that structure; every other structure
    reports a normal failure. The first caller claims ``marker`` atomically and writes the
    structure's hash into it, so exactly one candidate is the killer.

    The death must come early: a pool is known to be broken only once its manager thread
    has seen the dead worker, and only a submission after that starts a new pool. A death
    among the last candidates of the budget (the earlier position-based rule killed
    candidate 8 of 10) left nothing to submit afterwards, so no respawn was seen.
    """

    marker: str

    def relax(self, atoms, pressure_gpa, workdir=None):
        import hashlib
        import os
        import time
        from pathlib import Path
        from types import SimpleNamespace

        key = hashlib.sha1(atoms.positions.round(6).tobytes()).hexdigest()
        try:
            fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            for _ in range(100):  # the claimant writes its hash right after creating the file
                killer = Path(self.marker).read_text()
                if killer:
                    break
                time.sleep(0.01)
            if killer != key:
                time.sleep(0.2)  # still running when the killer dies: an innocent in flight
                return SimpleNamespace(status="not_converged", reason="test", atoms=None)
        else:
            os.write(fd, key.encode())
            os.close(fd)
        os._exit(9)


def test_dead_worker_process_fails_its_own_candidate_only(tmp_path):
    """A worker that dies takes the pool and every relaxation in flight with it; each of
    those is relaxed again alone, so only the candidate that kills its worker fails with
    the worker error and the innocent ones get their own result."""
    from csp.engine import Search
    from csp.evaluate import evaluate
    from csp.parallel import drive, process_executor

    cfg = parse_config(make_config(search={"max_evaluations": 10}))
    search = Search(cfg)
    evs = []
    killer = KillerRelaxer(str(tmp_path / "died"))
    with process_executor(2) as ex:
        why, _ = drive(search, ex, partial(evaluate, relaxer_spec=killer), slots=2,
                       on_done=evs.append)
        respawns = ex.respawns
    assert why == "budget" and search.n_evaluated == 10
    told = [e for e in evs if e.result is not None]
    assert len(told) == 10 and len({e.result.candidate_id for e in told}) == 10
    reasons = [e.result.reason for e in told]
    # one death with two relaxations in flight, a second when the killer ran alone
    assert respawns == 2
    died = [r for r in reasons if "worker died relaxing it alone" in r]
    assert len(died) == 1, reasons
    assert all(r.startswith("not_converged") for r in reasons if r not in died)


def _thread_env() -> tuple:
    import os

    from csp.parallel import THREAD_ENV

    return tuple(os.environ.get(v) for v in THREAD_ENV)


def test_worker_thread_settings():
    from csp.parallel import THREAD_ENV, process_executor

    with process_executor(1, threads=3) as ex:
        assert ex.submit(_thread_env).result() == ("3",) * len(THREAD_ENV)


def test_seeded_search_keeps_xb12_and_ub12_seeds():
    """Seeds enter first, marked origin=seed: the superatomic XB12 (B12 unit + Sr) as a
    genome of the search, the UB12-type SrB12 (a B network, no icosahedra; reduced to its
    13-atom primitive cell to fit 1-2 formula units) as a ranked competitor that is never
    a parent. The best found is at or below both."""
    cfg = make_config(seeds=["xb12:Sr", "ub12:Sr"], search={"max_evaluations": 20})
    search, evs = run_serial(cfg)
    seeds = [e for e in evs if e.task.origin == "seed"]
    assert [e.task.candidate_id for e in seeds] == [0, 1]
    assert [e.task.genome.unit_counts() for e in seeds] == [{"B12": 1}, {}]
    assert all(e.status == "relaxed" and len(e.task.genome) == 13 for e in seeds)
    ub12 = next(i for i in search.individuals[50.0] if i.candidate_id == 1)
    assert not ub12.breed and ub12 not in search.population(50.0)
    assert all(1 not in e.task.parents for e in evs)
    best = search.best[50.0].enthalpy_per_atom
    assert best <= min(e.result.enthalpy_per_atom for e in seeds) + 1e-12


def test_seed_outside_the_composition_is_an_error():
    with pytest.raises(CspError, match="outside the search's composition space"):
        run_serial(make_config(seeds=["cab6"]))


def test_hull_phases_are_re_relaxed_at_the_other_pressures():
    """Two pressures: the best structure found at each is re-relaxed at the other
    (origin "cross", parent = the source), beyond the budget, once per phase."""
    cfg = make_config(pressures=[0, 50], search={"max_evaluations": 24})
    cfg.pop("pressure")
    search, evs = run_serial(cfg)
    cross = [e for e in evs if e.task.origin == "cross"]
    assert cross and search.n_cross == len(cross)
    assert search.n_evaluated - search.n_cross == 24  # the budget is for the search itself
    by_id = {e.task.candidate_id: e for e in evs}
    pairs = set()
    for e in cross:
        (src,) = e.task.parents
        assert by_id[src].task.pressure != e.task.pressure
        assert e.task.genome.equals(Genome.from_dict(by_id[src].result.genome))
        pairs.add((src, e.task.pressure))
    assert len(pairs) == len(cross)  # never twice
    for p in (0.0, 50.0):  # each pressure's final best was sent to the other one
        assert (search.best[p].candidate_id, 50.0 - p) in pairs or search.best[p].origin == "cross"


def test_seeds_are_relaxed_at_every_pressure_not_crossed():
    """A seed is a seed at each pressure (origin=seed rows at both); it is never also
    re-relaxed as a cross candidate (which turned the seed's own row into a duplicate)."""
    cfg = make_config(pressures=[0, 50], seeds=["xb12:Sr"], search={"max_evaluations": 12})
    cfg.pop("pressure")
    _, evs = run_serial(cfg)
    seeds = [e for e in evs if e.task.origin == "seed"]
    assert sorted(e.task.pressure for e in seeds) == [0.0, 50.0]
    assert all(e.status == "relaxed" for e in seeds)
    seed_ids = {e.task.candidate_id for e in seeds}
    assert not [e for e in evs if e.task.origin == "cross" and set(e.task.parents) & seed_ids]


def test_restore_remembers_cross_relaxations(tmp_path):
    from csp.engine import Search
    from csp.evaluate import evaluate
    from csp.parallel import SerialExecutor, drive
    from csp.store import Store

    d = make_config(pressures=[0, 50], search={"max_evaluations": 16})
    d.pop("pressure")
    cfg = parse_config(d)
    search = Search(cfg)
    store = Store.create(tmp_path / "run", cfg.to_dict())
    drive(search, SerialExecutor(), partial(evaluate, relaxer_spec="fake"), slots=1,
          on_pending=store.add_pending, on_done=store.write)
    again = Search(cfg)
    for c in store.candidates():
        again.restore(c.task, c.result, c.status, c.reason, pending=c.status == "pending")
    assert again._crossed == search._crossed and again.n_cross == search.n_cross > 0
    assert again.done and again.budget_left == 0


def test_stop_at_enthalpy_ends_the_search_early():
    _, free = run_serial(make_config(search={"max_evaluations": 30}))
    told = [e for e in free if e.status == "relaxed"]
    target = sorted(e.result.enthalpy_per_atom for e in told)[len(told) // 2]  # the median
    search, _ = run_serial(make_config(search={"max_evaluations": 30,
                                               "stop_at_enthalpy": target}))
    assert search.done and search.n_evaluated < 30
    assert search.best[50.0].enthalpy_per_atom <= target


def test_a_builder_that_keeps_crashing_ends_the_run_with_a_clear_error():
    from csp.build import Built
    from csp.engine import Search

    search = Search(parse_config(make_config()))
    search.builder.build = lambda req: Built(req.candidate_id, req.pressure, None,
                                             error="crashed: RuntimeError: boom")
    with pytest.raises(CspError, match="could not be built .*boom"):
        search.ask()


def test_symmetric_starts_are_relaxed_from_a_distorted_copy(tmp_path):
    """Random symmetric structures go to the relaxer distorted (default 0.15 Å), so that
    a relaxation cannot be held at a saddle point by the symmetry of its start; the
    genome, the duplicate checks and the database keep the undistorted start."""
    import spglib

    from csp.evaluate import evaluate
    from csp.store import Store

    def group(atoms, symprec=1e-2):
        return spglib.get_symmetry_dataset((atoms.cell[:], atoms.get_scaled_positions(),
                                            atoms.numbers), symprec=symprec).number

    base = make_config(composition="(B12)1", formula_units=[1], pressure=0,
                       search={"spacegroups": [195, 230], "max_evaluations": 6})
    plain = make_config(**{**base, "search": {**base["search"], "symmetry_breaking": 0.0}})
    _, evs = run_serial(base)
    _, evs0 = run_serial(plain)
    symmetric = [e for e in evs if e.task.origin == "symmetric" and e.result is not None]
    assert len(symmetric) >= 4
    for e, e0 in zip(evs, evs0):
        assert e.task.genome.equals(e0.task.genome)  # same draws, same decisions
    for e in symmetric:
        assert e.task.symmetry_breaking == 0.15 and e.task.run_seed == 7
        assert group(e.task.genome.to_atoms(wrap=True), 1e-3) >= 195  # the stored start
        start = e.task.start()
        assert start.equals(e.task.start())  # its own seeded stream
        # the fake relaxer does not move atoms: what it relaxed is the distorted start,
        # P-1 (a lone icosahedron keeps its inversion centre), its B12 rigid and intact
        relaxed = Genome.from_dict(e.result.genome)
        assert group(relaxed.to_atoms(wrap=True)) == 2
        assert e.result.units_intact
        assert np.allclose(relaxed.positions(), start.positions(), atol=1e-6)
    for e in evs0:
        if e.result is not None and e.task.origin == "symmetric":
            assert e.task.symmetry_breaking == 0.0
            assert group(Genome.from_dict(e.result.genome).to_atoms(wrap=True), 1e-3) >= 195
    # a pending task read back from the database is relaxed from the same distortion
    task = symmetric[0].task
    cfg = parse_config({**base, "outdir": str(tmp_path / "run")})
    store = Store.create(cfg.outdir, cfg.to_dict())
    store.add_pending(task)
    store.commit()
    (back,) = [c.task for c in store.candidates()]
    store.close()
    assert back.symmetry_breaking == 0.15 and back.run_seed == 7
    assert back.start().equals(task.start())
    again = evaluate(back, cfg.relaxer)
    assert np.allclose(Genome.from_dict(again.genome).positions(),
                       Genome.from_dict(symmetric[0].result.genome).positions(), atol=1e-9)


def test_distortion_keeps_the_searchs_own_limits():
    """The distortion of a symmetric start is checked against the search's [limits], not
    the defaults: with contacts at 0.56 x the covalent sum (allowed by dmin_factor 0.45,
    as at high pressure) every trial would fail the default 0.7 and the start would be
    relaxed undistorted, its symmetry intact."""
    from csp.operators.generation import generate
    from csp.operators.validity import check_genome

    from csp.composition import parse_composition
    from csp.evaluate import Task, evaluate

    g = generate(parse_composition("(B12)1"), 0.0, np.random.default_rng(3),
                 spacegroup=(195, 230))
    squeezed = g.replace(cell=g.cell * 0.765)  # rigid B12 on the same sites, 0.94 Å apart
    atoms = squeezed.to_atoms(wrap=True)
    d = atoms.get_all_distances(mic=True)
    np.fill_diagonal(d, np.inf)
    assert 0.9 < d.min() < 0.7 * 1.68  # below the default limit, B-B covalent sum 1.68 Å
    limits = parse_config(make_config(limits={"dmin_factor": 0.45})).limits.to_limits()
    assert check_genome(squeezed, limits)[0] and not check_genome(squeezed)[0]
    task = Task(0, squeezed, "symmetric", pressure=0.0, spacegroup_target=202,
                symmetry_breaking=0.15, run_seed=7)
    assert task.start() is squeezed  # default limits: no trial passes
    start = task.start(limits)
    assert not start.equals(squeezed) and check_genome(start, limits)[0]
    # the fake relaxer does not move atoms: the relaxed crystal is the start it was given
    assert evaluate(task, "fake", limits=limits).sg_number == 2  # P-1, distorted
    assert evaluate(task, "fake").sg_number == 202  # Fm-3: the saddle the issue is about


@pytest.mark.parametrize("cap", [0, 2])
def test_variable_composition_population_caps_members_per_composition(cap):
    """Hull distance cannot tell polymorphs of an end member apart (all within meV of
    0): uncapped, the population fills with them. ``max_per_composition`` keeps at most
    that many per reduced composition (Ca8 and Ca9 are one), the rest by fitness."""
    from collections import Counter

    cfg = make_config(composition={"blocks": ["Sr", "(B12)"], "min_atoms": 1, "max_atoms": 16},
                      search={"max_evaluations": 30, "population_size": 6,
                              "max_per_composition": cap})
    cfg.pop("formula_units")
    search, _ = run_serial(cfg)
    pop = search.population(50.0)
    per = Counter(p.genome.reduced_formula for p in pop)
    ranked = sorted((p for p in search.individuals[50.0] if p.breed),
                    key=lambda p: (p.fitness, p.candidate_id))
    if cap == 0:  # the plain fittest six, and here they crowd one composition
        assert [p.candidate_id for p in pop] == [p.candidate_id for p in ranked[:6]]
        assert max(per.values()) > 2
    else:
        assert max(per.values()) <= cap and len(pop) == min(6, sum(
            min(cap, n) for n in Counter(p.genome.reduced_formula for p in ranked).values()))
        # each composition is represented by its fittest members, and nobody fitter
        # than the last member is left out unless its composition is full
        for key, n in per.items():
            best = [p.candidate_id for p in ranked if p.genome.reduced_formula == key][:n]
            assert sorted(p.candidate_id for p in pop if p.genome.reduced_formula == key) \
                == sorted(best)
        worst = max((p.fitness, p.candidate_id) for p in pop)
        for p in ranked:
            if (p.fitness, p.candidate_id) < worst and p not in pop:
                assert per[p.genome.reduced_formula] == cap
