"""``explore --method limit``: the α → 0 path of a question, computed by its oracle and stored like a run.

No simulation: ``theory.oracles.limit_path(problem, model)`` gives the saddles the flow from a
vanishing initialization visits, the jump times in the rescaled time t̃ (t ≈ t̃·τ(α)) and what changes
at each jump. Stored rows (t = t̃_k):

    saddle_loss            L at each saddle
    saddle_entry           the saddle's nonzero entries (vectors; i = coordinate)
    saddle_singular_value  its singular values (matrices; i = index)
    saddle_size            its support size or rank
    jump_time              the jump's flow time t̃_k·τ(α) at the question's α = --scale (0 < α < 1)
    test_error             the held-out test error of each saddle (where the question has a test set)
    distance_to_<b>        the relative distance of each saddle to the truth and to each baseline

and arrays ``estimate`` (the last saddle) and ``saddle_<k>``. The notes print the path's table.
"""

import numpy as np

from implicit_bias import checks

MAX_KEPT = 64  # saddles kept as arrays (every one is in the rows)
LP_BASIS = "HiGHS returns a vertex of the LP (round-off × the basis condition); BVLS at tol 1e-14"


def _rows(t, series, value, i=-1) -> dict:
    return {"t": float(t), "series": series, "i": int(i), "value": float(value)}


def run_limit(q, s, base: dict):
    """The path of question ``q`` (set up as ``s``; baselines ``base``) as an ``experiments.Result``."""
    from implicit_bias.experiments import Result
    from implicit_bias.theory.oracles import limit_path

    path = limit_path(s.problem, s.model)
    points = np.asarray(path.points)
    vector = points.ndim == 2
    refs = {**({"truth": s.truth} if s.truth is not None else {}), **base}
    rows = []
    alpha = float(q.scale)
    tau = path.time_scale(alpha) if 0 < alpha < 1 else None
    for k, (t, P) in enumerate(zip(path.times, points)):
        rows.append(_rows(t, "saddle_loss", path.loss[k]))
        if vector:
            support = np.flatnonzero(P)
            rows += [_rows(t, "saddle_entry", P[i], i) for i in support]
            rows.append(_rows(t, "saddle_size", support.size))
        else:
            sv = np.linalg.svd(P, compute_uv=False)
            rows += [_rows(t, "saddle_singular_value", v, i) for i, v in enumerate(sv[:10])]
            rows.append(_rows(t, "saddle_size", int(np.sum(sv > 1e-9 * max(sv[0], 1e-300)))))
        if tau is not None:
            rows.append(_rows(t, "jump_time", t * tau))
        if s.test is not None:
            rows.append(_rows(t, "test_error", float(s.test.error(P))))
        for b, B in refs.items():
            scale = max(float(np.linalg.norm(B)), 1e-300)
            rows.append(_rows(t, f"distance_to_{b}", np.linalg.norm(P - B) / scale))
    last = points[-1]
    table = path.to_frame().to_string(index=False, float_format=lambda v: f"{v:.4g}")
    notes = [
        f"path: the α → 0 limit path ({path.family}, {path.parametrization}, depth {path.depth}): "
        f"{len(path.times) - 1} jumps; {path.notes}",
        "convergence: exact (an oracle, no simulation)",
        "time scale: t ≈ t̃·τ(α), τ(α) = "
        + (f"log(1/α)/{path.c:g}" if path.depth == 2 else f"α^{2 - path.depth}/{path.c:g}")
        + (f" = {tau:.4g} at α = {alpha:g}" if tau is not None else ""),
        "the path:\n" + table,
    ]
    if s.test is not None:
        errs = [float(s.test.error(P)) for P in points]
        best = int(np.argmin(errs))
        notes.append(
            f"diagnostic: test error on {s.test.what}: {errs[-1]:.4g} at the last saddle, best "
            f"{errs[best]:.4g} at saddle {best} (t̃ = {path.times[best]:.4g})"
        )
        for b, B in base.items():
            e = float(s.test.error(B))
            rows += [_rows(t, f"test_error_{b}", e) for t in path.times]
            notes.append(f"diagnostic: baseline {b}: test error {e:.4g}")
    found = [
        checks.sanity("the loss falls along the path", bool(path.loss[-1] <= path.loss[0]),
                      predicted="L(last) ≤ L(0)",
                      observed=f"{path.loss[0]:.3g} → {path.loss[-1]:.3g}"),
    ]  # fmt: skip
    if vector and "l1" in base:
        gap = float(np.max(np.abs(last - base["l1"])))
        found.append(checks.at_most(
            "the path ends at the minimum-ℓ1 interpolator (Pesme & Flammarion 2023, Thm 2)", 1e-8,
            gap, source="Pesme & Flammarion (NeurIPS 2023), Algorithm 1", basis=LP_BASIS))  # fmt: skip
    for b, B in base.items():
        d = float(np.linalg.norm(last - B) / max(np.linalg.norm(B), 1e-300))
        notes.append(f"diagnostic: last saddle vs baseline {b}: relative distance {d:.4g}")
    arrays = {"estimate": last, **{f"baseline_{b}": np.asarray(B) for b, B in base.items()}}
    keep = range(len(points)) if len(points) <= MAX_KEPT else np.linspace(
        0, len(points) - 1, MAX_KEPT).astype(int)  # fmt: skip
    arrays.update({f"saddle_{k}": points[k] for k in keep})
    return Result(rows=rows, checks=found, notes=notes, arrays=arrays)


def plot_limit(rows, cfg) -> dict:
    """``{"explore": figure}``: L at each saddle (step function in t̃, jump times dotted); the
    saddles' entries or singular values; the test error of each saddle (or the distances) with the
    baselines' test errors as lines."""
    import matplotlib.pyplot as plt

    from implicit_bias.explore.figures import baseline_lines, constants, frame, plain

    df = frame(rows)
    fig, axes = plt.subplots(1, 3, figsize=(16.5, 3.9), squeeze=False)
    ax = axes[0, 0]
    g = df[df.series == "saddle_loss"].sort_values("t")
    t_end = 1.15 * float(g.t.max()) if len(g) else 1.0
    floor = 1e-14 * float(g.value.max()) if len(g) else 0.0  # an interpolator's 1e-30 is 0 here
    values = list(np.maximum(g.value, floor))
    ax.step(list(g.t) + [t_end], values + values[-1:], where="post", color="k")
    for t in g.t.iloc[1:]:
        for a in axes[0]:
            a.axvline(t, color="0.7", lw=0.6, ls=":")
    if len(g) and (g.value > 0).all():
        ax.set_yscale("log")
    ax.set(xlabel="rescaled time t̃", ylabel="L at the saddle",
           title=plain(f"{cfg.problem}: {cfg.model} N={cfg.depth} · the α → 0 path"))  # fmt: skip
    ax = axes[0, 1]
    name = "saddle_entry" if (df.series == "saddle_entry").any() else "saddle_singular_value"
    spec = df[df.series == name]
    times = list(g.t)
    for c, (i, gi) in enumerate(spec.groupby("i")):
        value = dict(zip(gi.t, gi.value))
        ys = [value.get(t, 0.0) for t in times]
        ax.step(times + [t_end], ys + ys[-1:], where="post", lw=1.2, color=f"C{c % 10}",
                label=f"{'x̃' if name == 'saddle_entry' else 'σ'}_{int(i)}")  # fmt: skip
    ax.set(xlabel="rescaled time t̃",
           ylabel="saddle entries" if name == "saddle_entry" else "singular values",
           title="the saddles visited")  # fmt: skip
    if len(spec.i.unique()) <= 12:
        ax.legend(fontsize=7, ncol=2)
    ax = axes[0, 2]
    test = df[df.series == "test_error"].sort_values("t")
    if len(test):
        ax.plot(test.t, test.value, "o-", color="C0", label="test error at each saddle")
        baseline_lines(ax, constants(df, "test_error_"))
        ax.set(ylabel="held-out test error", title="test error along the path")
    else:
        for c, (series, gs) in enumerate(df[df.series.str.startswith("distance_to_")].groupby("series")):
            gs = gs.sort_values("t")
            ax.plot(gs.t, gs.value, "o-", color=f"C{c}", label=series.removeprefix("distance_to_"))
        ax.set(ylabel="relative distance", title="distance of each saddle")
    ax.set(xlabel="rescaled time t̃")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    fig.tight_layout()
    return {"explore": fig}
