"""Sweep throughput: 1,000 small runs on the local Dask cluster vs the same runs one by one.

    python benchmarks/bench_sweep.py             # ~3 minutes on 2 cores
    python benchmarks/bench_sweep.py --runs 200  # quicker

The runs: ``dmf_identical`` (4×4 target, depth 3, 10,000 GD steps on the exact reduction and 10,000
on the full matrices, the NumPy oracle (7), checks, rows and the store write), over a grid of α, η
and seeds. Measured in the same process:
  * baseline: the runs one by one in a plain Python loop (``runner.execute``), after one warm-up run;
  * sweep, warm: ``run_sweep`` on a LocalCluster whose workers already compiled the task shape
    (a sweep of ≥ 100 runs: each task's runs written as one compacted part, merged at the end);
  * sweep, warm, a folder per run: the same with ``compact=False`` (the store before issue 24);
  * sweep, cold: the same from nothing (cluster start, worker imports, compilation included);
  * the scheduler's overhead per task (no-op tasks).
Target: warm sweep ≥ 20× the loop's runs per second on 2 cores (batching plus both cores).
"""

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import implicit_bias  # noqa: F401  (first: float64 before JAX loads)
from implicit_bias import runner, sweep

NAME = "dmf_identical"
FIXED = {"n_steps": "10000", "n_saves": "20", "tol": "1e-3"}


def spec(n_runs: int, offset: int = 0) -> sweep.SweepSpec:
    """A grid of α × η × seeds with n_runs configs (α and η below bound (8))."""
    alphas = [f"{0.05 + 0.01 * i:.2f}" for i in range(10)]
    etas = ["0.003", "0.004", "0.005", "0.006"]
    n_seeds = max(1, n_runs // (len(alphas) * len(etas)))
    seeds = tuple(range(offset, offset + n_seeds))
    return sweep.SweepSpec(NAME, {"alpha": tuple(alphas), "eta": tuple(etas)}, seeds, dict(FIXED))


def _noop(x):
    return x


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument(
        "--baseline-runs", type=int, default=100, help="runs timed in the plain loop"
    )
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args(argv)
    from distributed import Client

    work = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    try:
        # baseline: one by one, in this process. Without the runner's sharpness rows: a batched
        # sweep task (``run_batch``) stores none, so the loop must not pay for them either (with
        # them the loop is slower and the ratio flatters the sweep)
        from implicit_bias.optim import sharpness

        sharpness.AUTO_LIMIT = 0
        cfgs = sweep.expand(spec(args.runs, offset=10_000))
        runner.execute(NAME, cfgs[0], root=work / "loop", plot=False)  # compile
        n = min(args.baseline_runs, len(cfgs) - 1)
        t = time.perf_counter()
        for cfg in cfgs[1 : n + 1]:
            runner.execute(NAME, cfg, root=work / "loop", plot=False)
        loop_rate = n / (time.perf_counter() - t)
        print(f"plain loop: {loop_rate:.1f} runs/s ({n} runs, one by one)", flush=True)

        # cold: everything from nothing
        main_spec = spec(args.runs)
        n_runs = len(sweep.expand(main_spec))
        t = time.perf_counter()
        cluster = sweep.local_cluster(args.workers)
        client = Client(cluster)
        n_workers = len(client.scheduler_info()["workers"])
        batch = -(-n_runs // (4 * n_workers))
        record = sweep.run_sweep(main_spec, root=work / "cold", client=client, max_batch=batch)
        cold = time.perf_counter() - t
        print(
            f"sweep, cold (cluster start + imports + compile): {n_runs / cold:.1f} runs/s "
            f"({cold:.1f} s, {record['n_done']} stored)",
            flush=True,
        )

        # warm: the same workers, the same task shape already compiled
        t = time.perf_counter()
        record = sweep.run_sweep(main_spec, root=work / "warm", client=client, max_batch=batch)
        warm = time.perf_counter() - t
        assert record["status"] == "complete" and record["n_done"] == n_runs, record
        print(
            f"sweep, warm: {n_runs / warm:.1f} runs/s ({warm:.2f} s, {n_workers} workers, "
            f"tasks of {batch} runs)",
            flush=True,
        )

        # the same, each run a folder (as before issue 24: no batched part, no compaction)
        t = time.perf_counter()
        record = sweep.run_sweep(
            main_spec, root=work / "folders", client=client, max_batch=batch, compact=False
        )
        folders = time.perf_counter() - t
        print(
            f"sweep, warm, a folder per run: {n_runs / folders:.1f} runs/s ({folders:.2f} s)",
            flush=True,
        )

        # the scheduler's own overhead
        m = 1000
        client.gather(client.map(_noop, range(10), pure=False))
        t = time.perf_counter()
        client.gather(client.map(_noop, range(m), pure=False))
        per_task = (time.perf_counter() - t) / m
        print(f"scheduler overhead: {1e3 * per_task:.2f} ms per task ({m} no-op tasks)", flush=True)
        client.close()
        cluster.close()

        ratio_warm, ratio_cold = (n_runs / warm) / loop_rate, (n_runs / cold) / loop_rate
        print(f"ratio warm sweep / loop: {ratio_warm:.1f}×   cold sweep / loop: {ratio_cold:.1f}×")
        ok = ratio_warm >= 20
        print(f"  [{'met' if ok else 'MISSED'}] warm sweep ≥ 20× the plain loop")
        return 0 if ok else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
