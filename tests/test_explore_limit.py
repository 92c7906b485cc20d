"""``explore --method limit``: the α → 0 path of a question, printed, stored, plotted and reported.

The oracle itself is tested against simulation in tests/test_limit_path.py; here: that the command
reaches it, stores what it says, refuses what it does not cover, and that the path's end is the
baseline the theorem names (the min-ℓ1 interpolator, HiGHS, to the 1e-8 of its claim)."""

import numpy as np
import pytest

from implicit_bias import explore, report, store
from implicit_bias.errors import ConfigError
from implicit_bias.theory.limit_path import limit_path_diagonal

SPARSE = ["sparse", "--n", "20", "--m", "8", "--s", "3", "--signed", "true", "--model", "hadamard",
          "--method", "limit", "--baseline", "l1"]  # fmt: skip


def test_the_sparse_path_is_printed_stored_and_reported(tmp_path):
    root = tmp_path / "results"
    lines = []
    argv = SPARSE + ["--depth", "3", "--scale", "1e-3", "--root", str(root)]
    assert explore.main(argv, echo=lines.append) == 0, lines
    text = "\n".join(lines)
    assert "the α → 0 limit path" in text and "jump  t_tilde activated" in text
    assert "τ(α) = α^-1/3 = 333.3 at α = 0.001" in text
    (run,) = store.runs(root, "explore")
    rows = store.read_rows(run)
    arrays = store.read_arrays(run)
    # the same path as the oracle's on the question's instance (explore's sparse instance: seed 0)
    saddles = rows[rows.series == "saddle_loss"].sort_values("t")
    assert len(saddles) >= 2 and saddles.value.iloc[-1] < 1e-20
    np.testing.assert_allclose(arrays["estimate"], arrays["baseline_l1"], atol=1e-8)
    times = rows[rows.series == "jump_time"].sort_values("t")
    np.testing.assert_allclose(times.value, times.t * 1e3 / 3, rtol=1e-12)  # t = t̃·α^{-1}/3
    checks = store.read_checks(run)
    assert any("minimum-ℓ1" in c["name"] and c["passed"] for c in checks)
    assert store.figures(run)
    page = report.build(root).read_text()
    assert "sparse · hadamard N=3 · limit" in page and "<pre>" in page


def test_the_path_matches_the_oracle_on_the_same_instance():
    from implicit_bias.explore.build import setup
    from implicit_bias.explore.limit import run_limit

    q = explore.question(problem="sparse", n=12, m=6, s=2, signed=False, model="hadamard",
                         depth=2, method="limit", scale=1e-4)  # fmt: skip
    result = run_limit(q, setup(q), {})
    s = setup(q)
    path = limit_path_diagonal(np.asarray(s.problem.A), np.asarray(s.problem.y),
                               parametrization="positive")  # fmt: skip
    np.testing.assert_array_equal(result.arrays["estimate"], path.points[-1])
    assert np.all(path.points[-1] >= 0)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["completion", "--model", "deep", "--method", "limit"], "no limit-path oracle covers deep"),
        (SPARSE + ["--eta", "0.1"], "--eta"),
        (SPARSE + ["--depth", "1"], "no limit-path oracle covers hadamard"),
    ],
    ids=["uncovered", "gd-flag", "depth-1"],
)
def test_what_the_oracles_do_not_cover_is_one_line(tmp_path, argv, message):
    with pytest.raises(ConfigError, match=message) as e:
        explore.main(argv + ["--root", str(tmp_path / "r")], echo=lambda *_: None)
    assert "\n" not in str(e.value)
    assert not (tmp_path / "r").exists()


def test_a_flow_question_stores_its_saddles_certified_by_index(tmp_path):
    """Full observation of Ŵ = V diag(8, 4, 2, 1) Vᵀ by W₂W₁ from 1e-6·I: the flow rests at the best
    rank-k approximations, k = 0 … 4; at rank k the Hessian index is (n − k)² (tests/test_saddles.py
    derives it), so 16, 9, 4, 1 and a minimum."""
    root = tmp_path / "results"
    lines = []
    argv = ["full", "--n", "4", "--spectrum", "8,4,2,1", "--model", "deep", "--depth", "2",
            "--scale", "1e-6", "--n-saves", "200", "--root", str(root)]  # fmt: skip
    assert explore.main(argv, echo=lines.append) == 0, lines
    (run,) = store.runs(root, "explore")
    rows = store.read_rows(run)
    index = rows[rows.series == "plateau_index"].sort_values("t").value.to_numpy()
    assert list(index) == [16, 9, 4, 1, 0], index
    assert any(ln.startswith("saddles: 5 plateaus") for ln in lines), lines
