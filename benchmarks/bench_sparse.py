"""Sparse recovery: gradient flow vs GD to loss 1e-10 at n = 1000, m = 200, s = 10, α = 1e-4 (seed 003).

    python benchmarks/bench_sparse.py            # < 3 minutes on 2 cores

Positive Hadamard model x̃ = w^{⊙N} (N = 2 and 3) from w(0) = α1, Gaussian A (entries N(0, 1/m)),
non-negative 10-sparse x, y = Ax. In one run: the engine's gradient flow (explicit Tsit5, rtol 1e-6,
``loss_tol`` = 1e-10) and GD with step η = 0.5/(N² max_k x_k^{2−2/N} ‖A‖₂²) (half the stability limit
at the solution) — gradient evaluations and wall time to reach L ≤ 1e-10, and the final relative error
to x. Wall times are of a second, warm (compiled) call. (The implicit Kvaerno5 flow used by the
experiments is left out: at n = 1000 each step factors a 1000 × 1000 Newton matrix.)
"""

import time

import numpy as np

import implicit_bias  # noqa: F401  (float64)
from implicit_bias.errors import SolverError
from implicit_bias.models.hadamard import Hadamard
from implicit_bias.optim import GD, GradientFlow, fit
from implicit_bias.problems.linear import make_sparse

N_, M_, S_, ALPHA, TOL = 1000, 200, 10, 1e-4, 1e-10
MAX_STEPS = 300_000
DEPTHS = (2,)


def timed(fn):
    fn()  # compile
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main():
    data = make_sparse(m=M_, n=N_, s=S_, seed=0)
    x = data.x
    A_norm2 = np.linalg.norm(data.A, 2) ** 2
    print(f"n={N_} m={M_} s={S_} α={ALPHA:g}, target loss {TOL:g}; ‖A‖₂² = {A_norm2:.3g}")
    for N in DEPTHS:
        model = Hadamard(depth=N, n=N_, alpha=ALPHA)
        obs = Hadamard(depth=N, n=N_)
        flow = GradientFlow(t1=1e9, n_saves=20, spacing="log", t_first=1e-2, loss_tol=TOL,
                            rtol=1e-6, max_steps=MAX_STEPS)  # fmt: skip
        try:
            traj, t_flow = timed(lambda: fit(model, data.problem, flow, observe=obs))  # noqa: B023
        except SolverError:
            print(f"N={N} flow Tsit5    : did not reach {TOL:g} within {MAX_STEPS} steps")
            continue
        xf = np.asarray(model(traj.final))
        print(f"N={N} flow Tsit5    : {int(traj.n_evals):>9d} evaluations, {t_flow:7.2f} s, "
              f"loss {float(traj.loss[-1]):.2e}, t_end {float(traj.t[-1]):.3g}, "
              f"error {np.linalg.norm(xf - x) / np.linalg.norm(x):.2e}")  # fmt: skip
        eta = 0.5 / (N**2 * x.max() ** (2 - 2 / N) * A_norm2)
        chunk = 1000
        n_steps = chunk
        while True:  # grow the horizon until GD reaches the target (same problem, same start)
            gd = GD(eta=eta, n_steps=n_steps, save_every=chunk // 10)
            tg = fit(model, data.problem, gd, observe=obs)
            below = np.flatnonzero(np.asarray(tg.loss) <= TOL)
            if below.size or n_steps >= 3_000_000:
                break
            n_steps *= 4
        k = int(np.asarray(tg.t)[below[0]]) if below.size else n_steps
        gd = GD(eta=eta, n_steps=max(k, 1), n_saves=2)
        tg, t_gd = timed(lambda: fit(model, data.problem, gd, observe=obs))  # noqa: B023
        xg = np.asarray(model(tg.final))
        print(f"N={N} GD η={eta:.2e}: {k:>9d} evaluations, {t_gd:7.2f} s, loss {float(tg.loss[-1]):.2e}, "
              f"error {np.linalg.norm(xg - x) / np.linalg.norm(x):.2e}"
              + ("" if below.size else "  (did not reach the target)"))  # fmt: skip
        print(f"N={N} ratio GD/flow: {k / int(traj.n_evals):.1f}× evaluations, {t_gd / t_flow:.1f}× time")


if __name__ == "__main__":
    main()
