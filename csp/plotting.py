"""Publication-style hull plots (matplotlib, imported here only, never in the search loop)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from csp.hull import Hull

__all__ = ["plot_binary", "plot_hull", "plot_pressures", "plot_ternary"]


def _mpl():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.family": "sans-serif", "font.size": 11, "axes.linewidth": 1.0,
                         "xtick.direction": "in", "ytick.direction": "in",
                         "savefig.bbox": "tight", "savefig.dpi": 300})
    return plt


def _tex(formula: str) -> str:
    """Subscript the digits of a formula for matplotlib mathtext: Sr2B24 -> Sr$_2$B$_{24}$."""
    return re.sub(r"(\d+)", r"$_{\1}$", formula)


def _reduced(formula: str) -> str:
    """Reduced formula for a label: B12 -> B, Sr2B24 -> SrB12 (units are not split)."""
    from ase.formula import Formula

    try:
        return Formula(formula).reduce()[0].format("metal")
    except ValueError:
        return formula


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    fig.savefig(path)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def _label(hull: Hull, index: int) -> str:
    """Label of entry ``index``: its reduced formula; in unit coordinates, the end member's
    name, or the compound as end members, e.g. (Li2B12H12)(LiBH4)3."""
    rec_formula = hull.entries[index].formula or hull._reduced[index]
    if not hull.endmembers:
        return _reduced(rec_formula)
    from fractions import Fraction
    from math import lcm

    from pymatgen.core import Composition

    ends = [Composition(e) for e in hull.endmembers]
    els = sorted({str(el) for c in ends for el in c.elements})
    comp = Composition(hull.entries[index].composition)
    a = np.array([[c[el] for c in ends] for el in els], dtype=float)
    b = np.array([comp[el] for el in els], dtype=float)
    n, *_ = np.linalg.lstsq(a, b, rcond=None)
    if np.abs(a @ n - b).max() > 1e-6 or (n < -1e-9).any():
        return _reduced(rec_formula)
    fr = [Fraction(float(x)).limit_denominator(24) for x in n / n[n > 1e-9].min()]
    m = lcm(*(f.denominator for f in fr))
    ints = [int(f * m) for f in fr]
    g = np.gcd.reduce([k for k in ints if k])
    parts = [(hull.endmembers[k], ints[k] // g) for k in range(len(ints)) if ints[k]]
    if len(parts) == 1:
        return parts[0][0]
    return "".join(f"({name}){k if k > 1 else ''}" for name, k in parts)


# a label's candidate offset: (dx, dy) in points, horizontal and vertical alignment
_Offset = tuple[float, float, str, str]


def _place_labels(fig, ax, items, avoid) -> None:
    """Annotate without overlaps: each label goes to the first candidate offset (in
    points, preferred side first) whose box stays inside the axes and covers no other
    label, no marker and no line sample of ``avoid`` (data coordinates, N x 2).

    Args:
        items: (text, x, y, below) per label; ``below`` prefers offsets under the point.
    """
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    pts = ax.transData.transform(np.asarray(avoid, float).reshape(-1, 2)) if len(avoid) else \
        np.zeros((0, 2))
    axbox = ax.get_window_extent(renderer)
    pad = 2.0  # display pixels
    placed: list = []  # matplotlib Bbox of every label placed so far
    down: list[_Offset] = [(0, -9, "center", "top"), (9, -7, "left", "top"),
                          (-9, -7, "right", "top"), (11, 0, "left", "center"),
                          (-11, 0, "right", "center")]
    up: list[_Offset] = [(0, 9, "center", "bottom"), (9, 7, "left", "bottom"),
                        (-9, 7, "right", "bottom")]
    far = [(dx, dy * 2.6, ha, va) for dx, dy, ha, va in down + up if dy] + \
          [(dx * 2.4, dy * 2.6, ha, va) for dx, dy, ha, va in down + up if dx and dy]
    for text, x, y, below in items:
        cands = (down + up if below else up + down) + far
        own = ax.transData.transform([[x, y]])[0]
        best = None
        def make(dx, dy, ha, va, lead=False, text=text, x=x, y=y):
            extra = {"arrowprops": {"arrowstyle": "-", "color": "0.4", "lw": 0.6, "shrinkA": 0,
                                    "shrinkB": 4}} if lead else {}
            return ax.annotate(text, (x, y), textcoords="offset points", xytext=(dx, dy), ha=ha,
                               va=va, fontsize=8.5, zorder=5,
                               bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none",
                                     "alpha": 0.8}, **extra)

        for k, (dx, dy, ha, va) in enumerate(cands):
            ann = make(dx, dy, ha, va)
            bb = ann.get_window_extent(renderer)
            x0, y0, x1, y1 = bb.x0 - pad, bb.y0 - pad, bb.x1 + pad, bb.y1 + pad
            inside = (x0 >= axbox.x0 and x1 <= axbox.x1 and y0 >= axbox.y0 and y1 <= axbox.y1)
            hit = ((pts[:, 0] > x0) & (pts[:, 0] < x1) & (pts[:, 1] > y0) & (pts[:, 1] < y1))
            hit &= np.hypot(*(pts - own).T) > 1e-6  # its own marker is not an obstacle
            clash = sum(not (x1 < q.x0 or q.x1 < x0 or y1 < q.y0 or q.y1 < y0) for q in placed)
            score = int(hit.sum()) + 10 * clash + (100 if not inside else 0)
            if best is None or score < best[0]:
                if best is not None:
                    best[1].remove()
                best = (score, ann, bb, k)
            else:
                ann.remove()
            if score == 0:
                break
        assert best is not None  # cands is never empty
        if best[3] >= len(down + up):  # a distant label gets a leader line to its point
            best[1].remove()
            make(*cands[best[3]], lead=True)
        placed.append(best[2])


def _line_samples(xs, ys, n: int = 40) -> np.ndarray:
    """Points along a polyline (so labels keep off the hull line)."""
    out = []
    for k in range(len(xs) - 1):
        t = np.linspace(0, 1, n)[:, None]
        out.append(np.array([xs[k], ys[k]]) * (1 - t) + np.array([xs[k + 1], ys[k + 1]]) * t)
    return np.vstack(out) if out else np.zeros((0, 2))


def plot_binary(hull: Hull, path: str | Path, max_ehull: float = 0.3, title: str | None = None) -> Path:
    """Formation enthalpy (meV/atom) vs composition; hull line through stable phases."""
    plt = _mpl()
    recs = hull.records()
    a, b = hull.elements[:2]
    x = np.array([r.fraction[1] for r in recs])
    y = np.array([r.formation_enthalpy for r in recs]) * 1000
    eh = np.array([r.e_above_hull for r in recs]) * 1000
    stable = np.array([r.stable for r in recs])
    fig, ax = plt.subplots(figsize=(5.2, 3.9))
    show = (~stable) & (eh <= max_ehull * 1000)
    sc = ax.scatter(x[show], y[show], c=np.clip(eh[show], 0, max_ehull * 1000), cmap="viridis_r",
                    s=22, marker="o", edgecolors="0.3", linewidths=0.4, zorder=2,
                    vmin=0, vmax=max_ehull * 1000, label="metastable")
    order = np.argsort(x[stable])
    xs, ys = x[stable][order], y[stable][order]
    ax.plot(xs, ys, "-", color="black", lw=1.4, zorder=3)
    ax.scatter(xs, ys, s=55, color="crimson", edgecolors="black", linewidths=0.8, zorder=4,
               label="on hull")
    ax.axhline(0.0, color="0.6", lw=0.8, ls="--", zorder=1)
    ax.set_xlim(-0.05, 1.05)
    shown = np.concatenate([y[show], ys, [0.0]])
    span = max(float(shown.max() - shown.min()), 1.0)
    ax.set_ylim(shown.min() - 0.25 * span, shown.max() + 0.18 * span)
    if hull.endmembers:  # fractions are of atoms (per-atom enthalpies stay convex)
        ax.set_xlabel(f"x, fraction of atoms in {_tex(b)}  (pseudo-binary {_tex(a)}–{_tex(b)})")
    else:
        ax.set_xlabel(f"x in {_tex(a)}$_{{1-x}}${_tex(b)}$_x$")
    ax.set_ylabel("ΔH$_f$ (meV/atom)")
    p = hull.pressure_gpa
    ax.set_title(title or (f"Convex hull at {p:g} GPa" if np.isfinite(p) else "Convex hull"))
    if show.any():
        cb = fig.colorbar(sc, ax=ax, pad=0.02)
        cb.set_label("ΔH$_{hull}$ (meV/atom)")
    ax.legend(loc="best", frameon=False, fontsize=9)
    idx = np.flatnonzero(stable)[order]
    items = []
    for i, xi, yi in zip(idx, xs, ys):
        label = _tex(_label(hull, int(i)))
        if recs[i].spacegroup:
            label += f"\n{recs[i].spacegroup}"
        items.append((label, xi, yi, yi < -1e-9))  # compounds: below the line; ends: above
    avoid = np.vstack([np.stack([x[show], y[show]], axis=1), np.stack([xs, ys], axis=1),
                       _line_samples(xs, ys)])
    _place_labels(fig, ax, items, avoid)
    return _save(fig, path)


def _tri(frac: np.ndarray) -> np.ndarray:
    """Barycentric (a, b, c) -> 2D triangle coordinates."""
    f = np.atleast_2d(frac)
    return np.stack([f[:, 1] + 0.5 * f[:, 2], np.sqrt(3) / 2 * f[:, 2]], axis=1)


def plot_ternary(hull: Hull, path: str | Path, max_ehull: float = 0.3, title: str | None = None) -> Path:
    """Ternary hull: stable phases with tie lines, metastable coloured by ΔH_hull."""
    plt = _mpl()
    recs = hull.records()
    frac = np.array([r.fraction[:3] for r in recs])
    xy = _tri(frac)
    eh = np.array([r.e_above_hull for r in recs]) * 1000
    stable = np.array([r.stable for r in recs])
    fig, ax = plt.subplots(figsize=(5.4, 4.8))
    corners = _tri(np.eye(3))
    ax.plot(*np.vstack([corners, corners[:1]]).T, color="black", lw=1.2)
    tie = []
    for facet in hull.pd.facets:  # tie lines between stable phases
        pts = [hull.pd.qhull_data[i][:-1] for i in facet]
        # qhull coordinates are the fractions of elements 2..n; rebuild full fractions
        full = np.array([[1 - sum(p), *p] for p in pts])
        t = np.vstack([_tri(full), _tri(full)[:1]])
        ax.plot(*t.T, color="0.35", lw=0.8, zorder=1)
        tie.append(_line_samples(t[:, 0], t[:, 1], 25))
    show = (~stable) & (eh <= max_ehull * 1000)
    sc = ax.scatter(xy[show, 0], xy[show, 1], c=eh[show], cmap="viridis_r", s=20, zorder=2,
                    vmin=0, vmax=max_ehull * 1000, edgecolors="0.3", linewidths=0.4)
    ax.scatter(xy[stable, 0], xy[stable, 1], s=55, color="crimson", edgecolors="black", zorder=3,
               label="on hull")
    for name, (xi, yi), dy in zip(hull.elements, corners, (-9, -9, 9)):
        ax.annotate(_tex(name), (xi, yi), textcoords="offset points", xytext=(0, dy),
                    ha="center", va="top" if dy < 0 else "bottom", fontsize=11, weight="bold")
    ax.set_aspect("equal")
    ax.set_xlim(-0.12, 1.12)
    ax.set_ylim(-0.12, np.sqrt(3) / 2 + 0.12)
    ax.axis("off")
    if show.any():
        cb = fig.colorbar(sc, ax=ax, shrink=0.7, pad=0.02)
        cb.set_label("ΔH$_{hull}$ (meV/atom)")
        sc.set_label("metastable")
    ax.legend(loc="upper left", frameon=False, fontsize=9)
    p = hull.pressure_gpa
    ax.set_title(title or (f"Convex hull at {p:g} GPa" if np.isfinite(p) else "Convex hull"),
                 pad=12)
    # compounds on the hull get labels; the corners (end members) are named already
    items = [(_tex(_label(hull, int(i))), xi, yi, False)
             for i, (xi, yi) in zip(np.flatnonzero(stable), xy[stable])
             if np.count_nonzero(np.asarray(recs[i].fraction[:3]) > 1e-9) > 1]
    shown_xy = xy[show | stable]
    _place_labels(fig, ax, items, np.vstack([shown_xy, *tie]) if tie else shown_xy)
    return _save(fig, path)


def plot_hull(hull: Hull, path: str | Path, max_ehull: float = 0.3) -> Path:
    n = len(hull.elements)
    if n == 2:
        return plot_binary(hull, path, max_ehull)
    if n == 3:
        return plot_ternary(hull, path, max_ehull)
    from csp.errors import CspError

    raise CspError(f"hull plots are binary or ternary; this hull has {n} end members")


def plot_pressures(hulls: Sequence[Hull], path: str | Path, common_only: bool = True) -> Path:
    """ΔH_hull of the lowest structure per composition at each pressure (grouped bars).

    Args:
        hulls: one hull per pressure.
        path: .png / .svg / .pdf.
        common_only: show only the compositions computed at every pressure (a
            composition seen at one pressure has nothing to compare with).
    """
    plt = _mpl()
    fig, ax = plt.subplots(figsize=(6.0, 3.8))
    best_per: list[dict[str, float]] = []
    where: dict[str, float] = {}
    names: dict[str, str] = {}
    for h in hulls:
        d: dict[str, float] = {}
        for i, r in enumerate(h.records()):
            key = h._reduced[i]
            d[key] = min(d.get(key, np.inf), r.e_above_hull)
            where.setdefault(key, r.fraction[-1])
            names.setdefault(key, _label(h, i))
        best_per.append(d)
    shown = set.intersection(*(set(d) for d in best_per)) if common_only else \
        {k for d in best_per for k in d}
    keys = sorted(shown, key=lambda k: (where[k], k))
    xs = np.arange(len(keys))
    width = 0.8 / max(len(hulls), 1)
    for j, (h, d) in enumerate(zip(hulls, best_per)):
        vals = np.array([d.get(k, np.nan) * 1000 for k in keys])
        pos = xs + (j - (len(hulls) - 1) / 2) * width
        bars = ax.bar(pos, vals, width=width, label=f"{h.pressure_gpa:g} GPa",
                      edgecolor="black", linewidth=0.5)
        on = np.isclose(vals, 0.0, atol=1e-3)
        ax.plot(pos[on], np.zeros(on.sum()), "v", ms=6, color=bars.patches[0].get_facecolor()
                if bars.patches else "black", markeredgecolor="black", markeredgewidth=0.5,
                zorder=4, clip_on=False)
    ax.set_xticks(xs)
    ax.set_xticklabels([_tex(names[k]) for k in keys], rotation=45, ha="right")
    ax.set_ylabel("ΔH$_{hull}$ (meV/atom)")
    ax.axhline(0, color="black", lw=0.8)
    ax.legend(frameon=False, title="▼ on the hull", title_fontsize=8.5)
    ax.set_title("Distance to the hull per composition")
    return _save(fig, path)
