"""A structure under construction, kept as the arrays the overlap kernel reads.

Generation and the variation operators try many placements and keep few. Building a
:class:`csp.genome.Genome` (validated, immutable) for every trial costs more than the
overlap test itself, so trials live in a :class:`Packing`: Cartesian positions, atom
types and owners, grown one entity (unit or free atom) at a time and tested
incrementally against what is already placed (:meth:`Packing.fits`). A genome is made
only from a packing that passed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from csp.operators._kernels import _overlap_kernel, shift_range
from csp.operators.validity import Limits, cell_ok, type_table

from csp.errors import CspError
from csp.genome import Genome, matrix_to_quat, quat_to_matrix
from csp.units import Unit

__all__ = ["Packing"]


class Packing:
    """Units (kind, fractional centre, rotation) and free atoms in a fixed cell.

    Args:
        cell: (3, 3) lattice vectors as rows, Å.
        kinds: unit templates that may be placed (index = kind id).
        numbers: atomic numbers of free atoms that may be placed (any order, repeats
            allowed; they only fix the atom types).
        limits: minimum distances.
        capacity: most atoms the packing will hold.
    """

    def __init__(self, cell: np.ndarray, kinds: Sequence[Unit], numbers: Sequence[int] | np.ndarray,
                 limits: Limits, capacity: int) -> None:
        self.cell = np.ascontiguousarray(cell, dtype=float)
        self.kinds = list(kinds)
        zs = sorted({int(z) for u in self.kinds for z in u.numbers} | {int(z) for z in numbers})
        if not zs:
            raise ValueError("a packing needs at least one unit kind or atom type")
        self.type_of = {z: t for t, z in enumerate(zs)}
        self.table = type_table(tuple(zs), limits)
        self._inv = np.ascontiguousarray(np.linalg.inv(self.cell))
        self._nsh = shift_range(self.cell, float(self.table.max()), self._inv)
        self.pos = np.empty((capacity, 3))
        self.types = np.empty(capacity, np.int64)
        self.owner = np.empty(capacity, np.int64)
        self.n = 0
        self.unit_kind: list[int] = []
        self.centres: list[np.ndarray] = []
        self.rots: list[np.ndarray] = []
        self.quats: list[np.ndarray | None] = []
        self.numbers: list[int] = []
        self.frac: list[np.ndarray] = []
        self._utypes = [np.array([self.type_of[int(z)] for z in u.numbers]) for u in self.kinds]
        self._last = ("", 0)

    @classmethod
    def from_genome(cls, g: Genome, limits: Limits, extra_kinds: Sequence[Unit] = (),
                    extra_numbers: Sequence[int] = (), extra_atoms: int = 0) -> Packing:
        """A packing holding a genome's units and atoms (room for ``extra_atoms`` more)."""
        kinds = list(g.kinds) + [u for u in extra_kinds if all(u.name != k.name for k in g.kinds)]
        p = cls(g.cell, kinds, list(g.atom_numbers) + list(extra_numbers), limits,
                len(g) + extra_atoms)
        rots = g.rotations()
        for i, k in enumerate(g.unit_kind):
            p.add_unit(int(k), g.unit_centres[i], rots[i], quat=g.unit_quats[i])
        for z, f in zip(g.atom_numbers, g.atom_frac):
            p.add_atom(int(z), f)
        return p

    def kind_index(self, unit: Unit) -> int:
        """Kind id of a template (by name) in this packing."""
        return next(i for i, k in enumerate(self.kinds) if k.name == unit.name)

    # ------------------------------------------------------------------ growing
    def add_unit(self, kind: int, centre: np.ndarray, rot: np.ndarray | None = None,
                 quat: np.ndarray | None = None) -> None:
        """Place unit ``kind`` at a fractional centre with a rotation matrix or quaternion."""
        unit = self.kinds[kind]
        if rot is None:
            if quat is None:
                raise CspError(f"packing: unit {unit.name!r} (kind {kind}) placed at {centre} "
                               "needs a rotation matrix or a quaternion")
            rot = quat_to_matrix(quat)
        m = len(unit)
        sl = slice(self.n, self.n + m)
        self.pos[sl] = np.asarray(centre) @ self.cell + unit.positions @ rot.T
        self.types[sl] = self._utypes[kind]
        self.owner[sl] = len(self.unit_kind)
        self.n += m
        self.unit_kind.append(kind)
        self.centres.append(np.asarray(centre, float))
        self.rots.append(rot)
        self.quats.append(quat)
        self._last = ("u", m)

    def add_atom(self, z: int, frac: np.ndarray) -> None:
        """Place a free atom of atomic number z at a fractional position."""
        self.pos[self.n] = np.asarray(frac) @ self.cell
        self.types[self.n] = self.type_of[int(z)]
        self.owner[self.n] = -1
        self.n += 1
        self.numbers.append(int(z))
        self.frac.append(np.asarray(frac, float))
        self._last = ("a", 1)

    def fits(self, start: int = -1) -> bool:
        """True when no pair involving an atom at index >= ``start`` (default: the atoms
        of the last entity added) is closer than its minimum distance. With the default,
        a last entity that does not fit is taken back out."""
        _, m = self._last
        first = self.n - m if start < 0 else start
        ratio = _overlap_kernel(self.pos[:self.n], self._inv, self.cell, self.types[:self.n],
                                self.owner[:self.n], self.table, self._nsh, first, True)[0]
        if ratio >= 1.0:
            return True
        if start < 0:
            self.pop()
        return False

    def pop(self) -> None:
        """Take the last entity added back out."""
        kind, m = self._last
        self.n -= m
        stacks = ((self.unit_kind, self.centres, self.rots, self.quats) if kind == "u"
                  else (self.numbers, self.frac))
        for stack in stacks:
            stack.pop()
        self._last = ("", 0)

    def scaled(self, volume_factor: float, limits: Limits) -> Packing:
        """The same contents (fractional centres and atoms, orientations) in the cell
        scaled isotropically by ``volume_factor`` in volume."""
        cell = self.cell * volume_factor ** (1.0 / 3.0)
        out = Packing(cell, self.kinds, list(self.type_of), limits, len(self.pos))
        for k, c, r, q in zip(self.unit_kind, self.centres, self.rots, self.quats):
            out.add_unit(k, c, r, quat=q)
        for z, f in zip(self.numbers, self.frac):
            out.add_atom(z, f)
        return out

    def mark(self) -> tuple[int, int, int]:
        """A point to :meth:`rollback` to (atoms, units, free atoms placed so far)."""
        return self.n, len(self.unit_kind), len(self.numbers)

    def rollback(self, mark: tuple[int, int, int]) -> None:
        """Remove everything added after ``mark``."""
        self.n, nu, na = mark
        for stack in (self.unit_kind, self.centres, self.rots, self.quats):
            del stack[nu:]
        for stack in (self.numbers, self.frac):
            del stack[na:]
        self._last = ("", 0)

    def valid(self, limits: Limits) -> bool:
        """Cell-shape bounds and no close pair anywhere."""
        return cell_ok(self.cell, limits)[0] and self.fits(start=0)

    # ------------------------------------------------------------------- result
    def genome(self) -> Genome:
        """The packing as a genome (centres and atoms wrapped into [0, 1))."""
        quats = [matrix_to_quat(r) if q is None else q for r, q in zip(self.rots, self.quats)]
        used = sorted(set(self.unit_kind))
        remap = {k: i for i, k in enumerate(used)}
        return Genome(cell=self.cell, kinds=tuple(self.kinds[k] for k in used),
                      unit_kind=np.array([remap[k] for k in self.unit_kind], np.int64),
                      unit_centres=np.array(self.centres, float).reshape(-1, 3) % 1.0,
                      unit_quats=np.array(quats, float).reshape(-1, 4),
                      atom_numbers=np.array(self.numbers, np.int64),
                      atom_frac=np.array(self.frac, float).reshape(-1, 3) % 1.0)
