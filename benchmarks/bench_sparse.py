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
from implicit_bias.models.hadamard import Hadamard
from implicit_bias.optim import GD, GradientFlow, fit, fit_batch
from implicit_bias.problems.linear import make_sparse

N_, M_, S_, ALPHA, TOL = 1000, 200, 10, 1e-4, 1e-10
MAX_STEPS = 30_000
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
    err = lambda z: np.linalg.norm(z - x) / np.linalg.norm(x)  # noqa: E731
    for N in DEPTHS:
        model = Hadamard(depth=N, n=N_, alpha=ALPHA)
        obs = Hadamard(depth=N, n=N_)
        flow = GradientFlow(t1=1e9, n_saves=40, spacing="log", t_first=1e-2, loss_tol=TOL,
                            rtol=1e-6, max_steps=MAX_STEPS)  # fmt: skip
        p0 = [model.init_params()]
        # fit_batch of one member: a run that exhausts max_steps is returned, not raised
        traj, t_flow = timed(
            lambda: fit_batch(model, [data.problem], flow, params0=p0, observe=obs)
        )  # noqa: B023
        traj = traj.member(0)
        evals, loss_f = int(traj.n_evals), float(traj.loss[-1])
        xf = np.asarray(model(np.asarray(traj.final)))
        reached = loss_f <= TOL
        print(f"N={N} flow Tsit5: {evals:>9d} evaluations, {t_flow:7.2f} s, loss {loss_f:.2e} at "
              f"t = {float(traj.t[-1]):.4g}, error {err(xf):.2e}"
              + ("" if reached else f"  (max_steps = {MAX_STEPS} ran out before {TOL:g})"))  # fmt: skip
        target = max(TOL, loss_f)
        eta = 0.5 / (N**2 * x.max() ** (2 - 2 / N) * A_norm2)
        save = 500
        n_steps = save * max(1, round(2 * evals / save))
        gd = GD(eta=eta, n_steps=n_steps, save_every=save)
        tg, t_gd = timed(lambda: fit(model, data.problem, gd, observe=obs))  # noqa: B023
        losses = np.asarray(tg.loss)
        below = np.flatnonzero(losses <= target)
        k = int(np.asarray(tg.t)[below[0]]) if below.size else None
        print(
            f"N={N} GD η={eta:.2e}: {n_steps} steps in {t_gd:.2f} s ({n_steps / t_gd:.3g} steps/s), "
            f"final loss {losses[-1]:.2e}, error {err(np.asarray(model(tg.final))):.2e}"
        )
        if k is not None:
            print(
                f"N={N} GD reaches the flow's loss {target:.2e} at step {k}: {k / evals:.2f}× the "
                f"flow's evaluations, {k / n_steps * t_gd / t_flow:.2f}× its time"
            )
        else:
            print(
                f"N={N} GD does not reach the flow's loss {target:.2e} within {n_steps} steps "
                f"(2× the flow's evaluations)"
            )


if __name__ == "__main__":
    main()
