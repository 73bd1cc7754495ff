"""Quantum ESPRESSO (pw.x) as a real external program: vc-relax at a pressure.

Settings (what to compute) are :class:`EspressoSettings`; the launch (``pw.x`` or
``mpirun -np 4 pw.x``, timeout) is a :class:`csp.calculators.launch.Profile`. Input
is written and output parsed by this module with plain file I/O (no ``ase.io``, whose
MPI-aware writers only write on rank 0 once mpi4py is imported).

Convergence is checked, not assumed from "JOB DONE": an SCF cycle that stopped with
"convergence NOT achieved" is ``scf_failed``; a relaxation that ran out of steps or
whose BFGS failed, or an output with no "End final coordinates", is ``not_converged``.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.data import atomic_masses, atomic_numbers
from ase.units import Bohr, Ry
from csp.calculators.base import RelaxOutcome, StageRecord, enthalpy, too_close
from csp.calculators.launch import Profile, run_program

from csp.errors import CspError

__all__ = [
    "DEBIAN_PSEUDO_DIR",
    "EspressoRelaxer",
    "EspressoSettings",
    "find_pseudopotentials",
    "kpoint_grid",
    "parse_pw_output",
    "write_pw_input",
]

DEBIAN_PSEUDO_DIR = "/usr/share/espresso/pseudo"
_KBAR_PER_GPA = 10.0


def kpoint_grid(cell: np.ndarray, spacing: float) -> tuple[int, int, int]:
    """Monkhorst-Pack grid with reciprocal spacing <= ``spacing`` (1/Å, 2π included)."""
    rec = 2 * np.pi * np.linalg.inv(cell).T
    n = [max(1, math.ceil(np.linalg.norm(b) / spacing)) for b in rec]
    return n[0], n[1], n[2]


def find_pseudopotentials(symbols: list[str], pseudo_dir: str,
                          explicit: dict[str, str] | None = None) -> dict[str, str]:
    """UPF file per element: explicit map first, else the best match in pseudo_dir.

    Preference: PBE ultrasoft pslibrary ('pbe-*rrkjus_psl'), then other PBE files, then
    anything starting with the element symbol and a dot or underscore.
    """
    d = Path(pseudo_dir)
    if not d.is_dir():
        raise CspError(f"pseudo_dir {pseudo_dir!r} does not exist")
    files = sorted(p.name for p in d.iterdir() if p.suffix.lower() == ".upf")
    out = {}
    for s in sorted(set(symbols)):
        if explicit and s in explicit:
            if not (d / explicit[s]).is_file():
                raise CspError(f"pseudopotential {explicit[s]!r} for {s} not in {pseudo_dir!r}")
            out[s] = explicit[s]
            continue
        cands = [f for f in files if re.match(rf"^{s}[._]", f)]
        ranked = sorted(cands, key=lambda f: (not ("pbe" in f.lower() and "rrkjus_psl" in f),
                                              "pbe" not in f.lower(), "rel-" in f, f))
        if not ranked:
            raise CspError(f"no pseudopotential for {s} in {pseudo_dir!r} (give [relaxer] "
                           f"pseudopotentials = {{{s} = 'file.UPF'}})")
        out[s] = ranked[0]
    return out


@dataclass(frozen=True)
class EspressoSettings:
    """pw.x settings (what to compute).

    Attributes:
        calculation: "vc-relax" (cell + positions at the pressure), "relax" or "scf".
        ecutwfc / ecutrho: plane-wave cutoffs, Ry (ecutrho default 8 x ecutwfc).
        kspacing: k-point spacing, 1/Å (2π included).
        smearing / degauss: Marzari-Vanderbilt smearing width, Ry.
        conv_thr: SCF threshold, Ry; electron_maxstep: SCF iterations.
        forc_conv_thr: Ry/Bohr; press_conv_thr: kbar; nstep: ionic steps.
        cell_dofree: "all", "ibrav", "shape", ...
        pseudo_dir / pseudopotentials: UPF directory and optional element -> file map.
        command / timeout: the launch profile.
    """

    calculation: str = "vc-relax"
    ecutwfc: float = 40.0
    ecutrho: float | None = None
    kspacing: float = 0.3
    smearing: str = "mv"
    degauss: float = 0.02
    conv_thr: float = 1e-7
    electron_maxstep: int = 100
    mixing_beta: float = 0.5
    forc_conv_thr: float = 1e-3
    press_conv_thr: float = 0.5
    nstep: int = 100
    cell_dofree: str = "all"
    pseudo_dir: str = DEBIAN_PSEUDO_DIR
    pseudopotentials: tuple[tuple[str, str], ...] = ()
    command: str = "pw.x -in {input}"
    timeout: float = 3600.0

    def __post_init__(self) -> None:
        if self.calculation not in ("vc-relax", "relax", "scf"):
            raise CspError(f"espresso calculation must be vc-relax, relax or scf, got "
                           f"{self.calculation!r}")
        for name in ("ecutwfc", "kspacing", "degauss", "conv_thr", "forc_conv_thr",
                     "press_conv_thr", "timeout"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and v > 0):
                raise CspError(f"espresso setting {name} must be > 0, got {v!r}")
        for name in ("electron_maxstep", "nstep"):
            v = getattr(self, name)
            if not (isinstance(v, int) and v > 0):
                raise CspError(f"espresso setting {name} must be a positive integer, got {v!r}")

    @classmethod
    def from_dict(cls, d: dict) -> EspressoSettings:
        known = {f.name for f in fields(cls)}
        bad = sorted(set(d) - known)
        if bad:
            raise CspError(f"unknown espresso setting(s) {bad}; known: {sorted(known)}")
        d = dict(d)
        if isinstance(d.get("pseudopotentials"), dict):
            d["pseudopotentials"] = tuple(sorted(d["pseudopotentials"].items()))
        return cls(**d)

    @property
    def profile(self) -> Profile:
        return Profile(self.command, self.timeout)


def write_pw_input(atoms: Atoms, s: EspressoSettings, pressure_gpa: float, path: Path,
                   outdir: str = "./out") -> None:
    """Write a pw.x input file for ``atoms`` at ``pressure_gpa``."""
    symbols = sorted(set(atoms.get_chemical_symbols()), key=lambda x: atomic_numbers[x])
    pps = find_pseudopotentials(symbols, s.pseudo_dir, dict(s.pseudopotentials))
    kpts = kpoint_grid(np.array(atoms.cell[:]), s.kspacing)
    ecutrho = s.ecutrho if s.ecutrho is not None else 8.0 * s.ecutwfc
    lines = ["&CONTROL", f"  calculation = '{s.calculation}'", "  prefix = 'csp'",
             f"  outdir = '{outdir}'", f"  pseudo_dir = '{s.pseudo_dir}'",
             "  tprnfor = .true.", "  tstress = .true.", f"  nstep = {s.nstep}",
             f"  forc_conv_thr = {s.forc_conv_thr:.6e}", "/",
             "&SYSTEM", "  ibrav = 0", f"  nat = {len(atoms)}", f"  ntyp = {len(symbols)}",
             f"  ecutwfc = {s.ecutwfc}", f"  ecutrho = {ecutrho}",
             "  occupations = 'smearing'", f"  smearing = '{s.smearing}'",
             f"  degauss = {s.degauss}", "/",
             "&ELECTRONS", f"  conv_thr = {s.conv_thr:.3e}",
             f"  electron_maxstep = {s.electron_maxstep}", f"  mixing_beta = {s.mixing_beta}", "/"]
    if s.calculation in ("relax", "vc-relax"):
        lines += ["&IONS", "  ion_dynamics = 'bfgs'", "/"]
    if s.calculation == "vc-relax":
        lines += ["&CELL", "  cell_dynamics = 'bfgs'",
                  f"  press = {pressure_gpa * _KBAR_PER_GPA:.6f}",
                  f"  press_conv_thr = {s.press_conv_thr}", f"  cell_dofree = '{s.cell_dofree}'",
                  "/"]
    lines.append("ATOMIC_SPECIES")
    for sym in symbols:
        lines.append(f"  {sym} {atomic_masses[atomic_numbers[sym]]:.4f} {pps[sym]}")
    lines.append("CELL_PARAMETERS angstrom")
    for v in atoms.cell[:]:
        lines.append(f"  {v[0]:.10f} {v[1]:.10f} {v[2]:.10f}")
    lines.append("ATOMIC_POSITIONS angstrom")
    for sym, p in zip(atoms.get_chemical_symbols(), atoms.positions):
        lines.append(f"  {sym} {p[0]:.10f} {p[1]:.10f} {p[2]:.10f}")
    lines.append("K_POINTS automatic")
    lines.append(f"  {kpts[0]} {kpts[1]} {kpts[2]} 0 0 0")
    path.write_text("\n".join(lines) + "\n")


@dataclass
class PwResult:
    """What a pw.x output says (energies in eV, pressure in GPa)."""

    energy: float = math.nan
    enthalpy: float = math.nan
    pressure_gpa: float = math.nan
    fmax: float = math.nan
    atoms: Atoms | None = None
    steps: int = 0
    job_done: bool = False
    scf_failed: bool = False
    relax_converged: bool | None = None
    messages: list[str] = field(default_factory=list)


_FLOAT = r"[-+]?\d*\.\d+(?:[eEdD][-+]?\d+)?"


def _number(token: str) -> float:
    try:
        return float(token.replace("d", "e").replace("D", "e"))
    except ValueError:
        return math.nan


def parse_pw_output(text: str, initial: Atoms) -> PwResult:
    """Parse pw.x output: last energy, enthalpy, pressure, forces, final structure."""
    r = PwResult()
    r.job_done = "JOB DONE" in text
    r.scf_failed = "convergence NOT achieved" in text
    # any token, not only a number: a final "NaN" (or "*****") must not leave an earlier
    # step's energy standing as the result
    energies = re.findall(r"^!\s+total energy\s+=\s+(\S+)\s+Ry", text, re.MULTILINE)
    if energies:
        r.energy = _number(energies[-1]) * Ry
    h = re.findall(rf"Final enthalpy\s+=\s+({_FLOAT})\s+Ry", text)
    if not h:
        h = re.findall(rf"enthalpy new\s+=\s+({_FLOAT})\s+Ry", text)
    if h:
        r.enthalpy = float(h[-1]) * Ry
    p = re.findall(rf"total\s+stress\s+\(Ry/bohr\*\*3\)\s+\(kbar\)\s+P=\s*({_FLOAT})", text)
    if p:
        r.pressure_gpa = float(p[-1]) / _KBAR_PER_GPA
    f = re.findall(rf"Total force =\s+({_FLOAT})", text)
    r.steps = len(re.findall(r"^!\s+total energy", text, re.MULTILINE))
    blocks = re.findall(r"Forces acting on atoms.*?\n\n(.*?)\n\n", text, re.DOTALL)
    if blocks:
        vals = re.findall(rf"force =\s+({_FLOAT})\s+({_FLOAT})\s+({_FLOAT})", blocks[-1])
        if vals:
            fr = np.array(vals, float) * Ry / Bohr
            r.fmax = float(np.linalg.norm(fr, axis=1).max())
    elif f:
        r.fmax = float(f[-1]) * Ry / Bohr
    if "bfgs converged" in text or "End final coordinates" in text:
        r.relax_converged = "End final coordinates" in text
    if "The maximum number of steps has been reached" in text or "bfgs failed" in text.lower():
        r.relax_converged = False
        r.messages.append("maximum number of ionic steps reached" if "maximum number" in text
                          else "bfgs failed")
    r.atoms = _final_structure(text, initial)
    return r


def _final_structure(text: str, initial: Atoms) -> Atoms | None:
    """The last CELL_PARAMETERS / ATOMIC_POSITIONS blocks, or the input if none."""
    cell = np.array(initial.cell[:])
    cells = list(re.finditer(r"CELL_PARAMETERS \((alat=\s*(" + _FLOAT + r")|angstrom|bohr)\)\s*\n"
                             r"((?:\s*" + _FLOAT + r"\s+" + _FLOAT + r"\s+" + _FLOAT + r"\s*\n){3})",
                             text))
    if cells:
        m = cells[-1]
        v = np.array(m.group(3).split(), float).reshape(3, 3)
        if m.group(1).startswith("alat"):
            v *= float(m.group(2)) * Bohr
        elif m.group(1) == "bohr":
            v *= Bohr
        cell = v
    poss = list(re.finditer(r"ATOMIC_POSITIONS \((angstrom|crystal|bohr|alat)\)\s*\n", text))
    if not poss:
        return initial.copy() if not cells else _with_cell(initial, cell)
    m = poss[-1]
    rows = text[m.end():].splitlines()[:len(initial)]
    try:
        syms = [row.split()[0] for row in rows]
        xyz = np.array([row.split()[1:4] for row in rows], float)
    except (IndexError, ValueError):
        return None
    if syms != initial.get_chemical_symbols():
        return None
    unit = m.group(1)
    atoms = Atoms(syms, cell=cell, pbc=True)
    if unit == "crystal":
        atoms.set_scaled_positions(xyz)
    elif unit == "bohr":
        atoms.positions = xyz * Bohr
    elif unit == "alat":
        alat = re.findall(rf"lattice parameter \(alat\)\s+=\s+({_FLOAT})\s+a\.u\.", text)
        atoms.positions = xyz * float(alat[0]) * Bohr
    else:
        atoms.positions = xyz
    return atoms


def _with_cell(initial: Atoms, cell: np.ndarray) -> Atoms:
    a = initial.copy()
    a.set_cell(cell, scale_atoms=True)
    return a


class EspressoRelaxer:
    """pw.x relaxation at a pressure (vc-relax) through csp's driver."""

    def __init__(self, settings: EspressoSettings | None = None, name: str = "espresso") -> None:
        self.settings = settings or EspressoSettings()
        self.name = name

    def relax(self, atoms: Atoms, pressure_gpa: float, workdir: str | None = None) -> RelaxOutcome:
        import tempfile

        t0 = time.perf_counter()
        bad, why = too_close(atoms, 0.5)
        if bad:
            return self._fail("too_close", why, pressure_gpa, t0)
        wd = Path(workdir or tempfile.mkdtemp(prefix="csp-qe-"))
        wd.mkdir(parents=True, exist_ok=True)
        try:
            write_pw_input(atoms, self.settings, pressure_gpa, wd / "pw.in")
        except CspError as exc:
            return self._fail("crashed", f"input: {exc}", pressure_gpa, t0)
        run = run_program(self.settings.profile, wd, "pw.in", "pw.out")
        text = run.stdout_path.read_text(errors="replace") if run.stdout_path.is_file() else ""
        if run.state == "missing":
            return self._fail("crashed", run.message, pressure_gpa, t0)
        if run.state == "timeout":
            return self._fail("timeout", run.message, pressure_gpa, t0)
        res = parse_pw_output(text, atoms)
        if res.scf_failed:
            return self._fail("scf_failed", "SCF convergence NOT achieved", pressure_gpa, t0, res)
        if res.relax_converged is False:  # pw.x exits non-zero when it runs out of steps
            return self._fail("not_converged", "; ".join(res.messages), pressure_gpa, t0, res)
        if run.state == "failed":
            return self._fail("crashed", run.message + _tail(text), pressure_gpa, t0, res)
        if not res.job_done or res.atoms is None:
            return self._fail("bad_output", "truncated or unreadable pw.x output", pressure_gpa,
                              t0, res)
        if not math.isfinite(res.energy):
            return self._fail("bad_output", "no finite total energy in the output", pressure_gpa,
                              t0, res)
        calc = self.settings.calculation
        if calc != "scf" and res.relax_converged is not True:
            why = "; ".join(res.messages) or "no 'End final coordinates'"
            return self._fail("not_converged", why, pressure_gpa, t0, res)
        # H = E + PV with E from the final SCF pw.x runs on the relaxed cell with a fresh
        # basis (so H equals a single point on that cell; QE's own "Final enthalpy" uses the
        # basis of the starting cell and differs by the Pulay error)
        h = enthalpy(res.energy, res.atoms.get_volume(), pressure_gpa)
        wall = time.perf_counter() - t0
        rec = StageRecord(self.name, "relaxed", "", res.energy, h, res.pressure_gpa, res.fmax,
                          res.steps, wall)
        return RelaxOutcome("relaxed", "", res.atoms, res.energy, h, res.pressure_gpa,
                            pressure_gpa, res.fmax, res.steps, wall, (rec,))

    def _fail(self, status, reason, pressure_gpa, t0, res: PwResult | None = None) -> RelaxOutcome:
        wall = time.perf_counter() - t0
        rec = StageRecord(self.name, status, reason, wall_time=wall)
        return RelaxOutcome(status, reason, res.atoms if res else None,
                            res.energy if res else math.nan, res.enthalpy if res else math.nan,
                            res.pressure_gpa if res else math.nan, pressure_gpa,
                            res.fmax if res else math.nan, res.steps if res else 0, wall, (rec,))


def _tail(text: str, n: int = 3) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return (": " + " | ".join(lines[-n:])) if lines else ""

