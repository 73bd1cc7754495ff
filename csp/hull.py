"""Convex hulls of formation enthalpy at a pressure, on pymatgen's ``PhaseDiagram``.

Entries are relaxed structures with enthalpy H = E + PV at pressure P (per atom).
A :class:`Hull` is immutable: a new result means a new hull. For speed with many
entries only the lowest entry per composition enters the hull construction; the
distance of every other entry follows from its own composition's hull energy, which
is exact (a higher entry at a composition never changes the hull).

End members: by default the elements; ``endmembers=["Li2B12H12", "LiBH4"]`` builds the
hull in unit coordinates (pymatgen ``CompoundPhaseDiagram``): compositions are
fractions of the end members, energies per atom as before. A composition that was
never reached is not invented: a missing end member is an error naming it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from csp.errors import CspError

__all__ = [
    "Hull",
    "HullEntry",
    "HullRecord",
    "build_hull",
    "cross_relax",
    "entries_from_db",
    "quench",
]


@dataclass(frozen=True)
class HullEntry:
    """One structure: id (db id or label), element counts, enthalpy per atom (eV/atom)."""

    id: Any
    composition: dict[str, float]
    enthalpy_per_atom: float
    formula: str = ""
    spacegroup: str = ""
    pressure_gpa: float = math.nan


@dataclass(frozen=True)
class HullRecord:
    """Hull quantities of one entry (energies in eV/atom)."""

    id: Any
    formula: str
    fraction: tuple[float, ...]
    enthalpy_per_atom: float
    formation_enthalpy: float
    e_above_hull: float
    stable: bool
    spacegroup: str
    pressure_gpa: float
    decomposition: str = ""

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d["fraction"] = list(self.fraction)
        d["id"] = self.id if isinstance(self.id, (int, str)) else str(self.id)
        return d


class Hull:
    """Immutable convex hull of formation enthalpy at one pressure.

    Args:
        entries: the structures (any number; the lowest per composition build the hull).
        pressure_gpa: for labels only.
        endmembers: reduced formulas of the end members (unit coordinates); default the
            elements present.
    """

    def __init__(self, entries: Sequence[HullEntry], pressure_gpa: float = math.nan,
                 endmembers: Sequence[str] | None = None) -> None:
        from pymatgen.analysis.phase_diagram import CompoundPhaseDiagram, PDEntry, PhaseDiagram
        from pymatgen.core import Composition

        if not entries:
            raise CspError("hull: no entries")
        #: entries outside the span of the end members (unit coordinates only): left out
        self.excluded: tuple[HullEntry, ...] = ()
        if endmembers:
            inside = _in_span(entries, endmembers)
            self.excluded = tuple(e for e, ok in zip(entries, inside) if not ok)
            entries = [e for e, ok in zip(entries, inside) if ok]
            if not entries:
                raise CspError(f"hull: no structure is a combination of {list(endmembers)}")
        self.entries = tuple(entries)
        self.pressure_gpa = float(pressure_gpa)
        # one pymatgen Composition per distinct composition (10 000 entries have a few
        # hundred): building and reducing Compositions dominated the hull's time
        cache: dict[tuple, tuple[Any, str]] = {}
        comps, self._reduced = [], []
        for e in self.entries:
            key = tuple(sorted(e.composition.items()))
            if key not in cache:
                c = Composition(e.composition)
                cache[key] = (c, c.reduced_formula)
            comps.append(cache[key][0])
            self._reduced.append(cache[key][1])
        best: dict[str, int] = {}
        for i, (rf, e) in enumerate(zip(self._reduced, self.entries)):
            if not math.isfinite(e.enthalpy_per_atom):
                raise CspError(f"hull: entry {e.id!r} has a non-finite enthalpy")
            if rf not in best or e.enthalpy_per_atom < self.entries[best[rf]].enthalpy_per_atom:
                best[rf] = i
        self._best = best
        pd_entries = []
        for rf, i in best.items():
            c = comps[i]
            pd_entries.append(PDEntry(c, self.entries[i].enthalpy_per_atom * c.num_atoms,
                                      name=rf, attribute=i))
        # PhaseDiagram sorts its entries by reduced Composition (a slow comparison in
        # Python); handing them over in that order already makes its sort linear
        els = sorted({el for c in comps for el in c.elements})
        pd_entries.sort(key=lambda pe: tuple(pe.composition.reduced_composition[el]
                                             for el in els))
        self.endmembers = tuple(endmembers) if endmembers else None
        try:
            if self.endmembers:
                terminal = [Composition(x) for x in self.endmembers]
                missing = [x for x, t in zip(self.endmembers, terminal)
                           if t.reduced_formula not in best]
                if missing:
                    raise CspError(f"no structure of end member(s) {missing} at "
                                   f"{pressure_gpa:g} GPa")
                self.pd: PhaseDiagram = CompoundPhaseDiagram(
                    pd_entries, terminal, normalize_terminal_compositions=True)
                self._entry_of = {e.original_entry.attribute: e
                                  for e in self.pd.all_entries}
            else:
                elements = sorted({el for c in comps for el in c.as_dict()})
                have = {str(comps[i].elements[0]) for i in best.values()
                        if len(comps[i].elements) == 1}
                missing = [el for el in elements if el not in have]
                if missing:
                    raise CspError(f"no elemental reference for {missing} at "
                                   f"{pressure_gpa:g} GPa (a composition never reached is not "
                                   "invented: add the element to the search or a seed)")
                self.pd = PhaseDiagram(pd_entries)
                self._entry_of = {e.attribute: e for e in self.pd.all_entries}
        except CspError:
            raise
        except (ValueError, KeyError) as exc:
            raise CspError(f"hull: {exc}") from None
        self._form_e: dict[str, float] = {}
        self._hull_e: dict[str, float] = {}
        for rf, i in best.items():
            ent = self._entry_of[i]
            above = self.pd.get_e_above_hull(ent)  # None only with on_error="ignore"
            if above is None:
                raise CspError(f"hull: pymatgen gives no energy above the hull for {rf}")
            self._hull_e[rf] = self.entries[i].enthalpy_per_atom - above * self._scale(ent)

    # --- per-atom bookkeeping (CompoundPhaseDiagram energies are per dummy atom)
    def _scale(self, ent) -> float:
        if not self.endmembers:
            return 1.0
        orig = ent.original_entry
        return ent.composition.num_atoms / orig.composition.num_atoms

    @property
    def elements(self) -> list[str]:
        if self.endmembers:
            return list(self.endmembers)
        return [str(e) for e in self.pd.elements]

    def hull_energy(self, composition: dict[str, float]) -> float:
        """Hull enthalpy per atom at a composition (element counts), eV/atom."""
        from pymatgen.core import Composition

        c = Composition(composition)
        rf = c.reduced_formula
        if rf in self._hull_e:
            return self._hull_e[rf]
        if self.endmembers:
            raise CspError(f"hull: composition {rf} is not among the hull's compositions")
        try:
            return float(self.pd.get_hull_energy_per_atom(c))
        except ValueError as exc:
            raise CspError(f"hull: cannot place {rf}: {exc}") from None

    def distance(self, composition: dict[str, float], enthalpy_per_atom: float) -> float:
        """Enthalpy above the hull (eV/atom) of a candidate (negative: below the hull)."""
        return float(enthalpy_per_atom - self.hull_energy(composition))

    def e_above_hull(self, index: int) -> float:
        e = self.entries[index]
        return float(e.enthalpy_per_atom - self._hull_e[self._reduced[index]])

    def formation_enthalpy(self, index: int) -> float:
        """ΔH_f per atom relative to the end members, eV/atom."""
        e = self.entries[index]
        rf = self._reduced[index]
        best_i = self._best[rf]
        if rf not in self._form_e:
            ent = self._entry_of[best_i]
            self._form_e[rf] = self.pd.get_form_energy_per_atom(ent) * self._scale(ent)
        return float(self._form_e[rf] + e.enthalpy_per_atom
                     - self.entries[best_i].enthalpy_per_atom)

    def stable_indices(self) -> list[int]:
        from pymatgen.analysis.phase_diagram import PDEntry, TransformedPDEntry

        # pymatgen types stable_entries as Entry: they are the PDEntry built in __init__
        # (attribute: the entry's index) or, with end members, their TransformedPDEntry
        stable = {cast(int, cast(PDEntry, e).attribute) if not self.endmembers
                  else cast(int, cast(TransformedPDEntry, e).original_entry.attribute)
                  for e in self.pd.stable_entries}
        return sorted(stable)

    def fraction(self, index: int) -> tuple[float, ...]:
        """Composition as fractions of the end members (elements or units)."""
        ent = self._entry_of[self._best[self._reduced[index]]]
        comp = ent.composition
        return tuple(float(comp.get_atomic_fraction(el)) for el in self.pd.elements)

    def decomposition(self, index: int) -> str:
        rf = self._reduced[index]
        ent = self._entry_of[self._best[rf]]
        decomp = self.pd.get_decomposition(ent.composition)
        parts = [f"{getattr(d, 'name', str(d.composition))}:{frac:.3f}"
                 for d, frac in decomp.items()]
        return " + ".join(parts)

    def records(self) -> list[HullRecord]:
        stable = set(self.stable_indices())
        out = []
        for i, e in enumerate(self.entries):
            ehull = self.e_above_hull(i)
            on = i in stable
            out.append(HullRecord(
                id=e.id, formula=e.formula or self._reduced[i], fraction=self.fraction(i),
                enthalpy_per_atom=e.enthalpy_per_atom, formation_enthalpy=self.formation_enthalpy(i),
                e_above_hull=max(ehull, 0.0) if on else ehull, stable=on,
                spacegroup=e.spacegroup, pressure_gpa=e.pressure_gpa,
                decomposition="" if on else self.decomposition(i)))
        return out


def _in_span(entries: Sequence[HullEntry], endmembers: Sequence[str]) -> list[bool]:
    """Per entry: is its composition a non-negative combination of the end members?"""
    from pymatgen.core import Composition

    ends = [Composition(x) for x in endmembers]
    els = sorted({str(el) for c in ends for el in c.elements}
                 | {el for e in entries for el in e.composition})
    a = np.array([[c[el] for c in ends] for el in els], float)
    out = []
    for e in entries:
        b = np.array([float(e.composition.get(el, 0)) for el in els])
        n, *_ = np.linalg.lstsq(a, b, rcond=None)
        scale = max(float(np.abs(b).max()), 1.0)
        out.append(bool(np.abs(a @ n - b).max() < 1e-6 * scale and (n > -1e-9).all()))
    return out


def build_hull(entries: Sequence[HullEntry], pressure_gpa: float = math.nan,
               endmembers: Sequence[str] | None = None) -> Hull:
    return Hull(entries, pressure_gpa, endmembers)


# --------------------------------------------------------------------------- db
def _pressure_match(p: float, target: float) -> bool:
    return abs(float(p) - float(target)) < 1e-6


def entries_from_db(db_path: str | Path, pressure_gpa: float,
                    include_broken: bool = False) -> list[HullEntry]:
    """Relaxed structures at a pressure from a csp database."""
    from ase.data import chemical_symbols
    from ase.db import connect

    path = Path(db_path)
    if not path.is_file():
        raise CspError(f"no database at {str(path)!r}")
    out = []
    db = connect(str(path))
    for row in db.select():
        kv = row.key_value_pairs
        status = kv.get("status")
        if status not in ("relaxed", "broken_units"):
            continue
        if status == "broken_units" and not include_broken:
            continue
        if not include_broken and kv.get("units_intact") is False:
            continue
        if "pressure_gpa" not in kv or not _pressure_match(kv["pressure_gpa"], pressure_gpa):
            continue
        h = kv.get("enthalpy_per_atom")
        if h is None or not math.isfinite(h):
            continue
        counts: dict[str, float] = {}
        for z in row.numbers:
            s = chemical_symbols[z]
            counts[s] = counts.get(s, 0) + 1
        out.append(HullEntry(id=row.id, composition=counts, enthalpy_per_atom=float(h),
                             formula=row.formula, spacegroup=str(kv.get("spacegroup", "")),
                             pressure_gpa=float(kv["pressure_gpa"])))
    if not out:
        raise CspError(f"no relaxed structures at {pressure_gpa:g} GPa in {str(path)!r}")
    return out


def write_tables(hull: Hull, outdir: str | Path) -> tuple[Path, Path]:
    """``hull.json`` and ``hull.csv`` in outdir; returns their paths."""
    import csv
    import json

    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    recs = [r.to_dict() for r in hull.records()]
    fields = ["id", "formula", "fraction", "enthalpy_per_atom", "formation_enthalpy",
              "e_above_hull", "stable", "spacegroup", "pressure_gpa", "decomposition"]
    jpath = out / "hull.json"
    jpath.write_text(json.dumps({"pressure_gpa": hull.pressure_gpa, "endmembers": hull.elements,
                                 "units": "eV/atom", "records": recs}, indent=1))
    cpath = out / "hull.csv"
    with cpath.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        for r in recs:
            r = dict(r)
            r["fraction"] = " ".join(f"{x:.6f}" for x in r["fraction"])
            w.writerow({k: r[k] for k in fields})
    return jpath, cpath


# ---------------------------------------------------------------- re-relaxation
def _relax_rows(db_path: str | Path, rows: Iterable, pressure_gpa: float, relaxer, origin: str,
                workroot: str | Path) -> list[dict]:
    """Re-relax db rows at a pressure; write them as new rows; return summaries."""
    from ase.db import connect

    from csp.genome import Genome

    db = connect(str(db_path))
    out = []
    for row in rows:
        atoms = row.toatoms()
        wd = Path(workroot) / f"{origin}_{row.id}_{pressure_gpa:g}GPa"
        wd.mkdir(parents=True, exist_ok=True)
        res = relaxer.relax(atoms, pressure_gpa, str(wd))
        intact, refit = None, None
        genome_data = row.data.get("genome") if row.data else None
        if res.status == "relaxed" and genome_data is not None:
            try:
                refit, report = Genome.from_dict(genome_data).from_atoms(res.atoms)
                intact = bool(report.intact)
            except CspError:
                intact = None
        kv = {"status": res.status if res.status == "relaxed" else "failed",
              "origin": origin, "source_id": int(row.id), "pressure_gpa": float(pressure_gpa),
              "spacegroup": "", "composition": row.formula}
        if res.status != "relaxed":
            kv["reason"] = f"{res.status}: {res.reason}"
        else:
            import spglib

            a = res.atoms
            ds = spglib.get_symmetry_dataset((a.cell[:], a.get_scaled_positions(), a.numbers),
                                             symprec=0.1)
            kv.update(enthalpy_per_atom=float(res.enthalpy_per_atom),
                      energy_per_atom=float(res.energy_per_atom),
                      volume_per_atom=float(res.volume_per_atom),
                      pressure_reached_gpa=float(res.pressure_gpa),
                      spacegroup=ds.international if ds else "", sg_number=int(ds.number) if ds else 0)
            if intact is not None:
                kv["units_intact"] = intact
        data = {"genome": genome_data} if genome_data is not None and res.status == "relaxed" else {}
        if refit is not None:  # the relaxed genome, units re-fitted above
            data = {"genome": refit.to_dict()}
        new_id = db.write(res.atoms if res.atoms is not None else atoms, key_value_pairs=kv,
                          data=data)
        out.append({"source_id": row.id, "id": new_id, "formula": row.formula,
                    "status": res.status, "units_intact": intact,
                    "enthalpy_per_atom": kv.get("enthalpy_per_atom", math.nan)})
    return out


def _hull_rows(db_path: str | Path, pressure_gpa: float, max_ehull: float):
    from ase.db import connect

    entries = entries_from_db(db_path, pressure_gpa)
    hull = Hull(entries, pressure_gpa)
    db = connect(str(db_path))
    keep = [e.id for i, e in enumerate(entries) if hull.e_above_hull(i) <= max_ehull]
    # one row per reduced formula (the lowest), so a quench does not redo duplicates
    seen: dict[str, tuple[float, int]] = {}
    for i, e in enumerate(entries):
        if e.id not in keep:
            continue
        rf = hull._reduced[i]
        if rf not in seen or e.enthalpy_per_atom < seen[rf][0]:
            seen[rf] = (e.enthalpy_per_atom, e.id)
    return [db.get(id=i) for _, i in sorted(seen.values(), key=lambda t: t[1])]


def quench(db_path: str | Path, from_gpa: float, to_gpa: float, relaxer, max_ehull: float = 0.05,
           workroot: str | Path | None = None) -> list[dict]:
    """Re-relax the stable and near-hull phases at ``from_gpa`` at ``to_gpa``.

    New rows get origin "quench". Returns one summary per phase with its distance to
    the ``to_gpa`` hull (built from every relaxed row at that pressure) and whether its
    units stayed intact.
    """
    rows = _hull_rows(db_path, from_gpa, max_ehull)
    work = Path(workroot or Path(db_path).parent / "quench")
    done = _relax_rows(db_path, rows, to_gpa, relaxer, "quench", work)
    try:
        entries = entries_from_db(db_path, to_gpa, include_broken=True)
        hull = Hull(entries, to_gpa)
        index = {e.id: i for i, e in enumerate(entries)}
        for d in done:
            if d["id"] in index:
                d["e_above_hull"] = hull.e_above_hull(index[d["id"]])
    except CspError as exc:
        for d in done:
            d["e_above_hull"] = math.nan
            d["note"] = str(exc)
    return done


def cross_relax(db_path: str | Path, pressures: Sequence[float], relaxer,
                max_ehull: float = 0.0, workroot: str | Path | None = None) -> list[dict]:
    """Re-relax each pressure's hull phases at every other pressure (origin "cross")."""
    out = []
    work = Path(workroot or Path(db_path).parent / "cross")
    for p in pressures:
        try:
            rows = _hull_rows(db_path, p, max_ehull)
        except CspError:
            continue
        for q in pressures:
            if q != p:
                out.extend(_relax_rows(db_path, rows, q, relaxer, "cross", work))
    return out


def hull_benchmark_entries(n: int, elements: Sequence[str], rng: np.random.Generator,
                           max_atoms: int = 26) -> list[HullEntry]:
    """Random entries (for benchmarks and tests): random compositions up to max_atoms."""
    out = [HullEntry(id=f"ref{k}", composition={el: 1}, enthalpy_per_atom=0.0)
           for k, el in enumerate(elements)]
    for i in range(n - len(out)):
        counts = rng.integers(0, max_atoms // len(elements) + 1, len(elements))
        if counts.sum() == 0:
            counts[0] = 1
        comp: dict[str, float] = {el: int(c) for el, c in zip(elements, counts) if c}
        out.append(HullEntry(id=i, composition=comp, enthalpy_per_atom=float(rng.normal(-0.2, 0.3))))
    return out
