"""The scheduler lets nobody in, and sweeps say what failed (issue 15 §3 and §5).

- the local cluster speaks TLS with temporary credentials on loopback and serves no HTTP route:
  a client without the credentials, or with other ones, is refused;
- an external cluster started with Dask's own ``dask scheduler`` / ``dask worker`` commands (TLS,
  loopback, workers in another working directory) runs a sweep given by ``--scheduler tls://…``;
  one worker is killed mid-sweep and every run is still stored exactly once;
- the SLURM recipe of docs/sweeps.md renders a TLS job script (dask-jobqueue, no SLURM needed);
- a local CLI sweep with a failing run exits 3 with a table of failed runs and no Dask noise.
All sockets are on 127.0.0.1; every wait is bounded.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from implicit_bias import config, store, sweep

pytestmark = pytest.mark.xdist_group("dask")  # shares the session Dask cluster

NAME = "dmf_identical"
SRC = str(Path(__file__).resolve().parents[1] / "src")
ENV = {
    **os.environ,
    "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""),
    "PYTHONUNBUFFERED": "1",
    "JAX_ENABLE_X64": "1",
    "XLA_FLAGS": "--xla_force_host_platform_device_count=1",
    "MPLBACKEND": "Agg",
}


def test_the_local_cluster_refuses_clients_without_its_credentials(dask_client):
    import asyncio

    from distributed.comm import connect
    from distributed.security import Security

    address = dask_client.scheduler.address
    assert address.startswith("tls://127.0.0.1:")

    async def intrude(addr, security):
        comm = await connect(addr, timeout=5, **security.get_connection_args("client"))
        try:
            await comm.write({"op": "identity"})
            return await comm.read()
        finally:
            await comm.close()

    # plain TCP to the TLS port (no credentials), and TLS with someone else's credentials
    for addr, security in ((address.replace("tls://", "tcp://"), Security()),
                           (address, Security.temporary())):  # fmt: skip
        start = time.perf_counter()
        with pytest.raises((OSError, TimeoutError)):  # CommClosedError is an OSError
            asyncio.run(intrude(addr, security))
        assert time.perf_counter() - start < 30
    # our own client is in, and the scheduler serves no HTTP route (no dashboard, no API)
    assert dask_client.submit(sum, [1, 2]).result(timeout=60) == 3
    http = dask_client.cluster.scheduler.http_server
    assert http.port != 8787
    for route in ("/", "/status", "/health", "/info/main/workers.html", "/api/v1"):
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(f"http://127.0.0.1:{http.port}{route}", timeout=5)
        assert answer.value.code == 404


def _spawn(args, cwd, log: Path):
    with open(log, "w") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            args, cwd=cwd, env=ENV, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _stop(*procs):
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        p.wait(timeout=30)


def test_external_tls_cluster_sweep_with_a_killed_worker(tmp_path):
    ca, cert, key = sweep.write_tls_credentials(tmp_path / "tls")
    tls = ["--tls-ca-file", str(ca), "--tls-cert", str(cert), "--tls-key", str(key)]
    bin_dir = Path(sys.executable).parent
    info = tmp_path / "scheduler.json"
    logs = tmp_path / "logs"
    logs.mkdir()
    elsewhere = tmp_path / "workers-cwd"
    elsewhere.mkdir()
    sched = _spawn(
        [bin_dir / "dask", "scheduler", "--host", "127.0.0.1", "--port", "0", "--protocol", "tls",
         "--no-dashboard", "--scheduler-file", str(info), *tls],
        tmp_path, logs / "scheduler.log",
    )  # fmt: skip
    workers = []
    try:
        deadline = time.time() + 120

        def written() -> dict | None:  # the scheduler writes the file in place: wait for valid JSON
            try:
                return json.loads(info.read_text())
            except (OSError, ValueError):
                return None

        while written() is None and time.time() < deadline and sched.poll() is None:
            time.sleep(0.2)
        address = (written() or {}).get("address", "")
        assert address.startswith("tls://127.0.0.1:")
        for i in range(2):
            workers.append(_spawn(
                [bin_dir / "dask", "worker", address, "--nthreads", "1", "--no-nanny",
                 "--no-dashboard", "--name", f"w{i}", "--local-directory", str(elsewhere), *tls],
                elsewhere, logs / f"worker{i}.log",
            ))  # fmt: skip
        root = tmp_path / "store"
        alphas = "0.1,0.12,0.14,0.16,0.18,0.2"
        client = subprocess.Popen(
            [sys.executable, "-m", "implicit_bias.cli", "sweep", NAME, "--grid", f"alpha={alphas}",
             "--set", "n_steps=200000", "--set", "n_saves=20", "--set", "tol=1e-3",
             "--max-batch", "1", "--scheduler", address, "--tls-ca", str(ca),
             "--tls-cert", str(cert), "--tls-key", str(key), "--root", str(root)],
            cwd=tmp_path, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        # kill one worker as soon as the first run is stored, while the others are in flight
        deadline = time.time() + 240
        while time.time() < deadline and client.poll() is None:
            if list(root.glob(f"{NAME}/*/{store.MANIFEST}")):
                break
            time.sleep(0.1)
        n_before = len(list(root.glob(f"{NAME}/*/{store.MANIFEST}")))
        assert client.poll() is None and 1 <= n_before < 6, "the sweep was not mid-way"
        os.kill(workers[0].pid, signal.SIGKILL)
        out, _ = client.communicate(timeout=300)
    finally:
        _stop(*workers, sched)
        if "client" in locals() and client.poll() is None:
            client.kill()
    assert client.returncode == 0, out
    assert "complete: 6 of 6 runs stored, 0 failed" in " ".join(out.split())
    expected = {
        config.config_hash(NAME, c)
        for c in sweep.expand(
            sweep.SweepSpec(NAME, {"alpha": tuple(alphas.split(","))}, (0,),
                            {"n_steps": "200000", "n_saves": "20", "tol": "1e-3"})
        )
    }  # fmt: skip
    names = sorted(p.name for p in (root / NAME).iterdir())
    assert [n for n in names if not n.startswith(store.TMP_PREFIX)] == sorted(expected)
    assert not store.broken_runs(root)
    assert not list(elsewhere.glob(f"{NAME}*")) and not (elsewhere / "results").exists()


def test_the_slurm_recipe_renders_a_tls_job_script(tmp_path):
    pytest.importorskip("dask_jobqueue")
    tls = tmp_path / "tls"
    sweep.write_tls_credentials(tls)
    assert all((tls / n).stat().st_mode & 0o077 == 0 for n in ("ca.pem", "cert.pem", "key.pem"))
    cluster = sweep.slurm_cluster(tls, host="127.0.0.1", account="myproject")
    try:
        script = cluster.job_script()
        assert cluster.scheduler_address.startswith("tls://127.0.0.1:")
    finally:
        cluster.close()
    assert script.startswith("#!/usr/bin/env bash") and "#SBATCH -A myproject" in script
    assert "#SBATCH --cpus-per-task=1" in script and "#SBATCH -t 02:00:00" in script
    worker = next(line for line in script.splitlines() if "dask_worker" in line)
    assert f" {cluster.scheduler_address} " in worker
    for flag in ("--nthreads 1", "--protocol tls://", "--no-dashboard",
                 f"--tls-ca-file {tls}/ca.pem", f"--tls-cert {tls}/cert.pem",
                 f"--tls-key {tls}/key.pem"):  # fmt: skip
        assert flag in worker, (flag, worker)
    assert "export JAX_ENABLE_X64=1" in script


def test_a_sweep_with_a_failed_run_exits_3_with_a_table_and_no_dask_noise(tmp_path):
    busy = socket.socket()
    try:  # hold 8787: a scheduler that still asked for it would print "Port 8787 is already in use"
        busy.bind(("127.0.0.1", 8787))
        busy.listen()
    except OSError:
        pass
    try:
        result = subprocess.run(
            [sys.executable, "-m", "implicit_bias.cli", "sweep", NAME,
             "--grid", "eta=0.005,0.2", "--set", "n_steps=1000", "--set", "n_saves=10",
             "--set", "tol=1e-3", "--workers", "1", "--root", str(tmp_path)],
            env=ENV, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    finally:
        busy.close()
    out = result.stdout + result.stderr
    assert result.returncode == 3, out
    flat = " ".join(out.split())
    assert "complete: 2 of 2 runs stored, 1 failed" in flat
    assert "failed runs" in out and "DivergenceError" in out
    for noise in ("Port 8787", "leaked semaphore", "Traceback", "heartbeat", "distributed."):
        assert noise not in out, (noise, out)
    (record,) = sweep.read_sweeps(tmp_path)
    assert Path(record["log"]).is_file() and len(record["failed_runs"]) == 1
    # rerun: the failed run is cached (and still fails the sweep)
    again = subprocess.run(
        [sys.executable, "-m", "implicit_bias.cli", "sweep", NAME,
         "--grid", "eta=0.005,0.2", "--set", "n_steps=1000", "--set", "n_saves=10",
         "--set", "tol=1e-3", "--workers", "1", "--root", str(tmp_path)],
        env=ENV, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert again.returncode == 3 and "1 failed" in again.stdout
