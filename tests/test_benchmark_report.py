"""The search benchmark's report (benchmarks/search/report.py): statistics and verdicts.

The benchmark's figures are only as good as the arithmetic that turns per-relaxation
records into success rates, censored medians and ratios; these tests pin it, and check
that the committed RESULTS.md is what its own regenerate command gives from the
committed run records.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import report

ROOT = Path(__file__).resolve().parents[1]


def _doc(system: str, method: str, seed: int, hits_at: int | None, budget: int = 30,
         ref: float = -1.0, wall: float = 60.0) -> dict:
    """A run document whose relaxation ``hits_at`` (1-based) is the first hit."""
    n = budget if hits_at is None else hits_at
    relaxations = []
    for i in range(1, n + 1):
        h = ref + (0.0 if i == hits_at else 0.05)
        relaxations.append({"index": i, "status": "relaxed", "units_intact": True,
                            "enthalpy_per_atom": h, "wall_time": wall / n})
    return {"system": system, "method": method, "seed": seed, "budget": budget,
            "reference_enthalpy_per_atom": ref, "run_wall_s": wall,
            "system_spec": {"reference": "ref"}, "reference_spacegroup": "Pm-3",
            "relaxer_name": "cheap", "relaxer": {"name": "sevennet"},
            "commit": {"commit": "0" * 40, "dirty": False},
            "summary": {"first_match": None, "best_minus_reference_meV": 0.0,
                        "n_intact": n, "n_relaxations": n, "relax_wall_s": wall},
            "relaxations": relaxations}


def test_censored_median_and_ratio_bounds():
    inf = math.inf
    assert report.censored_median([3, 5, 9]) == 5
    assert report.censored_median([3, 5, 9, 11]) == 7
    # a median that falls on a seed without a hit is only known to exceed the budget
    assert math.isinf(report.censored_median([3, inf, inf]))
    assert report.censored_median([3, 4, inf]) == 4
    assert report.ratio(12.0, 4.0, 30) == (3.0, "3.00")
    v, text = report.ratio(inf, 5.0, 30)  # baseline never hit: at least 31 / 5
    assert v == pytest.approx(31 / 5) and text == "> 6.2"
    v, text = report.ratio(3.0, inf, 30)
    assert v == pytest.approx(3 / 31) and text.startswith("< ")
    assert math.isnan(report.ratio(inf, inf, 30)[0])


def test_best_curve_is_the_running_minimum_of_intact_structures():
    """The best-found curve: inf before the first intact structure, the running minimum
    after it (broken and unconverged ones never count), frozen to the budget after a run
    stops at its hit; the table calls a median within the tolerance a hit."""
    doc = _doc("nabh4z4", "csp-ga", 1, hits_at=None, budget=6)
    for r, h in zip(doc["relaxations"], (-0.5, -0.98, -0.99, -0.97, -0.995, -0.9)):
        r["enthalpy_per_atom"] = h
    doc["relaxations"][0]["units_intact"] = False  # lowest of all, but its units broke
    doc["relaxations"][2]["status"] = "failed"  # stopped unconverged: never a best
    curve = report.best_curve(doc, 6)
    assert curve[0] == math.inf
    assert curve[1:] == pytest.approx([20.0, 20.0, 20.0, 5.0, 5.0])
    stopped = _doc("nabh4z4", "csp-random", 1, hits_at=3, budget=6)  # stopped at its hit
    assert report.best_curve(stopped, 6) == pytest.approx([50.0, 50.0, 0, 0, 0, 0])
    curves = report.best_curves([doc, stopped], ["nabh4z4"], ["csp-ga", "csp-random"])
    rows = report.best_after_table(curves, ["nabh4z4"], ["csp-ga", "csp-random"], 0.002)
    assert rows[2] == "| nabh4z4 | csp-ga | none (1) | +20.0 (3) | +5.0 (6) |"
    assert rows[3] == "| nabh4z4 | csp-random | +50.0 (1) | hit (3) | hit (6) |"
    assert report._quantile([1.0, 3.0, math.inf], 0.5) == 3.0
    assert math.isinf(report._quantile([1.0, math.inf], 0.5))


def test_polish_table_counts_misses_as_beyond_the_budget(tmp_path):
    """polish.py's records: success and censored median of the loose and the polished
    hits per method, and each baseline / csp-ga only on the seeds both were polished on."""
    def run(loose, polished, n=60):
        return {"first_loose_hit": loose, "first_polished_hit": polished,
                "polishes_to_it": 1 if polished else None, "relaxations": n,
                "stopped_before": False}

    record = {"system": "nabh4z4", "window": 0.006, "relaxer": {"name": "sevennet"},
              "runs": {"csp-ga/1": run(None, 14), "csp-ga/2": run(None, None),
                       "csp-ga/3": run(54, 30, n=54), "csp-random/1": run(None, 40),
                       "csp-random/2": run(None, None), "csp-random/3": run(None, None)}}
    (tmp_path / "polish").mkdir()
    (tmp_path / "polish" / "nabh4z4.json").write_text(json.dumps(record))
    lines = report.polish_table(tmp_path, ["nabh4z4", "srb12"])
    assert lines[2].endswith("| 1/3, > 60 | 2/3, 30 | 1 |") and "| csp-ga | 1-3 | 6 |" in lines[2]
    assert lines[3].endswith("| 0/3, > 60 | 1/3, > 60 | 1 |")
    assert lines[-1] == "- nabh4z4: csp-random / csp-ga on the polished hits > 2.0"
    record["runs"].update({"pyxtal/1": run(None, 20), "pyxtal/2": run(None, 50),
                           "pyxtal/3": run(None, None)})
    (tmp_path / "polish" / "nabh4z4.json").write_text(json.dumps(record))
    assert report.polish_table(tmp_path, ["nabh4z4"])[-2:] == [
        "- nabh4z4: csp-random / csp-ga on the polished hits > 2.0",
        "- nabh4z4: pyxtal / csp-ga on the polished hits 1.67"]
    record["runs"]["csp-random/4"] = run(None, 5)  # a seed the GA was not polished on
    (tmp_path / "polish" / "nabh4z4.json").write_text(json.dumps(record))
    assert report.polish_table(tmp_path, ["nabh4z4"])[-1].startswith("- nabh4z4: pyxtal")
    del record["runs"]["pyxtal/1"]
    (tmp_path / "polish" / "nabh4z4.json").write_text(json.dumps(record))
    assert not report.polish_table(tmp_path, ["nabh4z4"])[-1].startswith("- ")
    assert report.polish_table(tmp_path / "elsewhere", ["nabh4z4"]) == []


def test_first_hit_counts_every_relaxation_and_rejects_broken_units():
    doc = _doc("srb12", "csp-ga", 1, hits_at=4)
    assert report.first_hit(doc, 0.002) == 4
    doc["relaxations"][3]["units_intact"] = False  # the only low structure lost its unit
    assert report.first_hit(doc, 0.002) is None
    doc["relaxations"][3].update(units_intact=True, status="failed")  # not converged
    assert report.first_hit(doc, 0.002) is None
    doc = _doc("srb12", "csp-ga", 1, hits_at=None)
    assert report.first_hit(doc, 0.002) is None


def test_a_variable_composition_hit_must_be_the_target_compound():
    from systems import get_system

    vc = get_system("cab6vc")
    assert vc.variable and not get_system("cab6").variable
    assert vc.on_target({"B6": 1}, {"Ca": 1}) and vc.on_target({"B6": 2}, {"Ca": 2})
    assert not vc.on_target({"B6": 2}, {"Ca": 1}) and not vc.on_target({}, {"Ca": 7})
    doc = _doc("cab6vc", "csp-ga", 1, hits_at=3, budget=40)
    # a B6-richer cell lies lower in enthalpy per atom than CaB6 but is not the target
    doc["relaxations"][1].update(enthalpy_per_atom=-1.5, on_target=False)
    doc["relaxations"][2]["on_target"] = True
    assert report.first_hit(doc, 0.002) == 3
    doc["relaxations"][2]["on_target"] = False
    assert report.first_hit(doc, 0.002) is None


def test_a_search_in_larger_cells_keeps_the_one_formula_unit_reference():
    from dataclasses import replace

    from systems import get_system, reference_genome

    z2 = get_system("srb12z2")
    assert z2.formula_units == (2,) and not z2.on_target({"B12": 1}, {"Sr": 1})
    ref = reference_genome(z2)  # simple-cubic SrB12, one formula unit: accepted
    assert ref.unit_counts() == {"B12": 1} and ref.atom_counts() == {"Sr": 1}
    with pytest.raises(ValueError, match="not a whole number"):  # not SrB12 at all
        reference_genome(replace(z2, composition="Sr2 (B12)1"))
    with pytest.raises(ValueError, match="bab12x"):  # variable composition: must be on target
        reference_genome(replace(get_system("cab6vc"), name="bab12x", reference="sc-xb12:Ba"))


def test_verdict_and_cost_from_run_documents(tmp_path):
    # GA hits at 2, 4, 6 relaxations; random at 9, 12, never; ase-ga at 1, 2, 3
    plan = {"csp-ga": (2, 4, 6), "csp-random": (9, 12, None), "ase-ga": (1, 2, 3)}
    groups = {}
    for method, hits in plan.items():
        docs = [_doc("cab6", method, s, h, wall=120.0) for s, h in enumerate(hits, 1)]
        groups[("cab6", method)] = report.cell_stats(docs, 0.002)
    st = groups[("cab6", "csp-ga")]
    assert (st["hits"], st["n"], st["median"], st["min"], st["max"]) == (3, 3, 4, 2, 6)
    assert groups[("cab6", "csp-random")]["hits"] == 2
    assert groups[("cab6", "csp-random")]["median"] == 12
    table, verdict = report.ratio_section(groups, ["cab6"], list(plan))
    text = "\n".join(table + verdict)
    assert "| cab6 | 3.00 | 0.50 |" in text
    assert "csp-ga vs csp-random: target MET" in text  # 12 / 4 = 3
    assert "csp-ga vs ase-ga: target NOT MET" in text
    assert "does not need fewer relaxations than ase-ga on: cab6" in text
    cost = report.cost_table(groups, ["cab6"], list(plan))
    # three methods x three runs x 2 min = 18 min; 9 min on two cores
    assert cost[2] == "| cab6 | 6 | 6 | 6 | 18 | 9 |"


def test_shared_start_counts_seeds_decided_before_breeding():
    """Seeds hit within the GA's random start tie with the random search by
    construction; the table counts them and checks the tie."""
    ga = [_doc("srb12", "csp-ga", s, h) for s, h in enumerate((3, 7, 10, 15, None), 1)]
    rnd = [_doc("srb12", "csp-random", s, h) for s, h in enumerate((3, 7, 10, 25, None), 1)]
    for d in ga:
        d["method_settings"] = {"initial_population": 10}
    lines = report.shared_start(ga + rnd, ["srb12"], 0.002)
    assert lines[2] == "| srb12 | 3/5 (P = 10) | 3/3 | 2 | yes |"
    rnd[1] = _doc("srb12", "csp-random", 2, 8)  # a random run that departs: counted
    ga[2] = _doc("srb12", "csp-ga", 3, 12)
    ga[2]["method_settings"] = {"initial_population": 10}
    lines = report.shared_start(ga + rnd, ["srb12"], 0.002)
    assert lines[2] == "| srb12 | 2/5 (P = 10) | 1/2 | 3 | no |"
    assert report.shared_start(ga, ["srb12"], 0.002) == []  # no random runs: no table


def test_verdict_names_the_ratio_where_breeding_decides():
    """The verdict adds the csp-random / csp-ga median over the systems whose ratio the
    shared random start does not fix, and leaves out those it does."""
    docs = []
    # srb12: every GA seed hits inside its random start (ratio fixed at 1)
    for s in (1, 2, 3):
        docs += [_doc("srb12", "csp-ga", s, 2), _doc("srb12", "csp-random", s, 2)]
    # nabh4t: GA hits after its start at 12, 16, 20 against 30, 40, > 60 for random
    for s, (g, r) in enumerate(((12, 30), (16, 40), (20, None)), 1):
        docs += [_doc("nabh4t", "csp-ga", s, g, budget=60),
                 _doc("nabh4t", "csp-random", s, r, budget=60)]
    for d in docs:
        d["method_settings"] = {"initial_population": 10}
    systems, methods = ["srb12", "nabh4t"], ["csp-ga", "csp-random"]
    stats = report._stats(docs, 0.002)
    extra = report.breeding_verdict(stats, docs, systems, 0.002)
    assert extra == [("  Over the systems where breeding decides the median (the shared random "
                      "start does not fix it): nabh4t 2.50; median 2.50.")]
    _, verdict = report.ratio_section(stats, systems, methods, {"csp-random": extra})
    assert "target NOT MET" in verdict[0] and "= 1.75" in verdict[0]  # median of 1 and 2.5
    assert verdict[1] == "  csp-ga does not need fewer relaxations than csp-random on: srb12."
    assert verdict[2] == extra[0]
    fixed_only = [d for d in docs if d["system"] == "srb12"]
    assert report.breeding_verdict(stats, fixed_only, ["srb12"], 0.002) == []


def test_paired_table_compares_seed_by_seed_with_a_sign_test():
    """Seed k of the GA against seed k of the random search: earlier / same / later,
    a miss counted past the budget, and the exact two-sided sign test over the seeds
    that differ."""
    ga = [_doc("nabh4t", "csp-ga", s, h, budget=60)
          for s, h in enumerate((5, 9, 12, 20, 31, None, 8, 14, None), 1)]
    rnd = [_doc("nabh4t", "csp-random", s, h, budget=60)
           for s, h in enumerate((5, 30, None, 44, None, None, 50, None, 40), 1)]
    lines = report.paired_table(ga + rnd, ["nabh4t"], 0.002)
    # earlier on seeds 2, 3, 4, 5, 7, 8 (6); same on 1 and 6 (a miss in both); later on 9
    # (a GA miss after a random hit at 40); P(>= 6 of 7 or <= 1 of 7) = 16 / 128
    assert lines[2] == "| nabh4t | 9 | 6 | 2 | 1 | 6/7 | 0.12 |"
    # a second system adds a pooled row; 9 of 10 differing seeds earlier: p = 22 / 1024
    ga2 = [_doc("cab6", "csp-ga", s, 2) for s in (1, 2, 3)]
    rnd2 = [_doc("cab6", "csp-random", s, 9) for s in (1, 2, 3)]
    lines = report.paired_table(ga + rnd + ga2 + rnd2, ["nabh4t", "cab6"], 0.002)
    assert lines[3] == "| cab6 | 3 | 3 | 0 | 0 | 3/3 | 0.25 |"
    assert lines[4] == "| **all systems** | 12 | 9 | 2 | 1 | 9/10 | 0.02 |"
    assert report.paired_table(ga, ["nabh4t"], 0.002) == []  # no random runs: no table


def test_origin_table_splits_random_starts_from_each_operator():
    doc = _doc("alphab", "csp-ga", 1, hits_at=5)
    for r, origin, status in zip(doc["relaxations"], ("symmetric", "symmetric", "symmetric",
                                                      "soft:soft", "rotation:rotation"),
                                 ("relaxed", "failed", "unconverged", "duplicate", "relaxed")):
        r.update(origin=origin, csp_status=status)
    lines = report.origin_table([doc, _doc("alphab", "csp-random", 1, 2)], ["alphab"])
    # columns: new, duplicate, broken, stopped at the step cap (a parent), failed, and
    # relaxations ending intact within 6 meV/atom of the reference (_doc puts every
    # relaxation but the hit 50 meV/atom above it)
    assert lines[2:] == ["| alphab | random start | 3 | 33% | 0% | 0% | 33% | 33% | 0% |",
                         "| alphab | rotation | 1 | 100% | 0% | 0% | 0% | 0% | 100% |",
                         "| alphab | soft | 1 | 0% | 100% | 0% | 0% | 0% | 0% |"]
    assert report.origin_table([_doc("alphab", "ase-ga", 1, 2)], ["alphab"]) == []


def test_tolerance_table_shows_hits_that_a_looser_tolerance_moves():
    """A GA run whose structure 3 meV/atom above the reference comes at relaxation 5
    hits there at 4 meV/atom, not at 2: the table shows both and the ratio at each."""
    ga, rnd = _doc("nabh4t", "csp-ga", 1, 20, budget=60), _doc("nabh4t", "csp-random", 1, 10,
                                                                 budget=60)
    ga["relaxations"][4]["enthalpy_per_atom"] = -1.0 + 0.003
    runs = [ga, rnd]
    stats_at = {t: report._stats(runs, t) for t in (0.002, 0.004)}
    lines = report.tolerance_table(stats_at, ["nabh4t"], ["csp-ga", "csp-random"])
    assert lines[0] == "| system | method | 2 meV/atom | 4 meV/atom |"
    assert lines[2:] == ["| nabh4t | csp-ga | 20 (1/1) | 5 (1/1) |",
                         "| nabh4t | csp-random | 10 (1/1) | 10 (1/1) |",
                         "| nabh4t | csp-random / csp-ga | 0.50 | 2.00 |"]


def test_each_system_is_reported_at_its_own_budget(capsys):
    runs = [_doc("srb12", "csp-ga", 1, 4), _doc("nabh4t", "csp-ga", 1, 40, budget=60),
            _doc("nabh4t", "csp-ga", 2, 30, budget=60), _doc("nabh4t", "csp-ga", 3, 5)]
    kept = report._one_budget_per_system(runs, None)
    assert [(d["system"], d["budget"]) for d in kept] == [("srb12", 30), ("nabh4t", 60),
                                                          ("nabh4t", 60)]
    assert "nabh4t: runs with budgets" in capsys.readouterr().err
    prov = report.provenance(kept)
    assert report._budget_line(prov, ["srb12", "nabh4t"]) == (
        "- Budget: srb12: 30 relaxations per run, seeds 1; nabh4t: 60 relaxations per run, "
        "seeds 1, 2.")


def _table(text: str, heading: str) -> list[str]:
    block = text.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    return [line for line in block.splitlines() if line.startswith("|")]


def test_pilot_systems_keep_common_seeds_and_stay_out_of_the_verdict(tmp_path):
    pytest.importorskip("matplotlib")
    root = tmp_path / "camp"
    plan = {("srb12", "csp-ga"): (2, 4, 6), ("srb12", "csp-random"): (9, 12, None),
            # pilot: the GA finished seeds 1-3, random search only 1-2 (still running)
            ("srb12z2", "csp-ga"): (3, 20, 5), ("srb12z2", "csp-random"): (3, 40)}
    for (system, method), hits in plan.items():
        for seed, at in enumerate(hits, 1):
            path = root / "runs" / system / method / f"seed{seed}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(_doc(system, method, seed, at, budget=60)))
    kept = report._common_seeds(report.load_runs(root, ["srb12z2"], None), ["srb12z2"])
    assert sorted((d["method"], d["seed"]) for d in kept) == [
        ("csp-ga", 1), ("csp-ga", 2), ("csp-random", 1), ("csp-random", 2)]
    out = tmp_path / "R.md"
    assert report.main(["--outroot", str(root), "--out", str(out), "--plot",
                        str(tmp_path / "p.png"), "--systems", "srb12", "--pilot",
                        "srb12z2"]) == 0
    text = out.read_text()
    verdict = text.split("## Verdict", 1)[1].split("\n## ", 1)[0]
    # srb12 alone decides it: median 12 / median 4 (with srb12z2, the median would be 2.43)
    assert "srb12z2" not in verdict and "median(csp-random) / median(csp-ga) = 3.00" in verdict
    pilot = _table(text, "Pilot: larger cells")
    assert "| srb12z2 | csp-ga | 2/2 | 11.5 | 3-20 |" in "\n".join(pilot)
    assert "| srb12z2 | csp-random | 2/2 | 21.5 | 3-40 |" in "\n".join(pilot)
    assert "| srb12z2 | 1.87 |" in pilot  # 21.5 / 11.5, on the two common seeds
    assert "--seeds 1 2 --budget 60" in text.split("## Pilot", 1)[1]
    with pytest.raises(SystemExit):  # a system cannot be both
        report.parse_args(["--systems", "srb12", "--pilot", "srb12"])


def test_committed_results_are_what_the_records_give(tmp_path):
    """benchmarks/RESULTS.md's tables are regenerated from the committed run records."""
    pytest.importorskip("matplotlib")
    results = ROOT / "benchmarks" / "RESULTS.md"
    committed = results.read_text()
    command = next(line for line in committed.splitlines()
                   if line.startswith("python benchmarks/search/report.py"))
    argv = command.split()[2:]
    args = dict(zip(argv[::2], argv[1::2]))
    outroot = ROOT / args["--outroot"]
    out, plot, best = tmp_path / "RESULTS.md", tmp_path / "success.png", tmp_path / "best.png"
    systems = re.search(r"--systems ((?:\w+ ?)+?)(?= --|$)", command).group(1).split()
    methods = re.search(r"--methods ((?:[\w-]+ ?)+?)(?= --|$)", command).group(1).split()
    pilot = re.search(r"--pilot ((?:\w+ ?)+?)(?= --|$)", command)
    pilot = pilot.group(1).split() if pilot else []
    ablation = re.search(r"--ablation ((?:[\w/.-]+ ?)+?)(?= --|$)", command)
    ablation = [str(ROOT / a) for a in ablation.group(1).split()] if ablation else []
    code = report.main(["--outroot", str(outroot), "--out", str(out), "--plot", str(plot),
                        "--plot-best", str(best), "--tolerance", args["--tolerance"],
                        "--systems", *systems,
                        "--methods", *methods] + (["--pilot", *pilot] if pilot else [])
                       + (["--ablation", *ablation] if ablation else []))
    assert code == 0
    fresh = out.read_text()
    for heading in ("Results", "Relaxations to first hit: baseline / csp-ga (median over seeds)",
                    "Relaxations to first hit at looser hit tolerances",
                    "Best structure found vs relaxations",
                    "Staged protocol: near-target structures polished", "Lowest enthalpy found",
                    "Compute cost") + (
                        ("Pilot: larger cells",) if pilot else ()) + (
                        ("Ablations: variants of csp-ga",) if ablation else ()):
        assert _table(fresh, heading) == _table(committed, heading), heading


def test_ablation_rows_compare_a_variant_seed_by_seed(tmp_path):
    pytest.importorskip("matplotlib")
    root, variant = tmp_path / "camp", tmp_path / "discard"
    plan = {(root, "nabh4t", "csp-ga"): (30, 12, None, 8),
            (root, "nabh4t", "csp-random"): (20, 40, 50, 8),
            # the variant: earlier on seeds 1 and 3, the same on 4, later on 2
            (variant, "nabh4t", "csp-ga-discard"): (10, 25, 40, 8),
            # a second system: the variant earlier on both seeds (no csp-random runs)
            (root, "cab6", "csp-ga"): (4, 6), (variant, "cab6", "csp-ga-discard"): (1, 2)}
    for (where, system, method), hits in plan.items():
        for seed, at in enumerate(hits, 1):
            path = where / "runs" / system / method / f"seed{seed}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(_doc(system, method, seed, at, budget=60)))
    out = tmp_path / "R.md"
    assert report.main(["--outroot", str(root), "--out", str(out), "--plot",
                        str(tmp_path / "p.png"), "--ablation", str(variant)]) == 0
    text = out.read_text()
    rows = _table(text, "Ablations: variants of csp-ga")
    # variant medians (10, 25, 40, 8) -> 17.5; csp-ga (30, 12, >60, 8) -> 21; random 30
    assert ("| discard | nabh4t | csp-ga-discard (000000000000) | 1-4 | 4/4, 17.5 | "
            "3/4, 21 | 4/4, 30 | 1.71 | 2 / 1 / 1 (p = 1.00) |") in rows
    assert "| discard | cab6 | csp-ga-discard (000000000000) | 1-2 | 2/2, 1.5 | 2/2, 5 | " \
        "not run | not run | 2 / 0 / 0 (p = 0.50) |" in rows
    # pooled over the systems: earlier on 4 of the 5 seeds that differ, p = 12 / 32
    assert "| discard | **all systems** | | 6 seeds | | | | | 4 / 1 / 1 (p = 0.375) |" in rows
    assert ("--systems nabh4t --methods csp-ga-discard --seeds 1 2 3 4 --budget 60"
            in text.split("## Ablations", 1)[1])
    verdict = text.split("## Verdict", 1)[1].split("\n## ", 1)[0]
    assert "discard" not in verdict  # variants stay out of the verdict
    assert f"--ablation {variant}" in text.split("## Regenerate", 1)[1]
    assert report.main(["--outroot", str(root), "--out", str(out), "--plot",
                        str(tmp_path / "p.png"), "--ablation", str(tmp_path / "none")]) == 1
