"""Rigid building blocks (superatoms, clusters, polyatomic ions) in their body frame.

A :class:`Unit` is *shape only*: atomic numbers, body-frame positions (Å) whose
centroid is the origin, its point group, formal charge and bond graph. Where a unit
sits in a crystal (centre + orientation) is the *pose*, kept by :class:`csp.genome.Genome`.

Geometries of the built-in library come from published bond lengths:

* ``B12`` icosahedron, B-B 1.77 Å: mean intra-icosahedral bond of alpha-rhombohedral
  boron, 1.73-1.80 Å (Decker & Kasper, Acta Cryst. 12, 503 (1959)); the same
  distance (~1.7 Å) is reported inside the B12 of simple-cubic XB12 (SCIENCE.md §2.1).
* ``B6`` octahedron, B-B 1.75 Å: intra-octahedral bond of CaB6 (Pm-3m, a = 4.145 Å,
  B on 6f with x = 0.201; the CaB6 structure type, von Stackelberg & Neumann,
  Z. Phys. Chem. B 19, 314 (1932)).
* ``C60``, C-C 1.458 Å (5:6 edges) and 1.401 Å (6:6 edges): gas-phase electron
  diffraction, Hedberg et al., Science 254, 410 (1991).
* ``BH4`` (tetrahedral), B-H 1.22 Å: neutron diffraction of NaBD4 (Filinchuk, Talyzin,
  Chernyshov & Dmitriev, Phys. Rev. B 76, 092104 (2007)).
* ``AlH4``, Al-H 1.63 Å: neutron diffraction of NaAlD4 (Hauback, Brinks, Jensen,
  Murphy & Maeland, J. Alloys Compd. 358, 142 (2003)).
* ``BF4``, B-F 1.39 Å: KBF4 / NaBF4 crystal structures (Brunton, Acta Cryst. B 24,
  1703 (1968); B-F 1.38-1.40 Å).
* ``B12H12`` (2-), B-B 1.78 Å: K2B12H12 (Wunderlich & Lipscomb, JACS 82, 4427
  (1960)); B-H 1.19 Å, the value of neutron and DFT studies of alkali closo-borates
  (X-ray gives a shorter apparent 1.07-1.12 Å).
* ``CB11H12`` (1-), B-B 1.78 Å, C-B 1.71 Å, B-H 1.19 Å, C-H 1.09 Å: typical bond
  lengths of carba-closo-dodecaborate salts (e.g. the LiCB11H12 / NaCB11H12
  superionic conductors); C5v, the C at one apex.
* ``CN`` (1-), C-N 1.16 Å (alkali cyanides NaCN/KCN).
* ``NO3`` (1-), N-O 1.25 Å (NaNO3, Cherin, Hamilton & Post, Acta Cryst. 23, 455 (1967)).
* ``CO3`` (2-), C-O 1.28 Å (calcite, Maslen, Streltsov & Streltsova, Acta Cryst. B 51,
  929 (1995)).
* ``SO4`` (2-), S-O 1.47 Å (anhydrite CaSO4, Hawthorne & Ferguson, Can. Mineral. 13,
  289 (1975)).
* ``NH4`` (1+), N-H 1.03 Å (ND4Cl neutron diffraction, Levy & Peterson, Phys. Rev. 86,
  766 (1952)).
* ``CH3NH3`` (1+), C-N 1.48 Å, C-H 1.09 Å, N-H 1.03 Å, staggered, tetrahedral angles
  (MAPbI3 neutron data, Weller et al., Chem. Commun. 51, 4180 (2015)).

A user unit comes from an ``.xyz`` file (:func:`unit_from_xyz`); its point group is
found by pymatgen's ``PointGroupAnalyzer``.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
from ase.data import atomic_numbers, chemical_symbols, covalent_radii

from csp.errors import CspError

__all__ = [
    "BOND_FACTOR",
    "Unit",
    "UnitError",
    "bond_graph",
    "builtin_units",
    "get_unit",
    "orthonormal_frame",
    "register_unit",
    "unit_from_xyz",
    "unit_names",
]

#: Two atoms are bonded when closer than BOND_FACTOR x (sum of covalent radii).
BOND_FACTOR = 1.20


class UnitError(CspError):
    """Raised for an unknown unit name or a malformed unit definition."""


def bond_graph(numbers: np.ndarray, positions: np.ndarray,
               factor: float = BOND_FACTOR) -> np.ndarray:
    """Bond edges of an isolated cluster from covalent radii.

    Args:
        numbers: (n,) atomic numbers.
        positions: (n, 3) Cartesian positions, Å.
        factor: bond if d < factor * (r_i + r_j).

    Returns:
        (m, 2) int array of edges ``i < j``, sorted.
    """
    numbers = np.asarray(numbers, dtype=int)
    positions = np.asarray(positions, dtype=float)
    radii = covalent_radii[numbers]
    d = np.linalg.norm(positions[:, None, :] - positions[None, :, :], axis=-1)
    cut = factor * (radii[:, None] + radii[None, :])
    i, j = np.nonzero(np.triu(d < cut, k=1))
    return np.stack([i, j], axis=1).astype(np.int64) if len(i) else np.zeros((0, 2), np.int64)


def array_data(a: np.ndarray, arrays: bool) -> Any:
    """An array as persisted data: a NumPy copy (``arrays=True``, which ASE's database
    stores as a binary blob) or nested lists (JSON)."""
    return np.array(a) if arrays else a.tolist()


@dataclass(frozen=True, eq=False)
class Unit:
    """A rigid building block in its body frame.

    Attributes:
        name: library key, e.g. ``"B12"``, ``"BH4"``.
        numbers: (n,) atomic numbers.
        positions: (n, 3) body-frame positions, Å; their centroid is the origin.
        point_group: Schoenflies symbol (``"Ih"``, ``"Td"``, ``"C*v"`` for linear).
        charge: formal charge of the unit, e (e.g. -1 for BH4-).
        bonds: (m, 2) edges of the bond graph (the topology the integrity check keeps).
        reference: where the geometry comes from.
    """

    name: str
    numbers: np.ndarray
    positions: np.ndarray
    point_group: str
    charge: int = 0
    # None asks __post_init__ to derive the bond graph; an array after construction
    bonds: np.ndarray = field(default=None)  # type: ignore[arg-type]
    reference: str = ""

    def __post_init__(self) -> None:
        numbers = np.asarray(self.numbers, dtype=np.int64).reshape(-1)
        positions = np.asarray(self.positions, dtype=float).reshape(-1, 3)
        if len(numbers) != len(positions) or len(numbers) == 0:
            raise UnitError(f"unit {self.name!r}: {len(numbers)} numbers for "
                            f"{len(positions)} positions")
        if np.any(numbers < 1) or np.any(numbers >= len(chemical_symbols)):
            raise UnitError(f"unit {self.name!r}: bad atomic numbers {numbers.tolist()}")
        centroid = positions.mean(axis=0)
        if np.abs(centroid).max() > 1e-12:
            positions = positions - centroid
        bonds = (bond_graph(numbers, positions) if self.bonds is None
                 else np.asarray(self.bonds, dtype=np.int64).reshape(-1, 2))
        numbers.setflags(write=False)
        positions.setflags(write=False)
        bonds.setflags(write=False)
        object.__setattr__(self, "numbers", numbers)
        object.__setattr__(self, "positions", positions)
        object.__setattr__(self, "bonds", bonds)
        object.__setattr__(self, "charge", int(self.charge))

    # --- derived properties -------------------------------------------------
    def __len__(self) -> int:
        return len(self.numbers)

    @property
    def symbols(self) -> list[str]:
        return [chemical_symbols[z] for z in self.numbers]

    @property
    def formula(self) -> str:
        """Hill-like formula in template order of first appearance, e.g. ``B12H12``."""
        from ase.formula import Formula

        counts = self.counts()
        try:
            if Formula(self.name).count() == counts:
                return self.name
        except ValueError:
            pass
        return "".join(f"{s}{n if n > 1 else ''}" for s, n in counts.items())

    @property
    def radius(self) -> float:
        """Largest distance of an atom from the centre, Å."""
        return float(np.linalg.norm(self.positions, axis=1).max())

    @property
    def envelope_radius(self) -> float:
        """Radius of the unit including the covalent radius of its outer atoms, Å."""
        r = np.linalg.norm(self.positions, axis=1) + covalent_radii[self.numbers]
        return float(r.max())

    def volume(self) -> float:
        """Estimated packing volume of the unit (sum of atomic volumes), Å^3."""
        from csp.volume import atomic_volume  # local: avoids an import cycle

        return float(sum(atomic_volume(int(z)) for z in self.numbers))

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self.symbols:
            out[s] = out.get(s, 0) + 1
        return out

    def is_linear(self) -> bool:
        return self.point_group in ("C*v", "D*h")

    def symmetry_operations(self, tol: float = 0.05) -> np.ndarray:
        """Point-group operations of the template, (k, 3, 3) orthogonal matrices.

        Each matrix maps the body-frame template onto itself (permuting atoms of the
        same element). Linear units return the finite operations of their C*v / D*h
        group that are checked exactly: identity, the axis mirror planes through x
        and y containing the axis, and, for D*h, inversion and C2 perpendicular.
        """
        return _symmetry_operations(self, tol)

    def to_dict(self, arrays: bool = False) -> dict:
        """Plain data (JSON-able lists; NumPy array copies with ``arrays=True``)."""
        return {
            "name": self.name,
            "numbers": array_data(self.numbers, arrays),
            "positions": array_data(self.positions, arrays),
            "point_group": self.point_group,
            "charge": self.charge,
            "bonds": array_data(self.bonds, arrays),
            "reference": self.reference,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Unit:
        known = {"name", "numbers", "positions", "point_group", "charge", "bonds", "reference"}
        unknown = set(d) - known
        if unknown:
            raise UnitError(f"unit record has unknown keys {sorted(unknown)}")
        return cls(name=d["name"], numbers=np.asarray(d["numbers"]),
                   positions=np.asarray(d["positions"], dtype=float),
                   point_group=d["point_group"], charge=d.get("charge", 0),
                   bonds=np.asarray(d["bonds"], dtype=np.int64).reshape(-1, 2),
                   reference=d.get("reference", ""))

    def same_as(self, other: Unit, tol: float = 1e-8) -> bool:
        """True if both templates have the same atoms, positions and bonds."""
        return (self.name == other.name and len(self) == len(other)
                and np.array_equal(self.numbers, other.numbers)
                and np.allclose(self.positions, other.positions, atol=tol)
                and np.array_equal(self.bonds, other.bonds)
                and self.charge == other.charge)

    def to_xyz(self) -> str:
        """Extended-XYZ text of the template (comment line carries name, charge, PG)."""
        lines = [str(len(self)),
                 f"{self.name} charge={self.charge} point_group={self.point_group}"]
        for s, p in zip(self.symbols, self.positions):
            lines.append(f"{s:2s} {p[0]:14.8f} {p[1]:14.8f} {p[2]:14.8f}")
        return "\n".join(lines) + "\n"

    def __repr__(self) -> str:
        return (f"Unit({self.name!r}, {self.formula}, charge={self.charge:+d}, "
                f"pg={self.point_group}, n={len(self)})")


# --------------------------------------------------------------------------- geometry
PHI = (1.0 + math.sqrt(5.0)) / 2.0


def _icosahedron(edge: float) -> np.ndarray:
    """12 vertices (0, ±1, ±φ) and cyclic permutations scaled to ``edge`` Å.

    The three mutually perpendicular C2 axes lie along x, y, z, so the icosahedron
    contains the pyritohedral group Th of a cubic site with the cubic axes.
    """
    v = []
    for a in (-1.0, 1.0):
        for b in (-PHI, PHI):
            v.append((0.0, a, b))
            v.append((a, b, 0.0))
            v.append((b, 0.0, a))
    return np.array(v) * (edge / 2.0)


def _icosahedron_edges(verts: np.ndarray) -> list[tuple[int, int]]:
    d = np.linalg.norm(verts[:, None] - verts[None], axis=-1)
    emin = d[d > 1e-9].min()
    i, j = np.nonzero(np.triu(np.abs(d - emin) < 1e-6 * emin, 1))
    return list(zip(i.tolist(), j.tolist()))


def _octahedron(edge: float) -> np.ndarray:
    r = edge / math.sqrt(2.0)
    return np.array([[r, 0, 0], [-r, 0, 0], [0, r, 0], [0, -r, 0], [0, 0, r], [0, 0, -r]])


def _tetrahedron(bond: float) -> np.ndarray:
    s = bond / math.sqrt(3.0)
    return np.array([[s, s, s], [s, -s, -s], [-s, s, -s], [-s, -s, s]])


def _truncated_icosahedron(single: float, double: float) -> np.ndarray:
    """C60: vertices on icosahedron edges at fraction t from each end.

    With icosahedron edge L, pentagon edges are t L and 6:6 edges (1 - 2t) L, so
    L = double + 2 single and t = single / L.
    """
    L = double + 2.0 * single
    ico = _icosahedron(L)
    t = single / L
    pts = []
    for i, j in _icosahedron_edges(ico):
        pts.append(ico[i] + t * (ico[j] - ico[i]))
        pts.append(ico[j] + t * (ico[i] - ico[j]))
    return np.array(pts)


def _trigonal_planar(bond: float) -> np.ndarray:
    ang = np.deg2rad([90.0, 210.0, 330.0])
    return np.stack([bond * np.cos(ang), bond * np.sin(ang), np.zeros(3)], axis=1)


def _methylammonium() -> tuple[list[str], np.ndarray]:
    """CH3NH3+ along z, staggered, tetrahedral angles; C3v."""
    cn, ch, nh = 1.48, 1.09, 1.03
    c = np.array([0.0, 0.0, 0.0])
    n = np.array([0.0, 0.0, cn])
    cos_t = -1.0 / 3.0  # tetrahedral: angle N-C-H = 109.47 deg
    sin_t = math.sqrt(1 - cos_t**2)
    pos = [c, n]
    syms = ["C", "N"]
    for k in range(3):
        phi = 2 * math.pi * k / 3
        pos.append(c + ch * np.array([sin_t * math.cos(phi), sin_t * math.sin(phi), cos_t]))
        syms.append("H")
    for k in range(3):
        phi = 2 * math.pi * k / 3 + math.pi / 3  # staggered
        pos.append(n + nh * np.array([sin_t * math.cos(phi), sin_t * math.sin(phi), -cos_t]))
        syms.append("H")
    return syms, np.array(pos)


def _closo_b12h12(bb: float, bh: float) -> np.ndarray:
    b = _icosahedron(bb)
    r = np.linalg.norm(b, axis=1, keepdims=True)
    h = b * (r + bh) / r
    return np.vstack([b, h])


def _carborane() -> tuple[list[str], np.ndarray]:
    """CB11H12-: B12H12 frame with the apex on +z replaced by C moved in to C-B 1.71 Å."""
    bb, cb, bh, chh = 1.78, 1.71, 1.19, 1.09
    ico = _icosahedron(bb)
    # orient one vertex along +z: rotate vertex (0, 1, phi) onto z
    v = ico[np.argmax(ico[:, 2] + 1e-3 * ico[:, 1])]
    rot = _rotation_onto(v / np.linalg.norm(v), np.array([0.0, 0.0, 1.0]))
    ico = ico @ rot.T
    apex = int(np.argmax(ico[:, 2]))
    r = np.linalg.norm(ico[apex])
    # neighbours of the apex: 5 vertices at distance bb
    nb = [k for k in range(12) if k != apex and abs(np.linalg.norm(ico[k] - ico[apex]) - bb) < 1e-6]
    ring = ico[nb]
    z_ring = ring[0, 2]
    rho = math.hypot(ring[0, 0], ring[0, 1])
    zc = z_ring + math.sqrt(cb**2 - rho**2)
    ico[apex] = np.array([0.0, 0.0, zc])
    del r
    syms = ["B"] * 12
    syms[apex] = "C"
    # centroid of the cage (before hydrogens) for radial H directions
    cage_centre = np.zeros(3)
    hs = []
    for k in range(12):
        if k == apex:
            hs.append(ico[k] + chh * np.array([0.0, 0.0, 1.0]))
        else:
            u = ico[k] - cage_centre
            hs.append(ico[k] + bh * u / np.linalg.norm(u))
    return syms + ["H"] * 12, np.vstack([ico, np.array(hs)])


def _rotation_onto(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Proper rotation matrix taking unit vector a onto unit vector b."""
    v = np.cross(a, b)
    c = float(np.dot(a, b))
    if np.linalg.norm(v) < 1e-12:
        if c > 0:
            return np.eye(3)
        axis = np.array([1.0, 0, 0]) if abs(a[0]) < 0.9 else np.array([0, 1.0, 0])
        axis = axis - a * np.dot(axis, a)
        axis /= np.linalg.norm(axis)
        return 2 * np.outer(axis, axis) - np.eye(3)
    vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + vx + vx @ vx / (1 + c)


def _make(name: str, symbols: Iterable[str], positions: np.ndarray, pg: str, charge: int,
          reference: str) -> Unit:
    numbers = np.array([atomic_numbers[s] for s in symbols])
    return Unit(name=name, numbers=numbers, positions=positions, point_group=pg,
                charge=charge, reference=reference)


@functools.lru_cache(maxsize=1)
def _builtin() -> dict[str, Unit]:
    units = [
        _make("B12", ["B"] * 12, _icosahedron(1.77), "Ih", 0,
              "Decker & Kasper, Acta Cryst. 12, 503 (1959): B-B 1.77 Å"),
        _make("B6", ["B"] * 6, _octahedron(1.75), "Oh", 0,
              "CaB6 structure (a = 4.145 Å, B 6f x = 0.201): B-B 1.75 Å"),
        _make("C60", ["C"] * 60, _truncated_icosahedron(1.458, 1.401), "Ih", 0,
              "Hedberg et al., Science 254, 410 (1991): C-C 1.458 / 1.401 Å"),
        _make("BH4", ["B"] + ["H"] * 4, np.vstack([[0, 0, 0], _tetrahedron(1.22)]), "Td", -1,
              "NaBD4 (Filinchuk et al., PRB 76, 092104 (2007)): B-H 1.22 Å"),
        _make("AlH4", ["Al"] + ["H"] * 4, np.vstack([[0, 0, 0], _tetrahedron(1.63)]), "Td", -1,
              "NaAlD4 (Hauback et al., J. Alloys Compd. 358, 142 (2003)): Al-H 1.63 Å"),
        _make("BF4", ["B"] + ["F"] * 4, np.vstack([[0, 0, 0], _tetrahedron(1.39)]), "Td", -1,
              "KBF4 (Brunton, Acta Cryst. B 24, 1703 (1968)): B-F 1.39 Å"),
        _make("B12H12", ["B"] * 12 + ["H"] * 12, _closo_b12h12(1.78, 1.19), "Ih", -2,
              "K2B12H12 (Wunderlich & Lipscomb, JACS 82, 4427 (1960)): B-B 1.78 Å; "
              "B-H 1.19 Å (neutron/DFT value)"),
        _make("CB11H12", *_carborane(), "C5v", -1,
              "carba-closo-dodecaborate salts: B-B 1.78, C-B 1.71, B-H 1.19, C-H 1.09 Å"),
        _make("CN", ["C", "N"], np.array([[0, 0, -0.58], [0, 0, 0.58]]), "C*v", -1,
              "alkali cyanides NaCN/KCN: C-N 1.16 Å"),
        _make("NO3", ["N"] + ["O"] * 3, np.vstack([[0, 0, 0], _trigonal_planar(1.25)]), "D3h", -1,
              "NaNO3 (Cherin et al., Acta Cryst. 23, 455 (1967)): N-O 1.25 Å"),
        _make("CO3", ["C"] + ["O"] * 3, np.vstack([[0, 0, 0], _trigonal_planar(1.28)]), "D3h", -2,
              "calcite (Maslen et al., Acta Cryst. B 51, 929 (1995)): C-O 1.28 Å"),
        _make("SO4", ["S"] + ["O"] * 4, np.vstack([[0, 0, 0], _tetrahedron(1.47)]), "Td", -2,
              "anhydrite (Hawthorne & Ferguson, Can. Mineral. 13, 289 (1975)): S-O 1.47 Å"),
        _make("NH4", ["N"] + ["H"] * 4, np.vstack([[0, 0, 0], _tetrahedron(1.03)]), "Td", 1,
              "ND4Cl (Levy & Peterson, Phys. Rev. 86, 766 (1952)): N-H 1.03 Å"),
        _make("CH3NH3", *_methylammonium(), "C3v", 1,
              "MAPbI3 (Weller et al., Chem. Commun. 51, 4180 (2015)): C-N 1.48, "
              "C-H 1.09, N-H 1.03 Å"),
    ]
    return {u.name: u for u in units}


_USER_UNITS: dict[str, Unit] = {}


def builtin_units() -> dict[str, Unit]:
    """The built-in library, name -> Unit (a copy of the mapping)."""
    return dict(_builtin())


def unit_names() -> list[str]:
    return list(_builtin()) + [n for n in _USER_UNITS if n not in _builtin()]


def register_unit(unit: Unit) -> Unit:
    """Make a user unit resolvable by :func:`get_unit` for this process."""
    if unit.name in _builtin():
        raise UnitError(f"unit name {unit.name!r} is already a built-in unit")
    _USER_UNITS[unit.name] = unit
    return unit


def get_unit(name: str) -> Unit:
    """Library unit by name (case-insensitive; a trailing charge like ``BH4-`` is accepted)."""
    key = name.strip()
    lib = {**_builtin(), **_USER_UNITS}
    if key in lib:
        return lib[key]
    low = {k.lower(): v for k, v in lib.items()}
    # accept a trailing formal charge: "BH4-", "B12H12 2-", "NH4+"
    for cand in (key, re.sub(r"\s+\d*[+-]$", "", key), re.sub(r"\d*[+-]$", "", key),
                 re.sub(r"[+-]$", "", key)):
        if cand.lower() in low:
            return low[cand.lower()]
    raise UnitError(f"unknown unit {name!r}; known units: {', '.join(lib)}")


def unit_from_xyz(path: str | Path, charge: int | None = None, name: str | None = None,
                  point_group: str | None = None) -> Unit:
    """A user unit from an .xyz file.

    Args:
        path: XYZ file (plain or extended). A comment line ``charge=-1`` is honoured.
        charge: formal charge, overrides the file's.
        name: unit name, default the file stem.
        point_group: Schoenflies symbol; found with pymatgen when omitted.
    """
    from ase import Atoms
    from ase.io import read

    path = Path(path)
    if not path.is_file():
        raise UnitError(f"unit file {str(path)!r} does not exist")
    try:
        atoms = cast(Atoms, read(path, format="xyz"))  # no index: the last frame
    except Exception as exc:
        raise UnitError(f"cannot read unit file {str(path)!r}: {exc}") from exc
    first_lines = path.read_text().splitlines()[:2]
    comment = first_lines[1] if len(first_lines) > 1 else ""
    file_charge = 0
    for tok in comment.split():
        if tok.startswith("charge="):
            try:
                file_charge = int(tok.split("=", 1)[1])
            except ValueError as exc:
                raise UnitError(f"{path}: bad charge token {tok!r}") from exc
    pos = atoms.get_positions()
    pg = point_group or find_point_group(atoms.numbers, pos)
    return Unit(name=name or path.stem, numbers=atoms.numbers, positions=pos, point_group=pg,
                charge=file_charge if charge is None else charge, reference=f"user file {path.name}")


def find_point_group(numbers: np.ndarray, positions: np.ndarray, tol: float = 0.1) -> str:
    """Schoenflies symbol of a cluster with pymatgen's PointGroupAnalyzer."""
    from pymatgen.core import Molecule
    from pymatgen.symmetry.analyzer import PointGroupAnalyzer

    if len(numbers) == 1:
        return "Kh"
    mol = Molecule([chemical_symbols[int(z)] for z in numbers], np.asarray(positions))
    return str(PointGroupAnalyzer(mol, tolerance=tol, eigen_tolerance=1e-3).sch_symbol)


# ------------------------------------------------------------------ symmetry operations
_SYMOP_CACHE: dict[tuple, np.ndarray] = {}


def _maps_onto_itself(numbers: np.ndarray, pos: np.ndarray, m: np.ndarray, tol: float) -> bool:
    new = pos @ m.T
    d = np.linalg.norm(new[:, None, :] - pos[None, :, :], axis=-1)
    same = numbers[:, None] == numbers[None, :]
    d = np.where(same, d, np.inf)
    return bool(np.all(d.min(axis=1) < tol))


def _symmetry_operations(unit: Unit, tol: float) -> np.ndarray:
    key = (unit.name, unit.numbers.tobytes(), np.round(unit.positions, 6).tobytes(), tol)
    if key in _SYMOP_CACHE:
        return _SYMOP_CACHE[key]
    numbers, pos = unit.numbers, unit.positions
    if len(unit) == 1:
        ops = np.array([np.eye(3), -np.eye(3)])
    elif unit.is_linear():
        axis = pos[np.argmax(np.linalg.norm(pos, axis=1))]
        axis = axis / np.linalg.norm(axis)
        r = _rotation_onto(axis, np.array([0.0, 0, 1.0]))  # body axis -> z
        cand = [np.eye(3), np.diag([-1.0, 1, 1]), np.diag([1.0, -1, 1]), np.diag([-1.0, -1, 1])]
        cand += [-np.eye(3), np.diag([1.0, -1, -1]), np.diag([-1.0, 1, -1]), np.diag([1.0, 1, -1])]
        cand = [r.T @ c @ r for c in cand]
        ops = np.array([c for c in cand if _maps_onto_itself(numbers, pos, c, tol)])
    else:
        ops = _search_operations(numbers, pos, tol)
    ops.setflags(write=False)
    _SYMOP_CACHE[key] = ops
    return ops


def _search_operations(numbers: np.ndarray, pos: np.ndarray, tol: float) -> np.ndarray:
    """All orthogonal maps of a finite cluster onto itself, by matching atom pairs.

    Two non-collinear reference atoms (a, b) of the template are sent to every pair
    (a', b') of atoms with the same elements and distances; the orthogonal matrix
    fixed by those images (and the handedness) is kept when it maps the cluster onto
    itself.
    """
    r = np.linalg.norm(pos, axis=1)
    # reference atom a: farthest from centre with the rarest (element, radius) shell
    order = np.argsort(-r)
    a = int(order[0])
    ua = pos[a]
    b = None
    for k in order[1:]:
        if np.linalg.norm(np.cross(ua, pos[k])) > 1e-3 * r[a] * max(r[k], 1e-9) and r[k] > 1e-6:
            b = int(k)
            break
    if b is None:  # all atoms collinear with the centre (handled as linear above)
        return np.array([np.eye(3)])
    ub = pos[b]
    frame = orthonormal_frame(ua, ub)
    found: list[np.ndarray] = []
    for a2 in range(len(pos)):
        if numbers[a2] != numbers[a] or abs(r[a2] - r[a]) > tol:
            continue
        for b2 in range(len(pos)):
            if b2 == a2 or numbers[b2] != numbers[b] or abs(r[b2] - r[b]) > tol:
                continue
            if abs(np.linalg.norm(pos[a2] - pos[b2]) - np.linalg.norm(ua - ub)) > tol:
                continue
            f2 = orthonormal_frame(pos[a2], pos[b2])
            for hand in (1.0, -1.0):
                f2h = f2.copy()
                f2h[2] *= hand
                m = f2h.T @ frame  # maps frame -> f2h
                if _maps_onto_itself(numbers, pos, m, tol) and not any(
                        np.allclose(m, q, atol=1e-6) for q in found):
                    found.append(m)
    return np.array(found)


def orthonormal_frame(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Right-handed orthonormal frame (rows): e1 along u, e2 in the (u, v) plane."""
    e1 = u / np.linalg.norm(u)
    e2 = v - e1 * np.dot(v, e1)
    e2 /= np.linalg.norm(e2)
    e3 = np.cross(e1, e2)
    return np.stack([e1, e2, e3])


def units_table() -> list[dict]:
    """Rows for ``csp units list``: name, formula, charge, point group, size, radius."""
    rows = []
    for name in unit_names():
        u = get_unit(name)
        rows.append({"name": u.name, "formula": u.formula, "charge": u.charge,
                     "point_group": u.point_group, "atoms": len(u),
                     "radius": round(u.radius, 3), "bonds": len(u.bonds)})
    return rows


def units_json() -> str:
    return json.dumps(units_table(), indent=1)
