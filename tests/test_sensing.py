"""Matrix sensing (seed 002): problem, symmetric model, convex baselines and closed forms, at n ≤ 10."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from implicit_bias.baselines import nuclear
from implicit_bias.errors import ConfigError, SolverError
from implicit_bias.models.deep_matrix import DeepMatrix
from implicit_bias.models.symmetric import RepresentabilityWarning, SquaredVector, SymmetricFactor
from implicit_bias.optim import GD, GradientFlow, fit
from implicit_bias.problems import sensing
from implicit_bias.theory import sensing as theory


def _problem(seed=0, n=6, rank=1, m=20, ensemble="symmetric", psd=True):
    X = sensing.low_rank_truth(seed, n, rank, psd=psd)
    return sensing.random_sensing(seed, X, m, ensemble=ensemble, m_test=30)


def test_gradient_matches_finite_differences():
    # Oracle: central differences of the loss (O(h²) error, h = 1e-6 → ~1e-9 absolute).
    p = _problem(ensemble="general", psd=False)
    X = np.random.default_rng(1).standard_normal((6, 6))
    G = np.asarray(p.grad(jnp.asarray(X)))
    h, fd = 1e-6, np.zeros_like(X)
    for i in range(6):
        for j in range(6):
            E = np.zeros_like(X)
            E[i, j] = h
            fd[i, j] = (float(p.loss(X + E)) - float(p.loss(X - E))) / (2 * h)
    np.testing.assert_allclose(G, fd, atol=1e-7)
    np.testing.assert_allclose(G, np.asarray(jax.grad(p.loss)(jnp.asarray(X))), atol=1e-12)


def test_measurement_ensembles_and_normalization():
    A = sensing.measurement_matrices(0, 4000, (3, 3), ensemble="general")
    X = np.random.default_rng(2).standard_normal((3, 3))
    # E‖A(X)‖² = ‖X‖_F²; 4000 draws → relative std ≈ √(2/4000) ≈ 0.022, 5σ below 0.12
    ratio = np.sum(np.einsum("kij,ij->k", A, X) ** 2) / np.sum(X**2)
    assert abs(ratio - 1) < 0.12
    S = sensing.measurement_matrices(0, 5, (4, 4), ensemble="symmetric")
    np.testing.assert_allclose(S, np.swapaxes(S, 1, 2))
    C = sensing.measurement_matrices(0, 5, (4, 4), ensemble="commuting")
    assert theory.commutator_norm(C) < 1e-14
    assert theory.commutator_norm(S) > 1e-2
    X_star = sensing.low_rank_truth(3, 5, 2)
    assert np.linalg.matrix_rank(X_star) == 2 and np.isclose(np.linalg.norm(X_star), 1.0)
    assert np.all(np.linalg.eigvalsh(X_star) > -1e-12)


def test_bad_inputs_are_clear_errors():
    with pytest.raises(ConfigError, match="rank must be"):
        sensing.low_rank_truth(0, 4, 5)
    with pytest.raises(ConfigError, match="out of range"):
        sensing.completion_as_sensing(np.eye(3), [(0, 0), (3, 1)])
    with pytest.raises(ConfigError, match="duplicated"):
        sensing.completion_as_sensing(np.eye(3), [(0, 1), (0, 1)])
    with pytest.raises(ConfigError, match="duplicated"):  # (0,1) and (1,0) are one symmetric entry
        sensing.completion_as_sensing(np.eye(3), [(0, 1), (1, 0)], symmetric=True)
    from implicit_bias.problems.completion import random_entries

    with pytest.raises(ConfigError, match="m must be in 1..9"):
        random_entries(0, (3, 3), 10)
    G = np.random.default_rng(0).standard_normal((2, 3, 3))
    with pytest.raises(ConfigError, match="A_1 is not symmetric|A_0 is not symmetric"):
        sensing.from_matrices(G, np.eye(3), symmetric=True)
    p = sensing.from_matrices(G, np.eye(3))
    with pytest.raises(ConfigError, match="symmetric measurement"):
        SymmetricFactor(n=3, d=3).check_problem(p)
    with pytest.raises(ConfigError, match="unknown ensemble"):
        sensing.measurement_matrices(0, 3, (3, 3), ensemble="bernoulli")
    q = _problem(rank=2)
    with pytest.warns(RepresentabilityWarning, match="cannot represent"):
        SymmetricFactor(n=6, d=1).check_problem(q)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SymmetricFactor(n=6, d=2).check_problem(q)  # d = rank: representable, silent


def test_nuclear_norm_baselines_against_closed_forms():
    # Oracle 1: with every entry observed the program's only feasible point is X*.
    X_star = sensing.low_rank_truth(0, 4, 2, psd=False)
    full = sensing.completion_as_sensing(X_star, [(i, j) for i in range(4) for j in range(4)])
    sol = nuclear.min_nuclear_norm(full)
    assert sol.status == "optimal" and sol.residual < 1e-7
    np.testing.assert_allclose(sol.X, X_star, atol=1e-6)
    # Oracle 2: observing only the diagonal of a PSD matrix, min tr X over X ⪰ 0 is diag(y).
    P = sensing.low_rank_truth(1, 4, 1)
    diag = sensing.completion_as_sensing(P, [(i, i) for i in range(4)], symmetric=True)
    sol = nuclear.min_nuclear_norm(diag, psd=True)
    np.testing.assert_allclose(sol.X, np.diag(np.diag(P)), atol=1e-6)
    assert np.isclose(sol.value, np.trace(P), atol=1e-7)
    # Oracle 3: Gaussian sensing with m = 3·dof recovers a rank-1 PSD X* exactly (both programs).
    p = _problem(seed=2, n=6, rank=1, m=40)
    for psd in (False, True):
        np.testing.assert_allclose(nuclear.min_nuclear_norm(p, psd=psd).X, p.X_star, atol=1e-5)
    # min-Frobenius = pinv, and feasible
    mf = nuclear.min_frobenius(p)
    M = np.asarray(p.A).reshape(40, -1)
    np.testing.assert_allclose(mf.X.ravel(), np.linalg.lstsq(M, np.asarray(p.y), rcond=None)[0])
    assert mf.residual < 1e-12


def test_solver_failure_is_an_error():
    # infeasible: the same measurement with two different values
    A = np.stack([np.eye(3), np.eye(3)])
    with pytest.raises(SolverError, match="status|residual"):
        nuclear.min_nuclear_norm(A, np.array([1.0, 2.0]))
    with pytest.raises(SolverError, match="HiGHS"):
        nuclear.min_l1(np.ones((1, 3)), np.array([-1.0]))  # x ≥ 0 cannot sum to −1


def test_nuclear_norm_falls_back_to_clarabel_when_scs_is_inaccurate():
    # Oracle: Gaussian sensing with m = 40 recovers the rank-1 PSD X* exactly. SCS stopped after 20
    # iterations is inaccurate; the default fallback re-solves with Clarabel and says so.
    p = _problem(seed=2, n=6, rank=1, m=40)
    sol = nuclear.min_nuclear_norm(p, psd=True, max_iters=20)
    assert sol.status == "optimal (SCS→CLARABEL)" and sol.residual < 1e-6
    np.testing.assert_allclose(sol.X, p.X_star, atol=1e-5)
    with pytest.raises(SolverError, match="SCS"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Solution may be inaccurate")  # cvxpy's, without fallback
        nuclear.min_nuclear_norm(p, psd=True, max_iters=20, fallback=None)
    # an infeasible program fails with both solvers, and the error names both
    A = np.stack([np.eye(3), np.eye(3)])
    with pytest.raises(SolverError, match="fallback also failed"):
        nuclear.min_nuclear_norm(A, np.array([1.0, 2.0]))


def test_depth_one_gd_from_zero_is_min_frobenius():
    # Oracle (seed 002, least squares): GD from 0 stays in span{A_i}, so its limit is pinv(A) y.
    p = _problem(seed=4, n=5, rank=1, m=12, ensemble="general", psd=False)
    model = DeepMatrix(depth=1, n=5, init="identical", alpha=0.0)
    traj = fit(model, p, GD(eta=0.2, n_steps=3000, n_saves=5))
    np.testing.assert_allclose(np.asarray(traj.final[0]), nuclear.min_frobenius(p).X, atol=1e-9)


def test_symmetric_vjp_and_induced_flow():
    # Invariant: for gradient flow, d/dt UUᵀ = −(GX + XG), G = 2A*(r), whatever U is.
    p = _problem(seed=5, n=5, rank=2, m=15)
    model = SymmetricFactor(n=5, d=3, init="gaussian", alpha=0.5)
    U = model.init_params(jax.random.key(1))
    X, pull = model.vjp(U)
    G = p.grad(X)
    np.testing.assert_allclose(pull(G), jax.grad(lambda V: p.loss(model(V)))(U), atol=1e-13)
    dU = -pull(G)
    dX = dU @ U.T + U @ dU.T
    from implicit_bias.models.symmetric import induced_flow

    np.testing.assert_allclose(dX, induced_flow(X, 2 * p.adjoint(p.residual(X))), atol=1e-13)


@pytest.mark.parametrize("init", ["identity", "gaussian"])
def test_commuting_closed_form_matches_the_flow(init):
    # Theory (seed 002): X_t = e^{A*(s)} X₀ e^{A*(s)}, s from an independent SciPy ODE in R^m.
    n, m = 5, 3
    X_star = sensing.low_rank_truth(6, n, 1)
    V = sensing.random_orthogonal(np.random.default_rng(7), n)
    p = sensing.random_sensing(6, X_star, m, ensemble="commuting", V=V)
    model = SymmetricFactor(n=n, d=n, init=init, alpha=0.3)
    U0 = model.init_params(jax.random.key(2))
    flow = GradientFlow(t1=30.0, n_saves=6, rtol=1e-12, atol=1e-14, solver="dopri8")
    traj = fit(model, p, flow, params0=U0, observe=model)
    ts = np.asarray(traj.t)[1:]
    s = theory.commuting_s(np.asarray(p.A), np.asarray(p.y), np.asarray(U0 @ U0.T), ts)
    for k, t in enumerate(ts):
        Xc = theory.commuting_closed_form(np.asarray(p.A), s[k], np.asarray(U0 @ U0.T))
        np.testing.assert_allclose(np.asarray(traj.observed)[k + 1], Xc, atol=1e-9)


def test_vector_corollary_tends_to_min_l1():
    # Theory (seed 002 corollary): x = u⊙u from α1 → argmin{‖x‖₁ : Ax = y, x ≥ 0} as α → 0; the
    # finite-α limit is the dual solution α²e^{Aᵀν} (an exact oracle), and its distance to the
    # linprog answer shrinks with α (measured: 4e-2, 5e-4, 1.5e-7 at α = 1e-1, 1e-2, 1e-4).
    rng = np.random.default_rng(8)
    n, m = 10, 4
    A = rng.standard_normal((m, n))
    x_star = np.zeros(n)
    x_star[[1, 6]] = [1.0, 0.5]
    y = A @ x_star
    l1 = nuclear.min_l1(A, y).X
    problem = sensing.VectorSensing(A=jnp.asarray(A), y=jnp.asarray(y))
    dists = []
    for alpha in (1e-1, 1e-2, 1e-4):
        x_lim = theory.vector_flow_limit(A, y, alpha)
        np.testing.assert_allclose(A @ x_lim, y, atol=1e-10)
        dists.append(np.linalg.norm(x_lim - l1) / np.linalg.norm(l1))
        if alpha == 1e-2:  # the simulated flow reaches the predicted limit
            traj = fit(SquaredVector(n=n, alpha=alpha), problem,
                       GradientFlow(t1=2000.0, n_saves=2, rtol=1e-10, atol=1e-14))  # fmt: skip
            np.testing.assert_allclose(np.asarray(traj.final) ** 2, x_lim, atol=1e-6)
    assert dists[0] > dists[1] > dists[2]
    assert dists[0] < 0.1 and dists[2] < 1e-5


def test_gunasekar_ratios():
    X = np.diag([2.0, 1.0, 0.0])
    assert theory.nuclear_ratio(X, X) == 1.0 and theory.relative_distance(X, X) == 0.0
    assert np.isclose(theory.nuclear_ratio(2 * X, X), 2.0)
    assert np.isclose(theory.relative_distance(2 * X, X), 1.0)


def test_min_trace_certified_brackets_the_minimum_on_3x3_completions():
    # issue 23: the exhaustive baseline is certified; a rank-1 truth with a tiny observed diagonal
    # entry (X*_11 = 1e-8, the dual ν ~ 1e8) is where SCS alone failed its KKT check
    u = np.array([1.0, 1e-4, 0.3])
    X = np.outer(u, u)
    p = sensing.completion_as_sensing(X, [(0, 1), (0, 2), (1, 1), (1, 2)], symmetric=True)
    c = nuclear.min_trace_certified(p)
    assert c.certified and c.trace_error <= 1e-9
    lo, hi = c.bracket
    assert lo <= np.trace(X) * (1 + 1e-9) and hi >= np.trace(X) * (1 - 1e-9)  # X* is the minimizer
    # the whole diagonal observed: the trace is fixed, ν = the diagonal indicator certifies it
    p2 = sensing.completion_as_sensing(X + np.eye(3), [(0, 0), (1, 1), (2, 2), (0, 1)],
                                       symmetric=True)  # fmt: skip
    c2 = nuclear.min_trace_certified(p2)
    assert c2.certified and abs(c2.solution.value - np.trace(X + np.eye(3))) <= 1e-8


def test_completion_dual_certificate_proves_exact_recovery():
    # full observation: X* is the only feasible point; the certificate holds (Y = UVᵀ on Ω)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((8, 2)) @ rng.standard_normal((2, 8))
    rows, cols = np.divmod(np.arange(64), 8)
    assert theory.completion_dual_certificate(X, rows, cols, 2) <= 1e-9  # Y = UVᵀ: P_T⊥(Y) = 0
    # a row left unobserved: X* cannot be recovered and no certificate exists
    keep = rows != 3
    assert not theory.completion_dual_certificate(X, rows[keep], cols[keep], 2) < 1
