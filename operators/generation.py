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

Wyckoff orbits and site-symmetry operations come from PyXtal's tables
(``pyxtal.symmetry.Group``); placement, orientation and validity are ours (no PyXtal
generator in the loop). Every attempt is bounded: an impossible request fails fast
with :class:`GenerationError` naming the group and the counts.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ase.data import atomic_numbers

from csp.composition import Composition
from csp.errors import CspError
from csp.genome import Genome, matrix_to_quat, quat_to_matrix, random_quaternion
from csp.operators.validity import Limits, check_genome
from csp.units import Unit, get_unit
from csp.volume import compress

__all__ = [
    "GenerationError",
    "generate",
    "generate_formula_units",
    "parse_spacegroup",
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


@functools.lru_cache(maxsize=256)
def wyckoff_table(number: int) -> SpaceGroupTable:
    """Wyckoff positions of space group ``number`` (1-230), cached."""
    if not isinstance(number, (int, np.integer)) or not 1 <= number <= 230:
        raise GenerationError(f"space group must be 1..230, got {number!r}")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pyxtal.symmetry import Group

        g = Group(int(number))
    wps = []
    for wp in g:
        ops = wp.ops
        site = wp.symmetry[0]
        try:
            sym = str(wp.get_site_symmetry_object().name)
        except Exception:  # noqa: BLE001 - cosmetic only
            sym = ""
        wps.append(Wyckoff(
            label=f"{wp.multiplicity}{wp.letter}", multiplicity=int(wp.multiplicity),
            dof=int(wp.get_dof()), rep=np.array(ops[0].affine_matrix, float),
            ops_rot=np.array([o.rotation_matrix for o in ops], float),
            ops_tr=np.array([o.translation_vector for o in ops], float),
            site_rot=np.array([o.rotation_matrix for o in site], float),
            site_symbol=sym))
    return SpaceGroupTable(number=int(number), symbol=str(g.symbol),
                           lattice_type=str(g.lattice_type), centring=str(g.symbol)[0],
                           wyckoffs=tuple(wps))


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


# ------------------------------------------------------------- orientation on sites
def _axis_of(m: np.ndarray) -> tuple[np.ndarray | None, int]:
    """Rotation axis and order of the proper part of an orthogonal matrix (None: ±I)."""
    p = m if np.linalg.det(m) > 0 else -m
    c = (np.trace(p) - 1.0) / 2.0
    angle = math.acos(max(-1.0, min(1.0, c)))
    if angle < 1e-6:
        return None, 1
    w, v = np.linalg.eig(p)
    k = int(np.argmin(np.abs(w - 1.0)))
    axis = np.real(v[:, k])
    axis /= np.linalg.norm(axis)
    order = int(round(2 * math.pi / angle))
    return axis, order


def _distinct_axes(ops: np.ndarray) -> list[tuple[np.ndarray, int]]:
    out: list[tuple[np.ndarray, int]] = []
    for m in ops:
        ax, order = _axis_of(m)
        if ax is None:
            continue
        for i, (b, o) in enumerate(out):
            if abs(abs(ax @ b) - 1.0) < 1e-6:
                out[i] = (b, max(o, order))
                break
        else:
            out.append((ax, order))
    out.sort(key=lambda t: -t[1])
    return out


def _in_group(m: np.ndarray, group: np.ndarray, tol: float = 1e-4) -> bool:
    return bool(np.any(np.abs(group - m[None]).reshape(len(group), -1).max(axis=1) < tol))


def _frame(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    e1 = u / np.linalg.norm(u)
    e2 = v - e1 * (e1 @ v)
    e2 /= np.linalg.norm(e2)
    return np.stack([e1, e2, np.cross(e1, e2)])


def _rot_about(axis: np.ndarray, angle: float) -> np.ndarray:
    a = axis / np.linalg.norm(axis)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * k @ k


def _onto(b: np.ndarray, a: np.ndarray) -> np.ndarray:
    """A proper rotation taking unit vector b onto a."""
    v = np.cross(b, a)
    c = float(b @ a)
    if np.linalg.norm(v) < 1e-9:
        if c > 0:
            return np.eye(3)
        perp = np.array([1.0, 0, 0]) if abs(b[0]) < 0.9 else np.array([0, 1.0, 0])
        perp -= b * (perp @ b)
        return _rot_about(perp, math.pi)
    return _rot_about(v, math.atan2(np.linalg.norm(v), c))


def _valid(r0: np.ndarray, site: np.ndarray, pg: np.ndarray) -> bool:
    return all(_in_group(r0.T @ g @ r0, pg) for g in site)


def site_orientation(unit: Unit, site_cart: np.ndarray,
                     rng: np.random.Generator | None) -> np.ndarray | None:
    """A body->lab rotation R with R^T g R in the unit's point group for every site op g.

    Args:
        unit: the template.
        site_cart: (k, 3, 3) Cartesian site-symmetry operations.
        rng: draws among the valid orientations (and the free spin of uniaxial sites);
            None returns the first one found (compatibility test).

    Returns:
        (3, 3) proper rotation, or None if the site symmetry is not a subgroup of the
        unit's point group in any orientation.
    """
    site = [g for g in site_cart if not np.allclose(g, np.eye(3), atol=1e-8)]
    pick = (lambda n: 0) if rng is None else (lambda n: int(rng.integers(n)))
    spin = (lambda: 0.0) if rng is None else (lambda: float(rng.uniform(0, 2 * math.pi)))
    if unit.is_linear():
        return _linear_orientation(unit, site, rng)
    pg = unit.symmetry_operations()
    base = np.eye(3) if rng is None else quat_to_matrix(random_quaternion(rng))
    if not site:
        return base
    axes = _distinct_axes(np.array(site))
    if not axes:  # only inversion
        return base if _valid(base, site, pg) else None
    body_axes = _distinct_axes(pg)
    if len(axes) == 1:
        a, order = axes[0]
        cands = [b for b, o in body_axes if o % order == 0 or order % o == 0]
        order_idx = list(range(len(cands)))
        if rng is not None:
            rng.shuffle(order_idx)
        for i in order_idx:
            for sign in (1.0, -1.0):
                r0 = _rot_about(a, spin()) @ _onto(sign * cands[i], a)
                if _valid(r0, site, pg):
                    return r0
        return None
    (a1, o1), (a2, _) = axes[0], axes[1]
    cos12 = abs(a1 @ a2)
    found = []
    for b1, ob1 in body_axes:
        if ob1 % o1:
            continue
        for b2, _ in body_axes:
            if b2 is b1 or abs(abs(b1 @ b2) - cos12) > 1e-5:
                continue
            for s2 in (1.0, -1.0):
                a2s = a2 if (a1 @ a2) * (b1 @ (s2 * b2)) >= 0 else -a2
                r0 = _frame(a1, a2s).T @ _frame(b1, s2 * b2)
                if np.linalg.det(r0) < 0:
                    continue
                if _valid(r0, site, pg):
                    if rng is None:
                        return r0
                    found.append(r0)
        if found and len(found) >= 4:
            break
    if not found:
        return None
    return found[pick(len(found))]


def _linear_orientation(unit: Unit, site: list[np.ndarray],
                        rng: np.random.Generator | None) -> np.ndarray | None:
    """Linear units (C*v, D*h): the site group must fix the molecular axis."""
    body = unit.positions[np.argmax(np.linalg.norm(unit.positions, axis=1))]
    body = body / np.linalg.norm(body)
    symmetric = unit.point_group == "D*h"
    cands = [ax for ax, _ in _distinct_axes(np.array(site))] if site else []
    if not cands:
        cands = [quat_to_matrix(random_quaternion(rng))[:, 2] if rng is not None
                 else np.array([0.0, 0, 1])]
    for a in cands:
        ok = all(np.allclose(g @ a, a, atol=1e-6) or (symmetric and np.allclose(g @ a, -a, atol=1e-6))
                 for g in site)
        if ok:
            ang = 0.0 if rng is None else float(rng.uniform(0, 2 * math.pi))
            return _rot_about(a, ang) @ _onto(body, a)
    return None


# --------------------------------------------------------------------- lattices
def _random_cell(lattice_type: str, volume: float, rng: np.random.Generator) -> np.ndarray:
    from ase.geometry import cellpar_to_cell

    for _ in range(100):
        r = rng.uniform(0.75, 1.33, 3)
        ang = rng.uniform(65.0, 115.0, 3)
        if lattice_type == "cubic":
            par = [1, 1, 1, 90, 90, 90]
        elif lattice_type == "tetragonal":
            par = [1, 1, r[2], 90, 90, 90]
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
             volume_factor: tuple[float, float] = (0.9, 1.3)) -> Genome:
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

    Raises:
        GenerationError: impossible request, or no valid structure in max_attempts.
    """
    rng_spec = parse_spacegroup(spacegroup)
    v0 = target_volume(composition, pressure_gpa)
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
    units = [u for _, u, n in species if isinstance(u, Unit) for _ in range(n)]
    numbers = [z for _, z, n in species if not isinstance(z, Unit) for _ in range(n)]
    why = ""
    for attempt in range(max_attempts):
        grow = 1.0 + attempt / max_attempts  # loosen gently when packing is hard
        cell = _random_cell("triclinic", v0 * rng.uniform(*volume_factor) * grow, rng)
        placed_u: list[Unit] = []
        centres: list[np.ndarray] = []
        quats: list[np.ndarray] = []
        zs: list[int] = []
        frac: list[np.ndarray] = []
        g = None
        for item in units + numbers:
            for _ in range(_INSERT_TRIES):
                if isinstance(item, Unit):
                    trial = Genome.from_units(cell, placed_u + [item], centres + [rng.random(3)],
                                              quats + [random_quaternion(rng)], zs, frac)
                else:
                    trial = Genome.from_units(cell, placed_u, centres, quats, zs + [item],
                                              frac + [rng.random(3)])
                ok, why = check_genome(trial, limits)
                if ok:
                    g = trial
                    if isinstance(item, Unit):
                        placed_u.append(item)
                        centres.append(trial.unit_centres[-1])
                        quats.append(trial.unit_quats[-1])
                    else:
                        zs.append(item)
                        frac.append(trial.atom_frac[-1])
                    break
            else:
                g = None
                break
        if g is not None:
            return g
    raise GenerationError(f"no valid general-position structure of {composition} after "
                          f"{max_attempts} attempts (last: {why})")


_INSERT_TRIES = 30


def _centring_factor(table: SpaceGroupTable) -> int:
    return {"P": 1, "F": 4, "I": 2, "C": 2, "A": 2, "R": 3}.get(table.centring, 1)


@functools.lru_cache(maxsize=4096)
def _compatible(number: int, wyckoff_index: int, unit_key: str) -> bool:
    table = wyckoff_table(number)
    w = table.wyckoffs[wyckoff_index]
    unit = get_unit(unit_key)
    site = _site_cart(w, _reference_cell(table.lattice_type))
    return site_orientation(unit, site, None) is not None


def _reference_cell(lattice_type: str) -> np.ndarray:
    from ase.geometry import cellpar_to_cell

    if lattice_type in ("hexagonal", "trigonal"):
        return cellpar_to_cell([1, 1, 1.3, 90, 90, 120])
    return cellpar_to_cell([1, 1.1, 1.2, 90, 90, 90]) if lattice_type != "cubic" else np.eye(3)


def _site_cart(w: Wyckoff, cell: np.ndarray) -> np.ndarray:
    a = cell.T
    ainv = np.linalg.inv(a)
    return np.einsum("ij,kjl,lm->kim", a, w.site_rot, ainv)


def _choices(table: SpaceGroupTable, key: str, is_unit: bool) -> list[int]:
    out = []
    for i, w in enumerate(table.wyckoffs):
        if is_unit and not _compatible(table.number, i, key):
            continue
        out.append(i)
    return out


@functools.lru_cache(maxsize=1024)
def _possible_groups(composition: str, lo: int, hi: int) -> tuple[int, ...]:
    """Space groups in lo..hi whose Wyckoff sites can hold the composition (cached)."""
    comp = Composition.parse(composition)
    return tuple(n for n in range(lo, hi + 1) if _partitions_possible(comp, n))


def _partitions_possible(composition: Composition, number: int) -> bool:
    try:
        table = wyckoff_table(number)
    except GenerationError:
        return False
    z = _centring_factor(table)
    used_special: set[int] = set()
    for key, obj, n in _species(composition):
        choices = _choices(table, key, isinstance(obj, Unit))
        if not _can_sum(n * z, [table.wyckoffs[i] for i in choices], used_special):
            return False
    return True


def _can_sum(total: int, wps: list[Wyckoff], used_special: set[int]) -> bool:
    """Whether ``total`` is a sum of multiplicities (special positions at most once)."""
    free = sorted({w.multiplicity for w in wps if w.dof > 0})
    fixed = [w.multiplicity for w in wps if w.dof == 0]
    reach = {0}
    for m in fixed:  # each fixed site at most once
        reach |= {r + m for r in reach if r + m <= total}
    for m in free:   # free sites any number of times
        new = set(reach)
        frontier = list(reach)
        while frontier:
            r = frontier.pop()
            if r + m <= total and r + m not in new:
                new.add(r + m)
                frontier.append(r + m)
        reach = new
    return total in reach


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


def _symmetric(composition: Composition, number: int, v0: float, rng: np.random.Generator,
               limits: Limits, volume_factor: tuple[float, float]) -> Genome:
    table = wyckoff_table(number)
    z = _centring_factor(table)
    conv_cell = _random_cell(table.lattice_type, v0 * z * rng.uniform(*volume_factor), rng)
    a = conv_cell.T
    ainv = np.linalg.inv(a)
    taken: set[int] = set()
    units: list[Unit] = []
    centres: list[np.ndarray] = []
    rots: list[np.ndarray] = []
    numbers: list[int] = []
    frac: list[np.ndarray] = []
    for key, obj, n in _species(composition):
        is_unit = isinstance(obj, Unit)
        picks = _draw_partition(n * z, _choices(table, key, is_unit), table, taken, rng)
        if picks is None:
            raise _Retry(f"{key}: no Wyckoff partition of {n * z} in {table.symbol}")
        for i in picks:
            w = table.wyckoffs[i]
            rep = w.rep[:3, :3] @ rng.random(3) + w.rep[:3, 3]
            orbit = (np.einsum("kij,j->ki", w.ops_rot, rep) + w.ops_tr) % 1.0
            if is_unit:
                site = np.einsum("ij,kjl,lm->kim", a, w.site_rot, ainv)
                r0 = site_orientation(obj, site, rng)
                if r0 is None:
                    raise _Retry(f"{key} cannot be oriented on {w.label}")
                improper = _an_improper(obj)
                for k in range(w.multiplicity):
                    wc = a @ w.ops_rot[k] @ ainv
                    rk = wc @ r0
                    if np.linalg.det(rk) < 0:
                        if improper is None:
                            raise _Retry(f"chiral unit {key} on an improper orbit")
                        rk = rk @ improper
                    units.append(obj)
                    centres.append(orbit[k])
                    rots.append(rk)
            else:
                numbers.extend([obj] * w.multiplicity)
                frac.extend(orbit)
    genome = _to_primitive(conv_cell, table, units, centres, rots, numbers, frac)
    ok, why = check_genome(genome, limits)
    if not ok:
        raise _Retry(why)
    return genome


def _an_improper(unit: Unit) -> np.ndarray | None:
    for m in unit.symmetry_operations():
        if np.linalg.det(m) < 0:
            return m
    return None


def _to_primitive(conv_cell: np.ndarray, table: SpaceGroupTable, units, centres, rots,
                  numbers, frac) -> Genome:
    t = _PRIMITIVE.get(table.centring, np.eye(3))
    prim = t @ conv_cell
    tinv = np.linalg.inv(t)

    def reduce(points: list[np.ndarray]) -> list[int]:
        keep: list[int] = []
        seen: list[np.ndarray] = []
        for i, p in enumerate(points):
            q = (np.asarray(p) @ tinv) % 1.0
            if any(np.abs(((q - s) + 0.5) % 1.0 - 0.5).max() < 1e-6 for s in seen):
                continue
            seen.append(q)
            keep.append(i)
        return keep

    # units: the same centre may host only one unit (validity would reject overlaps)
    ku = reduce(centres)
    ka = reduce(frac)
    quats = [matrix_to_quat(rots[i]) for i in ku]
    return Genome.from_units(prim, [units[i] for i in ku],
                             [(np.asarray(centres[i]) @ tinv) % 1.0 for i in ku],
                             quats, [numbers[i] for i in ka],
                             [(np.asarray(frac[i]) @ tinv) % 1.0 for i in ka])
