"""``explore … --method gd --eta a:b:n``: a regime map over the step size for any question (issue 21).

    implicit-bias explore completion --n 6 --rank 1 --method gd --eta 0.01:2:20        # linear
    implicit-bias explore sensing --method gd --eta 1e-3:1:20:log                      # geometric

``--eta a:b:n`` is n step sizes from a to b, evenly spaced (``linspace``); ``a:b:n:log`` spaces them
geometrically (``geomspace``, a > 0); 2 ≤ n ≤ ``MAX_ETAS``, 0 < a < b. A single number is one η, as
before (the question and its stored hash are unchanged). A grid makes the question an ``EtaMap``
(a ``Question`` with the step sizes in ``etas``; ``eta`` is the first): one run, all step sizes in one
``fit_batch`` (GD methods that differ in η only), stored under ``results/explore/<hash>/`` like any
question.

Each η is classified from its run by ``optim.regimes.classify`` (the classes of the regime maps:
converged / flatter / catapult / EoS / oscillating / slow / diverged): converged means the loss
below the question's ``rel_tol`` target (L − L_min ≤ rel_tol·(L(0) − L_min), as ``explore``'s
convergence line), λ_max(∇²L) at the end by ``optim.sharpness.hessian_top_k`` (exact up to 2000
parameters, Lanczos above), the GFS sharpness λ_flow (λ_max at the gradient flow's limit from the
start, ``gfs_sharpness``) as the reference for EoS, catapult and flatter; the flattest minimizer is
unknown for a general question, so "flatter" here means λ_end < (1 − ``FLATTER``)·λ_flow (a
definition). ``TAIL`` consecutive GD steps after the run show an oscillation.

Rows per η (i = its index, ``eta`` and ``regime`` columns, t = n_steps): ``regime`` (the index in
``REGIMES``), ``loss_end``, ``lambda_end``, ``two_over_eta`` (2/η), ``edge_ratio`` (λ_end·η/2); and
``lambda_start``, ``lambda_flow_limit`` (constants), ``loss_eta`` (the loss at the snapshots, i = the
η's index). A note ``regime map:`` holds the table ``explore`` prints; the figure (``plot_map``) puts η
on x, the regime as colour, λ_end·η/2 and the final loss on y, with η = 2/λ_max at the start and at
the flow's limit drawn.
"""

import dataclasses
import math

import numpy as np

from implicit_bias import checks
from implicit_bias.errors import ConfigError

MAX_ETAS = 200
REGIMES = ("converged", "flatter", "catapult", "EoS", "oscillating", "slow", "diverged")
FLATTER = 0.05  # converged with λ_end below 95 % of λ_flow: "flatter" (a definition)
TAIL = 16  # consecutive GD steps after the run (optim.regimes.TAIL)
COLORS = {"converged": "#4c72b0", "flatter": "#55a868", "catapult": "#dd8452", "EoS": "#c44e52",
          "oscillating": "#da8bc3", "slow": "#cccccc", "diverged": "#333333"}  # fmt: skip


def is_grid(text) -> bool:
    return isinstance(text, str) and ":" in text


def parse_eta_grid(text: str) -> tuple[float, ...]:
    """'a:b:n' → n step sizes evenly spaced from a to b; 'a:b:n:log' → geometrically spaced. A
    ConfigError naming --eta in one line for anything else."""
    usage = "use a:b:n (linear) or a:b:n:log (geometric), e.g. --eta 0.01:2:20 or 1e-3:1:20:log"
    parts = [p.strip() for p in text.split(":")]
    if len(parts) not in (3, 4) or (len(parts) == 4 and parts[3] not in ("log", "lin")):
        raise ConfigError(f"--eta {text!r}: {usage}")
    try:
        a, b = float(parts[0]), float(parts[1])
    except ValueError:
        raise ConfigError(f"--eta {text!r}: the ends must be numbers; {usage}") from None
    try:
        n = int(parts[2])
    except ValueError:
        raise ConfigError(
            f"--eta {text!r}: the count {parts[2]!r} must be an integer; {usage}"
        ) from None
    if not (math.isfinite(a) and math.isfinite(b)) or not 0 < a < b:
        raise ConfigError(f"--eta {text!r}: need 0 < a < b (finite step sizes)")
    if not 2 <= n <= MAX_ETAS:
        raise ConfigError(f"--eta {text!r}: the count must be from 2 to {MAX_ETAS}, got {n}")
    log = len(parts) == 4 and parts[3] == "log"
    etas = np.geomspace(a, b, n) if log else np.linspace(a, b, n)
    return tuple(float(e) for e in etas)


def check_map(q) -> None:
    """What an η grid combines with: GD only (one ``fit_batch``)."""
    if q.method != "gd":
        raise ConfigError(f"--eta a:b:n (a step-size map) needs --method gd, not {q.method!r}")
    if q.baselines:
        raise ConfigError(
            "--baseline does not apply to a step-size map (--eta a:b:n): ask it at one η"
        )


def _tail(s, final, etas):
    """``TAIL`` consecutive GD steps from each end point (one ``fit_batch``): losses (B, TAIL + 1)
    and the parameters at those steps (a pytree with axes (B, TAIL + 1, …))."""
    from implicit_bias.optim import GD, fit_batch

    methods = [GD(eta=float(e), n_steps=TAIL, save_every=1) for e in etas]
    traj = fit_batch(s.model, s.problem, methods, params0=final, reduce=False, label="GD tail")
    return np.asarray(traj.loss, float), traj.observed


def run_map(q, s, floor: float = 0.0):
    """The map's ``Result``: every η of ``q.etas`` by GD from the question's start, classified
    (``floor``: min L, ``build.loss_floor``, passed in: this module does not import ``build``)."""
    import jax

    from implicit_bias.experiments import Result
    from implicit_bias.optim import DIVERGED, fit_batch, regimes as shared
    from implicit_bias.optim.sharpness import gfs_sharpness, hessian_top_k

    etas = np.asarray(q.etas, float)
    B = etas.size
    methods = [dataclasses.replace(s.method, eta=float(e)) for e in etas]
    traj = fit_batch(s.model, s.problem, methods, params0=[s.params0] * B,
                     observe=lambda p: (), label=f"GD ×{B} (η map)")  # fmt: skip
    t = np.asarray(traj.t, float)
    loss = np.asarray(traj.loss, float)
    status = np.asarray(traj.status)
    loss0 = float(loss[0, 0])
    loss_tol = floor + q.rel_tol * (loss0 - floor)
    lam0 = float(hessian_top_k(s.model, s.problem, [s.params0])[0, 0])
    notes = []
    try:
        flow_tol = floor + max((loss_tol - floor) * 1e-4, 1e-24)  # well inside the GD target
        g = gfs_sharpness(s.model, s.problem, s.params0, t1=max(q.t1, 1e4), loss_tol=flow_tol)
        lam_flow = float(g.value[0]) if g.reached else None
        if lam_flow is None:
            notes.append(f"diagnostic: the gradient flow from the start did not reach its limit "
                         f"(loss {g.loss:.3g} at t = {g.t:.3g}): no λ_max at the flow's limit")  # fmt: skip
    except Exception as e:  # the flow failed: the map goes on without its reference
        lam_flow = None
        notes.append(f"diagnostic: the flow's limit was not computed ({type(e).__name__})")
    final = jax.tree.map(np.asarray, traj.final)
    lam_end = hessian_top_k(s.model, s.problem, final)[:, 0]
    lam_end[status == DIVERGED] = np.nan  # the last finite snapshot of a diverging run: no limit
    tail_loss, tail_params = _tail(s, final, etas)
    regs, rows = [], []
    for b, eta in enumerate(etas):
        ok = np.isfinite(loss[b])
        tail_lam = None
        if shared.oscillates(tail_loss[b]):
            pts = jax.tree.map(lambda x: np.asarray(x)[b], tail_params)
            tail_lam = hessian_top_k(s.model, s.problem, pts)[:, 0]
        lam_min = None if lam_flow is None else (1.0 - 2.0 * FLATTER) * lam_flow
        reg = shared.classify(loss[b][ok], eta, lam_end[b], loss_tol=loss_tol,
                              diverged=bool(status[b] == DIVERGED), tail_loss=tail_loss[b],
                              tail_lam=tail_lam, lam_flow=lam_flow, lam_min=lam_min)  # fmt: skip
        regs.append(reg)
        last = float(loss[b][ok][-1]) if ok.any() else float("nan")
        if reg == "diverged":
            last = float("nan") if status[b] == DIVERGED else last
        cell = {"eta": float(eta), "regime": reg, "i": b}
        for series, value in (("regime", REGIMES.index(reg)), ("loss_end", last),
                              ("lambda_end", lam_end[b]), ("two_over_eta", 2.0 / eta),
                              ("edge_ratio", lam_end[b] * eta / 2.0)):  # fmt: skip
            rows.append({"t": float(q.n_steps), "series": series, "value": float(value), **cell})
        for tk, v in zip(t[b][ok], loss[b][ok]):
            rows.append({"t": float(tk), "series": "loss_eta", "value": float(v), **cell})
    for series, value in (("lambda_start", lam0),
                          ("lambda_flow_limit", np.nan if lam_flow is None else lam_flow)):  # fmt: skip
        rows.append({"t": 0.0, "series": series, "value": float(value), "i": -1})
    counts = {r: regs.count(r) for r in REGIMES if r in regs}
    notes.insert(0, "regime map:\n" + table(etas, regs, rows))
    notes.append("diagnostic: η by regime: " + ", ".join(f"{r} {n}" for r, n in counts.items()))
    flow = "unknown" if lam_flow is None else f"{2 / lam_flow:.4g}"
    notes.append(f"diagnostic: 2/λ_max at the start {2 / lam0:.4g}, at the flow's limit {flow}")
    conv = [e for e, r in zip(etas, regs) if r in shared.CONVERGED]
    notes.append(f"convergence: converged (L − L_min ≤ rel_tol·(L(0) − L_min) = {loss_tol - floor:.3g}) "
                 f"at {len(conv)} of {B} step sizes" + (f", up to η = {max(conv):.4g}" if conv else ""))  # fmt: skip
    found = [
        checks.sanity("no solver failure", bool(np.all(np.isin(status, (0, 1, 3)))),
                      predicted="status ok or diverged", observed=str(sorted(set(status.tolist())))),
    ]  # fmt: skip
    return Result(rows=rows, checks=found, notes=notes)


def table(etas, regs, rows) -> str:
    """The map as text: η, regime, final loss, λ_max at the end, 2/η."""
    by = {(r["series"], r["i"]): r["value"] for r in rows if r["series"] != "loss_eta"}
    lines = [f"{'eta':>10}  {'regime':<12}{'final loss':>11}  {'λ_max end':>10}  {'2/η':>9}"]
    for b, (e, reg) in enumerate(zip(etas, regs)):
        lines.append(f"{e:>10.4g}  {reg:<12}{by['loss_end', b]:>11.3g}  {by['lambda_end', b]:>10.4g}  "
                     f"{2 / e:>9.4g}")  # fmt: skip
    return "\n".join(lines)


def plot_map(rows, cfg) -> dict:
    """η on x (log axes for a geometric grid), the regime as colour; λ_end·η/2 (1 = the edge of
    stability) above, the final loss below; η = 2/λ_max at the start and at the flow's limit."""
    from implicit_bias import plots

    fig, axes = plots.figure(1, 2, width=6.0, height=3.0)
    cells = rows[rows.series == "regime"].sort_values("eta")
    etas = cells.eta.to_numpy()
    geometric = etas.size > 2 and np.allclose(etas[2:] / etas[1:-1], etas[1] / etas[0], rtol=1e-6)
    const = lambda name: rows[rows.series == name].value.to_numpy()  # noqa: E731
    lam0, lamf = const("lambda_start"), const("lambda_flow_limit")
    for ax, series, ylabel in ((axes[0, 0], "edge_ratio", "λ_max(end)·η/2"),
                               (axes[1, 0], "loss_end", "final loss")):  # fmt: skip
        v = rows[rows.series == series].sort_values("eta")
        for reg in REGIMES:
            g = v[v.regime == reg]
            if len(g):
                y = g.value.to_numpy()
                ax.scatter(g.eta, np.where(np.isfinite(y) & (y > 0), y, np.nan),
                           color=COLORS[reg], label=reg, s=18, zorder=3)  # fmt: skip
        for lam, style, label in ((lam0, "--", "2/λ_max at the start"),
                                  (lamf, ":", "2/λ_max at the flow's limit")):  # fmt: skip
            if lam.size and np.isfinite(lam[0]) and lam[0] > 0:
                ax.axvline(2 / lam[0], color="k", ls=style, lw=1, label=label)
        if series == "edge_ratio":
            ax.axhline(1.0, color="#c44e52", lw=0.8, label="λ_max = 2/η")
        y = v.value.to_numpy()
        positive = y[np.isfinite(y)]
        ax.set(xscale="log" if geometric else "linear", ylabel=ylabel,
               yscale="log" if positive.size and np.all(positive > 0) else "linear")  # fmt: skip
        ax.legend(fontsize=6)
    axes[1, 0].set(xlabel="η")
    axes[0, 0].set(title=f"GD regimes over η: {cfg.problem}, {cfg.model} depth {cfg.depth}")
    return {"explore": fig}
