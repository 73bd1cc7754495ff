"""csp: evolutionary crystal-structure prediction for superatomic crystals.

Genes are rigid superatoms (unit kind + centre + orientation) and free atoms.
Heavy parts (torch, matplotlib, mpi4py) are imported lazily, never at ``import csp``.
"""

__version__ = "0.1.0"

from csp.errors import CspError

__all__ = ["CspError", "__version__"]
