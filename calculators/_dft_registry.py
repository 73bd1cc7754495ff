"""Names of the external-program relaxers for :func:`csp.calculators.get_relaxer`."""

from __future__ import annotations

from typing import Any

__all__ = ["build", "names"]

_ALIASES = {"espresso": "espresso", "qe": "espresso", "pw.x": "espresso", "vasp": "vasp"}


def names() -> list[str]:
    return ["espresso", "qe", "vasp"]


def build(name: str, spec: dict[str, Any]):
    kind = _ALIASES[name]
    if kind == "espresso":
        from csp.calculators.espresso import EspressoRelaxer, EspressoSettings

        return EspressoRelaxer(EspressoSettings.from_dict(spec), name="espresso")
    from csp.calculators.vasp import VaspRelaxer, VaspSettings

    return VaspRelaxer(VaspSettings.from_dict(spec), name="vasp")
