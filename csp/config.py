"""Search configuration: one TOML file, parsed and validated here, once.

Every other module receives typed, frozen values from :func:`load_config` /
:func:`parse_config`; nothing else reads the TOML. Unknown keys and bad values raise
:class:`ConfigError` (a :class:`csp.errors.CspError`) whose message names the key, e.g.
``config error: [search] population_size must be a positive integer, got -3``.

A minimal file::

    seed = 1
    outdir = "srb12_50gpa"
    composition = "Sr1 (B12)1"
    formula_units = [1, 2]
    pressure = 50            # GPa; or pressures = [0, 50]

    [relaxer]
    name = "sevennet"

    [search]
    population_size = 12
    max_evaluations = 60

Variable composition replaces the string by a table::

    [composition]
    blocks = ["Sr", "B", "(B12)"]
    min_atoms = 12
    max_atoms = 26
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from csp.composition import Composition, parse_composition
from csp.errors import CspError

__all__ = [
    "CompositionSpace",
    "Config",
    "ConfigError",
    "DuplicateSettings",
    "LimitSettings",
    "ParallelSettings",
    "SearchSettings",
    "load_config",
    "parse_config",
    "parse_toml",
]

#: largest cell a search may ask for (atoms); beyond that ML relaxations stall
MAX_ATOMS_PER_CELL = 400


class ConfigError(CspError):
    """A configuration value is missing, unknown or out of range (message names the key)."""

    def __init__(self, message: str) -> None:
        super().__init__(f"config error: {message}")


# ------------------------------------------------------------------ typed sections
@dataclass(frozen=True)
class CompositionSpace:
    """What may be in a cell.

    Fixed composition: ``fixed`` is one formula unit and ``formula_units`` the allowed
    multiples. Variable composition: ``blocks`` are unit names (``"(B12)"``) or element
    symbols, and a cell holds any non-negative combination with ``min_atoms <= atoms
    <= max_atoms`` (charge-neutral only when ``charge_neutral`` is set).
    """

    fixed: Composition | None = None
    formula_units: tuple[int, ...] = (1,)
    blocks: tuple[str, ...] = ()
    min_atoms: int = 1
    max_atoms: int = 0
    charge_neutral: bool = False

    @property
    def variable(self) -> bool:
        return self.fixed is None

    def block_composition(self, block: str) -> Composition:
        """Composition of one block: ``"(B12)"`` -> one B12 unit, ``"Sr"`` -> one Sr atom."""
        return parse_composition(block if block.startswith("(") else f"{block}1")

    def cell_compositions(self, limit: int = 200_000) -> list[Composition]:
        """Every composition a cell may have (fixed: one per formula-unit count).

        Raises:
            ConfigError: when the space is empty or larger than ``limit``.
        """
        if self.fixed is not None:
            return [self.fixed.scaled(n) for n in self.formula_units]
        sizes = [self.block_composition(b).n_atoms for b in self.blocks]
        out: list[Composition] = []
        counts = [0] * len(sizes)

        def rec(i: int, atoms: int) -> None:
            if len(out) > limit:
                raise ConfigError(f"[composition] more than {limit} compositions; lower max_atoms")
            if i == len(sizes):
                if self.min_atoms <= atoms <= self.max_atoms and any(counts):
                    comp = _combine([self.block_composition(b) for b in self.blocks], counts)
                    if not self.charge_neutral or comp.charge() == 0:
                        out.append(comp)
                return
            for c in range((self.max_atoms - atoms) // sizes[i] + 1):
                counts[i] = c
                rec(i + 1, atoms + c * sizes[i])
            counts[i] = 0

        rec(0, 0)
        return out

    def describe(self) -> str:
        """One line for people: ``Sr1 (B12)1, 1-2 formula units per cell`` or
        ``Sr, B, (B12) (1-26 atoms)``."""
        if self.fixed is not None:
            fu = self.formula_units
            n = str(fu[0]) if len(fu) == 1 else f"{fu[0]}-{fu[-1]}"
            return f"{self.fixed}, {n} formula unit{'s' if fu[-1] > 1 else ''} per cell"
        return (f"{', '.join(self.blocks)} ({self.min_atoms}-{self.max_atoms} atoms"
                f"{', charge-neutral' if self.charge_neutral else ''})")

    def to_dict(self) -> dict:
        if self.fixed is not None:
            return {"composition": str(self.fixed), "formula_units": list(self.formula_units)}
        return {"composition": {"blocks": list(self.blocks), "min_atoms": self.min_atoms,
                                "max_atoms": self.max_atoms,
                                "charge_neutral": self.charge_neutral}}


def _combine(blocks: list[Composition], counts: list[int]) -> Composition:
    units: dict[str, int] = {}
    atoms: dict[str, int] = {}
    for comp, n in zip(blocks, counts):
        for k, v in comp.units.items():
            units[k] = units.get(k, 0) + v * n
        for k, v in comp.atoms.items():
            atoms[k] = atoms.get(k, 0) + v * n
    return Composition(units=units, atoms=atoms)


@dataclass(frozen=True)
class SearchSettings:
    """Evolution settings.

    Attributes:
        population_size: individuals kept per pressure (best by fitness, unique).
        initial_population: random + seed candidates before breeding starts.
        max_evaluations: relaxations in the whole run (the budget).
        stop_after_no_improvement: stop after this many relaxations without a new best
            (0: never).
        tournament_size: individuals drawn per tournament for parent selection.
        spacegroups: ``(lo, hi)`` range of space groups for random generation, or None
            for "any" (the generator decides).
        random_fraction: share of offspring replaced by fresh random structures.
        symmetry_breaking: Å; a random structure made in a space group is distorted by
            this much (every atom moves by about this, units rigid) before it is relaxed,
            so that the relaxation is not held at a saddle point by the symmetry of its
            start (``csp.operators.variation.break_symmetry``); 0: relax it symmetric.
        broken_units: "reject" (a relaxed structure whose units broke is not a parent)
            or "keep".
        max_unit_rmsd: units whose re-fit RMSD exceeds this are counted broken, Å.
        unconverged: what becomes of a relaxation stopped at the relaxer's step limit
            with its units intact: "breed" (recorded as "unconverged": a parent, ranked
            by its last enthalpy, an upper bound of its basin's minimum, as USPEX keeps
            such structures; never the best structure, a hull phase or a hit) or
            "discard" (recorded as failed, as every failure). "breed" is the default, as
            measured in the search benchmark (benchmarks/RESULTS.md, ablation "discard").
        adaptive_operators: re-weight operators by their recent success.
        stop_at_enthalpy: stop once a relaxed structure with intact units reaches this
            enthalpy per atom (eV/atom) at any pressure (benchmarks: time to a known
            ground state); None: never.
        max_per_composition: variable composition: at most this many members of the
            population share one reduced composition (0: no cap). Hull distance cannot
            tell polymorphs of an end member apart (all lie within meV of 0), so without
            a cap the population fills with them and breeds their duplicates.
    """

    population_size: int = 20
    initial_population: int = 0
    max_evaluations: int = 100
    stop_after_no_improvement: int = 0
    tournament_size: int = 3
    spacegroups: tuple[int, int] | None = (2, 230)
    random_fraction: float = 0.1
    symmetry_breaking: float = 0.15
    broken_units: str = "reject"
    max_unit_rmsd: float = 0.5
    unconverged: str = "breed"
    adaptive_operators: bool = True
    stop_at_enthalpy: float | None = None
    max_per_composition: int = 2

    @property
    def n_initial(self) -> int:
        return self.initial_population or self.population_size


@dataclass(frozen=True)
class DuplicateSettings:
    """Duplicate thresholds (cosine fingerprint distance, dimensionless; window eV/atom)."""

    fingerprint_distance: float = 0.01
    relaxed_distance: float = 0.02
    energy_window: float = 0.005


@dataclass(frozen=True)
class ParallelSettings:
    """Workers (processes; MPI decides its own) and threads per worker."""

    workers: int = 1
    threads: int = 1


@dataclass(frozen=True)
class LimitSettings:
    """Validity limits, mirrored into :class:`csp.operators.validity.Limits`."""

    dmin_factor: float = 0.7
    dmin: tuple[tuple[tuple[str, str], float], ...] = ()
    min_angle_deg: float = 45.0
    max_angle_deg: float = 135.0
    max_length_ratio: float = 4.0

    def to_limits(self):  # -> csp.operators.validity.Limits
        from csp.operators.validity import Limits

        return Limits(dmin_factor=self.dmin_factor, dmin_override=self.dmin,
                      min_angle_deg=self.min_angle_deg, max_angle_deg=self.max_angle_deg,
                      max_length_ratio=self.max_length_ratio)


@dataclass(frozen=True)
class Config:
    """A whole, validated search configuration."""

    composition: CompositionSpace
    pressures: tuple[float, ...]
    relaxer: dict
    search: SearchSettings = SearchSettings()
    operators: tuple[tuple[str, float, tuple[tuple[str, Any], ...]], ...] = ()
    seeds: tuple[Any, ...] = ()
    seed: int = 0
    outdir: str = "csp_run"
    limits: LimitSettings = LimitSettings()
    duplicates: DuplicateSettings = DuplicateSettings()
    parallel: ParallelSettings = ParallelSettings()
    name: str = ""
    source: str = field(default="", compare=False)

    def replace(self, **changes) -> Config:
        from dataclasses import replace

        return replace(self, **changes)

    def to_dict(self) -> dict:
        """The resolved configuration as plain TOML/JSON-able data (round-trips)."""
        d: dict[str, Any] = {"name": self.name, "seed": self.seed, "outdir": self.outdir}
        d.update(self.composition.to_dict())
        d["pressures"] = list(self.pressures)
        d["relaxer"] = self.relaxer
        s = asdict(self.search)
        s["spacegroups"] = list(self.search.spacegroups) if self.search.spacegroups else "any"
        if s["stop_at_enthalpy"] is None:  # TOML has no null: absent means never
            del s["stop_at_enthalpy"]
        d["search"] = s
        d["operators"] = {n: ({"weight": w, **dict(p)} if p else w) for n, w, p in self.operators}
        d["seeds"] = list(self.seeds)
        lim = asdict(self.limits)
        lim["dmin"] = {f"{a}-{b}": v for (a, b), v in self.limits.dmin}
        d["limits"] = lim
        d["duplicates"] = asdict(self.duplicates)
        d["parallel"] = asdict(self.parallel)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)


# ----------------------------------------------------------------- value checkers
def _where(section: str, key: str) -> str:
    return f"[{section}] {key}" if section else key


def _check_keys(table: Any, allowed: set[str], section: str) -> dict:
    if not isinstance(table, dict):
        raise ConfigError(f"{_where('', section) if section else 'file'} must be a table, "
                          f"got {table!r}")
    unknown = sorted(set(table) - allowed)
    if unknown:
        where = f"[{section}]" if section else "top level"
        raise ConfigError(f"unknown key {unknown[0]!r} in {where}; allowed: "
                          f"{', '.join(sorted(allowed))}")
    return table


def _int(t: dict, key: str, section: str, default: int, lo: int = 0, hi: int | None = None,
         what: str | None = None) -> int:
    v = t.get(key, default)
    ok = isinstance(v, int) and not isinstance(v, bool) and v >= lo and (hi is None or v <= hi)
    if not ok:
        desc = what or ("a positive integer" if lo == 1 else f"an integer >= {lo}")
        if hi is not None:
            desc += f" and <= {hi}"
        raise ConfigError(f"{_where(section, key)} must be {desc}, got {v!r}")
    return v


def _float(t: dict, key: str, section: str, default: float, lo: float = 0.0,
           hi: float | None = None, strict: bool = False) -> float:
    v = t.get(key, default)
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    if ok:
        ok = (v > lo if strict else v >= lo) and (hi is None or v <= hi)
    if not ok:
        rng = f"{'>' if strict else '>='} {lo}" + (f" and <= {hi}" if hi is not None else "")
        raise ConfigError(f"{_where(section, key)} must be a number {rng}, got {v!r}")
    return float(v)


def _bool(t: dict, key: str, section: str, default: bool) -> bool:
    v = t.get(key, default)
    if not isinstance(v, bool):
        raise ConfigError(f"{_where(section, key)} must be true or false, got {v!r}")
    return v


def _str(t: dict, key: str, section: str, default: str, choices: tuple[str, ...] = ()) -> str:
    v = t.get(key, default)
    if not isinstance(v, str) or (choices and v not in choices):
        want = f"one of {', '.join(map(repr, choices))}" if choices else "a string"
        raise ConfigError(f"{_where(section, key)} must be {want}, got {v!r}")
    return v


# ------------------------------------------------------------------ section parsers
def _parse_composition(d: dict) -> CompositionSpace:
    if "composition" not in d:
        raise ConfigError("missing key 'composition' (e.g. composition = \"Sr1 (B12)1\" or a "
                          "[composition] table with blocks)")
    comp = d["composition"]
    if isinstance(comp, str):
        try:
            fixed = parse_composition(comp)
        except CspError as exc:
            raise ConfigError(f"composition: {exc}") from None
        fu = d.get("formula_units", [1])
        if isinstance(fu, int) and not isinstance(fu, bool):
            fu = [fu]
        if (not isinstance(fu, list) or not fu
                or not all(isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in fu)):
            raise ConfigError(f"formula_units must be a positive integer or a list [lo, hi] of "
                              f"positive integers, got {fu!r}")
        if len(fu) == 2 and fu[0] <= fu[1]:
            fus = tuple(range(fu[0], fu[1] + 1))
        elif len(fu) == 1:
            fus = (fu[0],)
        else:
            raise ConfigError(f"formula_units must be [lo, hi] with lo <= hi, got {fu!r}")
        if fixed.n_atoms * fus[-1] > MAX_ATOMS_PER_CELL:
            raise ConfigError(f"composition {comp!r} x {fus[-1]} formula units has "
                              f"{fixed.n_atoms * fus[-1]} atoms (> {MAX_ATOMS_PER_CELL})")
        return CompositionSpace(fixed=fixed, formula_units=fus)
    if "formula_units" in d:
        raise ConfigError("formula_units only applies to a fixed composition string")
    t = _check_keys(comp, {"blocks", "min_atoms", "max_atoms", "charge_neutral"}, "composition")
    blocks = t.get("blocks")
    if (not isinstance(blocks, list) or not blocks or not all(isinstance(b, str) for b in blocks)
            or len(set(blocks)) != len(blocks)):
        raise ConfigError(f"[composition] blocks must be a list of distinct unit names '(B12)' "
                          f"or element symbols, got {blocks!r}")
    space0 = CompositionSpace(blocks=tuple(blocks))
    for b in blocks:
        try:
            bc = space0.block_composition(b)
        except CspError as exc:
            raise ConfigError(f"[composition] blocks: {exc}") from None
        if sum(bc.units.values()) + sum(bc.atoms.values()) != 1:
            raise ConfigError(f"[composition] blocks: {b!r} must be one unit '(NAME)' or one "
                              "element symbol")
    max_atoms = _int(t, "max_atoms", "composition", -1, lo=1, hi=MAX_ATOMS_PER_CELL)
    min_atoms = _int(t, "min_atoms", "composition", 1, lo=1)
    if min_atoms > max_atoms:
        raise ConfigError(f"[composition] min_atoms ({min_atoms}) > max_atoms ({max_atoms})")
    space = CompositionSpace(blocks=tuple(blocks), min_atoms=min_atoms, max_atoms=max_atoms,
                             charge_neutral=_bool(t, "charge_neutral", "composition", False))
    if not space.cell_compositions():
        raise ConfigError(f"[composition] no composition of {blocks} has between {min_atoms} "
                          f"and {max_atoms} atoms" + (" and is charge neutral"
                                                      if space.charge_neutral else ""))
    return space


def _parse_pressures(d: dict) -> tuple[float, ...]:
    if "pressure" in d and "pressures" in d:
        raise ConfigError("give either 'pressure' or 'pressures', not both")
    raw = d.get("pressures", d.get("pressure", 0.0))
    key = "pressures" if "pressures" in d else "pressure"
    values = raw if isinstance(raw, list) else [raw]
    if not values:
        raise ConfigError(f"{key} must not be empty")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ConfigError(f"{key} must be a number in GPa (or a list of numbers), got {raw!r}")
        if v < 0:
            raise ConfigError(f"{key} must be >= 0 GPa, got {v!r}")
        if v > 1000:
            raise ConfigError(f"{key} must be <= 1000 GPa, got {v!r}")
        out.append(float(v))
    if len(set(out)) != len(out):
        raise ConfigError(f"{key} has repeated values: {raw!r}")
    return tuple(out)


def _parse_relaxer(d: dict) -> dict:
    spec = d.get("relaxer", {"name": "sevennet"})
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, dict):
        raise ConfigError(f"relaxer must be a name or a [relaxer] table, got {spec!r}")
    spec = json.loads(json.dumps(spec))  # plain data (TOML dates are not allowed here)
    if "stages" not in spec and "name" not in spec:
        spec = {"name": "sevennet", **spec}
    from csp.evaluate import validate_relaxer

    try:
        validate_relaxer(spec)
    except CspError as exc:
        raise ConfigError(f"[relaxer] {str(exc).removeprefix('config error: ')}") from None
    return spec


def _parse_search(d: dict) -> SearchSettings:
    s = "search"
    t = _check_keys(d.get(s, {}), {f for f in SearchSettings.__dataclass_fields__}, s)
    sg = t.get("spacegroups", [2, 230])
    if sg == "any":
        groups = None
    elif isinstance(sg, int) and not isinstance(sg, bool) and 1 <= sg <= 230:
        groups = (sg, sg)
    elif (isinstance(sg, list) and len(sg) == 2
          and all(isinstance(x, int) and not isinstance(x, bool) and 1 <= x <= 230 for x in sg)
          and sg[0] <= sg[1]):
        groups = (sg[0], sg[1])
    else:
        raise ConfigError(f"[search] spacegroups must be \"any\", a number 1-230 or [lo, hi] "
                          f"with 1 <= lo <= hi <= 230, got {sg!r}")
    pop = _int(t, "population_size", s, 20, lo=1)
    return SearchSettings(
        population_size=pop,
        initial_population=_int(t, "initial_population", s, 0, lo=0),
        max_evaluations=_int(t, "max_evaluations", s, 100, lo=1),
        stop_after_no_improvement=_int(t, "stop_after_no_improvement", s, 0, lo=0),
        tournament_size=_int(t, "tournament_size", s, 3, lo=1),
        spacegroups=groups,
        random_fraction=_float(t, "random_fraction", s, 0.1, 0.0, 1.0),
        symmetry_breaking=_float(t, "symmetry_breaking", s, 0.15, 0.0, 0.5),
        broken_units=_str(t, "broken_units", s, "reject", ("reject", "keep")),
        max_unit_rmsd=_float(t, "max_unit_rmsd", s, 0.5, 0.0, strict=True),
        unconverged=_str(t, "unconverged", s, "breed", ("breed", "discard")),
        adaptive_operators=_bool(t, "adaptive_operators", s, True),
        stop_at_enthalpy=_optional_real(t, "stop_at_enthalpy", s),
        max_per_composition=_int(t, "max_per_composition", s, 2, lo=0))


def _optional_real(t: dict, key: str, section: str) -> float | None:
    """A finite number (any sign) or absent."""
    if key not in t:
        return None
    v = t[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ConfigError(f"{_where(section, key)} must be a number (eV/atom), got {v!r}")
    return float(v)


def _parse_operators(d: dict) -> tuple:
    t = d.get("operators", {})
    if not isinstance(t, dict):
        raise ConfigError(f"[operators] must be a table of name = weight, got {t!r}")
    from csp.engine import operator_table

    table = operator_table()
    out = []
    for name, v in t.items():
        if name not in table:
            raise ConfigError(f"[operators] unknown operator {name!r}; known: "
                              f"{', '.join(sorted(table))}")
        params: dict = {}
        if isinstance(v, dict):
            params = dict(v)
            v = params.pop("weight", table[name][1])
        w = _float({name: v}, name, "operators", 0.0, 0.0)
        out.append((name, w, tuple(sorted(params.items()))))
    merged = {n: spec[1] for n, spec in table.items()}
    merged.update({n: w for n, w, _ in out})
    if merged and not any(w > 0 for w in merged.values()):
        raise ConfigError("[operators] all operator weights are zero")
    return tuple(out)


def _parse_limits(d: dict) -> LimitSettings:
    s = "limits"
    t = _check_keys(d.get(s, {}), {"dmin_factor", "dmin", "min_angle_deg", "max_angle_deg",
                                   "max_length_ratio"}, s)
    dmin = t.get("dmin", {})
    if not isinstance(dmin, dict):
        raise ConfigError(f"[limits] dmin must be a table like {{\"B-B\" = 1.3}}, got {dmin!r}")
    from ase.data import atomic_numbers

    pairs = []
    for key in dmin:
        els = key.split("-")
        if len(els) != 2 or not all(e in atomic_numbers and e != "X" for e in els):
            raise ConfigError(f"[limits] dmin key {key!r} must be 'El-El', e.g. 'B-B'")
        pairs.append((tuple(sorted(els)), _float(dmin, key, "limits.dmin", 0.0, 0.0, 10.0,
                                                  strict=True)))
    lo = _float(t, "min_angle_deg", s, 45.0, 1.0, 90.0)
    hi = _float(t, "max_angle_deg", s, 135.0, 90.0, 179.0)
    return LimitSettings(dmin_factor=_float(t, "dmin_factor", s, 0.7, 0.0, 2.0, strict=True),
                         dmin=tuple(pairs), min_angle_deg=lo, max_angle_deg=hi,
                         max_length_ratio=_float(t, "max_length_ratio", s, 4.0, 1.0, 100.0))


def _parse_seeds(d: dict, base: Path | None) -> tuple:
    seeds = d.get("seeds", [])
    if not isinstance(seeds, list):
        raise ConfigError(f"seeds must be a list of seed names, files or tables, got {seeds!r}")
    out = []
    for s in seeds:
        if isinstance(s, str):
            if base is not None and (base / s).exists():
                s = str((base / s).resolve())
        elif isinstance(s, dict):
            s = json.loads(json.dumps(s))
            # files named in tables are relative to the config file, as plain strings are
            for key in ("file", "prototype"):
                v = s.get(key)
                if isinstance(v, str) and base is not None and (base / v).exists():
                    s[key] = str((base / v).resolve())
        else:
            raise ConfigError(f"seeds entries must be strings or tables, got {s!r}")
        out.append(s)
    if out:
        from csp.engine import resolve_seeds

        try:
            resolve_seeds(tuple(out))
        except CspError as exc:
            raise ConfigError(f"seeds: {str(exc).removeprefix('config error: ')}") from None
    return tuple(out)


TOP_KEYS = {"name", "seed", "outdir", "composition", "formula_units", "pressure", "pressures",
            "relaxer", "search", "operators", "seeds", "limits", "duplicates", "parallel"}


def parse_config(d: dict, base_dir: str | Path | None = None, source: str = "") -> Config:
    """Validate a configuration mapping (as read from TOML).

    Args:
        d: the parsed TOML document.
        base_dir: directory relative seed files are resolved against (``outdir`` stays
            relative to the current directory).
        source: where it came from (for messages and the stored copy).

    Raises:
        ConfigError: naming the first offending key and value.
    """
    _check_keys(d, TOP_KEYS, "")
    base = Path(base_dir) if base_dir is not None else None
    dup = _check_keys(d.get("duplicates", {}), set(DuplicateSettings.__dataclass_fields__),
                      "duplicates")
    par = _check_keys(d.get("parallel", {}), {"workers", "threads"}, "parallel")
    outdir = _str(d, "outdir", "", "csp_run")
    if not outdir.strip():
        raise ConfigError("outdir must be a non-empty path")
    cfg = Config(
        name=_str(d, "name", "", ""),
        seed=_int(d, "seed", "", 0, lo=0, hi=2**63 - 1, what="a non-negative integer"),
        outdir=outdir,
        composition=_parse_composition(d),
        pressures=_parse_pressures(d),
        search=_parse_search(d),
        operators=_parse_operators(d),
        limits=_parse_limits(d),
        duplicates=DuplicateSettings(
            fingerprint_distance=_float(dup, "fingerprint_distance", "duplicates", 0.01, 0.0, 2.0),
            relaxed_distance=_float(dup, "relaxed_distance", "duplicates", 0.02, 0.0, 2.0),
            energy_window=_float(dup, "energy_window", "duplicates", 0.005, 0.0, 10.0)),
        parallel=ParallelSettings(workers=_int(par, "workers", "parallel", 1, lo=1, hi=4096),
                                  threads=_int(par, "threads", "parallel", 1, lo=1, hi=1024)),
        relaxer=_parse_relaxer(d),
        seeds=_parse_seeds(d, base),
        source=source)
    return cfg


def toml_module() -> Any:
    """The TOML reader: ``tomllib`` (Python >= 3.11) or its backport ``tomli`` (3.10, a
    dependency there), whose ``loads`` and ``TOMLDecodeError`` are the same."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # Python 3.10
        import tomli as tomllib
    return tomllib


def parse_toml(text: str, base_dir: str | Path | None = None, source: str = "") -> Config:
    """Parse and validate TOML text (see :func:`parse_config`)."""
    tomllib = toml_module()
    try:
        d = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source or 'TOML'} is not valid TOML: {exc}") from None
    return parse_config(d, base_dir=base_dir, source=source)


def load_config(path: str | Path) -> Config:
    """Read and validate a TOML configuration file; relative paths are resolved
    against the current directory for ``outdir`` and the file's directory for seeds."""
    p = Path(path)
    try:
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {str(path)!r}: {exc}") from None
    cfg = parse_toml(text, base_dir=p.parent, source=str(p))
    return cfg
