"""Build ``wyckoff.npz``: the Wyckoff positions of the 230 space groups, from PyXtal.

csp reads these tables at run time (no PyXtal needed then). PyXtal (MIT licence) takes
them from the International Tables / Bilbao Crystallographic Server, standard settings
(hexagonal axes for the R groups). Regenerate with::

    pip install pyxtal && python operators/data/build_wyckoff.py

For each Wyckoff position: its letter, multiplicity, free parameters, the affine map
from the free parameters (x, y, z) to the representative position, the orbit
operations (rotation + translation, conventional cell) and the site-symmetry
rotations of the representative. Rotations are integer matrices; translations are
stored in 1/24ths (all crystallographic translations are).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

DEN = 24


def _ints(x: np.ndarray, scale: int = 1) -> np.ndarray:
    y = np.rint(np.asarray(x, float) * scale)
    assert np.abs(y - np.asarray(x, float) * scale).max() < 1e-8, x
    return y.astype(np.int16)


def main() -> None:
    warnings.simplefilter("ignore")
    from pyxtal.symmetry import Group

    groups: list[dict] = []
    rep_rot: list[np.ndarray] = []
    rep_tr: list[np.ndarray] = []
    ops_rot: list[np.ndarray] = []
    ops_tr: list[np.ndarray] = []
    site_rot: list[np.ndarray] = []
    n_ops = n_site = 0
    for number in range(1, 231):
        g = Group(number)
        wps = []
        for wp in g:
            ops = wp.ops
            site = wp.symmetry[0]
            try:
                sym = str(wp.get_site_symmetry_object().name)
            except Exception:  # noqa: BLE001 - cosmetic only
                sym = ""
            aff = np.array(ops[0].affine_matrix, float)
            rep_rot.append(_ints(aff[:3, :3]))
            rep_tr.append(_ints(aff[:3, 3], DEN))
            ops_rot.extend(_ints(o.rotation_matrix) for o in ops)
            ops_tr.extend(_ints(np.mod(o.translation_vector, 1.0), DEN) for o in ops)
            site_rot.extend(_ints(o.rotation_matrix) for o in site)
            wps.append({"letter": str(wp.letter), "multiplicity": int(wp.multiplicity),
                        "dof": int(wp.get_dof()), "site_symbol": sym,
                        "ops": [n_ops, n_ops + len(ops)], "site": [n_site, n_site + len(site)]})
            n_ops += len(ops)
            n_site += len(site)
        groups.append({"number": number, "symbol": str(g.symbol),
                       "lattice_type": str(g.lattice_type), "wyckoffs": wps})
    here = Path(__file__).resolve().parent
    np.savez_compressed(here / "wyckoff.npz", rep_rot=np.array(rep_rot), rep_tr=np.array(rep_tr),
                        ops_rot=np.array(ops_rot), ops_tr=np.array(ops_tr),
                        site_rot=np.array(site_rot), den=np.array(DEN))
    (here / "wyckoff.json").write_text(json.dumps({"source": "PyXtal (International Tables, "
                                                   "Bilbao), standard settings",
                                                   "groups": groups}, separators=(",", ":")))
    print(f"230 groups, {len(rep_rot)} Wyckoff positions, {n_ops} orbit and {n_site} site ops")


if __name__ == "__main__":
    main()
