"""The ``pyxtal`` baseline: PyXtal random molecular crystals, each relaxed once.

Units are PyXtal molecules built from the csp templates (``pymatgen`` ``Molecule``),
free atoms one-atom molecules. Per candidate (its own generator,
``np.random.default_rng(SeedSequence([seed, index]))``, so an interrupted run resumes
exactly): a number of formula units drawn from the system's range, a space group drawn
uniformly from those PyXtal accepts for that cell in 2-230 (csp's range; "accepts":
PyXtal raises no symmetry/composition incompatibility, cached per system in
``<outroot>/pyxtal_groups/``), ``pyxtal(molecular=True).from_random`` with the counts
of the conventional cell; a group where PyXtal then fails to place the molecules is
redrawn. Centred cells are reduced to their primitive cell (spglib) and the units are
recognised (csp), which gives the per-unit tags and the unit check.

Volume: PyXtal sizes the cell from the molecules' bounding boxes (x 1.1), for B12 five
times the volume per formula unit of SrB12 at 50 GPa. ``pyxtal`` therefore compresses
each structure rigidly (unit centres and free atoms scaled with the cell, units rigid)
towards csp's own volume estimate x 1.1, stopping where two blocks come closer than
0.7 x the sum of covalent radii (csp's ``dmin_factor``). PyXtal's own minimum distances
at that volume reject almost every structure (tested: 3 of 67 groups placed SrB12 at
50 GPa, ~9 s per failure), so the compression happens after PyXtal. ``pyxtal-raw``
relaxes PyXtal's structures as generated.
"""

from __future__ import annotations

import functools
import time
import warnings
from pathlib import Path

import numpy as np
from common import read_json, relax_and_record, stop_now, write_json
from systems import System

__all__ = ["METHODS", "RELAXED_DB", "accepted_groups", "candidate", "run_pyxtal",
           "save_relaxed"]

METHODS = ("pyxtal", "pyxtal-raw")
GROUP_RANGE = (2, 230)
DMIN_FACTOR = 0.7
VOLUME_FACTOR = 1.1
MAX_GROUP_DRAWS = 40


@functools.cache
def molecules(system_name: str) -> tuple[tuple, tuple[int, ...]]:
    """(PyXtal molecules, counts per formula unit) of a system (built once)."""
    from pymatgen.core import Molecule
    from pyxtal.molecule import pyxtal_molecule
    from systems import get_system

    from csp.units import get_unit

    comp = get_system(system_name).composition_obj(1)
    mols, counts = [], []
    for name, k in comp.units.items():
        u = get_unit(name)
        mols.append(pyxtal_molecule(Molecule([int(z) for z in u.numbers], u.positions)))
        counts.append(k)
    for el, k in comp.atoms.items():
        mols.append(pyxtal_molecule(Molecule([el], [[0.0, 0.0, 0.0]])))
        counts.append(k)
    return tuple(mols), tuple(counts)


def _compatible(mols, counts, group: int) -> bool:
    """Does PyXtal accept these molecule counts (conventional cell) in this group?

    Runs the checks of ``pyxtal.molecular_crystal.molecular_crystal.__init__`` without
    generating (volume, lattice and placement stubbed out)."""
    from pyxtal.molecular_crystal import molecular_crystal

    class _CheckOnly(molecular_crystal):
        def set_volume(self):
            pass

        def set_lattice(self, lattice):
            pass

        def set_crystal(self):
            pass

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _CheckOnly(3, group, list(mols), list(counts))
        return True
    except Exception:  # noqa: BLE001 - Symm_/Comp_CompatibilityError and friends
        return False


def accepted_groups(system: System, n_fu: int, cache_dir: Path | None = None) -> list[int]:
    """Space groups in GROUP_RANGE that PyXtal accepts for a cell of ``n_fu`` f.u."""
    from pyxtal.symmetry import Group

    path = Path(cache_dir) / f"{system.name}_fu{n_fu}.json" if cache_dir else None
    if path is not None and (cached := read_json(path)) is not None:
        return cached["groups"]
    mols, counts = molecules(system.name)
    groups = []
    for g in range(GROUP_RANGE[0], GROUP_RANGE[1] + 1):
        mult = Group(g).cellsize() * n_fu
        if _compatible(mols, [c * mult for c in counts], g):
            groups.append(g)
    if path is not None:
        write_json(path, {"system": system.name, "formula_units": n_fu, "groups": groups})
    return groups


def _primitive_genome(atoms, system: System):
    """The csp genome of a PyXtal cell in its primitive cell (None if units are lost)."""
    import spglib
    from ase import Atoms
    from common import expected_units, recognise_units

    cell = spglib.standardize_cell((atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers),
                                   to_primitive=True, no_idealize=True, symprec=1e-3)
    if cell is not None and len(cell[2]) < len(atoms):
        atoms = Atoms(numbers=cell[2], scaled_positions=cell[1], cell=cell[0], pbc=True)
    genome, _ = recognise_units(atoms, system)
    want = expected_units(system, len(atoms))
    per_fu = system.atoms_per_fu()
    if want is None or genome.unit_counts() != want or len(atoms) // per_fu not in \
            system.formula_units:
        return None
    return genome


def _valid(genome) -> bool:
    from csp.operators.validity import Limits, check_genome

    lim = Limits(dmin_factor=DMIN_FACTOR, min_angle_deg=1.0, max_angle_deg=179.0,
                 max_length_ratio=100.0)
    return check_genome(genome, lim)[0]


def compress(genome, system: System):
    """Scale the cell down (units rigid) towards csp's volume estimate x 1.1, as far as
    the minimum distances allow (bisection on the linear scale factor)."""
    from csp.operators.generation import target_volume

    from csp.composition import Composition

    comp = Composition(units=genome.unit_counts(), atoms=genome.atom_counts())
    target = VOLUME_FACTOR * target_volume(comp, system.pressure)
    lo = (target / genome.volume) ** (1 / 3)
    if lo >= 1.0:
        return genome
    scaled = lambda s: genome.replace(cell=genome.cell * s)
    if _valid(scaled(lo)):
        return scaled(lo)
    hi = 1.0
    for _ in range(20):
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if _valid(scaled(mid)) else (mid, hi)
    return scaled(hi)


def candidate(system: System, seed: int, index: int, squeeze: bool,
              cache_dir: Path | None = None):
    """(atoms with unit tags, origin) of the ``index``-th PyXtal candidate of a run."""
    from pyxtal import pyxtal
    from pyxtal.symmetry import Group

    rng = np.random.default_rng(np.random.SeedSequence([seed, index]))
    mols, counts = molecules(system.name)
    for _ in range(MAX_GROUP_DRAWS):
        n_fu = int(rng.choice(system.formula_units))
        groups = accepted_groups(system, n_fu, cache_dir)
        if not groups:
            continue
        g = int(groups[int(rng.integers(len(groups)))])
        mult = Group(g).cellsize() * n_fu
        s = pyxtal(molecular=True)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                s.from_random(3, g, list(mols), [c * mult for c in counts], random_state=rng)
        except Exception:  # noqa: BLE001, S112 - PyXtal could not place the molecules: redraw
            continue
        genome = _primitive_genome(s.to_ase(resort=False), system)
        if genome is None:
            continue
        if squeeze:
            genome = compress(genome, system)
        return genome.to_atoms(wrap=True), f"pyxtal:{g}"
    raise RuntimeError(f"{system.name}: PyXtal gave no structure in {MAX_GROUP_DRAWS} draws")


def settings(method: str) -> dict:
    return {"spacegroups": list(GROUP_RANGE), "volume": (
        f"rigid compression towards csp estimate x {VOLUME_FACTOR}, dmin {DMIN_FACTOR} x "
        "covalent radii" if method == "pyxtal" else "PyXtal default (factor 1.1)"),
        "generator": "pyxtal(molecular=True).from_random, default tolerances"}


RELAXED_DB = "relaxed.db"


def save_relaxed(workdir: Path, rec: dict, atoms) -> None:
    """Keep a converged structure (``workdir/relaxed.db``, keyed by the relaxation's
    1-based ``index``) so that it can be polished later, as csp's own database allows
    for csp runs. A relaxation redone after a kill replaces its earlier row."""
    from ase.db import connect

    Path(workdir).mkdir(parents=True, exist_ok=True)
    with connect(Path(workdir) / RELAXED_DB) as db:
        stale = [row.id for row in db.select(index=rec["index"])]
        if stale:
            db.delete(stale)
        db.write(atoms, index=rec["index"], units_intact=bool(rec["units_intact"]),
                 enthalpy_per_atom=float(rec["enthalpy_per_atom"]))


def run_pyxtal(system: System, method: str, seed: int, budget: int, relaxer, workdir: Path,
               reference: dict, cache_dir: Path | None = None
               ) -> tuple[list[dict], float, dict]:
    """One PyXtal run (resumes from ``workdir/partial.json``); (records, wall s, settings)."""
    workdir = Path(workdir)
    partial = read_json(workdir / "partial.json") or {"records": [], "wall": 0.0}
    records, wall = partial["records"], partial["wall"]
    while len(records) < budget and not stop_now(records, reference):
        t0 = time.perf_counter()
        atoms, origin = candidate(system, seed, len(records), method == "pyxtal", cache_dir)
        rec, out = relax_and_record(atoms, system, relaxer, len(records) + 1, origin,
                                    reference)
        if out.status == "relaxed" and out.atoms is not None:
            save_relaxed(workdir, rec, out.atoms)
        records.append(rec)
        wall += time.perf_counter() - t0
        write_json(workdir / "partial.json", {"records": records, "wall": wall})
    return records, wall, settings(method)
