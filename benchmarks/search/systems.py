"""The benchmark's test systems and relaxers, as data.

Each :class:`System` is a superatomic crystal with a known ground state *inside its
unit space* (atoms + rigid units): the reference structure, relaxed once with the
benchmark's relaxer at the system's pressure, defines "found" (see
``common.is_hit``). All cells are small (<= 13 atoms per formula unit for the default
systems) so that one relaxation costs seconds.

Relaxers are named settings (``RELAXERS``); every method of a campaign uses the same
one, and every result file records it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

__all__ = ["DEFAULT_BUDGET", "DEFAULT_SYSTEMS", "GA_SETTINGS", "RELAXERS", "SYSTEMS", "System",
           "get_system", "reference_genome", "run_budget"]

#: relaxations per run unless the command line says otherwise
DEFAULT_BUDGET = 30

#: the statistics relaxer: SevenNet 7net-mf-0 (csp's default model) with loose
#: convergence. FIRE down to 0.3 eV/Å, then BFGS to 0.1 eV/Å on forces and the
#: FrechetCellFilter stress residual, at most 80 steps (keys: csp.calculators.ml.MLSettings).
CHEAP = {"name": "sevennet", "fmax": 0.1, "steps": 80, "threads": 1}

RELAXERS: dict[str, dict] = {
    "cheap": CHEAP,
    # csp's default ML relaxation (fmax 0.02 eV/Å, 600 steps): the production setting
    "default": {"name": "sevennet", "threads": 1},
    # zero-cost Morse stand-in: machinery checks only, NOT physics
    "fake": {"name": "fake"},
    # the same with 0.5 s per relaxation: tests of interruption and resumption
    "fake-slow": {"name": "fake", "sleep": 0.5},
}

#: population settings shared by both genetic algorithms (csp GA and ase-ga): the
#: first ``initial_population`` relaxations are random, then the population of the
#: ``population_size`` best unique structures breeds (steady state).
GA_SETTINGS = {"population_size": 10, "initial_population": 10}


@dataclass(frozen=True)
class System:
    """One benchmark system.

    Attributes:
        name: short key used on the command line and in file names.
        title: human-readable description.
        composition: csp composition of one formula unit, e.g. ``"Sr1 (B12)1"``.
        formula_units: allowed formula units per cell (a contiguous range lo..hi).
        pressure: GPa.
        reference: the reference ground state: ``"sc-xb12:El[:a]"`` (simple-cubic XB12,
            see ``success_rate.reference_genome``) or a ``csp.seeds`` spec (library name).
        primitive: reduce the reference to its primitive cell (spglib).
        budget: default relaxations per run.
        notes: what is known about the reference under the benchmark relaxer.
        blocks: variable composition: the search's building blocks (unit names
            ``"(B6)"`` or element symbols); a cell holds any combination of them with
            ``atoms[0] <= atoms <= atoms[1]``. ``composition`` and ``formula_units`` are
            then the target compound: "found" is a relaxation of that composition at
            the reference enthalpy per atom. Empty: fixed composition.
        atoms: the atom range of a variable-composition cell.
    """

    name: str
    title: str
    composition: str
    formula_units: tuple[int, ...]
    pressure: float
    reference: str
    primitive: bool = True
    budget: int = DEFAULT_BUDGET
    notes: str = ""
    tags: tuple[str, ...] = field(default=())
    blocks: tuple[str, ...] = ()
    atoms: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        fu = self.formula_units
        if not fu or list(fu) != list(range(fu[0], fu[-1] + 1)) or fu[0] < 1:
            raise ValueError(f"{self.name}: formula_units must be a contiguous range, got {fu}")
        if self.blocks and not 1 <= self.atoms[0] <= self.atoms[1]:
            raise ValueError(f"{self.name}: atoms must be (lo, hi) with 1 <= lo <= hi for a "
                             f"variable composition, got {self.atoms}")

    @property
    def variable(self) -> bool:
        """Variable composition (the search chooses the composition)."""
        return bool(self.blocks)

    def on_target(self, units: dict, atoms: dict) -> bool:
        """A cell of these unit and atom counts is the target compound (some allowed
        number of formula units)."""
        units = {k: v for k, v in units.items() if v}
        atoms = {k: v for k, v in atoms.items() if v}
        return any(c.units == units and c.atoms == atoms
                   for c in (self.composition_obj(n) for n in self.formula_units))

    @property
    def max_formula_units(self) -> int:
        return self.formula_units[-1]

    def composition_obj(self, n_fu: int = 1):
        """The csp Composition of a cell with ``n_fu`` formula units."""
        from csp.composition import parse_composition

        return parse_composition(self.composition).scaled(n_fu)

    def atoms_per_fu(self) -> int:
        return self.composition_obj(1).n_atoms

    def unit_names(self) -> list[str]:
        return sorted(self.composition_obj(1).units)

    def to_dict(self) -> dict:
        return {"name": self.name, "title": self.title, "composition": self.composition,
                "formula_units": list(self.formula_units), "pressure": self.pressure,
                "reference": self.reference, "primitive": self.primitive,
                "budget": self.budget, "notes": self.notes,
                **({"blocks": list(self.blocks), "atoms": list(self.atoms)}
                   if self.variable else {})}


SYSTEMS: dict[str, System] = {s.name: s for s in (
    System("srb12", "SrB12 at 50 GPa (1 f.u., 13 atoms)", "Sr1 (B12)1", (1,), 50.0,
           "sc-xb12:Sr", notes="simple-cubic superatomic SrB12 (Pm-3): B12 at the origin, Sr "
           "at the body centre; 77 meV/atom below UB12-type under 7net-mf-0"),
    System("cab6", "CaB6 at 0 GPa with B6 octahedra (1 f.u., 7 atoms)", "Ca1 (B6)1", (1,), 0.0,
           "cab6", notes="CaB6 type (Pm-3m): Ca at 1a, B6 at 1b"),
    System("alphab", "alpha-boron at 0 GPa with B12 units (1 B12, 12 atoms)", "(B12)1", (1,),
           0.0, "alpha-b", notes="rhombohedral alpha-B (R-3m), one icosahedron per cell"),
    System("nabh4", "NaBH4 at 0 GPa with BH4 units (1-2 f.u., 6/12 atoms)", "Na1 (BH4)1", (1, 2),
           0.0, "nabh4", notes="ordered F-43m model of cubic NaBH4, primitive cell; in 2 f.u. "
           "a lower (tetragonal-like) ordering may exist and counts as found"),
    System("nabh4t", "tetragonal NaBH4 at 0 GPa with BH4 units (2 f.u., 12 atoms)",
           "Na1 (BH4)1", (2,), 0.0, "nabh4-lt", budget=60,
           notes="low-temperature NaBH4 (P4_2/nmc / P-42_1c, Z = 2): the BH4 orientational "
                 "ordering of the cubic rock-salt arrangement with a tetragonal strain; 11.3 "
                 "meV/atom (cheap relaxer) below the ordered F-43m cubic model under 7net-mf-0"),
    System("cab6vc", "Ca-B6 at 0 GPa, variable composition (Ca and B6 blocks, 7-14 atoms)",
           "Ca1 (B6)1", (1, 2), 0.0, "cab6", budget=40, blocks=("Ca", "(B6)"), atoms=(7, 14),
           notes="the search also chooses the composition: 19 cell compositions, two of "
                 "them CaB6 (1-2 f.u.); found = a CaB6 cell at the reference enthalpy. csp "
                 "methods only: ase-ga and PyXtal search one composition at a time"),
    System("nabh4z4", "tetragonal NaBH4 at 0 GPa in a cell of 4 f.u. (24 atoms)", "Na1 (BH4)1",
           (4,), 0.0, "nabh4-lt", budget=60,
           notes="nabh4t's low-temperature phase searched in cells of four formula units "
                 "(twice its own cell); the reference is its two-f.u. cell"),
    # optional systems (not in the default campaign)
    System("bab12", "BaB12 at 50 GPa (1-2 f.u., 13/26 atoms)", "Ba1 (B12)1", (1, 2), 50.0,
           "sc-xb12:Ba", notes="simple-cubic superatomic BaB12 (Pm-3); 207 meV/atom below "
                               "UB12-type under 7net-mf-0", tags=("optional",)),
    System("alphab2", "alpha-boron at 0 GPa with B12 units (1-2 B12, 12/24 atoms)", "(B12)1",
           (1, 2), 0.0, "alpha-b", tags=("optional",)),
    System("srb12z2", "SrB12 at 50 GPa in a cell of 2 f.u. (26 atoms)", "Sr1 (B12)1", (2,),
           50.0, "sc-xb12:Sr", budget=60, tags=("optional",),
           notes="srb12's simple-cubic ground state, searched in cells of two formula units "
                 "(a 2x1x1 supercell or any other of its two-f.u. cells counts); the reference "
                 "is the one-f.u. cell: enthalpy per atom and StructureMatcher (primitive "
                 "cells) do not depend on the number of formula units"),
    System("k2b12h12", "K2B12H12 at 0 GPa with B12H12 units (1 f.u., 26 atoms)",
           "K2 (B12H12)1", (1,), 0.0, "k2b12h12", notes="Fm-3 (Wunderlich & Lipscomb), "
           "primitive cell", tags=("optional",)),
)}

#: the systems of the default campaign (those of benchmarks/RESULTS.md): cells of at most
#: 14 atoms, so that a relaxation costs seconds, and one of 24 (nabh4z4, 15-25 s per
#: relaxation here); nabh4t and nabh4z4 (two and four formula units) and cab6vc (variable
#: composition) are those where the GA's random start does not already hold the answer in
#: most seeds
DEFAULT_SYSTEMS = ("srb12", "cab6", "alphab", "nabh4", "nabh4t", "cab6vc", "nabh4z4")


def get_system(name: str) -> System:
    """The system of a name; SystemExit with the known names otherwise."""
    if name not in SYSTEMS:
        raise SystemExit(f"unknown system {name!r}; known: {', '.join(SYSTEMS)}")
    return SYSTEMS[name]


def run_budget(name: str, override: int | None = None) -> int:
    """Relaxations per run of a system: ``override`` (a command line's --budget), else
    the system's own."""
    return override if override is not None else get_system(name).budget


def reference_genome(system: System):
    """The reference structure of a system as a csp Genome (unrelaxed).

    Raises:
        ValueError: when the reference's composition is not the system's (for a fixed
            composition: not a whole number of its formula units).
    """
    from success_rate import reference_genome as build

    from csp.seeds import primitive_genome

    genome = build(system.reference)
    if system.primitive:
        genome = primitive_genome(genome)
    units, atoms = genome.unit_counts(), genome.atom_counts()
    # a fixed-composition system may search cells of more formula units than its reference
    # has: enthalpy per atom and StructureMatcher (primitive cells) do not depend on them
    n_fu, rest = divmod(len(genome), system.atoms_per_fu())
    if system.on_target(units, atoms) or (
            not system.variable and n_fu >= 1 and rest == 0
            and replace(system, formula_units=(n_fu,)).on_target(units, atoms)):
        return genome
    wanted = (f"{system.composition} x {list(system.formula_units)}" if system.variable else
              f"a whole number of formula units {system.composition}")
    raise ValueError(f"{system.name}: reference {system.reference} has units {units} and atoms "
                     f"{atoms}, not {wanted}")
