"""``implicit-bias explore`` (issue 14 §1): user data refused in one line, questions stored and reported,
the theory checks chosen from the question. ~40 s CPU on 2 shared cores (three small fits)."""

import numpy as np
import pytest

from implicit_bias import explore, query, report, store
from implicit_bias.errors import ConfigError


def _csv(path, rows, header="row,col,value"):
    path.write_text("\n".join([header] + [",".join(map(str, r)) for r in rows]) + "\n")
    return str(path)


@pytest.mark.parametrize(
    "rows, n, message",
    [
        ([(0, 1, 2.0, 7), (1, 0, 1.0, 7)], None, "expected rows \\(row, col, value\\)"),
        ([(0, 1, 2.0), (1, 0, "nan")], None, "NaN or inf"),
        ([(0, 1, 2.0), (5, 0, 1.0)], 4, "index \\(5, 0\\) out of range for a 4×4 matrix"),
        ([(0, 1, 2.0), (-1, 0, 1.0)], None, "out of range"),
        ([(0, 1, 2.0), (0, 1, 3.0)], None, "duplicate entry \\(0, 1\\)"),
        ([(0, 1.5, 2.0)], None, "indices must be integers"),
    ],
    ids=["shape", "nan", "out-of-range", "negative", "duplicate", "non-integer"],
)
def test_a_bad_completion_file_is_one_line_naming_the_file_and_nothing_is_stored(
    tmp_path, rows, n, message
):
    path = _csv(tmp_path / "ratings.csv", rows)
    argv = ["completion", "--entries", path, "--root", str(tmp_path / "results")]
    argv += ["--n", str(n)] if n else []
    with pytest.raises(ConfigError, match=message) as e:
        explore.main(argv, echo=lambda *_: None)
    assert str(e.value).startswith(path) and "\n" not in str(e.value)
    assert not (tmp_path / "results").exists()


def test_bad_npz_npy_and_mtx_files(tmp_path):
    np.savez(tmp_path / "a.npz", A=np.ones((3, 4)))
    with pytest.raises(ConfigError, match="a.npz: needs arrays named A, y.*missing y"):
        explore.question(problem="sparse", model="hadamard", data=str(tmp_path / "a.npz"))
    np.savez(tmp_path / "b.npz", A=np.ones((3, 4)), y=np.ones(2))
    with pytest.raises(ConfigError, match=r"b.npz: A must be \(m, n\) and y \(m,\)"):
        explore.question(problem="sparse", model="hadamard", data=str(tmp_path / "b.npz"))
    np.save(tmp_path / "w.npy", np.array([[1.0, np.nan], [0.0, 1.0]]))
    with pytest.raises(
        ConfigError, match=r"w.npy: the target has a NaN or inf entry at index \(0, 1\)"
    ):
        explore.question(problem="full", data=str(tmp_path / "w.npy"))
    (tmp_path / "m.mtx").write_text(
        "%%MatrixMarket matrix coordinate real general\n3 3 2\n1 1 1.0\n4 2 2.0\n"
    )
    with pytest.raises(ConfigError, match="m.mtx: cannot be read"):
        explore.question(problem="completion", data=str(tmp_path / "m.mtx"))
    with pytest.raises(ConfigError, match="x.parquet: no such file"):
        explore.question(problem="completion", data=str(tmp_path / "x.parquet"))


def test_the_csv_example_runs_is_stored_and_appears_in_query_and_report(tmp_path):
    # a 6×5 rank-1 "ratings" matrix, 18 of its 30 entries, as (row, col, value)
    rng = np.random.default_rng(0)
    X = np.outer(rng.uniform(1, 2, 6), rng.uniform(1, 2, 5))
    entries = [(i, j, X[i, j]) for i in range(6) for j in range(5) if (i + 2 * j) % 5 != 0][:18]
    path = _csv(tmp_path / "my_ratings.csv", entries)
    root = tmp_path / "results"
    lines = []
    code = explore.main(["completion", "--entries", path, "--model", "deep", "--depth", "4",
                         "--method", "gd", "--eta", "0.05", "--n-steps", "400", "--root", str(root)],
                        echo=lines.append)  # fmt: skip
    assert code == 0, lines
    (run,) = store.runs(root, "explore")
    assert store.figures(run) and any(ln.startswith("theory: no theory applies") for ln in lines)
    frame = query.query("SELECT experiment, problem, depth FROM runs", root)
    assert frame.to_dict("records") == [
        {"experiment": "explore", "problem": "completion", "depth": 4}
    ]
    page = report.build(root).read_text()
    assert "Your questions (implicit-bias explore)" in page and "completion · deep N=4 · gd" in page


def test_identical_init_on_a_symmetric_target_gets_seed_000_checks(tmp_path):
    q = explore.question(problem="full", spectrum=(3.0, 2.0, -1.0), depth=2, scale=0.1,
                         method="gd", eta=0.1, n_steps=3000)  # fmt: skip
    outcome = explore.execute(q, root=tmp_path, plot_figures=False)
    by_name = {c["name"]: c for c in outcome.checks}
    assert by_name["the exact scalar reduction (7) ran"]["status"] == "pass"
    claims = [c for c in outcome.checks if c["kind"] == "claim"]
    assert {c["source"] for c in claims} == {"seed 000, eq. (7)", "seed 000, Thm 2.2"}
    assert all(c["status"] == "pass" for c in claims), claims
    notes = store.read_config(outcome.path)["notes"]
    assert any(n.startswith("theory: seed 000, Thm 2.2") for n in notes)


def test_the_wrong_limit_fails_the_seed_000_claim(tmp_path, monkeypatch):
    """A mutant: the predicted limit VΛVᵀ (negative eigenvalue kept) instead of VΛ₊Vᵀ must fail."""
    from implicit_bias.theory import deep_matrix as th

    monkeypatch.setattr(th, "limit_identical", lambda W: np.asarray(W))
    q = explore.question(problem="full", spectrum=(3.0, 2.0, -1.0), depth=2, scale=0.1,
                         method="gd", eta=0.1, n_steps=3000)  # fmt: skip
    outcome = explore.execute(q, root=tmp_path, plot_figures=False)
    limit = next(c for c in outcome.checks if c["source"] == "seed 000, Thm 2.2")
    assert limit["status"] == "fail"


def test_questions_outside_every_theorem_and_bad_combinations():
    with pytest.raises(ConfigError, match="model 'hadamard' does not fit problem 'completion'"):
        explore.question(problem="completion", model="hadamard")
    with pytest.raises(ConfigError, match="baseline 'l1' does not apply to completion"):
        explore.question(problem="completion", baselines=("l1",))
    assert explore.parse_seeds("0-2,5") == [0, 1, 2, 5]


def test_the_example_study_expands_to_its_grid():
    from pathlib import Path

    spec = Path(__file__).resolve().parents[1] / "examples" / "explore_study.toml"
    qs = explore.read_spec(str(spec))
    assert len(qs) == 6 and {(q.depth, q.scale) for q in qs} == {
        (d, s) for d in (1, 2, 3) for s in (1e-2, 1e-1)
    }
    assert all(q.baselines == ("nuclear", "l2") for q in qs)


@pytest.mark.xdist_group("dask")
def test_a_spec_grid_runs_on_the_local_dask_cluster_and_a_rerun_recomputes_nothing(tmp_path):
    spec = tmp_path / "study.toml"
    spec.write_text(
        "[question]\n"
        'problem = "full"\nspectrum = [3.0, 2.0, 0.5]\nmodel = "deep"\ninit = "identical"\n'
        'scale = 0.3\nmethod = "gd"\neta = 0.02\nn_steps = 1000\nn_saves = 10\nbaselines = ["l2"]\n'
        "[grid]\ndepth = [2, 3]\n"
    )
    root = tmp_path / "results"
    args = ["--spec", str(spec), "--seeds", "0-1", "--root", str(root), "--workers", "2"]
    lines = []
    assert explore.main(args, echo=lines.append) == 0, lines
    assert "4 questions on the local Dask cluster" in lines
    runs = store.runs(root, "explore")
    assert len(runs) == 4
    stored = {(c["config"]["depth"], c["config"]["seed"]) for c in map(store.read_config, runs)}
    assert stored == {(2, 0), (2, 1), (3, 0), (3, 1)}
    created = sorted(store.read_config(r)["created"] for r in runs)
    # identical init on a full symmetric target: the seed 000 checks apply and pass on every run
    assert sum("seed 000" in line for line in lines if line.startswith("theory:")) == 4, lines
    lines = []
    assert explore.main(args, echo=lines.append) == 0, lines
    assert sorted(store.read_config(r)["created"] for r in store.runs(root, "explore")) == created
    # the report shows each question once, with the checks of both its seeds
    page = report.build(root).read_text()
    assert page.count("full · deep N=2 · gd · 2 seeds") == page.count("N=3 · gd · 2 seeds") == 1
    assert page.count("stored at seeds 0, 1; checks over all of them") == 2
