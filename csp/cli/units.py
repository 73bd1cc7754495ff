"""``csp units list|show|find``: the rigid building blocks."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("units", help="list, show and find rigid building blocks (superatoms)")
    us = p.add_subparsers(dest="units_command", metavar="ACTION", required=True)
    pl = us.add_parser("list", help="table of the unit library")
    pl.add_argument("--json", action="store_true", help="print JSON instead of a table")
    pl.set_defaults(func=_list)
    ps = us.add_parser("show", help="write a unit's template as .xyz")
    ps.add_argument("name")
    ps.add_argument("-o", "--output", help="output .xyz file (default: stdout)")
    ps.set_defaults(func=_show)
    import importlib.util

    if importlib.util.find_spec("csp.cli._units_find"):  # unit recognition (csp.recognition)
        from csp.cli import _units_find

        _units_find.register(us)


def _list(args: argparse.Namespace) -> int:
    from csp.units import units_json, units_table

    if args.json:
        print(units_json())
        return 0
    rows = units_table()
    print(f"{'name':<10} {'formula':<10} {'charge':>6} {'point group':>11} {'atoms':>5} "
          f"{'radius/Å':>8} {'bonds':>5}")
    for r in rows:
        print(f"{r['name']:<10} {r['formula']:<10} {r['charge']:>+6d} {r['point_group']:>11} "
              f"{r['atoms']:>5d} {r['radius']:>8.3f} {r['bonds']:>5d}")
    return 0


def _show(args: argparse.Namespace) -> int:
    from csp.units import get_unit

    text = get_unit(args.name).to_xyz()
    if args.output:
        Path(args.output).write_text(text)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
