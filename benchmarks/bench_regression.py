"""GD vs gradient flow to within 1e-6 of the rank-d solution, two-layer regression at p = d = 50 (seed 004).

    python benchmarks/bench_regression.py            # ~1 minute on 2 cores
    python benchmarks/bench_regression.py --p 20     # smaller

Setting: aligned data (Σ_x = U diag(λ) Uᵀ, Σ_xy = U diag(σ) Vᵀ, σ from 4 down to 0.5, λ from 2 to 1),
spectral init with δ = 3, hidden width p. Target: W^{d,*} = the least-squares solution. For each method
we find the horizon at which ‖W − W^{d,*}‖_F/‖W^{d,*}‖_F ≤ 1e-6 from theory (the closed form for the flow,
the exact scalar recursion for GD at η = 0.9/(2 max σ_i) and at η = 0.01), run the engine to exactly that horizon, verify
the distance, and time a second (warm, compiled) call. Reports wall time and gradient evaluations.
"""

import argparse
import time

import numpy as np

import implicit_bias  # noqa: F401  (float64 first)
from implicit_bias.baselines.regression import reduced_rank_path
from implicit_bias.models.spectral import deep_linear, spectral_init
from implicit_bias.optim import GD, GradientFlow, fit
from implicit_bias.problems.regression import aligned
from implicit_bias.theory import regression as theory

TOL = 1e-6


def _product(params):
    return params[1] @ params[0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--p", type=int, default=50)
    ap.add_argument("--delta", type=float, default=3.0)
    ap.add_argument("--rtol", type=float, default=1e-8)
    args = ap.parse_args()
    p = args.p
    sigma = np.geomspace(4.0, 0.5, p)
    lam = np.linspace(2.0, 1.0, p)
    data = aligned(sigma=sigma, lam=lam, seed=0)
    W_star = reduced_rank_path(data.problem)[0][-1]
    widths = (p, p, p)
    model = deep_linear(widths)
    params0 = spectral_init(data.U, data.V, args.delta, widths)
    dist = lambda W: np.linalg.norm(np.asarray(W) - W_star) / np.linalg.norm(W_star)  # noqa: E731
    limit = sigma / lam

    # flow: horizon from the closed form (bisection on the component errors)
    def cf_dist(t):
        return np.linalg.norm(
            theory.w_continuous(t, sigma, lam, args.delta) - limit
        ) / np.linalg.norm(limit)

    lo, hi = 0.0, 1.0
    while cf_dist(hi) > TOL:
        hi *= 2
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cf_dist(mid) > TOL else (lo, mid)
    t_star = hi * 1.001
    flow = GradientFlow(t1=t_star, n_saves=2, rtol=args.rtol, atol=args.rtol * 1e-3)
    traj = fit(model, data.problem, flow, params0=params0, observe=_product)  # compile
    t0 = time.perf_counter()
    traj = fit(model, data.problem, flow, params0=params0, observe=_product)
    flow_time = time.perf_counter() - t0
    flow_dist, flow_evals = dist(np.asarray(traj.observed)[-1]), int(traj.n_evals)

    # GD: steps from the exact recursion; the largest step of the condition, and a small one
    gd_rows = []
    for eta in (0.9 * theory.discrete_step_bound(sigma), 0.01):
        w = theory.w_discrete(np.exp(-2 * args.delta), sigma, lam, eta, int(60 / eta))
        errs = np.linalg.norm(w - limit, axis=1) / np.linalg.norm(limit)
        k_star = int(np.nonzero(errs <= TOL)[0][0]) + 1
        gd = GD(eta=eta, n_steps=k_star, n_saves=1)
        traj = fit(model, data.problem, gd, params0=params0, observe=_product)  # compile
        t0 = time.perf_counter()
        traj = fit(model, data.problem, gd, params0=params0, observe=_product)
        gd_rows.append((eta, k_star, time.perf_counter() - t0, dist(np.asarray(traj.observed)[-1])))

    print(f"p = d = {p}, δ = {args.delta:g}, target ‖W − W^(d,*)‖/‖W^(d,*)‖ ≤ {TOL:g}")
    print(f"{'method':<28}{'horizon':>12}{'grad evals':>12}{'wall (s)':>11}{'final dist':>12}")
    print(
        f"{'gradient flow (Tsit5)':<28}{t_star:>12.4g}{flow_evals:>12d}{flow_time:>11.4f}{flow_dist:>12.3g}"
    )
    for eta, k_star, gd_time, gd_dist in gd_rows:
        print(
            f"{f'GD (η = {eta:.4g})':<28}{k_star:>12d}{k_star:>12d}{gd_time:>11.4f}{gd_dist:>12.3g}"
        )
        print(
            f"  ratio GD/flow: evaluations ×{k_star / flow_evals:.3g}, wall time ×{gd_time / flow_time:.3g}"
        )
    if max([flow_dist] + [r[3] for r in gd_rows]) > 2 * TOL:
        raise SystemExit("a method did not reach the target accuracy")


if __name__ == "__main__":
    main()
