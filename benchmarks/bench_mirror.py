"""The Hadamard flow in mirror coordinates (optim.mirror) vs the Rosenbrock parameter flow, small α.

    python benchmarks/bench_mirror.py              # n = 1000, m = 200, s = 10 (~10 min under load)
    python benchmarks/bench_mirror.py --quick      # n = 200, m = 60, s = 4
    python benchmarks/bench_mirror.py --json out.json

The sparse setting of bench_limit.py (positive x̃ = w^{⊙N}, make_sparse seed 0, loss ½‖Ax̃ − y‖² to
1e-10), N = 2 and 3, α = 1e-4, 1e-8, 1e-16, 1e-30. Both flows by ROS34PW2 at rtol 1e-4 (the
parameter flow: atol 1e-4·rtol, as bench_limit; the mirror flow: atol 0, its rtol relative in every
entry of x̃), snapshots at 30 log-spaced times in [1e-2, 1e9]·unit (unit = 1 for N = 2, α^{2−N} for
N ≥ 3: the escape time scales with it). Evaluations: gradients (right-hand sides) + HVPs (JVPs).
Wall: the best of 3 warm calls. The parameter flow is capped at --cap evaluations (status FAILED
if spent, or when its step collapses). Distances: ‖x̃ − x_BP‖/‖x_BP‖ to non-negative basis pursuit.
"""

import argparse
import json
import os
import platform
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # see bench_sensing.py: spin-waits on shared cores

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import implicit_bias  # noqa: F401, E402  (float64 first)
from implicit_bias import stiff  # noqa: E402
from implicit_bias.baselines.l1 import basis_pursuit  # noqa: E402
from implicit_bias.models.hadamard import Hadamard  # noqa: E402
from implicit_bias.optim import gradient, mirror, objective  # noqa: E402
from implicit_bias.problems.linear import make_sparse  # noqa: E402

ALPHAS = (1e-4, 1e-8, 1e-16, 1e-30)
STATUS = {0: "reached t1", 2: "FAILED", 3: "converged"}


def _best(fn, repeats=3):
    fn()  # compile
    best, out = np.inf, None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def param_flow(model, problem, ts, rtol, tol, cap):
    p0 = model.init_params()

    def g(p):
        return gradient(model, problem, p)

    def L(p):
        return objective(model, problem, p)

    f = jax.jit(lambda y0: stiff.solve(g, L, y0, ts, rtol=rtol, atol=1e-4 * rtol, loss_tol=tol,
                                       max_steps=50_000, max_cg=1000, max_evals=cap))  # fmt: skip
    wall, out = _best(lambda: jax.block_until_ready(f(p0)))
    t, losses, _, final, status, stats = out
    return dict(wall=wall, evals=int(stats.n_grad) + int(stats.n_hvp), steps=int(stats.n_accepted)
                + int(stats.n_rejected), status=STATUS[int(status)], loss=float(L(final)),
                t_end=float(np.nanmax(np.asarray(t))), x=np.asarray(model(final)))  # fmt: skip


def mirror_flow(model, problem, ts, rtol, tol):
    wall, r = _best(lambda: mirror.mirror_flow(model, problem, ts=ts, rtol=rtol, loss_tol=tol,
                                               check=False))  # fmt: skip
    return dict(wall=wall, evals=r.n_evals, steps=r.n_steps, status=STATUS[r.status],
                loss=float(problem.loss(jnp.asarray(r.x_final))), t_end=r.t_end, x=r.x_final)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rtol", type=float, default=1e-4)
    ap.add_argument("--cap", type=float, default=200_000, help="parameter flow: max evaluations")
    ap.add_argument("--depths", default="2,3")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    n, m, s = (200, 60, 4) if args.quick else (1000, 200, 10)
    data = make_sparse(m=m, n=n, s=s, seed=0)
    x_bp = basis_pursuit(data.A, data.y, nonneg=True)
    tol = 1e-10
    print(f"# {time.strftime('%Y-%m-%d %H:%M')} {platform.node()} {os.cpu_count()} CPUs, load "
          f"{os.getloadavg()[0]:.1f}; n={n} m={m} s={s} rtol={args.rtol:g} loss_tol={tol:g}")  # fmt: skip
    print(f"{'N':>2} {'alpha':>7}  {'method':<8}{'wall s':>8}{'evals':>10}{'steps':>7}  "
          f"{'status':<11}{'loss':>9}{'dist BP':>10}{'t_end':>10}")  # fmt: skip
    rows = []
    for N in (int(d) for d in args.depths.split(",")):
        for alpha in ALPHAS:
            model = Hadamard(depth=N, n=n, alpha=alpha)
            unit = 1.0 if N == 2 else alpha ** (2.0 - N)
            ts = jnp.asarray(np.geomspace(1e-2, 1e9, 30) * unit)
            res = {"mirror": mirror_flow(model, data.problem, ts, args.rtol, tol),
                   "param": param_flow(model, data.problem, ts, args.rtol, tol, args.cap)}  # fmt: skip
            for name, r in res.items():
                d = float(np.linalg.norm(r["x"] - x_bp) / np.linalg.norm(x_bp))
                print(f"{N:>2} {alpha:>7.0e}  {name:<8}{r['wall']:>8.2f}{r['evals']:>10,d}"
                      f"{r['steps']:>7d}  {r['status']:<11}{r['loss']:>9.1e}{d:>10.2e}"
                      f"{r['t_end']:>10.2e}", flush=True)  # fmt: skip
                rows.append(dict(N=N, alpha=alpha, method=name, dist_bp=d,
                                 **{k: v for k, v in r.items() if k != "x"}))  # fmt: skip
            gap = np.linalg.norm(res["mirror"]["x"] - res["param"]["x"]) / np.linalg.norm(x_bp)
            print(f"{'':>12}‖x̃_mirror − x̃_param‖/‖x_BP‖ = {gap:.2e}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2, default=float)
    return rows


if __name__ == "__main__":
    main()
