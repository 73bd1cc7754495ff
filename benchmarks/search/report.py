"""Tables and the success plot of a benchmark campaign (see run.py).

    python benchmarks/search/report.py --outroot runs/bench
        [--out benchmarks/RESULTS.md] [--plot benchmarks/search/success.png]
        [--tolerance 0.002] [--budget N] [--systems ...] [--methods ...] [--notes F]
        [--pilot SYSTEM ...] [--ablation OUTROOT ...]

Reads every ``<outroot>/runs/<system>/<method>/seed<S>.json``, re-applies the hit
criterion (``common.is_hit``: relaxed, units intact, H/atom <= reference + tolerance)
and writes, per system x method: success rate, relaxations to the first hit (median
and range; a seed without a hit counts as "> budget"), mean wall time per run; the
csp-GA / random-search and csp-GA / ase-ga ratios of the median relaxations to a hit
per system and over systems, with a plain verdict on the issue's targets; the relaxer,
the commits and the commands that regenerate everything. The plot has one panel per
system: the fraction of seeds that have hit by N relaxations, per method (AGOX-style
step curves). ``--pilot`` systems (a first look with fewer seeds, e.g. larger cells) get
their own section, on the seeds every method finished, and stay out of the verdict and
the plot. ``--ablation`` outroots hold runs of csp-ga variants (e.g. ``csp-ga-discard``,
or csp-ga at another commit), each compared seed by seed with the campaign's csp-ga and
csp-random.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from common import HIT_TOLERANCE, first_index, intact_target, is_hit, read_json
from systems import SYSTEMS

GA, RANDOM = "csp-ga", "csp-random"
BASELINES = ("csp-random", "ase-ga", "ase-ga-reject", "ase-ga-vanilla", "pyxtal", "pyxtal-raw")
METHOD_ORDER = ("csp-ga",) + BASELINES
TARGET_RANDOM_RATIO = 3.0
#: "next to the target" in the origin table, eV/atom above the reference
NEAR = 0.006
#: the hit tolerances of the sensitivity table, as multiples of --tolerance
SENSITIVITY = (1.0, 2.0, 3.0)
DESCRIPTIONS = {
    "csp-ga": "csp's genetic algorithm (rigid units, symmetric random start, heredity/mutations; "
              "relaxations stopped at the step cap are parents, csp's default)",
    "csp-random": "csp's random symmetric search, `random_fraction = 1` (no variation: "
                  "AIRSS-style baseline)",
    "ase-ga": "ase-ga bulk GA with tags (molecular-crystal tutorial settings, unit-gathering "
              "fix, pre-relaxation unit screen), see run_asega.py",
    "ase-ga-reject": "ase-ga as above, relaxed structures with broken units killed",
    "ase-ga-vanilla": "ase-ga without the gathering fix and the unit screen",
    "pyxtal": "PyXtal random molecular crystals (random accepted space group), compressed "
              "rigidly to csp's volume estimate, one relaxation each",
    "pyxtal-raw": "PyXtal random molecular crystals at PyXtal's own volume",
}


# ------------------------------------------------------------------ loading
def load_runs(outroot: Path, systems=None, methods=None) -> list[dict]:
    """Every run document under ``outroot/runs`` (optionally filtered)."""
    runs = []
    for path in sorted((Path(outroot) / "runs").glob("*/*/seed*.json")):
        doc = read_json(path)
        if doc is None or (systems and doc["system"] not in systems) or (
                methods and doc["method"] not in methods):
            continue
        runs.append(doc)
    return runs


def first_hit(doc: dict, tol: float) -> int | None:
    ref = doc["reference_enthalpy_per_atom"]
    return first_index(doc["relaxations"], lambda r: is_hit(r, ref, tol))


# ------------------------------------------------------------------ statistics
def _quantile(values: list[float], q: float) -> float:
    """The q-quantile (linear interpolation) of values that may hold inf ("nothing yet"):
    inf when it falls on or next to one."""
    v = sorted(values)
    x = q * (len(v) - 1)
    lo, hi = math.floor(x), math.ceil(x)
    if math.isinf(v[hi]):
        return math.inf
    return v[lo] + (v[hi] - v[lo]) * (x - lo)


def censored_median(values: list[float]) -> float:
    """Median where inf stands for "no hit within the budget" (inf if it is censored)."""
    return _quantile(values, 0.5) if values else math.nan


def cell_stats(docs: list[dict], tol: float) -> dict:
    """Statistics of one system x method."""
    budget = max(d["budget"] for d in docs)
    hits = [first_hit(d, tol) for d in docs]
    vals = [float(h) if h is not None else math.inf for h in hits]
    found = [h for h in hits if h is not None]
    matches = [d["summary"].get("first_match") for d in docs]
    best = [d["summary"]["best_minus_reference_meV"] for d in docs]
    best = [b for b in best if b is not None and math.isfinite(b)]
    return {"n": len(docs), "hits": len(found), "budget": budget, "values": vals,
            "median": censored_median(vals), "min": min(found) if found else None,
            "max": max(found) if found else None,
            "match": sum(m is not None for m in matches),
            "best_meV": statistics.median(best) if best else math.nan,
            "min_meV": min(best) if best else math.nan,
            "intact": sum(d["summary"]["n_intact"] for d in docs) / max(1, sum(
                d["summary"]["n_relaxations"] for d in docs)),
            "wall": statistics.mean(d["run_wall_s"] for d in docs),
            "relax_wall": statistics.mean(d["summary"]["relax_wall_s"] for d in docs),
            "wall_total": sum(d["run_wall_s"] for d in docs),
            "relaxations": statistics.mean(d["summary"]["n_relaxations"] for d in docs)}


def ratio(other: float, ga: float, budget: int) -> tuple[float, str]:
    """(value, text) of median(other) / median(GA); censored medians give bounds."""
    if math.isnan(other) or math.isnan(ga):
        return math.nan, "n/a"
    if math.isinf(other) and math.isinf(ga):
        return math.nan, f"n/a (both medians > {budget})"
    if math.isinf(other):
        r = (budget + 1) / ga
        return r, f"> {r:.1f}"
    if math.isinf(ga):
        r = other / (budget + 1)
        return r, f"< {r:.2f}"
    return other / ga, f"{other / ga:.2f}"


# ------------------------------------------------------------------ tables
def _fmt_median(st: dict) -> str:
    m = st["median"]
    return f"> {st['budget']}" if math.isinf(m) else f"{m:g}"


def _fmt_range(st: dict) -> str:
    if st["hits"] == 0:
        return "-"
    rng = f"{st['min']}-{st['max']}"
    return rng + (f" (+{st['n'] - st['hits']} > {st['budget']})" if st["hits"] < st["n"] else "")


def stats_table(stats: dict, systems: list[str], methods: list[str]) -> list[str]:
    lines = [("| system | method | success | relaxations to first hit: median | min-max | "
              "StructureMatcher found | best ΔH (median, min) meV/atom | units intact | "
              "wall per run (s) | relaxation time per run (s) |"),
             "|---|---|---|---|---|---|---|---|---|---|"]
    for s in systems:
        for m in methods:
            st = stats.get((s, m))
            if st is None:
                continue
            lines.append(
                f"| {s} | {m} | {st['hits']}/{st['n']} | {_fmt_median(st)} | {_fmt_range(st)} | "
                f"{st['match']}/{st['n']} | {st['best_meV']:+.1f}, {st['min_meV']:+.1f} | "
                f"{100 * st['intact']:.0f}% | {st['wall']:.0f} | {st['relax_wall']:.0f} |")
    return lines


def ratio_rows(stats: dict, systems: list[str], other: str) -> list[tuple[str, float, str]]:
    """Per system: (system, value, text) of median(other) / median(csp-ga)."""
    out = []
    for s in systems:
        ga, ot = stats.get((s, GA)), stats.get((s, other))
        if ga is None or ot is None:
            continue
        v, text = ratio(ot["median"], ga["median"], max(ga["budget"], ot["budget"]))
        out.append((s, v, text))
    return out


def ratio_section(stats: dict, systems: list[str], methods: list[str],
                  extra: dict | None = None) -> tuple[list[str], list[str]]:
    """Lines of the ratio table and the verdict lines (``extra``: lines added to a
    baseline's verdict)."""
    others = [m for m in methods if m != GA]
    if GA not in methods or not others:
        return [], ["csp-ga or a baseline is missing: no ratios."]
    table = ["| system | " + " | ".join(f"{o} / csp-ga" for o in others) + " |",
             "|---|" + "---|" * len(others)]
    per = {o: {s: (v, t) for s, v, t in ratio_rows(stats, systems, o)} for o in others}
    for s in systems:
        table.append(f"| {s} | " + " | ".join(per[o].get(s, (math.nan, "not run"))[1]
                                             for o in others) + " |")
    overall = {}
    for o in others:
        vals = [v for v, _ in per[o].values() if math.isfinite(v)]
        overall[o] = statistics.median(vals) if vals else math.nan
        bounded = any(t.startswith((">", "<")) for _, t in per[o].values())
        table_val = f"{overall[o]:.2f}" + (" (includes bounds)" if bounded else "")
        overall[o] = (overall[o], table_val)
    table.append("| **median over systems** | " + " | ".join(
        overall[o][1] for o in others) + " |")
    return table, verdicts(overall, per, extra or {})


def verdicts(overall: dict, per: dict, extra: dict) -> list[str]:
    """Plain statements on the issue's targets (GA >= 3x fewer than random, fewer than
    ase-ga), including the systems where the GA does not win, and ``extra[baseline]``."""
    lines = []
    for o, target in ((RANDOM, TARGET_RANDOM_RATIO), ("ase-ga", 1.0)):
        if o not in overall:
            lines.append(f"- {o} was not run: no verdict on csp-ga vs {o}.")
            continue
        v, text = overall[o]
        want = f">= {target:g}" if target > 1 else "> 1"
        if not math.isfinite(v):
            lines.append(f"- **csp-ga vs {o}: undetermined** (no system where a ratio exists).")
            continue
        ok = v >= target if target > 1 else v > target
        lines.append(f"- **csp-ga vs {o}: target {'MET' if ok else 'NOT MET'}**: median over "
                     f"systems of median({o}) / median(csp-ga) = {text} (target {want}).")
        losing = [s for s, (r, t) in per[o].items() if math.isfinite(r) and r <= 1.0]
        unknown = [s for s, (r, t) in per[o].items() if not math.isfinite(r)]
        if losing:
            lines.append(f"  csp-ga does not need fewer relaxations than {o} on: "
                         f"{', '.join(losing)}.")
        if unknown:
            lines.append(f"  Undetermined (neither median within the budget) on: "
                         f"{', '.join(unknown)}; the median over systems leaves them out.")
        lines += extra.get(o, [])
    return lines


def _paired_runs(runs: list[dict], systems: list[str]):
    """(system, csp-ga runs by seed, csp-random runs by seed, the seeds both ran) for
    each system where both methods ran."""
    for s in systems:
        ga = {d["seed"]: d for d in runs if d["system"] == s and d["method"] == GA}
        rnd = {d["seed"]: d for d in runs if d["system"] == s and d["method"] == RANDOM}
        seeds = sorted(set(ga) & set(rnd))
        if seeds:
            yield s, ga, rnd, seeds


def shared_start(runs: list[dict], systems: list[str], tol: float) -> list[str]:
    """Per system: how many csp-ga seeds hit inside the GA's random start.

    The GA's first ``initial_population`` relaxations are random symmetric structures
    drawn on the same seeded streams as csp-random's, so a seed that hits inside them
    hits at the same relaxation in both (the table checks it); where that is true of
    more than half the seeds the two medians are equal by construction and the ratio is
    1 whatever breeding does. Empty when either method is missing."""
    lines = [("| system | csp-ga seeds hit within its random start (first P) | of those, "
              "csp-random hit at the same relaxation | seeds left to breeding (hit after P "
              "or not at all) | ratio fixed at 1 by the shared start |"),
             "|---|---|---|---|---|"]
    for s, (pop, inside, same, n, fixed) in _start_hits(runs, systems, tol).items():
        lines.append(f"| {s} | {len(inside)}/{n} (P = {pop}) | {same}/{len(inside)} | "
                     f"{n - len(inside)} | {'yes' if fixed else 'no'} |")
    return lines if len(lines) > 2 else []


def _start_hits(runs: list[dict], systems: list[str], tol: float) -> dict:
    """Per system with csp-ga and csp-random runs of one initial population P:
    (P, the csp-ga seeds that hit within the first P relaxations, how many of those
    csp-random hit at the same relaxation, seeds, whether that fixes the ratio at 1: more
    than half the seeds hit inside the shared start)."""
    out = {}
    for s, ga, rnd, seeds in _paired_runs(runs, systems):
        pops = {int(ga[k].get("method_settings", {}).get("initial_population", 0))
                for k in seeds}
        if len(pops) != 1 or 0 in pops:
            continue
        (pop,) = pops
        hit = {k: first_hit(ga[k], tol) for k in seeds}
        inside = [k for k in seeds if hit[k] is not None and hit[k] <= pop]
        same = sum(first_hit(rnd[k], tol) == hit[k] for k in inside)
        out[s] = (pop, inside, same, len(seeds), 2 * len(inside) > len(seeds))
    return out


def breeding_verdict(stats: dict, runs: list[dict], systems: list[str],
                     tol: float) -> list[str]:
    """The csp-random / csp-ga ratio over the systems whose median the shared random
    start does not fix (at most half the GA's seeds hit inside it): where breeding, not
    the draws both methods share, decides the comparison."""
    free = [s for s, (*_, fixed) in _start_hits(runs, systems, tol).items() if not fixed]
    rows = ratio_rows(stats, free, RANDOM)
    vals = [v for _, v, _ in rows if math.isfinite(v)]
    if not vals:
        return []
    bounded = any(t.startswith((">", "<")) for _, _, t in rows)
    return [(f"  Over the systems where breeding decides the median (the shared random start "
             f"does not fix it): {', '.join(f'{s} {t}' for s, _, t in rows)}; median "
             f"{statistics.median(vals):.2f}{' (includes bounds)' if bounded else ''}.")]


def paired_table(runs: list[dict], systems: list[str], tol: float) -> list[str]:
    """Per system and pooled: csp-ga against csp-random seed by seed.

    The two draw their random structures on the same seeded streams, so seed ``k`` of
    one is the paired twin of seed ``k`` of the other: a seed where they differ is one
    where breeding changed the outcome. A seed without a hit counts as budget + 1 (a
    miss in both is a tie). The p value is the two-sided exact sign test of "breeding
    is as likely to make the first hit later as earlier" over the seeds that differ:
    small only if the GA is earlier (or later) on most of them. Empty when either method
    is missing."""
    from scipy.stats import binomtest

    lines = [("| system | seeds | GA earlier | same relaxation | GA later | GA earlier on "
              "the seeds that differ | sign test p (two-sided) |"),
             "|---|---|---|---|---|---|---|"]
    total = Counter()

    def row(name: str, c: Counter) -> str:
        differ = c["earlier"] + c["later"]
        p = f"{binomtest(c['earlier'], differ).pvalue:.2f}" if differ else "-"
        share = f"{c['earlier']}/{differ}" if differ else "-"
        return (f"| {name} | {differ + c['same']} | {c['earlier']} | {c['same']} | "
                f"{c['later']} | {share} | {p} |")

    for s, ga, rnd, seeds in _paired_runs(runs, systems):
        c = _paired_counts(ga, rnd, seeds, tol)
        total.update(c)
        lines.append(row(s, c))
    if len(lines) == 2:
        return []
    if len(lines) > 3:
        lines.append(row("**all systems**", total))
    return lines


def _paired_counts(a: dict, b: dict, seeds: list, tol: float) -> Counter:
    """Seeds where run ``a[k]`` hit earlier / at the same relaxation / later than ``b[k]``
    (a seed without a hit counts as the larger budget + 1: a miss in both is a tie)."""
    c = Counter()
    for k in seeds:
        miss = max(a[k]["budget"], b[k]["budget"]) + 1
        x, y = first_hit(a[k], tol) or miss, first_hit(b[k], tol) or miss
        c["earlier" if x < y else "later" if x > y else "same"] += 1
    return c


def ablation_table(ablations: list[tuple[str, list[dict]]], runs: list[dict],
                   tol: float) -> list[str]:
    """One row per ablation x system x method: a variant of csp-ga (its runs in an
    outroot of their own) against the campaign's csp-ga and csp-random on the same seeds.

    The variant shares its seeded streams with both, so the seed-by-seed comparison with
    csp-ga says what the change did; "csp-random / variant" is the issue's ratio on the
    seeds the variant ran. Systems the campaign has no csp-ga runs of are left out."""
    from scipy.stats import binomtest

    lines = [("| ablation | system | method (commits) | seeds | variant: success, median | "
              "csp-ga: success, median | csp-random: success, median | csp-random / variant "
              "| variant vs csp-ga: earlier / same / later (sign test p) |"),
             "|---|---|---|---|---|---|---|---|---|"]

    def cell(docs: list[dict]) -> str:
        st = cell_stats(docs, tol)
        return f"{st['hits']}/{st['n']}, {_fmt_median(st)}"

    for name, docs in ablations:
        pooled, rows = Counter(), 0
        for s, m in sorted({(d["system"], d["method"]) for d in docs}):
            var = {d["seed"]: d for d in docs if d["system"] == s and d["method"] == m}
            ga = {d["seed"]: d for d in runs if d["system"] == s and d["method"] == GA}
            rnd = {d["seed"]: d for d in runs if d["system"] == s and d["method"] == RANDOM}
            seeds = sorted(set(var) & set(ga))
            if not seeds:
                continue
            commits = ", ".join(c for c, _ in provenance(list(var.values()))["commits"])
            v_st = cell_stats([var[k] for k in seeds], tol)
            c = _paired_counts(var, ga, seeds, tol)
            pooled.update(c)
            rows += 1
            differ = c["earlier"] + c["later"]
            p = f" (p = {binomtest(c['earlier'], differ).pvalue:.2f})" if differ else ""
            r_seeds = [k for k in seeds if k in rnd]
            if r_seeds:
                r_st = cell_stats([rnd[k] for k in r_seeds], tol)
                r_cell = cell([rnd[k] for k in r_seeds])
                r_text = ratio(r_st["median"], v_st["median"], v_st["budget"])[1]
            else:
                r_cell = r_text = "not run"
            lines.append(f"| {name} | {s} | {m} ({commits}) | {_seed_text(seeds)} | "
                         f"{cell([var[k] for k in seeds])} | {cell([ga[k] for k in seeds])} | "
                         f"{r_cell} | {r_text} | {c['earlier']} / {c['same']} / "
                         f"{c['later']}{p} |")
        differ = pooled["earlier"] + pooled["later"]
        if rows > 1 and differ:
            lines.append(f"| {name} | **all systems** | | {sum(pooled.values())} seeds | | | | | "
                         f"{pooled['earlier']} / {pooled['same']} / {pooled['later']} (p = "
                         f"{binomtest(pooled['earlier'], differ).pvalue:.3f}) |")
    return lines if len(lines) > 2 else []


def _seed_text(seeds: list[int]) -> str:
    """1, 2, 3, 5 -> "1-3, 5"."""
    parts, start = [], None
    for i, k in enumerate(seeds):
        if start is None:
            start = k
        if i + 1 == len(seeds) or seeds[i + 1] != k + 1:
            parts.append(f"{start}-{k}" if k > start else f"{k}")
            start = None
    return ", ".join(parts)


def origin_table(runs: list[dict], systems: list[str], near: float = NEAR) -> list[str]:
    """Per system: what csp-ga's relaxations became, random starts against each
    operator's children (csp's own status: a new structure, a duplicate of one already
    found, broken units, stopped at the step cap and kept as a parent, failed), and how
    many ended intact within ``near`` eV/atom of the reference (how often an origin lands
    next to the target). Empty without csp-ga runs."""
    lines = [("| system | origin | relaxations | new structure | duplicate | broken units | "
              "stopped at the step cap (a parent) | failed | within "
              f"{1000 * near:g} meV/atom of the reference |"),
             "|---|---|---|---|---|---|---|---|---|"]
    for s in systems:
        count: dict[str, Counter] = defaultdict(Counter)
        near_count: Counter = Counter()
        for d in runs:
            if d["system"] != s or d["method"] != GA:
                continue
            for r in d["relaxations"]:
                origin = str(r.get("origin") or "?").split(":")[0]
                origin = "random start" if origin in ("symmetric", "random") else origin
                count[origin][r.get("csp_status", "?")] += 1
                near_count[origin] += is_hit(r, d["reference_enthalpy_per_atom"], near)
        for origin in sorted(count, key=lambda o: (o != "random start", o)):
            c = count[origin]
            n = sum(c.values())
            pct = [f"{100 * c[k] / n:.0f}%" for k in ("relaxed", "duplicate", "broken_units",
                                                       "unconverged", "failed")]
            pct.append(f"{100 * near_count[origin] / n:.0f}%")
            lines.append(f"| {s} | {origin} | {n} | " + " | ".join(pct) + " |")
    return lines if len(lines) > 2 else []


def tolerance_table(stats_at: dict[float, dict], systems: list[str],
                    methods: list[str]) -> list[str]:
    """Median relaxations to first hit per system and method at several hit tolerances
    (``stats_at``: tolerance -> cell statistics), with csp-random / csp-ga at each."""
    tols = sorted(stats_at)
    head = "| system | method | " + " | ".join(f"{1000 * t:g} meV/atom" for t in tols) + " |"
    lines = [head, "|---|---|" + "---|" * len(tols)]
    for s in systems:
        for m in methods:
            cells = [stats_at[t].get((s, m)) for t in tols]
            if all(c is None for c in cells):
                continue
            lines.append(f"| {s} | {m} | " + " | ".join(
                f"{_fmt_median(c)} ({c['hits']}/{c['n']})" if c else "-" for c in cells) + " |")
        if GA in methods and RANDOM in methods:
            texts = []
            for t in tols:
                ga, rnd = stats_at[t].get((s, GA)), stats_at[t].get((s, RANDOM))
                texts.append(ratio(rnd["median"], ga["median"], max(ga["budget"], rnd["budget"]))[1]
                             if ga and rnd else "-")
            lines.append(f"| {s} | csp-random / csp-ga | " + " | ".join(texts) + " |")
    return lines


def best_table(runs: list[dict], systems: list[str], tol: float) -> list[str]:
    """Per system: the lowest intact enthalpy any run found vs the reference."""
    lines = [("| system | reference | reference H (eV/atom) | lowest found by any method "
              "(meV/atom vs reference) | by |"), "|---|---|---|---|---|"]
    for s in systems:
        docs = [d for d in runs if d["system"] == s]
        if not docs:
            continue
        best = min(docs, key=lambda d: _finite(d["summary"]["best_minus_reference_meV"]))
        b = best["summary"]["best_minus_reference_meV"]
        flag = " **(below the reference: not the ground state under this relaxer)**" \
            if math.isfinite(b) and b < -1000 * tol else ""
        lines.append(f"| {s} | {docs[0]['system_spec']['reference']} "
                     f"({docs[0]['reference_spacegroup']}) | "
                     f"{docs[0]['reference_enthalpy_per_atom']:.4f} | {b:+.1f}{flag} | "
                     f"{best['method']} seed {best['seed']} |")
    return lines


def _finite(x) -> float:
    return x if x is not None and math.isfinite(x) else math.inf


def best_curve(doc: dict, budget: int) -> list[float]:
    """ΔH (meV/atom above the reference) of the lowest intact target structure a run had
    found after each of its first ``budget`` relaxations (inf before the first). A run
    stopped at its first hit keeps that hit's ΔH to the budget: an upper bound of what it
    would have had, since the best can only go lower."""
    ref = doc["reference_enthalpy_per_atom"]
    found = {r["index"]: 1000 * (r["enthalpy_per_atom"] - ref)
             for r in doc["relaxations"] if intact_target(r)}
    out, best = [], math.inf
    for k in range(1, budget + 1):
        best = min(best, found.get(k, math.inf))
        out.append(best)
    return out


def best_curves(runs: list[dict], systems: list[str],
                methods: list[str]) -> dict[tuple[str, str], list[list[float]]]:
    """(system, method) -> the best_curve of each of its runs, to the system's budget."""
    out: dict[tuple[str, str], list[list[float]]] = {}
    for s in systems:
        docs = [d for d in runs if d["system"] == s]
        if not docs:
            continue
        budget = max(d["budget"] for d in docs)
        for m in methods:
            mine = [d for d in docs if d["method"] == m]
            if mine:
                out[(s, m)] = [best_curve(d, budget) for d in mine]
    return out


def best_after_table(curves: dict, systems: list[str], methods: list[str],
                     tol: float) -> list[str]:
    """Median over seeds of the best ΔH after a quarter, half and all of each system's
    budget; "hit" where that median is within the hit tolerance (runs stop at their first
    hit, so values below it are not comparable)."""
    lines = [("| system | method | after 1/4 of the budget | after 1/2 | after the budget |"),
             "|---|---|---|---|---|"]
    for s in systems:
        for m in methods:
            runs = curves.get((s, m))
            if not runs:
                continue
            budget = len(runs[0])
            cells = []
            for k in (budget // 4, budget // 2, budget):
                vals = [c[k - 1] for c in runs]
                med = censored_median(vals)
                txt = ("hit" if med <= 1000 * tol else f"{med:+.1f}") if math.isfinite(med) \
                    else "none"
                cells.append(f"{txt} ({k})")
            lines.append(f"| {s} | {m} | " + " | ".join(cells) + " |")
    return lines


def polish_table(outroot: Path, systems: list[str]) -> list[str]:
    """The staged-protocol records of ``polish.py`` (``<outroot>/polish/<system>.json``):
    per system and method, the seeds polished, how many found the phase once their
    near-target structures were re-relaxed tightly, the median relaxation of that first
    polished hit (a miss counts as > the budget), and the same seeds' loose hits; then
    each baseline / GA on the seeds both were polished on. Empty without records."""
    lines = [("| system | method | seeds polished | window (meV/atom) | polishing relaxer | "
              "loose hits: success, median | polished hits: success, median | polishes to "
              "the hit (median) |"),
             "|---|---|---|---|---|---|---|---|"]
    ratio_lines = []
    for s in systems:
        doc = read_json(Path(outroot) / "polish" / f"{s}.json")
        if not doc:
            continue
        by_method: dict[str, dict[int, dict]] = defaultdict(dict)
        for key, run in doc["runs"].items():
            method, seed = key.rsplit("/", 1)
            by_method[method][int(seed)] = run
        polished = {}  # method -> (median relaxations to the polished hit, budget)
        for method in sorted(by_method, key=lambda m: (m not in METHOD_ORDER, m)):
            runs = by_method[method]
            budget = max(r["relaxations"] for r in runs.values())
            cells = []
            for field in ("first_loose_hit", "first_polished_hit"):
                vals = [float(r[field]) if r[field] else math.inf for r in runs.values()]
                med = censored_median(vals)
                if field == "first_polished_hit":
                    polished[method] = (med, budget)
                cells.append(f"{sum(math.isfinite(v) for v in vals)}/{len(vals)}, "
                             + (f"> {budget}" if math.isinf(med) else f"{med:g}"))
            spent = [r["polishes_to_it"] for r in runs.values() if r["polishes_to_it"]]
            lines.append(f"| {s} | {method} | {_seed_text(sorted(runs))} | "
                         f"{1000 * doc['window']:g} | `{doc['relaxer']}` | {cells[0]} | "
                         f"{cells[1]} | "
                         + (f"{statistics.median(spent):g}" if spent else "-") + " |")
        for ga in (m for m in by_method if m.startswith(GA)):
            for other in (m for m in BASELINES if m in by_method):
                if set(by_method[other]) != set(by_method[ga]):
                    continue
                (g, budget), (o, _) = polished[ga], polished[other]
                ratio_lines.append(f"- {s}: {other} / {ga} on the polished hits "
                                   f"{ratio(o, g, budget)[1]}")
    if len(lines) == 2:
        return []
    return lines + ([""] + ratio_lines if ratio_lines else [])


# ------------------------------------------------------------------ plot
STYLES = ("-", "--", "-.", ":")


def _panels(systems: list[str], draw, path: Path, title: str) -> None:
    """A figure of one panel per system, two across: ``draw(ax, system)`` fills each
    (its curves and its y axis); the x axis, title, grid and legend are common."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(systems)
    cols = min(n, 2)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.8 * rows), squeeze=False)
    for ax, s in zip(list(axes.flat)[:n], systems, strict=True):
        draw(ax, s)
        ax.set_xlabel("relaxations")
        ax.set_title(SYSTEMS[s].title if s in SYSTEMS else s, fontsize=9)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8, loc="best")
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot(stats: dict, systems: list[str], methods: list[str], path: Path, title: str) -> None:
    """Per system a panel: fraction of seeds with a hit within N relaxations."""
    def draw(ax, s: str) -> None:
        budget = 1
        for k, m in enumerate(methods):
            st = stats.get((s, m))
            if st is None:
                continue
            budget = max(budget, st["budget"])
            xs = list(range(st["budget"] + 1))
            off = 0.012 * (k - (len(methods) - 1) / 2)  # keep coinciding curves visible
            ys = [sum(v <= x for v in st["values"]) / st["n"] + off for x in xs]
            ax.step(xs, ys, where="post", label=f"{m} ({st['hits']}/{st['n']})", lw=1.8,
                    ls=STYLES[k % len(STYLES)])
        ax.set_xlim(0, budget)
        ax.set_ylim(-0.04, 1.04)
        ax.set_ylabel("fraction of seeds with a hit")

    _panels(systems, draw, path, title)


def plot_best(curves: dict, systems: list[str], methods: list[str], path: Path, title: str,
              tol: float) -> None:
    """Per system a panel: the best ΔH found after N relaxations, median over seeds with
    the band between the quartiles; symlog (linear within +-1 meV/atom), the hit
    tolerance dotted."""
    def finite(ys: list[float]) -> list[float]:
        return [y if math.isfinite(y) else math.nan for y in ys]

    def draw(ax, s: str) -> None:
        budget = 1
        for k, m in enumerate(methods):
            runs = curves.get((s, m))
            if not runs:
                continue
            budget = max(budget, len(runs[0]))
            xs = list(range(1, len(runs[0]) + 1))
            per_x = [[c[i] for c in runs] for i in range(len(xs))]
            med, lo, hi = ([_quantile(v, q) for v in per_x] for q in (0.5, 0.25, 0.75))
            line, = ax.step(xs, finite(med), where="post", lw=1.8, ls=STYLES[k % len(STYLES)],
                            label=f"{m} ({len(runs)} seeds)")
            ax.fill_between(xs, finite(lo), finite(hi), step="post", color=line.get_color(),
                            alpha=0.15, lw=0)
        ax.axhline(1000 * tol, color="k", lw=0.8, ls=":")
        ax.set_yscale("symlog", linthresh=1.0)
        ax.set_xlim(1, budget)
        ax.set_ylabel("best ΔH found (meV/atom)")

    _panels(systems, draw, path, title)


# ------------------------------------------------------------------ document
def provenance(runs: list[dict]) -> dict:
    """Relaxer specs, commits (overall and per method), seeds, and budgets and seeds per
    system of the run files."""
    specs = {repr(d["relaxer"]): (d["relaxer_name"], d["relaxer"]) for d in runs}
    commits = sorted({(d["commit"]["commit"][:12], d["commit"]["dirty"]) for d in runs})
    by_method: dict[str, set] = defaultdict(set)
    for d in runs:
        by_method[d["method"]].add((d["commit"]["commit"][:12], d["commit"]["dirty"]))
    return {"specs": list(specs.values()), "commits": commits,
            "method_commits": {m: sorted(c) for m, c in by_method.items()},
            "seeds": sorted({d["seed"] for d in runs}),
            "system_budgets": {d["system"]: d["budget"] for d in runs},
            "system_seeds": {s: tuple(sorted({d["seed"] for d in runs if d["system"] == s}))
                             for s in {d["system"] for d in runs}},
            "system_methods": {s: {d["method"] for d in runs if d["system"] == s}
                               for s in {d["system"] for d in runs}}}


def _budget_groups(prov: dict, systems: list[str]) -> dict[tuple, list[str]]:
    """(budget, seeds) -> the systems run with them, in the order of ``systems``."""
    groups: dict[tuple, list[str]] = defaultdict(list)
    for s in systems:
        groups[(prov["system_budgets"].get(s, 30),
                prov["system_seeds"].get(s, tuple(prov["seeds"])))].append(s)
    return groups


def _budget_line(prov: dict, systems: list[str]) -> str:
    """The protocol's budget and seeds, per system where they differ."""
    def seeds(t) -> str:
        return ", ".join(map(str, t))

    groups = _budget_groups(prov, systems)
    if len(groups) == 1:
        (budget, sd), = groups
        return f"- Budget: {budget} relaxations per run; seeds {seeds(sd)}."
    return "- Budget: " + "; ".join(f"{', '.join(g)}: {b} relaxations per run, seeds {seeds(sd)}"
                                   for (b, sd), g in groups.items()) + "."


def _shown(path: Path) -> str:
    """A path as a command line in RESULTS.md should show it: relative to the repository."""
    try:
        return str(Path(path).resolve().relative_to(HERE.parents[1]))
    except ValueError:
        return str(path)


def cost_table(stats: dict, systems: list[str], methods: list[str], jobs: int = 2) -> list[str]:
    """Summed run wall time per system and method, and per system on ``jobs`` parallel runs.

    Runs stop at their first hit, so a method that hits early costs less; the wall times
    are those of the campaign's machine with ``jobs`` runs sharing it.
    """
    out = ["| system | " + " | ".join(f"{m} (min)" for m in methods)
           + f" | all methods (min) | on {jobs} cores, --jobs {jobs} (min) |",
           "|---|" + "---|" * (len(methods) + 2)]
    grand = 0.0
    for s in systems:
        walls = [stats[(s, m)]["wall_total"] if (s, m) in stats else math.nan
                 for m in methods]
        total = sum(w for w in walls if math.isfinite(w))
        grand += total
        out.append(f"| {s} | " + " | ".join(f"{w / 60:.0f}" if math.isfinite(w) else "-"
                                            for w in walls)
                   + f" | {total / 60:.0f} | {total / 60 / jobs:.0f} |")
    out.append("| **all systems** | " + " | ".join("" for _ in methods)
               + f" | {grand / 60:.0f} | {grand / 60 / jobs:.0f} |")
    return out


def _run_commands(outroot: Path, systems, methods, prov: dict) -> list[str]:
    """The run.py calls that make the runs: one per group of systems with the same
    budget, seeds and methods run (of ``methods``)."""
    name = prov["specs"][0][0] if prov["specs"] else "cheap"
    groups: dict[tuple, list[str]] = defaultdict(list)
    for (budget, seeds), members in _budget_groups(prov, systems).items():
        for s in members:
            ran = prov["system_methods"].get(s, set(methods))
            groups[(budget, seeds, tuple(m for m in methods if m in ran))].append(s)
    return [(f"python benchmarks/search/run.py --systems {' '.join(group)} --methods "
             f"{' '.join(ms)} --seeds {' '.join(map(str, seeds))} --budget {budget} "
             f"--relaxer {name} --outroot {_shown(outroot)} --jobs 2")
            for (budget, seeds, ms), group in groups.items()]


def commands(outroot: Path, systems, methods, prov: dict, args) -> list[str]:
    runs = _run_commands(outroot, systems, methods, prov)
    rep = (f"python benchmarks/search/report.py --outroot {_shown(outroot)} --out "
           f"{_shown(args.out)} --plot {_shown(args.plot)} --plot-best "
           f"{_shown(args.plot_best)} --tolerance {args.tolerance}"
           + (f" --notes {_shown(args.notes)}" if args.notes is not None else "")
           + (f" --systems {' '.join(systems)} --methods {' '.join(methods)}"
              if args.systems or args.methods else "")
           + (f" --pilot {' '.join(args.pilot)}" if args.pilot else "")
           + (f" --ablation {' '.join(_shown(a) for a in args.ablation)}"
              if args.ablation else ""))
    return [*runs, rep]


def _variable_line(systems: list[str]) -> str:
    """What the protocol says of variable-composition systems (empty without any)."""
    vc = [SYSTEMS[s] for s in systems if s in SYSTEMS and SYSTEMS[s].variable]
    if not vc:
        return ""
    return " " + " ".join(
        f"{s.name} is a variable-composition search (blocks {', '.join(s.blocks)}, "
        f"{s.atoms[0]}-{s.atoms[1]} atoms per cell): a hit must also be the target "
        f"compound, {s.composition} in {' or '.join(map(str, s.formula_units))} formula "
        f"unit(s), and its best ΔH is that compound's; csp methods only (ase-ga and PyXtal "
        "search one composition at a time), run to the budget." for s in vc)


def pilot_section(runs: list[dict], systems: list[str], methods: list[str], tol: float,
                  outroot: Path) -> list[str]:
    """The lines of the pilot section: results, csp-random / csp-GA per system, shared
    start and seed-by-seed tables, on the runs given (the seeds every method finished)."""
    if not runs:
        return ["No pilot seed has been finished by every method yet."]
    stats = _stats(runs, tol)
    present = [m for m in methods if any(d["method"] == m for d in runs)]
    waiting = [s for s in systems if not any(d["system"] == s for d in runs)]
    systems = [s for s in systems if s not in waiting]
    prov = provenance(runs)
    out = ["Seeds finished by every method: " + "; ".join(
        f"{s}: {', '.join(map(str, prov['system_seeds'][s]))} (budget "
        f"{prov['system_budgets'][s]})" for s in systems)
        + (f"; none yet for {', '.join(waiting)}" if waiting else "")
        + ". Few seeds: a first look, not a statistic; not in the verdict above.", ""]
    out += stats_table(stats, systems, present)
    ratios, _ = ratio_section(stats, systems, present)
    if ratios:
        out += [""] + ratios[:-1]  # no "median over systems" row: these are not the campaign
    out += [""] + (shared_start(runs, systems, tol) or [])
    out += [""] + (paired_table(runs, systems, tol) or [])
    out += ["", "Runs (commits " + ", ".join(c for c, _ in prov["commits"]) + "):", "",
            "```bash"]
    return out + _run_commands(outroot, systems, present, prov) + ["```"]


def _beside(path: Path, out: Path) -> Path:
    """``path`` as the document ``out`` links it: relative to its folder when inside it."""
    try:
        return Path(path).resolve().relative_to(Path(out).resolve().parent)
    except ValueError:
        return Path(path)


def document(runs, stats, systems, methods, args, curves, pilot=(), ablations=()) -> str:
    prov = provenance(runs)
    relaxers = "; ".join(f"`{n}` = `{s}`" for n, s in prov["specs"])
    def _commits(pairs) -> str:
        return ", ".join(f"{c}{' (with local changes)' if dirty else ''}" for c, dirty in pairs)

    if len(prov["commits"]) > 1:
        commits = "; ".join(f"{m}: {_commits(prov['method_commits'][m])}" for m in methods
                            if m in prov["method_commits"])
    else:
        commits = _commits(prov["commits"])
    ratios, verdict = ratio_section(
        stats, systems, methods, {RANDOM: breeding_verdict(stats, runs, systems, args.tolerance)})
    plot_ref = _beside(args.plot, args.out)
    fake = any(s.get("name") == "fake" for _, s in prov["specs"])
    out = ["# Search benchmark: superatomic crystals", "",
           (f"Generated {date.today().isoformat()} by `benchmarks/search/report.py` from "
            f"{len(runs)} runs in `{_shown(args.outroot)}`."), ""]
    if fake:
        out += [("> **Machinery check only**: these runs used the `fake` relaxer (a Morse "
                 "stand-in that does not move atoms). The numbers say nothing about the "
                 "methods."),
                ""]
    out += ["## Protocol", "",
            f"- Relaxer (the same callable for every method and the reference): {relaxers}.",
            f"- Commit(s): {commits}.",
            _budget_line(prov, systems),
            ("- Hit: a relaxation that converged, kept every unit intact (bond topology and "
             "Kabsch RMSD <= 0.5 Å, csp's criterion) and reached H/atom <= reference + "
             f"{1000 * args.tolerance:g} meV/atom (the reference is the system's known ground "
             "state relaxed once with the same relaxer). \"StructureMatcher found\": seeds "
             "where some intact structure within 50 meV/atom matched the relaxed reference "
             "(pymatgen defaults). Relaxations to first hit count every relaxation (failed "
             "ones included); a seed without a hit counts as \"> budget\"."
             + _variable_line(systems)),
            "- Methods: " + "; ".join(f"`{m}`: {DESCRIPTIONS.get(m, m)}" for m in methods) + ".",
            "", "## Results", ""]
    out += stats_table(stats, systems, methods)
    out += ["", "## Relaxations to first hit: baseline / csp-ga (median over seeds)", "",
            ("Above 1: csp-ga needs fewer relaxations. \"> x\" / \"< x\": one median is "
             "censored by the budget."), ""]
    out += ratios
    shared = shared_start(runs, systems, args.tolerance)
    if shared:
        out += ["", ("The GA's first P relaxations are random symmetric structures drawn on "
                     "the same seeded streams as csp-random's: a seed that hits inside them "
                     "hits at the same relaxation in both. Where more than half the seeds "
                     "do, the medians are equal by construction (ratio 1, whatever breeding "
                     "does); the GA/random comparison is decided by the seeds left to "
                     "breeding."), ""] + shared
    paired = paired_table(runs, systems, args.tolerance)
    if paired:
        out += ["", ("Seed by seed (the same streams, so seed k of csp-ga and seed k of "
                     "csp-random start alike): where the first hit differs, breeding decided "
                     "it. The sign test asks whether the GA is earlier on more of those seeds "
                     "than chance would give; it uses every seed, not only the medians."),
                ""] + paired
    out += ["", "## Verdict", ""] + verdict
    tols = [round(k * args.tolerance, 6) for k in SENSITIVITY]
    stats_at = {t: stats if t == args.tolerance else _stats(runs, t) for t in tols}
    out += ["", "## Relaxations to first hit at looser hit tolerances", "",
            ("The loose relaxer (fmax 0.1 eV/Å) leaves a structure in the reference's basin "
             "a few meV/atom above it when it relaxes from far away (the reference itself "
             "starts at its minimum). Median relaxations to the first hit (hits/seeds) with "
             "the hit tolerance widened; where the ordering of the methods changes, it is "
             "decided by convergence, not by search."), ""]
    out += tolerance_table(stats_at, systems, methods)
    out += ["", "## Best structure found vs relaxations", "",
            ("How close each method had come after a quarter, half and all of the budget: "
             "the enthalpy of the lowest intact structure found so far, in meV/atom above "
             "the reference, median over seeds (relaxations in brackets; \"hit\": the median seed "
             "had hit; \"none\": it had no intact structure yet). A run stops at its first "
             "hit and keeps that hit's value. Where the budget censors the relaxations to a "
             "hit, this still separates the methods; the figure shows the median and "
             "quartiles at every relaxation."), ""]
    out += best_after_table(curves, systems, methods, args.tolerance)
    out += ["", f"![best found vs relaxations]({_beside(args.plot_best, args.out)})"]
    origins = origin_table(runs, systems)
    if origins:
        out += ["", "## What csp-ga's relaxations became, by origin", "",
                ("csp's own verdict on each relaxation of csp-ga's runs (to the first hit): "
                 "a new structure, a duplicate of one already found (a relaxation spent "
                 "re-finding a known minimum), broken units, stopped at the relaxer's step "
                 "cap with its units intact (kept as a parent, never a hit), or failed "
                 "(stopped with broken units, collapsed, no output)."), ""] + origins
    if pilot:
        out += ["", "## Pilot: larger cells", ""] + list(pilot)
    if ablations:
        out += ["", "## Ablations: variants of csp-ga", "",
                ("Each variant ran from its own outroot (`--ablation`) on seeds of the "
                 "campaign, so seed k shares its random streams with seed k of csp-ga and "
                 f"csp-random above{' (or of the pilot)' if pilot else ''}. Not in the "
                 "verdict. Medians are on the seeds in the row."), ""] + list(ablations)
    if args.notes is not None:
        # the analysis a person wrote for this campaign (why a target is or is not met);
        # kept in its own file so that regenerating the tables does not lose it
        out += ["", "## Discussion", "", Path(args.notes).read_text().strip()]
    polished = polish_table(args.outroot, systems)
    if polished:
        out += ["", "## Staged protocol: near-target structures polished", "",
                ("`polish.py` re-relaxes every intact structure a run (csp or PyXtal) found "
                 "within a window above the reference with a tighter relaxer (csp's default, fmax "
                 "0.02 eV/Å and 600 steps, is `{'name': 'sevennet', 'threads': 1}`), and the "
                 "reference too; a polished hit is one within the hit tolerance of the "
                 "polished reference. Relaxations are counted in the run's "
                 "own sequence (the polishes are extra, last column). Seeds are those whose "
                 "structures were on the machine that polished them."), ""] + polished
    out += ["", "## Lowest enthalpy found", ""] + best_table(runs, systems, args.tolerance)
    out += ["", "## Compute cost", "",
            ("Summed wall time of the runs (each run stops at its first hit), and that sum "
             "spread over 2 cores with two runs at a time, as the campaign ran."), ""]
    out += cost_table(stats, systems, methods)
    out += ["", "## Success vs relaxations", "", f"![success vs relaxations]({plot_ref})", "",
            "## Regenerate", "", "```bash"] + commands(args.outroot, systems, methods, prov,
                                                         args) + ["```", ""]
    return "\n".join(out)


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--outroot", type=Path, default=Path("runs/bench"))
    ap.add_argument("--out", type=Path, default=HERE.parent / "RESULTS.md")
    ap.add_argument("--plot", type=Path, default=HERE / "success.png")
    ap.add_argument("--plot-best", type=Path, help="the best-found-vs-relaxations figure "
                    "(default: best.png beside --plot)")
    ap.add_argument("--tolerance", type=float, default=HIT_TOLERANCE, help="eV/atom")
    ap.add_argument("--budget", type=int, help="report runs of this budget (default: the "
                    "most common one)")
    ap.add_argument("--notes", type=Path, help="a Markdown file inserted as the "
                    "Discussion section after the verdict")
    ap.add_argument("--systems", nargs="+")
    ap.add_argument("--methods", nargs="+")
    ap.add_argument("--pilot", nargs="+", default=[], metavar="SYSTEM",
                    help="systems reported in a section of their own (seeds every method "
                    "finished), outside the verdict and the plot")
    ap.add_argument("--ablation", nargs="+", type=Path, default=[], metavar="OUTROOT",
                    help="outroots holding runs of csp-ga variants, compared seed by seed "
                    "with csp-ga and csp-random in a section of their own")
    args = ap.parse_args(argv)
    if args.plot_best is None:
        args.plot_best = args.plot.with_name("best.png")
    both = set(args.pilot) & set(args.systems or ())
    if both:
        ap.error(f"--pilot {' '.join(sorted(both))}: also in --systems")
    return args


def _common_seeds(runs: list[dict], systems: list[str]) -> list[dict]:
    """Runs of ``systems`` restricted to the seeds every method of the system finished
    (a campaign still running has some seeds of one method only)."""
    keep = []
    for s in systems:
        mine = [d for d in runs if d["system"] == s]
        by_method: dict[str, set] = defaultdict(set)
        for d in mine:
            by_method[d["method"]].add(d["seed"])
        common = set.intersection(*by_method.values()) if by_method else set()
        keep += [d for d in mine if d["seed"] in common]
    return keep


def _stats(runs: list[dict], tol: float) -> dict:
    """Cell statistics per (system, method) at one hit tolerance."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for d in runs:
        groups[(d["system"], d["method"])].append(d)
    return {k: cell_stats(v, tol) for k, v in groups.items()}


def _one_budget_per_system(runs: list[dict], budget: int | None) -> list[dict]:
    """The runs of one budget per system: ``budget``, or the system's most common one."""
    per: dict[str, Counter] = defaultdict(Counter)
    for d in runs:
        per[d["system"]][d["budget"]] += 1
    keep = {}
    for system, budgets in per.items():
        keep[system] = budget or budgets.most_common(1)[0][0]
        if len(budgets) > 1 or keep[system] not in budgets:
            print(f"{system}: runs with budgets {dict(budgets)}: reporting budget "
                  f"{keep[system]} only (--budget)", file=sys.stderr)
    return [d for d in runs if d["budget"] == keep[d["system"]]]


def main(argv=None) -> int:
    args = parse_args(argv)
    pilot_runs = load_runs(args.outroot, args.pilot, args.methods) if args.pilot else []
    runs = load_runs(args.outroot, args.systems, args.methods)
    runs = [d for d in runs if d["system"] not in args.pilot]
    if not runs:
        print(f"no run files under {args.outroot}/runs", file=sys.stderr)
        return 1
    runs = _one_budget_per_system(runs, args.budget)
    if not runs:
        return 1
    stats = _stats(runs, args.tolerance)
    order = list(SYSTEMS)
    systems = args.systems or sorted({d["system"] for d in runs},
                                     key=lambda s: order.index(s) if s in order else 99)
    present = {d["method"] for d in runs}
    methods = args.methods or [m for m in METHOD_ORDER if m in present] + sorted(
        present - set(METHOD_ORDER))
    title = "; ".join(f"{n}: {s}" for n, s in provenance(runs)["specs"])
    plot(stats, systems, methods, args.plot, f"relaxer {title}")
    curves = best_curves(runs, systems, methods)
    plot_best(curves, systems, methods, args.plot_best, f"relaxer {title}", args.tolerance)
    pilot = pilot_section(_common_seeds(_one_budget_per_system(pilot_runs, None), args.pilot),
                          args.pilot, methods, args.tolerance, args.outroot) if args.pilot else []
    ablations = []
    for root in args.ablation:
        docs = load_runs(root, systems + list(args.pilot))
        if not docs:
            print(f"--ablation {root}: no runs of {', '.join(systems + list(args.pilot))}",
                  file=sys.stderr)
            return 1
        ablations.append((Path(root).name, _one_budget_per_system(docs, None)))
    ablation_lines = ablation_table(ablations, runs + _one_budget_per_system(pilot_runs, None),
                                    args.tolerance) if ablations else []
    if ablation_lines:
        ablation_lines += ["", "Runs (each at the commits its row gives):", "", "```bash"]
        for root, (_, docs) in zip(args.ablation, ablations):
            prov = provenance(docs)
            ablation_lines += _run_commands(root, sorted(prov["system_budgets"]),
                                            sorted({d["method"] for d in docs}), prov)
        ablation_lines.append("```")
    text = document(runs, stats, systems, methods, args, curves, pilot, ablation_lines)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    print(f"\nwrote {args.out} and {args.plot}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
