"""The Rosenbrock flow's cost with a cheap observer (the params) and an SVD observer, on the quick
Arora setting (40×40, rank 3, 480 entries, depth 3, α = 1e-3, rtol 1e-4, 60 snapshots).

    python benchmarks/bench_observe.py LABEL     # LABEL names the checkout in the output

Since observe runs only at snapshots (a lax.cond in stiff.solve), an SVD observer costs 60 SVDs,
not one per step: compare a checkout before that change with PYTHONPATH=OLD/src."""
import sys, time
import jax, jax.numpy as jnp, numpy as np
jax.config.update("jax_enable_x64", True)
import implicit_bias as ib
from implicit_bias import stiff
problem = ib.completion(n=40, rank=3, observed=480, seed=0)
model = ib.DeepMatrix(depth=3, n=40, init="gaussian", alpha=1e-3)
p0 = model.init_params(jax.random.key(0))
def ident(p): return p
def svd_obs(p): return jnp.linalg.svd(model(p), compute_uv=False)
L0 = float(problem.loss(model(p0)))
for name, obs in (("params", ident), ("svd", svd_obs)):
    best = []
    for rep in range(4):
        t = time.perf_counter()
        r = stiff.fit_flow(model, problem, p0, t1=1e8, n_saves=60, loss_tol=1e-8 * L0, rtol=1e-4, observe=obs)
        jax.block_until_ready(r.final); best.append(time.perf_counter() - t)
    print(f"{sys.argv[1] if len(sys.argv) > 1 else 'this checkout'} observe={name}: {min(best[1:]):.3f} s (warm, best of 3), evals {r.evals}, status {int(r.status)}")
