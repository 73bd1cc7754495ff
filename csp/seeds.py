"""The seed library of known superatomic crystals, and seeds for a search.

Each entry is a CIF in ``csp/data/seeds/`` with its reference, conditions and notes in
the CIF header and in ``index.json``. The CIFs are written from published
crystallographic data by :func:`build_entry` (``python -m csp.seeds`` regenerates
them); where an experimental structure is orientationally disordered (fcc C60, K3C60,
NaBH4, NH4Cl at room temperature), the library holds the standard ordered model and
says so. ``load_seed`` reads the CIF, optionally substitutes elements (``xb12`` with
X = K, Ca, Sr, Ba, La, ...), and recognises the units to give a genome.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from ase import Atoms

from csp.errors import CspError
from csp.genome import Genome
from csp.units import orthonormal_frame

if TYPE_CHECKING:
    from spglib import SpglibDataset

__all__ = [
    "PROTOTYPES",
    "SeedInfo",
    "load_seed",
    "load_seed_atoms",
    "primitive_genome",
    "resolve_seed",
    "seed_info",
    "seed_names",
    "substitute",
]

DATA = Path(__file__).parent / "data" / "seeds"


@dataclass(frozen=True)
class SeedInfo:
    name: str
    formula: str
    spacegroup: int
    units: dict[str, int]
    reference: str
    conditions: str
    notes: str
    substitutable: str = ""  # element that --element X=... replaces


# name: (space group, units per cell in the CIF, reference, conditions, notes, placeholder)
_ENTRIES: dict[str, tuple] = {
    "alpha-b": (166, {"B12": 1}, ("B. F. Decker, J. S. Kasper, Acta Cryst. 12, 503 (1959); "
                "positions as refined by G. Will, B. Kiefer, Z. Anorg. Allg. Chem. 627, 2100 (2001)"),
                "room temperature, ambient pressure", "rhombohedral primitive cell, one B12", ""),
    "cab6": (221, {"B6": 1}, ("CaB6 structure type: M. von Stackelberg, F. Neumann, Z. Phys. Chem. B "
             "19, 314 (1932); a = 4.151 Å, B 6f x = 0.2019"), "room temperature, ambient pressure",
             "Ca at 1a, B6 octahedron centred at 1b", "Ca"),
    "ub12": (225, {}, ("UB12 type: F. Bertaut, P. Blum, C. R. Acad. Sci. 229, 666 (1949); "
             "a = 7.473 Å, B 48i (1/2, y, y) y = 0.1690"), "room temperature, ambient pressure",
             ("conventional cell; the B12 cuboctahedra share atoms (a continuous B network, not "
             "superatomic), so no rigid unit is recognised"), "U"),
    "xb12": (200, {"B12": 1}, ("simple-cubic superatomic XB12 predicted at 50 GPa (Pm-3m reported; "
             "2025 preprint on XB12 superatomic superconductors); no lattice constant published"),
             "model built here: B12 (B-B 1.77 Å) with inter-icosahedral B-B 1.70 Å, a = 4.564 Å",
             ("an ordered icosahedron on a cubic site has Th symmetry: the space group is Pm-3 "
             "(No. 200); X at the body centre"), "Sr"),
    "b4c": (166, {"B12": 1}, ("boron carbide: structure type G. W. Clark, J. L. Hoard, JACS 65, "
            "2115 (1943); lattice of stoichiometric B4C a_h = 5.600, c_h = 12.07 Å (rhombohedral "
            "5.16 Å, 65.7 deg)"), "room temperature, ambient pressure",
            ("ordered model built here: B13C2 = B12(CBC), ideal B12 (B-B 1.77 Å) at the origin in the "
            "alpha-B orientation, C-B-C chain (C-B 1.43 Å) on the 3-fold axis; gives C-B(equatorial) "
            "1.60 Å, inter-icosahedral B-B 1.77 Å. The B4C end, (B11C)(CBC), has one C disordered over "
            "the polar sites"), ""),
    "mgb2": (191, {}, "J. Nagamatsu et al., Nature 410, 63 (2001): a = 3.086, c = 3.524 Å",
             "room temperature, ambient pressure", "graphite-like B layers, no superatom", "Mg"),
    "c60": (202, {"C60": 4}, "P. A. Heiney et al., PRL 66, 2911 (1991): fcc C60, a = 14.17 Å",
            "room temperature (orientationally disordered, Fm-3m)",
            "ordered model: C60 in the standard orientation (C2 axes along the cube axes), Fm-3", ""),
    "k3c60": (202, {"C60": 4}, "P. W. Stephens et al., Nature 351, 632 (1991): K3C60, a = 14.24 Å",
              "room temperature (merohedral disorder, Fm-3m)",
              "ordered model: C60 standard orientation, K at 4b and 8c, Fm-3", "K"),
    "k2b12h12": (202, {"B12H12": 4}, ("J. A. Wunderlich, W. N. Lipscomb, JACS 82, 4427 (1960): "
                 "K2B12H12, Fm-3, a = 10.63 Å"), "room temperature, ambient pressure",
                 "B12H12 at 4a (m-3), K at 8c; B-H set to 1.19 Å", "K"),
    "nabh4": (216, {"BH4": 4}, ("P. Fischer, A. Züttel, Mater. Sci. Forum 443-444, 287 (2004): "
              "cubic NaBH4, a = 6.1635 Å"), "room temperature (BH4 orientationally disordered, Fm-3m)",
              "ordered model: BH4 tetrahedra aligned with the cube diagonals, F-43m", "Na"),
    "nabh4-lt": (137, {"BH4": 2}, ("R. L. Davis, C. H. L. Kennard, J. Solid State Chem. 59, 393 "
                 "(1985): tetragonal NaBD4 at 10 K, P4_2/nmc, a = 4.332, c = 5.869 Å; re-refined "
                 "with tilted BD4 in P-42_1c by Y. Filinchuk, H. Hagemann, Eur. J. Inorg. Chem. "
                 "2008, 3127"), ("low temperature (below the ~190 K order-disorder transition), "
                 "ambient pressure"), ("ordered model built here: Na at 2a, BH4 at 2b with its -4 axis "
                 "along c and its H atoms in the mirror planes (B-H 1.22 Å), P4_2/nmc; a small "
                 "turn about c gives P-42_1c"), "Na"),
    "libh4": (62, {"BH4": 4}, ("J.-Ph. Soulié, G. Renaudin, R. Černý, K. Yvon, J. Alloys Compd. 346, "
              "200 (2002): orthorhombic LiBH4, Pnma, a = 7.17858, b = 4.43686, c = 6.80321 Å"),
              "room temperature, ambient pressure (below the 381 K transition to P6_3mc)",
              ("Li as published; each BH4 made a regular tetrahedron (B-H 1.22 Å) fitted (Kabsch) to the "
              "published X-ray B and H positions (B-H spread 1.04-1.29 Å, fit RMSD 0.16 Å)"), "Li"),
    "li3ocl": (221, {}, ("Y. Zhao, L. L. Daemen, JACS 134, 15042 (2012): Li3OCl antiperovskite, "
               "a = 3.91 Å"), "room temperature, ambient pressure", "Cl at 1a, O at 1b, Li at 3c", ""),
    "na3obh4": (215, {"BH4": 1}, ("Na3O(BH4) antiperovskite (Y. Sun et al., JACS 141, 5640 (2019)): "
                "cubic, a ≈ 4.43 Å"), "room temperature (BH4 disordered)",
                "ordered model: BH4 on the corner with Td site symmetry, P-43m", ""),
    "nh4cl": (215, {"NH4": 1}, ("H. A. Levy, S. W. Peterson, Phys. Rev. 86, 766 (1952): ordered "
              "ND4Cl, CsCl type, a = 3.87 Å"), "below the order-disorder transition (~243 K)",
              "N at 1a, Cl at 1b, H at 4e with N-H 1.03 Å, P-43m", ""),
}


def _from_genome_units(cell, placements, atoms_list) -> Atoms:
    from csp.units import get_unit

    units = [get_unit(n) for n, _, _ in placements]
    g = Genome.from_units(cell, units, [c for _, c, _ in placements], [q for _, _, q in placements],
                          [z for z, _ in atoms_list], [f for _, f in atoms_list])
    return g.to_atoms(wrap=True)


def _fcc(points):
    out = []
    for t in ([0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]):
        for p in points:
            out.append((np.array(p) + t) % 1.0)
    return out


def build_entry(name: str) -> Atoms:
    """The structure of a library entry from its published data (see _ENTRIES)."""
    from ase.data import atomic_numbers as Z
    from ase.spacegroup import crystal

    one = [1.0, 0.0, 0.0, 0.0]
    if name == "alpha-b":
        hexa = crystal(["B", "B"], basis=[(0.11886, 0.88114, 0.89133), (0.19686, 0.80314, 0.02432)],
                       spacegroup=166, cellpar=[4.9179, 4.9179, 12.5805, 90, 90, 120])
        import spglib

        std = spglib.standardize_cell(
            (hexa.cell[:], hexa.get_scaled_positions(), hexa.numbers), to_primitive=True)
        if std is None:
            why = spglib.get_error_message() or "no error given"
            raise CspError(f"seed {name}: spglib cannot standardise the cell of "
                           f"{hexa.get_chemical_formula()} ({why})")
        lat, pos, num = std
        return Atoms(numbers=num, scaled_positions=pos, cell=lat, pbc=True)
    if name == "cab6":
        return crystal(["Ca", "B"], basis=[(0, 0, 0), (0.2019, 0.5, 0.5)], spacegroup=221,
                       cellpar=[4.151] * 3 + [90] * 3)
    if name == "ub12":
        return crystal(["U", "B"], basis=[(0, 0, 0), (0.5, 0.169, 0.169)], spacegroup=225,
                       cellpar=[7.473] * 3 + [90] * 3)
    if name == "xb12":
        return _from_genome_units(np.eye(3) * 4.564, [("B12", [0, 0, 0], one)],
                                  [(Z["Sr"], [0.5, 0.5, 0.5])])
    if name == "b4c":
        return _boron_carbide()
    if name == "libh4":
        return _regular_units(crystal(
            ["Li", "B", "H", "H", "H"], basis=[(0.1568, 0.25, 0.1015), (0.3040, 0.25, 0.4305),
                                              (0.900, 0.25, 0.956), (0.404, 0.25, 0.280),
                                              (0.172, 0.054, 0.428)],
            spacegroup=62, cellpar=[7.17858, 4.43686, 6.80321, 90, 90, 90]), "BH4")
    if name == "mgb2":
        return crystal(["Mg", "B"], basis=[(0, 0, 0), (1 / 3, 2 / 3, 0.5)], spacegroup=191,
                       cellpar=[3.086, 3.086, 3.524, 90, 90, 120])
    if name in ("c60", "k3c60"):
        a = 14.17 if name == "c60" else 14.24
        places = [("C60", c, one) for c in _fcc([[0, 0, 0]])]
        ks = _fcc([[0.5, 0.5, 0.5], [0.25, 0.25, 0.25], [0.75, 0.75, 0.75]]) if name == "k3c60" else []
        return _from_genome_units(np.eye(3) * a, places, [(Z["K"], f) for f in ks])
    if name == "k2b12h12":
        places = [("B12H12", c, one) for c in _fcc([[0, 0, 0]])]
        ks = _fcc([[0.25, 0.25, 0.25], [0.75, 0.75, 0.75]])
        return _from_genome_units(np.eye(3) * 10.63, places, [(Z["K"], f) for f in ks])
    if name == "nabh4":
        places = [("BH4", c, one) for c in _fcc([[0.5, 0.5, 0.5]])]
        return _from_genome_units(np.eye(3) * 6.1635, places,
                                  [(Z["Na"], f) for f in _fcc([[0, 0, 0]])])
    if name == "nabh4-lt":
        return _tetragonal_nabh4()
    if name == "li3ocl":
        return crystal(["Cl", "O", "Li"], basis=[(0, 0, 0), (0.5, 0.5, 0.5), (0, 0.5, 0.5)],
                       spacegroup=221, cellpar=[3.91] * 3 + [90] * 3)
    if name == "na3obh4":
        return _from_genome_units(np.eye(3) * 4.43, [("BH4", [0, 0, 0], one)],
                                  [(Z["O"], [0.5, 0.5, 0.5])] + [(Z["Na"], f) for f in
                                                                ([0, 0.5, 0.5], [0.5, 0, 0.5],
                                                                 [0.5, 0.5, 0])])
    if name == "nh4cl":
        return _from_genome_units(np.eye(3) * 3.87, [("NH4", [0, 0, 0], one)],
                                  [(Z["Cl"], [0.5, 0.5, 0.5])])
    raise CspError(f"unknown seed {name!r}; known: {', '.join(_ENTRIES)}")


def _tetragonal_nabh4(a: float = 4.332, c: float = 5.869, bh: float = 1.22) -> Atoms:
    """Low-temperature NaBH4 (two formula units): Na at (0, 0, 0), (1/2, 1/2, 1/2); B at
    (0, 0, 1/2), (1/2, 1/2, 0); each BH4 a regular tetrahedron with its -4 axis along c,
    H in the (010) and (100) mirror planes, the second turned by 90 degrees (the 4_2 screw)."""
    from ase.data import atomic_numbers as Z

    half = math.acos(-1.0 / 3.0) / 2.0  # half the tetrahedral angle, H-B-H = 109.47 deg
    r, z = bh * math.sin(half), bh * math.cos(half)
    up = [(r, 0, z), (-r, 0, z), (0, r, -z), (0, -r, -z)]
    down = [(x, y, -w) for x, y, w in up]  # the B at (1/2, 1/2, 0): -4 axis reversed
    cell = np.diag([a, a, c])
    pos, num = [], []
    for centre, hs in (((0, 0, 0.5), up), ((0.5, 0.5, 0.0), down)):
        b = np.asarray(centre) @ cell
        pos += [b] + [b + np.asarray(h) for h in hs]
        num += [Z["B"]] + [Z["H"]] * 4
    pos += [np.zeros(3), np.array([0.5, 0.5, 0.5]) @ cell]
    num += [Z["Na"]] * 2
    return Atoms(numbers=num, positions=pos, cell=cell, pbc=True)


def _boron_carbide(a_hex: float = 5.600, c_hex: float = 12.07, cb: float = 1.43) -> Atoms:
    """B12(CBC) in the rhombohedral cell of the given hexagonal lattice (see _ENTRIES)."""
    from ase.data import atomic_numbers as Z
    from ase.geometry import cellpar_to_cell

    from csp.genome import matrix_to_quat

    a = math.sqrt(a_hex**2 / 3 + c_hex**2 / 9)
    alpha = math.degrees(math.acos((2 * c_hex**2 - 3 * a_hex**2) / (2 * c_hex**2 + 6 * a_hex**2)))
    cell = cellpar_to_cell([a, a, a, alpha, alpha, alpha])
    axis = cell.sum(axis=0) / np.linalg.norm(cell.sum(axis=0))  # the 3-fold axis
    perp = cell[0] - cell[1]
    perp -= axis * (perp @ axis)
    # template C3 axis (1,1,1) onto the 3-fold axis and one of its C2 axes onto a_hex:
    # the alpha-boron orientation (polar vertices towards the neighbouring icosahedra)
    c2 = np.array([0.30901699, -0.80901699, 0.5])
    rot = orthonormal_frame(axis, perp).T @ orthonormal_frame(np.ones(3) / math.sqrt(3), c2)
    centre = cell.sum(axis=0) / 2
    chain = [np.linalg.solve(cell.T, centre + s * cb * axis) for s in (1.0, -1.0)]
    return _from_genome_units(cell, [("B12", [0, 0, 0], matrix_to_quat(rot))],
                              [(Z["C"], chain[0]), (Z["C"], chain[1]), (Z["B"], [0.5, 0.5, 0.5])])


def _regular_units(atoms: Atoms, unit_name: str) -> Atoms:
    """The crystal with every instance of a unit replaced by its ideal template, fitted
    (Kabsch) to the published positions (centre and orientation kept)."""
    from csp.recognition import recognise
    from csp.units import get_unit

    genome, report = recognise(atoms, [get_unit(unit_name)], rmsd_tol=0.3, dist_tol=0.3)
    if report.counts.get(unit_name, 0) == 0:
        raise CspError(f"seed model: no {unit_name} found to regularise")
    return genome.to_atoms(wrap=True)


def _symmetry_dataset(atoms: Atoms, symprec: float, what: str) -> SpglibDataset:
    """spglib's symmetry dataset of ``atoms``.

    Raises:
        CspError: spglib finds none (it returns None, e.g. for atoms that overlap within
            ``symprec`` or a degenerate cell); the message names ``what``, the formula and
            ``symprec``.
    """
    import spglib

    ds = spglib.get_symmetry_dataset((atoms.cell[:], atoms.get_scaled_positions(),
                                      atoms.numbers), symprec=symprec)
    if ds is None:
        why = spglib.get_error_message() or "overlapping atoms or a degenerate cell?"
        raise CspError(f"{what}: spglib finds no symmetry for {atoms.get_chemical_formula()} "
                       f"at symprec {symprec:g} ({why})")
    return ds


def write_library(directory: Path = DATA) -> None:
    """(Re)write the CIFs and index.json from :func:`build_entry` (developer tool)."""
    from ase.io import write

    directory.mkdir(parents=True, exist_ok=True)
    index = {}
    for name, (sg, units, ref, cond, notes, placeholder) in _ENTRIES.items():
        atoms = build_entry(name)
        found = _symmetry_dataset(atoms, 0.01, f"seed {name}").number
        if found != sg:
            raise CspError(f"seed {name}: spglib finds {found}, the entry says {sg}")
        path = directory / f"{name}.cif"
        write(path, atoms, format="cif")
        text = path.read_text().splitlines()
        head = [f"# csp seed library: {name}", f"# reference: {ref}", f"# conditions: {cond}",
                f"# notes: {notes}"]
        body = [text[0], "_journal_coden_ASTM ?", f"_publ_section_references '{ref}'",
                f"_exptl_special_details '{cond}; {notes}'"] + text[1:]
        path.write_text("\n".join(head + body) + "\n")
        index[name] = {"formula": atoms.get_chemical_formula(mode="metal"), "spacegroup": sg,
                       "units": units, "reference": ref, "conditions": cond, "notes": notes,
                       "substitutable": placeholder, "file": path.name}
    (directory / "index.json").write_text(json.dumps(index, indent=1, ensure_ascii=False))


@lru_cache(maxsize=1)
def _index() -> dict[str, dict]:
    path = DATA / "index.json"
    if not path.is_file():
        raise CspError(f"seed library index missing at {path}")
    return json.loads(path.read_text())


def seed_names() -> list[str]:
    return list(_index())


def seed_info(name: str) -> SeedInfo:
    idx = _index()
    key = name.strip().lower()
    if key not in idx:
        raise CspError(f"unknown seed {name!r}; known: {', '.join(idx)}")
    d = idx[key]
    return SeedInfo(key, d["formula"], d["spacegroup"], d["units"], d["reference"],
                    d["conditions"], d["notes"], d.get("substitutable", ""))


def _apply_elements(atoms: Atoms, mapping: dict[str, str]) -> Atoms:
    from ase.data import atomic_numbers

    atoms = atoms.copy()
    syms = atoms.get_chemical_symbols()
    for old, new in mapping.items():
        if new not in atomic_numbers:
            raise CspError(f"element substitution {old}={new}: unknown element {new!r}")
        syms = [new if s == old else s for s in syms]
    atoms.set_chemical_symbols(syms)
    return atoms


def load_seed_atoms(name: str, substitute: dict[str, str] | None = None) -> Atoms:
    """Atoms of a library entry; ``substitute={"X": "Ba"}`` replaces the entry's placeholder
    element (X) or ``{"Sr": "Ba"}`` a named element."""
    import warnings

    from ase.io import read

    info = seed_info(name)
    with warnings.catch_warnings():  # ASE: "Occupancies present but no occupancy info"
        warnings.filterwarnings("ignore", message="Occupancies present", category=UserWarning)
        atoms = cast(Atoms, read(DATA / f"{info.name}.cif"))  # no index: one Atoms
    if substitute:
        mapping = {}
        for old, new in substitute.items():
            src = info.substitutable if old in ("X", "x") else old
            if not src or src not in atoms.get_chemical_symbols():
                raise CspError(f"seed {name!r} has no element {old!r} to substitute "
                               f"(substitutable: {info.substitutable or 'none'})")
            mapping[src] = new
        atoms = _apply_elements(atoms, mapping)
    return atoms


def _is_file_spec(name_or_path: str) -> bool:
    """A library name ("xb12") is looked up in the library; anything else that exists, or
    looks like a path (a suffix or a directory part: "POSCAR", "./CONTCAR", "a.cif"),
    is a structure file."""
    text = str(name_or_path)
    if text.strip().lower() in _index():
        return False
    p = Path(text)
    return p.is_file() or bool(p.suffix) or len(p.parts) > 1


def load_seed(name_or_path: str, substitute: dict[str, str] | None = None,
              units=None, is_file: bool | None = None) -> Genome:
    """A genome of a library entry or a structure file, with its units recognised.

    Args:
        is_file: True for a structure file (any ASE-readable name, POSCAR included);
            default: decided by :func:`_is_file_spec`.
    """
    from csp.recognition import recognise

    p = Path(name_or_path)
    if is_file or (is_file is None and _is_file_spec(name_or_path)):
        if not p.is_file():
            raise CspError(f"seed file {str(name_or_path)!r} does not exist")
        from ase.io import read

        try:
            atoms = cast(Atoms, read(p))  # no index: one Atoms (the last frame)
        except Exception as exc:  # noqa: BLE001 - any reader error is a bad file
            raise CspError(f"cannot read seed file {str(name_or_path)!r}: {exc}") from None
        if substitute:
            missing = [old for old in substitute if old not in atoms.get_chemical_symbols()]
            if missing:
                have = sorted(set(atoms.get_chemical_symbols()))
                raise CspError(f"seed file {str(name_or_path)!r} has no element {missing[0]!r} "
                               f"to substitute (it has {have})")
            atoms = _apply_elements(atoms, substitute)
    else:
        atoms = load_seed_atoms(name_or_path, substitute)
    genome, _ = recognise(atoms, units)
    return genome


# -------------------------------------------------------------- prototype substitution
PROTOTYPES: dict[str, tuple[str, list, list, float]] = {
    # name: (lattice, [(element, fractional position)], unused, a in Å)
    "cscl": ("sc", [("Cs", (0, 0, 0)), ("Cl", (0.5, 0.5, 0.5))], [], 4.12),
    "nacl": ("fcc", [("Na", (0, 0, 0)), ("Cl", (0.5, 0, 0))], [], 5.64),
    "antiperovskite": ("sc", [("Cl", (0, 0, 0)), ("O", (0.5, 0.5, 0.5)), ("Li", (0, 0.5, 0.5)),
                              ("Li", (0.5, 0, 0.5)), ("Li", (0.5, 0.5, 0))], [], 3.91),
}


def _prototype_atoms(name: str) -> Atoms:
    if name in PROTOTYPES:
        lattice, sites, _, a = PROTOTYPES[name]
        syms = [s for s, _ in sites]
        frac = [f for _, f in sites]
        atoms = Atoms(syms, scaled_positions=frac, cell=np.eye(3) * a, pbc=True)
        if lattice == "fcc":
            full = []
            for t in ([0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]):
                for s, f in sites:
                    full.append((s, (np.array(f) + t) % 1.0))
            atoms = Atoms([s for s, _ in full], scaled_positions=[f for _, f in full],
                          cell=np.eye(3) * a, pbc=True)
        return atoms
    if name in _index():
        return load_seed_atoms(name)
    p = Path(name)
    if p.is_file():
        from ase.io import read

        return cast(Atoms, read(p))  # no index: one Atoms (the last frame)
    raise CspError(f"unknown prototype {name!r}: give one of {', '.join(PROTOTYPES)}, a "
                   "library seed or a structure file")


def _sites_to_replace(atoms: Atoms, replace: dict[str, str]) -> dict[int, Any]:
    """Atom index -> unit for a substitution recipe. A key is an element ("Cl": every Cl)
    or an element on one Wyckoff orbit of the crystal ("Li@c" or "Li@3c": the letter, as
    spglib assigns it at symprec 1e-3, decides; a multiplicity in front is for the reader)."""
    from csp.units import get_unit

    syms = atoms.get_chemical_symbols()
    ds: SpglibDataset | None = None
    out: dict[int, Any] = {}
    for key, uname in replace.items():
        el, _, wyck = str(key).partition("@")
        if el not in syms:
            raise CspError(f"substitution: the crystal has no {el!r} to replace by {uname}")
        unit = get_unit(uname)
        chosen = [k for k, s in enumerate(syms) if s == el]
        if wyck:
            if ds is None:
                ds = _symmetry_dataset(atoms, 1e-3, f"substitution {key}={uname}")
            letter = wyck.lstrip("0123456789")
            have = sorted({ds.wyckoffs[k] for k in chosen})
            chosen = [k for k in chosen if ds.wyckoffs[k] == letter]
            if not chosen:
                raise CspError(f"substitution: no {el} on Wyckoff position {wyck!r} in "
                               f"{ds.international} (the {el} sites are {', '.join(have)})")
        for k in chosen:
            if k in out:
                raise CspError(f"substitution: atom {k} ({el}) is named by two keys of {replace}")
            out[k] = unit
    return out


def substitute(atoms: Atoms, replace: dict[str, str], elements: dict[str, str] | None = None,
               overlap: float = 0.15) -> Genome:
    """Replace atoms by units: ``{"Cl": "B12"}`` every Cl, ``{"Li@3c": "BH4"}`` the Li on
    one Wyckoff orbit (spglib letters) only.

    The cell is scaled isotropically so that no two substituted sites, and no
    substituted site and another atom, are closer than the sum of their envelope radii
    (unit: centre-to-outer-atom distance plus that atom's covalent radius; atom: its
    covalent radius) minus ``overlap`` x that sum. Units are oriented so that every
    site-symmetry operation of the host (spglib) maps them onto themselves; when the site
    group is not a subgroup of the unit's point group (an icosahedron on an m-3m site)
    the largest compatible subgroup is used and the crystal's symmetry is lowered.
    """
    from ase.data import covalent_radii

    from csp.operators.generation import site_orientation

    if elements:
        atoms = _apply_elements(atoms, elements)
    syms = atoms.get_chemical_symbols()
    unit_of = _sites_to_replace(atoms, replace)
    # scale: every pair (i, j) needs d_ij >= (1 - overlap) (R_i + R_j)
    radius = np.array([unit_of[k].envelope_radius if k in unit_of else covalent_radii[z]
                       for k, z in enumerate(atoms.numbers)])
    from ase.neighborlist import neighbor_list

    cut = 2 * radius.max() + 1e-6
    scale = 1.0
    i, j, d = neighbor_list("ijd", atoms, min(cut, 0.999 * min(atoms.cell.lengths()) * 2))
    sub = np.array([k in unit_of for k in range(len(syms))])
    need = sub[i] | sub[j]
    if need.any():
        scale = max(1.0, float(((1 - overlap) * (radius[i] + radius[j]) / d)[need].max()))
    host = atoms.copy()
    host.set_cell(atoms.cell[:] * scale, scale_atoms=True)
    cell = np.array(host.cell[:])
    ds = _symmetry_dataset(host, 1e-3, f"substitution {replace} (cell scaled by {scale:.3f})")
    rot_frac, trans = ds.rotations, ds.translations
    a = cell.T
    ainv = np.linalg.inv(a)
    placed, centres, quats, nums, frac = [], [], [], [], []
    from csp.genome import matrix_to_quat

    for k, f in enumerate(host.get_scaled_positions()):
        if k not in unit_of:
            nums.append(int(host.numbers[k]))
            frac.append(f)
            continue
        unit = unit_of[k]
        ops: list[np.ndarray] = []
        for r, t in zip(rot_frac, trans):
            diff = (r @ f + t - f + 0.5) % 1.0 - 0.5
            if np.abs(diff).max() < 1e-4:
                ops.append(a @ r @ ainv)
        site = np.array(ops)
        rot = site_orientation(unit, site, None)
        if rot is None:  # lower the symmetry: keep the proper rotations, then the identity
            proper = np.array([g for g in site if np.linalg.det(g) > 0])
            rot = site_orientation(unit, proper, None) if len(proper) else None
            if rot is None:
                rot = np.eye(3)
        placed.append(unit)
        centres.append(f)
        quats.append(matrix_to_quat(rot))
    # units the host has already (C60 in K3C60, BH4 in Na3OBH4) stay rigid units: found
    # in the unscaled host, moved with their centres, not stretched with the cell
    keep = np.array([k not in unit_of for k in range(len(atoms))])
    if keep.any() and len(nums):
        from csp.recognition import recognise

        rest, _ = recognise(atoms[keep])
        if rest.n_units:
            placed += [rest.kinds[k] for k in rest.unit_kind]
            centres += list(rest.unit_centres)
            quats += list(rest.unit_quats)
            nums, frac = list(rest.atom_numbers), list(rest.atom_frac)
    return Genome.from_units(cell, placed, centres, quats, nums, frac)


def primitive_genome(genome: Genome, symprec: float = 1e-3) -> Genome:
    """The same crystal in its primitive cell (spglib), units recognised again with the
    genome's own unit kinds; the genome itself when it is primitive already."""
    import spglib

    from csp.recognition import recognise

    atoms = genome.to_atoms(wrap=True)
    cell = spglib.standardize_cell((atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers),
                                   to_primitive=True, no_idealize=True, symprec=symprec)
    if cell is None or len(cell[2]) >= len(atoms):
        return genome
    prim = Atoms(numbers=cell[2], scaled_positions=cell[1], cell=cell[0], pbc=True)
    out, _ = recognise(prim, list(genome.kinds) or None)
    return out


def resolve_seed(spec: Any) -> list[Genome]:
    """Genomes for a seed spec of a config.

    Forms: ``"xb12"``; ``"xb12:Ba"`` (placeholder X -> Ba); a file path;
    ``{"name": "xb12", "substitute": {"X": "Sr"}}``;
    ``{"prototype": "cscl", "replace": {"Cl": "B12"}, "elements": {"Cs": "Sr"}}``.
    """
    if isinstance(spec, str):
        name, _, elem = spec.partition(":")
        return [load_seed(name, {"X": elem} if elem else None)]
    if isinstance(spec, dict):
        known = {"name", "substitute", "prototype", "replace", "elements", "file"}
        bad = sorted(set(spec) - known)
        if bad:
            raise CspError(f"seed spec: unknown key(s) {bad}; known: {sorted(known)}")
        if "prototype" in spec:
            if not isinstance(spec.get("replace"), dict) or not spec["replace"]:
                raise CspError("seed spec with 'prototype' needs replace = {Element = 'Unit'}")
            return [substitute(_prototype_atoms(str(spec["prototype"])), spec["replace"],
                               spec.get("elements"))]
        if "file" in spec and "name" in spec:
            raise CspError("seed spec: give 'name' (library) or 'file', not both")
        target = spec.get("name") or spec.get("file")
        if not target:
            raise CspError("seed spec needs 'name', 'file' or 'prototype'")
        return [load_seed(str(target), spec.get("substitute"),
                          is_file=True if "file" in spec else None)]
    raise CspError(f"seed spec must be a name, a path or a table, got {spec!r}")


if __name__ == "__main__":  # pragma: no cover - developer tool
    write_library()
    print(f"wrote {len(_ENTRIES)} seeds to {DATA}")
