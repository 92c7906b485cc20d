"""The gallery of ``implicit-bias explore`` studies (examples/*.toml, docs/explore.md) runs in CI.

Each study goes through the real command path (``explore.main(["--spec", FILE, …])``: the spec
file, flags overriding its fields, its questions one after another (``--workers 1``), the store)
at a small size,
and its stored content is checked: every question of the grid stored, ``test_error`` rows finite,
the baselines' ``test_error_<b>`` rows, ``estimates.parquet`` read back by ``store.read_arrays``
with the right shapes, and one scientific statement per study whose tolerance is derived, not read
off a run:

* inpainting: depth 1 never fills in a hidden pixel — the gradient of the masked loss is zero off
  the mask, so every hidden entry stays at its initial value (exactly), and the test error is that
  of the initialization;
* regression_digits: the seeded holdout never leaks (W^{10,*} is the least squares of the training
  samples alone, and its stored test error is recomputed from the held-out samples), and depth 1
  never moves along a pixel that is 0 in every training image (the gradient is Xᵀ(XW − Y)/n);
* sparse_dct: the Hadamard flow ends at the ℓ1 minimum within seed 003's ε (computed here from n, N
  and α), up to the LP-duality slack of the residual the flow stops at.

The flags shrink each question (``--n``, ``--t1``, ``--n-saves``) and pick from the files' grids
(``--depth``, ``--data``: 4 questions in all; the Dask path of a grid is tests/test_explore.py's).
All three take about 40–60 s on 2 shared cores (a JIT compilation and a figure per question).
"""

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from implicit_bias import explore, store

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _study(name: str, tmp_path, *flags: str):
    """Run examples/<name>.toml with ``flags`` through ``explore.main``: (questions as the spec
    reads them, {question: run folder}, printed lines)."""
    spec = str(EXAMPLES / f"{name}.toml")
    root = tmp_path / "results"
    lines: list[str] = []
    code = explore.main(["--spec", spec, *flags, "--root", str(root), "--workers", "1"],
                        echo=lines.append)  # fmt: skip
    assert code == 0, "\n".join(lines)
    overrides = dict(zip((f.removeprefix("--").replace("-", "_") for f in flags[::2]), flags[1::2]))
    overrides.pop("seeds", None)
    questions = list(dict.fromkeys(explore.read_spec(spec, overrides)))  # a flag may merge some
    runs = {}
    for path in store.runs(root, "explore"):
        cfg = store.read_config(path)["config"]
        (q,) = [q for q in questions if all(cfg[k] == v for k, v in _fields(q).items())]
        runs[q] = path
    assert len(runs) == len(questions) == len(set(questions)), (runs, questions)
    return questions, runs, lines


def _fields(q) -> dict:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(q).items()}


def _series(path, name: str) -> np.ndarray:
    rows = store.read_rows(path)
    return rows[rows.series == name].sort_values("t").value.to_numpy()


def _stored_content(path, baselines: list[str], shape: tuple) -> dict:
    """The checks every study's run must pass; returns its arrays."""
    test = _series(path, "test_error")
    assert test.size >= 2 and np.isfinite(test).all(), test
    for b in baselines:
        tb = _series(path, f"test_error_{b}")
        assert tb.size == test.size and np.isfinite(tb).all() and np.ptp(tb) == 0, (b, tb)
    arrays = store.read_arrays(path)
    assert set(arrays) == {"estimate", *(f"baseline_{b}" for b in baselines)}, sorted(arrays)
    assert all(a.shape == shape and np.isfinite(a).all() for a in arrays.values()), {
        k: a.shape for k, a in arrays.items()
    }
    assert store.read_config(path)["status"] == "ok"
    return arrays


def test_inpainting_study_runs_and_depth_1_never_fills_a_hidden_pixel(tmp_path):
    pytest.importorskip("skimage")
    n = 12
    # --depth 1 (one question of the file's grid, in this process: the grid's Dask path is
    # tests/test_explore.py's); --t1 30: depth 1 converges at t ≈ 12
    questions, runs, lines = _study("inpainting", tmp_path, "--n", str(n), "--n-saves", "8",
                                    "--t1", "30", "--depth", "1")  # fmt: skip
    assert [q.depth for q in questions] == [1]
    for q, path in runs.items():
        _stored_content(path, ["nuclear"], (n, n))
        lo, hi = _series(path, "hidden_min"), _series(path, "hidden_max")
        assert lo.size and hi.size and (lo <= hi).all()
        for name in ("observed_min", "observed_max"):
            assert np.ptp(_series(path, name)) == 0
    # depth 1: dW/dt = −P_Ω(W − M) is 0 on every hidden entry, so (an exact or a Rosenbrock step:
    # each stage solves a system whose right side and Jacobian vanish there) they stay W(0)'s
    (q1,) = [q for q in questions if q.depth == 1]
    s = explore.setup(q1)
    W0, hidden = np.asarray(s.model(s.params0)), np.asarray(s.test.hidden)
    E = store.read_arrays(runs[q1])["estimate"]
    assert hidden.sum() == n * n - round(0.3 * n * n)
    np.testing.assert_array_equal(E[hidden], W0[hidden])
    assert (_series(runs[q1], "hidden_min") == W0[hidden].min()).all()
    assert (_series(runs[q1], "hidden_max") == W0[hidden].max()).all()
    # … so its test error is the start's, ‖W0_h − M_h‖/‖M_h‖, at every snapshot (≈ 1: α = 1e-3)
    M = np.asarray(s.truth)
    start = np.linalg.norm(W0[hidden] - M[hidden]) / np.linalg.norm(M[hidden])
    np.testing.assert_allclose(_series(runs[q1], "test_error"), start, rtol=1e-12)


def test_regression_digits_study_runs_without_leaking_the_holdout(tmp_path):
    pytest.importorskip("sklearn")
    from implicit_bias.explore.datasets import load_source

    k = 200
    questions, runs, lines = _study("regression_digits", tmp_path, "--n", str(k), "--t1", "100",
                                    "--n-saves", "8", "--seeds", "0", "--depth", "1")  # fmt: skip
    assert [q.depth for q in questions] == [1]
    rrr = [f"rrr{r}" for r in range(1, 11)]
    # the split the docs promise: a seeded permutation, round(0.2·k) samples held out
    D = load_source("sklearn:digits", "regression", n=k)
    X, Y = D["X"], D["Y"]
    perm = np.random.default_rng(0).permutation(k)
    test, train = np.sort(perm[: round(0.2 * k)]), np.sort(perm[round(0.2 * k) :])
    W_ls = np.linalg.pinv(X[train]) @ Y[train]
    for q, path in runs.items():
        arrays = _stored_content(path, rrr, (64, 10))
        for r in range(1, 11):  # W^{r,*} has rank ≤ r (and exactly r: P_X Y has 10 distinct σ)
            sv = np.linalg.svd(arrays[f"baseline_rrr{r}"], compute_uv=False)
            assert (sv[r:] <= 1e-10 * sv[0]).all() and sv[r - 1] > 1e-6 * sv[0], (r, sv)
        # W^{10,*} is plain least squares on the training samples only (float64 pinv: ~1e-13)
        np.testing.assert_allclose(arrays["baseline_rrr10"], W_ls, atol=1e-10 * np.abs(W_ls).max())
        err = np.linalg.norm(X[test] @ W_ls - Y[test]) / np.linalg.norm(Y[test])
        np.testing.assert_allclose(_series(path, "test_error_rrr10")[0], err, rtol=1e-10)
        assert len(_series(path, "prediction_distance_to_rrr1"))
    # depth 1: dW/dt = −Xᵀ(XW − Y)/n has zero rows at the pixels 0 in every training image
    (q1,) = [q for q in questions if q.depth == 1]
    s = explore.setup(q1)
    np.testing.assert_array_equal(np.asarray(s.problem.X), X[train])
    dead = np.flatnonzero((X[train] == 0).all(axis=0))
    assert dead.size >= 5  # the digits' border pixels (11 at k = 200)
    E, W0 = store.read_arrays(runs[q1])["estimate"], np.asarray(s.model(s.params0))
    np.testing.assert_array_equal(E[dead], W0[dead])
    assert not np.allclose(np.delete(E, dead, 0), np.delete(W0, dead, 0))  # the others did move


def _epsilon(N: int, beta1: float, beta_min: float, Q: float) -> float:
    """ε of Chou, Maly & Rauhut (2022) (seed 003), written out from the theorem (not imported)."""
    assert beta1 < Q
    if N == 2:
        return math.log(beta1 / beta_min) / math.log(Q / beta1)
    p = 1 - 2 / N
    return N / 2 * (beta1**p - beta_min**p) / (Q**p - beta1**p)


def test_sparse_dct_study_runs_and_the_flow_ends_at_the_l1_minimum_within_epsilon(tmp_path):
    pytest.importorskip("sklearn")
    pytest.importorskip("scipy")
    n, m = 96, 32
    # the partial DCT at both depths (two questions, one after another: --workers 1)
    questions, runs, lines = _study("sparse_dct", tmp_path, "--n", str(n), "--m", str(m),
                                    "--s", "4", "--n-saves", "8", "--data", "scipy:dct")  # fmt: skip
    assert {(q.data, q.depth) for q in questions} == {("scipy:dct", N) for N in (2, 3)}
    for q, path in runs.items():
        arrays = _stored_content(path, ["l1"], (n,))
        s = explore.setup(q)
        A, y, x_true = np.asarray(s.problem.A), np.asarray(s.problem.y), np.asarray(s.truth)
        x, z = arrays["estimate"], arrays["baseline_l1"]
        # the test error is the relative error to the true x
        error = np.linalg.norm(x - x_true) / np.linalg.norm(x_true)
        np.testing.assert_allclose(_series(path, "test_error")[-1], error, rtol=1e-10)
        if q.data == "scipy:dct":  # orthogonal rows of equal norm: AAᵀ = (n/m) I
            np.testing.assert_allclose(A @ A.T, n / m * np.eye(m), atol=1e-12)
        # Slack of comparing ‖x‖₁ with Q = min{‖z‖₁ : Az = y} when Ax = y + r (r ∈ range A): weak
        # duality with an optimal dual λ (‖Aᵀλ‖∞ ≤ 1) gives ‖x‖₁ ≥ Q + λᵀr, |λᵀr| ≤ ‖P λ‖‖r‖ and
        # ‖P λ‖ ≤ ‖Aᵀλ‖₂/σ⁺_min(A) ≤ √n/σ⁺_min(A) (P: the projector on range A; √m for the DCT);
        # the LP's own z is feasible up to its residual, and HiGHS's tolerance is 1e-7 (relative).
        sv = np.linalg.svd(A, compute_uv=False)
        dual = math.sqrt(n) / sv[sv > 1e-10 * sv[0]].min()
        Q = np.abs(z).sum()
        slack = (dual * (np.linalg.norm(A @ x - y) + np.linalg.norm(A @ z - y)) + 1e-7 * Q) / Q
        # the theorem's ε for the signed uniform start u = v = α·1: x̃(0) = (u^N, v^N), so
        # β₁ = 2nα^N and β_min = α^N. The upper side is the theorem's at the limit; the flow stopped
        # at the residual r gets the same duality slack (as the run's own check does).
        N, alpha = q.depth, q.scale
        eps = _epsilon(N, 2 * n * alpha**N, alpha**N, Q)
        gap = (np.abs(x).sum() - Q) / Q
        assert -slack <= gap <= eps + slack, (q.data, N, gap, eps, slack)
        if N == 3:  # ε = O(α) here: the flow's ℓ1 norm is the minimum's to ~1e-2
            assert eps < 0.02
    # at this size basis pursuit recovers x from the partial DCT (the LP's solution is x itself)
    dct = [p for q, p in runs.items() if q.data == "scipy:dct"]
    assert all(_series(p, "test_error_l1")[0] < 1e-8 for p in dct)
