"""Sweeps on Dask: grids and sweep files, batching, the store's resume and query, fault tolerance.

The fault-tolerance tests kill real processes: a worker in the middle of a task (the nanny replaces
it and the task is rerun), the client (SIGINT and SIGKILL; the rerun completes the sweep) and two
sweeps writing into one store at once. Each then checks that every run is present exactly once, is
readable, and that no temporary folder is left.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from implicit_bias import config, query, store, sweep
from implicit_bias.errors import ConfigError

pytestmark = pytest.mark.xdist_group("dask")  # shares the session Dask cluster

NAME = "dmf_identical"
SMALL = {"n_steps": "2000", "n_saves": "20", "tol": "1e-3"}


def small_spec(alphas=("0.1", "0.2"), depths=("2", "3"), seeds=(0, 1, 2), **fixed):
    return sweep.SweepSpec(NAME, {"alpha": alphas, "depth": depths}, seeds, {**SMALL, **fixed})


def stored(root: Path) -> set[str]:
    """Hashes of the finished runs in the store, and a check that nothing half-written is left."""
    folder = Path(root) / NAME
    if not folder.is_dir():
        return set()
    names = [p.name for p in folder.iterdir()]
    leftovers = [n for n in names if n.startswith(store.TMP_PREFIX)]
    assert not leftovers, f"temporary folders left behind: {leftovers}"
    for n in names:
        assert store.is_done(folder / n), f"{n} is not a complete run folder"
        assert store.read_config(folder / n)["hash"] == n
        assert len(store.read_rows(folder / n)) > 0
    return set(names)


def expected_hashes(spec) -> set[str]:
    return {config.config_hash(spec.experiment, c) for c in sweep.expand(spec)}


# --- specs, grids, files ---------------------------------------------------------------------


def test_parse_seeds_and_grid():
    assert sweep.parse_seeds("0-3") == (0, 1, 2, 3)
    assert sweep.parse_seeds("1,4,7") == (1, 4, 7)
    assert sweep.parse_seeds("0-1,5") == (0, 1, 5)
    assert sweep.parse_seeds([2, 3]) == (2, 3)
    for bad in ("x", "3-1", ""):
        with pytest.raises(ConfigError, match="seed"):
            sweep.parse_seeds(bad)
    assert sweep.parse_grid(["alpha=0.1,0.2", "spectrum=(1,2);(3,4)"]) == {
        "alpha": ("0.1", "0.2"),
        "spectrum": ("(1,2)", "(3,4)"),
    }
    with pytest.raises(ConfigError, match="key=v1"):
        sweep.parse_grid(["alpha"])


def test_expand_is_the_product_validated_and_deduplicated():
    spec = small_spec()
    cfgs = sweep.expand(spec)
    assert len(cfgs) == 2 * 2 * 3
    assert {(c.alpha, c.depth, c.seed) for c in cfgs} == {
        (a, d, s) for a in (0.1, 0.2) for d in (2, 3) for s in (0, 1, 2)
    }
    assert all(c.n_steps == 2000 for c in cfgs)
    assert len(sweep.expand(small_spec(alphas=("0.1", "0.10")))) == 2 * 3  # same value twice
    with pytest.raises(ConfigError, match="unknown"):
        sweep.expand(sweep.SweepSpec(NAME, {"alpah": ("0.1",)}))
    with pytest.raises(ConfigError, match="--seeds"):
        sweep.expand(sweep.SweepSpec(NAME, {"seed": ("1",)}))
    with pytest.raises(ConfigError, match="unknown experiment"):
        sweep.expand(sweep.SweepSpec("nope", {}))


def test_sweep_file(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text(
        'experiment = "dmf_identical"\nseeds = "0-2"\n[grid]\nalpha = [0.1, 0.2]\n'
        "depth = [2, 3]\n[set]\nn_steps = 2000\nn_saves = 20\ntol = 1e-3\n"
    )
    spec = sweep.load_spec(f)
    assert spec.seeds == (0, 1, 2) and spec.grid == {"alpha": (0.1, 0.2), "depth": (2, 3)}
    assert expected_hashes(spec) == expected_hashes(small_spec())  # file and flags agree
    f.write_text('experiment = "dmf_identical"\ngrdi = 1\n')
    with pytest.raises(ConfigError, match="unknown keys"):
        sweep.load_spec(f)
    # the versioned example in the repository is valid
    example = Path(__file__).parents[1] / "sweeps" / "dmf_alpha_depth.toml"
    assert len(sweep.expand(sweep.load_spec(example))) == 100


def test_batches_group_traced_values_and_split_structure():
    cfgs = sweep.expand(small_spec(seeds=tuple(range(10))))
    tasks = sweep.batches(NAME, cfgs, n_workers=2)
    flat = [c for t in tasks for c in t]
    assert len(flat) == len(cfgs) and set(flat) == set(cfgs)  # every config exactly once
    for task in tasks:  # depth changes the shapes: never in one vmapped task
        assert len({c.depth for c in task}) == 1
    assert max(len(t) for t in tasks) > 1  # α and seeds do share tasks
    assert all(len(t) <= 3 for t in sweep.batches(NAME, cfgs, n_workers=2, max_batch=3))
    # sized by time: ≥ 1 s of work per task, but never fewer tasks than workers
    fast = sweep.batches(NAME, cfgs, n_workers=2, seconds_per_run=0.01)  # 40 runs: 0.4 s in all
    assert sorted(len(t) for t in fast) == [20, 20]  # one task per depth (shapes differ)
    slow = sweep.batches(NAME, cfgs, n_workers=2, seconds_per_run=0.4)
    assert max(len(t) for t in slow) == 3  # ceil(1 s / 0.4 s) runs per task


# --- running, resuming, querying --------------------------------------------------------------


def test_sweep_runs_every_config_once_resumes_and_is_queryable(tmp_path, dask_client):
    spec = small_spec()
    progress = []
    record = sweep.run_sweep(
        spec, root=tmp_path, client=dask_client, on_progress=lambda *a: progress.append(a)
    )
    assert record["status"] == "complete" and record["n_done"] == 12 and record["n_failed"] == 0
    assert stored(tmp_path) == expected_hashes(spec) == set(record["runs"])
    assert progress[0] == (0, 12, 0) and progress[-1] == (12, 12, 0)
    saved = json.loads((sweep.sweep_dir(tmp_path, spec) / "sweep.json").read_text())
    assert saved["grid"] == {"alpha": ["0.1", "0.2"], "depth": ["2", "3"]} and saved["seeds"] == [
        0,
        1,
        2,
    ]

    # rerun: everything is found in the store, nothing is recomputed
    mtimes = {p: p.stat().st_mtime_ns for p in (tmp_path / NAME).glob("*/config.json")}
    progress.clear()
    again = sweep.run_sweep(
        spec, root=tmp_path, client=dask_client, on_progress=lambda *a: progress.append(a)
    )
    assert again["status"] == "complete" and progress == [(12, 12, 0)]
    assert mtimes == {p: p.stat().st_mtime_ns for p in (tmp_path / NAME).glob("*/config.json")}

    # SQL over the store: configs are columns; the sweep's runs are its members
    counts = query.query(
        "SELECT alpha, depth, count(*) AS n, sum(checks_failed) AS failed FROM runs "
        "GROUP BY ALL ORDER BY ALL",
        tmp_path,
    )
    assert counts["n"].tolist() == [3, 3, 3, 3] and counts["failed"].sum() == 0
    members = query.query("SELECT count(*) AS n FROM sweep_runs JOIN runs USING (hash)", tmp_path)
    assert members["n"].item() == 12
    # rows of every run, with the run's config in one call
    frame = query.sweep_frame(spec.id, tmp_path)
    assert isinstance(frame, pd.DataFrame)
    assert set(frame["hash"]) == expected_hashes(spec)
    assert {"alpha", "depth", "seed", "series", "value"} <= set(frame.columns)
    # the rows are the stored ones, not recomputed
    one = sorted(expected_hashes(spec))[0]
    assert len(frame[frame.hash == one]) == len(store.read_rows(tmp_path / NAME / one))


def test_failed_runs_are_recorded_and_do_not_stop_the_sweep(tmp_path, dask_client):
    # η = 0.2 is far above bound (8) ≈ 0.0066 at depth 3: those runs diverge, the others finish
    spec = sweep.SweepSpec(NAME, {"eta": ("0.005", "0.2")}, (0, 1), dict(SMALL))
    record = sweep.run_sweep(spec, root=tmp_path, client=dask_client)
    assert record["status"] == "complete" and record["n_done"] == 4 and record["n_failed"] == 2
    failed = query.query("SELECT eta, status FROM runs WHERE status = 'failed'", tmp_path)
    assert set(failed["eta"]) == {0.2}
    for h in stored(tmp_path):
        path = tmp_path / NAME / h
        if store.read_config(path)["status"] == "failed":
            err = store.read_error(path)
            assert err["type"] == "DivergenceError" and "step" in err["message"]


# --- fault tolerance --------------------------------------------------------------------------


def _worker_pids(client) -> dict[str, int]:
    return client.run(os.getpid)


def test_a_killed_worker_is_replaced_and_every_run_is_present_once(tmp_path, dask_client):
    # slow enough runs (one per task) that the kill lands in the middle of one
    spec = sweep.SweepSpec(
        NAME, {"alpha": ("0.1", "0.15", "0.2", "0.25")}, (0,),
        {"n_steps": "1500000", "n_saves": "20", "tol": "1e-3"},
    )  # fmt: skip
    killed = []

    def kill_a_busy_worker():
        deadline = time.time() + 60
        while time.time() < deadline and not killed:
            busy = [w for w, tasks in dask_client.processing().items() if tasks]
            if busy:
                time.sleep(0.3)  # inside the task
                pid = _worker_pids(dask_client)[busy[0]]
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            time.sleep(0.05)

    thread = threading.Thread(target=kill_a_busy_worker)
    thread.start()
    record = sweep.run_sweep(spec, root=tmp_path, client=dask_client, max_batch=1)
    thread.join()
    assert killed, "no worker was busy to be killed"
    assert record["status"] == "complete" and record["n_done"] == 4 and not record["task_errors"]
    assert stored(tmp_path) == expected_hashes(spec)
    dask_client.wait_for_workers(2, timeout=120)  # the nanny restarted the killed worker
    assert killed[0] not in _worker_pids(dask_client).values()


def _cli(*args, root):
    return [sys.executable, "-m", "implicit_bias.cli", "sweep", NAME, *args, "--root", str(root)]


def _spawn(cmd):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        start_new_session=True,
    )  # fmt: skip


INTERRUPT_ARGS = [
    "--grid", "alpha=0.1,0.2,0.3", "--seeds", "0-1",
    "--set", "n_steps=300000", "--set", "n_saves=20", "--set", "tol=1e-3",
    "--max-batch", "1", "--workers", "2",
]  # fmt: skip


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_an_interrupted_client_resumes_with_no_duplicate_and_no_missing_run(
    tmp_path, dask_client, sig
):
    proc = _spawn(_cli(*INTERRUPT_ARGS, root=tmp_path))
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            if len(list((tmp_path / NAME).glob("*/config.json"))) >= 2:
                break
            time.sleep(0.05)
        assert proc.poll() is None, (
            f"the sweep ended before it could be interrupted:\n{proc.stdout.read()}"
        )
        os.kill(proc.pid, sig)
        proc.communicate(timeout=60)
        if sig == signal.SIGINT:
            assert proc.returncode != 0
            spec_dir = next((tmp_path / sweep.SWEEPS_DIR).iterdir())
            assert json.loads((spec_dir / "sweep.json").read_text())["status"] == "interrupted"
        # rerun the same sweep (the killed client's orphaned workers may still be writing)
        spec = sweep.SweepSpec(
            NAME, {"alpha": ("0.1", "0.2", "0.3")}, (0, 1),
            {"n_steps": "300000", "n_saves": "20", "tol": "1e-3"},
        )  # fmt: skip
        before = len(list((tmp_path / NAME).glob("*/config.json")))
        assert 2 <= before < 6
        record = sweep.run_sweep(spec, root=tmp_path, client=dask_client, max_batch=1)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the client's cluster, if it outlived the client
        except ProcessLookupError:
            pass
        proc.communicate(timeout=60)
    assert record["status"] == "complete" and record["n_done"] == 6
    time.sleep(0.5)
    store.clean_stale(tmp_path)  # orphans killed just above may have left a temporary folder
    assert stored(tmp_path) == expected_hashes(spec)


def test_two_sweeps_into_one_store_at_once(tmp_path):
    common = ["--seeds", "0-3", "--set", "n_steps=20000", "--set", "n_saves=20",
              "--set", "tol=1e-3", "--workers", "1", "--max-batch", "2"]  # fmt: skip
    a = _spawn(_cli("--grid", "alpha=0.1,0.2,0.3", *common, root=tmp_path))
    b = _spawn(_cli("--grid", "alpha=0.2,0.3,0.4", *common, root=tmp_path))
    out_a, _ = a.communicate(timeout=240)
    out_b, _ = b.communicate(timeout=240)
    assert a.returncode == 0, out_a
    assert b.returncode == 0, out_b
    spec_a = sweep.SweepSpec(NAME, {"alpha": ("0.1", "0.2", "0.3")}, (0, 1, 2, 3),
                             {"n_steps": "20000", "n_saves": "20", "tol": "1e-3"})  # fmt: skip
    spec_b = sweep.SweepSpec(NAME, {"alpha": ("0.2", "0.3", "0.4")}, (0, 1, 2, 3),
                             {"n_steps": "20000", "n_saves": "20", "tol": "1e-3"})  # fmt: skip
    assert stored(tmp_path) == expected_hashes(spec_a) | expected_hashes(spec_b)
    records = {r["id"]: r for r in sweep.read_sweeps(tmp_path)}
    assert {records[spec_a.id]["status"], records[spec_b.id]["status"]} == {"complete"}
    counts = query.query("SELECT count(*) AS n FROM sweep_runs GROUP BY sweep_id", tmp_path)
    assert counts["n"].tolist() == [12, 12]


def test_sweep_figures_accept_a_grid_key_named_like_a_count_column():
    # the aggregate's own columns must not shadow a grid key (sparse_phase sweeps over n)
    from implicit_bias import report

    df = pd.DataFrame(
        {
            "n": [20, 20, 30, 30],
            "seed": [0, 1, 0, 1],
            "status": ["ok"] * 4,
            "err": [1.0, 3.0, 2.0, 4.0],
        }
    )
    agg = report.sweeps._aggregate(df, ["n"], ["err"])
    assert agg["n"].tolist() == [20, 30] and agg["err"].tolist() == [2.0, 3.0]
    assert agg[report.sweeps.RUNS_COL].tolist() == [2, 2]
    fig = report.sweeps._curves_figure(agg, "n", [], ["err"], "t")
    assert fig.axes[0].lines or fig.axes[0].containers


def test_sweep_overlay_puts_every_series_of_a_quantity_on_one_axis():
    # Arora et al. Fig. 1 layout: "depth N: test error" and "nuclear norm: test error" share an axis
    from implicit_bias import report

    metrics = ["nuclear norm: test error", "depth 2: test error", "depth 2: converged", "loss"]
    groups = report.sweeps._series_groups(metrics)
    assert groups == {"test error": [("nuclear norm", metrics[0]), ("depth 2", metrics[1])]}
    df = pd.DataFrame(
        {"m": [1000, 1000, 2000], "seed": [0, 1, 0], "status": ["ok"] * 3,
         metrics[0]: [0.5, 0.7, 1e-4], metrics[1]: [0.1, np.nan, 0.01],
         metrics[2]: [1.0, 0.0, 1.0], metrics[3]: [1.0, 2.0, 3.0]}
    )  # fmt: skip
    agg = report.sweeps._aggregate(df, ["m"], metrics)
    fig = report.sweeps._overlay_figure(agg, "m", groups, "t")
    (ax,) = [a for a in fig.axes if a.get_visible()]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["nuclear norm", "depth 2"]
    # each errorbar's data line: means over the finite seeds (the NaN seed is left out)
    ys = [np.asarray(c.lines[0].get_ydata(), dtype=float) for c in ax.containers]
    np.testing.assert_allclose(ys, [[0.6, 1e-4], [0.1, 0.01]], rtol=1e-12)
    assert ax.get_yscale() == "log"  # values span ≥ 100×

    # a series keeps its color on every axis (test error with the nuclear norm, converged without)
    more = ["nuclear norm: test error", "depth 2: test error", "depth 3: test error",
            "depth 2: converged", "depth 3: converged"]  # fmt: skip
    df = pd.DataFrame({"m": [1000, 2000], "seed": [0, 0], "status": ["ok"] * 2,
                       **{k: [0.5, 0.1] for k in more}})  # fmt: skip
    fig = report.sweeps._overlay_figure(report.sweeps._aggregate(df, ["m"], more), "m",
                                        report.sweeps._series_groups(more), "t")  # fmt: skip
    colors = [{t.get_text(): c.lines[0].get_color() for t, c in
               zip(a.get_legend().get_texts(), a.containers)} for a in fig.axes if a.get_visible()]  # fmt: skip
    assert len(colors) == 2 and all(colors[0][k] == colors[1][k] for k in ("depth 2", "depth 3"))
