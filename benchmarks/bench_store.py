"""The results store at 10³, 10⁴ (and 10⁵) runs: build, compact, query, verify, report (issue 24).

    python benchmarks/bench_store.py                   # 10³ and 10⁴ runs (~2 minutes on 2 cores)
    python benchmarks/bench_store.py --max 100000      # and 10⁵
    python benchmarks/bench_store.py --sizes 1000 --path folders

Each store holds N runs of ``dmf_identical`` written through the real write path: one real run
(200 GD steps, 20 saves: its rows, checks and config record) is computed first; then every run is
that run at its own grid point (α × η × seed, its own hash, its rows scaled), written
  * ``--path batched`` (default): as a sweep task writes them, ``compact.write_batch`` per task of
    500 runs, then ``compact.compact`` (merges the task parts into one);
  * ``--path folders``: ``store.write_run`` per run (a folder each, as ``implicit-bias run``), then
    ``compact.compact`` (folds the folders into parts and removes them).
A sweep record lists every run, so ``report`` draws the sweep's figures from the compacted tables.
Then, each as a user runs it (a fresh ``implicit-bias`` process, Python start-up included):
``query "SELECT count(*) FROM runs"``, the rows aggregate ``query "SELECT series, avg(value) FROM
rows GROUP BY series"``, ``verify`` (every part's checksums) and ``report``; and the store's size
and file count. Targets (2 cores): at 10⁴ runs count(*) ≤ 1 s, rows aggregate ≤ 1.5 s, report ≤ 15 s,
< 2 files per run; at 10⁵ runs count(*) ≤ 0.5 s, rows aggregate ≤ 2 s (the in-process query time,
``query.query``, is printed too: the CLI adds Python's and the package's start-up, measured as
``query "SELECT 1"`` on an empty store and printed as "start-up").

    python benchmarks/bench_store.py --existing ROOT [--repeat 10]   # only time the queries on ROOT

``--existing``: time ``count(*)`` and the rows aggregate (through the CLI: wall and the process's
CPU time, user + sys; and in process) and the start-up on a store built before, best of
``--repeat``.

    python benchmarks/bench_store.py --build ROOT --sizes 100000   # build a store and keep it

``--build``: write the first of ``--sizes`` runs into ROOT (which must not exist) as above, compact
it, and keep it (for ``--existing``, or to compare two versions of the code on one store).
"""

import argparse
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import implicit_bias  # noqa: F401  (first: float64 before JAX loads)
from implicit_bias import compact, config as config_mod, experiments, query, runner, store, sweep

NAME = "dmf_identical"
FIXED = {"n_steps": "200", "n_saves": "20", "tol": "1e-3"}
BATCH = 500
CLI = [sys.executable, "-m", "implicit_bias.cli"]
COUNT = "SELECT count(*) FROM runs"
AGG = "SELECT series, avg(value) FROM rows GROUP BY series"


def template(work: Path):
    """One real run: its stored record, rows and checks."""
    module = experiments.get(NAME)
    cfg = config_mod.apply_overrides(module.Config(), FIXED, experiment=NAME)
    out = runner.execute(NAME, cfg, root=work / "template", plot=False)
    return store.read_config(out.path), store.read_rows(out.path), store.read_checks(out.path)


def grid(n: int):
    alphas = [f"{0.05 + 0.01 * i:.2f}" for i in range(10)]
    etas = ["0.003", "0.004", "0.005", "0.006"]
    n_seeds = max(1, -(-n // (len(alphas) * len(etas))))
    spec = sweep.SweepSpec(NAME, {"alpha": tuple(alphas), "eta": tuple(etas)}, tuple(range(n_seeds)),
                           dict(FIXED))  # fmt: skip
    points = [(a, e, s) for a in alphas for e in etas for s in range(n_seeds)][:n]
    return spec, points


def build(root: Path, n: int, path: str, tmpl) -> tuple[float, float]:
    """Write n runs; returns (seconds to write, seconds to compact)."""
    record, rows, found = tmpl
    spec, points = grid(n)
    hashes, batch = [], []
    t = time.perf_counter()
    for k, (a, e, s) in enumerate(points):
        h = hashlib.sha256(f"{a}-{e}-{s}".encode()).hexdigest()[:16]
        hashes.append(h)
        cfg = {**record["config"], "alpha": float(a), "eta": float(e), "seed": s}
        meta = {**record, "hash": h, "config": cfg, "created": record["created"] + k}
        r = rows.assign(value=rows["value"] * (1.0 + 1e-3 * (k % 97)))
        if path == "folders":
            store.write_run(store.run_path(root, NAME, h), config=meta, rows=r, checks=found)
        else:
            batch.append(compact.run_data(meta, r, found))
            if len(batch) == BATCH:
                compact.write_batch(root, NAME, batch)
                batch = []
    if batch:
        compact.write_batch(root, NAME, batch)
    written = time.perf_counter() - t
    t = time.perf_counter()
    compact.compact(root)
    compacted = time.perf_counter() - t
    sweep_id = spec.id
    folder = root / sweep.SWEEPS_DIR / sweep_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sweep.json").write_text(json.dumps({
        **spec.to_dict(), "id": sweep_id, "created": time.time(), "runs": hashes,
        "status": "complete", "n_runs": n, "n_done": n, "n_failed": 0, "n_missing": 0,
        "finished": time.time(),
    }))  # fmt: skip
    return written, compacted


CPU: list = []  # the CPU seconds (user + sys) of each timed_cli process, in order


def timed_cli(*args) -> float:
    """Wall seconds of a fresh ``implicit-bias`` process; its CPU seconds go to ``CPU`` (steadier
    than the wall time on a loaded machine)."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    out = subprocess.run([*CLI, *args], capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    if out.returncode != 0:
        raise RuntimeError(f"{args}: {out.stdout[-2000:]}{out.stderr[-2000:]}")
    return elapsed


REPEAT = [3]


def best(fn, repeat: int | None = None) -> float:
    return min(fn() for _ in range(repeat or REPEAT[0]))


def startup(work: Path) -> float:
    """A fresh ``implicit-bias query "SELECT 1"`` on an empty store: Python and the CLI's start-up."""
    empty = work / "empty-store"
    empty.mkdir(exist_ok=True)
    return best(lambda: timed_cli("query", "SELECT 1", "--root", str(empty)))


def time_queries(root: Path) -> dict:
    """count(*) and the rows aggregate, each through the CLI and in process (best of REPEAT)."""

    def in_process(sql):
        def run():
            t = time.perf_counter()
            query.query(sql, root)
            return time.perf_counter() - t

        return run

    def cli(sql, key):
        del CPU[:]
        out[key] = best(lambda: timed_cli("query", sql, "--root", str(root)))
        out[key.replace("_s", "_cpu_s")] = min(CPU)

    out: dict = {}
    cli(COUNT, "count_s")
    out["count_inproc_s"] = best(in_process(COUNT))
    cli(AGG, "agg_s")
    out["agg_inproc_s"] = best(in_process(AGG))
    return out


def measure(root: Path, n: int, path: str, tmpl, *, report: bool) -> dict:
    write_s, compact_s = build(root, n, path, tmpl)
    out = {"runs": n, "write_s": write_s, "compact_s": compact_s, **time_queries(root)}
    out["verify_s"] = timed_cli("verify", "--root", str(root))
    page = str(root.parent / f"report-{n}.html")
    # first report: computes each run's summary(rows, cfg) and keeps it (compact.summaries); again:
    # reads them back
    out["report_s"] = (
        timed_cli("report", "--root", str(root), "--out", page) if report else math.nan
    )
    out["report2_s"] = (
        timed_cli("report", "--root", str(root), "--out", page) if report else math.nan
    )
    files = [p for p in root.rglob("*") if p.is_file()]
    out["files"] = len(files)
    out["mb"] = sum(p.stat().st_size for p in files) / 1e6
    rows = query.query("SELECT count(*) AS n FROM rows", root)["n"].item()
    out["rows"] = rows
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max", type=int, default=10_000, help="largest store (10**5 adds one)")
    parser.add_argument("--sizes", type=int, nargs="*", default=None)
    parser.add_argument("--path", choices=("batched", "folders"), default="batched")
    parser.add_argument("--no-report-above", type=int, default=10_000,
                        help="skip report for larger stores")  # fmt: skip
    parser.add_argument("--existing", type=Path, default=None,
                        help="only time the queries on this store")  # fmt: skip
    parser.add_argument("--repeat", type=int, default=3, help="best of this many")
    parser.add_argument("--build", type=Path, default=None,
                        help="build a store of the first of --sizes runs here and keep it")  # fmt: skip
    args = parser.parse_args(argv)
    if args.build is not None:
        if args.build.exists():
            parser.error(f"--build: {args.build} exists; give a new folder")
        n = (args.sizes or [args.max])[0]
        work = Path(tempfile.mkdtemp(prefix="bench-store-"))
        try:
            write_s, compact_s = build(args.build, n, args.path, template(work))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        print(f"{n:,} runs in {args.build}: write {write_s:.1f} s, compact {compact_s:.1f} s")
        return 0
    REPEAT[0] = max(1, args.repeat)
    sizes = args.sizes or [n for n in (1_000, 10_000, 100_000) if n <= args.max]
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores", flush=True)
    work = Path(tempfile.mkdtemp(prefix="bench-store-"))
    if args.existing is not None:
        try:
            n = query.query("SELECT count(*) AS n FROM runs", args.existing)["n"].item()
            res = time_queries(args.existing)
            up = startup(work)
            print(
                f"{n:,} runs in {args.existing}: start-up {up:.2f} s; count(*) "
                f"{res['count_s']:.2f} s, CPU {res['count_cpu_s']:.2f} s (in process "
                f"{res['count_inproc_s']:.3f} s); rows aggregate {res['agg_s']:.2f} s, CPU "
                f"{res['agg_cpu_s']:.2f} s (in process {res['agg_inproc_s']:.3f} s); best of "
                f"{REPEAT[0]}; load average after: {os.getloadavg()[0]:.2f}"
            )
            return 0
        finally:
            shutil.rmtree(work, ignore_errors=True)
    try:
        print(f"start-up (query on an empty store): {startup(work):.2f} s", flush=True)
        tmpl = template(work)
        results = []
        for n in sizes:
            res = measure(work / f"store-{n}", n, args.path, tmpl, report=n <= args.no_report_above)
            results.append(res)
            print(
                f"{n:>7,} runs ({args.path}): write {res['write_s']:.1f} s "
                f"({1e3 * res['write_s'] / n:.2f} ms/run), compact {res['compact_s']:.1f} s; "
                f"count(*) {res['count_s']:.2f} s (in process {res['count_inproc_s']:.3f} s); "
                f"rows aggregate {res['agg_s']:.2f} s (in process {res['agg_inproc_s']:.3f} s, "
                f"{res['rows']:,} rows); verify {res['verify_s']:.2f} s; report "
                f"{res['report_s']:.1f} s (again {res['report2_s']:.1f} s); {res['mb']:.1f} MB, "
                f"{res['files']} files",
                flush=True,
            )
            shutil.rmtree(work / f"store-{n}", ignore_errors=True)
        print()
        print(
            "| runs | write (ms/run) | compact | `count(*)` | rows aggregate | `verify` | "
            "`report` (again) | size, files |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for r in results:
            print(
                f"| {r['runs']:,} | {r['write_s']:.1f} s ({1e3 * r['write_s'] / r['runs']:.2f}) | "
                f"{r['compact_s']:.1f} s | {r['count_s']:.2f} s ({r['count_inproc_s']:.3f}) | "
                f"{r['agg_s']:.2f} s ({r['agg_inproc_s']:.3f}) | {r['verify_s']:.2f} s | "
                f"{r['report_s']:.1f} s ({r['report2_s']:.1f} s) | {r['mb']:.1f} MB, {r['files']} |"
            )
        print(f"load average after: {os.getloadavg()[0]:.2f}")
        ok = True
        for r in results:
            if r["runs"] == 10_000:
                checks = [("count(*) ≤ 1 s", r["count_s"] <= 1.0),
                          ("rows aggregate ≤ 1.5 s", r["agg_s"] <= 1.5),
                          ("report ≤ 15 s (the first)", r["report_s"] <= 15.0),
                          ("< 2 files per run", r["files"] < 2 * r["runs"])]  # fmt: skip
            elif r["runs"] == 100_000:
                checks = [("count(*) ≤ 0.5 s", r["count_s"] <= 0.5),
                          ("rows aggregate ≤ 2 s", r["agg_s"] <= 2.0)]  # fmt: skip
            else:
                continue
            for what, met in checks:
                ok &= met
                print(f"  [{'met' if met else 'MISSED'}] {r['runs']:,} runs: {what}")
        return 0 if ok else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
