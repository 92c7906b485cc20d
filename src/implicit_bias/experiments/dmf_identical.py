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
    """observe(params) = eigenvalues of W = W_N ⋯ W_1 in the eigenbasis V of Ŵ, and its effective rank."""
    Vj = jnp.asarray(V)

    def observe(params):
        W = product(params)
        return {"eig": metrics.eigenvalues_in_basis(W, Vj), "eff_rank": metrics.effective_rank(W)}

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


def _result(cfg, traj, full, d, eig_decomp, problem, bound):
    error = traj.divergence_error()
    if error is not None:
        return error
    lam, V = eig_decomp
    N = cfg.depth
    W_t = np.asarray(traj.observed)
    eig = np.einsum("ij,sik,kj->sj", V, W_t, V)
    s = np.linalg.svd(W_t, compute_uv=False)
    eff_rank = s.sum(axis=-1) / s[:, 0]
    W_full = np.asarray(full.observed)
    eig_full = np.einsum("ij,sik,kj->sj", V, W_full, V)
    k = min(len(eig_full), len(d))
    rec_dev = np.max(np.abs(eig_full[:k] - d[:k] ** N)) / np.max(np.abs(lam))
    W_end = W_t[-1]
    target = theory.limit_identical(problem.W_hat)
    steps = np.asarray(traj.t)
    rows = series_rows(steps * cfg.eta, eig, series="eigenvalue", per_index={"lambda": lam})
    rows += series_rows(steps * cfg.eta, traj.loss, series="loss")
    rows += series_rows(steps * cfg.eta, eff_rank, series="effective_rank")
    for r, s in zip(rows, np.tile(steps, len(rows) // len(steps))):
        r["step"] = float(s)

    found = [
        checks.at_most(f"step size below bound (8) for N={N}", bound, cfg.eta),
        checks.at_most(
            "matrix GD = scalar recursion (7), max relative deviation",
            1e-10,
            rec_dev,
            detail="full 4×4 matrix products vs an independent NumPy loop of eq. (7)",
        ),
        checks.at_most(
            f"‖W^(K) − VΛ₊Vᵀ‖_F at K={cfg.n_steps} (Thm 2.2)",
            cfg.tol,
            np.linalg.norm(W_end - target),
        ),
    ]
    for i, li in enumerate(lam):
        name = f"eigenvalue λ={li:g} → {max(li, 0):g}"
        found.append(checks.close(name, max(li, 0.0), eig[-1, i], cfg.tol))
    order = [
        int(k)
        for k in np.argsort(
            [_first_time(eig[:, i], 0.5 * li) for i, li in enumerate(lam) if li > 0]
        )
    ]
    found.append(
        checks.holds(
            "positive eigenvalues are learned largest first",
            list(order) == sorted(order),
            predicted="order 10, 7, 5 (by time to reach λ/2)",
            observed=f"order of indices {list(order)}",
        )
    )
    return Result(rows=rows, checks=found, notes=[f"path: {traj.path}"])


def summary(rows, cfg: Config) -> dict[str, float]:
    """Per-run numbers for sweep figures: final distance to Λ₊ and the time to learn the top eigenvalue."""
    eig = rows[rows.series == "eigenvalue"]
    last = eig[eig.t == eig.t.max()]
    err = float(np.max(np.abs(last.value - np.maximum(last["lambda"], 0.0))))
    top = eig[eig["lambda"] == eig["lambda"].max()].sort_values("t")
    reached = top[top.value >= 0.5 * top["lambda"]]
    t_top = float(reached.t.iloc[0]) if len(reached) else float("nan")
    return {"max |eig − λ₊| at the end": err, "time to learn λ_max / 2": t_top}


def _first_time(series, level) -> float:
    above = np.nonzero(np.asarray(series) >= level)[0]
    return float(above[0]) if above.size else np.inf


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
