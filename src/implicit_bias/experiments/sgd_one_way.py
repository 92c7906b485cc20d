"""SGD with weight decay jumps only from high to low rank: hundreds of seeds, B_1 absorbs, no exit within the step-size condition.

Seed 001 (Wang & Jacot): B_r (approximately balanced, approximately rank r, bounded) is closed under
SGD for small η, λ, SGD enters it with positive probability P(θ_{t+T} ∈ B_r | θ_t) ≥ O(r^T) and is
absorbed with probability 1, and at a critical point in B_r, Σ_i f_α(s_i(A)^{2/L}) ≤ r + ε₂ (Lemma).
Starts: full-batch GD with weight decay λ₀ from Gaussian inits (``n_init``) for ``warmup`` steps, to
critical points (‖∇L‖ ≤ grad_tol): those at rank level 2 (≤ ``n_starts``) test the entry into B_1,
those inside B_1 (≤ ``n_inside``) test closedness from the first step, and all of them the Lemma.
From every start: SGD for each (η, λ) of the grid in one vmap, B_1 membership checked at EVERY step
inside the jitted loop.

Claims since issue 23 (they were "P > 0", closedness only in runs filtered after the fact, and a GD
comparison from GD's own critical points, where GD cannot move):
- closedness: EVERY exit from B_1 of every run is counted, per step and per condition (the runs
  with an exit are replayed step by step, ``optim.sgd.replay_exits``); the claim is that none
  happens at a step within the derived step-size condition (ii) (``sgd.noise_condition``: 2η²‖G‖²
  ≤ (1 − (1 − 2ηλ)²)√ε₁, the seed's "small enough η" for the balancedness of B_r);
- P ≥ O(r^T) and absorption: P(θ_T ∈ B_1 | rank-2 start), membership at T itself, rises in T (95%
  lower bound at T = n_steps above the 95% upper bound at n_steps/8; a positive entry probability in
  every window makes it rise to 1), and at the horizon its lower bound exceeds ½;
- SGD vs full-batch GD from the same NON-critical starts (the Gaussian inits themselves, not selected
  by the warm-up; an init whose SGD or GD run diverges is left out of both), at (η_max, λ₀).

Expected at the defaults (2×2 problem of ``sgd_2x2``, ε = 0.2, L = 3, η₀ = 0.3, λ₀ = 0.03, seed 0):
124 rank-2 starts and 32 starts in B_1 out of 240 inits; 8,144 exits from B_1 in 18 runs, all through
balancedness, all at η ≥ 0.3 and none at a step within (ii) (461,401 of the 1,024,934 steps taken
from inside B_1 are within it); P(θ_T ∈ B_1) at (0.4, 0.03): 80, 109, 124, 124 of 124 at T = 7.5k,
15k, 30k, 60k (lower bounds 0.57 → 0.98); from the Gaussian inits SGD 235/235 vs GD 116/235 in B_1
at the horizon (5 of 240 inits left out: a run diverged at η = 0.4); the Lemma holds at every
critical point in B_1.

    implicit-bias run sgd_one_way                   # ~60 s
    implicit-bias sweep sweeps/sgd_one_way_grid.toml   # η × λ × ε × f_α grid
    implicit-bias run sgd_one_way --set n_steps=400000 --set etas=0.1,0.2,0.3
"""

import dataclasses
from typing import Annotated, Literal

import jax
import numpy as np
from annotated_types import Gt, Le

from implicit_bias import checks, plots
from implicit_bias.config import (
    Count,
    Decay,
    Depth,
    Positive,
    Scale,
    Seed,
    Step,
    Tol,
)
from implicit_bias.errors import ConfigError
from implicit_bias.experiments import Result
from implicit_bias.experiments._constraints import decay_ok, divides, require
from implicit_bias.experiments.sgd_2x2 import problem_2x2
from implicit_bias.models.deep_matrix import DeepMatrix
from implicit_bias.optim.sgd import SGD, regularized_loss, replay_exits, run_seeds
from implicit_bias.theory import sgd as theory

SEED = "001"
ORDER = 2
TITLE = "SGD + weight decay: one-way rank jumps over hundreds of seeds"

TINY = {"n_init": 40, "n_starts": 20, "n_inside": 20, "n_steps": 8_000, "warmup": 4_000,
        "min_starts": 12, "etas": (0.05, 0.4), "lams": (0.03,)}  # fmt: skip


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config:
    eps: Annotated[float, Gt(0), Le(1e3)] = 0.2
    depth: Depth = 3
    init_scale: Scale = 0.7
    n_init: Count = 240  # Gaussian inits tried
    n_starts: Count = 256  # rank-2 starts kept (at most)
    min_starts: Count = 20
    warmup: Count = 20_000  # full-batch GD steps (η₀, λ₀) to reach the rank-2 states
    eta0: Step = 0.3
    lam0: Decay = 0.03
    etas: tuple[Step, ...] = (0.05, 0.3, 0.35, 0.4)
    lams: tuple[Decay, ...] = (0.027, 0.03)
    n_steps: Count = 60_000
    save_every: Count = 500
    alpha: Positive = 0.05
    eps1: Positive = 0.1
    eps2: Positive = 0.1
    C: Positive = 4.0
    seed: Seed = 0
    f_alpha: Literal["linear", "sqrt", "smooth"] = (
        "linear"  # f_α of the approximate rank (theory.sgd.F_ALPHA)
    )
    n_inside: Count = (
        32  # warm-up states inside B_1 kept as starts (closedness from the first step)
    )
    confidence: Tol = 0.95  # one-sided Clopper–Pearson level of the rate bounds
    grad_tol: Positive = 1e-9  # ‖∇L‖ below which a warm-up endpoint counts as a critical point

    def check(self) -> None:
        """Cross-field constraints (``config.validate`` calls this)."""
        require(
            self.lam0 in self.lams,
            f"lams = {self.lams} must contain lam0 = {self.lam0:g} (the rank-2 starts are GD-critical there)",
        )
        for name in ("n_init", "n_starts", "n_inside"):
            require(
                getattr(self, name) >= self.min_starts,
                f"{name} = {getattr(self, name)} must be >= min_starts = {self.min_starts} (fewer starts can never meet the hypothesis)",
            )
        divides(self.save_every, "save_every", self.n_steps, "n_steps")
        decay_ok(self.eta0, "eta0", self.lam0, "lam0")
        decay_ok(max(self.etas), "etas", max(self.lams), "lams")


def _stack(trees):
    return jax.tree.map(lambda *x: np.stack(x), *trees)


def _take(tree, idx):
    return jax.tree.map(lambda x: np.asarray(x)[idx], tree)


def _tile(tree, G):
    return jax.tree.map(lambda x: np.concatenate([np.asarray(x)] * G), tree)


def exit_rows(stats, grid, S, group, t_max) -> list[dict]:
    """One row per recorded exit from B_1 (step, the conditions that failed), per grid cell."""
    rows = []
    for g, (e, l) in enumerate(grid):
        for k in range(g * S, (g + 1) * S):
            ev = zip(stats["exit_step"][k], stats["exit_why"][k], stats["exit_to"][k],
                     stats["exit_cond"][k])  # fmt: skip
            for step, why, to, cond in ev:
                if step < 0:
                    continue
                rows.append(dict(t=float(step), series="exit_B1", value=float(to), eta=e, lam=l,
                                 start=group, run=int(k - g * S), why=_why(int(why)),
                                 eta_lam_ok=bool(e * l < 0.5), noise_ok_at_exit=bool(cond),
                                 noise_ok_run=bool(stats["n_in_noisy"][k] == 0),
                                 n_exit_run=int(stats["n_exit"][k]), method="SGD"))  # fmt: skip
    return rows


def _why(mask: int) -> str:
    names = [
        (theory.WHY_BALANCE, "balance>ε₁"),
        (theory.WHY_RANK, "rank>r+ε₂"),
        (theory.WHY_BOUND, "‖W‖²>C"),
    ]
    return ",".join(n for bit, n in names if mask & bit) or "-"


def run(cfg: Config) -> Result:
    theory.check_region(1, cfg.eps1, cfg.eps2, cfg.C)
    if cfg.lam0 not in cfg.lams:
        raise ConfigError(
            f"lams must contain lam0 = {cfg.lam0:g} (the rank-2 starts are GD-critical there)"
        )
    problem = problem_2x2(cfg.eps)
    model = DeepMatrix(depth=cfg.depth, n=2, init="gaussian", alpha=cfg.init_scale)
    obs = theory.Observer(alpha=cfg.alpha, f=cfg.f_alpha, keep_params=True)
    region = theory.Region(
        r=1, eps1=cfg.eps1, eps2=cfg.eps2, C=cfg.C, alpha=cfg.alpha, f=cfg.f_alpha
    )
    keys = jax.random.split(jax.random.key(cfg.seed), cfg.n_init)
    p_init = jax.vmap(model.init_params)(keys)
    seeds = cfg.seed * 100_000 + np.arange(cfg.n_init)

    # warm-up: full-batch GD with weight decay λ₀ to its critical points (rank 2 or rank 1)
    eta0 = cfg.eta0
    warm = run_seeds(model, problem, SGD(eta=eta0, lam=cfg.lam0, n_steps=cfg.warmup,
                     batch_size=None, save_every=cfg.warmup), p_init, seeds, obs)  # fmt: skip
    ends = _take(warm.observed["params"], (slice(None), -1))
    grad = jax.vmap(jax.grad(lambda p: regularized_loss(model, problem, p, cfg.lam0)))(ends)
    gnorm = np.sqrt(sum(np.sum(np.asarray(g) ** 2, axis=(1, 2)) for g in grad))  # ‖∇L(θ)‖ per state
    m_end = {k: np.asarray(v)[:, -1] for k, v in warm.observed.items() if k != "params"}
    level0 = theory.rank_level(m_end["rank"], cfg.eps2)
    in_B1 = theory.in_region(m_end["balance"], m_end["rank"], m_end["norm2"], r=1, eps1=cfg.eps1,
                             eps2=cfg.eps2, C=cfg.C)  # fmt: skip
    keep2 = np.flatnonzero(level0 == 2)[: cfg.n_starts]  # rank-2 states: do they jump into B_1?
    keep1 = np.flatnonzero(in_B1)[: cfg.n_inside]  # states in B_1: do they ever leave it?
    S2, S1 = keep2.size, keep1.size
    if S2 == 0 or S1 == 0:
        return Result(rows=[dict(t=0.0, series="summary", value=0.0)], checks=[checks.sanity(
            "warm-up states at rank 2 and in B_1", False, predicted="≥ 1 each",
            observed=f"{S2} at rank 2, {S1} in B_1")])  # fmt: skip

    # SGD over (rank-2 starts + B_1 starts) × (η, λ) grid in one vmap, B_1 watched at every step
    grid = [(e, l) for e in cfg.etas for l in cfg.lams]
    G = len(grid)
    starts = _take(ends, np.concatenate([keep2, keep1]))
    S = S2 + S1
    method = SGD(eta=eta0, lam=cfg.lam0, n_steps=cfg.n_steps, save_every=cfg.save_every)
    obs_small = theory.Observer(alpha=cfg.alpha, f=cfg.f_alpha)
    sgd, st = run_seeds(model, problem, method, _tile(starts, G), 7 + np.arange(G * S), obs_small,
                        etas=np.repeat([e for e, _ in grid], S),
                        lams=np.repeat([l for _, l in grid], S), watch=region)  # fmt: skip
    # full-batch GD with the same λ (η = η₀) from the rank-2 starts
    gd_grid = sorted(set(cfg.lams))
    gd, gst = run_seeds(model, problem, dataclasses.replace(method, batch_size=None),
                        _tile(_take(ends, keep2), len(gd_grid)), np.zeros(len(gd_grid) * S2, int),
                        obs_small, etas=np.full(len(gd_grid) * S2, eta0),
                        lams=np.repeat(gd_grid, S2), watch=region)  # fmt: skip

    T = cfg.n_steps
    ok = np.asarray(sgd.status) == 0
    cell = np.repeat(np.arange(G), S)
    is2 = np.tile(np.arange(S) < S2, G)  # run started from a rank-2 state
    entered = st["first_in"] >= 0
    n_exit = st["n_exit"]
    level = theory.rank_level(sgd.observed["rank"], cfg.eps2)
    _, up = theory.count_jumps(level)

    rows = []
    for g, (e, l) in enumerate(grid):
        m2 = (cell == g) & is2
        m1 = (cell == g) & ~is2
        t_in = np.where(st["first_in"][m2] >= 0, st["first_in"][m2], np.inf)
        for q in np.linspace(0, 1, 41):  # P(θ_T ∈ B_1 | rank-2 start) vs T, with 95% bounds
            k = int(np.sum(t_in <= q * T))
            rows.append(dict(t=float(q * T), series="P_in_B1", value=k / max(S2, 1), eta=e, lam=l,
                             lower=checks.binomial_lower(k, S2, cfg.confidence) if S2 else 0.0,
                             upper=checks.binomial_upper(k, S2, cfg.confidence) if S2 else 1.0,
                             method="SGD"))  # fmt: skip
        k = int(entered[m2].sum())
        rows.append(dict(t=float(T), series="summary", value=k / max(S2, 1), eta=e, lam=l,
                         method="SGD", n=S2, n_inside_starts=S1, entered_B1=k,
                         exits_from_rank2_starts=int(n_exit[m2].sum()),
                         exits_from_B1_starts=int(n_exit[m1].sum()),
                         runs_with_exit=int(np.sum(n_exit[(cell == g)] > 0)),
                         up_snapshots=int(up[cell == g].sum()), diverged=int((~ok[cell == g]).sum()),
                         median_t_in=float(np.median(t_in)) if np.isfinite(t_in).any() else np.inf,
                         eta_lam=e * l))  # fmt: skip
    rows += exit_rows(st, grid, S, "mixed", T)
    gd_in = gst["first_in"] >= 0
    for g, l in enumerate(gd_grid):
        m = slice(g * S2, (g + 1) * S2)
        rows.append(dict(t=float(T), series="summary", value=float(np.mean(gd_in[m])), eta=eta0, lam=l,
                         method="GD", n=S2, entered_B1=int(gd_in[m].sum()),
                         exits=int(gst["n_exit"][m].sum())))  # fmt: skip

    # P(θ_T ∈ B_1 | rank-2 start) at the snapshots T, at (largest η, λ₀): membership at T itself
    # (not "entered by T": an exit counts against it), from the snapshot metrics
    g_top = grid.index((max(cfg.etas), cfg.lam0))
    top2 = (cell == g_top) & is2
    snap = {k: np.asarray(v)[top2] for k, v in sgd.observed.items()}
    inB1_T = theory.in_region(
        snap["balance"], snap["rank"], snap["norm2"], r=1, eps1=cfg.eps1, eps2=cfg.eps2, C=cfg.C
    )  # fmt: skip  (runs, snapshots)
    t_snap = cfg.save_every * np.arange(inB1_T.shape[1])  # a diverged run's own times are NaN
    k_T = inB1_T.sum(0)
    lo_T = np.array([checks.binomial_lower(int(k), S2, cfg.confidence) for k in k_T])
    up_T = np.array([checks.binomial_upper(int(k), S2, cfg.confidence) for k in k_T])
    early = int(np.argmin(np.abs(t_snap - T / 8)))
    marks = [int(np.argmin(np.abs(t_snap - T * f))) for f in (1 / 8, 1 / 4, 1 / 2, 1)]
    conf = f"one-sided Clopper–Pearson {cfg.confidence:g} over {S2} rank-2 starts"
    for j, tj in enumerate(t_snap):
        rows.append(dict(t=float(tj), series="P_in_B1_at_T", value=float(k_T[j]) / max(S2, 1),
                         lower=float(lo_T[j]), upper=float(up_T[j]), eta=grid[g_top][0],
                         lam=grid[g_top][1], method="SGD"))  # fmt: skip

    # every exit from B_1 of every run, per step and per condition (replayed step by step: the
    # watch records the conditions of the first 8 exits per run only)
    with_exit = np.flatnonzero(n_exit > 0)
    rep = replay_exits(model, problem, _take(_tile(starts, G), with_exit),
                              (7 + np.arange(G * S))[with_exit],
                              np.repeat([e for e, _ in grid], S)[with_exit],
                              np.repeat([l for _, l in grid], S)[with_exit], cfg.n_steps,
                              cfg.save_every, region)  # fmt: skip
    tot = {k: int(v.sum()) for k, v in rep.items()}
    exits_ii = tot["exits_ii"]

    # SGD vs full-batch GD from the same NON-critical starts: the Gaussian inits themselves, not
    # selected by the warm-up (GD started at its own critical points cannot move), at (η_max, λ₀)
    eta_c = max(cfg.etas)
    cmp_sgd = run_seeds(model, problem, SGD(eta=eta_c, lam=cfg.lam0, n_steps=cfg.n_steps,
                        save_every=cfg.n_steps), p_init, 11 + np.arange(cfg.n_init),
                        obs_small)  # fmt: skip
    cmp_gd = run_seeds(model, problem, SGD(eta=eta_c, lam=cfg.lam0, n_steps=cfg.n_steps,
                       save_every=cfg.n_steps, batch_size=None), p_init,
                       np.zeros(cfg.n_init, int), obs_small)  # fmt: skip

    def in_end(tr):
        o = {k: np.asarray(v)[:, -1] for k, v in tr.observed.items()}
        return theory.in_region(o["balance"], o["rank"], o["norm2"], r=1, eps1=cfg.eps1,
                                eps2=cfg.eps2, C=cfg.C)  # fmt: skip

    # an init whose SGD or GD run diverges (η too large for it) is left out of both (paired)
    pair = (np.asarray(cmp_sgd.status) == 0) & (np.asarray(cmp_gd.status) == 0)
    n_pair = int(pair.sum())
    cmp_div = cfg.n_init - n_pair
    k_sgd0, k_gd0 = int((in_end(cmp_sgd) & pair).sum()), int((in_end(cmp_gd) & pair).sum())
    lo_sgd0 = checks.binomial_lower(k_sgd0, max(n_pair, 1), cfg.confidence)
    hi_gd0 = checks.binomial_upper(k_gd0, max(n_pair, 1), cfg.confidence)

    # the Lemma on critical points: GD endpoints with ‖∇L‖ ≤ grad_tol
    crit = gnorm <= cfg.grad_tol
    A_end = np.asarray(m_end["A"])
    e2e = np.asarray(jax.vmap(lambda A: theory.end_to_end_approx_rank(A, cfg.depth, cfg.alpha,
                                                                       cfg.f_alpha))(A_end))  # fmt: skip
    sv_e2e = np.asarray(jax.vmap(lambda A: theory.end_to_end_sv(A, cfg.depth))(A_end))
    sv_layer = np.stack([np.asarray(jax.vmap(theory.sq_singular_values)(W)) for W in ends], 1)
    rel = np.abs(sv_layer - sv_e2e[:, None, :]).max(axis=(1, 2)) / np.abs(sv_e2e).max(axis=1)
    lemma_set = crit & in_B1
    lemma_max = float(e2e[lemma_set].max()) if lemma_set.any() else np.nan
    rel_max = float(rel[crit].max()) if crit.any() else np.nan
    # at a critical point W_{ℓ+1}ᵀ∇_{ℓ+1} − ∇_ℓW_ℓᵀ = 2λ(W_{ℓ+1}ᵀW_{ℓ+1} − W_ℓW_ℓᵀ): the imbalance is
    # ≤ √C·g/λ, which moves each s_i(W_ℓᵀW_ℓ) by at most that (Weyl); relative to s₁ ≥ 1 below
    rel_tol = max(np.sqrt(cfg.C) * cfg.grad_tol / cfg.lam0, 0.0) * cfg.depth + 1e-9

    n_inside_runs = int(np.sum(entered))
    found = [
        checks.sanity(
            "rank-2 starts (seeds)",
            S2 >= cfg.min_starts,
            predicted=f"≥ {cfg.min_starts}",
            observed=S2,
            detail="enough starts for a rate with a confidence bound",
        ),
        checks.sanity(
            "SGD runs stay finite",
            bool(ok.all()),
            predicted="all finite",
            observed=f"{int((~ok).sum())} diverged of {ok.size}",
        ),
        checks.sanity(
            "runs inside B_1 at some step (closedness tested on them)",
            n_inside_runs >= cfg.min_starts,
            predicted=f"≥ {cfg.min_starts}",
            observed=n_inside_runs,
        ),  # fmt: skip
        checks.hypothesis(
            "ηλ < 1/2 (decay factor 1 − 2ηλ > 0) in every cell",
            all(e * l < 0.5 for e, l in grid),
            predicted="< 0.5",
            observed=max(e * l for e, l in grid),
            source="seed 001, the SGD update",
        ),  # fmt: skip
        checks.hypothesis(
            "the comparison runs from Gaussian inits stay finite (≥ min_starts pairs)",
            n_pair >= cfg.min_starts,
            predicted=f"≥ {cfg.min_starts} inits with both runs finite",
            observed=f"{n_pair} of {cfg.n_init} ({cmp_div} left out: a run diverged)",
            source="seed 001 (small η)",
            basis="min_starts: enough pairs for the claim's one-sided confidence bounds",
        ),  # fmt: skip
        checks.hypothesis(
            "warm-up GD endpoints are critical points (‖∇L‖ ≤ grad_tol) in B_1",
            int(lemma_set.sum()) >= cfg.min_starts,
            predicted=f"≥ {cfg.min_starts} states",
            observed=int(lemma_set.sum()),
            source="seed 001, Lemma",
            basis="min_starts: enough states for the claim's one-sided confidence bound",
        ),  # fmt: skip
        checks.at_most(
            "exits from B_1 at steps within the step-size condition (ii), every step, every run "
            "(B_1 closed)",
            0,
            exits_ii,
            source="seed 001, closedness of B_r (θ_t ∈ B_r ⇒ θ_{t+1} ∈ B_r for small enough η)",
            basis="the theorem gives probability 0 of leaving B_r: any exit at a step within "
            "(ii), the derived 'small enough η' for B_r's balancedness, is a counterexample; "
            "every exit of every run is counted (replayed step by step), none filtered by run",
            requires=("ηλ < 1/2 (decay factor 1 − 2ηλ > 0) in every cell",),
            detail=f"steps taken from inside B_1: {tot['steps_in']:,}, within (ii) "
            f"{tot['steps_in_ii']:,}; exits: {tot['exits']} in {with_exit.size} runs — by "
            f"balancedness {tot['balance']}, rank {tot['rank']}, ‖W‖² > C {tot['bound']}; "
            f"within (ii): {exits_ii} (balancedness {tot['balance_ii']}, rank "
            f"{tot['rank_ii']}, ‖W‖² > C {tot['bound_ii']}); rows series=exit_B1 give the first "
            "8 of each run with its step",
        ),  # fmt: skip
        checks.holds(
            f"P(θ_T ∈ B_1 | rank-2 start) rises in T: 95% lower bound at T = {T} > 95% upper bound "
            f"at T = {int(t_snap[early])} (largest η, λ = λ₀)",
            bool(lo_T[-1] > up_T[early]),
            predicted="lower(T) > upper(T/8)",
            observed=f"{int(k_T[-1])}/{S2} (≥ {lo_T[-1]:.3f}) vs {int(k_T[early])}/{S2} "
            f"(≤ {up_T[early]:.3f})",
            source="seed 001, P(θ_{t+T} ∈ B_r | θ_t) ≥ O(r^T): a positive entry probability in "
            "every window of T steps makes P(θ_T ∈ B_1) rise to 1",
            basis=conf,
            requires=("ηλ < 1/2 (decay factor 1 − 2ηλ > 0) in every cell",),
            detail="95% lower bounds at T = "
            + ", ".join(f"{int(t_snap[j])}: {lo_T[j]:.3f} ({int(k_T[j])}/{S2})" for j in marks)
            + f" at η={grid[g_top][0]:g}, λ={grid[g_top][1]:g}; the curve is series=P_in_B1",
        ),  # fmt: skip
        checks.at_least(
            f"absorption: P(θ_T ∈ B_1 | rank-2 start) at T = {T}, 95% lower bound (largest η, λ₀)",
            0.5,
            lo_T[-1],
            source="seed 001, Theorem: P(θ_t ∈ B_r ∀t > T | θ₀) = 1 for some T",
            basis=f"{conf}; the theorem's T is not given, so the horizon's rate is compared with "
            "½ (a majority absorbed), not with 1",
            requires=("ηλ < 1/2 (decay factor 1 − 2ηλ > 0) in every cell",),
            detail=f"{int(k_T[-1])}/{S2} in B_1 at T = {T}",
        ),  # fmt: skip
        checks.holds(
            "SGD is in B_1 at the horizon more often than full-batch GD from the same Gaussian "
            "inits (largest η, λ₀)",
            lo_sgd0 > hi_gd0,
            predicted="lower bound (SGD) > upper bound (GD)",
            observed=f"SGD {k_sgd0}/{n_pair} (≥ {lo_sgd0:.3f}) vs GD {k_gd0}/{n_pair} "
            f"(≤ {hi_gd0:.3f})",
            source="seed 001, conclusion (SGD jumps; the absorbing effect needs SGD's noise)",
            basis=f"one-sided Clopper–Pearson {cfg.confidence:g} over the {n_pair} Gaussian inits "
            "with both runs finite, not selected by the warm-up (non-critical starts for both)",
            requires=(
                "ηλ < 1/2 (decay factor 1 − 2ηλ > 0) in every cell",
                "the comparison runs from Gaussian inits stay finite (≥ min_starts pairs)",
            ),
            detail=f"{cmp_div} of {cfg.n_init} inits left out (a diverged run)",
        ),  # fmt: skip
        checks.holds(
            "Lemma: at critical points in B_1, s_i(A)^(2/L) = s_i(W_ℓᵀW_ℓ) and Σ f_α(s_i(A)^(2/L)) ≤ 1 + ε₂",
            bool(lemma_set.any() and rel_max <= rel_tol and lemma_max <= 1 + cfg.eps2),
            predicted=f"relative gap ≤ {rel_tol:.2g}; ≤ {1 + cfg.eps2:g}",
            observed=f"gap {rel_max:.2g}; max {lemma_max:.6g} over {int(lemma_set.sum())} states",
            source="seed 001, Lemma (critical points in B_r)",
            basis="critical-point equation: imbalance ≤ √C·‖∇L‖/λ (Weyl) at ‖∇L‖ ≤ grad_tol, "
            "+1e-9 float64 round-off; the bound r + ε₂ is the Lemma's",
            loss=float(gnorm[lemma_set].max()) if lemma_set.any() else np.inf,
            loss_tol=cfg.grad_tol,
            requires=("warm-up GD endpoints are critical points (‖∇L‖ ≤ grad_tol) in B_1",),
        ),  # fmt: skip
    ]
    notes = [
        f"{S2} rank-2 starts and {S1} starts in B_1 out of {cfg.n_init} inits after {cfg.warmup} GD "
        f"steps (λ₀={cfg.lam0:g}); {int(crit.sum())} endpoints with ‖∇L‖ ≤ {cfg.grad_tol:g}",
        f"f_α = {cfg.f_alpha}; B_1 (ε₁={cfg.eps1:g}, ε₂={cfg.eps2:g}, C={cfg.C:g}) checked at every step",
        "exits from B_1 per cell: "
        + "; ".join(
            f"η={e:g},λ={l:g}: {int(n_exit[cell == g].sum())}" for g, (e, l) in enumerate(grid)
        ),
        f"GD (η={eta0:g}) entries into B_1 from rank-2 starts by λ: "
        + ", ".join(
            f"{l:g}: {int(gd_in[g * S2 : (g + 1) * S2].sum())}/{S2}" for g, l in enumerate(gd_grid)
        ),
    ]
    return Result(rows=rows, checks=found, notes=notes)


def plot(rows, cfg: Config):
    fig, axes = plots.figure(2, 1, width=4.6, height=3.4)
    if "series" not in rows or not (rows.series == "P_in_B1").any():
        axes[0, 0].set(title="no run (see the checks)")
        return {"one_way": fig}
    curve = rows[rows.series == "P_in_B1"]
    for k, ((e, l), g) in enumerate(curve.groupby(["eta", "lam"])):
        axes[0, 0].plot(g.t, g.value, color=plots.color(k), label=f"SGD η={e:g}, λ={l:g}")
        axes[0, 0].fill_between(g.t, g.lower, g.upper, color=plots.color(k), alpha=0.15)
    axes[0, 0].set(xlabel="step T", ylabel="P(θ_T ∈ B_1 | rank-2 start)", ylim=(0, 1.05),
                   title="entry into B_1 (95% bounds)")  # fmt: skip
    axes[0, 0].legend(fontsize=6)
    summ = rows[(rows.series == "summary") & (rows.method == "SGD")]
    x = np.arange(len(summ))
    axes[0, 1].bar(x - 0.2, summ["entered_B1"], width=0.4, label="rank-2 starts entering B_1")
    axes[0, 1].bar(x + 0.2, summ["runs_with_exit"], width=0.4, label="runs with an exit (any step)")
    axes[0, 1].set_xticks(x, [f"η={e:g}\nλ={l:g}" for e, l in zip(summ.eta, summ.lam)], fontsize=6)
    axes[0, 1].set(ylabel="runs", title="entries and exits of B_1")
    axes[0, 1].legend(fontsize=7)
    return {"one_way": fig}
