"""Dask clusters: the local one behind ``reproduce`` and every sweep (one single-threaded process per
core, TLS), a client of an existing scheduler (address checked, TLS credentials, a connect timeout),
and the SLURM recipe of docs/sweeps.md.

Imported by both ``runner`` and ``sweep`` (neither imports the other for it).
"""

import os
import re
from pathlib import Path

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


CONNECT_TIMEOUT_S = 3.0  # a scheduler that does not answer within this is an error, not a wait
_ADDRESS = re.compile(r"(tcp|tls)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.\-_]*):([0-9]{1,5})")


def check_address(address: str) -> str:
    """``tcp://HOST:PORT`` or ``tls://HOST:PORT`` (``HOST:PORT`` means tcp://); else a ConfigError."""
    text = address.strip()
    full = text if "://" in text else f"tcp://{text}"
    found = _ADDRESS.fullmatch(full)
    if found is None or not 0 < int(found.group(3)) < 65536:
        raise ConfigError(
            f"--scheduler expects tls://HOST:PORT or tcp://HOST:PORT, got {address!r}"
        )
    return full


def security(ca: Path | None = None, cert: Path | None = None, key: Path | None = None):
    """Dask TLS credentials from PEM files (all three or none); None when none is given."""
    given = [p for p in (ca, cert, key) if p is not None]
    if not given:
        return None
    if len(given) != 3:
        raise ConfigError("--tls-ca, --tls-cert and --tls-key go together: give all three")
    for flag, p in (("--tls-ca", ca), ("--tls-cert", cert), ("--tls-key", key)):
        if not Path(p).is_file():
            raise ConfigError(f"{flag}: no such file {p}")
    from distributed.security import Security

    return Security(
        tls_ca_file=str(ca), tls_client_cert=str(cert), tls_client_key=str(key),
        require_encryption=True,
    )  # fmt: skip


def connect(address: str, *, security=None, timeout: float = CONNECT_TIMEOUT_S):
    """A Client of the scheduler at ``address``, or a ConfigError within ``timeout`` seconds."""
    from distributed import Client

    address = check_address(address)
    if address.startswith("tls://") and security is None:
        raise ConfigError(f"{address} needs credentials: give --tls-ca, --tls-cert and --tls-key")
    try:
        return Client(address, timeout=timeout, security=security)
    except Exception as e:  # OSError, TimeoutError, ssl errors: all mean "cannot use it"
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(
            f"cannot reach the Dask scheduler at {address} within {timeout:g} s: {first}"
        ) from None


def _log_to_file(path: str):
    """A worker plugin: the worker's log records go to ``path`` (in the store), not the terminal."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class LogToFile(WorkerPlugin):
        name = "implicit-bias-log-to-file"

        def setup(self, worker):
            import logging

            try:
                handler = logging.FileHandler(path)
            except OSError:  # a remote worker that does not see the store keeps its own logging
                return
            handler.setFormatter(
                logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s")
            )
            for name in ("distributed", "implicit_bias"):
                log = logging.getLogger(name)
                for h in list(log.handlers):
                    if type(h) is logging.StreamHandler:
                        log.removeHandler(h)
                log.addHandler(handler)

    return LogToFile()


def _client_of(cluster):
    from distributed import Client

    return Client(cluster, security=cluster.security)


def write_tls_credentials(folder: Path) -> tuple[Path, Path, Path]:
    """A self-signed certificate and key for a Dask cluster (``Security.temporary()``, saved):
    ``folder/{ca,cert,key}.pem``, readable by you only. Give all three to the scheduler, the
    workers and ``implicit-bias sweep --tls-ca/--tls-cert/--tls-key``: a process without them is
    refused."""
    from distributed.security import Security

    folder = Path(folder).expanduser()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = Security.temporary()
    paths = (folder / "ca.pem", folder / "cert.pem", folder / "key.pem")
    for path, text in zip(paths, (tmp.tls_ca_file, tmp.tls_client_cert, tmp.tls_client_key)):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
    return paths


def slurm_cluster(
    tls: Path,
    *,
    host: str | None = None,
    port: int = 0,
    cores: int = 1,
    memory: str = "4GiB",
    walltime: str = "02:00:00",
    prologue: tuple[str, ...] = (),
    **kwargs,
):
    """The SLURM recipe of docs/sweeps.md: a dask-jobqueue ``SLURMCluster`` whose scheduler (on
    the login node) and workers (one single-threaded process per job) speak TLS with the
    credentials in ``tls`` (``write_tls_credentials``), with no dashboard. Scale it with
    ``cluster.scale(jobs=N)``; ``cluster.scheduler_address`` is the ``tls://`` address."""
    from dask_jobqueue import SLURMCluster
    from distributed.security import Security

    tls = Path(tls).expanduser()
    ca, cert, key = (str(tls / n) for n in ("ca.pem", "cert.pem", "key.pem"))
    security = Security(
        tls_ca_file=ca, tls_client_cert=cert, tls_client_key=key, tls_scheduler_cert=cert,
        tls_scheduler_key=key, tls_worker_cert=cert, tls_worker_key=key, require_encryption=True,
    )  # fmt: skip
    scheduler = {"dashboard": False, "dashboard_address": None, "port": port}
    if host is not None:
        scheduler["host"] = host
    return SLURMCluster(
        cores=cores,
        processes=1,
        memory=memory,
        walltime=walltime,
        protocol="tls://",
        security=security,
        scheduler_options=scheduler,
        worker_extra_args=["--no-dashboard"],
        job_script_prologue=[
            "export JAX_ENABLE_X64=1 OPENBLAS_NUM_THREADS=1 MPLBACKEND=Agg",
            "export XLA_FLAGS='--xla_force_host_platform_device_count=1 "
            "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1'",
            *prologue,
        ],
        **kwargs,
    )
