"""GD steps per second and gradient flow vs GD at equal accuracy (issue: core engine benchmark).

    python benchmarks/bench_gd.py            # ~2-3 minutes on 2 cores
    python benchmarks/bench_gd.py --quick    # smaller step counts
    python benchmarks/bench_gd.py --sizes 100,500,1000,2000   # steps/s and share of the device's peak

``--sizes`` runs only the single-run GD speed at the given n, on whatever device JAX uses (a GPU when
the ``cuda`` extra is installed and one is visible), and reports each as a share of that device's
float64 matmul peak measured in the same run (JAX, n = 4000 on a GPU, 2000 on a CPU). float64 stays
on (``implicit_bias`` sets ``jax_enable_x64``); on consumer GPUs float64 runs at 1/32–1/64 of float32.

Measured in one process, all in the same run:
  * the machine's float64 matmul peak (NumPy and JAX on 2000×2000, best of both);
  * depth-3 GD on n×n factors (full observation, Gaussian init so no reduction applies) through the
    engine's public ``fit`` / ``fit_batch``, against a plain NumPy per-step loop of the same update;
  * gradient flow (diffrax Tsit5) vs GD, gradient evaluations and wall time to reach 1e-6 relative
    accuracy against a tight reference solution.
Targets (2-core CPU): n=4 ≥ 10× NumPy; n=20 ≥ 2.5× single and ≥ 4× batched; n=100 ≥ 30% of peak;
flow ≥ 1000× fewer gradient evaluations than GD at 1e-6.
"""

import argparse
import json
import sys
import time

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import implicit_bias  # noqa: F401  (first: float64 and one XLA host device per core)
from implicit_bias.models.deep_matrix import DeepMatrix  # noqa: E402
from implicit_bias.optim import GD, GradientFlow, fit, fit_batch  # noqa: E402
from implicit_bias.problems.full import random_target  # noqa: E402

DEPTH = 3


def jax_matmul_peak(n: int) -> float:
    """float64 FLOP/s of a jitted n×n matmul on JAX's default device (best of 5)."""
    key = jax.random.key(0)
    A = jax.random.normal(key, (n, n), dtype=jnp.float64)
    B = jax.random.normal(jax.random.key(1), (n, n), dtype=jnp.float64)
    f = jax.jit(jnp.matmul)
    f(A, B).block_until_ready()
    best = 0.0
    for _ in range(5):
        t = time.perf_counter()
        f(A, B).block_until_ready()
        best = max(best, 2 * n**3 / (time.perf_counter() - t))
    return best


def sizes_main(sizes: list[int], json_path: str | None) -> int:
    """Steps/s of depth-3 GD at each n and the share of the device's measured float64 peak."""
    dev = jax.devices()[0]
    on_cpu = dev.platform == "cpu"
    peak = matmul_peak() if on_cpu else jax_matmul_peak(4000)
    print(f"device: {dev.platform} ({dev.device_kind}); float64 matmul peak {peak / 1e9:.1f} GFLOP/s",
          flush=True)  # fmt: skip
    out = {"device": f"{dev.platform} {dev.device_kind}", "peak_gflops": peak / 1e9, "gd": []}
    for n in sizes:
        # about 2 s of work at the device's peak, at least 20 steps
        n_steps = int(max(20, min(20_000, 2 * peak / (12 * n**3))))
        n_steps -= n_steps % 10
        problem = random_target(0, (n, n))
        model = DeepMatrix(depth=DEPTH, n=n, init="gaussian", alpha=1.0 / np.sqrt(n))
        params = model.init_params(jax.random.key(0))
        method = GD(eta=1e-3, n_steps=n_steps, n_saves=10)
        wall = _timed(
            lambda: jax.block_until_ready(fit(model, problem, method, params0=params).final), 1
        )
        rate = n_steps / wall
        gflops = rate * 12 * n**3 / 1e9
        row = dict(n=n, steps=n_steps, steps_per_s=rate, gflops=gflops, share=gflops * 1e9 / peak)
        out["gd"].append(row)
        print(f"n={n:5d}: {rate:>10,.1f} steps/s, {gflops:8.1f} GFLOP/s = {100 * row['share']:.0f}% of "
              f"the measured peak ({n_steps} steps in {wall:.2f} s)", flush=True)  # fmt: skip
    if json_path:
        with open(json_path, "w") as f:
            json.dump(out, f, indent=2)
    return 0


def matmul_peak() -> float:
    best = 0.0
    n = 2000
    A, B = np.random.rand(n, n), np.random.rand(n, n)
    A @ B
    for _ in range(3):
        t = time.perf_counter()
        A @ B
        best = max(best, 2 * n**3 / (time.perf_counter() - t))
    Aj, Bj = jnp.asarray(A), jnp.asarray(B)
    f = jax.jit(jnp.matmul)
    f(Aj, Bj).block_until_ready()
    for _ in range(3):
        t = time.perf_counter()
        f(Aj, Bj).block_until_ready()
        best = max(best, 2 * n**3 / (time.perf_counter() - t))
    return best


def numpy_loop(params, W_hat, eta, n_steps) -> float:
    """Steps/s of plain NumPy GD with the hand-written gradient (4), one Python step at a time."""
    W1, W2, W3 = (np.array(W) for W in params)
    t = time.perf_counter()
    for _ in range(n_steps):
        P2 = W2 @ W1
        E = W3 @ P2 - W_hat
        g3 = E @ P2.T
        S = W3.T @ E
        g2 = S @ W1.T
        g1 = W2.T @ S
        W1, W2, W3 = W1 - eta * g1, W2 - eta * g2, W3 - eta * g3
    return n_steps / (time.perf_counter() - t)


def _timed(fn, repeats=2) -> float:
    fn()  # compile
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def gd_speed(n: int, n_steps: int, batch: int, numpy_steps: int) -> dict:
    problem = random_target(0, (n, n))
    model = DeepMatrix(depth=DEPTH, n=n, init="gaussian", alpha=1.0 / np.sqrt(n))
    key = jax.random.key(0)
    params = model.init_params(key)
    eta = 1e-3
    method = GD(eta=eta, n_steps=n_steps, n_saves=10)
    single = n_steps / _timed(
        lambda: jax.block_until_ready(fit(model, problem, method, params0=params).final)
    )
    keys = list(jax.random.split(key, batch))
    b_steps = max(n_steps // batch, 1000) if n >= 100 else n_steps // 4
    b_method = GD(eta=eta, n_steps=b_steps, n_saves=10)
    batched = (
        batch
        * b_steps
        / _timed(
            lambda: jax.block_until_ready(fit_batch(model, problem, b_method, keys=keys).final),
            repeats=1,
        )
    )
    numpy = numpy_loop(params, np.asarray(problem.W_hat), eta, numpy_steps)
    flops = 12 * n**3
    return dict(
        n=n,
        jax_single=single,
        jax_batch32=batched,
        numpy=numpy,
        single_vs_numpy=single / numpy,
        batch_vs_numpy=batched / numpy,
        gflops_single=single * flops / 1e9,
    )


def flow_vs_gd(n: int, alpha: float, T: float, target: float = 1e-6) -> dict:
    problem = random_target(1, (n, n))
    model = DeepMatrix(depth=DEPTH, n=n, init="gaussian", alpha=alpha)
    params = model.init_params(jax.random.key(1))
    n_saves = 20
    ref = fit(
        model,
        problem,
        GradientFlow(t1=T, n_saves=n_saves, rtol=1e-13, atol=1e-15, solver="dopri8"),
        params0=params,
    )
    W_ref = np.asarray(jax.vmap(model)(ref.observed))
    scale = np.max(np.linalg.norm(W_ref, axis=(1, 2)))

    def error(traj):
        W = np.asarray(jax.vmap(model)(traj.observed))
        return float(np.max(np.linalg.norm(W - W_ref, axis=(1, 2))) / scale)

    flow_row = None
    for rtol in (1e-6, 1e-7, 1e-8, 1e-9, 1e-10):
        method = GradientFlow(t1=T, n_saves=n_saves, rtol=rtol, atol=rtol * 1e-2)
        traj = fit(model, problem, method, params0=params)
        wall = _timed(
            lambda: jax.block_until_ready(fit(model, problem, method, params0=params).final), 1
        )
        err = error(traj)
        if err <= target:
            flow_row = dict(rtol=rtol, error=err, evals=int(traj.n_evals), wall_s=wall)
            break
    # GD: error ≈ c·η; measure c, then run at the η that reaches the target and confirm
    k0 = 2000 * n_saves
    gd0 = fit(model, problem, GD(eta=T / k0, n_steps=k0, save_every=k0 // n_saves), params0=params)
    c = error(gd0) / (T / k0)
    n_steps = int(np.ceil(T / (0.8 * target / c) / n_saves)) * n_saves
    while True:
        method = GD(eta=T / n_steps, n_steps=n_steps, save_every=n_steps // n_saves)
        t = time.perf_counter()
        gd = fit(model, problem, method, params0=params)
        jax.block_until_ready(gd.final)
        wall = time.perf_counter() - t
        err = error(gd)
        if err <= target:
            break
        n_steps *= 2
    gd_row = dict(eta=T / n_steps, error=err, evals=n_steps, wall_s=wall)
    return dict(
        n=n,
        alpha=alpha,
        T=T,
        flow=flow_row,
        gd=gd_row,
        evals_ratio=gd_row["evals"] / flow_row["evals"],
        wall_ratio=gd_row["wall_s"] / flow_row["wall_s"],
    )


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", default=None, help="write the results here")
    parser.add_argument("--sizes", default=None, help="e.g. 100,500,1000,2000: GD speed only")
    args = parser.parse_args(argv)
    if args.sizes:
        return sizes_main([int(v) for v in args.sizes.split(",")], args.json)
    q = 10 if args.quick else 1
    out = {"peak_gflops": matmul_peak() / 1e9}
    print(f"float64 matmul peak: {out['peak_gflops']:.1f} GFLOP/s", flush=True)
    out["gd"] = []
    for n, steps, np_steps in (
        (4, 2_000_000 // q, 100_000 // q),
        (20, 400_000 // q, 40_000 // q),
        (100, 20_000 // q, 3_000 // q),
    ):
        row = gd_speed(n, steps, 32, np_steps)
        row["fraction_of_peak"] = row["gflops_single"] / out["peak_gflops"]
        out["gd"].append(row)
        print(
            f"n={n:3d}: JAX {row['jax_single']:>12,.0f} steps/s (×{row['single_vs_numpy']:.1f} NumPy), "
            f"batch of 32 {row['jax_batch32']:>12,.0f} steps/s (×{row['batch_vs_numpy']:.1f}), "
            f"NumPy {row['numpy']:>10,.0f} steps/s, {row['gflops_single']:.1f} GFLOP/s "
            f"= {100 * row['fraction_of_peak']:.0f}% of peak",
            flush=True,
        )
    fv = flow_vs_gd(4, 0.3, 40.0)
    out["flow_vs_gd"] = fv
    print(
        f"to 1e-6 relative accuracy (n=4, Gaussian α=0.3, T=40): flow {fv['flow']['evals']:,} evaluations "
        f"in {fv['flow']['wall_s']:.3f} s (rtol {fv['flow']['rtol']:g}); GD {fv['gd']['evals']:,} "
        f"steps in {fv['gd']['wall_s']:.2f} s (η={fv['gd']['eta']:.2g}); "
        f"ratio {fv['evals_ratio']:,.0f}× fewer evaluations, {fv['wall_ratio']:,.0f}× less time",
        flush=True,
    )
    rows = {r["n"]: r for r in out["gd"]}
    targets = {
        "n=4 single ≥ 10× NumPy": rows[4]["single_vs_numpy"] >= 10,
        "n=20 single ≥ 2.5× NumPy": rows[20]["single_vs_numpy"] >= 2.5,
        "n=20 batched ≥ 4× NumPy": rows[20]["batch_vs_numpy"] >= 4,
        "n=100 ≥ 30% of peak": rows[100]["fraction_of_peak"] >= 0.30,
        "flow ≥ 1000× fewer evaluations at 1e-6": fv["evals_ratio"] >= 1000,
    }
    out["targets"] = targets
    for name, ok in targets.items():
        print(f"  [{'met' if ok else 'MISSED'}] {name}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    return 0 if all(targets.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
