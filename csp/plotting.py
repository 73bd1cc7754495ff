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
    for r, xi, yi in zip(np.array(recs, dtype=object)[stable][order], xs, ys):
        label = _tex(_reduced(r.formula))
        if r.spacegroup:
            label += f"\n{r.spacegroup}"
        below = yi < -1e-9  # compounds under the tie line: label below, end members above
        ha = "left" if xi < 0.05 else "right" if xi > 0.95 else "center"  # inside the axes
        ax.annotate(label, (xi, yi), textcoords="offset points", xytext=(0, -9 if below else 9),
                    ha=ha, va="top" if below else "bottom", fontsize=8.5, zorder=1.5,
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85})
    ax.axhline(0.0, color="0.6", lw=0.8, ls="--", zorder=1)
    ax.set_xlim(-0.05, 1.05)
    shown = np.concatenate([y[show], ys, [0.0]])
    span = max(float(shown.max() - shown.min()), 1.0)
    ax.set_ylim(shown.min() - 0.22 * span, shown.max() + 0.15 * span)
    ax.set_xlabel(f"x in {_tex(a)}$_{{1-x}}${_tex(b)}$_x$" if not hull.endmembers
                  else f"x in ({_tex(a)})$_{{1-x}}$({_tex(b)})$_x$")
    ax.set_ylabel("ΔH$_f$ (meV/atom)")
    p = hull.pressure_gpa
    ax.set_title(title or (f"Convex hull at {p:g} GPa" if np.isfinite(p) else "Convex hull"))
    if show.any():
        cb = fig.colorbar(sc, ax=ax, pad=0.02)
        cb.set_label("ΔH$_{hull}$ (meV/atom)")
    ax.legend(loc="best", frameon=False, fontsize=9)
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
    for facet in hull.pd.facets:  # tie lines between stable phases
        pts = [hull.pd.qhull_data[i][:-1] for i in facet]
        # qhull coordinates are the fractions of elements 2..n; rebuild full fractions
        full = np.array([[1 - sum(p), *p] for p in pts])
        t = _tri(full)
        ax.plot(*np.vstack([t, t[:1]]).T, color="0.35", lw=0.8, zorder=1)
    show = (~stable) & (eh <= max_ehull * 1000)
    sc = ax.scatter(xy[show, 0], xy[show, 1], c=eh[show], cmap="viridis_r", s=20, zorder=2,
                    vmin=0, vmax=max_ehull * 1000, edgecolors="0.3", linewidths=0.4)
    ax.scatter(xy[stable, 0], xy[stable, 1], s=55, color="crimson", edgecolors="black", zorder=3)
    for r, (xi, yi) in zip(np.array(recs, dtype=object)[stable], xy[stable]):
        ax.annotate(_tex(_reduced(r.formula)), (xi, yi), textcoords="offset points", xytext=(4, 4),
                    fontsize=8.5)
    for name, (xi, yi), dy in zip(hull.elements, corners, (-14, -14, 6)):
        ax.annotate(_tex(name), (xi, yi), textcoords="offset points", xytext=(0, dy),
                    ha="center", fontsize=11, weight="bold")
    ax.set_aspect("equal")
    ax.axis("off")
    if show.any():
        cb = fig.colorbar(sc, ax=ax, shrink=0.7, pad=0.02)
        cb.set_label("ΔH$_{hull}$ (meV/atom)")
    p = hull.pressure_gpa
    ax.set_title(title or (f"Convex hull at {p:g} GPa" if np.isfinite(p) else "Convex hull"))
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
    for h in hulls:
        d: dict[str, float] = {}
        for i, r in enumerate(h.records()):
            key = h._reduced[i]
            d[key] = min(d.get(key, np.inf), r.e_above_hull)
            where.setdefault(key, r.fraction[-1])
        best_per.append(d)
    keys = set.intersection(*(set(d) for d in best_per)) if common_only else \
        {k for d in best_per for k in d}
    keys = sorted(keys, key=lambda k: (where[k], k))
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
    ax.set_xticklabels([_tex(k) for k in keys], rotation=45, ha="right")
    ax.set_ylabel("ΔH$_{hull}$ (meV/atom)")
    ax.axhline(0, color="black", lw=0.8)
    ax.legend(frameon=False, title="▼ on the hull", title_fontsize=8.5)
    ax.set_title("Distance to the hull per composition")
    return _save(fig, path)
