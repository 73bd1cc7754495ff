"""Command-line interface: ``csp <command> ...``.

One module per command group in this package; each defines ``register(subparsers)``
which adds its parser(s) with ``set_defaults(func=...)``. Command modules import
heavy libraries inside their functions so ``csp --help`` stays fast. A
:class:`csp.errors.CspError` becomes one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from csp import __version__
from csp.errors import CspError

#: command modules, in help order
COMMAND_MODULES = ["run", "status", "export", "generate", "relax", "units", "seeds", "hull"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="csp", description="Crystal-structure prediction for superatomic crystals.")
    parser.add_argument("--version", action="version", version=f"csp {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more logging (-v info, -vv debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(f"csp.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"csp.cli.{name}":
                continue
            raise
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
                        format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        rc = args.func(args)
    except CspError as exc:
        print(f"csp {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `csp seeds list | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print(f"csp {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(rc or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
