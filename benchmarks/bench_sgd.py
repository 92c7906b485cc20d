"""SGD steps per second: the compiled, vmapped SGD of seed 001 against a plain Python per-step loop.

    python benchmarks/bench_sgd.py            # ~10 s on 2 cores
    python benchmarks/bench_sgd.py --quick    # 10⁶ steps instead of 10⁷

The 2×2 depth-3 problem of ``sgd_2x2`` (observe (1, *; ε, 1)), η = 0.1, λ = 0.01, one entry per step:
  * JAX: 10⁷ SGD steps summed over 256 seeds (``run_seeds``: one ``vmap`` of a ``lax.scan``), timed
    after a warm-up call that compiles;
  * Python: the same update θ ← (1 − 2ηλ)θ − (η/2)∇(A*_ij − (A_θ)_ij)², one NumPy step per loop
    iteration with the chain-rule gradient written out, one seed.
Both are first checked to produce the same iterates on the same sampled entries. Target: ≥ 100×.
"""

import argparse
import json
import time

import jax
import numpy as np

import implicit_bias  # noqa: F401  (float64, one XLA host device per core)
from implicit_bias.experiments.sgd_2x2 import problem_2x2
from implicit_bias.models.deep_matrix import DeepMatrix
from implicit_bias.optim.sgd import SGD, run_seeds, sampled_indices
from implicit_bias.theory.sgd import Observer

ETA, LAM, DEPTH = 0.1, 0.01, 3


def python_loop(params, rows, cols, y, idx, eta=ETA, lam=LAM):
    """Plain per-step loop: W_ℓ ← (1 − 2ηλ)W_ℓ − η r (W_L⋯W_{ℓ+1})ᵀ e_i e_jᵀ (W_{ℓ−1}⋯W_1)ᵀ."""
    W1, W2, W3 = (np.array(W) for W in params)
    decay = 1.0 - 2.0 * eta * lam
    for k in idx:
        i, j = rows[k], cols[k]
        P21 = W2 @ W1
        r = (W3 @ P21)[i, j] - y[k]  # (A_θ)_ij − A*_ij
        P32 = W3 @ W2
        g3 = r * np.outer(np.eye(2)[i], P21[:, j])  # e_i (W2 W1 e_j)ᵀ
        g2 = r * np.outer(W3[i, :], W1[:, j])  # W3ᵀ e_i (W1 e_j)ᵀ
        g1 = r * np.outer(P32[i, :], np.eye(2)[j])  # (W3 W2)ᵀ e_i e_jᵀ
        W1, W2, W3 = decay * W1 - eta * g1, decay * W2 - eta * g2, decay * W3 - eta * g3
    return W1, W2, W3


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    total = 10**6 if args.quick else 10**7
    B = 256
    n_steps = -(-total // B // 1000) * 1000  # per seed, a multiple of the snapshot interval
    problem = problem_2x2(0.2)
    rows, cols, y = (np.asarray(a) for a in (problem.rows, problem.cols, problem.y))
    model = DeepMatrix(depth=DEPTH, n=2, init="gaussian", alpha=0.7)
    p0 = jax.vmap(model.init_params)(jax.random.split(jax.random.key(0), B))
    obs = Observer(alpha=0.05)

    # same iterates on the same entries (oracle check before timing)
    check = SGD(eta=ETA, lam=LAM, n_steps=500, save_every=100, seed=3)
    one = jax.tree.map(lambda x: x[0], p0)
    traj = run_seeds(model, problem, check, one, [3], Observer(alpha=0.05, keep_params=True))
    ref = python_loop(one, rows, cols, y, sampled_indices(3, 500, 100, 3)[:, 0])
    err = max(float(np.max(np.abs(traj.observed["params"][j][0, -1] - ref[j]))) for j in range(3))
    assert err < 1e-12, f"JAX and the Python loop disagree: {err}"

    method = SGD(eta=ETA, lam=LAM, n_steps=n_steps, save_every=1000)
    seeds = np.arange(B)
    t = time.perf_counter()
    run_seeds(model, problem, method, p0, seeds, obs)  # compile + run
    first = time.perf_counter() - t
    t = time.perf_counter()
    out = run_seeds(model, problem, method, p0, seeds, obs)
    jax_s = time.perf_counter() - t
    assert np.all(out.status == 0)
    jax_rate = B * n_steps / jax_s

    n_py = 20_000 if not args.quick else 5_000
    idx = np.random.default_rng(0).integers(0, 3, n_py)
    t = time.perf_counter()
    python_loop(one, rows, cols, y, idx)
    py_s = time.perf_counter() - t
    py_rate = n_py / py_s
    result = {
        "steps_jax": B * n_steps,
        "seeds": B,
        "jax_seconds": round(jax_s, 3),
        "jax_first_call_seconds": round(first, 3),
        "jax_steps_per_s": round(jax_rate),
        "python_steps": n_py,
        "python_steps_per_s": round(py_rate),
        "ratio": round(jax_rate / py_rate, 1),
        "target": 100,
        "oracle_max_abs_diff": err,
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
