"""Deep factorizations recover a 20×20 rank-2 matrix from fewer Gaussian measurements than the nuclear norm.

Seed 003 ("Low rank matrix recovery via deep matrix factorization: recovery of X ∈ R^{20×20} of rank 2
from Gaussian random measurements"; the seed shows the figure without its settings, so ours are our
own). X* = GHᵀ, ‖X*‖_F = 1; m general Gaussian A_i (scaled by 1/√m), m ∈ {40, 80, 120, 160, 240, 400}
(rank-2 matrices have r(2n − r) = 76 degrees of freedom). The gradient flow on W = W_N ⋯ W_1 for
N = 2 … 4 from an orthogonal init of end-to-end scale 1e-4, integrated by the matrix-free Rosenbrock
solver (rtol 1e-5) until the loss is ≤ ``loss_rtol`` (10⁻⁸) × initial; depth 1 is GD from 0
(η = 0.9/‖A‖²_op, 1.5·10⁴ steps: the minimum-Frobenius fit). Against X_NN = argmin{‖X‖_* : A(X) = y}
(SCS). Error: ‖W − X*‖_F / ‖X*‖_F.

Claims over the whole range of m (issue 23; "depth beats the nuclear norm" was claimed at m = 120
only, and the strict ordering fails wherever X_NN is exact): at every m and depth N ≥ 3, "error ≤
max(X_NN's, ``recovered`` = 1e-2)", 1e-2 absorbing the finite-init offset (≈ s√(n − r)·κ, see the
claim's basis). It requires the hypothesis m ≥ r(2n − r) = 76 (the measurements can determine a
rank-2 matrix): at m = 40 the claims are outside the theorem, and their verdict is reported: **below
the degrees of freedom the deep flows are worse than X_NN** (depth 3: 1.02, depth 4: 1.26 against
0.98; a finding, not counted).

Expected at the defaults (every flow converged; seed 0): below 76 measurements nothing recovers (m = 40:
all errors ≈ 1). At m = 80 depth 3 and 4 reach 0.34 and 0.41 where X_NN has 0.74; at m = 120 6e-3 and
3e-3 while X_NN (0.35), depth 2 (0.46) and depth 1 (0.87) fail; X_NN is exact from m = 160 on, where
the deep runs sit at 2.3e-3 – 3e-4 (the offset of the finite init scale). Claims 12/12 (2 outside).
Depth 1 equals the pseudo-inverse solution at every m < n², certified (``baselines.regression.
min_norm_certificate``: the duality gap of min ½‖X‖²_F s.t. A(X) = y bounds ‖W − X_F‖) within what
GD from 0 reaches in its step budget.

    implicit-bias run sensing_lowrank_depth                  # ~90 s on 2 cores (18 flows, one compile per m and depth)
    implicit-bias run sensing_lowrank_depth --set "ms=(60,100,140)" --set init_scale=1e-6
"""

import dataclasses

import jax
import numpy as np

from implicit_bias import checks, plots
from implicit_bias.baselines import nuclear, regression
from implicit_bias.config import Count, Depth, Dim, Scale, Seed, Step, Tol
from implicit_bias.experiments import Result, series_rows
from implicit_bias.experiments._constraints import require
from implicit_bias.models.deep_matrix import DeepMatrix, product
from implicit_bias.optim import GD, fit, objective, stiff
from implicit_bias.problems import sensing
from implicit_bias.theory import sensing as theory

SEED = "003"
ORDER = 5
TITLE = "Low-rank recovery from Gaussian measurements: error vs m per depth, next to nuclear norm"

# every m ≥ r(2n − r) = 36: a TINY claim must be inside its theorem (tests/test_experiments.py)
TINY = {"n": 10, "ms": (50, 80), "n_steps": 6000, "depths": (1, 3)}


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config:
    n: Dim = 20
    rank: Dim = 2
    ms: tuple[Count, ...] = (40, 80, 120, 160, 240, 400)
    depths: tuple[Depth, ...] = (1, 2, 3, 4)
    eta0: Step = 0.9  # depth 1 (GD from 0): η = η₀/‖A‖²_op
    n_steps: Count = 15_000  # depth 1's GD steps
    init_scale: Scale = 1e-4  # depth ≥ 2: orthogonal factors, end-to-end scale init_scale
    # a deep run counts as recovering X* below this error: the offset of the finite init scale
    # s (≈ s√(n − r)·κ, see the claim's basis; 2.3e-3 measured at m = 160) is absorbed
    recovered: Tol = 1e-2
    seed: Seed = 0
    loss_rtol: Tol = 1e-8  # converged: final training loss ≤ loss_rtol × initial loss
    rtol: Tol = (
        1e-5  # the flow solver's relative tolerance (global error ∝ rtol, tests/test_stiff.py)
    )
    max_flow_steps: Count = 50_000  # the flow's step budget; a flow that spends it is unconverged

    def check(self) -> None:
        """Cross-field constraints (``config.validate`` calls this)."""
        require(
            self.rank <= self.n,
            f"rank = {self.rank} must be <= n = {self.n} (X* is n×n of rank `rank`)",
        )


def make_problem(cfg: Config, m: int):
    X_star = sensing.low_rank_truth(cfg.seed, cfg.n, cfg.rank, psd=False)
    return sensing.random_sensing(cfg.seed, X_star, m, ensemble="general", m_test=10)


def pinv_accuracy(M, eta0: float, n_steps: int) -> dict:
    """What GD from 0 (η = η₀/‖A‖², k = ``n_steps`` steps) must reach on min ‖X‖_F s.t. A(X) = y,
    relative to ‖X_F‖: exact arithmetic, x_k − x_F = (I − ηAᵀA)^k(−x_F) on range(Aᵀ), so ‖x_k − x_F‖
    ≤ (1 − ησ_min²)^k‖x_F‖ (σ_min the smallest nonzero singular value); round-off, per step (first
    order in u, the standard bound |fl(Ax) − Ax| ≤ γ_N|A||x|, Higham §3.5) ≤ u(1 + η₀N‖|A|‖₂/‖A‖₂)‖x‖
    with ‖x_j‖ ≤ ‖x_F‖, accumulated over k steps (the null-space part is not contracted); and the
    certificate's least-squares solves, κ(A)(m + N)u (Higham §20.1). Returns the parts and their sum
    ``accuracy``."""
    m, N = M.shape
    s = np.linalg.svd(M, compute_uv=False)
    s_min = float(s[s > s[0] * max(m, N) * U_ROUND][-1])
    eta = eta0 / float(s[0]) ** 2
    contraction = float((1.0 - eta * s_min**2) ** n_steps)
    roundoff = (
        n_steps * U_ROUND * (1.0 + eta0 * N * float(np.linalg.norm(np.abs(M), 2)) / float(s[0]))
    )
    solve = float(s[0] / s_min) * (m + N) * U_ROUND
    return {"contraction": contraction, "roundoff": roundoff, "solve": solve,
            "accuracy": contraction + roundoff + solve}  # fmt: skip


U_ROUND = 2.0**-53


def run(cfg: Config) -> Result:
    key = jax.random.key(cfg.seed)
    rows, err = [], {}
    lossr, work, pinv = {}, {}, {}
    for m in cfg.ms:
        problem = make_problem(cfg, m)
        X = np.asarray(problem.X_star)
        L = np.linalg.norm(np.asarray(problem.A).reshape(m, -1), 2) ** 2
        err[("nuclear", m)] = theory.relative_distance(
            nuclear.min_nuclear_norm(problem, eps=1e-7, max_residual=1e-4).X, X
        )
        X_f = nuclear.min_frobenius(problem).X
        for N in cfg.depths:
            model = DeepMatrix(depth=N, n=cfg.n, init="orthogonal" if N > 1 else "identical",
                               alpha=cfg.init_scale ** (1.0 / N) if N > 1 else 0.0)  # fmt: skip
            if (
                N == 1
            ):  # GD from 0: the minimum-Frobenius (pinv) fit, the seed's least-squares claim
                method = GD(eta=cfg.eta0 / L, n_steps=cfg.n_steps, n_saves=30)
                traj = fit(model, problem, method, key, observe=product, label=f"GD N=1, m={m}")
                W, t, loss = np.asarray(traj.observed[-1]), traj.t, np.asarray(traj.loss)
                t = np.asarray(t) * method.eta  # on the flow's time axis
            else:  # the gradient flow (Rosenbrock), stopped once interpolating
                p0 = model.init_params(key)
                L0 = float(objective(model, problem, p0))
                res = stiff.fit_flow(model, problem, p0, loss_tol=cfg.loss_rtol * L0, rtol=cfg.rtol,
                                     max_steps=cfg.max_flow_steps, observe=product)  # fmt: skip
                ok = np.isfinite(np.asarray(res.t))
                W = np.asarray(product(res.final))
                t, loss = np.asarray(res.t)[ok], np.concatenate([[L0], np.asarray(res.loss)[ok]])
                t = np.concatenate([[0.0], t])
                work[(N, m)] = res.evals
            err[(N, m)] = theory.relative_distance(W, X)
            lossr[(N, m)] = float(problem.loss(W)) / float(loss[0])
            if N == 1 and m < cfg.n**2:
                cert = regression.min_norm_certificate(problem.A, problem.y, W)
                acc = pinv_accuracy(np.asarray(problem.A).reshape(m, -1), cfg.eta0, cfg.n_steps)
                pinv[m] = (cert, acc, float(np.linalg.norm(W - X_f)))
            rows += series_rows(t, loss, series="train_loss", depth=N, m=m)
        for k in ["nuclear", *cfg.depths]:
            rows.append({"t": m, "series": "error", "value": err[(k, m)], "method": str(k)})

    deep = [N for N in cfg.depths if N >= 3]
    under = [m for m in cfg.ms if m < cfg.n**2]  # at m ≥ n² the program has one feasible point
    big = max(under) if under else max(cfg.ms)
    src = (
        "seed 003, 'Low rank matrix recovery via deep matrix factorization' (figure, 20×20 rank 2)"
    )
    found = []
    dof = cfg.rank * (2 * cfg.n - cfg.rank)  # dimension of the rank-r matrices
    for m in cfg.ms:
        enough = f"m = {m} ≥ r(2n − r) = {dof} (the measurements can determine a rank-r matrix)"
        found.append(checks.hypothesis(
            enough,
            m >= dof,
            predicted=f"≥ {dof}",
            observed=m,
            source="seed 003, 'Model problem: Low rank matrix recovery' (m ≪ n² but enough to "
            "determine a rank-r W)",
            basis="a rank-r n×n matrix has r(2n − r) degrees of freedom: below that the rank-r "
            "interpolants form a manifold and no method recovers a generic X*",
        ))  # fmt: skip
        for N in deep:
            hyp = f"depth {N}, m = {m}: the flow reaches loss ≤ loss_rtol × initial"
            bound = max(err[("nuclear", m)], cfg.recovered)
            found.append(checks.hypothesis(
                hyp,
                lossr[(N, m)] <= cfg.loss_rtol,
                predicted=f"≤ {cfg.loss_rtol:g} × initial within {cfg.max_flow_steps} flow steps",
                observed=lossr[(N, m)],
                basis="the comparison is between (near-)interpolants",
            ))  # fmt: skip
            found.append(checks.at_most(
                f"depth {N} error ≤ max(nuclear norm's, {cfg.recovered:g}) at m = {m}",
                bound,
                err[(N, m)],
                source=src,
                basis=f"the figure's deep curves lie on or below the nuclear norm's at every m; "
                f"'recovered' = {cfg.recovered:g} absorbs the offset of the finite init scale s "
                f"= {cfg.init_scale:g}: the n − r singular values the data leave free stay O(s) "
                "(at depth N ≥ 3 they move like σ^(2−2/N)), so a recovering flow ends ≈ "
                "s√(n − r)·κ from X*, κ = 1 + ‖A‖/σ_min(A on the rank-r tangent space) ≈ 10 near "
                "the threshold (≈ 4e-3); evaluated at a converged run",
                detail=f"X_NN {err[('nuclear', m)]:.3g}, depth {N} {err[(N, m)]:.3g}",
                loss=lossr[(N, m)],
                loss_tol=cfg.loss_rtol,
                requires=(hyp, enough),
            ))  # fmt: skip
    found.append(checks.at_most(
        f"nuclear norm exact at m = {big}",
        1e-4,
        err[("nuclear", big)],
        source="Candès & Recht (2009), Candès & Plan (2010), cited in seed 003",
        basis="SCS eps 1e-7 on unit-scale data; 1e-4 ≫ that",
    ))  # fmt: skip
    if pinv:  # depth 1 ran at some m < n²
        # the m whose certified bound is closest to (or furthest past) its accuracy
        m1 = max(
            pinv, key=lambda m: pinv[m][0]["bound"] / pinv[m][0]["norm"] / pinv[m][1]["accuracy"]
        )
        cert, acc, _ = pinv[m1]
        found.append(checks.certified(
            "depth 1 (GD from 0) = pinv solution argmin ‖X‖_F: certified ‖W − X_F‖_F/‖W‖_F, worst m",
            primal=cert["primal"], dual=cert["dual"], gap=cert["gap"], feasibility=cert["feasibility"],
            modulus=cert["modulus"], bound=cert["bound"] / cert["norm"], accuracy=acc["accuracy"],
            source="seed 002, 'Least squares': x₀ = 0 ⇒ GD → argmin_{Ax=y} ‖x‖₂",
            basis="duality certificate of min ½‖X‖²_F s.t. A(X) = y (baselines.regression."
            "min_norm_certificate): ν = argmin ‖A*ν − W‖, D(ν) = yᵀν − ½‖A*ν‖², X̂ = W − A⁺(A(W) − y), "
            "G = ½‖X̂ − A*ν‖², ‖W − X_F‖ ≤ ‖W − X̂‖ + √(2G) (modulus 1); accuracy: what GD from 0 "
            "reaches in exact arithmetic, (1 − η σ_min(A)²)^k (the range error starts at ‖X_F‖ and "
            "contracts by that factor per step), + the round-off of k steps, k·u(1 + η₀N‖|A|‖/‖A‖) "
            "(the null-space part is not contracted) + the certificate's own, κ(A)(m + N)u",
            certificate={"m": m1, "offset": cert["offset"], "radius": cert["radius"],
                         "norm": cert["norm"], **acc},
            detail="per m (bound vs accuracy; true ‖W − pinv‖/‖W‖ for comparison): " + "; ".join(
                f"m={m}: {c['bound'] / c['norm']:.2e} vs {a['accuracy']:.2e} ({d / c['norm']:.2e})"
                for m, (c, a, d) in pinv.items()),
        ))  # fmt: skip
    notes = [
        "flow work (gradients + HVPs) by (depth, m): "
        + ", ".join(f"({N}, {m}): {w:,}" for (N, m), w in work.items()),
        "relative error by m: "
        + "; ".join(
            f"m={m}: " + ", ".join(f"{k}: {err[(k, m)]:.3g}" for k in ["nuclear", *cfg.depths])
            for m in cfg.ms
        ),
    ]
    return Result(rows=rows, checks=found, notes=notes)


def plot(rows, cfg: Config):
    fig, axes = plots.figure(1, 1, width=5.0, height=3.6)
    ax = axes[0, 0]
    er = rows[rows.series == "error"]
    for k, (method, g) in enumerate(er.groupby("method", sort=False)):
        if method == "nuclear":
            ax.plot(g.t, np.maximum(g.value, 1e-10), "k--", label="nuclear norm")
        else:
            ax.plot(
                g.t, np.maximum(g.value, 1e-10), "o-", color=plots.color(k), label=f"depth {method}"
            )
    ax.axvline(cfg.rank * (2 * cfg.n - cfg.rank), color="0.6", ls=":", label="r(2n − r)")
    ax.set(yscale="log", xlabel="measurements m", ylabel="‖W − X*‖_F / ‖X*‖_F",
           title=f"{cfg.n}×{cfg.n}, rank {cfg.rank}, Gaussian A_i")  # fmt: skip
    ax.legend(fontsize=7)
    return {"lowrank_depth": fig}
