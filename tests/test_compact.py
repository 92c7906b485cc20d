"""Compaction (issue 24 §1–§3): run folders folded into Parquet parts, read back identically by
``query``, ``store`` and ``report``; idempotent, crash-safe at every step, counted once, locked."""

import json
import os
import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from implicit_bias import compact, config as config_mod, experiments, query, runner, store
from implicit_bias.cli import app
from implicit_bias.errors import BrokenRunWarning

NAME = "dmf_identical"
QUERIES = [
    "SELECT * FROM runs ORDER BY hash",
    "SELECT * FROM rows ORDER BY ALL",  # (a total order: rows may tie on hash, t, series, i)
    "SELECT * FROM checks ORDER BY hash, name",
    "SELECT * FROM estimates ORDER BY ALL",
    "SELECT count(*) AS n, sum(checks_failed) AS f FROM runs",
]
cli = CliRunner()


def _fake_run(root: Path, k: int, *, created: float | None = None, experiment: str = NAME) -> Path:
    """A hand-written run with rows, checks, arrays (and an error for every fourth)."""
    h = f"{k:016x}"
    rows = pd.DataFrame(
        {"t": np.repeat(np.arange(5.0), 2), "series": ["loss", "eig"] * 5, "i": 0,
         "value": np.linspace(1.0, 0.1, 10) * (k + 1)}
    )  # fmt: skip
    checks = [
        {"name": "c1", "predicted": 1.0, "observed": 1.0 + k / 100, "tolerance": 0.1,
         "passed": k % 3 != 0, "kind": "claim", "source": "s", "basis": "b"},
        {"name": "h1", "predicted": "< 1", "observed": 0.5, "tolerance": None, "passed": True,
         "kind": "hypothesis"},
    ]  # fmt: skip
    return store.write_run(
        store.run_path(root, experiment, h),
        config={"experiment": experiment, "hash": h, "status": "failed" if k % 4 == 3 else "ok",
                "created": float(k) if created is None else created, "elapsed_s": 0.01 * k,
                "config": {"alpha": 0.1 * (k % 3 + 1), "depth": 2 + k % 2, "seed": k,
                           "spectrum": [1.0, 2.0]},
                "checks_passed": 2, "checks_failed": 0, "notes": [f"note {k}"]},
        rows=rows, checks=checks,
        error={"type": "DivergenceError", "message": "nan"} if k % 4 == 3 else None,
        arrays={"estimate": np.eye(2) * k} if k % 2 else None,
    )  # fmt: skip


def _store(root: Path, n: int = 6) -> Path:
    for k in range(n):
        _fake_run(root, k)
    return root


def _answers(root: Path) -> list[pd.DataFrame]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BrokenRunWarning)
        return [query.query(q, root).drop(columns=["path"], errors="ignore") for q in QUERIES]


def _same(a: list[pd.DataFrame], b: list[pd.DataFrame]) -> None:
    for x, y in zip(a, b):
        pd.testing.assert_frame_equal(x.reset_index(drop=True), y.reset_index(drop=True),
                                      check_dtype=False)  # fmt: skip


def _readers(root: Path) -> dict:
    out = {}
    for p in store.runs(root):
        out[p.name] = (
            store.read_config(p), store.read_checks(p), store.read_error(p),
            store.read_rows(p).to_json(), {k: v.tolist() for k, v in store.read_arrays(p).items()},
        )  # fmt: skip
    return out


def _snapshot(root: Path) -> dict:
    """Every file of the store (but the lock) with its bytes."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def test_round_trip_of_real_runs(tmp_path):
    module = experiments.get(NAME)
    for seed in range(2):
        for alpha in ("0.1", "0.2"):
            cfg = config_mod.apply_overrides(
                module.Config(), {"n_steps": "500", "n_saves": "10", "seed": seed, "alpha": alpha},
                experiment=NAME,
            )  # fmt: skip
            runner.execute(NAME, cfg, root=tmp_path, plot=False)
    before, readers = _answers(tmp_path), _readers(tmp_path)
    done = compact.compact(tmp_path)
    assert done["runs"] == 4 and done["parts"] == 1 and done["removed"] == 4
    assert not store.run_folders(tmp_path)
    _same(before, _answers(tmp_path))
    assert _readers(tmp_path) == readers
    # a compacted run is found, not recomputed, by a rerun
    again = runner.execute(NAME, cfg, root=tmp_path, plot=False)
    assert again.cached and not store.run_folders(tmp_path)
    # its figures on demand, and the report
    out = tmp_path / "figs"
    result = cli.invoke(
        app, ["plot", again.path.name[:6], "--root", str(tmp_path), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert [p.name for p in out.iterdir()] == [f"{again.path.name}-eigenvalues.png"]
    result = cli.invoke(app, ["report", "--root", str(tmp_path)])
    assert result.exit_code == 0, result.output


def test_round_trip_idempotence_and_files(tmp_path):
    root = _store(tmp_path / "s", 8)
    before, readers = _answers(root), _readers(root)
    result = cli.invoke(app, ["compact", "--root", str(root)])
    assert result.exit_code == 0, result.output
    assert "compacted 8 runs into 1 parts" in " ".join(result.output.split())
    _same(before, _answers(root))
    assert _readers(root) == readers
    files = _snapshot(root)
    assert len(files) <= 5  # runs, rows, checks, estimates, manifest: < 2 files per run
    again = compact.compact(root)
    assert again["runs"] == 0 and again["parts"] == 0
    assert _snapshot(root) == files
    # new runs go into a part that replaces the small one; a rerun with --force supersedes
    _fake_run(root, 20)
    _fake_run(root, 3, created=99.0)  # a newer copy of a compacted run: the folder wins
    assert query.query("SELECT count(*) AS n FROM runs", root)["n"].item() == 9
    assert query.query("SELECT created FROM runs WHERE hash = $h".replace("$h", f"'{3:016x}'"),
                       root)["created"].tolist() == [99.0]  # fmt: skip
    compact.compact(root)
    assert len(compact.parts(root)) == 1 and not store.run_folders(root)
    assert query.query("SELECT count(*) AS n FROM runs", root)["n"].item() == 9
    assert store.read_config(store.run_path(root, NAME, f"{3:016x}"))["created"] == 99.0
    assert query.query("SELECT count(*) AS n FROM rows", root)["n"].item() == 90


class Crash(BaseException):
    """Stands for kill -9 (not an Exception: nothing catches it)."""


def _crashing(monkeypatch, k: int):
    """os.replace / os.rename / os.unlink / shutil.rmtree raise Crash from their (k+1)-th call on."""
    calls = {"n": 0}

    def wrap(fn):
        def inner(*a, **kw):
            calls["n"] += 1
            if calls["n"] > k:
                raise Crash
            return fn(*a, **kw)

        return inner

    for mod, name in ((os, "replace"), (os, "rename"), (os, "unlink"), (shutil, "rmtree")):
        monkeypatch.setattr(mod, name, wrap(getattr(mod, name)))
    return calls


def _counts(root: Path) -> list:
    sql = ("SELECT (SELECT count(*) FROM runs), (SELECT count(DISTINCT hash) FROM runs), "
           "(SELECT sum(created) FROM runs), (SELECT count(*) FROM rows), "
           "(SELECT sum(value) FROM rows), (SELECT count(*) FROM checks), "
           "(SELECT count(*) FROM estimates)")  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BrokenRunWarning)
        return query.query(sql, root).iloc[0].tolist()


def _second_round(root: Path) -> None:
    _fake_run(root, 10)
    _fake_run(root, 2, created=50.0)


def test_a_compaction_killed_at_any_step_reruns_to_the_same_store(tmp_path, monkeypatch):
    base = _store(tmp_path / "base", 5)
    compact.compact(base)
    _second_round(base)  # the second compaction merges and supersedes: every step of it
    clean = tmp_path / "clean"
    shutil.copytree(base, clean)
    expected_answers = _answers(clean)
    compact.compact(clean)
    expected_files, expected = _snapshot(clean), _answers(clean)
    _same(expected_answers, expected)
    counts = _counts(clean)
    k = 0
    while True:
        root = tmp_path / f"crash{k}"
        shutil.copytree(base, root)
        with monkeypatch.context() as m:
            calls = _crashing(m, k)
            try:
                compact.compact(root)
                finished = True
            except Crash:
                finished = False
        # killed here: every run is counted exactly once, nothing lost
        assert _counts(root) == counts, f"crash after {k} file operations"
        compact.compact(root)
        assert _snapshot(root) == expected_files, f"crash after {k} file operations"
        if finished:
            break
        k += 1
        assert calls["n"] > k - 1
    assert k >= 6  # the crash hit every rename and removal of the compaction


def test_a_broken_part_is_skipped_with_one_line_and_reported(tmp_path):
    root = _store(tmp_path, 4)
    compact.compact(root)
    (part,) = compact.parts(root)
    rows = part.file("rows")
    data = bytearray(rows.read_bytes())
    data[len(data) // 2] ^= 0xFF
    rows.write_bytes(bytes(data))  # garbled, same size: only a checksum tells
    assert [why for _, why in compact.verify_parts(root)] == [
        f"{part.files['rows']['path']} fails its checksum (garbled)"
    ]
    rows.write_bytes(bytes(data[:100]))  # truncated: every query tells
    with pytest.warns(BrokenRunWarning, match="skipping broken part .* has 100 bytes"):
        assert query.query("SELECT count(*) AS n FROM runs", root)["n"].item() == 0
    result = cli.invoke(app, ["compact", "--root", str(root)])
    assert result.exit_code == 1
    assert "4 runs of broken parts have no folder left" in " ".join(result.output.split())


def test_a_broken_part_is_recomputed_from_folders_that_remain(tmp_path):
    root = _store(tmp_path, 3)
    compact.compact(root, remove_folders=False)
    (part,) = compact.parts(root)
    part.file("checks").write_bytes(b"garbage")
    with pytest.warns(BrokenRunWarning):
        assert query.query("SELECT count(*) AS n FROM runs", root)["n"].item() == 3  # the folders
    done = compact.compact(root)
    assert done["broken_parts"] and not done["lost"] and done["runs"] == 3
    assert query.query("SELECT count(*) AS n FROM checks", root)["n"].item() == 6


ATTACKS = [
    "COPY (SELECT * FROM runs) TO '{out}/x.csv'",
    "COPY runs TO '{part}'",  # not over a part either
    "ATTACH '{out}/x.db' AS x",
    "INSTALL httpfs",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_text('/etc/passwd')",
    "SELECT * FROM glob('/*')",
    "SELECT * FROM glob('{store}/compacted/*')",
    # (reading a part's own file by name is allowed: it is in ``allowed_paths``, read-only data the
    # views already show; writing it is refused by the statement filter: "COPY runs TO '{part}'")
    "SELECT * FROM read_parquet('{store}/compacted/rows/*/*.parquet')",
    "SET enable_external_access = true",
    "SELECT * FROM _load_df",
]


@pytest.mark.parametrize("sql", ATTACKS)
def test_the_compacted_views_are_locked(tmp_path, sql):
    root = _store(tmp_path / "store", 3)
    compact.compact(root)
    _fake_run(root, 7)  # and one folder not yet compacted
    (part,) = compact.parts(root)
    out = tmp_path / "out"
    out.mkdir()
    before = part.file("rows").read_bytes()
    sql = sql.format(out=out, store=root, part=part.file("rows"))
    result = cli.invoke(app, ["query", sql, "--root", str(root)])
    text = " ".join(result.output.split())
    assert result.exit_code == 2, text
    assert re.search(r"error: query failed: (Permission|Invalid Input|Catalog) Error", text), text
    assert not list(out.iterdir()) and part.file("rows").read_bytes() == before
    assert query.query("SELECT count(*) AS n FROM runs", root)["n"].item() == 4


def test_sweep_summary_and_frame_read_compacted_runs(tmp_path):
    for k in range(4):
        _fake_run(tmp_path, k, experiment="dmf_depth")  # (an experiment without a summary)
    root = _store(tmp_path, 4)  # and dmf_identical's, whose summary needs real rows
    runs = [f"{k:016x}" for k in range(4)]
    record = {"id": "s", "experiment": "dmf_depth", "grid": {"alpha": []}, "runs": runs}
    folders = query.sweep_summary(record, root)
    assert len(folders) == 4
    compact.compact(root)
    pd.testing.assert_frame_equal(folders, query.sweep_summary(record, root))
    assert len(compact.parts(root)) == 2  # one per experiment
    for part in compact.parts(root):
        assert sorted(json.loads(part.manifest_path.read_text())["runs"]) == runs


@pytest.mark.xdist_group("dask")
def test_a_batched_sweep_writes_parts_and_compacts_at_its_end(tmp_path, dask_client):
    from implicit_bias import sweep

    spec = sweep.SweepSpec(
        NAME, {"alpha": ("0.1", "0.2")}, (0, 1, 2), {"n_steps": "500", "n_saves": "10"}
    )
    record = sweep.run_sweep(spec, root=tmp_path, client=dask_client, max_batch=2, compact=True)
    assert record["status"] == "complete" and record["n_done"] == 6
    assert not store.run_folders(tmp_path) and len(compact.parts(tmp_path)) == 1
    assert query.query("SELECT count(*) AS n FROM runs", tmp_path)["n"].item() == 6
    members = query.query("SELECT count(*) AS n FROM sweep_runs JOIN runs USING (hash)", tmp_path)
    assert members["n"].item() == 6
    assert len(query.sweep_frame(spec.id, tmp_path, rows=False)) == 6
    progress = []
    again = sweep.run_sweep(
        spec, root=tmp_path, client=dask_client, on_progress=lambda *a: progress.append(a)
    )
    assert again["status"] == "complete" and progress == [(6, 6, 0)]  # nothing recomputed


def test_vectorized_summaries_equal_the_per_run_summary():
    # dmf_identical.summaries (one pandas pass over many runs, used for compacted sweeps) against
    # its per-run summary on real TINY runs at three step sizes: the same numbers exactly
    import dataclasses

    import pandas as pd

    from implicit_bias import experiments

    module = experiments.get("dmf_identical")
    base = experiments.tiny_config(module)
    frames, expected = [], {}
    for k, eta in enumerate((base.eta, base.eta / 2, base.eta / 4)):
        cfg = dataclasses.replace(base, eta=eta)
        rows = pd.DataFrame(module.run(cfg).rows)
        expected[f"h{k}"] = module.summary(rows, cfg)
        frames.append(rows.assign(hash=f"h{k}"))
    got = module.summaries(pd.concat(frames, ignore_index=True))
    assert sorted(got.index) == sorted(expected)
    for h, metrics in expected.items():
        for name, v in metrics.items():
            assert got.loc[h, name] == pytest.approx(v, rel=0, abs=0, nan_ok=True), (h, name)


KILLED_CHILD = """
import sys, time
from pathlib import Path
from implicit_bias import compact
print("ready", flush=True)
sys.stdin.readline()
compact.compact(Path(sys.argv[1]))
print("done", flush=True)
"""


def test_a_compaction_killed_by_sigkill_reruns_to_the_same_store(tmp_path):
    # issue 24: a real kill -9 of a compacting process (not a simulated exception), at delays
    # spread over the clean compaction's own duration; the rerun must give the identical store
    import signal
    import subprocess
    import sys
    import time

    base = _store(tmp_path / "base", 120)
    compact.compact(base)
    for k in range(120, 240):  # a second round: merge, supersede, remove folders
        _fake_run(base, k)
    clean = tmp_path / "clean"
    shutil.copytree(base, clean)
    start = time.perf_counter()
    compact.compact(clean)
    duration = time.perf_counter() - start
    expected_files, counts = _snapshot(clean), _counts(clean)
    killed = 0
    for j, frac in enumerate((0.1, 0.35, 0.65, 0.9)):
        root = tmp_path / f"kill{j}"
        shutil.copytree(base, root)
        with subprocess.Popen([sys.executable, "-c", KILLED_CHILD, str(root)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as child:
            assert child.stdout.readline().strip() == "ready"  # imports done: time the work only
            child.stdin.write("go\n")
            child.stdin.flush()
            time.sleep(frac * duration)
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=60)
        killed += child.returncode == -signal.SIGKILL
        assert _counts(root) == counts, f"killed at {frac:.0%} of the compaction"
        compact.compact(root)  # the rerun, after a kill -9 (the flock died with the process)
        assert _snapshot(root) == expected_files, f"killed at {frac:.0%} of the compaction"
    assert killed >= 2, killed  # most kills landed before the child finished


# --- a read that overlaps a compaction (issue 24) ----------------------------------------------


def _racing(monkeypatch, module, name, root):
    """Wrap ``module.name`` so that its first call is followed by a compaction of ``root`` (as if
    one ran between the reader's listing and its reading: deterministic, no timing)."""
    real = getattr(module, name)
    calls = []

    def wrapped(*args, **kwargs):
        out = real(*args, **kwargs)
        calls.append(name)
        if len(calls) == 1:
            done = compact.compact(root)
            assert done["merged"] == 1 and done["removed"] == 2  # a part and folders removed
        return out

    monkeypatch.setattr(module, name, wrapped)
    return calls


SQL = "SELECT count(*) AS n, count(DISTINCT hash) AS d, sum(elapsed_s) AS s FROM runs"
ROWS = "SELECT count(*) AS n FROM rows"


def _race_store(root: Path, first: int) -> Path:
    """A small part (merged by the next compaction) and two run folders (folded in by it)."""
    for k in range(first, first + 3):
        _fake_run(root, k)
    compact.compact(root)
    for k in (first + 3, first + 4):
        _fake_run(root, k)
    return root


def test_a_query_that_overlaps_a_compaction_reads_one_state(tmp_path, monkeypatch):
    """The views are built (the old part's files and the folders listed), then a compaction folds
    them into a new part and deletes them, then the SQL runs: the query finds what it listed gone
    and reads again, once, under the shared compaction lock; the answer is the store's, counted
    once, with no warning. Without the check (``_gone`` mutated to say nothing vanished) the same
    race fails or miscounts."""
    root = _race_store(tmp_path / "s", 0)
    expected = query.query(SQL, root), query.query(ROWS, root)
    assert expected[0]["n"].item() == 5 and expected[1]["n"].item() == 50
    calls = _racing(monkeypatch, query, "_connect", root)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = query.query(SQL, root)
    assert calls == ["_connect", "_connect"]  # read again once
    pd.testing.assert_frame_equal(got, expected[0])
    assert query.query(ROWS, root)["n"].item() == 50 and not store.run_folders(root)

    root = _race_store(tmp_path / "mutant", 10)
    monkeypatch.undo()
    _racing(monkeypatch, query, "_connect", root)
    monkeypatch.setattr(query, "_gone", lambda used: False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BrokenRunWarning)
        try:
            wrong = query.query(ROWS, root)["n"].item() != 50
        except Exception:  # noqa: BLE001 - a file gone under the scan
            wrong = True
    assert wrong


def test_parts_are_listed_again_when_a_manifest_vanishes(tmp_path, monkeypatch):
    """A compaction between the listing of the manifests and their reading (its new part's
    manifest written, the old one removed): the old one is gone, the new one not in the listing;
    ``parts`` lists again, so the runs are all found, with no warning of a broken part."""
    from implicit_bias import compacted

    root = _race_store(tmp_path, 0)
    stale = compacted._manifest_files(root, NAME)
    compact.compact(root)
    found, bad, vanished = compacted._scan(root, NAME, False)
    assert len(found) == 1 and not bad and not vanished
    monkeypatch.setattr(compacted, "_manifest_files", lambda *a, **k: list(stale))
    found, bad, vanished = compacted._scan(root, NAME, False)  # what one listing alone gives
    assert found == [] and bad == [] and vanished
    monkeypatch.undo()

    root = _race_store(tmp_path / "again", 0)
    calls = _racing(monkeypatch, compacted, "_manifest_files", root)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (part,) = compact.parts(root)
    assert len(part.runs) == 5 and calls.count("_manifest_files") >= 2


def test_a_query_reads_a_manifest_without_parsing_its_runs(tmp_path):
    """A manifest lists its runs last (at 10⁵ runs their parse was most of a query's own time):
    a query parses the rest alone (``compacted._head``) and the runs only if it needs them (run
    folders beside the parts). The same part either way; a manifest written with its runs
    elsewhere is parsed whole; one garbled among its runs is still answered by a query (the files
    are sound) and named by ``verify``, which parses every manifest whole."""
    from implicit_bias import compacted

    root = _store(tmp_path, 3)
    compact.compact(root)
    (part,) = compact.parts(root)
    text = part.manifest_path.read_text()
    head = compacted._head(text)
    assert head is not None and "runs" not in head
    assert head["files"] == json.loads(text)["files"]
    lazy = compacted.Part(root, part.manifest_path, head, text)
    assert lazy._runs is None and lazy.runs == part.runs and len(lazy.runs) == 3
    (queried,) = compact.parts(root, lazy=True)
    assert queried._runs is None and queried.files == part.files
    moved = json.loads(text)
    moved = {"runs": moved.pop("runs"), **moved}
    assert compacted._head(json.dumps(moved, indent=1)) is None  # runs first: parsed whole
    assert compacted._head(text.replace(compacted.RUNS_KEY, '\n "rans": ')) is None

    part.manifest_path.write_text(text[: text.rindex("}", 0, -3)])  # the runs cut short
    assert query.query("SELECT count(*) AS n FROM runs", root)["n"].item() == 3
    assert [why for _, why in compact.verify_parts(root)] == [
        "manifest unreadable (JSONDecodeError)"
    ]


def test_a_run_read_from_a_part_a_compaction_removes_is_read_again(tmp_path, monkeypatch):
    """``store.read_rows`` and friends look a compacted run's part up, then read its file: a
    compaction in between (here: run by a hook right after the lookup) folds that part into a new
    one and deletes it; the read is done again, once, and finds the run in the new part. Without
    the retry (the undecorated reader) the same race raises FileNotFoundError."""
    from implicit_bias import compacted

    root = _race_store(tmp_path / "s", 0)
    run = store.run_path(root, NAME, f"{1:016x}")
    expected = (store.read_rows(run), store.read_config(run), store.read_arrays(run))
    assert len(expected[0]) == 10 and not store.run_path(root, NAME, f"{1:016x}").is_dir()
    for reader in ("read_rows", "lookup", "read_arrays"):
        root = _race_store(tmp_path / reader, 0)
        run = store.run_path(root, NAME, f"{1:016x}")
        calls = _racing(monkeypatch, compacted, "_part_of", root)
        got = getattr(compacted, reader)(run)
        monkeypatch.undo()
        assert calls == ["_part_of", "_part_of"], reader  # looked up again once
        if reader == "read_rows":
            pd.testing.assert_frame_equal(got, expected[0])
        elif reader == "lookup":
            assert got["config"] == expected[1]
        else:
            assert got.keys() == {"estimate"} and np.array_equal(got["estimate"], np.eye(2))
    root = _race_store(tmp_path / "mutant", 0)
    _racing(monkeypatch, compacted, "_part_of", root)
    with pytest.raises(FileNotFoundError):
        compacted.read_rows.__wrapped__(store.run_path(root, NAME, f"{1:016x}"))
