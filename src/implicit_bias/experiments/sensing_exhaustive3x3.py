"""On every 3×3 PSD completion problem with m = 4 observed entries, the flow on UUᵀ from small αI ends near minimum trace.

Seed 002 (Gunasekar et al. 2017), "Exhaustive search: all PSD matrix completion problems in 3×3 with
m = 4". Every set of 4 of the 6 entries of a symmetric 3×3 matrix (diagonal and upper triangle; 15
sets), each with ``n_truths`` random rank-1 PSD ground truths X* = uuᵀ/‖uuᵀ‖_F, u ~ N(0, I): gradient
flow on X = UUᵀ (U ∈ R^{3×3}) from U₀ = αI, all problems in one vmap, against the PSD nuclear-norm
minimizer X_NN = argmin{tr X : X_ij = X*_ij observed, X ⪰ 0} (cvxpy/SCS; on the few programs where SCS
stops "optimal_inaccurate", e.g. 1 of 150 at seed 1 with residual 5e-6, ``min_nuclear_norm`` re-solves
with Clarabel and the notes count them). A problem is "within 1e-3"
when |tr X(t1) / tr X_NN − 1| ≤ 1e-3 (the trace is what the conjecture says is minimized; X_NN itself
need not be unique, e.g. when the whole diagonal is observed). Since issue 12 every flow runs until
its loss is below ``loss_tol`` (1e-14, implicit Kvaerno5 for the stiff tail) and the claims are rates
over the problems with one-sided 95% Clopper–Pearson bounds.

Expected at the defaults (150 problems, t1 = 2·10⁴): 144/150 (96%) within 1e-3 at α = 10⁻⁶, 87% at
α = 10⁻³; 140 of 150 runs converged (loss ≤ 1e-12). The worst case is a slow run (loss 5e-7 at t1,
trace ratio 0.39: it has not finished filling in X_22, which is large because u_1 is small); the
other slow runs sit at ratios 0.96 and 1.03. Among converged runs the largest excess trace is 0.5% at
α = 10⁻⁶ (2% at 10⁻³), on the set {X_12, X_13, X_22, X_33}: it shrinks slowly with α, and no converged
run is below X_NN's trace.

    implicit-bias run sensing_exhaustive3x3                 # ~30 s
    implicit-bias run sensing_exhaustive3x3 --set n_truths=20
"""

import dataclasses
import itertools
from typing import Annotated

import numpy as np
from annotated_types import Ge, Le

from implicit_bias import checks, plots
from implicit_bias.baselines import nuclear
from implicit_bias.config import Count, Fraction, Positive, Scale, Seed, Time, Tol
from implicit_bias.experiments import Result, series_rows
from implicit_bias.models.symmetric import SymmetricFactor
from implicit_bias.optim import GradientFlow, fit_batch
from implicit_bias.problems import sensing
from implicit_bias.theory import sensing as theory

SEED = "002"
ORDER = 2
TITLE = "Exhaustive 3×3 PSD completion with m = 4: flow from small αI vs minimum trace"

TINY = {"n_truths": 2, "t1": 2000.0, "alphas": (1e-2, 1e-4), "min_fraction": 0.5, "loss_tol": 1e-10}

POSITIONS = [(i, j) for i in range(3) for j in range(i, 3)]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config:
    m: Annotated[int, Ge(1), Le(6)] = 4  # observed entries, of the 6 free ones of a symmetric 3×3
    n_truths: Count = 10  # random rank-1 ground truths per observation set
    alphas: tuple[Scale, ...] = (1e-3, 1e-6)
    t1: Time = 20_000.0
    within: Positive = 1e-3
    min_fraction: Fraction = 0.9  # fraction within 1e-3 required at the smallest α
    seed: Seed = 0
    loss_tol: Tol = 1e-14  # every flow runs until its training loss is below this
    t1_limit: Time = 1e10  # a cap only: the flow stops at loss_tol


def make_problems(cfg: Config):
    if not 1 <= cfg.m <= len(POSITIONS):
        raise ValueError(f"m must be in 1..6 for a symmetric 3×3 matrix, got {cfg.m}")
    rng = np.random.default_rng(cfg.seed)
    problems, sets = [], []
    for S in itertools.combinations(POSITIONS, cfg.m):
        for _ in range(cfg.n_truths):
            u = rng.standard_normal(3)
            X = np.outer(u, u)
            problems.append(sensing.completion_as_sensing(X / np.linalg.norm(X), S, symmetric=True))
            sets.append(S)
    return problems, sets


def run(cfg: Config) -> Result:
    problems, sets = make_problems(cfg)
    X_nn = [nuclear.min_nuclear_norm(p, psd=True) for p in problems]
    # run until the loss is below loss_tol (t1_limit only caps the time): the slow runs of the old
    # fixed horizon t1 = 2·10⁴ (loss 5e-7, trace ratio 0.39) are followed to their limit
    # implicit Kvaerno5: the tail is stiff (observed entries relax at rate O(1), others like 1/t)
    flow = GradientFlow(t1=cfg.t1_limit, n_saves=10, spacing="log", t_first=1.0, rtol=1e-8,
                        atol=1e-12, loss_tol=cfg.loss_tol, solver="kvaerno5")  # fmt: skip
    rows, found, notes, dev, losses, conv, loss_of = [], [], [], {}, [], {}, {}
    for a in cfg.alphas:
        model = SymmetricFactor(n=3, d=3, init="identity", alpha=a)
        traj = fit_batch(model, problems, flow, params0=[model.init_params()] * len(problems),
                         label=f"flow α={a:g} ×{len(problems)}")  # fmt: skip
        U = np.asarray(traj.final)
        X = np.einsum("bid,bjd->bij", U, U)
        ratio = np.array([theory.nuclear_ratio(X[b], X_nn[b].X) for b in range(len(problems))])
        loss = np.array(
            [float(problems[b].loss(X[b])) for b in range(len(problems))]
        )  # at the stop
        losses.append(loss.max())
        loss_of[a] = loss
        conv[a] = loss <= cfg.loss_tol
        dev[a] = np.abs(ratio - 1)
        for b in range(len(problems)):
            rows.append({"t": a, "series": "trace_ratio", "i": b, "value": float(ratio[b]),
                         "final_loss": float(loss[b]), "set": str(sets[b])})  # fmt: skip
        rows += series_rows([a], [float(np.mean(dev[a] <= cfg.within))], series="fraction_within")
        worst = np.argsort(-dev[a])[:5]
        notes.append(
            f"α={a:g}: {(dev[a] <= cfg.within).sum()}/{len(problems)} within {cfg.within:g}, "
            f"largest loss {loss.max():.1e}; min ratio {ratio.min():.6f}; worst (set, tr ratio, "
            "final loss): " + "; ".join(f"{sets[b]}, {ratio[b]:.4f}, {loss[b]:.1e}" for b in worst)
        )
        # weak duality at a near-interpolant: tr X ≥ yᵀν + ⟨ν, A(X) − y⟩ ≥ tr X_NN − ‖ν‖√(2L)
        floor = np.array([1 - np.linalg.norm(X_nn[b].dual) * np.sqrt(2 * loss[b]) / X_nn[b].value
                          - 1e-6 for b in range(len(problems))])  # fmt: skip
        found.append(checks.sanity(
            f"α={a:g}: no limit has trace below the minimum (weak duality), worst margin",
            bool(np.all(ratio >= floor)),
            predicted="tr X/tr X_NN ≥ 1 − ‖ν‖√(2L)/tr X_NN − 1e-6, every problem",
            observed=float(np.min(ratio - floor)),
            basis="weak duality with the SCS dual ν at the flow's loss L; 1e-6 for SCS eps 1e-9",
        ))  # fmt: skip
    small, large = min(cfg.alphas), max(cfg.alphas)
    n = len(problems)
    kkt = [nuclear.psd_kkt(p, x.X, x.dual) for p, x in zip(problems, X_nn)]
    kkt_worst = max(max(k.values()) for k in kkt)
    # a problem counts for a rate claim only if its flows converged and its X_NN is certified;
    # the others count as failures of the event (a conservative rate: nothing is dropped)
    cert = np.array([max(k.values()) <= 1e-6 for k in kkt])
    usable_small = conv[small] & cert
    usable_both = conv[small] & conv[large] & cert
    k_within = int(np.sum((dev[small] <= cfg.within) & usable_small))
    k_closer = int(np.sum((dev[small] <= dev[large]) & usable_both))
    excluded = (
        f"; counted as failures: {int(np.sum(~conv[small] & cert))} unconverged, "
        f"{int(np.sum(~cert))} with an uncertified X_NN"
    )

    def lim(usable, alphas):  # the largest loss among the problems that count (all ≤ loss_tol)
        used = [l_[usable] for l_ in (loss_of[a] for a in alphas)]
        worst = max((float(u.max()) for u in used if u.size), default=0.0)
        return {"loss": worst, "loss_tol": cfg.loss_tol}

    src = "seed 002, 'Exhaustive search' (conjecture: α → 0 limit = X_NN)"
    found += [
        checks.hypothesis(
            "flow interpolates: training loss ≤ loss_tol",
            bool(max(losses) <= cfg.loss_tol),
            predicted=f"≤ {cfg.loss_tol:g}, every problem and α",
            observed=float(max(losses)),
            source="seed 002: the conjecture assumes f(U_∞) = 0",
            basis="the conjecture's premise, reached by running the flow to loss_tol",
        ),
        checks.at_least(
            f"limit within {cfg.within:g} of the minimum trace at α = {small:g}: rate, 95% lower bound",
            0.5,
            checks.binomial_lower(k_within, n),
            source=src,
            basis="one-sided 95% Clopper–Pearson bound over the problems exceeds ½ (the conjecture "
            f"predicts all); 'within {cfg.within:g}' is fixed a priori; a problem whose flow did "
            "not reach loss_tol or whose X_NN has no KKT certificate counts as a failure",
            detail=f"{k_within}/{n} problems{excluded}",
            **lim(usable_small, [small]),
        ),
        checks.at_least(
            f"smaller α ends closer to the minimum trace (α = {small:g} vs {large:g}): rate, 95% lower bound",
            0.5,
            checks.binomial_lower(k_closer, n),
            source=src,
            basis="one-sided 95% Clopper–Pearson bound exceeds ½: |tr X_∞/tr X_NN − 1| at the "
            "smaller α ≤ at the larger, per problem; unconverged or uncertified problems count "
            "as failures",
            detail=f"{k_closer}/{n} problems{excluded}",
            **lim(usable_both, [small, large]),
        ),
        checks.sanity(
            "X_NN KKT certificate (SCS dual): A*(ν) ⪯ I, A*(ν)X = X, yᵀν = tr X, A(X) = y",
            kkt_worst <= 1e-6,
            predicted="every residual ≤ 1e-6, max over problems",
            observed=kkt_worst,
            source="seed 002, 'Proof strategy' (KKT conditions)",
            basis="SCS eps 1e-9 (Clarabel fallback) on unit-scale data",
        ),
    ]
    fallback = [b for b, x in enumerate(X_nn) if x.status != "optimal"]
    notes.append(
        f"X_NN: {len(X_nn) - len(fallback)} programs solved by SCS, {len(fallback)} re-solved: "
        + ("; ".join(f"{sets[b]}: {X_nn[b].status}" for b in fallback) or "none")
    )
    return Result(rows=rows, checks=found, notes=notes)


def plot(rows, cfg: Config):
    fig, axes = plots.figure(2, 1, width=4.6, height=3.4)
    tr = rows[rows.series == "trace_ratio"]
    ax = axes[0, 0]
    for k, (a, g) in enumerate(tr.groupby("t")):
        dev = np.sort(np.abs(g.value.to_numpy() - 1))
        frac = np.arange(1, dev.size + 1) / dev.size
        ax.step(np.maximum(dev, 1e-12), frac, where="post", color=plots.color(k), label=f"α={a:g}")
    ax.axvline(cfg.within, color="0.5", ls=":", label=f"{cfg.within:g}")
    ax.set(xscale="log", xlabel="|tr X(t1) / tr X_NN − 1|", ylabel="fraction of problems ≤ x",
           title="all 3×3 PSD completions, m = 4")  # fmt: skip
    ax.legend(fontsize=7)
    ax = axes[0, 1]
    small = tr[tr.t == tr.t.min()]
    per_set = small.assign(dev=np.abs(small.value - 1)).groupby("set").dev.max().sort_values()
    ax.barh(range(len(per_set)), np.maximum(per_set.to_numpy(), 1e-12), color=plots.color(0))
    ax.set_yticks(range(len(per_set)), [s.replace("), (", ")(") for s in per_set.index], fontsize=5)
    ax.axvline(cfg.within, color="0.5", ls=":")
    ax.set(xscale="log", xlabel=f"worst |ratio − 1| per observed set, α={tr.t.min():g}")
    return {"exhaustive": fig}
