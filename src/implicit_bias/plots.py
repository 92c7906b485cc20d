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
