"""The Rosenbrock flow's cost with a cheap observer (the params) and an SVD observer, on the quick
Arora setting (40×40, rank 3, 480 entries, depth 3, α = 1e-3, rtol 1e-4, 60 snapshots).

    python benchmarks/bench_observe.py LABEL     # LABEL names the checkout in the output

Since observe runs only at snapshots (a lax.cond in stiff.solve), an SVD observer costs 60 SVDs,
not one per step: compare a checkout before that change with PYTHONPATH=OLD/src."""

import sys
import time

import jax
import jax.numpy as jnp

import implicit_bias as ib
from implicit_bias.optim import stiff

jax.config.update("jax_enable_x64", True)


def main(label: str) -> None:
    problem = ib.completion(n=40, rank=3, observed=480, seed=0)
    model = ib.DeepMatrix(depth=3, n=40, init="gaussian", alpha=1e-3)
    p0 = model.init_params(jax.random.key(0))
    L0 = float(problem.loss(model(p0)))

    def params(p):
        return p

    def singular_values(p):
        return jnp.linalg.svd(model(p), compute_uv=False)

    for name, observe in (("params", params), ("svd", singular_values)):
        times = []
        for _ in range(4):  # the first call compiles
            start = time.perf_counter()
            r = stiff.fit_flow(model, problem, p0, t1=1e8, n_saves=60, loss_tol=1e-8 * L0,
                               rtol=1e-4, observe=observe)  # fmt: skip
            jax.block_until_ready(r.final)
            times.append(time.perf_counter() - start)
        print(f"{label} observe={name}: {min(times[1:]):.3f} s (warm, best of 3), "
              f"evals {r.evals}, status {int(r.status)}")  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "this checkout")
