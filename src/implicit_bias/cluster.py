"""The local Dask cluster behind ``reproduce`` and every sweep: one single-threaded process per core.

Imported by both ``runner`` and ``sweep`` (neither imports the other for it).
"""

import os

from implicit_bias.errors import ConfigError

MAX_WORKERS = 1024


def _quiet_http() -> dict:
    """Dask always opens an HTTP listener; without --dashboard it serves no route at all."""
    return {"distributed.scheduler.http.routes": [], "distributed.worker.http.routes": []}


def local_cluster(n_workers: int | None = None, *, dashboard: bool = False, tls: bool = True):
    """One single-threaded worker process per core (processes, not threads: see FINDINGS.md).

    Loopback only; TLS with temporary credentials (``Security.temporary()``: another local user
    cannot submit code to these workers); no HTTP route unless ``dashboard`` (then on
    127.0.0.1:8787, or a free port)."""
    import dask
    from distributed import LocalCluster

    n = n_workers or len(os.sched_getaffinity(0))
    if not 1 <= n <= MAX_WORKERS:
        raise ConfigError(f"--workers must be an integer from 1 to {MAX_WORKERS}, got {n}")
    env = {
        # each worker is one core: one XLA device, one intra-op thread
        "XLA_FLAGS": "--xla_force_host_platform_device_count=1 --xla_cpu_multi_thread_eigen=false "
        "intra_op_parallelism_threads=1",
        "JAX_ENABLE_X64": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MPLBACKEND": "Agg",
    }
    kwargs = {}
    if tls:
        from distributed.security import Security

        kwargs = {"security": Security.temporary(), "protocol": "tls://"}
    with dask.config.set({} if dashboard else _quiet_http()):
        return LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:8787" if dashboard else "127.0.0.1:0",
            scheduler_kwargs={"dashboard": dashboard},  # else any address turns the dashboard on
            env=env,
            silence_logs=40,
            **kwargs,
        )
