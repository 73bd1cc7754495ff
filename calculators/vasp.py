"""VASP as an external program: ISIF = 3 relaxation at PSTRESS.

Writes INCAR / POSCAR / KPOINTS / POTCAR with plain file I/O, launches the profile's
command (``srun vasp_std``, ``mpirun -np 16 vasp_std``) with the GA's MPI environment
stripped, and reads CONTCAR, OUTCAR and vasprun.xml. Success needs "reached required
accuracy" in OUTCAR; an electronic loop that hit NELM (as the OUTCAR or vasprun.xml of
the run says) without "EDIFF is reached" is ``scf_failed``; ZBRENT/BRIONS errors or NSW
exhausted are ``not_converged``. vasprun.xml is read when present: a truncated one
(the run was killed) is ignored; its final structure stands in for an unreadable CONTCAR
and its energy for an OUTCAR without one.

VASP cannot run on the machines csp is developed on: the tests check the input files,
run the parsers on real VASP output (an OUTCAR of VASP 5.3.3 and a vasprun.xml of VASP
6.3.0 with PSTRESS, from ASE's test data) against ASE's own readers, and classify
hand-written OUTCAR/CONTCAR/stdout files in VASP's layout (tests/data/vasp) for the
relaxation outcomes; not a live VASP run.
"""

from __future__ import annotations

import math
import os
import re
import time
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
from ase import Atoms
from csp.calculators.base import RelaxOutcome, StageRecord, enthalpy, too_close
from csp.calculators.espresso import kpoint_grid
from csp.calculators.launch import Profile, run_program

from csp.errors import CspError

__all__ = ["VaspRelaxer", "VaspSettings", "parse_outcar", "parse_vasprun", "read_poscar",
           "write_inputs"]

_KB_PER_GPA = 10.0


@dataclass(frozen=True)
class VaspSettings:
    """VASP settings (what to compute); ``command``/``timeout`` are the launch profile.

    Attributes:
        encut: eV; prec; ediff (eV); ediffg (eV/Å if negative); nsw; nelm; ismear; sigma (eV);
        ibrion (2 = conjugate gradient); isif (3 = cell + positions); kspacing (1/Å, 2π
        included); potcars: element -> POTCAR folder name (e.g. {"Sr": "Sr_sv"});
        pp_path: root with potpaw_PBE (default $VASP_PP_PATH); extra: more INCAR tags.
    """

    encut: float = 520.0
    prec: str = "Accurate"
    ediff: float = 1e-6
    ediffg: float = -0.01
    nsw: int = 100
    nelm: int = 100
    ismear: int = 1
    sigma: float = 0.1
    ibrion: int = 2
    isif: int = 3
    kspacing: float = 0.25
    potcars: tuple[tuple[str, str], ...] = ()
    pp_path: str | None = None
    extra: tuple[tuple[str, str], ...] = ()
    command: str = "vasp_std"
    timeout: float = 86400.0

    def __post_init__(self) -> None:
        for name in ("encut", "ediff", "sigma", "kspacing", "timeout"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and v > 0):
                raise CspError(f"vasp setting {name} must be > 0, got {v!r}")
        for name in ("nsw", "nelm"):
            v = getattr(self, name)
            if not (isinstance(v, int) and v >= 0):
                raise CspError(f"vasp setting {name} must be a non-negative integer, got {v!r}")

    @classmethod
    def from_dict(cls, d: dict) -> VaspSettings:
        known = {f.name for f in fields(cls)}
        bad = sorted(set(d) - known)
        if bad:
            raise CspError(f"unknown vasp setting(s) {bad}; known: {sorted(known)}")
        d = dict(d)
        for key in ("potcars", "extra"):
            if isinstance(d.get(key), dict):
                d[key] = tuple(sorted((k, str(v)) for k, v in d[key].items()))
        return cls(**d)


def _species_order(atoms: Atoms) -> list[str]:
    seen: list[str] = []
    for s in atoms.get_chemical_symbols():
        if s not in seen:
            seen.append(s)
    return seen


def write_inputs(atoms: Atoms, s: VaspSettings, pressure_gpa: float, wd: Path) -> list[int]:
    """INCAR, POSCAR (atoms sorted by species), KPOINTS, POTCAR; returns the sort order."""
    species = _species_order(atoms)
    order = [i for sp in species for i, x in enumerate(atoms.get_chemical_symbols()) if x == sp]
    srt = atoms[order]
    incar = {"SYSTEM": "csp", "PREC": s.prec, "ENCUT": s.encut, "EDIFF": s.ediff,
             "EDIFFG": s.ediffg, "NSW": s.nsw, "NELM": s.nelm, "IBRION": s.ibrion, "ISIF": s.isif,
             "ISMEAR": s.ismear, "SIGMA": s.sigma, "PSTRESS": pressure_gpa * _KB_PER_GPA,
             "LWAVE": ".FALSE.", "LCHARG": ".FALSE."}
    incar.update(dict(s.extra))
    (wd / "INCAR").write_text("".join(f"{k} = {v}\n" for k, v in incar.items()))
    counts = [srt.get_chemical_symbols().count(sp) for sp in species]
    lines = ["csp", "1.0"] + [" ".join(f"{x:.12f}" for x in v) for v in srt.cell[:]]
    lines += [" ".join(species), " ".join(map(str, counts)), "Direct"]
    lines += [" ".join(f"{x:.12f}" for x in p) for p in srt.get_scaled_positions(wrap=True)]
    (wd / "POSCAR").write_text("\n".join(lines) + "\n")
    k = kpoint_grid(np.array(atoms.cell[:]), s.kspacing)
    (wd / "KPOINTS").write_text(f"csp\n0\nGamma\n{k[0]} {k[1]} {k[2]}\n0 0 0\n")
    root = s.pp_path or os.environ.get("VASP_PP_PATH")
    if not root:
        raise CspError("VASP POTCARs: set VASP_PP_PATH or [relaxer] pp_path")
    potcars = dict(s.potcars)
    parts = []
    for sp in species:
        path = Path(root) / "potpaw_PBE" / potcars.get(sp, sp) / "POTCAR"
        if not path.is_file():
            raise CspError(f"no POTCAR for {sp} at {str(path)!r}")
        parts.append(path.read_text())
    (wd / "POTCAR").write_text("".join(parts))
    return order


def read_poscar(text: str) -> Atoms:
    """POSCAR/CONTCAR (VASP 5 format, species line present)."""
    lines = text.splitlines()
    scale = float(lines[1].split()[0])
    cell = np.array([lines[i].split()[:3] for i in (2, 3, 4)], float) * scale
    species = lines[5].split()
    counts = [int(x) for x in lines[6].split()]
    k = 7
    if lines[k].strip()[:1] in "sS":  # selective dynamics
        k += 1
    direct = lines[k].strip()[:1] in "dD"
    n = sum(counts)
    xyz = np.array([ln.split()[:3] for ln in lines[k + 1:k + 1 + n]], float)
    symbols = [sp for sp, c in zip(species, counts) for _ in range(c)]
    atoms = Atoms(symbols, cell=cell, pbc=True)
    if direct:
        atoms.set_scaled_positions(xyz)
    else:
        atoms.positions = xyz * scale
    return atoms


@dataclass
class OutcarResult:
    energy: float = math.nan        # energy(sigma->0), eV
    enthalpy: float = math.nan      # "enthalpy is TOTEN", eV
    pressure_gpa: float = math.nan  # from the "in kB" stress line
    fmax: float = math.nan
    ionic_steps: int = 0
    converged: bool = False
    scf_failed: bool = False
    finished: bool = False


_F = r"[-+]?\d+\.\d+(?:[eE][-+]?\d+)?"


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def parse_outcar(text: str, nelm: int) -> OutcarResult:
    """Energies, enthalpy, pressure, forces and convergence flags from OUTCAR text.

    ``nelm`` is the SCF step limit asked for; the value VASP echoes in the OUTCAR
    ("NELM   =    60;") wins when present (an INCAR tag given through ``extra``
    overrides the setting).
    """
    r = OutcarResult()
    echoed = re.search(r"^\s*NELM\s*=\s*(\d+)", text, re.MULTILINE)
    if echoed:
        nelm = int(echoed.group(1))
    e0 = re.findall(r"energy\(sigma->0\)\s*=\s*(\S+)", text)
    if e0:
        r.energy = _number(e0[-1])  # NaN or ***** (overflow) in the file -> nan
    h = re.findall(r"enthalpy is\s+TOTEN\s*=\s*(\S+)", text)
    if h:
        r.enthalpy = _number(h[-1])
    kb = re.findall(rf"in kB\s+({_F})\s+({_F})\s+({_F})", text)
    if kb:
        r.pressure_gpa = float(np.mean(np.array(kb[-1], float))) / _KB_PER_GPA
    blocks = re.findall(r"POSITION\s+TOTAL-FORCE \(eV/Angst\)\s*\n\s*-+\n(.*?)\n\s*-+", text, re.DOTALL)
    if blocks:
        f = np.array([ln.split()[3:6] for ln in blocks[-1].strip().splitlines()], float)
        r.fmax = float(np.linalg.norm(f, axis=1).max())
    r.ionic_steps = len(blocks)
    r.converged = "reached required accuracy" in text
    r.finished = "General timing and accounting" in text or r.converged
    # electronic convergence: the last ionic step must reach EDIFF within NELM iterations
    marks = list(re.finditer(r"Iteration\s+(\d+)\(\s*(\d+)\)", text))
    if marks:
        last = marks[-1].group(1)
        this_step = [m for m in marks if m.group(1) == last]
        n_elec = max(int(m.group(2)) for m in this_step)
        tail = text[this_step[0].start():]
        if "EDIFF was not reached (unconverged)" in tail or (
                n_elec >= nelm and "EDIFF is reached" not in tail):
            r.scf_failed = True
    return r


@dataclass
class VasprunResult:
    """What a complete vasprun.xml says (energies eV, pressure GPa, forces eV/Å)."""

    atoms: Atoms
    energy: float            # energy(sigma->0) of the last ionic step, PV term excluded
    enthalpy: float          # free energy + PSTRESS x V of the last ionic step
    pressure_gpa: float      # mean diagonal of the last stress (kB in the file)
    fmax: float
    ionic_steps: int
    scf_failed: bool         # the last ionic step used all NELM electronic steps
    nsw: int
    pstress_gpa: float


def parse_vasprun(text: str) -> VasprunResult | None:
    """Final structure, energies, stress, forces and SCF flag from vasprun.xml text.

    Returns None for a truncated or malformed file (a killed run leaves one). With
    PSTRESS, the ``e_fr_energy`` of a step's <energy> block is the enthalpy (free energy
    + PV; the <scstep> energies exclude PV), as ASE's reader also accounts for.
    """
    import xml.etree.ElementTree as ET

    from ase.units import GPa

    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return None

    def params(name: str, default: float) -> float:
        for node in (root.find("parameters"), root.find("incar")):
            if node is None:
                continue
            for i in node.iter("i"):
                if i.get("name") == name and i.text and i.text.strip():
                    return float(i.text.split()[0])
        return default

    def vectors(node) -> np.ndarray:
        return np.array([v.text.split() for v in node.findall("v")], float)

    def child(parent: ET.Element, path: str) -> ET.Element:
        """The element at ``path``; ValueError (a malformed file) when it is absent."""
        found = parent.find(path)
        if found is None:
            raise ValueError(f"vasprun.xml has no {path}")
        return found

    def text_of(el: ET.Element) -> str:
        if el.text is None:
            raise ValueError(f"vasprun.xml has an empty <{el.tag}>")
        return el.text

    try:
        symbols = [text_of(rc.findall("c")[0]).strip()
                   for rc in child(root, "atominfo/array[@name='atoms']/set").findall("rc")]
        calcs = root.findall("calculation")
        final = root.find("structure[@name='finalpos']")
        if not calcs or final is None:
            return None
        last = calcs[-1]
        cell = vectors(final.find("crystal/varray[@name='basis']"))
        frac = vectors(final.find("varray[@name='positions']"))
        atoms = Atoms(symbols, cell=cell, scaled_positions=frac, pbc=True)
        nelm = int(params("NELM", 60))
        nsw = int(params("NSW", 0))
        pstress_gpa = params("PSTRESS", 0.0) / _KB_PER_GPA
        scsteps = last.findall("scstep")
        step_cell = vectors(last.find("structure/crystal/varray[@name='basis']"))
        volume = abs(float(np.linalg.det(step_cell)))
        h = float(text_of(child(last, "energy/i[@name='e_fr_energy']")))
        sc = child(scsteps[-1], "energy")
        de = (float(text_of(child(sc, "i[@name='e_0_energy']")))
              - float(text_of(child(sc, "i[@name='e_fr_energy']"))))
        energy = h - pstress_gpa * GPa * volume + de
        stress = last.find("varray[@name='stress']")
        pressure = (float(np.trace(vectors(stress))) / 3 / _KB_PER_GPA
                    if stress is not None else math.nan)
        forces = last.find("varray[@name='forces']")
        fmax = (float(np.linalg.norm(vectors(forces), axis=1).max())
                if forces is not None else math.nan)
    except (AttributeError, IndexError, TypeError, ValueError):
        return None
    return VasprunResult(atoms, energy, h, pressure, fmax, len(calcs), len(scsteps) >= nelm,
                         nsw, pstress_gpa)


class VaspRelaxer:
    """VASP ISIF = 3 relaxation at PSTRESS through csp's launcher."""

    def __init__(self, settings: VaspSettings | None = None, name: str = "vasp") -> None:
        self.settings = settings or VaspSettings()
        self.name = name

    def relax(self, atoms: Atoms, pressure_gpa: float, workdir: str | None = None) -> RelaxOutcome:
        import tempfile

        t0 = time.perf_counter()
        bad, why = too_close(atoms, 0.5)
        if bad:
            return _fail(self.name, "too_close", why, pressure_gpa, t0)
        wd = Path(workdir or tempfile.mkdtemp(prefix="csp-vasp-"))
        wd.mkdir(parents=True, exist_ok=True)
        try:
            order = write_inputs(atoms, self.settings, pressure_gpa, wd)
        except CspError as exc:
            return _fail(self.name, "crashed", f"input: {exc}", pressure_gpa, t0)
        run = run_program(Profile(self.settings.command, self.settings.timeout), wd, None,
                          "vasp.out")
        if run.state in ("missing", "timeout"):
            return _fail(self.name, "crashed" if run.state == "missing" else "timeout",
                         run.message, pressure_gpa, t0)
        return outcome_from_files(wd, atoms, order, self.settings, pressure_gpa, t0, self.name,
                                  run.message if run.state == "failed" else "")


def outcome_from_files(wd: Path, atoms: Atoms, order: list[int], s: VaspSettings,
                       pressure_gpa: float, t0: float, name: str = "vasp",
                       crash: str = "") -> RelaxOutcome:
    """Classify a finished VASP directory (used by the relaxer and by the tests)."""
    stdout = (wd / "vasp.out").read_text(errors="replace") if (wd / "vasp.out").is_file() else ""
    outcar = (wd / "OUTCAR").read_text(errors="replace") if (wd / "OUTCAR").is_file() else ""
    xml = (wd / "vasprun.xml").read_text(errors="replace") if (wd / "vasprun.xml").is_file() else ""
    v = parse_vasprun(xml) if xml else None  # None when truncated
    if not outcar:
        return _fail(name, "crashed" if crash else "bad_output", crash or "no OUTCAR", pressure_gpa, t0)
    r = parse_outcar(outcar, s.nelm)
    if r.scf_failed or (v is not None and v.scf_failed):
        return _fail(name, "scf_failed", "electronic loop hit NELM without reaching EDIFF",
                     pressure_gpa, t0)
    if "ZBRENT: fatal error" in stdout or "ZBRENT: fatal error" in outcar:
        return _fail(name, "not_converged", "ZBRENT: fatal error in bracketing", pressure_gpa, t0)
    if crash:
        return _fail(name, "crashed", crash, pressure_gpa, t0)
    if not r.finished:
        return _fail(name, "bad_output", "truncated OUTCAR (no 'General timing and accounting')",
                     pressure_gpa, t0)
    if not math.isfinite(r.energy) and v is not None:
        r.energy = v.energy
    if not math.isfinite(r.energy):
        return _fail(name, "bad_output", "no finite energy(sigma->0) in OUTCAR", pressure_gpa, t0)
    relaxed = _relaxed_structure(wd, atoms, order, v)
    if isinstance(relaxed, str):
        return _fail(name, "bad_output", relaxed, pressure_gpa, t0)
    if not r.converged:
        return _fail(name, "not_converged", f"no 'reached required accuracy' after "
                     f"{r.ionic_steps} ionic steps", pressure_gpa, t0, relaxed)
    h = r.enthalpy if math.isfinite(r.enthalpy) else enthalpy(r.energy, relaxed.get_volume(),
                                                                pressure_gpa)
    wall = time.perf_counter() - t0
    rec = StageRecord(name, "relaxed", "", r.energy, h, r.pressure_gpa, r.fmax, r.ionic_steps, wall)
    return RelaxOutcome("relaxed", "", relaxed, r.energy, h, r.pressure_gpa, pressure_gpa, r.fmax,
                        r.ionic_steps, wall, (rec,))


def _relaxed_structure(wd: Path, atoms: Atoms, order: list[int],
                       v: VasprunResult | None) -> Atoms | str:
    """CONTCAR (else vasprun.xml's final structure) in the input's atom order, or why not."""
    try:
        relaxed_sorted = read_poscar((wd / "CONTCAR").read_text())
    except (OSError, ValueError, IndexError) as exc:
        if v is None:
            return f"unreadable CONTCAR: {exc}"
        relaxed_sorted = v.atoms
    expected = [atoms.get_chemical_symbols()[i] for i in order]
    if relaxed_sorted.get_chemical_symbols() != expected:
        return (f"relaxed structure holds {relaxed_sorted.get_chemical_formula()}, the input "
                f"{atoms.get_chemical_formula()} in another order or composition")
    relaxed = atoms.copy()
    relaxed.set_cell(relaxed_sorted.cell)
    inv = np.empty(len(order), int)
    inv[np.array(order)] = np.arange(len(order))
    relaxed.positions = relaxed_sorted.positions[inv]
    return relaxed


def _fail(name, status, reason, pressure_gpa, t0, atoms=None) -> RelaxOutcome:
    wall = time.perf_counter() - t0
    return RelaxOutcome(status, reason, atoms, target_pressure_gpa=pressure_gpa, wall_time=wall,
                        stages=(StageRecord(name, status, reason, wall_time=wall),))
