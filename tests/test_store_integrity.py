"""The store knows a finished run from a broken one (issue 15 §2).

One run is computed once; each of its files is then truncated, deleted and garbled in turn (in a
fresh copy of the store each time). Every time: ``verify_run`` names the file, ``query`` and
``report`` skip the run with a one-line warning naming it, and the CLI's ``verify`` lists it.
``run`` recomputes a broken run and says so; ``verify --repair`` moves broken runs aside; a sweep
recomputes them too.
"""

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
