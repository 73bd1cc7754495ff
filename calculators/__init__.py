"""Relaxers (``csp.calculators``): ML potentials, DFT drivers, staged protocols.

One protocol: ``relaxer.relax(atoms, pressure_gpa, workdir) -> RelaxOutcome``.
``get_relaxer(spec)`` builds one from a name or a config table; it is cheap (models
load on the first relaxation) so config validation can call it.
"""

from __future__ import annotations

from typing import Any

from csp.calculators.base import FAILURE_CLASSES, Relaxer, RelaxOutcome, StageRecord

from csp.errors import CspError

__all__ = [
    "DEFAULT_RELAXER",
    "FAILURE_CLASSES",
    "RelaxOutcome",
    "Relaxer",
    "StageRecord",
    "get_relaxer",
    "relaxer_names",
]

DEFAULT_RELAXER = "sevennet"


def relaxer_names() -> list[str]:
    """Names accepted by :func:`get_relaxer`."""
    from csp.calculators.ml import MODELS

    names = list(MODELS) + ["fake"]
    try:
        from csp.calculators import _dft_registry

        names += _dft_registry.names()
    except ImportError:
        pass
    return names


def get_relaxer(spec: Any = DEFAULT_RELAXER) -> Relaxer:
    """A relaxer from a name (``"sevennet"``) or a table (``{"name": ..., settings}`` or
    ``{"stages": [table, ...]}``).

    Raises:
        CspError: unknown relaxer name or setting (the message names it).
    """
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, dict):
        raise CspError(f"relaxer must be a name or a table, got {spec!r}")
    spec = dict(spec)
    if "stages" in spec:
        from csp.calculators.staged import StagedRelaxer

        return StagedRelaxer.from_spec(spec)
    name = spec.pop("name", DEFAULT_RELAXER)
    from csp.calculators.ml import MODELS, MLRelaxer, MLSettings

    if name in MODELS:
        return MLRelaxer(MLSettings.from_dict({"model": name, **spec}), name=name)
    if name == "fake":
        from csp.calculators.fake import FakeRelaxer

        return FakeRelaxer.from_spec({"name": "fake", **spec})
    try:
        from csp.calculators import _dft_registry

        if name in _dft_registry.names():
            return _dft_registry.build(name, spec)
    except ImportError:
        pass
    raise CspError(f"unknown relaxer {name!r}; known: {', '.join(relaxer_names())}")
