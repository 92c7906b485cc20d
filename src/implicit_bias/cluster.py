"""The local Dask cluster behind ``reproduce`` and every sweep: one single-threaded process per core.

Imported by both ``runner`` and ``sweep`` (neither imports the other for it).
"""

import os


def local_cluster(n_workers: int | None = None):
    """One single-threaded worker process per core (processes, not threads: see FINDINGS.md)."""
    from distributed import LocalCluster

    n = n_workers or len(os.sched_getaffinity(0))
    env = {
        # each worker is one core: one XLA device, one intra-op thread
        "XLA_FLAGS": "--xla_force_host_platform_device_count=1 --xla_cpu_multi_thread_eigen=false "
        "intra_op_parallelism_threads=1",
        "JAX_ENABLE_X64": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MPLBACKEND": "Agg",
    }
    return LocalCluster(
        n_workers=n,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        env=env,
        silence_logs=40,
    )
