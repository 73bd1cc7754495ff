"""Random crystals built from rigid units and free atoms: general and symmetric.

Two modes:

* **general positions**: a random cell of the estimated volume, random unit centres,
  uniformly random orientations, random free atoms;
* **symmetric**: a space group (drawn from a range), each species distributed over
  Wyckoff orbits whose multiplicities add up to its count; a unit only sits on a site
  whose site-symmetry group is conjugate to a subgroup of the unit's point group, and
  it is oriented so that every site operation maps it onto itself (an icosahedron sits
  on the m-3 sites of Fm-3, whose group Th is in Ih, but not on the m-3m sites of
  Fm-3m). Structures are built in the conventional cell and returned in the primitive
  cell, so the genome holds exactly the requested counts.

Wyckoff orbits and site-symmetry operations come from tables shipped with csp
(``operators/data/wyckoff.*``, generated once from PyXtal's, which follow the
International Tables); placement, orientation and validity are ours (PyXtal is not
needed at run time). Every attempt is bounded: an impossible request fails fast
with :class:`GenerationError` naming the group and the counts.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ase.data import atomic_numbers
from csp.operators.orientation import site_compatible, site_orientation, solve_site
from csp.operators.packing import Packing
from csp.operators.validity import Limits, cell_ok

from csp.composition import Composition
from csp.errors import CspError
from csp.genome import Genome, quat_to_matrix, random_quaternion
from csp.units import Unit, get_unit
from csp.volume import compress

__all__ = [
    "GenerationError",
    "generate",
    "generate_formula_units",
    "parse_spacegroup",
    "possible_groups",
    "site_orientation",
    "wyckoff_table",
]

#: centring vectors -> primitive basis (rows, in conventional fractional coordinates)
_PRIMITIVE = {
    "P": np.eye(3),
    "F": np.array([[0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]),
    "I": np.array([[-0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.5, 0.5, -0.5]]),
    "C": np.array([[0.5, -0.5, 0], [0.5, 0.5, 0], [0, 0, 1.0]]),
    "A": np.array([[1.0, 0, 0], [0, 0.5, -0.5], [0, 0.5, 0.5]]),
    "R": np.array([[2 / 3, 1 / 3, 1 / 3], [-1 / 3, 1 / 3, 1 / 3], [-1 / 3, -2 / 3, 1 / 3]]),
}


class GenerationError(CspError):
    """A structure cannot be generated (impossible request or attempts exhausted)."""


# ----------------------------------------------------------------- Wyckoff tables
@dataclass(frozen=True)
class Wyckoff:
    """One Wyckoff position of a space group (conventional cell).

    Attributes:
        label: e.g. "4a".
        multiplicity: orbit size in the conventional cell.
        dof: free parameters.
        rep: (4, 4) affine map from free (x, y, z) to the representative position.
        ops_rot: (m, 3, 3) fractional rotation parts of the orbit operations.
        ops_tr: (m, 3) their translations.
        site_rot: (k, 3, 3) fractional rotations of the site-symmetry group of rep.
        site_symbol: Hermann-Mauguin site symmetry.
    """

    label: str
    multiplicity: int
    dof: int
    rep: np.ndarray
    ops_rot: np.ndarray
    ops_tr: np.ndarray
    site_rot: np.ndarray
    site_symbol: str


@dataclass(frozen=True)
class SpaceGroupTable:
    number: int
    symbol: str
    lattice_type: str
    centring: str
    wyckoffs: tuple[Wyckoff, ...]


@functools.lru_cache(maxsize=1)
def _wyckoff_data() -> tuple[dict, dict]:
    """The shipped tables (``operators/data/wyckoff.*``, built by ``build_wyckoff.py``)."""
    import json
    from pathlib import Path

    here = Path(__file__).resolve().parent / "data"
    meta = json.loads((here / "wyckoff.json").read_text())
    with np.load(here / "wyckoff.npz") as z:
        arrays = {k: z[k] for k in z.files}
    return meta, arrays


@functools.lru_cache(maxsize=256)
def wyckoff_table(number: int) -> SpaceGroupTable:
    """Wyckoff positions of space group ``number`` (1-230, standard setting), cached.

    From the tables shipped with csp (generated from PyXtal's, which follow the
    International Tables; R groups in hexagonal axes), in PyXtal's order: the general
    position first.
    """
    if isinstance(number, bool) or not isinstance(number, (int, np.integer)) \
            or not 1 <= number <= 230:
        raise GenerationError(f"space group must be 1..230, got {number!r}")
    meta, arr = _wyckoff_data()
    g = meta["groups"][int(number) - 1]
    den = float(arr["den"])
    wps = []
    for i, w in enumerate(g["wyckoffs"]):
        k = sum(len(x["wyckoffs"]) for x in meta["groups"][:int(number) - 1]) + i
        rep = np.eye(4)
        rep[:3, :3] = arr["rep_rot"][k]
        rep[:3, 3] = arr["rep_tr"][k] / den
        o0, o1 = w["ops"]
        s0, s1 = w["site"]
        wps.append(Wyckoff(
            label=f"{w['multiplicity']}{w['letter']}", multiplicity=int(w["multiplicity"]),
            dof=int(w["dof"]), rep=rep, ops_rot=arr["ops_rot"][o0:o1].astype(float),
            ops_tr=arr["ops_tr"][o0:o1] / den, site_rot=arr["site_rot"][s0:s1].astype(float),
            site_symbol=w["site_symbol"]))
    return SpaceGroupTable(number=int(number), symbol=g["symbol"], lattice_type=g["lattice_type"],
                           centring=g["symbol"][0], wyckoffs=tuple(wps))


def parse_spacegroup(spec) -> tuple[int, int] | None:
    """``None`` (general positions), ``n``, ``"n"``, ``"lo-hi"``, ``(lo, hi)`` or ``"any"``."""
    if spec is None:
        return None
    if isinstance(spec, (int, np.integer)):
        lo = hi = int(spec)
    elif isinstance(spec, (tuple, list)) and len(spec) == 2:
        lo, hi = int(spec[0]), int(spec[1])
    elif isinstance(spec, str):
        s = spec.strip().lower()
        if s in ("any", "all"):
            lo, hi = 2, 230
        elif "-" in s:
            a, b = s.split("-", 1)
            try:
                lo, hi = int(a), int(b)
            except ValueError:
                raise GenerationError(f"bad space-group range {spec!r}; write e.g. 195-230") from None
        else:
            try:
                lo = hi = int(s)
            except ValueError:
                raise GenerationError(f"bad space group {spec!r}; give 1..230, a range "
                                      "lo-hi or 'any'") from None
    else:
        raise GenerationError(f"bad space group {spec!r}")
    if not (1 <= lo <= hi <= 230):
        raise GenerationError(f"space group range {lo}-{hi} outside 1..230")
    return lo, hi


# --------------------------------------------------------------------- lattices
#: Range of the random cell angles (degrees) of triclinic and monoclinic cells: every
#: Buerger-reduced cell has its angles in [60, 120], and superatoms pack like spheres, so
#: the fcc-like cells at the ends (60 / 120 degrees) are where many of them end up.
CELL_ANGLES = (60.0, 120.0)
#: Range of the rhombohedral angle of R lattices (hexagonal axes are derived from it):
#: fcc packing at 60 degrees (alpha-boron's 58), simple cubic at 90, bcc at 109.5.
RHOMBOHEDRAL_ANGLES = (50.0, 115.0)


def _random_cell(lattice_type: str, volume: float, rng: np.random.Generator,
                 centring: str = "P") -> np.ndarray:
    """A random cell of a lattice type (conventional setting; R lattices in hexagonal
    axes) scaled to ``volume``: axis ratios log-uniform in [0.6, 1.7], angles in
    ``CELL_ANGLES``, the rhombohedral angle in ``RHOMBOHEDRAL_ANGLES``."""
    from ase.geometry import cellpar_to_cell

    for _ in range(100):
        r = np.exp(rng.uniform(math.log(0.6), math.log(1.7), 3))  # axis ratios b/a, c/a
        ang = rng.uniform(*CELL_ANGLES, 3)
        par: list[float]  # a, b, c (Å, before scaling), alpha, beta, gamma (degrees)
        if lattice_type == "cubic":
            par = [1, 1, 1, 90, 90, 90]
        elif lattice_type == "tetragonal":
            par = [1, 1, r[2], 90, 90, 90]
        elif lattice_type in ("hexagonal", "trigonal") and centring == "R":
            # hexagonal axes of a rhombohedral cell of angle alpha (edge 1):
            # a_h = 2 sin(alpha/2), c_h = sqrt(3 (1 + 2 cos alpha))
            alpha = math.radians(RHOMBOHEDRAL_ANGLES[0] + (RHOMBOHEDRAL_ANGLES[1]
                                 - RHOMBOHEDRAL_ANGLES[0]) * (ang[0] - CELL_ANGLES[0])
                                 / (CELL_ANGLES[1] - CELL_ANGLES[0]))
            par = [1, 1, math.sqrt(3 * (1 + 2 * math.cos(alpha))) / (2 * math.sin(alpha / 2)),
                   90, 90, 120]
        elif lattice_type in ("hexagonal", "trigonal"):
            par = [1, 1, r[2], 90, 90, 120]
        elif lattice_type == "orthorhombic":
            par = [1, r[1], r[2], 90, 90, 90]
        elif lattice_type == "monoclinic":
            par = [1, r[1], r[2], 90, ang[1], 90]
        else:
            par = [1, r[1], r[2], *ang]
        cell = cellpar_to_cell(par)
        v = abs(np.linalg.det(cell))
        if v > 0.3:  # reject nearly flat triclinic cells
            return cell * (volume / v) ** (1 / 3)
    raise GenerationError("could not draw a sane random cell")


def _species(composition: Composition) -> list[tuple[str, Unit | int, int]]:
    out: list[tuple[str, Unit | int, int]] = []
    for name, n in composition.units.items():
        out.append((name, get_unit(name), n))
    for el, n in composition.atoms.items():
        out.append((el, atomic_numbers[el], n))
    out.sort(key=lambda t: -(len(t[1]) if isinstance(t[1], Unit) else 1))  # big units first
    return out


def target_volume(composition: Composition, pressure_gpa: float) -> float:
    """Estimated cell volume (Å^3) of a composition per cell at a pressure."""
    from csp.volume import atomic_volume

    v = 0.0
    for name, n in composition.units.items():
        v += n * get_unit(name).volume()
    for el, n in composition.atoms.items():
        v += n * atomic_volume(atomic_numbers[el])
    return compress(v, pressure_gpa)


# ----------------------------------------------------------------------- public
def generate(composition: Composition, pressure_gpa: float, rng: np.random.Generator, *,
             spacegroup=None, limits: Limits = Limits(), max_attempts: int = 200,
             volume_factor: tuple[float, float] = (0.9, 1.3),
             volume: float | None = None) -> Genome:
    """A random valid crystal with exactly ``composition`` (counts per cell).

    Args:
        composition: units and atoms in the cell.
        pressure_gpa: sets the volume estimate.
        rng: the only source of randomness.
        spacegroup: None for general positions; an int, ``(lo, hi)``, ``"lo-hi"`` or
            ``"any"`` for symmetric generation with a group drawn from the range.
        limits: validity limits (minimum distances, cell shape).
        max_attempts: bound on placement attempts.
        volume_factor: range of the random factor on the volume estimate.
        volume: Å^3, the cell volume to start from instead of the estimate at
            ``pressure_gpa`` (e.g. that of a relaxed structure of the same composition).

    Raises:
        GenerationError: impossible request, or no valid structure in max_attempts.
    """
    rng_spec = parse_spacegroup(spacegroup)
    v0 = target_volume(composition, pressure_gpa) if volume is None else float(volume)
    if rng_spec is None:
        return _general(composition, v0, rng, limits, max_attempts, volume_factor)
    lo, hi = rng_spec
    groups = [n for n in _possible_groups(str(composition), lo, hi)]
    if not groups:
        raise GenerationError(
            f"no space group in {lo}-{hi} can hold {composition} per cell with units on "
            f"sites compatible with their point groups")
    last = ""
    for attempt in range(max_attempts):
        n = int(groups[rng.integers(len(groups))])
        try:
            return _symmetric(composition, n, v0, rng, limits, volume_factor)
        except _Retry as exc:
            last = str(exc)
    raise GenerationError(f"no valid structure of {composition} in space groups {lo}-{hi} "
                          f"after {max_attempts} attempts (last: {last})")


def generate_formula_units(composition_per_fu: Composition, fu_range: Sequence[int],
                           pressure_gpa: float, rng: np.random.Generator, **kwargs) -> Genome:
    """Draw a number of formula units in ``fu_range`` (inclusive) and generate."""
    lo, hi = int(fu_range[0]), int(fu_range[-1])
    if lo < 1 or hi < lo:
        raise GenerationError(f"formula units range must be 1 <= lo <= hi, got {fu_range!r}")
    nfu = int(rng.integers(lo, hi + 1))
    return generate(composition_per_fu.scaled(nfu), pressure_gpa, rng, **kwargs)


class _Retry(Exception):
    pass


def _general(composition: Composition, v0: float, rng: np.random.Generator, limits: Limits,
             max_attempts: int, volume_factor: tuple[float, float]) -> Genome:
    """Random cell; units then atoms inserted one by one, each at up to ``_INSERT_TRIES``
    random positions (orientations) until it fits next to those already placed."""
    species = _species(composition)
    kinds = [u for _, u, _n in species if isinstance(u, Unit)]
    items = [("u", k) for k, (_, u, n) in enumerate(s for s in species if isinstance(s[1], Unit))
             for _ in range(n)]
    items += [("a", z) for _, z, n in species if not isinstance(z, Unit) for _ in range(n)]
    numbers = [z for kind, z in items if kind == "a"]
    capacity = composition.n_atoms
    why = "no cell"
    for attempt in range(max_attempts):
        grow = 1.0 + attempt / max_attempts  # loosen gently when packing is hard
        cell = _random_cell("triclinic", v0 * rng.uniform(*volume_factor) * grow, rng)
        ok, why = cell_ok(cell, limits)
        if not ok:
            continue
        b = Packing(cell, kinds, numbers, limits, capacity)
        for kind, obj in items:
            for _ in range(_INSERT_TRIES):
                if kind == "u":
                    b.add_unit(obj, rng.random(3), quat_to_matrix(random_quaternion(rng)))
                else:
                    b.add_atom(obj, rng.random(3))
                if b.fits():
                    break
            else:
                why = f"no room for {kinds[obj].name if kind == 'u' else obj}"
                break
        else:
            return b.genome()
    raise GenerationError(f"no valid general-position structure of {composition} after "
                          f"{max_attempts} attempts (last: {why})")


_INSERT_TRIES = 30


def _centring_factor(table: SpaceGroupTable) -> int:
    return {"P": 1, "F": 4, "I": 2, "C": 2, "A": 2, "R": 3}.get(table.centring, 1)


def _reference_cell(lattice_type: str) -> np.ndarray:
    """A cell with the lattice type's metric in ASE's standard orientation: Cartesian
    space-group operations depend only on this, not on the lengths and angles drawn."""
    from ase.geometry import cellpar_to_cell

    par = {"cubic": [1, 1, 1, 90, 90, 90], "tetragonal": [1, 1, 1.3, 90, 90, 90],
           "hexagonal": [1, 1, 1.3, 90, 90, 120], "trigonal": [1, 1, 1.3, 90, 90, 120],
           "orthorhombic": [1, 1.1, 1.2, 90, 90, 90],
           "monoclinic": [1, 1.1, 1.2, 90, 100, 90]}.get(lattice_type,
                                                         [1, 1.1, 1.2, 80, 85, 95])
    return cellpar_to_cell(par)


@functools.lru_cache(maxsize=8192)
def _orbit_rotations(number: int, wyckoff_index: int) -> np.ndarray:
    """(m, 3, 3) fractional rotations of space-group operations that carry the
    representative of a Wyckoff orbit onto each member.

    The orbit operations of a special position are maps from its free parameters (e.g.
    ``0,1/2,1/2`` has a zero rotation part), not symmetry operations; a unit's
    orientation on each member needs the operation g of the group (from the general
    position) with g(rep) = member. Any such g serves: two differ by a site operation,
    which the unit's orientation respects.
    """
    table = wyckoff_table(number)
    w = table.wyckoffs[wyckoff_index]
    gen = table.wyckoffs[0]  # the general position: every operation (with centring)
    rng = np.random.default_rng(12345)
    trials = [w.rep[:3, :3] @ rng.random(3) + w.rep[:3, 3] for _ in range(2)]
    images = [(np.einsum("kij,j->ki", gen.ops_rot, x) + gen.ops_tr) for x in trials]
    out = np.empty((w.multiplicity, 3, 3))
    for k in range(w.multiplicity):
        ok = np.ones(len(gen.ops_rot), bool)
        for x, img in zip(trials, images):
            target = (w.ops_rot[k] @ x + w.ops_tr[k]) % 1.0
            d = (img - target + 0.5) % 1.0 - 0.5
            ok &= np.abs(d).max(axis=1) < 1e-6
        if not ok.any():
            raise GenerationError(f"space group {number} {w.label}: no operation maps the "
                                  f"representative onto orbit member {k}")
        out[k] = gen.ops_rot[int(np.argmax(ok))]
    out.setflags(write=False)
    return out


def _cartesian(rot_frac: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """Fractional rotations (k, 3, 3) of a cell (rows) as Cartesian matrices."""
    a = cell.T
    return np.einsum("ij,kjl,lm->kim", a, rot_frac, np.linalg.inv(a))


@functools.lru_cache(maxsize=8192)
def _compatible(number: int, wyckoff_index: int, unit_key: str) -> bool:
    table = wyckoff_table(number)
    w = table.wyckoffs[wyckoff_index]
    site = _cartesian(w.site_rot, _reference_cell(table.lattice_type))
    return site_compatible(get_unit(unit_key), site)


def _choices(table: SpaceGroupTable, key: str, is_unit: bool) -> list[int]:
    return [i for i in range(len(table.wyckoffs))
            if not is_unit or _compatible(table.number, i, key)]


def possible_groups(composition: Composition, lo: int = 1, hi: int = 230) -> tuple[int, ...]:
    """Space groups in lo..hi whose Wyckoff sites can hold ``composition`` per
    (primitive) cell, units only on sites compatible with their point groups (cached)."""
    return _possible_groups(str(composition), int(lo), int(hi))


@functools.lru_cache(maxsize=1024)
def _possible_groups(composition: str, lo: int, hi: int) -> tuple[int, ...]:
    comp = Composition.parse(composition)
    return tuple(n for n in range(lo, hi + 1) if _partitions_possible(comp, n))


def _partitions_possible(composition: Composition, number: int) -> bool:
    """Can every species be spread over Wyckoff orbits (compatible with its units'
    point groups) whose multiplicities add up to its count, with each fixed site
    (no free parameter) used by at most one entity in the whole cell?"""
    try:
        table = wyckoff_table(number)
    except GenerationError:
        return False
    z = _centring_factor(table)
    needs = []
    for key, obj, n in _species(composition):
        choices = _choices(table, key, isinstance(obj, Unit))
        fixed = tuple(i for i in choices if table.wyckoffs[i].dof == 0)
        free = tuple(sorted({table.wyckoffs[i].multiplicity for i in choices
                             if table.wyckoffs[i].dof > 0}))
        needs.append((n * z, fixed, free))
    mult = [w.multiplicity for w in table.wyckoffs]

    @functools.cache
    def place(k: int, used: frozenset) -> bool:
        if k == len(needs):
            return True
        total, fixed, free = needs[k]
        avail = [i for i in fixed if i not in used]
        for mask in range(1 << len(avail)):
            pick = [avail[b] for b in range(len(avail)) if mask >> b & 1]
            rest = total - sum(mult[i] for i in pick)
            if rest >= 0 and _sum_of(rest, free) and place(k + 1, used | frozenset(pick)):
                return True
        return False

    return place(0, frozenset())


@functools.lru_cache(maxsize=65536)
def _sum_of(total: int, parts: tuple[int, ...]) -> bool:
    """Is ``total`` a sum of ``parts`` (each any number of times, 0 allowed)?"""
    reach = np.zeros(total + 1, bool)
    reach[0] = True
    for m in parts:
        for r in range(m, total + 1):
            reach[r] |= reach[r - m]
    return bool(reach[total])


def _draw_partition(total: int, choices: list[int], table: SpaceGroupTable,
                    taken: set[int], rng: np.random.Generator) -> list[int] | None:
    """Random list of Wyckoff indices whose multiplicities sum to ``total``."""
    for _ in range(50):
        left = total
        picks: list[int] = []
        local = set(taken)
        order = list(choices)
        while left > 0:
            opts = [i for i in order if table.wyckoffs[i].multiplicity <= left
                    and not (table.wyckoffs[i].dof == 0 and i in local)]
            if not opts:
                break
            # prefer high-symmetry (small multiplicity) sites a little
            mult = np.array([table.wyckoffs[i].multiplicity for i in opts], float)
            p = 1.0 / mult
            i = int(opts[rng.choice(len(opts), p=p / p.sum())])
            picks.append(i)
            left -= table.wyckoffs[i].multiplicity
            if table.wyckoffs[i].dof == 0:
                local.add(i)
        if left == 0:
            taken.update(i for i in picks if table.wyckoffs[i].dof == 0)
            return picks
    return None


#: placements of one Wyckoff orbit (free parameters, orientation) before an attempt fails
ORBIT_TRIES = 20


def _symmetric(composition: Composition, number: int, v0: float, rng: np.random.Generator,
               limits: Limits, volume_factor: tuple[float, float]) -> Genome:
    """One attempt in one space group: Wyckoff orbits placed one by one in the
    conventional cell, each up to ``ORBIT_TRIES`` times until it does not overlap what
    is already there; raises _Retry when an orbit finds no room."""
    table = wyckoff_table(number)
    z = _centring_factor(table)
    conv_cell = _random_cell(table.lattice_type, v0 * z * rng.uniform(*volume_factor), rng,
                             table.centring)
    species = _species(composition)
    kinds = [obj for _, obj, _ in species if isinstance(obj, Unit)]
    p = Packing(conv_cell, kinds, [obj for _, obj, _ in species if not isinstance(obj, Unit)],
                limits, composition.n_atoms * z)
    taken: set[int] = set()
    for key, obj, n in species:
        is_unit = isinstance(obj, Unit)
        picks = _draw_partition(n * z, _choices(table, key, is_unit), table, taken, rng)
        if picks is None:
            raise _Retry(f"{key}: no Wyckoff partition of {n * z} in {table.symbol}")
        for i in picks:
            w = table.wyckoffs[i]
            if isinstance(obj, Unit):
                orientations = solve_site(obj, _cartesian(w.site_rot, conv_cell))
                if orientations is None:
                    raise _Retry(f"{key} cannot be oriented on {w.label}")
                sol = orientations
                ops = _cartesian(_orbit_rotations(number, i), conv_cell)
                improper = _an_improper(obj)
            for _ in range(ORBIT_TRIES if (w.dof > 0 or is_unit) else 1):
                mark = p.mark()
                rep = w.rep[:3, :3] @ rng.random(3) + w.rep[:3, 3]
                orbit = (w.ops_rot @ rep + w.ops_tr) % 1.0
                if isinstance(obj, Unit):
                    rk = ops @ sol.draw(rng)
                    flip = np.linalg.det(rk) < 0
                    if flip.any():
                        if improper is None:
                            raise _Retry(f"chiral unit {key} on an improper orbit")
                        rk[flip] = rk[flip] @ improper
                    k = kinds.index(obj)
                    for c, r in zip(orbit, rk):
                        p.add_unit(k, c, r)
                else:
                    for c in orbit:
                        p.add_atom(obj, c)
                if p.fits(start=mark[0]):
                    break
                p.rollback(mark)
            else:
                raise _Retry(f"no room for {key} on {w.label}")
    return _to_primitive(conv_cell, table, p, limits)


def _an_improper(unit: Unit) -> np.ndarray | None:
    for m in unit.symmetry_operations():
        if np.linalg.det(m) < 0:
            return m
    return None


def _unique_rows(frac: np.ndarray) -> np.ndarray:
    """Indices of the first occurrence of each point (fractional, modulo 1, 1e-5)."""
    if len(frac) == 0:
        return np.zeros(0, np.int64)
    key = np.round(frac * 1e5).astype(np.int64) % 100000
    _, first = np.unique(key, axis=0, return_index=True)
    return np.sort(first)


def _to_primitive(conv_cell: np.ndarray, table: SpaceGroupTable, p: Packing,
                  limits: Limits) -> Genome:
    """Primitive-cell genome of a conventional-cell packing (centring copies dropped);
    raises _Retry when the primitive cell is out of bounds."""
    t = _PRIMITIVE.get(table.centring, np.eye(3))
    prim = t @ conv_cell
    tinv = np.linalg.inv(t)
    uk = np.array(p.unit_kind, np.int64)
    uc = (np.array(p.centres).reshape(-1, 3) @ tinv) % 1.0
    an = np.array(p.numbers, np.int64)
    af = (np.array(p.frac).reshape(-1, 3) @ tinv) % 1.0
    ku, ka = _unique_rows(uc), _unique_rows(af)
    z = _centring_factor(table)
    if len(ku) * z != len(uk) or len(ka) * z != len(an):
        raise _Retry("two orbits met on one site")  # a free orbit fell on a special site
    ok, why = cell_ok(prim, limits)
    if not ok:
        raise _Retry(why)
    if len(ku) and len(ka) and _unique_rows(np.vstack([uc[ku], af[ka]])).size < len(ku) + len(ka):
        raise _Retry("a unit and an atom on the same site")  # e.g. an atom inside a C60
    out = Packing(prim, p.kinds, an[ka].tolist(), limits, sum(len(p.kinds[k]) for k in uk[ku])
                  + len(ka))
    for i in ku:
        out.add_unit(int(uk[i]), uc[i], p.rots[i])
    for i in ka:
        out.add_atom(int(an[i]), af[i])
    return out.genome()  # no overlap: the conventional cell (a supercell) had none
