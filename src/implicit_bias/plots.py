"""Shared figure styling. Plot functions read rows and never compute."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

COLORS = plt.rcParams["axes.prop_cycle"].by_key()["color"]


def figure(ncols: int = 1, nrows: int = 1, *, width: float = 4.2, height: float = 3.2, **kw):
    """A figure with ``nrows × ncols`` axes of a common size, constrained layout."""
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(width * ncols, height * nrows),
        layout="constrained",
        squeeze=False,
        **kw,
    )
    return fig, axes


def color(i: int) -> str:
    return COLORS[i % len(COLORS)]


def close(fig) -> None:
    plt.close(fig)


def regime_map(ax, rows, y: str, regimes, colors: dict, overlays) -> None:
    """A regime map on ``ax``: the cells (rows of series "regime", value = the index of the cell's
    regime in ``regimes``) over α (x) and ``y`` (a column: the step size or its kick), log-log,
    coloured by ``colors[regime]``; ``overlays``: (series, style, label) drawn as curves of α (the
    bounds and the measured boundary), and two legends (the curves, the regimes)."""
    import matplotlib.colors as mcolors
    import numpy as np

    cells = rows[rows.series == "regime"]
    ys, alphas = np.sort(cells[y].unique()), np.sort(cells.alpha.unique())
    Z = cells.pivot_table(index=y, columns="alpha", values="value").loc[ys, alphas].values
    cmap = mcolors.ListedColormap([colors[r] for r in regimes])
    norm = mcolors.BoundaryNorm(np.arange(len(regimes) + 1) - 0.5, len(regimes))

    def edges(v):  # cell edges halfway between grid points in log space
        lv = np.log(v)
        mid = (lv[1:] + lv[:-1]) / 2
        step = (lv[1] - lv[0]) if v.size > 1 else 0.1
        return np.exp(np.concatenate([[lv[0] - step / 2], mid, [lv[-1] + step / 2]]))

    ax.pcolormesh(edges(alphas), edges(ys), Z, cmap=cmap, norm=norm, shading="flat")
    for series, style, label in overlays:
        b = rows[rows.series == series].sort_values("alpha")
        ax.plot(b.alpha, b.value, style, lw=1.5, label=label)
    ax.set(xscale="log", yscale="log")
    leg = ax.legend(loc="lower left", fontsize=6, facecolor="0.55")  # the white bound lines show
    ax.add_artist(leg)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colors[r]) for r in regimes]
    ax.legend(handles, regimes, loc="upper right", fontsize=6, ncol=2)
