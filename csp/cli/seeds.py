"""``csp seeds list|show``: the library of known superatomic crystals."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("seeds", help="library of known superatomic crystals")
    ss = p.add_subparsers(dest="seeds_command", metavar="ACTION", required=True)
    pl = ss.add_parser("list", help="the library with space groups, units and references")
    pl.set_defaults(func=_list)
    ps = ss.add_parser("show", help="write one entry as CIF or POSCAR")
    ps.add_argument("name")
    ps.add_argument("--format", choices=["cif", "poscar"], default="cif")
    ps.add_argument("--element", action="append", default=[],
                    help="substitute elements, e.g. X=Ba (the entry's placeholder) or Sr=Ca")
    ps.add_argument("-o", "--output", default=None)
    ps.set_defaults(func=_show)


def _list(args: argparse.Namespace) -> int:
    from csp.seeds import seed_info, seed_names

    print(f"{'name':<9} {'formula':<12} {'SG':>4} {'units':<14} {'X':<3} reference")
    for n in seed_names():
        i = seed_info(n)
        units = ",".join(f"{k}x{v}" for k, v in i.units.items()) or "-"
        print(f"{n:<9} {i.formula:<12} {i.spacegroup:>4} {units:<14} {i.substitutable or '-':<3} "
              f"{i.reference[:90]}")
    return 0


def _show(args: argparse.Namespace) -> int:
    import io

    from ase.io import write

    from csp.errors import CspError
    from csp.seeds import load_seed_atoms

    subst = {}
    for item in args.element:
        old, sep, new = item.partition("=")
        if not sep or not old or not new:
            raise CspError(f"--element must look like X=Ba, got {item!r}")
        subst[old] = new
    atoms = load_seed_atoms(args.name, subst or None)
    fmt = "vasp" if args.format == "poscar" else "cif"
    if fmt == "cif":  # ASE writes CIF to a binary stream only
        raw = io.BytesIO()
        write(raw, atoms, format=fmt)
        text = raw.getvalue().decode()
    else:
        buf = io.StringIO()
        write(buf, atoms, format=fmt)
        text = buf.getvalue()
    if fmt == "cif":
        text = _with_reference(text, args.name, subst)
    if args.output:
        with open(args.output, "w") as fh:
            fh.write(text)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _with_reference(cif: str, name: str, subst: dict[str, str]) -> str:
    """The entry's reference, conditions and notes in the exported CIF (comment header
    and CIF text fields), so a file passed on keeps its provenance."""
    from csp.seeds import seed_info

    info = seed_info(name)
    swaps = ", ".join(f"{a}->{b}" for a, b in subst.items())
    note = info.notes + (f"; elements substituted: {swaps}" if subst else "")
    head = [f"# csp seed library: {info.name}", f"# reference: {info.reference}",
            f"# conditions: {info.conditions}", f"# notes: {note}"]
    fields = ["_publ_section_references", ";", info.reference, ";",
              "_exptl_special_details", ";", f"{info.conditions}; {note}", ";"]
    lines = cif.splitlines()
    k = next((i for i, line in enumerate(lines) if line.startswith("data_")), 0)
    return "\n".join(head + lines[:k + 1] + fields + lines[k + 1:]) + "\n"
