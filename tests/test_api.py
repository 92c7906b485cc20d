"""The Python API a newcomer can guess (issue 14 §2): names, params as any sequence, DataFrame, figure."""

import subprocess
import sys

import numpy as np
import pytest

import implicit_bias as ib


def test_every_submodule_is_an_attribute_in_a_fresh_interpreter():
    code = (
        "import implicit_bias as ib; "
        "assert callable(ib.models.deep_matrix.product); "
        "assert callable(ib.problems.completion.from_entries); "
        "assert callable(ib.baselines.nuclear.min_nuclear_norm); "
        "assert callable(ib.theory.sparse.epsilon); "
        "assert callable(ib.optim.gd.GD); "
        "assert hasattr(ib.sweep, 'run_sweep'); "
        "assert callable(ib.completion) and callable(ib.from_entries) and callable(ib.from_matrices)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


def test_guessable_constructors_build_the_documented_problems():
    p = ib.completion(n=6, rank=2, observed=12, seed=1)
    assert p.m == 12 and p.shape == (6, 6)
    assert np.linalg.matrix_rank(np.asarray(p.X_star)) == 2
    X = np.arange(6.0).reshape(2, 3)
    q = ib.completion(X, entries=[(0, 1), (1, 2)])
    assert np.allclose(q.y, [1.0, 5.0])
    s = ib.sensing(n=4, rank=1, m=7)
    assert s.A.shape == (7, 4, 4) and np.allclose(s.y, np.einsum("kij,ij->k", s.A, s.X_star))
    A, y = np.eye(3)[:2], np.array([1.0, 2.0])
    assert np.allclose(ib.sparse(A=A, y=y).A, A) and ib.sparse(m=4, n=9, s=2).A.shape == (4, 9)
    lam = np.linalg.eigvalsh(np.asarray(ib.full(spectrum=[3.0, -1.0]).W_hat))
    assert np.allclose(lam, [-1.0, 3.0])
    with pytest.raises(ib.ConfigError, match="entries"):
        ib.completion(n=4, rank=1)


def test_fit_takes_params_as_a_list_and_names_the_structure_otherwise():
    model = ib.DeepMatrix(depth=2, n=3, alpha=0.5)
    problem = ib.full(spectrum=[1.0, 0.5, 0.25])
    gd = ib.GD(eta=0.1, n_steps=20, n_saves=2)
    as_tuple = ib.fit(model, problem, gd, params0=model.init_params(), reduce=False)
    as_list = ib.fit(model, problem, gd, params0=list(model.init_params()), reduce=False)
    assert np.array_equal(as_tuple.loss, as_list.loss)
    with pytest.raises(ib.ConfigError, match=r"tuple of 2 arrays shaped \(3, 3\), \(3, 3\)"):
        ib.fit(model, problem, gd, params0=[np.eye(3)])


def test_trajectory_to_frame_and_plot():
    model = ib.DeepMatrix(depth=2, n=2, alpha=0.5)
    problem = ib.full(spectrum=[1.0, 0.5])
    traj = ib.fit(model, problem, ib.GD(eta=0.1, n_steps=30, n_saves=3), observe=ib.product)
    df = traj.to_frame()
    assert list(df.columns[:2]) == ["t", "loss"] and len(df) == len(traj)
    assert np.allclose(df["observed[1, 0]"], np.asarray(traj.observed)[:, 1, 0])
    assert np.allclose(df["loss"], traj.loss)
    fig = traj.plot()
    assert len(fig.axes) == 2  # loss, and the singular values of the observed matrix
