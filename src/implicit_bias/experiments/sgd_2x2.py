"""SGD with weight decay jumps from rank 2 to rank 1 on the 2×2 completion; offshoots taken after the jump generalize.

Seed 001 (Wang & Jacot), the experiment slide: observe (1, *; ε, 1) with a depth-L linear network
A_θ = W_L ⋯ W_1; the rank-1 truth has * = 1/ε. SGD θ ← (1 − 2ηλ)θ − (η/2)∇(A*_ij − (A_θ)_ij)² with one
uniform entry per step. We plot the ratio s₂/s₁ of A_θ (red) and the test error on * (light blue);
"offshoots" restart from checkpoints with smaller η and λ (dark blue) and are run to convergence.

Expected at the defaults (ε = 0.2, L = 3, η = 0.3, λ = 0.03, 48 Gaussian inits): the approximate rank
(f_α = min(x/α, 1), α = 0.05) sits at 2 for a while, then drops to 1; full-batch GD with the same λ
from the same inits stays at rank 2 from about half of them, so SGD ends at rank 1 significantly more
often (one-sided Clopper–Pearson bounds). The SGD iterate is shrunk by λ (test error ≈ 0.75);
full-batch GD offshoots (η = 0.05, λ = 1e-4) from after the jump end at the rank-1 minimum of their
loss (test error ≈ 0.04, computed independently from the balanced rank-1 truth), those from before
it at rank-2 fits (≈ 0.85–0.89). The figure shows one run.

The one-way claim, as the seed states it (issue 23: it counted only rises after "a jump from a
rank-2 phase"): no rise of the rank level from inside B_1 (ε₁ = 0.1, ε₂ = 0.1, C = 4), at any step
of any run. Every rise of the rank level from ≤ 1 is counted at every step (the rank-only watch), and
the runs with one are replayed step by step with their own indices to tell rises from inside B_1
from rises in an unbalanced state. Seeds 0, 2, 4: no rise at all. **Seeds 1 and 3: the claim
FAILS** (a finding, kept): 2 rises from inside B_1 in one run at seed 1 (step 59) and 4 of 5 rises
in two runs at seed 3 (steps 13 and 56), all in the first 60 steps after the Gaussian init and all
at steps where the derived step-size condition (ii) (``sgd.noise_condition``) fails: η = 0.3 is
not "small enough" for B_1 there, and the seed gives no constant.

    implicit-bias run sgd_2x2                       # ~35 s
    implicit-bias run sgd_2x2 --set eps=0.3 --set seed=4
"""

import dataclasses
from typing import Annotated

import jax
import numpy as np
from annotated_types import Gt, Le

from implicit_bias import checks, plots
from implicit_bias.config import Count, Decay, Depth, Positive, Scale, Seed, Step, Tol
from implicit_bias.experiments import Result, series_rows
from implicit_bias.experiments._constraints import decay_ok, divides, fifty_saves
from implicit_bias.models.deep_matrix import DeepMatrix, balanced_init
from implicit_bias.optim.sgd import SGD, regularized_loss, run_seeds
from implicit_bias.problems.completion import from_entries
from implicit_bias.theory import sgd as theory

SEED = "001"
ORDER = 1
TITLE = "SGD + weight decay: one-way jump to rank 1 on the 2×2 completion, with offshoots"

TINY = {"n_seeds": 24, "n_steps": 10_000, "save_every": 500, "eta": 0.4, "n_offshoots": 2,
        "offshoot_steps": 20_000, "min_rank2": 2}  # fmt: skip


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config:
    eps: Annotated[float, Gt(0), Le(1e3)] = 0.2
    depth: Depth = 3
    init_scale: Scale = 0.7  # Gaussian init, entries N(0, init_scale²)
    eta: Step = 0.3
    lam: Decay = 0.03
    n_steps: Count = 200_000
    save_every: Count = 500
    alpha: Positive = 0.05  # f_α(x) = min(x/α, 1)
    eps2: Positive = 0.1  # rank level: smallest integer r with approximate rank ≤ r + ε₂
    eps1: Positive = 0.1  # B_1's balancedness bound (as in sgd_one_way)
    C: Positive = 4.0  # B_1's bound on ‖W_ℓ‖_F²
    n_offshoots: Count = 10
    offshoot_eta: Step = 0.05
    offshoot_lam: Decay = 1e-4
    offshoot_steps: Count = 100_000
    seed: Seed = 0
    n_seeds: Count = (
        48  # Gaussian inits, one SGD and one GD run each (rates with confidence bounds)
    )
    confidence: Tol = 0.95  # one-sided Clopper–Pearson level
    grad_tol: Positive = 1e-4  # ‖∇L‖ at which a GD offshoot counts as converged
    min_rank2: Count = 4  # snapshots at level 2 (after t = 0) that make a later fall to 1 a "jump"

    def check(self) -> None:
        """Cross-field constraints (``config.validate`` calls this)."""
        divides(self.save_every, "save_every", self.n_steps, "n_steps")
        decay_ok(self.eta, "eta", self.lam, "lam")
        decay_ok(self.offshoot_eta, "offshoot_eta", self.offshoot_lam, "offshoot_lam")
        fifty_saves(self.offshoot_steps, "offshoot_steps")


def problem_2x2(eps: float):
    """Observe (1, *; ε, 1) of the rank-1 matrix (1, 1/ε; ε, 1), normalized loss (1/2N)Σ."""
    if not eps > 0:
        from implicit_bias.errors import ConfigError

        raise ConfigError(f"eps must be > 0 (the missing entry is 1/eps), got {eps}")
    X_star = np.array([[1.0, 1.0 / eps], [eps, 1.0]])
    return from_entries(X_star, [(0, 0), (1, 0), (1, 1)], normalize=True)


def checkpoint(params, runs, snaps):
    """The parameters of run ``runs[k]`` at snapshot ``snaps[k]`` (stacked over k)."""
    return jax.tree.map(lambda x: np.asarray(x)[runs, snaps], params)


def _classify_rises(model, problem, p0, members, seeds, sgd, region):
    """Replay the SGD runs ``members`` of ``p0`` (SGD seeds ``seeds``) step by step with their own
    indices and count the rises of the rank level: from inside B_1 (θ_{t−1} ∈ B_1, θ_t fails the
    rank condition), and those at a step within the step-size condition (ii) (``noise_condition``)."""
    from implicit_bias.optim.sgd import noise_condition, sampled_indices, sgd_step

    N = int(problem.rows.shape[0])
    rank_only = theory.Region(r=1, eps1=1e300, eps2=region.eps2, C=1e300, alpha=region.alpha)
    idx = np.stack([sampled_indices(int(s), sgd.n_steps, sgd.save_every, N, 1) for s in seeds])
    starts = jax.tree.map(lambda x: np.asarray(x)[members], p0)

    def one(p, ids):
        def step(p, t_i):
            t, i = t_i
            eta, lam = sgd.rates(t)  # the run's own schedule
            new = sgd_step(model, problem, p, i, eta, lam)
            lvl_old = theory.region_state(p, region)[0]
            rank_new = theory.region_state(new, rank_only)[0]
            rank_old = theory.region_state(p, rank_only)[0]
            rise = (rank_old <= 1) & (rank_new > 1) & jax.numpy.isfinite(rank_new)
            inside = lvl_old <= 1
            cond = noise_condition(p, new, eta, lam, region.eps1)
            return new, (rise & inside, rise & inside & cond, rise)

        _, (a, b, c) = jax.lax.scan(step, p, (jax.numpy.arange(ids.shape[0]), ids))
        return a.sum(), b.sum(), jax.numpy.argmax(c)

    a, b, f = jax.jit(jax.vmap(one))(starts, idx)
    return {"from_B1": int(np.sum(a)), "from_B1_ii": int(np.sum(b)),
            "first": (np.asarray(f) + 1).tolist()[:12]}  # fmt: skip


def run(cfg: Config) -> Result:
    problem = problem_2x2(cfg.eps)
    model = DeepMatrix(depth=cfg.depth, n=2, init="gaussian", alpha=cfg.init_scale)
    S = cfg.n_seeds
    p0 = jax.vmap(model.init_params)(jax.random.split(jax.random.key(cfg.seed), S))
    obs = theory.Observer(alpha=cfg.alpha, keep_params=True)
    # the rank level at every step (B_1's rank condition only: ε₁, C set out of reach): every rise
    # from level ≤ 1 is counted exactly (n_exit); the runs with one are replayed step by step below
    # to tell rises from inside B_1 (the seed's claim) from rises in an unbalanced/unbounded state
    rank_only = theory.Region(r=1, eps1=1e300, eps2=cfg.eps2, C=1e300, alpha=cfg.alpha)
    region = theory.Region(r=1, eps1=cfg.eps1, eps2=cfg.eps2, C=cfg.C, alpha=cfg.alpha)
    sgd = SGD(eta=cfg.eta, lam=cfg.lam, n_steps=cfg.n_steps, save_every=cfg.save_every)
    seeds = cfg.seed * 1000 + np.arange(S)
    traj, st = run_seeds(model, problem, sgd, p0, seeds, obs, watch=rank_only)
    gd = run_seeds(model, problem, dataclasses.replace(sgd, batch_size=None), p0, seeds, obs)
    t = np.asarray(traj.t[0])
    level = theory.rank_level(traj.observed["rank"], cfg.eps2)  # (S, snapshots)
    gd_level = theory.rank_level(gd.observed["rank"], cfg.eps2)
    s = np.asarray(traj.observed["s"])
    # s₂/s₁ (0 where A_θ = 0: a small init that weight decay takes to the origin)
    ratio = np.divide(s[..., 1], s[..., 0], out=np.zeros_like(s[..., 1]), where=s[..., 0] > 0)
    test = theory.test_errors(traj.observed["A"], problem)
    ok = np.asarray(traj.status) == 0

    # the jump: the first snapshot at level 1 after starting at level 2
    at1 = level <= 1
    k_jump = np.where(at1.any(-1), np.argmax(at1, -1), -1)
    # a jump from a rank-2 phase: level 2 for the first min_rank2 snapshots after t = 0
    jumped = (k_jump > cfg.min_rank2) & np.all(level[:, 1 : cfg.min_rank2 + 1] == 2, axis=-1)
    # offshoots (full-batch GD at smaller η, λ: the basin a checkpoint lies in): one from
    # min_rank2 snapshots after the jump, one from half-way to it (at level 2) for every such run
    after_k = np.minimum(k_jump + cfg.min_rank2, t.size - 1)[jumped]
    half = k_jump // 2
    has_before = jumped & (level[np.arange(S), np.maximum(half, 0)] == 2)
    before_k = half[has_before]
    runs = np.concatenate([np.flatnonzero(jumped), np.flatnonzero(has_before)])
    snaps = np.concatenate([after_k, before_k])
    # the displayed run: the first that jumped with a checkpoint before the jump; offshoots along it
    show = int(np.flatnonzero(has_before)[0]) if has_before.any() else 0
    picks = np.linspace(0, t.size - 1, cfg.n_offshoots + 1).round().astype(int)[1:]
    runs = np.concatenate([runs, np.full(picks.size, show)])
    snaps = np.concatenate([snaps, picks])
    # oracle (last member): the rank-1 minimum of the offshoot loss, by the same GD from the balanced
    # factorization of the rank-1 truth (independent of every SGD run)
    o_start = balanced_init(np.asarray(problem.X_star), cfg.depth)
    starts = jax.tree.map(lambda x, o: np.concatenate([x, np.asarray(o)[None]]),
                          checkpoint(traj.observed["params"], runs, snaps), o_start)  # fmt: skip
    off = SGD(eta=cfg.offshoot_eta, lam=cfg.offshoot_lam, n_steps=cfg.offshoot_steps,
              save_every=cfg.offshoot_steps // 50, batch_size=None)  # fmt: skip
    branch = run_seeds(model, problem, off, starts, np.zeros(runs.size + 1, int), obs)
    off_test = theory.test_errors(branch.observed["A"], problem)  # (offshoots, snapshots)
    off_level = theory.rank_level(branch.observed["rank"], cfg.eps2)
    ends = jax.tree.map(lambda x: np.asarray(x)[:, -1], branch.observed["params"])
    reg = jax.vmap(jax.grad(lambda p: regularized_loss(model, problem, p, cfg.offshoot_lam)))
    gnorm = np.sqrt(sum(np.sum(np.asarray(g) ** 2, axis=(1, 2)) for g in reg(ends)))
    A1 = np.asarray(branch.observed["A"])[-1, -1]
    o_gnorm = float(gnorm[-1])
    A_off = np.asarray(branch.observed["A"])[:, -1]
    n_a, n_b = after_k.size, before_k.size
    dist = np.linalg.norm(A_off - A1, axis=(1, 2))
    A_b = A_off[n_a : n_a + n_b]
    # nearest-minimum classification: each after-offshoot vs the rank-1 minimum and the before ones
    d_b = (
        np.linalg.norm(A_off[:n_a, None] - A_b[None], axis=(2, 3)).min(1)
        if n_b
        else np.full(n_a, np.inf)
    )
    test_a, test_b = off_test[:n_a, -1], off_test[n_a : n_a + n_b, -1]

    rows = series_rows(t, ratio[show], series="s2/s1", method="SGD")
    rows += series_rows(t, test[show], series="test_error", method="SGD")
    rows += series_rows(t, level[show], series="rank_level", method="SGD")
    rows += series_rows(t, np.asarray(traj.loss[show]), series="loss", method="SGD")
    rows += series_rows(t, theory.test_errors(gd.observed["A"][show], problem), series="test_error",
                        method="GD")  # fmt: skip
    rows += series_rows(t, gd_level[show], series="rank_level", method="GD")
    for k, p in enumerate(picks):
        j = n_a + n_b + k
        rows += series_rows(t[p] + np.asarray(branch.t[j]), off_test[j], series="offshoot_test_error",
                            method="offshoot", start=float(t[p]))  # fmt: skip
    rows += series_rows(np.flatnonzero(jumped), t[after_k], series="t_jump", method="SGD")
    rows.append(dict(t=float(t[-1]), series="summary", value=float(np.mean(level[:, -1] == 1)),
                     method="SGD", n=S, exits_B1=int(st["n_exit"].sum())))  # fmt: skip
    rows.append(dict(t=float(t[-1]), series="summary", value=float(np.mean(gd_level[:, -1] == 1)),
                     method="GD", n=S))  # fmt: skip

    k_sgd, k_gd = int(np.sum(level[:, -1] == 1)), int(np.sum(gd_level[:, -1] == 1))
    # the one-way claim, as the seed states it: B_1 is closed, so the rank never rises from inside
    # B_1. Every rise of the rank level from ≤ 1, of every run at every step, is counted (n_exit of
    # the rank-only watch; a diverged run's last rise, to a non-finite level, is its divergence);
    # the runs with a rise are replayed step by step with the same indices and each rise is
    # classified: from inside B_1 or not, at a step within the step-size condition (ii) or not
    rises = np.where(
        ok, st["n_exit"], np.sum(np.isfinite(st["exit_to"]) & (st["exit_step"] >= 0), -1)
    )
    risers = np.flatnonzero(rises > 0)
    cls = (_classify_rises(model, problem, p0, risers, seeds[risers], sgd, region)
           if risers.size else {})  # fmt: skip
    from_B1 = int(cls.get("from_B1", 0))
    from_B1_ii = int(cls.get("from_B1_ii", 0))
    level_rises = int(rises.sum())
    lo_sgd = checks.binomial_lower(k_sgd, S, cfg.confidence)
    hi_gd = checks.binomial_upper(k_gd, S, cfg.confidence)
    HYP = "ηλ < 1/2 (decay factor 1 − 2ηλ > 0)"
    conv = f"GD offshoots stopped at ‖∇L‖ ≤ grad_tol = {cfg.grad_tol:g}"
    loss_off = float(gnorm[: n_a + n_b].max()) if n_a + n_b else np.inf
    found = [
        checks.hypothesis(
            HYP,
            cfg.eta * cfg.lam < 0.5,
            predicted="< 0.5",
            observed=cfg.eta * cfg.lam,
            source="seed 001, the SGD update",
        ),  # fmt: skip
        checks.hypothesis(
            "η small enough for every init: all SGD runs stay finite",
            bool(ok.all()),
            predicted="all finite",
            observed=f"{int((~ok).sum())} diverged of {S}",
            source="seed 001 (small η); a diverged run is left out of the one-way count",
        ),  # fmt: skip
        checks.sanity(
            "offshoot checkpoints on both sides of the jump",
            n_a >= 1 and n_b >= 1,
            predicted="≥ 1 each",
            observed=f"{n_a} after, {n_b} before",
        ),  # fmt: skip
        checks.sanity(
            "oracle: GD from the balanced rank-1 truth is at a critical point",
            o_gnorm <= cfg.grad_tol,
            predicted=f"‖∇L‖ ≤ {cfg.grad_tol:g}",
            observed=o_gnorm,
        ),  # fmt: skip
        checks.holds(
            "SGD ends at rank 1 more often than full-batch GD from the same inits",
            lo_sgd > hi_gd,
            predicted="lower bound (SGD) > upper bound (GD)",
            observed=f"SGD {k_sgd}/{S} (≥ {lo_sgd:.3f}) vs GD {k_gd}/{S} (≤ {hi_gd:.3f})",
            source="seed 001, experiment slide (SGD jumps 2 → 1; GD stays at rank 2)",
            basis=f"one-sided Clopper–Pearson {cfg.confidence:g} over {S} inits",
            requires=(HYP,),
        ),
        checks.at_most(
            "rank rises from inside B_1, every step, every run (one-way: B_1 closed)",
            0,
            from_B1,
            source="seed 001, conclusion ('the inverse is impossible') and closedness of B_r",
            basis="probability 0 in the seed: any exit from B_1 through its rank condition is a "
            "counterexample (counted exactly: every rise of the rank level is replayed); the "
            "seed's 'small enough η' is not required here (reported: rises at steps within the "
            "derived condition (ii))",
            requires=(HYP,),
            detail=f"rank-level rises from level ≤ 1 (any state): {level_rises} in {risers.size} "
            f"runs; from inside B_1 (ε₁={cfg.eps1:g}, ε₂={cfg.eps2:g}, C={cfg.C:g}): {from_B1}, of "
            f"which at a step within (ii): {from_B1_ii}; the others start unbalanced or unbounded "
            f"(first rise steps {cls.get('first', [])}); {int(np.sum(~ok))} diverged",
        ),  # fmt: skip
        checks.holds(
            "offshoots from after the jump end at the rank-1 minimum (nearer to it than to any "
            "before-jump offshoot)",
            bool(n_a and np.all(dist[:n_a] < d_b)),
            predicted="‖A_off − A₁‖ < min_b ‖A_off − A_b‖ for every after-jump offshoot",
            observed=f"max ‖A_off − A₁‖ = {dist[:n_a].max() if n_a else np.nan:.3g}, "
            f"min distance to a before-jump limit {d_b.min() if n_a else np.nan:.3g}",
            source="seed 001, experiment slide (offshoots after the jump generalize)",
            basis=f"a nearest-minimum classification, no tolerance; {conv}, where the error "
            "‖∇L‖/μ (μ ≳ 2λ_off on the slow s₂ direction) is ≪ the distance between the minima",
            loss=loss_off,
            loss_tol=cfg.grad_tol,
            requires=(HYP,),
            detail=f"oracle A₁: GD from the balanced rank-1 truth; its test error "
            f"{float(theory.test_errors(A1, problem)):.4f}",
        ),  # fmt: skip
        checks.holds(
            "offshoots from before the jump generalize worse than every offshoot after it",
            bool(n_b and n_a and test_b.min() > test_a.max()),
            predicted="min test error (before) > max test error (after)",
            observed=f"{test_b.min() if n_b else np.nan:.3g} vs {test_a.max() if n_a else np.nan:.3g}",
            source="seed 001, experiment slide (offshoots before the jump do not generalize)",
            basis="an ordering, no tolerance",
            loss=loss_off,
            loss_tol=cfg.grad_tol,
            requires=(HYP,),
            detail=f"levels of before-jump offshoots: {np.bincount(off_level[n_a : n_a + n_b, -1]).tolist()}",
        ),  # fmt: skip
    ]
    notes = [
        f"SGD: {k_sgd}/{S} at rank 1 at the end, GD: {k_gd}/{S}; jump times (snapshots): "
        f"median {np.median(t[after_k]) if n_a else np.nan:g}",
        f"offshoots: {n_a} after, {n_b} before the jump; final test errors after "
        f"{np.round(test_a, 4).tolist()[:8]}…, before {np.round(test_b, 4).tolist()[:8]}…",
        "f_α(x) = min(x/α, 1): the seed leaves the exact form of f_α open",
    ]
    return Result(rows=rows, checks=found, notes=notes)


def plot(rows, cfg: Config):
    fig, axes = plots.figure(1, 1, width=6.0, height=3.6)
    ax = axes[0, 0]
    sgd = rows[rows.method == "SGD"]
    r = sgd[sgd.series == "s2/s1"]
    ax.plot(r.t, r.value, color="tab:red", label="$s_2/s_1$ (SGD)")
    te = sgd[sgd.series == "test_error"]
    ax.plot(te.t, te.value, color="lightskyblue", label="test error (SGD)")
    off = rows[rows.series == "offshoot_test_error"]
    for k, (_, g) in enumerate(off.groupby("start")):
        ax.plot(
            g.t, g.value, color="navy", lw=1.0, label="offshoots (smaller η, λ)" if k == 0 else None
        )
        ax.plot(g.t.iloc[0], g.value.iloc[0], "o", color="navy", ms=3)
    gd = rows[(rows.method == "GD") & (rows.series == "test_error")]
    ax.plot(gd.t, gd.value, color="0.5", ls="--", lw=1.0, label="test error (full-batch GD)")
    ax.set(xlabel="step t", ylabel="value", ylim=(-0.02, 1.3),
           title=f"2×2 completion, ε={cfg.eps:g}, L={cfg.depth}, η={cfg.eta:g}, λ={cfg.lam:g}")  # fmt: skip
    ax.legend(fontsize=7, loc="upper right")
    return {"jump_offshoots": fig}
