"""``csp relax``: relax one structure file at a pressure with any relaxer."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import cast


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("relax", help="relax one structure at a pressure")
    p.add_argument("structure", help="any ASE-readable file (CIF, POSCAR, ...)")
    p.add_argument("--pressure", type=float, required=True, help="GPa")
    p.add_argument("--relaxer", default="sevennet",
                   help="relaxer name or a TOML file with a [relaxer] table (default sevennet)")
    p.add_argument("--fmax", type=float, default=None, help="eV/Å (ML relaxers)")
    p.add_argument("--steps", type=int, default=None, help="max optimizer steps (ML relaxers)")
    p.add_argument("-o", "--output", default=None, help="relaxed structure file (default "
                   "<stem>_relaxed.cif)")
    p.add_argument("--json", default=None, help="write the numbers as JSON here")
    p.add_argument("--workdir", default=None, help="work directory for DFT codes")
    p.set_defaults(func=_run)


def _relaxer_spec(arg: str, fmax, steps):
    spec: dict
    path = Path(arg)
    if path.suffix == ".toml":
        from csp.config import toml_module
        from csp.errors import CspError

        tomllib = toml_module()

        if not path.is_file():
            raise CspError(f"--relaxer file {arg!r} does not exist")
        try:
            table = tomllib.loads(path.read_text()).get("relaxer")
        except tomllib.TOMLDecodeError as exc:
            raise CspError(f"--relaxer file {arg!r}: {exc}") from None
        if not isinstance(table, dict):
            raise CspError(f"--relaxer file {arg!r} has no [relaxer] table")
        spec = table
    else:
        spec = {"name": arg}
    if fmax is not None:
        spec["fmax"] = fmax
    if steps is not None:
        spec["steps"] = steps
    return spec


def _run(args: argparse.Namespace) -> int:
    import tempfile

    import spglib
    from ase import Atoms
    from ase.io import read, write

    from csp.calculators import get_relaxer
    from csp.errors import CspError

    src = Path(args.structure)
    if not src.is_file():
        raise CspError(f"structure file {args.structure!r} does not exist")
    try:
        atoms = cast(Atoms, read(src))  # no index: one Atoms (the last frame)
    except Exception as exc:  # noqa: BLE001 - any reader failure is a bad file
        raise CspError(f"cannot read {args.structure!r}: {exc}") from None
    if args.pressure < 0:
        raise CspError(f"--pressure must be >= 0 GPa, got {args.pressure}")
    relaxer = get_relaxer(_relaxer_spec(args.relaxer, args.fmax, args.steps))
    workdir = args.workdir or tempfile.mkdtemp(prefix="csp-relax-")
    out = relaxer.relax(atoms, args.pressure, workdir)
    record = {"status": out.status, "reason": out.reason,
              "enthalpy_per_atom": out.enthalpy_per_atom, "energy_per_atom": out.energy_per_atom,
              "volume_per_atom": out.volume_per_atom, "pressure_gpa": out.pressure_gpa,
              "spacegroup": None, "units_intact": None, "steps": out.steps,
              "wall_time": out.wall_time}
    if out.atoms is not None:
        a = out.atoms
        record["spacegroup"] = spglib.get_spacegroup(
            (a.cell[:], a.get_scaled_positions(), a.numbers), symprec=0.1)
        record["units_intact"] = _units_intact(atoms, a)
        dest = Path(args.output or src.with_name(src.stem + "_relaxed.cif"))
        write(dest, a)
        record["output"] = str(dest)
    print(f"status: {out.status}" + (f" ({out.reason})" if out.reason else ""))
    if out.atoms is not None:
        print(f"enthalpy: {out.enthalpy_per_atom:.6f} eV/atom at {args.pressure:g} GPa "
              f"(reached {out.pressure_gpa:.3f} GPa), V = {out.volume_per_atom:.3f} Å^3/atom")
        print(f"space group: {record['spacegroup']}; units intact: {record['units_intact']}; "
              f"{out.steps} steps, {out.wall_time:.1f} s; written to {record['output']}")
    if args.json:
        Path(args.json).write_text(json.dumps(record, indent=1))
    return 0 if out.status == "relaxed" else 1


def _units_intact(before, after):
    """Recognise units in the input and check them after relaxation (None if none)."""
    try:
        from csp.recognition import recognise
    except ImportError:
        return None
    try:
        genome, rec = recognise(before)
    except Exception:  # noqa: BLE001 - recognition is best effort here
        return None
    if len(genome.unit_kind) == 0:
        return None
    from csp.recognition import reorder_like

    try:
        _, report = genome.from_atoms(reorder_like(after, before, genome, rec))
    except Exception:  # noqa: BLE001
        return None
    return bool(report.intact)
