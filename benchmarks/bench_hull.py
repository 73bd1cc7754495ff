"""Convex-hull time for 10 000 entries (binary and ternary), with every entry's
ΔH_f and ΔH_hull; then checks 200 of the entries against pymatgen's PhaseDiagram
built directly on them (outside the clock).

    python benchmarks/bench_hull.py
"""

from __future__ import annotations

import time

import numpy as np

from csp.hull import Hull, hull_benchmark_entries


def main() -> None:
    rng = np.random.default_rng(0)
    Hull(hull_benchmark_entries(10, ["Sr", "B"], rng), 50.0)  # imports pymatgen (once per process)
    for elements in (["Sr", "B"], ["K", "B", "H"]):
        entries = hull_benchmark_entries(10_000, elements, rng)
        t = time.perf_counter()
        hull = Hull(entries, 50.0)
        eh = [hull.e_above_hull(i) for i in range(len(entries))]
        hf = [hull.formation_enthalpy(i) for i in range(len(entries))]
        dt = time.perf_counter() - t
        print(f"{'-'.join(elements):<8} 10 000 entries ({len(hull._best)} compositions): "
              f"{dt:.3f} s; stable {len(hull.stable_indices())}; "
              f"min ΔH_f {min(hf) * 1000:.0f} meV/atom; max ΔH_hull {max(eh) * 1000:.0f}; "
              f"largest difference to pymatgen {_check(entries, eh, hf):.1e} eV/atom")


def _check(entries, eh, hf) -> float:
    """Largest |csp - pymatgen| of ΔH_hull and ΔH_f over 200 entries (pymatgen's
    PhaseDiagram on all entries, energies H x atoms)."""
    from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
    from pymatgen.core import Composition

    pd_entries = [PDEntry(Composition(e.composition),
                          e.enthalpy_per_atom * sum(e.composition.values())) for e in entries]
    pd = PhaseDiagram(pd_entries)
    worst = 0.0
    for i in range(0, len(entries), len(entries) // 200):
        worst = max(worst, abs(pd.get_e_above_hull(pd_entries[i]) - eh[i]),
                    abs(pd.get_form_energy_per_atom(pd_entries[i]) - hf[i]))
    return worst


if __name__ == "__main__":
    main()
