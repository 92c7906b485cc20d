"""Time to the limit, side by side: flow vs GD at its largest converging step vs a NumPy per-step loop.

    python benchmarks/bench_limit.py              # the issue's four settings at full size
    python benchmarks/bench_limit.py --quick      # smaller sizes, same code paths (~2 min idle)
    python benchmarks/bench_limit.py --only sparse --json out.json
    python benchmarks/bench_limit.py --only sparse-limit   # mirror path vs parameter flow, small α

Settings (issue 13, §2), each taken to its training-loss tolerance:
  arora      completion 100×100, rank 5 (‖X*‖_F = 1), 2,000 entries, depth 3, Gaussian init 1e-3,
             to relative loss 1e-8; limit vs the min-nuclear-norm completion (SCS)
  gunasekar  symmetric sensing n = 50, m = 300, rank 2, X = UUᵀ from αI, α = 0.1 and 1e-3, to
             relative loss 1e-9; limit vs the min-trace PSD solution
  sparse     positive Hadamard w^{⊙N}, n = 1000, m = 200, s = 10, α = 1e-4, N = 2, 3, to loss 1e-10;
             limit vs non-negative basis pursuit (HiGHS)
  regression two-layer linear regression p = d = 50 (bench_regression's aligned data, spectral init
             δ = 3), to relative loss excess 1e-10 over the least-squares loss; limit vs least squares

For each: the flow by the matrix-free Rosenbrock solver (implicit_bias.optim.stiff, ROS34PW2, rtol 1e-4
(``--rtol``; global error ∝ rtol with constant ≤ 1, tests/test_stiff.py, so the limit is accurate to
~1e-4, well below the 3 digits of the distances reported), atol 1e-4·rtol: HVPs by jax.linearize,
CG stage solves), GD at the largest step of a geometric grid
(×1.5) that reaches the tolerance within its budget (found here: the search goes up from a stable
step until GD diverges or, having converged, stops converging; unconverged: the last step tried), and a plain NumPy per-step loop of the same GD update with the
gradient written out (the anchor-style loop; its wall time is measured over min(k, NUMPY_STEPS) steps
and extrapolated to the k steps GD needed, marked "~"). Evaluations: gradients + Hessian–vector
products for the flow, steps for GD. Wall times are of a second (compiled) call.

``--only sparse-limit`` (issue 22): the sparse setting (positive w^{⊙N}, n = 1000, m = 200, s = 10,
make_sparse seed 0; ``--quick``: n = 200, m = 60, s = 4) at α = 1e-4, 1e-8, 1e-16, 1e-30 (``--alphas``)
and N = 2, 3 (``--depths``), to loss 1e-10, both through ``fit`` with one ``GradientFlow(solver=
"rosenbrock", rtol 1e-4, atol 1e-4·rtol, 30 log-spaced snapshots in [1e-2, 1e9]·unit, max_steps
5,000)``: ``fit(...)`` takes the mirror-coordinate path, ``fit(..., reduce=False)`` the parameter
flow. unit = 1 for N = 2 and α^{2−N} for N ≥ 3 (the escape time scales with it). Per run: the
counters from one uncaught solve (which also compiles), then the wall time of ``fit`` as the best of
two further calls (one where it exceeds 5 s); a run that fails (SolverError) is listed with its
status. Distances: to non-negative basis pursuit (HiGHS) and between the two limits, relative to
‖x_BP‖. (This replaces benchmarks/bench_mirror.py, which timed ``mirror_flow`` and ``stiff.solve``
directly.)
"""

import argparse
import dataclasses
import json
import os
import time

os.environ.setdefault(
    "OPENBLAS_NUM_THREADS", "1"
)  # see bench_sensing.py: spin-waits on shared cores

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import implicit_bias  # noqa: F401, E402  (float64 first)
from implicit_bias.optim import (  # noqa: E402
    GD,
    fit,
    gradient,
    objective,
    stiff,  # noqa: E402
)

NUMPY_STEPS = 2000


@dataclasses.dataclass
class Setting:
    name: str
    model: object
    problem: object
    params0: object
    tol: float  # absolute training-loss tolerance
    eta0: float  # a step known to be stable: the GD search starts here
    gd_budget: int  # most GD steps tried per step size
    np_grad: object  # NumPy gradient of the factors (list of arrays) -> list of arrays
    limit: object  # params -> (distance to the convex baseline, its name)
    t1: float = 1e9


# ---------------------------------------------------------------------------------------------
# NumPy gradients (the anchor-style loop): chain rule written out


def _chain(Ws, G):
    """∂L/∂W_j for W = W_N ⋯ W_1 and G = ∇_W L: (W_N⋯W_{j+1})ᵀ G (W_{j−1}⋯W_1)ᵀ."""
    N = len(Ws)
    left = [None] * N  # product of factors above j
    right = [None] * N  # product of factors below j
    acc = None
    for j in range(N):
        right[j] = acc
        acc = Ws[j] if acc is None else Ws[j] @ acc
    acc = None
    for j in reversed(range(N)):
        left[j] = acc
        acc = Ws[j] if acc is None else acc @ Ws[j]
    out = []
    for j in range(N):
        g = G if left[j] is None else left[j].T @ G
        out.append(g if right[j] is None else g @ right[j].T)
    return out, acc


def _deep_grad(end_to_end_grad):
    def grad(Ws):
        P = Ws[0]
        for W in Ws[1:]:
            P = W @ P
        return _chain(Ws, end_to_end_grad(P))[0]

    return grad


def numpy_loop(setting, eta, k) -> tuple[float, bool]:
    """Seconds for k GD steps of the NumPy loop (measured on min(k, NUMPY_STEPS), extrapolated)."""
    p = setting.params0
    Ws = [np.array(w) for w in (p if isinstance(p, (tuple, list)) else [p])]
    n = min(k, NUMPY_STEPS)
    t = time.perf_counter()
    for _ in range(n):
        gs = setting.np_grad(Ws)
        Ws = [w - eta * g for w, g in zip(Ws, gs)]
    dt = time.perf_counter() - t
    return dt * k / n, n < k


# ---------------------------------------------------------------------------------------------
# settings


def arora(quick):
    from implicit_bias.baselines import nuclear
    from implicit_bias.models.deep_matrix import DeepMatrix, product
    from implicit_bias.problems import sensing
    from implicit_bias.problems.completion import random_completion

    n, r, m = (40, 3, 480) if quick else (100, 5, 2000)
    X = sensing.low_rank_truth(0, n, r, psd=False, norm=1.0)
    problem = random_completion(0, X, m)
    model = DeepMatrix(depth=3, n=n, init="gaussian", alpha=1e-3)
    p0 = model.init_params(jax.random.key(0))
    rows, cols = np.asarray(problem.rows), np.asarray(problem.cols)
    y, s = np.asarray(problem.y), float(problem.scale)

    def G(P):
        out = np.zeros_like(P)
        out[rows, cols] = s * (P[rows, cols] - y)
        return out

    def limit(params):
        X_nn = nuclear.min_nuclear_norm(problem, eps=1e-8, max_residual=1e-5).X
        W = np.asarray(product(params))
        return np.linalg.norm(W - X_nn) / np.linalg.norm(X_nn), "min ‖X‖_* (SCS)"

    L0 = float(objective(model, problem, p0))
    return Setting(f"arora {n}×{n} r{r} m{m} N3", model, problem, p0, 1e-8 * L0,
                   eta0=0.5 if quick else 0.9, gd_budget=400_000, np_grad=_deep_grad(G),
                   limit=limit)  # fmt: skip


def gunasekar(quick, alpha):
    from implicit_bias.baselines import nuclear
    from implicit_bias.models.symmetric import SymmetricFactor
    from implicit_bias.problems import sensing

    n, m = (20, 80) if quick else (50, 300)
    X = sensing.low_rank_truth(0, n, 2, psd=True)
    problem = sensing.random_sensing(0, X, m, ensemble="symmetric")
    model = SymmetricFactor(n=n, d=n, init="identity", alpha=alpha)
    p0 = model.init_params()
    A, yv = np.asarray(problem.A), np.asarray(problem.y)
    A2 = A.reshape(m, -1)

    def np_grad(Us):
        (U,) = Us
        r = A2 @ (U @ U.T).ravel() - yv
        Gm = (A2.T @ r).reshape(n, n)
        return [(Gm + Gm.T) @ U]

    def limit(params):
        X_nn = nuclear.min_nuclear_norm(problem, psd=True).X
        W = np.asarray(params @ params.T)
        return np.linalg.norm(W - X_nn) / np.linalg.norm(X_nn), "min tr X, X ⪰ 0 (SCS)"

    L0 = float(objective(model, problem, p0))
    return Setting(f"gunasekar n{n} m{m} α={alpha:g}", model, problem, p0, 1e-9 * L0,
                   eta0=0.1, gd_budget=2_000_000, np_grad=np_grad, limit=limit)  # fmt: skip


def sparse(quick, N):
    from implicit_bias.baselines import l1
    from implicit_bias.models.hadamard import Hadamard
    from implicit_bias.problems.linear import make_sparse

    n, m, s = (200, 60, 4) if quick else (1000, 200, 10)
    data = make_sparse(m=m, n=n, s=s, seed=0)
    model = Hadamard(depth=N, n=n, alpha=1e-4)
    p0 = model.init_params()
    A, yv = np.asarray(data.A), np.asarray(data.y)

    def np_grad(ws):
        (w,) = ws
        r = A.T @ (A @ (w[0] ** N) - yv)
        return [(N * w[0] ** (N - 1) * r)[None]]

    def limit(params):
        x_bp = l1.basis_pursuit(A, yv, nonneg=True)
        x = np.asarray(model(params))
        return np.linalg.norm(x - x_bp) / np.linalg.norm(x_bp), "min ‖x‖₁, x ≥ 0 (HiGHS)"

    eta0 = 0.5 / (N**2 * data.x.max() ** (2 - 2 / N) * np.linalg.norm(A, 2) ** 2)
    return Setting(f"sparse n{n} m{m} s{s} N{N}", model, problem_of(data), p0, 1e-10,
                   eta0=eta0, gd_budget=2_000_000, np_grad=np_grad, limit=limit)  # fmt: skip


def problem_of(data):
    return data.problem


def regression(quick):
    from implicit_bias.baselines.regression import reduced_rank_path
    from implicit_bias.models.spectral import deep_linear, spectral_init
    from implicit_bias.problems.regression import aligned

    p = 10 if quick else 50
    sigma, lam = np.geomspace(4.0, 0.5, p), np.linspace(2.0, 1.0, p)
    data = aligned(sigma=sigma, lam=lam, seed=0)
    problem = data.problem
    widths = (p, p, p)
    model = deep_linear(widths)
    p0 = spectral_init(data.U, data.V, 3.0, widths)
    W_star = reduced_rank_path(problem)[0][-1]
    L_star = float(problem.loss(jnp.asarray(W_star)))
    Sx, Sxy = np.asarray(problem.Sigma_x), np.asarray(problem.Sigma_xy)
    L0 = float(objective(model, problem, p0))

    def limit(params):
        W = np.asarray(model(params))
        return np.linalg.norm(W - W_star) / np.linalg.norm(W_star), "least squares"

    # the loss at the limit is L* > 0 (noise): the tolerance is on the excess L − L*
    return Setting(f"regression p=d={p} L2", model, problem, p0, L_star + 1e-10 * (L0 - L_star),
                   eta0=0.05, gd_budget=200_000,
                   np_grad=_deep_grad(lambda P: Sx @ P - Sxy), limit=limit)  # fmt: skip


# ---------------------------------------------------------------------------------------------
# the three runners


def run_flow(st: Setting, rtol: float, solver: str = "rosenbrock"):
    if solver != "rosenbrock":
        return run_engine_flow(st, rtol, solver)
    g = lambda p: gradient(st.model, st.problem, p)  # noqa: E731
    L = lambda p: objective(st.model, st.problem, p)  # noqa: E731
    ts = jnp.geomspace(1e-2, st.t1, 30)
    f = jax.jit(
        lambda y0: stiff.solve(
            g,
            L,
            y0,
            ts,
            rtol=rtol,
            atol=rtol * 1e-4,
            loss_tol=st.tol,
            max_steps=50_000,
            max_cg=1000,
        )  # fmt: skip
    )
    jax.block_until_ready(f(st.params0))
    t = time.perf_counter()
    out = jax.block_until_ready(f(st.params0))
    wall = time.perf_counter() - t
    ts_, losses, obs, final, status, stats = out
    return dict(
        wall=wall,
        evals=int(stats.n_grad) + int(stats.n_hvp),
        n_grad=int(stats.n_grad),
        n_hvp=int(stats.n_hvp),
        steps=int(stats.n_accepted),
        loss=float(L(final)),
        converged=int(status) == stiff.STOPPED_AT_TOL,
        t_end=float(np.nanmax(np.asarray(ts_))),
        final=final,
    )


def _nothing(params):
    return jnp.zeros(())


def run_engine_flow(st: Setting, rtol: float, solver: str):
    """The same flow through the engine: ``fit(GradientFlow(solver=...), reduce=False)`` (e.g.
    ``"auto"``)."""
    from implicit_bias.errors import SolverError
    from implicit_bias.optim import GradientFlow

    method = GradientFlow(t1=st.t1, n_saves=30, spacing="log", t_first=1e-2, rtol=rtol,
                          atol=rtol * 1e-4, loss_tol=st.tol, max_steps=50_000, solver=solver)  # fmt: skip

    def run():  # reduce=False: the named solver on the parameters (sparse-limit runs the mirror path)
        try:
            return fit(st.model, st.problem, method, params0=st.params0, observe=_nothing,
                       reduce=False)  # fmt: skip
        except SolverError:  # budget spent: rerun keeping the partial result
            return None

    run()
    t = time.perf_counter()
    traj = run()
    wall = time.perf_counter() - t
    if traj is None:
        return dict(wall=wall, evals=-1, loss=float("nan"), converged=False, final=None)
    return dict(
        wall=wall,
        evals=int(traj.n_evals),
        loss=float(objective(st.model, st.problem, traj.final)),  # = traj.loss[-1], the stop
        converged=int(traj.status) == 3,  # stopped at loss_tol
        t_end=float(np.nanmax(np.asarray(traj.t))),
        final=traj.final,
    )


def gd_steps(st: Setting, eta: float, budget: int):
    """(steps GD at ``eta`` needs to reach the tolerance or None, chunk, whether it diverged)."""
    chunk = max(budget // 400, 1)
    n_steps = chunk * (budget // chunk)
    traj = fit(st.model, st.problem, GD(eta=eta, n_steps=n_steps, save_every=chunk),
               params0=st.params0, on_divergence="return", observe=_nothing)  # fmt: skip
    loss = np.asarray(traj.loss)
    hit = np.flatnonzero(loss <= st.tol)
    diverged = int(traj.status) != 0
    return (int(np.asarray(traj.t)[hit[0]]) if hit.size else None), chunk, diverged


def run_gd(st: Setting, max_tries: int = 8):
    """The largest step of the grid η0·1.5^k that reaches the tolerance: the search goes up until
    GD diverges (or ``max_tries`` steps were tried); a step that converges sets the budget of the
    next to twice its step count."""
    eta, best = st.eta0, None
    budget = st.gd_budget
    for _ in range(max_tries):
        k, chunk, diverged = gd_steps(st, eta, budget)
        if diverged:
            break
        if k is not None:
            best = (eta, k, chunk)
            budget = min(budget, 2 * k)
        elif best is not None:  # converged at a smaller step, not at this one: past the optimum
            break
        eta *= 1.5
    if best is None:
        return dict(converged=False, eta=eta / 1.5, k=budget, wall=float("nan"), loss=float("nan"))
    eta, k, chunk = best
    method = GD(eta=eta, n_steps=k, save_every=chunk if k % chunk == 0 else k)
    run = lambda: fit(st.model, st.problem, method, params0=st.params0)  # noqa: E731
    jax.block_until_ready(run().final)
    t = time.perf_counter()
    traj = run()
    jax.block_until_ready(traj.final)
    wall = time.perf_counter() - t
    return dict(converged=True, eta=eta, k=k, wall=wall, loss=float(traj.loss[-1]),
                final=traj.final)  # fmt: skip


# ---------------------------------------------------------------------------------------------
# sparse-limit: fit's mirror-coordinate path vs the parameter flow at small α (issue 22)

SPARSE_LIMIT_ALPHAS = "1e-4,1e-8,1e-16,1e-30"
STATUS = {0: "reached t1", 2: "FAILED", 3: "converged"}


def _timed(call, repeats):
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - t)
    return best


def _limit_run(model, problem, method, params0, mirror: bool):
    """Counters from one solve that does not raise (it also compiles), then ``fit``'s wall time."""
    from implicit_bias.errors import SolverError
    from implicit_bias.optim import _mirror_path

    if mirror:
        traj = _mirror_path.run(model, problem, method, params0, _nothing, label="mirror",
                                check=False)  # fmt: skip
    else:
        traj, _ = method.solve(model, problem, params0, _nothing, label="param")

    def call():
        try:
            out = fit(model, problem, method, params0=params0, observe=_nothing, reduce=mirror)
            jax.block_until_ready(out.final)
        except SolverError:
            pass

    wall = _timed(call, 1)
    if wall < 5.0:
        wall = min(wall, _timed(call, 1))
    final = np.asarray(traj.final)
    t = np.asarray(traj.t)
    return dict(wall=wall, evals=int(traj.n_evals), status=STATUS[int(traj.status)],
                loss=float(objective(model, problem, final)), t_end=float(np.nanmax(t)),
                path=traj.path if mirror else "full", x=np.asarray(model(final)))  # fmt: skip


def sparse_limit(args):
    from implicit_bias.baselines.l1 import basis_pursuit
    from implicit_bias.models.hadamard import Hadamard
    from implicit_bias.optim import GradientFlow
    from implicit_bias.problems.linear import make_sparse

    n, m, s = (200, 60, 4) if args.quick else (1000, 200, 10)
    data = make_sparse(m=m, n=n, s=s, seed=0)
    x_bp = basis_pursuit(np.asarray(data.A), np.asarray(data.y), nonneg=True)
    scale = np.linalg.norm(x_bp)
    tol = 1e-10
    print(f"# {time.strftime('%Y-%m-%d %H:%M')} {os.cpu_count()} CPUs, load "
          f"{os.getloadavg()[0]:.1f}; n={n} m={m} s={s} rtol={args.rtol:g} loss_tol={tol:g}")  # fmt: skip
    print(f"{'N':>2} {'alpha':>7}  {'path':<8}{'wall s':>8}{'evals':>10}  {'status':<11}"
          f"{'loss':>9}{'dist BP':>10}{'t_end':>10}")  # fmt: skip
    rows = []
    for N in (int(d) for d in args.depths.split(",")):
        for alpha in (float(a) for a in args.alphas.split(",")):
            model = Hadamard(depth=N, n=n, alpha=alpha)
            unit = 1.0 if N == 2 else alpha ** (2.0 - N)
            method = GradientFlow(t1=1e9 * unit, n_saves=30, spacing="log", t_first=1e-2 * unit,
                                  rtol=args.rtol, atol=1e-4 * args.rtol, loss_tol=tol,
                                  max_steps=5_000, solver="rosenbrock")  # fmt: skip
            p0 = model.init_params()
            res = {"mirror": _limit_run(model, data.problem, method, p0, mirror=True),
                   "param": _limit_run(model, data.problem, method, p0, mirror=False)}  # fmt: skip
            for name, r in res.items():
                d = float(np.linalg.norm(r["x"] - x_bp) / scale)
                print(f"{N:>2} {alpha:>7.0e}  {name:<8}{r['wall']:>8.2f}{r['evals']:>10,d}  "
                      f"{r['status']:<11}{r['loss']:>9.1e}{d:>10.2e}{r['t_end']:>10.2e}",
                      flush=True)  # fmt: skip
                rows.append(dict(N=N, alpha=alpha, method=name, dist_bp=d,
                                 **{k: v for k, v in r.items() if k != "x"}))  # fmt: skip
            both = all(r["status"] == "converged" for r in res.values())
            gap = np.linalg.norm(res["mirror"]["x"] - res["param"]["x"]) / scale
            rows[-1]["gap"] = rows[-2]["gap"] = float(gap) if both else float("nan")
            if both:
                print(f"{'':>12}‖x̃_mirror − x̃_param‖/‖x_BP‖ = {gap:.2e}", flush=True)
    print(f"# load at the end {os.getloadavg()[0]:.1f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2, default=float)
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default=None,
                    help="arora, gunasekar, sparse, regression or sparse-limit")  # fmt: skip
    ap.add_argument("--alphas", default=SPARSE_LIMIT_ALPHAS, help="sparse-limit: the α values")
    ap.add_argument("--depths", default="2,3", help="sparse-limit: the depths N")
    ap.add_argument("--rtol", type=float, default=1e-4)
    ap.add_argument("--no-gd", action="store_true", help="flow and NumPy loop only")
    ap.add_argument(
        "--solver",
        default="rosenbrock",
        choices=["rosenbrock", "auto", "tsit5", "dopri5", "dopri8", "kvaerno5"],
        help="rosenbrock (stiff.solve directly) or an engine solver: auto, tsit5, ...",
    )
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    if args.only == "sparse-limit":
        return sparse_limit(args)
    q = args.quick
    builders = {
        "arora": [lambda: arora(q)],
        "gunasekar": [lambda: gunasekar(q, 0.1), lambda: gunasekar(q, 1e-3)],
        "sparse": [lambda: sparse(q, 2), lambda: sparse(q, 3)],
        "regression": [lambda: regression(q)],
    }
    chosen = [args.only] if args.only else list(builders)
    flow_label = "flow (ROS34PW2)" if args.solver == "rosenbrock" else f"flow ({args.solver})"
    rows = []
    hdr = (f"{'setting':<30}{'method':<22}{'wall s':>9}{'evals':>11}{'loss':>10}{'tol':>9}"
           f"{'dist to baseline':>18}")  # fmt: skip
    print(hdr, flush=True)
    for name in chosen:
        for build in builders[name]:
            st = build()
            fl = run_flow(st, args.rtol, args.solver)
            d_flow, base = st.limit(fl["final"]) if fl["converged"] else (float("nan"), "")
            line = (f"{st.name:<30}{flow_label:<22}{fl['wall']:>9.2f}{fl['evals']:>11,d}"
                    f"{fl['loss']:>10.2e}{st.tol:>9.1e}{d_flow:>12.3g} ({base})"
                    + ("" if fl["converged"] else "  NOT CONVERGED"))  # fmt: skip
            print(line, flush=True)
            row = dict(setting=st.name, tol=st.tol, baseline=base,
                       flow={k: v for k, v in fl.items() if k != "final"}, flow_dist=d_flow)  # fmt: skip
            if not args.no_gd:
                gd = run_gd(st)
                d_gd = st.limit(gd["final"])[0] if gd["converged"] else float("nan")
                label = f"GD η={gd['eta']:.3g}"
                print(f"{'':<30}{label:<22}{gd['wall']:>9.2f}{gd['k']:>11,d}"
                      f"{gd['loss']:>10.2e}{st.tol:>9.1e}{d_gd:>12.3g}"
                      + ("" if gd["converged"] else "  NOT CONVERGED in budget"), flush=True)  # fmt: skip
                np_wall, extrapolated = numpy_loop(st, gd["eta"], gd["k"])
                print(f"{'':<30}{'NumPy loop, same η':<22}{('~' if extrapolated else '') + f'{np_wall:.2f}':>9}"
                      f"{gd['k']:>11,d}", flush=True)  # fmt: skip
                row.update(gd={k: v for k, v in gd.items() if k != "final"}, gd_dist=d_gd,
                           numpy_wall=np_wall, numpy_extrapolated=extrapolated)  # fmt: skip
            rows.append(row)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2, default=float)
    return rows


if __name__ == "__main__":
    main()
