"""The store knows a finished run from a broken one (issue 15 §2).

One run is computed once; each of its files is then truncated, deleted and garbled in turn (in a
fresh copy of the store each time). Every time: ``verify_run`` names the file, ``query`` and
``report`` skip the run with a one-line warning naming it, and the CLI's ``verify`` lists it.
``run`` recomputes a broken run and says so; ``verify --repair`` moves broken runs aside; a sweep
recomputes them too.

Issue 24 §5, below: an unreadable file (``chmod 000``; simulated when the tests run as root), a
copied run folder, a folder of the user's among the runs, a ``sweep.json`` that is not a record, a
killed sweep's record, and a hostile store rendered into the report.
"""

import json
import os
import re
import shutil
import warnings

import pytest
from typer.testing import CliRunner

from implicit_bias import config, experiments, query, report, runner, store, sweep
from implicit_bias.cli import app
from implicit_bias.errors import BrokenRunWarning

pytestmark = pytest.mark.xdist_group("dask")  # shares the session Dask cluster

NAME = "dmf_identical"
SMALL = {"n_steps": 2000, "n_saves": 20, "tol": 1e-3}
FILES = ["config.json", "rows.parquet", "checks.json", "eigenvalues.png", "manifest.json"]
cli = CliRunner()


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """A store with one finished run (figures included), computed once for the module."""
    root = tmp_path_factory.mktemp("pristine")
    cfg = config.apply_overrides(experiments.get(NAME).Config(), SMALL)
    outcome = runner.execute(NAME, cfg, root=root, plot=True)
    assert outcome.status == "ok" and store.verify_run(outcome.path) is None
    assert {p.name for p in outcome.path.iterdir()} == set(FILES)
    return root, outcome.path.relative_to(root), cfg


def corrupt(path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif how == "delete":
        path.unlink()
    else:  # garble: flip 16 bytes in the middle, size unchanged
        mid = len(data) // 2
        path.write_bytes(
            data[:mid] + bytes(b ^ 0x5A for b in data[mid : mid + 16]) + data[mid + 16 :]
        )


@pytest.mark.parametrize("how", ["truncate", "delete", "garble"])
@pytest.mark.parametrize("name", FILES)
def test_a_corrupted_file_is_found_named_and_skipped(pristine, tmp_path, name, how):
    src, rel, _ = pristine
    root = tmp_path / "store"
    shutil.copytree(src, root)
    run = root / rel
    corrupt(run / name, how)

    why = store.verify_run(run)
    assert why is not None and (name in why or "manifest" in why), why
    assert not store.is_done(run)
    assert store.broken_runs(root) == [(run, why)]
    with pytest.warns(BrokenRunWarning, match=rf"skipping broken run {run}: ") as caught:
        assert query.query("SELECT count(*) AS n FROM runs", root)["n"].item() == 0
    assert len(caught) == 1 and "\n" not in str(caught[0].message)
    with pytest.warns(BrokenRunWarning, match=str(run)):
        page = report.build(root).read_text()
    assert "Not run yet" in page  # the broken run is not shown as a result


def test_verify_lists_repairs_and_run_recomputes(pristine, tmp_path):
    src, rel, cfg = pristine
    root = tmp_path / "store"
    shutil.copytree(src, root)
    run = root / rel
    corrupt(run / "rows.parquet", "truncate")

    result = cli.invoke(app, ["verify", "--root", str(root)])
    assert result.exit_code == 1
    out = " ".join(result.output.split())
    assert f"broken {run}: rows.parquet has" in out and "1 runs checked, 1 broken" in out
    print(result.output)

    cached = runner.execute(NAME, cfg, root=root, plot=False)
    # a broken run is not "cached": it is recomputed, and the note says why
    assert not cached.cached and cached.status == "ok"
    assert cached.notes[0].startswith("recomputed: the stored run was broken (rows.parquet has")
    assert store.verify_run(run) is None
    assert [p.name for p in (root / NAME).iterdir() if p.name.startswith(".broken-")]

    corrupt(run / "checks.json", "garble")
    result = cli.invoke(app, ["verify", "--repair", "--root", str(root)])
    assert result.exit_code == 0 and "checks.json fails its checksum" in result.output
    assert "moved aside" in result.output and not run.exists()
    assert cli.invoke(app, ["verify", "--root", str(root)]).exit_code == 0

    # the CLI's query and report skip with one warning line and still succeed
    shutil.rmtree(root)
    shutil.copytree(src, root)
    (root / rel / "config.json").write_text("{")
    for args in (["query", "SELECT count(*) AS n FROM runs"], ["report"]):
        result = cli.invoke(app, [*args, "--root", str(root)])
        assert result.exit_code == 0, result.output
        assert result.output.count("warning: skipping broken run") == 1
        assert "Traceback" not in result.output


def test_a_sweep_recomputes_a_broken_run(tmp_path, dask_client):
    spec = sweep.SweepSpec(NAME, {"alpha": ("0.1",)}, (0,), {k: str(v) for k, v in SMALL.items()})
    assert sweep.run_sweep(spec, root=tmp_path, client=dask_client)["n_done"] == 1
    (run,) = [p for p in (tmp_path / NAME).iterdir()]
    corrupt(run / "rows.parquet", "garble")
    notes = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        record = sweep.run_sweep(spec, root=tmp_path, client=dask_client, on_note=notes.append)
    assert record["status"] == "complete" and record["n_recomputed"] == 1
    assert notes and "recomputing 1 broken stored run" in notes[0]
    assert store.verify_run(run) is None


# --- issue 24 §5: nothing in the store breaks the readers ------------------------------------


def fresh(pristine, tmp_path):
    """A copy of the pristine store: (root, the run's folder, its config)."""
    src, rel, cfg = pristine
    root = tmp_path / "store"
    shutil.copytree(src, root)
    return root, root / rel, cfg


def deny_reads(monkeypatch, *files) -> None:
    """Reading ``files`` (these very files: by inode, so a recomputed run's new file reads again)
    raises PermissionError, as a ``chmod 000`` does for a user who is not root."""
    import builtins
    import io
    import os

    denied = {(os.stat(f).st_dev, os.stat(f).st_ino) for f in files}
    real_open = builtins.open

    def guarded(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)):
            try:
                st = os.stat(file)
            except OSError:
                st = None
            if st is not None and (st.st_dev, st.st_ino) in denied:
                raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded)
    monkeypatch.setattr(io, "open", guarded)


def one_line_cli(args, root):
    result = cli.invoke(app, [*args, "--root", str(root)])
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def assert_readers_skip(root, run, why_part: str, prefix: str = "skipping broken run") -> None:
    """query (Python and CLI), report (Python and CLI) and verify all name ``run`` in one line."""
    match = re.escape(f"{prefix} {run}: ") + ".*" + re.escape(why_part)
    with pytest.warns(BrokenRunWarning, match=match) as caught:
        assert query.query("SELECT count(*) AS n FROM runs", root)["n"].item() == 0
    assert len(caught) == 1 and "\n" not in str(caught[0].message)
    with pytest.warns(BrokenRunWarning, match=re.escape(str(run))):
        assert "Not run yet" in report.build(root).read_text()
    for args in (["query", "SELECT count(*) AS n FROM runs"], ["report"]):
        result = one_line_cli(args, root)
        assert result.exit_code == 0, result.output
        assert result.output.count(f"warning: {prefix}") == 1, result.output
    result = one_line_cli(["verify"], root)
    assert result.exit_code == 1
    assert f"broken {run}: " in result.output and why_part in result.output, result.output


@pytest.mark.parametrize("name", ["config.json", "rows.parquet", "manifest.json"])
def test_an_unreadable_file_is_a_broken_run(pristine, tmp_path, monkeypatch, name):
    """``chmod 000`` as a user (simulated: a root process reads any file): a broken run, skipped by
    the readers with one line, listed by verify, moved aside by --repair."""
    root, run, _ = fresh(pristine, tmp_path)
    deny_reads(monkeypatch, run / name)
    why = f"{name} cannot be read (Permission denied)"
    assert store.verify_run(run) == why
    assert store.broken_runs(root) == [(run, why)]
    assert_readers_skip(root, run, why)
    result = one_line_cli(["verify", "--repair"], root)
    assert result.exit_code == 0, result.output
    assert f"broken {run}: {why} → moved to .broken-{run.name}-" in " ".join(result.output.split())
    assert not run.exists() and one_line_cli(["verify"], root).exit_code == 0


def test_repair_says_why_it_cannot_move_a_run(pristine, tmp_path, monkeypatch):
    import os

    root, run, _ = fresh(pristine, tmp_path)
    deny_reads(monkeypatch, run / "rows.parquet")
    real_rename = os.rename

    def rename(src, dst, *a, **k):
        if str(src) == str(run):
            raise PermissionError(13, "Permission denied", str(src))
        return real_rename(src, dst, *a, **k)

    monkeypatch.setattr(os, "rename", rename)
    result = one_line_cli(["verify", "--repair"], root)
    out = " ".join(result.output.split())
    assert result.exit_code == 1, out
    assert "→ cannot move it aside (Permission denied): left where it is" in out
    assert "1 runs checked, 1 broken, 1 left where they are" in out and run.exists()


def _chmod_blocks_reads() -> bool:
    """False for root (with its capability to read any file): then only the simulation above runs."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        probe = os.path.join(d, "probe")
        with open(probe, "w") as f:
            f.write("x")
        os.chmod(probe, 0)
        try:
            with open(probe):
                return False
        except PermissionError:
            return True


@pytest.mark.skipif(
    os.geteuid() == 0 and not _chmod_blocks_reads(),
    reason="root reads a chmod 000 file (the test above simulates it)",
)
@pytest.mark.parametrize("target", ["rows.parquet", "config.json", "folder"])
def test_a_chmod_000_file_is_a_broken_run(pristine, tmp_path, target):
    root, run, _ = fresh(pristine, tmp_path)
    path = run if target == "folder" else run / target
    path.chmod(0)
    try:
        why = "the run folder cannot be read" if target == "folder" else f"{target} cannot be read"
        assert store.verify_run(run).startswith(why)
        assert_readers_skip(root, run, why)
        result = one_line_cli(["verify", "--repair"], root)
        assert result.exit_code == 0 and "moved to .broken-" in result.output, result.output
        assert not run.exists()
    finally:
        for p in (root / NAME).iterdir():
            p.chmod(0o755)
            for f in p.iterdir():
                f.chmod(0o644)


def test_a_sweep_recomputes_an_unreadable_run_or_says_why_not(tmp_path, dask_client, monkeypatch):
    import os

    spec = sweep.SweepSpec(NAME, {"alpha": ("0.1",)}, (0,), {k: str(v) for k, v in SMALL.items()})
    assert sweep.run_sweep(spec, root=tmp_path, client=dask_client)["n_done"] == 1
    (run,) = [p for p in (tmp_path / NAME).iterdir()]
    deny_reads(monkeypatch, run / "rows.parquet")
    real_rename = os.rename

    def rename(src, dst, *a, **k):  # first: the broken run cannot be moved aside
        if str(src) == str(run):
            raise PermissionError(13, "Permission denied", str(src))
        return real_rename(src, dst, *a, **k)

    monkeypatch.setattr(os, "rename", rename)
    notes = []
    record = sweep.run_sweep(spec, root=tmp_path, client=dask_client, on_note=notes.append)
    assert record["status"] == "incomplete" and record["n_missing"] == 1
    assert notes == [
        f"cannot recompute 1 broken stored run(s), e.g. {run.name}: rows.parquet cannot be read "
        "(Permission denied); cannot move it aside (Permission denied)"
    ]
    assert record["task_errors"] == [notes[0].split("e.g. ")[1]]
    monkeypatch.setattr(os, "rename", real_rename)  # then it can: moved aside and recomputed
    notes.clear()
    record = sweep.run_sweep(spec, root=tmp_path, client=dask_client, on_note=notes.append)
    assert record["status"] == "complete" and record["n_recomputed"] == 1
    assert notes and "rows.parquet cannot be read (Permission denied)" in notes[0]
    assert store.verify_run(run) is None and store.runs(tmp_path) == [run]


@pytest.mark.parametrize("copy_to", ["RUN.bak", "another hash", "another experiment"])
def test_a_copied_run_folder_is_not_counted_twice(pristine, tmp_path, copy_to):
    root, run, _ = fresh(pristine, tmp_path)
    copy = {
        "RUN.bak": run.parent / f"{run.name}.bak",
        "another hash": run.parent / "0123456789abcdef",
        "another experiment": root / "old results" / run.name,
    }[copy_to]
    shutil.copytree(run, copy)
    assert store.verify_run(copy) is None  # a sound copy, but not in its place
    why = store.verify_stored(copy)
    assert why.startswith("not counted: ") and "\n" not in why
    assert store.broken_runs(root) == [(copy, why)]
    prefix = "skipping copied or misplaced run"
    with pytest.warns(BrokenRunWarning, match=re.escape(f"{prefix} {copy}: not counted")) as caught:
        assert query.query("SELECT count(*) AS n FROM runs", root)["n"].item() == 1
    assert len(caught) == 1
    # the report shows the experiments it knows: a folder "old results" is not one of them
    shown = 0 if copy_to == "another experiment" else 1
    for args, n in ((["query", "SELECT count(*) AS n FROM runs"], 1), (["report"], shown)):
        result = one_line_cli(args, root)
        assert result.exit_code == 0 and result.output.count(f"warning: {prefix}") == n
    result = one_line_cli(["verify"], root)
    assert result.exit_code == 1 and "2 runs checked, 1 broken" in result.output
    result = one_line_cli(["verify", "--repair"], root)  # a copy is never moved
    out = " ".join(result.output.split())
    assert result.exit_code == 1 and f"broken {copy}: not counted" in out
    assert "→ left alone: " in out and copy.is_dir() and store.verify_run(run) is None


def test_a_file_the_manifest_does_not_list_makes_the_run_broken(pristine, tmp_path):
    root, run, _ = fresh(pristine, tmp_path)
    (run / "notes.txt").write_text("mine")
    why = "'notes.txt' not listed in its manifest.json (added after the run)"
    assert store.verify_run(run) == why
    assert_readers_skip(root, run, why)


def test_repair_moves_only_run_folders(pristine, tmp_path):
    """``verify --repair`` once moved a folder of the user's called ``old results``."""
    root, run, _ = fresh(pristine, tmp_path)
    mine = root / NAME / "old results"
    mine.mkdir()
    (mine / "rows.parquet").write_bytes(b"an old table of mine")
    broken = root / NAME / "0123456789abcdef"  # named like a run: a run's broken folder
    broken.mkdir()
    (broken / "rows.parquet").write_bytes(b"half")
    empty = root / "notes"
    empty.mkdir()
    (empty / "readme.txt").write_text("not a store folder")
    with pytest.warns(BrokenRunWarning) as caught:
        assert query.query("SELECT count(*) AS n FROM runs", root)["n"].item() == 1
    assert sorted(str(w.message).split(":")[0] for w in caught) == [  # notes/ is not looked at
        f"skipping {mine}",  # run files in a folder of the user's
        f"skipping broken run {broken}",
    ]
    (line,) = [str(w.message) for w in caught if str(mine) in str(w.message)]
    assert line.endswith("(not a run folder (its name is not a config hash))"), line
    result = one_line_cli(["verify", "--repair"], root)
    out = " ".join(result.output.split())
    assert result.exit_code == 1, out
    assert (
        f"broken {mine}: manifest.json missing (an unfinished run, or one written before "
        "manifests) → left alone: not a run folder (its name is not a config hash); move it "
        "yourself" in out
    )
    assert f"broken {broken}: manifest.json missing" in out and "→ moved to .broken-0123" in out
    assert "3 runs checked, 2 broken, 1 moved aside" in out and "1 left where they are" in out
    assert mine.is_dir() and (mine / "rows.parquet").is_file() and not broken.exists()
    assert empty.is_dir() and store.verify_run(run) is None


NOT_RECORDS = {
    "array": "[]",
    "object": '{"x": 1}',
    "string": '"str"',
    "number": "1",
    "null": "null",
    "wrong types": '{"id": 5, "experiment": "dmf_identical", "status": "complete", "runs": []}',
    "runs not a list": '{"id": "a", "experiment": "dmf_identical", "status": "x", "runs": "ab"}',
    "runs a path": '{"id": "a", "experiment": "dmf_identical", "status": "x", "runs": ["../../etc"]}',
    "experiment a path": '{"id": "a", "experiment": "../..", "status": "x", "runs": []}',
    "n_runs text": '{"id": "a", "experiment": "e", "status": "x", "runs": [], "n_runs": "9"}',
    "garbled": '{"id": ',
}


@pytest.mark.parametrize("text", list(NOT_RECORDS.values()), ids=list(NOT_RECORDS))
def test_a_sweep_json_that_is_not_a_record_is_skipped(tmp_path, text):
    from conftest import one_run_store

    root = one_run_store(tmp_path / "store")
    good = {"id": "dmf_identical-good", "experiment": NAME, "status": "complete",
            "runs": [], "n_runs": 0, "created": 1.0}  # fmt: skip
    for folder, content in (("bad", text), ("good", json.dumps(good))):
        (root / sweep.SWEEPS_DIR / folder).mkdir(parents=True)
        (root / sweep.SWEEPS_DIR / folder / "sweep.json").write_text(content)
    bad = root / sweep.SWEEPS_DIR / "bad" / "sweep.json"
    match = re.escape(f"skipping sweep record {bad}: ")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # SQL that names no sweep view reads no sweep record
        assert query.query("SELECT 1 AS x", root)["x"].item() == 1
    with pytest.warns(sweep.BrokenSweepWarning, match=match) as caught:
        found = query.query("SELECT id, status FROM sweeps", root).to_dict("records")
    assert len(caught) == 1 and "\n" not in str(caught[0].message)
    assert found == [{"id": "dmf_identical-good", "status": "complete"}]
    for args in (["query", "SELECT count(*) AS n FROM sweeps"], ["report"]):
        result = one_line_cli(args, root)
        assert result.exit_code == 0, result.output
        assert result.output.count("warning: skipping sweep record") == 1, result.output
        assert "│ 1 │" in result.output or args == ["report"]


WRONG_TYPES = {
    "config.json a list": ("config", [], "config.json is not a run record (a JSON list)"),
    "elapsed_s text": ("config", {"elapsed_s": "slow"},
                       "config.json is not a run record (elapsed_s is a JSON string)"),
    "created text": ("config", {"created": "yesterday"},
                     "config.json is not a run record (created is a JSON string)"),
    "no config": ("config", {"config": None}, "config.json is not a run record (no config)"),
    "a check's loss text": ("checks", [{"name": "c", "loss": "low"}],
                            "checks.json is not a list of checks (loss is a JSON string)"),
    "a check's kind a number": ("checks", [{"name": "c", "kind": 3}],
                                "checks.json is not a list of checks (kind is a JSON number)"),
    "a check not an object": ("checks", ["c"], "checks.json is not a list of checks"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(WRONG_TYPES.values()), ids=list(WRONG_TYPES))
def test_a_run_record_with_wrong_field_types_is_broken(tmp_path, case):
    """A run's JSON that parses but is not a record its readers can take (as for sweep.json)."""
    import pandas as pd

    which, value, why = case
    root, h = tmp_path / "store", "0123456789abcdef"
    meta = {"experiment": NAME, "hash": h, "config": {"alpha": 0.1}, "status": "ok",
            "created": 1.0}  # fmt: skip
    if which == "config":
        meta = value if isinstance(value, list) else {**meta, **value}
        meta = {k: v for k, v in meta.items() if v is not None} if isinstance(meta, dict) else meta
    run = store.write_run(
        store.run_path(root, NAME, h), config=meta, rows=pd.DataFrame({"t": [0.0]}),
        checks=value if which == "checks" else [],
    )  # fmt: skip
    assert store.verify_run(run) == why
    assert_readers_skip(root, run, why)


def test_a_copied_sweep_record_is_read_once(tmp_path):
    record = {"id": "dmf_identical-abc", "experiment": NAME, "status": "complete", "runs": []}
    for folder in ("dmf_identical-abc", "dmf_identical-abc.bak"):
        (tmp_path / "sweeps" / folder).mkdir(parents=True)
        (tmp_path / "sweeps" / folder / "sweep.json").write_text(json.dumps(record))
    with pytest.warns(sweep.BrokenSweepWarning, match="repeats the id of another record"):
        assert [r["id"] for r in sweep.read_sweeps(tmp_path)] == ["dmf_identical-abc"]


def _dead_pid() -> int:
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_killed_sweep_reads_as_interrupted(tmp_path):
    """A sweep's record names its process (pid, host) and is rewritten every HEARTBEAT_S: a record
    left "running" by a process that is gone reads as interrupted (the file itself is unchanged)."""
    import signal
    import socket
    import subprocess
    import sys
    import time

    folder = tmp_path / sweep.SWEEPS_DIR / "dmf_identical-killed"
    code = (
        "import sys, time; from pathlib import Path; from implicit_bias import sweep; "
        "sweep._Record(Path(sys.argv[1]), {'id': 'dmf_identical-killed', 'experiment': "
        "'dmf_identical', 'status': 'running', 'runs': [], 'pid': __import__('os').getpid(), "
        "'host': __import__('socket').gethostname()}); print('ready', flush=True); time.sleep(120)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(folder)], stdout=subprocess.PIPE,
                            text=True)  # fmt: skip
    try:
        assert proc.stdout.readline().strip() == "ready"
        (record,) = sweep.read_sweeps(tmp_path)
        assert record["status"] == "running" and record["pid"] == proc.pid
        assert abs(record["updated"] - time.time()) < 60
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    (record,) = sweep.read_sweeps(tmp_path)
    host = socket.gethostname()
    assert record["status"] == "interrupted"
    assert record["interrupted"] == f"its process {proc.pid} on {host} is gone"
    assert json.loads((folder / "sweep.json").read_text())["status"] == "running"  # not rewritten
    assert query.query("SELECT status FROM sweeps", tmp_path)["status"].tolist() == ["interrupted"]
    # another host's sweep: interrupted once its heartbeat is older than STALE_AFTER_S
    for updated, status in ((time.time(), "running"), (time.time() - 2 * sweep.STALE_AFTER_S,
                                                       "interrupted")):  # fmt: skip
        record = {"id": "dmf_identical-killed", "experiment": NAME, "status": "running",
                  "runs": [], "pid": 1, "host": "elsewhere", "updated": updated}  # fmt: skip
        (folder / "sweep.json").write_text(json.dumps(record))
        assert sweep.read_sweeps(tmp_path)[0]["status"] == status


def test_a_rerun_resumes_an_interrupted_sweep(tmp_path, dask_client):
    import time

    spec = sweep.SweepSpec(NAME, {"alpha": ("0.1",)}, (0,), {k: str(v) for k, v in SMALL.items()})
    folder = sweep.sweep_dir(tmp_path, spec)
    folder.mkdir(parents=True)
    killed = {**spec.to_dict(), "id": spec.id, "created": 5.0, "status": "running", "runs": [],
              "pid": _dead_pid(), "host": __import__("socket").gethostname()}  # fmt: skip
    (folder / "sweep.json").write_text(json.dumps(killed))
    assert sweep.read_sweeps(tmp_path)[0]["status"] == "interrupted"
    record = sweep.run_sweep(spec, root=tmp_path, client=dask_client)
    assert record["status"] == "complete" and record["n_done"] == 1
    (stored,) = sweep.read_sweeps(tmp_path)
    assert stored["status"] == "complete" and stored["created"] == 5.0  # the same sweep, resumed
    assert stored["pid"] == __import__("os").getpid() and stored["updated"] <= time.time()


# --- a hostile store in the report ------------------------------------------------------------

X = '"><script>alert(1)</script>'
Y = "' onmouseover='alert(2)' x='"
Z = X + Y


class _Markup(__import__("html.parser").parser.HTMLParser):
    """Every element and attribute of a page, as a browser's parser sees them."""

    def __init__(self):
        super().__init__()
        self.scripts, self.handlers, self.tags = [], [], set()
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.handlers += [(tag, k, v) for k, v in attrs if k.lower().startswith("on")]
        if tag == "script":
            self.scripts.append("")
            self._in_script = True

    def handle_endtag(self, tag):
        self._in_script = self._in_script and tag != "script"

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data


def hostile_store(root):
    """A store whose every string a reader shows carries markup: config values and keys, notes,
    errors, check names, kinds, statuses, details, sources, requirements, a sweep's id, grid and
    status, and an experiment name in a run's config and in a sweep record."""
    import pandas as pd

    def write(h, grid=(X, "a"), **extra):
        config = {"alpha": Z, "depth": Y, Z: grid[0], "$\\frac{": grid[1]}
        meta = {"experiment": NAME, "hash": h, "status": "ok", "created": 1.0, "elapsed_s": 1.0,
                "notes": [Z, "diagnostic:" + Y], "config": config, **extra}  # fmt: skip
        store.write_run(
            store.run_path(root, NAME, h), config=meta,
            rows=pd.DataFrame({"t": [0.0], "series": [Z], "i": [0], "value": [1.0]}),
            checks=[{"name": Z, "kind": Z, "status": Z, "passed": True, "predicted": Z,
                     "observed": Y, "tolerance": Z, "detail": Z, "source": Z, "basis": Y,
                     "loss": 0.5, "loss_tol": 0.1, "requires": [Z, 5]},
                    {"name": Y, "kind": "claim", "status": Y, "passed": False, "detail": Y},
                    {"name": Z, "kind": "hypothesis", "status": Z, "passed": True}],
            error={"type": Z, "message": Y},
        )  # fmt: skip

    write("fedcba9876543210")  # in the sweep below, with the next one: a grid of hostile keys
    write("fedcba9876543213", grid=(Y, "$"))
    write("fedcba9876543211")  # shown on its own
    write("fedcba9876543212", experiment=Z)  # not counted (its experiment is not its folder's)
    for folder, record in (
        ("a", {"id": Z, "experiment": NAME, "status": Z,
               "runs": ["fedcba9876543210", "fedcba9876543213"], "n_runs": 2,
               "grid": {Z: [X, Y], "alpha": [Z], "$\\frac{": ["a", "$"]}, "seeds": [0],
               "set": {Z: Y}, "created": 2.0}),
        ("b", {"id": Y, "experiment": Z, "status": "complete", "runs": []}),
    ):  # fmt: skip
        (root / "sweeps" / folder).mkdir(parents=True)
        (root / "sweeps" / folder / "sweep.json").write_text(json.dumps(record))
    return root


def test_a_hostile_store_puts_no_markup_into_the_report(tmp_path):
    from implicit_bias.report.page import DECODE_JS

    root = hostile_store(tmp_path / "store")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        page = report.build(root).read_text()
    lines = sorted(str(w.message).split(":")[0] for w in caught)
    assert len(lines) == 2 and all("\n" not in str(w.message) for w in caught), lines
    assert lines[0].startswith("skipping copied or misplaced run"), lines
    assert "fedcba9876543212" in lines[0]
    assert lines[1].startswith("skipping sweep record") and "sweeps/b/" in lines[1]
    assert "fedcba9876543211" in page and "Sweep &quot;&gt;&lt;script&gt;" in page  # shown
    assert "figure not drawn (" in page  # a grid key "$\\frac{" is bad mathtext: one line, no crash
    with warnings.catch_warnings(record=True) as caught:  # and the store still answers queries
        warnings.simplefilter("always")
        assert query.query("SELECT count(*) AS n FROM runs", root)["n"].item() == 3
        assert query.query("SELECT count(*) AS n FROM checks", root)["n"].item() == 9
        assert query.query("SELECT id FROM sweeps", root)["id"].tolist() == [Z]
    # the copied run's line once per query; the sweep record's only where the SQL names sweeps
    # (a query that does not name them reads no sweep record)
    assert len(caught) == 4
    markup = _Markup()
    markup.feed(page)
    assert markup.scripts == [DECODE_JS]  # the page's own script, and no other
    assert markup.handlers == []  # no on* attribute anywhere
    assert "alert(" not in "".join(markup.scripts)
    assert "<script>alert" not in page and "onmouseover='" not in page  # not even as raw text


# --- issue 24: unreadable, copied and broken parts of the compacted store --------------------


def compacted_fresh(pristine, tmp_path):
    """A copy of the pristine store, compacted: (root, its one part, the run's would-be folder,
    its config)."""
    from implicit_bias import compact

    root, run, cfg = fresh(pristine, tmp_path)
    assert compact.compact(root)["removed"] == 1 and not run.exists()
    (part,) = compact.parts(root)
    return root, part, run, cfg


def count(root) -> int:
    return query.query("SELECT count(*) AS n FROM runs", root)["n"].item()


@pytest.mark.parametrize("table", ["runs", "rows", "checks"])
def test_an_unreadable_part_file_is_a_broken_part(pristine, tmp_path, monkeypatch, table):
    """``chmod 000`` on one file of a part (simulated as for run folders: a root process reads any
    file): query, report and verify skip or name the part in one line; ``verify --repair`` moves
    it aside (its files kept, hidden); then a rerun recomputes the run."""
    from implicit_bias import compact

    root, part, run, cfg = compacted_fresh(pristine, tmp_path)
    deny_reads(monkeypatch, part.file(table))
    why = f"{part.files[table]['path']} cannot be read (Permission denied)"
    prefix = f"skipping broken part {part.manifest_path}: {why}"
    with pytest.warns(BrokenRunWarning, match=re.escape(prefix)) as caught:
        assert count(root) == 0
    assert len(caught) == 1 and "\n" not in str(caught[0].message)
    with pytest.warns(BrokenRunWarning, match=re.escape(prefix)):
        assert "Not run yet" in report.build(root).read_text()
    for args in (["query", "SELECT count(*) AS n FROM runs"], ["report"]):
        compact._INDEX.clear()  # as a fresh process: the index of parts is cached per process
        result = one_line_cli(args, root)
        assert result.exit_code == 0, result.output
        assert result.output.count("warning: skipping broken part") == 1, result.output
    result = one_line_cli(["verify"], root)
    out = " ".join(result.output.split())
    assert result.exit_code == 1 and f"broken {part.manifest_path}: {why}" in out, out
    assert "1 runs checked" not in out  # the part's run is not counted as sound

    result = one_line_cli(["verify", "--repair"], root)
    out = " ".join(result.output.split())
    assert result.exit_code == 0, out
    assert f"→ moved to .broken-part-{part.id}-" in out and "(its 1 runs are recomputed" in out
    assert not part.manifest_path.exists() and not part.file(table).exists()
    kept = [p.name for p in part.file(table).parent.iterdir()]
    assert len(kept) == 1 and kept[0].startswith(f".broken-part-{part.id}.parquet-")  # kept
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # moved aside: no line any more
        assert count(root) == 0 and compact.parts(root) == []
    assert one_line_cli(["verify"], root).exit_code == 0
    again = runner.execute(NAME, cfg, root=root, plot=False)  # not stored now: recomputed
    assert not again.cached and again.status == "ok" and again.path == run
    assert count(root) == 1
    compact.compact(root)  # and the hidden files stay where they are
    assert [p.name for p in part.file(table).parent.iterdir() if p.name.startswith(".")] == kept


@pytest.mark.parametrize("what", ["data file", "manifest"])
def test_a_copied_part_is_not_counted_twice(pristine, tmp_path, what):
    """``cp part-….parquet part-copy.parquet`` (no query reads it: the views read the files the
    manifests name) or ``cp part-….json part-copy.json`` (a manifest not under its part's name:
    skipped with one line): counted once by query and report; verify names the copy, --repair and
    compact leave it where it is."""
    from implicit_bias import compact

    root, part, run, cfg = compacted_fresh(pristine, tmp_path)
    if what == "data file":
        copy = part.file("runs").with_name("part-copy.parquet")
        shutil.copy(part.file("runs"), copy)
        why = "not counted: no part's manifest names it (a copy?)"
        lines = 0
    else:
        copy = part.manifest_path.with_name("part-copy.json")
        shutil.copy(part.manifest_path, copy)
        why = f"not counted: a copy of part {part.id} of {NAME!r}"
        lines = 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert count(root) == 1
        assert len(store.runs(root)) == 1
    assert [str(w.message) for w in caught] == [
        f"skipping copied part {copy}: {why} (implicit-bias verify)"
    ] * (2 * lines)
    for args in (["query", "SELECT count(*) AS n FROM runs"], ["report"]):
        compact._INDEX.clear()  # as a fresh process: the index of parts is cached per process
        result = one_line_cli(args, root)
        assert result.exit_code == 0, result.output
        assert result.output.count("warning: skipping copied") == lines, result.output
    result = one_line_cli(["verify"], root)
    out = " ".join(result.output.split())
    assert result.exit_code == 1 and f"broken {copy}: {why}" in out, out
    assert "1 runs checked, 1 broken" in out
    result = one_line_cli(["verify", "--repair"], root)
    out = " ".join(result.output.split())
    assert result.exit_code == 1 and "→ left alone: " in out and copy.is_file(), out
    done = compact.compact(root)
    assert copy.is_file() and not done["lost"] and part.manifest_path.is_file()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert runner.execute(NAME, cfg, root=root, plot=False).cached  # a rerun: found, once
        assert count(root) == 1 and not store.run_folders(root)
    assert {str(w.message).split(":")[0] for w in caught} <= {f"skipping copied part {copy}"}


def test_repair_moves_a_garbled_part_aside_and_a_sweep_recomputes_it(tmp_path, dask_client):
    """A part garbled in place (same size: only its checksum tells, so only ``verify`` sees it):
    ``verify --repair`` moves it aside, and the sweep's rerun recomputes its runs."""
    from implicit_bias import compact

    spec = sweep.SweepSpec(NAME, {"alpha": ("0.1",)}, (0,), {k: str(v) for k, v in SMALL.items()})
    assert sweep.run_sweep(spec, root=tmp_path, client=dask_client, compact=True)["n_done"] == 1
    (part,) = compact.parts(tmp_path)
    assert not store.run_folders(tmp_path)
    corrupt(part.file("rows"), "garble")
    result = one_line_cli(["verify", "--repair"], tmp_path)
    out = " ".join(result.output.split())
    assert result.exit_code == 0 and "fails its checksum (garbled) → moved to .broken-part" in out
    assert count(tmp_path) == 0
    notes = []
    record = sweep.run_sweep(spec, root=tmp_path, client=dask_client, on_note=notes.append)
    assert record["status"] == "complete" and record["n_done"] == 1, (record, notes)
    assert count(tmp_path) == 1 and one_line_cli(["verify"], tmp_path).exit_code == 0
