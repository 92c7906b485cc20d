"""GD from the identical initialization W_j(0) = αI recovers the positive eigenvalues of Ŵ; negative ones go to 0.

Seed 000, Thm 2.2 (Chou, Gieshoff, Maly & Rauhut 2024): for symmetric Ŵ = VΛVᵀ and η below bound (8),
W^{(k)} = W_N^{(k)} ⋯ W_1^{(k)} → VΛ₊Vᵀ. Default: Ŵ = V diag(10, 7, 5, −5) Vᵀ with a fixed orthogonal V
(the 4×4 matrix printed in the seed does not have this spectrum), N = 3, α = 0.1, η = 0.005 < (8) ≈ 0.00663.

Expected: the eigenvalues 10, 7, 5 of W^{(k)} are learned one after the other, largest first; the
eigenvalue for λ = −5 decays to 0 (like k^{−N/(N−2)}); the run also holds matrix GD to the scalar
recursion (7) computed independently in NumPy.

    implicit-bias run dmf_identical                      # ~3 s
    implicit-bias run dmf_identical --set depth=4 --set eta=0.002
"""

import dataclasses

import jax.numpy as jnp
import numpy as np
import pandas as pd

from implicit_bias import checks, metrics, plots
from implicit_bias.config import Count, Depth, Scale, Seed, Step, Tol
from implicit_bias.errors import check_step_size
from implicit_bias.experiments import Result, series_rows
from implicit_bias.models.deep_matrix import DeepMatrix, product
from implicit_bias.optim import GD, fit_batch
from implicit_bias.problems.full import symmetric_with_spectrum
from implicit_bias.theory import deep_matrix as theory

SEED = "000"
ORDER = 1  # position in the report: figures a, b, c, d of the seed
TITLE = "Deep matrix factorization: identical initialization recovers Λ₊"

# a config for smoke tests: seconds, and the checks still pass
TINY = {"n_steps": 2000, "n_saves": 50, "tol": 1e-3}


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config:
    spectrum: tuple[float, ...] = (10.0, 7.0, 5.0, -5.0)
    depth: Depth = 3
    alpha: Scale = 0.1
    eta: Step = 0.005
    n_steps: Count = 20_000
    n_saves: Count = 400  # log-spaced snapshots
    tol: Tol = 1e-6
    seed: Seed = 0


def eigen_observer(V):
    """observe(params) = eigenvalues of W = W_N ⋯ W_1 in the eigenbasis V of Ŵ, its effective rank and singular values."""
    Vj = jnp.asarray(V)

    def observe(params):
        W = product(params)
        return {
            "eig": metrics.eigenvalues_in_basis(W, Vj),
            "eff_rank": metrics.effective_rank(W),
            "sv": metrics.singular_values(W),
        }

    return observe


# configs that differ only here run as one vmapped batch in a sweep
BATCH_FIELDS = ("seed", "alpha", "eta")


def run(cfg: Config) -> Result:
    (result,) = run_batch([cfg])
    if isinstance(result, Exception):
        raise result
    return result


def run_batch(cfgs: list[Config]) -> list:
    """Every config (same spectrum, depth and step counts) in one vmapped run: a Result per config,
    or the DivergenceError of a config whose run diverged."""
    c0 = cfgs[0]
    N, B = c0.depth, len(cfgs)
    problems = [symmetric_with_spectrum(c.spectrum, seed=c.seed) for c in cfgs]
    eigs = [theory.eigh(p.W_hat) for p in problems]
    models = [DeepMatrix(depth=N, n=len(c.spectrum), init="identical", alpha=c.alpha) for c in cfgs]
    bounds = [theory.step_bound_identical(p.W_hat, c.alpha, N) for p, c in zip(problems, cfgs)]
    for c, bound in zip(cfgs, bounds):
        check_step_size(c.eta, bound, "eq. (8) 1/((3N-2) M^(2N-2))")
    methods = [GD(eta=c.eta, n_steps=c.n_steps, n_saves=c.n_saves, spacing="log") for c in cfgs]
    params0 = [m.init_params() for m in models]
    label = "GD" if B == 1 else f"GD ×{B}"
    reduced = fit_batch(models, problems, methods, params0=params0, observe=product, label=label)
    # the same runs on the full matrices, against the NumPy scalar recursion (7)
    full = fit_batch(models, problems, methods, params0=params0, observe=product, reduce=False,
                     label=f"{label} (matrices)")  # fmt: skip
    steps = methods[0].save_steps()
    lam = np.stack([e[0] for e in eigs])
    d = theory.scalar_recursion(
        np.array([[c.alpha] for c in cfgs]),
        lam,
        np.array([[c.eta] for c in cfgs]),
        N,
        c0.n_steps,
        steps,
    )
    return [
        _result(cfg, reduced.member(b), full.member(b), d[:, b], eigs[b], problems[b], bounds[b])
        for b, cfg in enumerate(cfgs)
    ]


U_ROUND = 2.0**-53  # unit round-off of float64


def roundoff_tolerance(steps, n: int, N: int) -> np.ndarray:
    """Round-off budget for matrix GD vs the scalar recursion (7) after k steps, relative to ‖Λ‖_max:

    (k + 1) · N · (nN + 4) · u,  u = 2⁻⁵³.

    Each step forms N products of n×n matrices and an update: relative error γ_{nN+4} ≈ (nN + 4)u
    per factor (Higham, Accuracy and Stability, §3.5); an eigenvalue d^N carries N times the relative
    error of d; and while the iterates stay on the identical-init manifold (7) is non-expansive in
    relative terms, so these errors at most add up linearly in k. A deviation above this budget means
    the matrix path has left the manifold (round-off amplified by the dynamics), not merely rounded.
    """
    k = np.asarray(steps, dtype=np.float64)
    return (k + 1.0) * N * (n * N + 4) * U_ROUND


def euler_time_rtol(eta: float, alpha: float, W_hat, N: int) -> float:
    """Relative error of GD's learning times against the gradient flow, to first order in η:

    GD is Euler's method on ḋ = f(d) = −d^{N−1}(d^N − λ); each step of length η advances the flow time
    by η(1 + O(η f′)), so crossing times differ by at most ½ η max|f′| relative. On the path
    |d| ≤ M = max(α, ‖Ŵ‖₂^{1/N}) and |f′| = |(2N−1)d^{2N−2} − (N−1)λ d^{N−2}| ≤ (3N−2) M^{2N−2}, so the
    tolerance is ½ η (3N−2) M^{2N−2} = ½ η / η_max(8).
    """
    return 0.5 * eta / theory.step_bound_identical(W_hat, alpha, N)


def crossing_time(t, series, level) -> float:
    """Linear interpolation of the first time ``series`` reaches ``level`` (inf if it never does)."""
    series = np.asarray(series)
    above = np.nonzero(series >= level)[0]
    if above.size == 0:
        return np.inf
    k = int(above[0])
    if k == 0:
        return float(t[0])
    frac = (level - series[k - 1]) / (series[k] - series[k - 1])
    return float(t[k - 1] + frac * (t[k] - t[k - 1]))


def _result(cfg, traj, full, d, eig_decomp, problem, bound):
    error = traj.divergence_error()
    if error is not None:
        return error
    lam, V = eig_decomp
    N, n = cfg.depth, len(cfg.spectrum)
    src, src21 = "seed 000, Thm 2.2", "seed 000, Thm 2.1"
    W_t = np.asarray(traj.observed)
    eig = np.einsum("ij,sik,kj->sj", V, W_t, V)
    s = np.linalg.svd(W_t, compute_uv=False)
    eff_rank = s.sum(axis=-1) / s[:, 0]
    steps = np.asarray(traj.t)
    # the full-matrix path against the NumPy recursion (7), snapshot by snapshot
    W_full = np.asarray(full.observed)
    eig_full = np.einsum("ij,sik,kj->sj", V, W_full, V)
    k = min(len(eig_full), len(d))
    dev = np.max(np.abs(eig_full[:k] - d[:k] ** N), axis=1) / np.max(np.abs(lam))
    budget = roundoff_tolerance(steps[:k], n, N)
    out = np.nonzero(~(dev <= budget))[0]
    departed = int(steps[out[0]]) if out.size else None
    target = theory.limit_identical(problem.W_hat)
    W_end = W_t[-1]
    # converged: the excess loss over the loss of the limit, ½‖Λ₋‖², is below what an error tol allows
    excess = float(np.asarray(traj.loss)[-1]) - 0.5 * float(np.sum((target - np.asarray(problem.W_hat)) ** 2))
    loss_tol = cfg.tol * float(np.max(np.abs(lam))) + 0.5 * cfg.tol**2
    conv = dict(loss=excess, loss_tol=loss_tol)
    t = steps * cfg.eta
    rows = series_rows(t, eig, series="eigenvalue", per_index={"lambda": lam})
    rows += series_rows(t, traj.loss, series="loss")
    rows += series_rows(t, eff_rank, series="effective_rank")
    rows += series_rows(steps[:k] * cfg.eta, dev, series="deviation_from_7")
    rows += series_rows(steps[:k] * cfg.eta, budget, series="roundoff_budget")
    for r in rows:
        r["step"] = float(r["t"] / cfg.eta)

    bound21 = min(theory.step_bound_scalar(float(li), cfg.alpha, N) for li in lam)
    h8, h21 = "step size below bound (8)", "step size below Thm 2.1's bound for every λ_i"
    found = [
        checks.hypothesis(h8, cfg.eta < bound, predicted=f"< {bound:.6g}", observed=cfg.eta,
                          source=src, detail="η < 1/((3N−2) M^{2N−2}), M = max(α, ‖Ŵ‖₂^{1/N})"),
        checks.hypothesis(h21, cfg.eta < bound21, predicted=f"< {bound21:.6g}", observed=cfg.eta,
                          source=src21, detail="min over i of 1/(2N M_i^{2N−2}) (λ_i ≥ 0), 1/((3N−2) M_i^{2N−2}) (λ_i < 0)"),
        checks.at_most(
            "matrix GD = scalar recursion (7) up to round-off (max deviation / budget)",
            1.0,
            float(np.max(dev / budget)) if k else np.nan,
            source="seed 000, §2: D^(k) = VᵀW_j^(k)V diagonal, identical, following (7)",
            basis="round-off budget (k+1)·N·(nN+4)·u per snapshot (roundoff_tolerance): linear growth of γ_{nN+4}",
            detail=("the full 4×4 matrix path never leaves (7)" if departed is None else
                    f"the full matrix path departs from (7) at step {departed} (first snapshot over the budget)"),
            requires=(h8,),
        ),
        checks.at_most(
            "‖W^(K) − VΛ₊Vᵀ‖_F at the last step (Thm 2.2)", cfg.tol, np.linalg.norm(W_end - target),
            source=src, basis="tol (config): the limit is reached to this accuracy once the excess loss is below loss_tol",
            requires=(h8,), **conv,
        ),
    ]  # fmt: skip
    for i, li in enumerate(lam):
        found.append(checks.close(
            f"eigenvalue λ={li:g} → {max(li, 0):g} (d_i → (λ_i)₊^(1/N))", max(li, 0.0), eig[-1, i], cfg.tol,
            source="seed 000, Thm 2.1 (for d_i) and Thm 2.2", basis="tol (config), at a converged run",
            requires=(h8, h21), **conv,
        ))  # fmt: skip
    pos = [i for i, li in enumerate(lam) if li > 0]
    rtol = euler_time_rtol(cfg.eta, cfg.alpha, problem.W_hat, N)
    times = {}
    for i in pos:
        pred = theory.flow_time_to_reach(float(lam[i]), cfg.alpha, N, lam[i] / 2)
        times[i] = obs = crossing_time(t, eig[:, i], lam[i] / 2)
        found.append(checks.close(
            f"λ={lam[i]:g}: time to reach λ/2 = scalar-flow quadrature", pred, obs, rtol, rel=True,
            source="seed 000, Thm 2.1 (dynamics of (7)); flow time ∫ ds/(s^{N−1}(λ − s^N))",
            basis="½ η (3N−2) M^{2N−2} = ½ η/η_max(8): first-order Euler time error (euler_time_rtol)",
            requires=(h8,), detail="evaluated at a converged run (an unconverged one may not have reached λ/2)",
            **conv,
        ))  # fmt: skip
    predicted = [float(lam[i]) for i in sorted(pos, key=lambda i: -lam[i])]
    observed = [float(lam[i]) for i in sorted(pos, key=lambda i: times[i])]
    found.append(checks.holds(
        "positive eigenvalues are learned largest first", observed == predicted,
        predicted="order " + ", ".join(f"{x:g}" for x in predicted) + " (by time to reach λ/2)",
        observed="order " + ", ".join(f"{x:g}" for x in observed),
        source="seed 000, §4: dominant eigenvalues are approximated faster", requires=(h8,), **conv,
    ))  # fmt: skip
    notes = [f"path: {traj.path}",
             "full matrix path vs (7): " + ("within the round-off budget at every snapshot" if departed is None
                                             else f"departs at step {departed}")]  # fmt: skip
    return Result(rows=rows, checks=found, notes=notes)


def summary(rows, cfg: Config) -> dict[str, float]:
    """Per-run numbers for sweep figures: final distance to Λ₊ and the time to learn the top eigenvalue."""
    eig = rows[rows.series == "eigenvalue"]
    last = eig[eig.t == eig.t.max()]
    err = float(np.max(np.abs(last.value - np.maximum(last["lambda"], 0.0))))
    top = eig[eig["lambda"] == eig["lambda"].max()].sort_values("t")
    reached = top[top.value >= 0.5 * top["lambda"]]
    t_top = float(reached.t.iloc[0]) if len(reached) else float("nan")
    return {"max |eig − λ₊| at the end": err, "time to learn λ_max / 2": t_top}


def summaries(rows) -> pd.DataFrame:
    """``summary`` for many runs at once (rows with a ``hash`` column → one row per hash): the same
    numbers, one pandas pass instead of one call per run (a 10⁴-run sweep's report)."""
    eig = rows[rows.series == "eigenvalue"]
    last = eig[eig.t == eig.groupby("hash").t.transform("max")]
    err = (last.value - np.maximum(last["lambda"], 0.0)).abs().groupby(last["hash"]).max()
    top = eig[eig["lambda"] == eig.groupby("hash")["lambda"].transform("max")]
    reached = top[top.value >= 0.5 * top["lambda"]]
    t_top = reached.groupby("hash").t.min().reindex(err.index)
    return pd.DataFrame({"max |eig − λ₊| at the end": err.astype(float),
                         "time to learn λ_max / 2": t_top.astype(float)})  # fmt: skip


def plot(rows, cfg: Config):
    eig = rows[(rows.series == "eigenvalue") & (rows.step > 0)]
    fig, axes = plots.figure(1, 1, width=5.5, height=3.6)
    ax = axes[0, 0]
    for i, g in eig.groupby("i"):
        lam = g["lambda"].iloc[0]
        ax.plot(g.step, g.value, color=plots.color(i), label=f"λ = {lam:g}")
        ax.axhline(max(lam, 0), color=plots.color(i), ls=":", lw=0.8)
    ax.set(
        xscale="log",
        xlabel="iteration k",
        ylabel="eigenvalue of $W^{(k)}$ in V",
        title=f"identical init, N={cfg.depth}, α={cfg.alpha:g}, η={cfg.eta:g}",
    )
    ax.legend(fontsize=8)
    return {"eigenvalues": fig}
